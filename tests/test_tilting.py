import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignlimits import divergences, tilting
from tests.strategies import discrete_problems, random_problem

BETAS = np.geomspace(1e-3, 1e3, 61)


def test_tilt_is_a_distribution_and_matches_definition(rng):
    p0, r = random_problem(rng, k=7)
    pi = tilting.tilt(p0, r, BETAS)
    assert pi.shape == (BETAS.size, 7)
    np.testing.assert_allclose(pi.sum(axis=1), 1.0, atol=1e-14)
    naive = p0 * np.exp(r / 0.8)
    np.testing.assert_allclose(tilting.tilt(p0, r, 0.8), naive / naive.sum(), rtol=1e-13)
    assert tilting.tilt(p0, r, 0.8).shape == (7,)


def test_beta_infinity_is_the_base_policy(rng):
    p0, r = random_problem(rng)
    np.testing.assert_allclose(tilting.tilt(p0, r, np.inf), p0, rtol=1e-15)
    f = tilting.frontier(p0, r, np.inf)
    assert (f.kl, f.reverse_kl) == (0.0, 0.0)
    assert abs(f.gain) < 1e-15


def test_frontier_matches_divergences_and_jeffreys_identity(rng):
    p0, r = random_problem(rng, k=9)
    f = tilting.frontier(p0, r, BETAS)
    pi = tilting.tilt(p0, r, BETAS)
    log_pi = tilting.log_tilt(p0, r, BETAS)
    log_base = np.broadcast_to(np.log(p0), pi.shape)
    # log-space divergences: at small beta some pi_i underflow to 0 while their logs stay exact
    np.testing.assert_allclose(f.kl, divergences.kl_from_logprobs(log_pi, log_base), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(f.reverse_kl, divergences.kl_from_logprobs(log_base, log_pi), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(f.gain, pi @ r - p0 @ r, rtol=1e-9, atol=1e-15)
    # Jeffreys identity: gain = beta * J
    np.testing.assert_allclose(f.gain, BETAS * f.jeffreys, rtol=1e-9)
    np.testing.assert_allclose(f.expected_reward, pi @ r, rtol=1e-12)


def test_log_partition_and_value(rng):
    p0, r = random_problem(rng)
    for beta in (0.05, 1.0, 30.0):
        assert tilting.log_partition(p0, r, beta) == pytest.approx(np.log(p0 @ np.exp(r / beta)), rel=1e-12)
    # optimal value beta log Z = E_tilt[r] - beta KL(tilt||base)
    f = tilting.frontier(p0, r, BETAS)
    np.testing.assert_allclose(
        BETAS * tilting.log_partition(p0, r, BETAS), f.expected_reward - BETAS * f.kl, rtol=1e-10, atol=1e-12
    )


def test_kl_decreasing_and_gain_increasing_as_beta_falls(rng):
    for _ in range(20):
        p0, r = random_problem(rng, k=int(rng.integers(2, 12)))
        f = tilting.frontier(p0, r, np.geomspace(0.05, 50, 200))
        # strictly monotone until the greedy limit, where values agree to rounding
        unsaturated = tilting.greedy_gain(p0, r) - f.gain[:-1] > 1e-9
        assert np.all(np.diff(f.kl)[unsaturated] < 0) and np.all(np.diff(f.kl) <= 1e-15)
        assert np.all(np.diff(f.gain)[unsaturated] < 0) and np.all(np.diff(f.gain) <= 1e-15)
        assert np.all(np.diff(f.reverse_kl) < 0)


@settings(max_examples=60, deadline=None)
@given(discrete_problems(), st.integers(0, 2**32 - 1))
def test_gibbs_variational_identity_for_arbitrary_policies(problem, seed):
    p0, r = problem
    rng = np.random.default_rng(seed)
    beta = float(np.exp(rng.uniform(np.log(0.05), np.log(20))))
    pi = rng.dirichlet(np.full(p0.size, 0.5))
    lhs = tilting.penalized_objective(pi, p0, r, beta)
    rhs = beta * tilting.log_partition(p0, r, beta) - beta * divergences.kl(pi, tilting.tilt(p0, r, beta))
    assert lhs == pytest.approx(rhs, abs=1e-10 * max(1.0, abs(lhs)))
    assert lhs <= beta * tilting.log_partition(p0, r, beta) + 1e-12


@settings(max_examples=60, deadline=None)
@given(discrete_problems(), st.floats(-50, 50), st.floats(0.01, 100))
def test_invariances_shift_and_scale(problem, shift, scale):
    p0, r = problem
    betas = np.geomspace(0.05, 20, 15)
    f = tilting.frontier(p0, r, betas)
    shifted = tilting.frontier(p0, r + shift, betas)
    np.testing.assert_allclose(shifted.kl, f.kl, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(shifted.gain, f.gain, rtol=1e-7, atol=1e-11)
    scaled = tilting.frontier(p0, scale * r, scale * betas)
    np.testing.assert_allclose(scaled.kl, f.kl, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(scaled.gain, scale * f.gain, rtol=1e-7, atol=1e-11 * scale)


@settings(max_examples=40, deadline=None)
@given(discrete_problems(), st.integers(0, 2**32 - 1))
def test_invariant_to_permuting_outcomes(problem, seed):
    p0, r = problem
    perm = np.random.default_rng(seed).permutation(p0.size)
    f, g = tilting.frontier(p0, r, BETAS), tilting.frontier(p0[perm], r[perm], BETAS)
    np.testing.assert_allclose(g.kl, f.kl, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(g.gain, f.gain, rtol=1e-10, atol=1e-15)


def test_extreme_betas_stay_finite_and_accurate(rng):
    p0, r = random_problem(rng)
    f = tilting.frontier(p0, r, [1e-6, 1e6, 1e-12, 1e12])
    for field in (f.kl, f.reverse_kl, f.gain, f.jeffreys):
        assert np.all(np.isfinite(field))
    assert f.kl[0] == pytest.approx(tilting.max_kl(p0, r), rel=1e-12)
    assert f.gain[0] == pytest.approx(tilting.greedy_gain(p0, r), rel=1e-12)
    variance = p0 @ (r - p0 @ r) ** 2
    # small-signal limit: KL ~ Var / (2 beta^2), gain ~ Var / beta
    assert f.kl[1] == pytest.approx(variance / 2e12, rel=1e-5)
    assert f.gain[1] == pytest.approx(variance / 1e6, rel=1e-5)
    assert np.all(np.isfinite(tilting.log_tilt(p0, r, 1e-12)[p0 > 0]))


def test_zero_base_probabilities_are_outside_the_support():
    p0 = np.array([0.5, 0.0, 0.5])
    r = np.array([0.0, 100.0, 1.0])  # the huge reward is unreachable
    pi = tilting.tilt(p0, r, 0.3)
    assert pi[1] == 0.0
    assert tilting.log_tilt(p0, r, 0.3)[1] == -np.inf
    assert tilting.max_kl(p0, r) == pytest.approx(np.log(2))
    assert tilting.greedy_gain(p0, r) == pytest.approx(0.5)
    f = tilting.frontier(p0, r, [1e-4, 1.0])
    assert np.all(np.isfinite(f.reverse_kl))
    assert f.kl[0] == pytest.approx(np.log(2), rel=1e-9)


def test_ties_pool_mass_in_the_greedy_limit():
    p0 = np.array([0.2, 0.3, 0.5])
    r = np.array([1.0, 1.0, 0.0])
    assert tilting.max_kl(p0, r) == pytest.approx(-np.log(0.5))
    np.testing.assert_allclose(tilting.tilt(p0, r, 1e-9), [0.4, 0.6, 0.0], atol=1e-12)


def test_beta_solver_meets_budget(rng):
    for _ in range(30):
        p0, r = random_problem(rng, k=int(rng.integers(2, 10)))
        ceiling = tilting.max_kl(p0, r)
        budgets = np.array([1e-8, 1e-4, 0.01, 0.5 * ceiling, 0.999 * ceiling])
        betas = tilting.beta_for_kl(p0, r, budgets)
        achieved = tilting.frontier(p0, r, betas).kl
        np.testing.assert_allclose(achieved, budgets, rtol=1e-9)
    assert tilting.beta_for_kl(p0, r, 0.0) == np.inf


def test_max_gain_is_budget_form_and_saturates(rng):
    p0, r = random_problem(rng, k=8)
    ceiling = tilting.max_kl(p0, r)
    budgets = np.linspace(0.01, 0.95 * ceiling, 9)
    betas = tilting.beta_for_kl(p0, r, budgets)
    f = tilting.frontier(p0, r, betas)
    # Delta*(eps) = beta_eps (eps + KL(pi0 || pi_beta_eps))
    np.testing.assert_allclose(tilting.max_gain(p0, r, budgets), betas * (budgets + f.reverse_kl), rtol=1e-9)
    assert tilting.max_gain(p0, r, 0.0) == 0.0
    assert tilting.max_gain(p0, r, 2 * ceiling) == pytest.approx(tilting.greedy_gain(p0, r))
    # concave and increasing in the budget
    gains = tilting.max_gain(p0, r, np.linspace(0.01, 0.95 * ceiling, 50))
    assert np.all(np.diff(gains) > 0)
    assert np.all(np.diff(gains, 2) < 1e-12)


def test_frontier_slope_is_beta(rng):
    p0, r = random_problem(rng)
    for beta in (0.2, 1.0, 4.0):
        h = 1e-5 * beta
        f = tilting.frontier(p0, r, [beta - h, beta + h])
        assert np.diff(f.gain)[0] / np.diff(f.kl)[0] == pytest.approx(beta, rel=1e-6)


def test_as_dict_round_trip(rng):
    p0, r = random_problem(rng)
    d = tilting.frontier(p0, r, [0.5, 1.0]).as_dict()
    assert set(d) == {"beta", "kl", "reverse_kl", "gain", "jeffreys"}
    assert d["beta"] == [0.5, 1.0]


@pytest.mark.parametrize("beta", [0.0, -1.0, np.nan, [1.0, 0.0], [[1.0]], []])
def test_bad_beta_raises(beta, rng):
    p0, r = random_problem(rng)
    with pytest.raises(ValueError, match="beta"):
        tilting.frontier(p0, r, beta)


def test_bad_problem_inputs_raise(rng):
    p0, r = random_problem(rng, k=4)
    with pytest.raises(ValueError, match="NaN"):
        tilting.frontier(p0, np.array([0.0, np.nan, 1.0, 2.0]), 1.0)
    with pytest.raises(ValueError, match="infinite"):
        tilting.tilt(p0, np.array([0.0, np.inf, 1.0, 2.0]), 1.0)
    with pytest.raises(ValueError, match="same shape"):
        tilting.frontier(p0, r[:3], 1.0)
    with pytest.raises(ValueError, match="negative"):
        tilting.frontier(np.array([1.2, -0.2, 0.0, 0.0]), r, 1.0)
    with pytest.raises(ValueError, match="sum to 1"):
        tilting.frontier(p0 * 2, r, 1.0)
    with pytest.raises(ValueError, match="1-D"):
        tilting.frontier(np.full((2, 2), 0.5), np.zeros((2, 2)), 1.0)
    with pytest.raises(ValueError, match="finite"):
        tilting.penalized_objective(p0, p0, r, np.inf)


def test_unreachable_and_invalid_budgets_raise(rng):
    p0, r = random_problem(rng)
    ceiling = tilting.max_kl(p0, r)
    with pytest.raises(ValueError, match="unreachable"):
        tilting.beta_for_kl(p0, r, ceiling)
    with pytest.raises(ValueError, match="unreachable"):
        tilting.beta_for_kl(p0, r, [0.1, 10 * ceiling])
    with pytest.raises(ValueError, match=">= 0"):
        tilting.beta_for_kl(p0, r, -0.1)
    with pytest.raises(ValueError, match=">= 0"):
        tilting.max_gain(p0, r, np.nan)
    with pytest.raises(ValueError, match="constant"):
        tilting.beta_for_kl(p0, np.ones_like(p0), 0.1)


def test_budgets_within_rounding_of_the_ceiling(rng):
    for _ in range(50):
        p0, r = random_problem(rng, k=int(rng.integers(2, 40)))
        ceiling, top = tilting.max_kl(p0, r), tilting.greedy_gain(p0, r)
        for eps in (ceiling * (1 - 1e-13), np.nextafter(ceiling, 0)):
            # the constrained optimum is (numerically) greedy and never an error
            assert tilting.max_gain(p0, r, eps) == pytest.approx(top, rel=1e-9)
            try:
                beta = tilting.beta_for_kl(p0, r, eps)
            except ValueError as err:  # only the documented rounding case may refuse
                assert "rounding" in str(err)
            else:
                assert tilting.frontier(p0, r, beta).kl == pytest.approx(eps, rel=1e-12)


@pytest.mark.parametrize("scale", [2.9e-266, 1e-100, 1e-8, 1.0, 1e8, 1e100])
def test_max_gain_scales_with_the_reward_down_to_subnormal_spreads(scale):
    # Found by hypothesis (through the certified bounds): a spread of 3e-266 underflowed the sd used to
    # bracket β and raised. The optimal gain is homogeneous of degree 1 in the reward.
    base, reward = np.array([0.5, 0.3, 0.2]), np.array([0.0, 0.4, 1.0])
    expected = tilting.max_gain(base, reward, 0.3)
    assert tilting.max_gain(base, scale * reward, 0.3) / scale == pytest.approx(expected, rel=1e-9)
