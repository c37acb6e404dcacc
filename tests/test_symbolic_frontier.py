"""SymPy derivations of the frontier: identities simplify to zero; closed forms agree with numerics."""

import numpy as np
import pytest
import sympy as sp

from alignlimits import toys
from alignlimits.symbolic import frontier as F


@pytest.mark.parametrize("k", [2, 3, 4])
def test_jeffreys_identity_discrete(k):
    assert F.residual(F.jeffreys_identity(k)) == 0


def test_jeffreys_identity_is_not_vacuous():
    # A wrong factor must leave a non-zero residual: the check can fail.
    eq = F.jeffreys_identity(2)
    assert F.residual(sp.Eq(eq.lhs, 2 * eq.rhs)) != 0


@pytest.mark.parametrize("k", [2, 3])
def test_cumulant_form_matches_definitions(k):
    eqs = F.cumulant_form_equations(k)
    assert len(eqs) == 3
    for eq in eqs:
        assert F.residual(eq) == 0


@pytest.mark.parametrize(
    "make",
    [F.cumulant_jeffreys_identity, F.budget_form, F.frontier_slope, F.frontier_curvature],
)
def test_generic_cumulant_identities(make):
    assert F.residual(make()) == 0


def test_monotonicity_and_shift_invariance():
    for eq in (*F.frontier_monotonicity(), *F.shift_invariance()):
        assert F.residual(eq) == 0


def test_curvature_is_negative_for_a_gaussian():
    # Substitute Λ = σ²λ²/2: d²Δ/dKL² = −β³/σ² < 0.
    eq = F.frontier_curvature()
    lam, sigma = F.lam, sp.Symbol("sigma", positive=True)
    c = F.cumulant_frontier()
    value = eq.rhs.subs(c.cumulant(lam), sigma**2 * lam**2 / 2).doit()
    value = value.replace(c.cumulant, sp.Lambda(lam, sigma**2 * lam**2 / 2)).doit()
    assert sp.simplify(value + 1 / (lam**3 * sigma**2)) == 0
    assert value.subs({lam: 1, sigma: 1}) < 0


def test_gaussian_closed_form():
    cf = F.closed_form("gaussian")
    mu, sigma = cf.params
    assert sp.simplify(cf.gain - sigma**2 / F.beta) == 0
    assert sp.simplify(cf.kl - sigma**2 / (2 * F.beta**2)) == 0
    assert sp.simplify(cf.kl - cf.reverse_kl) == 0
    assert sp.simplify(cf.gain_at_kl - sigma * sp.sqrt(2 * F.eps)) == 0
    assert sp.simplify(cf.base_mean - mu) == 0 and sp.simplify(cf.variance - sigma**2) == 0


@pytest.mark.parametrize("law", F.LAWS)
def test_closed_form_jeffreys_identity(law):
    cf = F.closed_form(law)
    # Checked numerically at random parameters: closed forms of the uniform law resist simplify().
    fn = {name: cf.numeric(name) for name in ("gain", "kl", "reverse_kl")}
    rng = np.random.default_rng(0)
    for _ in range(5):
        params, beta = _random_params(law, rng)
        g, kl, rkl = (float(fn[n](beta, *params)) for n in ("gain", "kl", "reverse_kl"))
        assert g == pytest.approx(beta * (kl + rkl), rel=1e-9)
        assert kl > 0 and rkl > 0 and g > 0


def _random_params(law, rng):
    if law == "gaussian":
        return (rng.normal(), rng.uniform(0.5, 2)), rng.uniform(0.3, 3)
    if law == "bernoulli":
        return (rng.uniform(0.05, 0.95),), rng.uniform(0.3, 3)
    if law == "exponential":
        rate = rng.uniform(0.5, 2)
        return (rate,), 1 / rate + rng.uniform(0.1, 3)
    if law == "uniform":
        a = rng.normal()
        return (a, a + rng.uniform(0.5, 3)), rng.uniform(0.3, 3)
    values = rng.normal(size=3)
    weights = rng.dirichlet(np.ones(3))
    return (*values, *weights), rng.uniform(0.3, 3)


def _law_object(law, params):
    if law == "gaussian":
        return toys.Gaussian(*params)
    if law == "bernoulli":
        return toys.Bernoulli(*params)
    if law == "exponential":
        return toys.Exponential(*params)
    if law == "uniform":
        return toys.Uniform(*params)
    return toys.Categorical(params[:3], params[3:])


@pytest.mark.parametrize("law", F.LAWS)
def test_symbolic_closed_forms_match_numerical_frontier(law):
    cf = F.closed_form(law)
    rng = np.random.default_rng(1)
    params, _ = _random_params(law, rng)
    obj = _law_object(law, params)
    betas = obj.beta_min + obj.std * np.geomspace(0.3, 30, 9)
    num = toys.numerical_frontier(obj, betas)
    for name in ("gain", "kl", "reverse_kl"):
        sym = np.array([float(cf.numeric(name)(b, *params)) for b in betas])
        np.testing.assert_allclose(sym, getattr(num, name), rtol=1e-9, atol=1e-13)
    assert float(cf.base_mean.subs(dict(zip(cf.params, params, strict=True)))) == pytest.approx(obj.mean, rel=1e-12)
    assert float(cf.variance.subs(dict(zip(cf.params, params, strict=True)))) == pytest.approx(obj.std**2, rel=1e-12)


@pytest.mark.parametrize("law", ["gaussian", "exponential"])
def test_gain_at_kl_closed_forms(law):
    cf = F.closed_form(law)
    params = (0.4, 1.3) if law == "gaussian" else (1.7,)
    obj = _law_object(law, params)
    budgets = np.array([1e-3, 0.05, 0.5, 2.0, 6.0])
    sym = np.array([float(cf.numeric("gain_at_kl")(e, *params)) for e in budgets])
    np.testing.assert_allclose(sym, toys.RewardLaw.gain_at_kl(obj, budgets), rtol=1e-9)


def test_exponential_lambert_branch_solves_the_budget_equation():
    cf = F.closed_form("exponential")
    (rate,) = cf.params
    t = cf.gain_at_kl * rate + 1
    for e in (sp.Rational(1, 100), sp.Rational(3, 10), sp.Integer(4)):
        val = (t - 1 - sp.log(t)).subs({F.eps: e, rate: 2}).evalf(40)
        assert abs(val - e) < 1e-30
        assert t.subs({F.eps: e, rate: 2}).evalf() > 1


def test_no_closed_budget_form_where_none_exists():
    for law in ("bernoulli", "uniform", "categorical"):
        cf = F.closed_form(law)
        assert cf.gain_at_kl is None
        with pytest.raises(ValueError, match="no closed form"):
            cf.numeric("gain_at_kl")


def test_exponential_condition():
    cf = F.closed_form("exponential")
    (rate,) = cf.params
    assert cf.condition.subs({F.beta: 1, rate: 2}) == sp.true
    assert cf.condition.subs({F.beta: 0.4, rate: 2}) == sp.false


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown reward law"):
        F.closed_form("cauchy")
    with pytest.raises(ValueError, match="k >= 2"):
        F.discrete_frontier(1)
    with pytest.raises(ValueError, match="k >= 2"):
        F.closed_form("categorical", k=1)


def test_small_budget_expansion_gaussian_and_exact_laws():
    eq, (k1, k2, k3, k4) = F.small_budget_expansion()
    # Gaussian: κ3 = κ4 = 0 leaves exactly σ sqrt(2ε).
    assert sp.simplify(eq.rhs.subs({k3: 0, k4: 0}) - sp.sqrt(2 * k2 * F.eps)) == 0
    # Exponential (κn = (n−1)!/θⁿ) and uniform (κ3 = 0, κ4 = −w⁴/120): the error is O(ε²).
    for law, cums in ((toys.Exponential(1.5), (1 / 1.5, 1 / 1.5**2, 2 / 1.5**3, 6 / 1.5**4)),
                      (toys.Uniform(0.0, 2.0), (1.0, 4 / 12, 0.0, -16 / 120))):
        three = eq.rhs.subs(dict(zip((k1, k2, k3, k4), cums, strict=True)))
        t = sp.Symbol("t", positive=True)
        in_t = sp.expand(three.subs(F.eps, t**2))
        two = (in_t - in_t.coeff(t, 3) * t**3).subs(t, sp.sqrt(F.eps))
        for e in (1e-4, 1e-3):
            exact = toys.gain_at_kl(law, [e])[0]
            err3 = abs(float(three.subs(F.eps, e)) - exact)
            err2 = abs(float(two.subs(F.eps, e)) - exact)
            assert err3 < 20 * law.std * e**2
            assert err3 < err2  # the ε^{3/2} term is right, not just small
