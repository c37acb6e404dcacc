"""Generic optimisers over the simplex never beat the frontier, and reach it."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignlimits import constrained, divergences, tilting

SOLVER_TOL = 1e-9  # SLSQP's feasibility and optimality tolerance, in reward units


def _problem(rng):
    k = int(rng.integers(2, 7))
    p0 = rng.dirichlet(np.ones(k))
    r = rng.normal(size=k)
    return p0, r


def test_optimiser_never_beats_and_reaches_the_frontier_on_250_problems():
    rng = np.random.default_rng(2024)
    gaps = []
    for _ in range(250):
        p0, r = _problem(rng)
        eps = float(rng.uniform(0.01, 0.95) * tilting.max_kl(p0, r))
        res = constrained.maximize_reward(p0, r, eps)
        assert res.success, res.message
        assert res.kl <= eps + SOLVER_TOL
        gaps.append(res.gain - tilting.max_gain(p0, r, eps))
    gaps = np.array(gaps)
    assert gaps.max() <= SOLVER_TOL  # never above the frontier
    assert gaps.min() >= -1e-7  # and it gets there


def test_optimum_is_the_gibbs_tilt():
    p0 = np.array([0.5, 0.3, 0.15, 0.05])
    r = np.array([0.0, 1.0, 2.0, 4.0])
    eps = 0.4
    res = constrained.maximize_reward(p0, r, eps)
    target = tilting.tilt(p0, r, tilting.beta_for_kl(p0, r, eps))
    np.testing.assert_allclose(res.policy, target, atol=1e-6)
    assert res.objective == pytest.approx(float(res.policy @ r), rel=1e-12)


def test_penalised_optimiser_finds_pi_beta_on_200_problems():
    rng = np.random.default_rng(7)
    for _ in range(200):
        p0, r = _problem(rng)
        beta = float(rng.uniform(0.1, 3.0))
        res = constrained.maximize_penalized(p0, r, beta)
        f = tilting.frontier(p0, r, beta)
        assert res.gain == pytest.approx(f.gain, abs=1e-7)
        assert res.kl == pytest.approx(f.kl, abs=1e-7)
        # Its objective cannot exceed the optimum β log Z_β (Gibbs variational identity).
        assert res.objective <= beta * tilting.log_partition(p0, r, beta) + 1e-12


def test_penalised_and_constrained_trace_the_same_curve():
    p0 = np.array([0.4, 0.3, 0.2, 0.1])
    r = np.array([-1.0, 0.0, 0.5, 2.0])
    pen = constrained.penalized_curve(p0, r, [0.3, 1.0, 3.0])
    con = constrained.constrained_curve(p0, r, [p.kl for p in pen])
    for a, b in zip(pen, con, strict=True):
        assert a.gain == pytest.approx(b.gain, abs=1e-6)


def test_random_policies_are_below_the_frontier():
    rng = np.random.default_rng(3)
    p0, r = _problem(rng)
    policies = rng.dirichlet(np.full(p0.size, 0.5), size=300)
    excess = constrained.excess_over_frontier(policies, p0, r)
    assert excess.shape == (300,)
    assert (excess <= 1e-12).all()
    # Tilts sit exactly on it.
    on = tilting.tilt(p0, r, np.array([0.3, 1.0, 5.0]))
    np.testing.assert_allclose(constrained.excess_over_frontier(on, p0, r), 0.0, atol=1e-10)


def test_greedy_budget_and_support():
    p0 = np.array([0.2, 0.3, 0.5, 0.0])
    r = np.array([1.0, 0.0, 0.5, 10.0])  # the last outcome is off the support: unreachable
    res = constrained.maximize_reward(p0, r, 5.0)  # above max_kl = log 5
    assert res.gain == pytest.approx(tilting.greedy_gain(p0, r), abs=1e-9)
    assert res.policy[3] == 0.0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), shift=st.floats(-20, 20), scale=st.floats(0.2, 5))
def test_invariances(seed, shift, scale):
    rng = np.random.default_rng(seed)
    p0, r = _problem(rng)
    eps = float(rng.uniform(0.05, 0.8) * tilting.max_kl(p0, r))
    base = constrained.maximize_reward(p0, r, eps)
    shifted = constrained.maximize_reward(p0, r + shift, eps)
    scaled = constrained.maximize_reward(p0, scale * r, eps)
    perm = rng.permutation(p0.size)
    permuted = constrained.maximize_reward(p0[perm], r[perm], eps)
    assert shifted.gain == pytest.approx(base.gain, abs=1e-7)
    assert scaled.gain == pytest.approx(scale * base.gain, abs=1e-7 * scale)
    assert permuted.gain == pytest.approx(base.gain, abs=1e-7)
    np.testing.assert_allclose(permuted.policy, base.policy[perm], atol=1e-5)
    beta = float(rng.uniform(0.3, 2.0))
    pen = constrained.maximize_penalized(p0, r, beta)
    pen_scaled = constrained.maximize_penalized(p0, scale * r, scale * beta)
    assert pen_scaled.kl == pytest.approx(pen.kl, abs=1e-7)


def test_excess_uses_exact_kl():
    p0 = np.array([0.5, 0.5])
    r = np.array([0.0, 1.0])
    pi = np.array([[0.3, 0.7]])
    expected = 0.2 - tilting.max_gain(p0, r, divergences.kl(pi[0], p0))
    assert constrained.excess_over_frontier(pi, p0, r)[0] == pytest.approx(expected, abs=1e-15)


def test_bad_inputs():
    p0, r = np.array([0.5, 0.5]), np.array([0.0, 1.0])
    with pytest.raises(ValueError, match="kl_budget"):
        constrained.maximize_reward(p0, r, 0.0)
    with pytest.raises(ValueError, match="kl_budget"):
        constrained.maximize_reward(p0, r, np.nan)
    with pytest.raises(ValueError, match="finite"):
        constrained.maximize_penalized(p0, r, np.inf)
    with pytest.raises(ValueError):
        constrained.maximize_penalized(p0, r, -1.0)
    with pytest.raises(ValueError, match="infinite"):
        constrained.maximize_reward(p0, [0.0, np.inf], 0.1)
    with pytest.raises(ValueError, match="shape"):
        constrained.maximize_reward(p0, [0.0, 1.0, 2.0], 0.1)
    with pytest.raises(ValueError, match="shape"):
        constrained.excess_over_frontier(np.ones((2, 3)) / 3, p0, r)
    with pytest.raises(ValueError, match="mass where"):
        constrained.excess_over_frontier([[0.5, 0.5]], [1.0, 0.0], r)
    with pytest.raises(ValueError, match="x0"):
        constrained.maximize_reward(p0, r, 0.1, x0=[1 / 3, 1 / 3, 1 / 3])


def test_frontier_gain_at_matches_max_gain():
    rng = np.random.default_rng(11)
    for _ in range(30):
        p0, r = _problem(rng)
        ceiling = tilting.max_kl(p0, r)
        budgets = np.concatenate([rng.uniform(0.0, 1.3, 20) * ceiling, [0.0, ceiling, 1e-6, 1e-3]])
        np.testing.assert_allclose(constrained.frontier_gain_at(p0, r, budgets), tilting.max_gain(p0, r, budgets),
                                   rtol=1e-9, atol=1e-15)
    with pytest.raises(ValueError, match=">= 0"):
        constrained.frontier_gain_at([0.5, 0.5], [0.0, 1.0], [-1.0])
