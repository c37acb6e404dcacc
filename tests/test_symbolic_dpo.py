"""SymPy derivations of the DPO chapter: the reward from the tilt, the loss, the population optimum."""

from __future__ import annotations

import pytest
import sympy as sp

from alignlimits.symbolic import dpo


def test_reward_from_tilt_inverts_the_tilt() -> None:
    eq = dpo.reward_from_tilt()
    beta, pi, pi0, z = (sp.Symbol(n, positive=True) for n in ("beta", "pi_beta", "pi_0", "Z"))
    # substituting the reward back into the tilt gives π_β
    tilt = pi0 * sp.exp(eq.rhs / beta) / z
    assert sp.simplify(tilt - pi) == 0
    assert eq.lhs == sp.Symbol("r", real=True)


def test_partition_function_cancels_in_bradley_terry() -> None:
    eq = dpo.preference_from_policy()
    assert sp.simplify((eq.lhs - eq.rhs).doit()) == 0
    assert sp.Symbol("Z", positive=True) in eq.lhs.free_symbols
    assert sp.Symbol("Z", positive=True) not in eq.rhs.free_symbols


def test_dpo_loss_is_the_negative_log_likelihood_of_the_label() -> None:
    loss = dpo.dpo_loss()
    pw, pl, qw, ql = sp.symbols("pi_w pi_l pi_0w pi_0l", positive=True)
    beta = sp.Symbol("beta", positive=True)
    likelihood = dpo.preference_from_policy().rhs.subs(
        {sp.Symbol("pi_1", positive=True): pw, sp.Symbol("pi_2", positive=True): pl,
         sp.Symbol("pi_01", positive=True): qw, sp.Symbol("pi_02", positive=True): ql}
    )  # fmt: skip
    assert sp.simplify(loss + sp.log(likelihood)) == 0
    assert loss.free_symbols == {beta, pw, pl, qw, ql}
    # at the reference policy the loss is log 2
    assert sp.simplify(loss.subs({pw: qw, pl: ql}) - sp.log(2)) == 0


def test_sigmoid_is_the_logistic_function() -> None:
    z = sp.Symbol("z", real=True)
    assert sp.simplify(dpo.sigmoid(z) + dpo.sigmoid(-z) - 1) == 0
    assert dpo.sigmoid(sp.Integer(0)) == sp.Rational(1, 2)


def test_two_response_optimum_is_the_tilt() -> None:
    opt = dpo.two_response_optimum()
    assert len(opt.stationary) == 1
    assert sp.simplify(opt.stationary[0] - (opt.r1 - opt.r2) / opt.beta) == 0
    assert sp.simplify(sp.diff(opt.loss, opt.z).subs(opt.z, opt.stationary[0])) == 0
    # the curvature β² σ(Δr) σ(−Δr) is positive: a minimum
    at = {opt.r1: sp.Rational(3, 2), opt.r2: sp.Rational(-1, 3), opt.beta: sp.Rational(1, 2)}
    assert float(opt.curvature.subs(at)) > 0
    delta = opt.r1 - opt.r2
    expected = opt.beta**2 * dpo.sigmoid(delta) * dpo.sigmoid(-delta)
    assert sp.simplify(opt.curvature - expected) == 0


@pytest.mark.parametrize("k", [2, 3])
def test_population_stationarity_at_the_tilt(k: int) -> None:
    eqs = dpo.population_stationarity(k)
    assert len(eqs) == k
    for eq in eqs:
        assert sp.simplify(eq.lhs - eq.rhs) == 0


def test_population_stationarity_validates() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        dpo.population_stationarity(1)
