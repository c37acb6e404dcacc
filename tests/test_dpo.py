"""Tabular DPO: losses and gradients, the population optimum, finite-data fits and their placement."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit

from alignlimits import bon, dpo, tilting
from tests.strategies import discrete_problems, random_problem

FAST = settings(max_examples=25, deadline=None)


def two_outcome_prefs(n12: int, n21: int) -> dpo.Preferences:
    """``n12`` pairs where response 0 beats 1, ``n21`` where 1 beats 0."""
    winners = np.array([0] * n12 + [1] * n21)
    return dpo.Preferences(winners, 1 - winners, 2)


# ----------------------------------------------------------------------------- data


def test_preferences_validate() -> None:
    with pytest.raises(ValueError, match="same shape"):
        dpo.Preferences(np.array([0, 1]), np.array([1]), 2)
    with pytest.raises(ValueError, match="empty"):
        dpo.Preferences(np.array([], dtype=int), np.array([], dtype=int), 2)
    with pytest.raises(ValueError, match="integer"):
        dpo.Preferences(np.array([0.0]), np.array([1.0]), 2)
    with pytest.raises(ValueError, match="lie in"):
        dpo.Preferences(np.array([0]), np.array([2]), 2)
    with pytest.raises(ValueError, match="at least 2"):
        dpo.Preferences(np.array([0]), np.array([0]), 1)


def test_preferences_counts_and_seen() -> None:
    prefs = dpo.Preferences(np.array([2, 2, 0]), np.array([0, 0, 2]), 4)
    w, lo, c = prefs.counts()
    assert sorted(zip(w.tolist(), lo.tolist(), c.tolist(), strict=True)) == [(0, 2, 1.0), (2, 0, 2.0)]
    assert prefs.seen.tolist() == [True, False, True, False]
    assert prefs.m == 3


def test_sample_preferences_follow_bradley_terry() -> None:
    p0, r = np.array([0.5, 0.5]), np.array([0.0, 1.0])
    m = 40_000
    prefs = dpo.sample_preferences(p0, r, m, np.random.default_rng(0))
    distinct = prefs.winners != prefs.losers
    share = np.mean(prefs.winners[distinct] == 1)
    se = np.sqrt(0.25 / distinct.sum())
    assert abs(share - expit(1.0)) < 4 * se
    assert abs(distinct.mean() - 0.5) < 4 * np.sqrt(0.25 / m)  # two independent π0 draws differ half the time


def test_sample_preferences_same_seed_same_pairs() -> None:
    p0, r = random_problem(np.random.default_rng(1), k=7)
    a = dpo.sample_preferences(p0, r, 500, np.random.default_rng(3))
    b = dpo.sample_preferences(p0, r, 500, np.random.default_rng(3))
    assert np.array_equal(a.winners, b.winners) and np.array_equal(a.losers, b.losers)


def test_sample_preferences_validate() -> None:
    with pytest.raises(TypeError, match="Generator"):
        dpo.sample_preferences([0.5, 0.5], [0.0, 1.0], 3, rng=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive integer"):
        dpo.sample_preferences([0.5, 0.5], [0.0, 1.0], 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="sum to 1"):
        dpo.sample_preferences([0.5, 0.6], [0.0, 1.0], 3, np.random.default_rng(0))


# ----------------------------------------------------------------------------- losses


def test_dpo_loss_formula_and_invariance(rng: np.random.Generator) -> None:
    p0, r = random_problem(rng, k=6)
    prefs = dpo.sample_preferences(p0, r, 200, rng)
    theta = rng.normal(size=6)
    z = 0.7 * (theta[prefs.winners] - theta[prefs.losers])
    assert dpo.dpo_loss(theta, prefs, 0.7) == pytest.approx(np.mean(-np.log(expit(z))), rel=1e-12)
    assert dpo.dpo_loss(theta + 3.0, prefs, 0.7) == pytest.approx(dpo.dpo_loss(theta, prefs, 0.7), rel=1e-12)
    assert dpo.dpo_loss(np.zeros(6), prefs, 0.7) == pytest.approx(np.log(2.0))


def test_dpo_loss_is_finite_for_huge_log_ratios() -> None:
    prefs = two_outcome_prefs(1, 1)
    value = dpo.dpo_loss([1e6, -1e6], prefs, 1.0)
    assert np.isfinite(value) and value == pytest.approx(1e6, rel=1e-12)


def test_loss_validation() -> None:
    prefs = two_outcome_prefs(1, 0)
    with pytest.raises(ValueError, match="2 responses"):
        dpo.dpo_loss([0.0, 0.0, 0.0], prefs, 1.0)
    with pytest.raises(ValueError, match="> 0"):
        dpo.dpo_loss([0.0, 0.0], prefs, 0.0)
    with pytest.raises(ValueError, match="finite"):
        dpo.dpo_loss_grad([0.0, 0.0], prefs, np.inf)
    with pytest.raises(ValueError, match="infinite"):
        dpo.dpo_loss([np.inf, 0.0], prefs, 1.0)


@FAST
@given(problem=discrete_problems(), beta=st.floats(0.1, 5.0), seed=st.integers(0, 2**16))
def test_dpo_loss_gradient_matches_finite_differences(problem, beta: float, seed: int) -> None:
    p0, r = problem
    rng = np.random.default_rng(seed)
    prefs = dpo.sample_preferences(p0, r, 50, rng)
    theta = rng.normal(size=p0.size)
    grad = dpo.dpo_loss_grad(theta, prefs, beta)
    h = 1e-6
    numeric = np.array([
        (dpo.dpo_loss(theta + h * e, prefs, beta) - dpo.dpo_loss(theta - h * e, prefs, beta)) / (2 * h)
        for e in np.eye(p0.size)
    ])  # fmt: skip
    assert np.allclose(grad, numeric, atol=1e-7)
    assert abs(grad.sum()) < 1e-12


def test_population_loss_is_the_expected_empirical_loss(rng: np.random.Generator) -> None:
    """Brute force over (y, y', label): the law of a labelled pair, then the expected loss."""
    p0, r = random_problem(rng, k=4)
    theta, beta = rng.normal(size=4), 1.3
    expected = 0.0
    for a in range(4):
        for b in range(4):
            pair = p0[a] * p0[b]
            for winner, loser, prob in ((a, b, expit(r[a] - r[b])), (b, a, expit(r[b] - r[a]))):
                expected += pair * prob * np.logaddexp(0.0, -beta * (theta[winner] - theta[loser]))
    assert dpo.population_loss(theta, p0, r, beta) == pytest.approx(expected, rel=1e-12)


@FAST
@given(problem=discrete_problems(), beta=st.floats(0.1, 5.0), seed=st.integers(0, 2**16))
def test_population_gradient_matches_finite_differences(problem, beta: float, seed: int) -> None:
    p0, r = problem
    theta = np.random.default_rng(seed).normal(size=p0.size)
    grad = dpo.population_loss_grad(theta, p0, r, beta)
    h = 1e-6
    numeric = np.array([
        (dpo.population_loss(theta + h * e, p0, r, beta) - dpo.population_loss(theta - h * e, p0, r, beta)) / (2 * h)
        for e in np.eye(p0.size)
    ])  # fmt: skip
    assert np.allclose(grad, numeric, atol=1e-7)


@FAST
@given(problem=discrete_problems(), beta=st.floats(0.05, 20.0), seed=st.integers(0, 2**16))
def test_population_optimum_is_the_tilt(problem, beta: float, seed: int) -> None:
    p0, r = problem
    optimum = dpo.population_optimum(p0, r, beta)
    assert np.allclose(optimum, tilting.tilt(p0, r, beta), rtol=1e-12, atol=1e-300)
    theta = np.log(optimum) - np.log(p0)
    assert np.max(np.abs(dpo.population_loss_grad(theta, p0, r, beta))) < 1e-12
    # every other tabular policy has a larger expected loss
    other = theta + np.random.default_rng(seed).normal(scale=0.3, size=p0.size)
    assert dpo.population_loss(other, p0, r, beta) > dpo.population_loss(theta, p0, r, beta) - 1e-12


def test_policy_from_log_ratio() -> None:
    pi = dpo.policy_from_log_ratio([0.2, 0.0, 0.8], [1.0, 5.0, 0.0])
    assert pi[1] == 0.0 and pi.sum() == pytest.approx(1.0)
    assert pi[0] / pi[2] == pytest.approx(0.2 * np.e / 0.8)
    big = dpo.policy_from_log_ratio([0.5, 0.5], [800.0, 0.0])  # e^800 overflows; log space does not
    assert np.isfinite(big).all() and big[0] == 1.0


# ----------------------------------------------------------------------------- fits


def test_fit_reward_two_responses_is_the_bradley_terry_mle() -> None:
    u, converged, _ = dpo.fit_reward(two_outcome_prefs(30, 10), l2=1e-12)
    assert converged
    assert u[0] - u[1] == pytest.approx(np.log(3.0), abs=1e-8)
    assert u.sum() == pytest.approx(0.0, abs=1e-12)


def test_fit_reward_shrinks_a_response_that_never_loses() -> None:
    """Without a penalty û would be infinite; the prior keeps it finite, and weaker priors let it grow."""
    prefs = two_outcome_prefs(5, 0)
    gaps = [float(np.diff(dpo.fit_reward(prefs, l2)[0])[0]) for l2 in (10.0, 1.0, 0.01)]
    assert all(np.isfinite(gaps)) and gaps[0] > gaps[1] > gaps[2]  # u0 − u1 grows as l2 shrinks
    # stationarity of the penalised objective at the fit, in closed form for two responses:
    # 5 σ(−d) = l2 u0 with u0 = d/2, d = u0 − u1
    u, _, _ = dpo.fit_reward(prefs, 1.0)
    d = u[0] - u[1]
    assert 5 * expit(-d) == pytest.approx(d / 2, rel=1e-9)


def test_fit_reward_validates() -> None:
    for bad in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="l2 must be"):
            dpo.fit_reward(two_outcome_prefs(1, 1), bad)


def test_fit_is_the_tilt_of_the_fitted_reward(rng: np.random.Generator) -> None:
    p0, r = random_problem(rng, k=8)
    prefs = dpo.sample_preferences(p0, r, 300, rng)
    result = dpo.fit(prefs, p0, beta=0.8, l2=0.5)
    assert result.converged
    assert np.allclose(result.policy, tilting.tilt(p0, result.implicit_reward, 0.8), atol=1e-14)
    assert np.allclose(result.policy, dpo.policy_from_log_ratio(p0, result.log_ratio), atol=1e-14)
    assert np.exp(result.log_ratio) @ p0 == pytest.approx(1.0)
    assert result.loss == pytest.approx(dpo.dpo_loss(result.log_ratio, prefs, 0.8), rel=1e-12)
    # the penalised objective is stationary at the fit
    penalised = lambda th: prefs.m * dpo.dpo_loss(th, prefs, 0.8) + 0.25 * np.sum((0.8 * th) ** 2)  # noqa: E731
    theta = result.implicit_reward / 0.8
    h = 1e-5
    numeric = [(penalised(theta + h * e) - penalised(theta - h * e)) / (2 * h) for e in np.eye(8)]
    assert np.allclose(numeric, 0.0, atol=1e-4)


def test_fit_is_consistent_as_data_grow() -> None:
    rng = np.random.default_rng(7)
    p0, r = random_problem(rng, k=5)
    target = tilting.tilt(p0, r, 1.0)
    errors = []
    for m in (100, 100_000):
        result = dpo.fit(dpo.sample_preferences(p0, r, m, rng), p0, beta=1.0, l2=1.0)
        errors.append(np.abs(result.policy - target).max())
    assert errors[1] < errors[0] and errors[1] < 0.02


def test_fit_validates() -> None:
    with pytest.raises(ValueError, match="3 responses"):
        dpo.fit(two_outcome_prefs(1, 1), [0.2, 0.3, 0.5], beta=1.0)


def test_fit_path_matches_manual_gradient_descent(rng: np.random.Generator) -> None:
    p0, r = random_problem(rng, k=5)
    prefs = dpo.sample_preferences(p0, r, 60, rng)
    theta = np.zeros(5)
    manual = []
    for step in range(1, 8):
        theta = theta - 0.5 * dpo.dpo_loss_grad(theta, prefs, 1.5)
        if step in (3, 7):
            manual.append(theta.copy())
    path = dpo.fit_path(prefs, 1.5, [0, 3, 7], lr=0.5)
    assert np.allclose(path[0], 0.0)
    assert np.allclose(path[1:], manual, atol=1e-13)


def test_fit_path_never_stops_when_a_response_never_loses() -> None:
    path = dpo.fit_path(two_outcome_prefs(3, 0), 1.0, [10, 100, 1_000, 10_000], lr=1.0)
    gap = path[:, 0] - path[:, 1]
    assert np.all(np.diff(gap) > 0) and gap[-1] > 2 * np.log(10)  # grows like log(steps), without limit


def test_fit_path_validates() -> None:
    prefs = two_outcome_prefs(1, 1)
    with pytest.raises(ValueError, match="integers"):
        dpo.fit_path(prefs, 1.0, [1.5])
    with pytest.raises(ValueError, match="non-decreasing"):
        dpo.fit_path(prefs, 1.0, [5, 2])
    with pytest.raises(ValueError, match="lr"):
        dpo.fit_path(prefs, 1.0, [5], lr=0.0)


# ----------------------------------------------------------------------------- placement


def test_place_the_optimum_and_the_base() -> None:
    p0, r = random_problem(np.random.default_rng(2), k=6)
    at_optimum = dpo.place(tilting.tilt(p0, r, 0.7), p0, r)
    front = tilting.frontier(p0, r, [0.7])
    assert at_optimum.kl == pytest.approx(front.kl[0], rel=1e-10)
    assert at_optimum.gain == pytest.approx(front.gain[0], rel=1e-10)
    assert at_optimum.share == pytest.approx(1.0, rel=1e-7)
    at_base = dpo.place(p0, p0, r)
    assert at_base.kl == 0.0 and abs(at_base.gain) < 1e-12 and np.isnan(at_base.share)
    with pytest.raises(ValueError, match="infinite"):
        dpo.place([0.5, 0.5], [1.0, 0.0], [0.0, 1.0])


@FAST
@given(problem=discrete_problems(), beta=st.floats(0.1, 5.0), m=st.integers(1, 300),
       l2=st.floats(0.01, 10.0), seed=st.integers(0, 2**16))  # fmt: skip
def test_finite_data_policy_never_lands_above_the_frontier(problem, beta: float, m: int, l2: float, seed: int) -> None:
    p0, r = problem
    rng = np.random.default_rng(seed)
    result = dpo.fit(dpo.sample_preferences(p0, r, m, rng), p0, beta, l2=l2)
    pl = dpo.place(result.policy, p0, r)
    assert pl.gain <= pl.optimal_gain + 1e-9
    assert pl.optimal_gain == pytest.approx(float(bon.optimal_gain(p0, r, pl.kl)))


def test_sweep_shapes_determinism_and_limits() -> None:
    p0, r = random_problem(np.random.default_rng(4), k=10)
    args = (p0, r, [0.5, 2.0], [20, 2_000], 3)
    a = dpo.sweep(*args, np.random.default_rng(9), l2=1.0)
    b = dpo.sweep(*args, np.random.default_rng(9), l2=1.0)
    assert a.kl.shape == (2, 2, 3)
    for name in ("kl", "gain", "share", "objective_loss", "unseen_mass"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name  # same seed, same numbers
    assert np.all(a.gain <= a.optimal_gain + 1e-9)
    assert np.all(a.objective_loss >= -1e-12)
    front = tilting.frontier(p0, r, [0.5, 2.0])
    assert np.allclose(a.optimum_kl, front.kl) and np.allclose(a.optimum_gain, front.gain)
    # one fitted reward per data set: β only tilts it, so a larger β spends less KL on the same data
    assert np.all(a.kl[0] > a.kl[1])
    # more data, closer to π_β in the true objective (on average over replicates)
    assert np.all(a.objective_loss[:, 1].mean(axis=-1) < a.objective_loss[:, 0].mean(axis=-1))


def test_sweep_validates() -> None:
    p0, r = np.array([0.5, 0.5]), np.array([0.0, 1.0])
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="empty"):
        dpo.sweep(p0, r, [1.0], [], 1, rng)
    with pytest.raises(ValueError, match="positive integer"):
        dpo.sweep(p0, r, [1.0], [0], 1, rng)
    with pytest.raises(ValueError, match="finite"):
        dpo.sweep(p0, r, [np.inf], [10], 1, rng)
    with pytest.raises(TypeError, match="Generator"):
        dpo.sweep(p0, r, [1.0], [10], 1, 0)  # type: ignore[arg-type]
