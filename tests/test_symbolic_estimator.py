"""Tests for the SymPy derivations behind the estimator (alignlimits.symbolic.estimator)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from alignlimits import estimator, toys
from alignlimits.symbolic import estimator as sym


def _residual(eq: sp.Eq) -> sp.Expr:
    return sp.simplify(sp.expand_log(eq.lhs - eq.rhs, force=True))


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize(
    "identity",
    [sym.covariance_form, sym.kl_from_base_expectations, sym.reverse_kl_from_base_expectations, sym.plug_in_kl_entropy],
)
def test_identities_simplify_to_zero(identity, k: int) -> None:
    assert _residual(identity(k)) == 0


def test_identities_are_not_trivially_true() -> None:
    eq = sym.covariance_form(2)
    wrong = sp.Eq(eq.lhs, 2 * eq.rhs)  # a factor off must not simplify to zero
    assert _residual(wrong) != 0


def test_covariance_form_numerically() -> None:
    eq = sym.covariance_form(3)
    numbers = {"q1": 0.2, "q2": 0.5, "q3": 0.3, "r1": -1.0, "r2": 0.4, "r3": 2.0, "beta": 0.7}
    values = {s: numbers[s.name] for s in eq.lhs.free_symbols | eq.rhs.free_symbols}
    assert float(eq.lhs.subs(values)) == pytest.approx(float(eq.rhs.subs(values)), rel=1e-12)


def test_gaussian_bias_closed_form() -> None:
    cgf, t, par = sym.gaussian_cgf()
    terms = sym.first_order_bias(cgf, t)
    lam, sigma = terms.lam, par["sigma"]
    assert sp.simplify(terms.gain - sigma**2 * lam) == 0
    assert sp.simplify(terms.kl - sigma**2 * lam**2 / 2) == 0
    # n · bias(gain) = −Δ e^{2 KL}: relative bias −e^{2ε}/n
    assert sp.simplify(terms.gain_bias + terms.gain * sp.exp(2 * terms.kl)) == 0
    assert sp.simplify(terms.chi2 - (sp.exp(2 * terms.kl) - 1)) == 0
    assert sp.simplify(terms.kl_bias - (-2 * terms.kl * sp.exp(2 * terms.kl) + terms.chi2 / 2)) == 0


@pytest.mark.parametrize(
    ("law", "make"),
    [
        (toys.Gaussian(0.0, 1.0), lambda: sym.gaussian_cgf()),
        (toys.Bernoulli(0.3), lambda: sym.bernoulli_cgf()),
    ],
    ids=["Gaussian", "Bernoulli"],
)
def test_first_order_bias_predicts_the_simulated_bias(law: toys.RewardLaw, make) -> None:
    cgf, t, par = make()
    terms = sym.first_order_bias(cgf, t)
    subs = {par["mu"]: 0, par["sigma"]: 1} if "mu" in par else {par["p"]: sp.Rational(3, 10)}
    beta, n, reps = 2.0, 100, 20_000
    subs[terms.lam] = 1 / beta
    truth = law.frontier(beta)
    # the symbolic truth agrees with the toy law's closed form
    assert float(terms.gain.subs(subs)) == pytest.approx(truth.gain, rel=1e-12)
    assert float(terms.kl.subs(subs)) == pytest.approx(truth.kl, rel=1e-12)
    rng = np.random.default_rng(5)
    fit = estimator.estimate_frontier(law.sample(n * reps, rng), beta, np.repeat(np.arange(reps), n), diagnostics=False)
    for key, pred in (("gain", terms.gain_bias), ("kl", terms.kl_bias), ("reverse_kl", terms.reverse_kl_bias)):
        per = fit.per_prompt[key]
        measured, se = per.mean() - getattr(truth, key), per.std() / np.sqrt(reps)
        predicted = float(pred.subs(subs)) / n
        assert predicted < 0
        # within 4 standard errors plus 20 % for the O(1/n²) remainder
        assert abs(measured - predicted) < 4 * se + 0.2 * abs(predicted), (key, measured, predicted, se)


def test_bad_sizes() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        sym.covariance_form(1)
