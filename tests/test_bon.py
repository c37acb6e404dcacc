"""Tests for alignlimits.bon: exact best-of-N law, KL, reward, estimators, soft best-of-N."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as hst

from alignlimits import bon, divergences, tilting, toys

P = np.array([0.2, 0.3, 0.1, 0.4])
R = np.array([1.0, 0.0, 1.0, 2.0])  # outcomes 0 and 2 tie


def brute_force_law(p, r, n):
    """Enumerate all k^N candidate tuples; ties broken uniformly at random."""
    out = np.zeros(len(p))
    for t in itertools.product(range(len(p)), repeat=n):
        prob = np.prod(p[list(t)])
        top = r[list(t)].max()
        winners = [i for i in t if r[i] == top]
        for i in winners:
            out[i] += prob / len(winners)
    return out


def brute_force_soft(p, r, n, beta):
    out = np.zeros(len(p))
    for t in itertools.product(range(len(p)), repeat=n):
        prob = np.prod(p[list(t)])
        w = np.exp((r[list(t)] - r.max()) / beta)
        for i, wi in zip(t, w / w.sum(), strict=True):
            out[i] += prob * wi
    return out


def random_problem(rng, k=None, ties=False):
    k = int(rng.integers(2, 12)) if k is None else k
    p = rng.dirichlet(np.full(k, 0.7))
    r = rng.integers(0, 4, size=k).astype(float) if ties else rng.normal(size=k)
    r[:2] = [0.0, 1.0]  # never a constant reward (every policy would have gain 0)
    return p, r


# ----------------------------------------------------------------------------- exact law


def test_n1_is_base_policy():
    np.testing.assert_allclose(bon.law(P, R, 1), P, rtol=1e-14)
    assert bon.kl(P, R, 1) == 0.0
    assert bon.expected_reward(P, R, 1) == pytest.approx(P @ R, rel=1e-14)
    assert bon.win_rate(P, R, 1) == pytest.approx(0.5, rel=1e-14)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_law_matches_enumeration_with_ties(n):
    np.testing.assert_allclose(bon.law(P, R, n), brute_force_law(P, R, n), rtol=1e-12, atol=1e-15)


def test_law_sums_to_one_and_vectorises():
    rng = np.random.default_rng(0)
    ns = np.array([1, 2, 7, 100, 5000])
    for _ in range(20):
        p, r = random_problem(rng, ties=bool(rng.integers(2)))
        pi = bon.law(p, r, ns)
        assert pi.shape == (ns.size, p.size)
        np.testing.assert_allclose(pi.sum(axis=-1), 1.0, atol=1e-12)
        for j, n in enumerate(ns):  # the vector call equals the scalar calls
            np.testing.assert_allclose(pi[j], bon.law(p, r, int(n)), rtol=1e-13)
            assert bon.kl(p, r, ns)[j] == pytest.approx(bon.kl(p, r, int(n)), rel=1e-13)


def test_kl_matches_divergence_of_law():
    rng = np.random.default_rng(1)
    for _ in range(20):
        p, r = random_problem(rng, ties=True)
        for n in (2, 5, 50):
            assert bon.kl(p, r, n) == pytest.approx(divergences.kl(bon.law(p, r, n), p), rel=1e-10, abs=1e-14)


def test_zero_probability_outcomes_get_zero_mass():
    p = np.array([0.5, 0.0, 0.5])
    r = np.array([0.0, 10.0, 1.0])
    assert bon.log_law(p, r, 3)[1] == -np.inf
    assert bon.expected_reward(p, r, 3) == pytest.approx(1 - 0.5**3)


def test_large_n_and_tiny_probabilities_stay_finite_and_accurate():
    # Top outcome has mass 1e-12: P_N(top) = 1 − (1 − 1e-12)^N ≈ N·1e-12 for N = 1000.
    p = np.array([1 - 1e-12, 1e-12])
    r = np.array([0.0, 1.0])
    top = bon.law(p, r, 1000)[1]
    assert top == pytest.approx(-np.expm1(1000 * np.log1p(-1e-12)), rel=1e-9)
    # N in the millions with a near-greedy law: KL approaches −log q_top from below.
    p = np.array([0.5, 0.3, 0.2])
    r = np.array([0.0, 1.0, 2.0])
    kl_big = bon.kl(p, r, 10**6)  # the gap to −log 0.2 is ~e^{−2e5}: below double precision
    assert np.isfinite(kl_big) and kl_big <= -np.log(0.2)
    assert kl_big == pytest.approx(-np.log(0.2), abs=1e-12)
    assert bon.kl(p, r, 50) < -np.log(0.2)


def test_monte_carlo_matches_exact_law_reward_and_kl():
    """Seeded simulation; tolerances are 5 standard errors of each Monte-Carlo estimate."""
    rng = np.random.default_rng(2026)
    p = np.array([0.1, 0.25, 0.15, 0.3, 0.2])
    r = np.array([0.0, 1.0, 1.0, 2.5, 3.0])  # a tie between outcomes 1 and 2
    n, draws = 4, 200_000
    idx = rng.choice(p.size, size=(draws, n), p=p)
    rows = np.arange(draws)
    winner = idx[rows, np.argmax(r[idx], axis=1)]  # first highest: deterministic ties
    freq = np.bincount(winner, minlength=p.size) / draws
    pi = bon.law(p, r, n)
    assert np.all(np.abs(freq - pi) < 5 * np.sqrt(pi * (1 - pi) / draws))
    rewards = r[winner]
    assert abs(rewards.mean() - bon.expected_reward(p, r, n)) < 5 * rewards.std() / np.sqrt(draws)
    log_ratio = np.log(pi / p)[winner]  # KL = E_{π_N}[log π_N/π0]
    assert abs(log_ratio.mean() - bon.kl(p, r, n)) < 5 * log_ratio.std() / np.sqrt(draws)


# ----------------------------------------------------------------------------- bounds


def test_kl_below_bound_on_random_problems():
    rng = np.random.default_rng(3)
    ns = np.array([1, 2, 3, 10, 100, 1000])
    for _ in range(100):
        p, r = random_problem(rng, ties=bool(rng.integers(2)))
        gap = bon.bound_gap(p, r, ns)
        assert np.all(gap >= -1e-12)
        assert np.all(gap[1:] > 0)  # a discrete base always has atoms: strict for N ≥ 2
        assert np.all(bon.kl(p, r, ns) < bon.kl_bound(1) + tilting.max_kl(p, r) + 1e-12)
        assert np.all(bon.win_rate(p, r, ns) <= bon.win_rate_bound(ns) + 1e-12)


@pytest.mark.parametrize("n", [2, 4, 16, 64])
def test_bound_tight_for_many_equiprobable_distinct_outcomes(n):
    k = 20_000
    p = np.full(k, 1 / k)
    r = np.arange(k, dtype=float)
    assert bon.kl(p, r, n) == pytest.approx(bon.kl_bound(n), abs=1e-4)
    assert bon.bound_is_tight(p, r, n, atol=1e-4)
    assert not bon.bound_is_tight(p, r, n)
    assert bon.win_rate(p, r, n) == pytest.approx(bon.win_rate_bound(n), abs=1e-4)


def test_bound_is_tight_for_continuous_laws_only():
    assert bon.bound_is_tight(n=7) is True
    assert bon.bound_is_tight(P, R, 1) is True
    assert bon.bound_is_tight(P, R, 2) is False
    np.testing.assert_array_equal(bon.bound_is_tight(P, R, [1, 2]), [True, False])
    with pytest.raises(ValueError, match="both"):
        bon.bound_is_tight(P, None, 2)


def test_binary_rewards_kl_is_log2_minus_entropy_for_fair_coin():
    # p = 1/2: KL = log 2 − H(2^{−N}) < log 2 for every N, while the bound grows like log N.
    ns = np.array([1, 2, 5, 10, 40, 1000])
    kls = bon.kl([0.5, 0.5], [0.0, 1.0], ns)
    a = 0.5**ns
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -(np.where(a > 0, a * np.log(a), 0.0) + (1 - a) * np.log1p(-a))
    np.testing.assert_allclose(kls, np.log(2) - entropy, rtol=1e-10, atol=1e-15)
    assert np.all(kls <= np.log(2))
    assert np.all(kls[2:] < bon.kl_bound(ns[2:]))


def test_binary_rewards_kl_below_minus_log_p():
    # In general binary BoN KL < −log p (the greedy KL), which is ≤ log 2 only when p ≥ 1/2.
    for p_top in (0.01, 0.2, 0.5, 0.7, 0.99):
        kls = bon.kl([1 - p_top, p_top], [0.0, 1.0], np.array([2, 10, 100, 10**4]))
        assert np.all(kls <= -np.log(p_top))  # equal in floating point once (1 − p)^N underflows
        assert kls[0] < -np.log(p_top)
        if p_top >= 0.5:
            assert np.all(kls <= np.log(2))
    # and the log 2 ceiling fails for rare successes: p = 0.01, N = 100 spends > log 2 nats
    assert bon.kl([0.99, 0.01], [0.0, 1.0], 100) > np.log(2)


def test_no_bon_point_above_frontier_on_200_random_problems():
    rng = np.random.default_rng(4)
    ns = np.array([2, 4, 16, 64, 256])
    for _ in range(200):
        p, r = random_problem(rng, ties=bool(rng.integers(2)))
        c = bon.curve(p, r, ns)
        optimal = bon.optimal_gain(p, r, c.kl)
        assert np.all(c.gain <= optimal + 1e-9 * (1 + np.abs(optimal)))
        fraction = bon.frontier_fraction(p, r, ns)
        assert np.all((fraction > 0) & (fraction <= 1 + 1e-9))


def test_optimal_gain_near_the_greedy_ceiling():
    p, r = np.array([0.5, 0.3, 0.2]), np.array([0.0, 1.0, 2.0])
    ceiling = tilting.max_kl(p, r)
    assert bon.optimal_gain(p, r, ceiling * (1 - 1e-16)) == tilting.greedy_gain(p, r)
    assert bon.optimal_gain(p, r, 0.3) == pytest.approx(tilting.max_gain(p, r, 0.3), rel=1e-14)
    np.testing.assert_allclose(bon.frontier_fraction(p, r, [1, 10**6]), [np.nan, 1.0], rtol=1e-12)


def test_curve_fields_consistent():
    c = bon.curve(P, R, [1, 3])
    np.testing.assert_allclose(c.expected_reward, bon.expected_reward(P, R, [1, 3]))
    np.testing.assert_allclose(c.bound, [0.0, np.log(3) - 2 / 3])
    assert c.base_mean == pytest.approx(P @ R)


# ----------------------------------------------------------------------------- continuous


def test_continuous_expected_max_closed_forms():
    assert bon.continuous_expected_max(st.norm(), 2) == pytest.approx(1 / np.sqrt(np.pi), rel=1e-10)
    assert bon.continuous_expected_max(st.norm(), 3) == pytest.approx(1.5 / np.sqrt(np.pi), rel=1e-10)
    ns = np.array([1, 2, 10, 1000])
    harmonic = np.array([np.sum(1 / np.arange(1, k + 1)) for k in ns])
    np.testing.assert_allclose(bon.continuous_expected_max(st.expon(), ns), harmonic, rtol=1e-9)
    np.testing.assert_allclose(bon.continuous_expected_max(st.uniform(), ns), ns / (ns + 1), rtol=1e-10)
    with pytest.raises(TypeError, match=r"scipy\.stats"):
        bon.continuous_expected_max(object(), 2)


# ----------------------------------------------------------------------------- estimators


@pytest.mark.parametrize(("m", "n"), [(5, 1), (6, 3), (8, 8), (9, 4)])
def test_unbiased_estimator_equals_average_over_all_subsets(m, n):
    rng = np.random.default_rng(m * 10 + n)
    x = rng.integers(0, 4, size=m).astype(float)  # ties on purpose
    brute = np.mean([max(c) for c in itertools.combinations(x, n)])
    assert bon.expected_max_unbiased(x, n) == pytest.approx(brute, rel=1e-12)


def test_unbiased_weights_large_n_and_batches():
    w = bon.unbiased_max_weights(20_000, 5000)
    assert np.all(np.isfinite(w)) and w.sum() == pytest.approx(1.0, rel=1e-10)
    assert np.all(w[:4999] == 0)
    x = np.random.default_rng(5).normal(size=(3, 50))
    np.testing.assert_allclose(bon.expected_max_unbiased(x, 7), [bon.expected_max_unbiased(row, 7) for row in x])


def test_unbiased_estimator_is_unbiased_in_simulation():
    rng = np.random.default_rng(6)
    law = np.array([0.5, 0.3, 0.2]), np.array([0.0, 1.0, 2.0])
    est = np.array([bon.expected_max_unbiased(rng.choice(law[1], size=12, p=law[0]), 5) for _ in range(20_000)])
    assert abs(est.mean() - bon.expected_reward(*law, 5)) < 5 * est.std() / np.sqrt(est.size)


def test_estimate_plug_in_kl_and_consistency():
    rng = np.random.default_rng(7)
    x = rng.choice([0.0, 1.0, 2.0], size=200_000, p=[0.5, 0.3, 0.2])
    e = bon.estimate(x, 8)
    assert e.kl == pytest.approx(bon.kl([0.5, 0.3, 0.2], [0.0, 1.0, 2.0], 8), abs=0.01)
    assert e.gain == pytest.approx(e.expected_reward - x.mean())
    # continuous samples: all distinct, KL below the bound and close to it for n ≫ N
    y = rng.normal(size=10_000)
    e = bon.estimate(y, 4)
    assert bon.kl_bound(4) - 1e-3 < e.kl < bon.kl_bound(4)
    assert e.expected_reward == pytest.approx(bon.continuous_expected_max(st.norm(), 4), abs=0.05)


# ----------------------------------------------------------------------------- soft best-of-N


@pytest.mark.parametrize(("n", "beta"), [(1, 0.5), (2, 0.3), (4, 0.05), (5, 0.7), (3, 20.0)])
def test_soft_law_matches_enumeration(n, beta):
    np.testing.assert_allclose(bon.soft_law(P, R, n, beta), brute_force_soft(P, R, n, beta), rtol=1e-8, atol=1e-14)


def test_soft_limits():
    rng = np.random.default_rng(8)
    p, r = random_problem(rng, k=8)
    # β → 0: hard best-of-N (both through the quadrature and the hard shortcut)
    np.testing.assert_allclose(bon.soft_law(p, r, 16, 1e-5), bon.law(p, r, 16), rtol=1e-7, atol=1e-15)
    np.testing.assert_allclose(bon.soft_law(p, r, 16, 1e-300), bon.law(p, r, 16), rtol=1e-12)
    # β → ∞ and N = 1: the base policy
    np.testing.assert_allclose(bon.soft_law(p, r, 16, 1e6), p, rtol=1e-5)
    np.testing.assert_allclose(bon.soft_law(p, r, 16, np.inf), p, rtol=1e-14)
    np.testing.assert_allclose(bon.soft_law(p, r, 1, 0.3), p, rtol=1e-14)
    # N → ∞: the tilted policy, with an error shrinking like 1/N
    target = tilting.tilt(p, r, 0.5)
    errs = [np.abs(bon.soft_law(p, r, n, 0.5) - target).max() for n in (100, 10_000)]
    assert errs[1] < 1e-3 and errs[1] < errs[0] / 30


def test_soft_law_ties_split_by_base_mass():
    pi = bon.soft_law(P, R, 3, 0.4)
    assert pi[0] / pi[2] == pytest.approx(P[0] / P[2], rel=1e-12)
    assert pi.sum() == pytest.approx(1.0, abs=1e-12)


# ----------------------------------------------------------------------------- sampler-agnostic


def _sampler(p, r):
    def sample(n, rng):
        return rng.choice(p.size, size=n, p=p)

    def reward(idx):
        return r[np.asarray(idx)]

    return sample, reward


def test_best_of_n_returns_best_and_is_reproducible():
    sample, reward = _sampler(P, R)
    a = bon.best_of_n(sample, reward, 6, np.random.default_rng(9))
    b = bon.best_of_n(sample, reward, 6, np.random.default_rng(9))
    assert a.index == b.index and np.array_equal(a.scores, b.scores)
    assert a.scores.shape == (6,) and a.scores[a.index] == a.scores.max()
    assert a.index == int(np.flatnonzero(a.scores == a.scores.max())[0])  # first highest on ties
    assert a.choice == a.candidates[a.index]


def test_best_of_n_with_string_candidates():
    def sample(n, rng):
        return [f"text {int(i)}" for i in rng.integers(0, 100, size=n)]

    out = bon.best_of_n(sample, lambda xs: [float(x.split()[1]) for x in xs], 5, np.random.default_rng(0))
    assert out.choice == max(out.candidates, key=lambda s: float(s.split()[1]))


def test_best_of_n_sampler_matches_exact_laws():
    rng = np.random.default_rng(10)
    sample, reward = _sampler(P, R)
    draws = 20_000
    for beta, exact in ((None, bon.law(P, R, 3)), (0.5, bon.soft_law(P, R, 3, 0.5))):
        picks = np.array([bon.best_of_n(sample, reward, 3, rng, beta=beta).choice for _ in range(draws)])
        freq = np.bincount(picks, minlength=P.size) / draws
        assert np.all(np.abs(freq - exact) < 5 * np.sqrt(exact * (1 - exact) / draws))


@settings(max_examples=60, deadline=None)
@given(
    scores=hst.lists(hst.integers(-3, 3), min_size=1, max_size=12),
    seed=hst.integers(0, 2**32 - 1),
)
def test_permuting_candidates_changes_nothing(scores, seed):
    """Candidates carry their rewards; a permutation keeps the kept reward (and the kept
    candidate when the maximum is unique), the multiset of scores and the exact laws."""
    rng = np.random.default_rng(seed)
    values = np.array(scores, dtype=float)
    labels = [f"y{i}" for i in range(values.size)]
    perm = rng.permutation(values.size)

    def reward(candidates):
        return values[[int(c[1:]) for c in candidates]]

    out = bon.best_of_n(lambda n, g: labels, reward, values.size, rng)
    out_perm = bon.best_of_n(lambda n, g: [labels[i] for i in perm], reward, values.size, rng)
    assert out.scores[out.index] == out_perm.scores[out_perm.index] == values.max()
    if np.sum(values == values.max()) == 1:
        assert out.choice == out_perm.choice
    np.testing.assert_array_equal(np.sort(out.scores), np.sort(out_perm.scores))
    # the exact law on the empirical distribution, and the estimators, are permutation invariant
    p = np.full(values.size, 1 / values.size)
    for n in (1, 3):
        np.testing.assert_allclose(bon.law(p, values, n)[perm], bon.law(p[perm], values[perm], n), rtol=1e-13)
        assert bon.kl(p, values, n) == pytest.approx(bon.kl(p[perm], values[perm], n), rel=1e-13, abs=1e-15)
    m = min(3, values.size)
    assert bon.expected_max_unbiased(values, m) == pytest.approx(bon.expected_max_unbiased(values[perm], m))


@settings(max_examples=40, deadline=None)
@given(seed=hst.integers(0, 2**32 - 1), n=hst.integers(1, 50))
def test_property_kl_monotone_in_n_and_below_bound(seed, n):
    rng = np.random.default_rng(seed)
    p, r = random_problem(rng, ties=bool(rng.integers(2)))
    kls = bon.kl(p, r, [n, n + 1])
    assert kls[0] <= kls[1] + 1e-13
    assert kls[1] <= bon.kl_bound(n + 1) + 1e-13
    gains = bon.curve(p, r, [n, n + 1]).gain
    assert gains[0] <= gains[1] + 1e-13


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("bad_n", [0, -2, 2.5, np.nan, True, "3"])
def test_bad_n_raises(bad_n):
    with pytest.raises((ValueError, TypeError)):
        bon.law(P, R, bad_n)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="NaN"):
        bon.kl(P, [1.0, np.nan, 0.0, 1.0], 2)
    with pytest.raises(ValueError, match="infinite"):
        bon.kl(P, [1.0, np.inf, 0.0, 1.0], 2)
    with pytest.raises(ValueError, match="same shape"):
        bon.kl(P, R[:3], 2)
    with pytest.raises(ValueError, match="sum to 1"):
        bon.kl(P * 2, R, 2)
    with pytest.raises(ValueError, match="at least N"):
        bon.expected_max_unbiased([1.0, 2.0], 3)
    with pytest.raises(ValueError, match="at least N"):
        bon.estimate([1.0, 2.0], 3)
    with pytest.raises(ValueError, match="NaN"):
        bon.expected_max_unbiased([1.0, np.nan, 2.0], 2)
    with pytest.raises(ValueError, match="beta"):
        bon.soft_law(P, R, 3, 0.0)
    with pytest.raises(ValueError, match="empty"):
        bon.estimate([], 1)


def test_best_of_n_bad_callables_raise():
    sample, reward = _sampler(P, R)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="expected n"):
        bon.best_of_n(lambda n, g: sample(n - 1, g), reward, 4, rng)
    with pytest.raises(ValueError, match="shape"):
        bon.best_of_n(sample, lambda c: np.ones(len(c) + 1), 4, rng)
    with pytest.raises(ValueError, match="NaN"):
        bon.best_of_n(sample, lambda c: np.full(len(c), np.nan), 4, rng)
    with pytest.raises(TypeError, match="Generator"):
        bon.best_of_n(sample, reward, 4, 0)
    with pytest.raises(ValueError, match=">= 1"):
        bon.best_of_n(sample, reward, 0, rng)


# ----------------------------------------------------------------------------- toy laws


def test_law_curve_continuous_and_discrete():
    ns = np.array([1, 2, 16])
    c = bon.law_curve(toys.Uniform(0.0, 2.0), ns)
    np.testing.assert_allclose(c.gain, 2 * ns / (ns + 1) - 1.0, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(c.kl, bon.kl_bound(ns))
    np.testing.assert_allclose(c.win_rate, ns / (ns + 1))
    law = toys.Categorical([0.0, 1.0, 3.0], [0.5, 0.3, 0.2])
    d = bon.law_curve(law, ns)
    np.testing.assert_allclose(d.kl, bon.kl([0.5, 0.3, 0.2], [0.0, 1.0, 3.0], ns))
    with pytest.raises(TypeError, match="scipy"):
        bon._scipy_law(law)


def test_law_frontier_fraction():
    ns = np.array([2, 8, 64, 512])
    gauss = bon.law_frontier_fraction(toys.Gaussian(1.0, 3.0), ns)
    assert gauss[0] == pytest.approx(1 / np.sqrt(np.pi) / np.sqrt(2 * np.log(2) - 1), rel=1e-9)
    for law in (toys.Gaussian(), toys.Exponential(2.0), toys.Uniform(), toys.Categorical([0, 1, 3], [0.5, 0.3, 0.2])):
        frac = bon.law_frontier_fraction(law, ns)
        assert np.all((frac > 0.5) & (frac <= 1 + 1e-9)), (law, frac)
    # binary rewards: π_N is Bernoulli(1 − (1−p)^N), itself a tilt, so best-of-N is on the frontier
    np.testing.assert_allclose(bon.law_frontier_fraction(toys.Bernoulli(0.3), ns), 1.0, rtol=1e-9)
    assert np.isnan(bon.law_frontier_fraction(toys.Gaussian(), 1))
