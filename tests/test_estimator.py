"""Tests for the sample-based frontier estimator (alignlimits.estimator)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax

from alignlimits import estimator as est
from alignlimits import tilting, toys

BETAS = np.array([0.5, 1.0, 2.0, 5.0])

finite_rewards = st.lists(
    st.floats(min_value=-50, max_value=50, allow_nan=False, allow_infinity=False), min_size=2, max_size=40
)


def _mc_tolerance(law: toys.RewardLaw, beta: np.ndarray, n: int, reps: int, rng: np.random.Generator) -> dict:
    """Monte-Carlo standard error of the plug-in estimates, measured by independent replications."""
    draws = [est.estimate_frontier(law.sample(n, rng), beta, diagnostics=False) for _ in range(reps)]
    return {k: np.std([getattr(d, k) for d in draws], axis=0, ddof=1) for k in ("kl", "gain", "reverse_kl")}


# ---------------------------------------------------------------- agreement with the closed forms


@pytest.mark.parametrize("law", [toys.Gaussian(0.3, 1.5), toys.Bernoulli(0.3)], ids=lambda x: x.name)
def test_large_n_matches_closed_form_within_mc_error(law: toys.RewardLaw) -> None:
    rng = np.random.default_rng(11)
    beta = law.std * np.array([0.7, 1.0, 2.0, 5.0])
    n = 200_000
    fit = est.estimate_frontier(law.sample(n, rng), beta)
    truth = law.frontier(beta)
    se = _mc_tolerance(law, beta, n, reps=8, rng=np.random.default_rng(12))
    for key in ("kl", "gain", "reverse_kl"):
        # 5 standard errors (estimated from 8 replications) plus the O(1/n) bias bound
        tol = 5 * se[key] + 10 * np.exp(2 * truth.kl) / n * np.abs(getattr(truth, key))
        np.testing.assert_array_less(np.abs(getattr(fit, key) - getattr(truth, key)), tol, err_msg=key)
    assert fit.reliable.all()


def test_gain_at_budget_matches_gaussian_closed_form() -> None:
    law = toys.Gaussian(0.0, 2.0)
    rng = np.random.default_rng(3)
    r = law.sample(200_000, rng)
    budgets = np.array([0.05, 0.5, 1.5])
    res = est.gain_at_budget(r, budgets)
    truth = law.std * np.sqrt(2 * budgets)  # Gaussian: Δ*(ε) = σ sqrt(2ε)
    np.testing.assert_allclose(res.gain, truth, rtol=0.03)
    # the returned β reproduces the budget exactly on the samples
    fit = est.estimate_frontier(r, res.beta, diagnostics=False)
    np.testing.assert_allclose(fit.kl, budgets, rtol=1e-9)
    np.testing.assert_allclose(fit.gain, res.gain, rtol=1e-12)


def test_equals_exact_discrete_tilt_of_the_empirical_distribution() -> None:
    rng = np.random.default_rng(5)
    r = rng.normal(size=30)
    fit = est.estimate_frontier(r, BETAS, diagnostics=False)
    exact = tilting.frontier(np.full(30, 1 / 30), r, BETAS)
    for key in ("kl", "reverse_kl", "gain", "jeffreys"):
        np.testing.assert_allclose(getattr(fit, key), getattr(exact, key), rtol=1e-10, atol=1e-13)


# ---------------------------------------------------------------- plug-in identities


@settings(max_examples=60, deadline=None)
@given(finite_rewards, st.floats(min_value=0.05, max_value=100))
def test_plug_in_identities(rewards: list[float], beta: float) -> None:
    r = np.array(rewards)
    n = r.size
    fit = est.estimate_frontier(r, beta, diagnostics=False)
    w = softmax(r / beta)
    entropy = -np.sum(w * np.log(np.where(w > 0, w, 1.0)))
    scale = 1 + np.abs(r).max()
    assert fit.gain == pytest.approx(w @ r - r.mean(), abs=1e-12 * scale)
    cov_form = np.mean((r - r.mean()) * w) * n  # Ĉov(r, e^{r/β})/Ê[e^{r/β}] with e^{r/β} ∝ w
    assert fit.gain == pytest.approx(cov_form, abs=1e-12 * scale)
    assert fit.kl == pytest.approx(np.log(n) - entropy, abs=1e-12 * scale)
    assert fit.kl <= np.log(n) + 1e-12
    assert fit.kl <= np.log(n / fit.ess_min) + 1e-9  # Rényi-2 ≤ Shannon entropy
    assert fit.jeffreys * beta == pytest.approx(fit.gain, abs=1e-11 * scale)
    assert 1 - 1e-9 <= fit.ess_min <= n + 1e-9


@settings(max_examples=40, deadline=None)
@given(finite_rewards, st.lists(st.floats(min_value=1e-6, max_value=1e6), min_size=1, max_size=8))
def test_kl_never_exceeds_log_n(rewards: list[float], betas: list[float]) -> None:
    r = np.array(rewards)
    fit = est.estimate_frontier(r, betas, diagnostics=False)
    assert (fit.kl <= np.log(r.size) + 1e-12).all()
    assert (fit.kl <= fit.kl_ceiling + 1e-12).all()
    assert np.isfinite(fit.gain).all() and (fit.gain >= -1e-9 * (1 + np.abs(r).max())).all()


def test_beta_infinite_gives_origin_and_small_beta_gives_greedy() -> None:
    r = np.random.default_rng(0).normal(size=100)
    fit = est.estimate_frontier(r, [np.inf, 1e12, 1e-300])
    assert fit.kl[0] == 0 and fit.reverse_kl[0] == 0 and abs(fit.gain[0]) < 1e-15
    # absolute accuracy is rounding-level (~1e-15 · log n), not relative, for KL near 0
    assert fit.kl[1] < 1e-14 and abs(fit.gain[1]) < 1e-10
    assert fit.gain[2] == pytest.approx(r.max() - r.mean(), rel=1e-14)
    assert fit.kl[2] == pytest.approx(np.log(100), rel=1e-14)


def test_huge_reward_over_beta_stays_finite() -> None:
    r = np.array([0.0, 1e4, 5e3, -2e4])
    fit = est.estimate_frontier(r, 1.0)  # r/β up to 1e4: e^{r/β} would overflow
    assert np.isfinite([fit.kl, fit.reverse_kl, fit.gain, fit.ess_min]).all()
    assert fit.gain == pytest.approx(1e4 - r.mean())
    assert fit.kl == pytest.approx(np.log(4))


def test_ties_at_the_top_lower_the_ceiling() -> None:
    r = np.array([1.0, 1.0, 0.0, 0.0, 0.0, 0.5])
    assert est.kl_ceiling(r) == pytest.approx(np.log(6 / 2))
    fit = est.estimate_frontier(r, 1e-6)
    assert fit.kl == pytest.approx(np.log(3))


# ---------------------------------------------------------------- invariances


@settings(max_examples=40, deadline=None)
@given(
    finite_rewards,
    st.floats(min_value=-100, max_value=100),
    st.floats(min_value=0.01, max_value=100),
    st.floats(min_value=0.1, max_value=10),
)
def test_shift_and_scale_invariance(rewards: list[float], shift: float, scale: float, beta: float) -> None:
    r = np.array(rewards)
    base = est.estimate_frontier(r, beta, diagnostics=False)
    shifted = est.estimate_frontier(r + shift, beta, diagnostics=False)
    scaled = est.estimate_frontier(scale * r, scale * beta, diagnostics=False)
    atol = 1e-9 * (1 + np.abs(r).max() + abs(shift))
    for other in (shifted, scaled):
        np.testing.assert_allclose(other.kl, base.kl, atol=atol)
        np.testing.assert_allclose(other.reverse_kl, base.reverse_kl, atol=atol)
        np.testing.assert_allclose(other.ess_min, base.ess_min, rtol=1e-9)
    np.testing.assert_allclose(shifted.gain, base.gain, atol=atol)
    np.testing.assert_allclose(scaled.gain, scale * base.gain, atol=atol * scale)


def test_permutation_and_relabelling_invariance() -> None:
    rng = np.random.default_rng(7)
    r = rng.normal(size=600)
    ids = rng.integers(0, 12, size=600)
    fit = est.estimate_frontier(r, BETAS, ids)
    perm = rng.permutation(600)
    relabel = {i: f"prompt-{(i * 7) % 12:02d}" for i in range(12)}  # a bijection onto strings
    other = est.estimate_frontier(r[perm], BETAS, np.array([relabel[i] for i in ids[perm]]))
    for key in ("kl", "reverse_kl", "gain", "ess_min", "ess_mean", "khat"):
        np.testing.assert_allclose(getattr(other, key), getattr(fit, key), rtol=1e-12, atol=1e-14)


def test_prompt_aggregation_equals_per_prompt_average() -> None:
    rng = np.random.default_rng(8)
    sizes = [5, 40, 17, 64]  # ragged groups
    r = rng.standard_t(4, size=sum(sizes))
    ids = np.repeat(np.arange(len(sizes)), sizes)
    fit = est.estimate_frontier(r, BETAS, ids)
    singles = [est.estimate_frontier(r[ids == p], BETAS) for p in range(len(sizes))]
    for key in ("kl", "reverse_kl", "gain", "jeffreys"):
        np.testing.assert_allclose(getattr(fit, key), np.mean([getattr(s, key) for s in singles], axis=0), rtol=1e-12)
    np.testing.assert_allclose(fit.ess_min, np.min([s.ess_min for s in singles], axis=0), rtol=1e-12)
    np.testing.assert_array_equal(fit.n_samples, sizes)
    assert fit.kl_ceiling == pytest.approx(np.mean(np.log(sizes)))


# ---------------------------------------------------------------- diagnostics


@pytest.mark.parametrize("shape", [0.2, 0.5, 0.9])
def test_khat_recovers_a_known_pareto_tail(shape: float) -> None:
    # exponential rewards with mean `shape` at β = 1 give Pareto weights of tail index `shape`
    r = np.random.default_rng(4).exponential(shape, size=20_000)
    assert est.pareto_khat(r, 1.0)[0] == pytest.approx(shape, abs=0.08)


def test_khat_flags_heavy_tails_and_small_beta() -> None:
    rng = np.random.default_rng(9)
    gauss = est.estimate_frontier(rng.normal(size=4000), [0.25, 3.0])
    assert gauss.reliable.tolist() == [False, True]
    assert gauss.khat[0] > est.khat_threshold(4000) > gauss.khat[1]
    heavy = est.estimate_frontier(rng.exponential(1.0, size=4000), 1.0)  # Pareto(1) weights: infinite mean
    assert heavy.khat > 0.7 and not heavy.reliable


def test_khat_undefined_cases_are_nan_and_ess_decides() -> None:
    r = (np.random.default_rng(0).random(1000) < 0.5).astype(float)  # ties in the tail
    fit = est.estimate_frontier(r, [1.0, 1e-3])
    assert np.isnan(fit.khat).all()
    assert fit.reliable.tolist() == [True, True]  # ESS ≈ number of successes ≫ 10
    tiny = est.estimate_frontier(np.arange(15.0), 1.0)  # n < 21: no tail fit
    assert np.isnan(tiny.khat).all()


def test_reliable_needs_the_given_fraction_of_prompts() -> None:
    rng = np.random.default_rng(3)
    ids = np.repeat(np.arange(10), 40)
    r = rng.normal(size=400)
    r[ids == 0] *= 20  # one wild prompt: its weights collapse onto one sample
    fit = est.estimate_frontier(r, 1.0, ids)
    assert fit.per_prompt["ess"][0] < 10 <= fit.per_prompt["ess"][1:].min()
    assert fit.reliable_fraction == pytest.approx(0.9)
    assert fit.reliable
    assert not est.estimate_frontier(r, 1.0, ids, min_reliable_fraction=1.0).reliable
    with pytest.raises(ValueError, match="min_reliable_fraction"):
        est.estimate_frontier(r, 1.0, ids, min_reliable_fraction=0.0)


def test_khat_stays_defined_for_nearly_flat_weights() -> None:
    r = np.random.default_rng(12).normal(size=4000)
    khat = est.pareto_khat(r, [10.0, 1e6, 1e12])[0]
    # Gaussian rewards: the weight tail shape tends to 0 from above as β grows
    assert np.isfinite(khat).all() and np.all(np.abs(khat) < 0.3)


def test_flat_weights_are_reliable_whatever_the_tail_shape() -> None:
    r = np.r_[np.arange(100.0), 1e6]  # one outlier: a heavy-looking tail
    fit = est.estimate_frontier(r, [1e3, 1e8])
    assert fit.khat[1] > est.khat_threshold(101)  # the fitted shape alone would reject it
    assert fit.reliable.tolist() == [False, True]  # at β = 1e8 every weight is within e^0.01 of the others


def test_extreme_rewards_raise_no_warnings() -> None:
    r = np.r_[np.zeros(90), 1e300, np.arange(20.0)]
    fit = est.estimate_frontier(r, [1e-300, 1.0, 1e300])  # pytest turns RuntimeWarnings into errors
    assert np.isfinite(fit.gain).all() and np.isfinite(fit.kl).all()
    assert fit.gain[0] == pytest.approx(1e300 - r.mean())


def test_khat_threshold_values() -> None:
    assert est.khat_threshold(10**6) == pytest.approx(0.7)
    assert est.khat_threshold(100) == pytest.approx(0.5)


# ---------------------------------------------------------------- bias and its correction


def test_bias_correction_formula_and_jeffreys() -> None:
    rng = np.random.default_rng(0)
    r = rng.normal(size=(3, 40))
    beta = 0.8
    fit = est.estimate_frontier(r.ravel(), beta, np.repeat([0, 1, 2], 40), bias_correction=True)
    w = softmax(r / beta, axis=1)
    m = (w * r).sum(axis=1)
    expected = (m - r.mean(axis=1) + (w**2 * (r - m[:, None])).sum(axis=1)).mean()
    assert fit.gain == pytest.approx(expected, rel=1e-12)
    assert fit.jeffreys * beta == pytest.approx(fit.gain, rel=1e-10)


@pytest.mark.parametrize("law", [toys.Gaussian(0.0, 1.0), toys.Bernoulli(0.3)], ids=lambda x: x.name)
def test_plug_in_is_biased_low_and_the_correction_removes_most_of_it(law: toys.RewardLaw) -> None:
    rng = np.random.default_rng(21)
    n, prompts, beta = 48, 4000, 1.0
    ids = np.repeat(np.arange(prompts), n)
    r = law.sample(n * prompts, rng)
    truth = law.frontier(beta)
    raw = est.estimate_frontier(r, beta, ids, diagnostics=False)
    fixed = est.estimate_frontier(r, beta, ids, diagnostics=False, bias_correction=True)
    se = raw.per_prompt["gain"].std() / np.sqrt(prompts)
    assert raw.gain < truth.gain - 3 * se  # the O(1/n) bias is downward and visible
    assert abs(fixed.gain - truth.gain) < 0.4 * abs(raw.gain - truth.gain)
    assert raw.kl < truth.kl
    assert abs(fixed.kl - truth.kl) < 0.5 * abs(raw.kl - truth.kl)


# ---------------------------------------------------------------- budgets


def test_budget_beyond_ceiling_is_refused_with_the_largest_supportable_value() -> None:
    r = np.random.default_rng(0).normal(size=64)
    with pytest.raises(ValueError, match=r"never exceeds 4\.15888"):
        est.gain_at_budget(r, np.log(64))
    with pytest.raises(ValueError, match="never exceeds"):
        est.bootstrap_gain_at_budget(r, 5.0, n_boot=10, rng=np.random.default_rng(0))
    assert est.gain_at_budget(r, 0.0).gain == 0
    with pytest.raises(ValueError, match="never exceeds 0"):
        est.gain_at_budget(np.ones(10), 0.1)  # constant reward: nothing to gain


def test_gain_at_budget_is_monotone_and_bootstrap_brackets_it() -> None:
    rng = np.random.default_rng(2)
    ids = np.repeat(np.arange(40), 50)
    r = rng.normal(size=ids.size) + 0.3 * rng.normal(size=40)[ids]
    budgets = np.array([0.1, 0.4, 1.0])
    point = est.gain_at_budget(r, budgets, ids)
    assert np.all(np.diff(point.gain) > 0)
    low, high = est.bootstrap_gain_at_budget(r, budgets, ids, n_boot=300, rng=np.random.default_rng(1))
    assert np.all(low < point.gain) and np.all(point.gain < high)


# ---------------------------------------------------------------- bootstrap


def test_bootstrap_is_seeded_and_covers_the_truth_at_about_nominal_rate() -> None:
    law = toys.Gaussian(0.0, 1.0)
    beta = np.array([1.0, 2.0])
    truth = law.frontier(beta).gain
    rng = np.random.default_rng(2024)
    hits = np.zeros(2)
    trials = 60
    for _ in range(trials):
        ids = np.repeat(np.arange(30), 200)
        r = law.sample(ids.size, rng)
        ci = est.bootstrap_frontier(r, beta, ids, n_boot=300, level=0.9, rng=rng)
        hits += (ci.gain_low <= truth) & (truth <= ci.gain_high)
    coverage = hits / trials
    # nominal 0.90; a loose band: 60 trials give a binomial sd of ~0.04, and the O(1/n) bias pulls down
    assert ((coverage > 0.75) & (coverage <= 1.0)).all(), coverage
    a = est.bootstrap_frontier(r, beta, ids, n_boot=50, rng=np.random.default_rng(5))
    b = est.bootstrap_frontier(r, beta, ids, n_boot=50, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a.gain_low, b.gain_low)
    assert a.method == "prompt"


def test_single_prompt_bootstrap_resamples_samples() -> None:
    r = np.random.default_rng(1).normal(size=500)
    ci = est.bootstrap_frontier(r, [1.0, np.inf], n_boot=200, rng=np.random.default_rng(0))
    assert ci.method == "sample"
    fit = est.estimate_frontier(r, 1.0)
    assert ci.gain_low[0] < fit.gain < ci.gain_high[0]
    assert ci.kl_low[1] == ci.kl_high[1] == 0


# ---------------------------------------------------------------- input validation


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rewards": [1.0, np.nan], "beta": 1.0}, "NaN"),
        ({"rewards": [1.0, np.inf], "beta": 1.0}, "infinite"),
        ({"rewards": [], "beta": 1.0}, "empty"),
        ({"rewards": [[1.0, 2.0]], "beta": 1.0}, "1-D"),
        ({"rewards": [1.0, 2.0], "beta": 0.0}, "> 0"),
        ({"rewards": [1.0, 2.0], "beta": -1.0}, "> 0"),
        ({"rewards": [1.0, 2.0], "beta": []}, "empty"),
        ({"rewards": [1.0, 2.0], "beta": 1.0, "prompt_ids": [1]}, "same shape"),
        ({"rewards": [1.0, 2.0], "beta": 1.0, "min_ess": 0.0}, "min_ess"),
    ],
)
def test_bad_input_raises_clearly(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        est.estimate_frontier(**kwargs)


def test_bad_budget_and_bootstrap_arguments() -> None:
    r = np.random.default_rng(0).normal(size=50)
    with pytest.raises(ValueError, match=">= 0"):
        est.gain_at_budget(r, -0.1)
    with pytest.raises(ValueError, match=">= 0"):
        est.gain_at_budget(r, np.nan)
    with pytest.raises(ValueError, match="n_boot"):
        est.bootstrap_frontier(r, 1.0, n_boot=1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="level"):
        est.bootstrap_frontier(r, 1.0, level=1.5, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="Generator"):
        est.bootstrap_frontier(r, 1.0, rng=0)  # type: ignore[arg-type]


def test_rows_are_plain_python() -> None:
    fit = est.estimate_frontier(np.arange(30.0), [1.0, 2.0])
    rows = fit.rows()
    assert len(rows) == 2 and isinstance(rows[0]["reliable"], bool)
    assert rows[1]["gain"] == pytest.approx(fit.gain[1])


def test_equal_rewards_give_a_gain_of_exactly_zero_never_a_negative_one():
    # Found by hypothesis (through the certified bounds): three equal rewards whose mean is one ulp off gave -2.8e-17.
    r = np.array([0.21253099, 0.21253099, 0.21253099])
    for beta in (1e-3, 1.0, 1e3):
        fit = est.estimate_frontier(r, beta)
        assert fit.gain == 0.0 and fit.kl >= 0.0 and fit.jeffreys >= 0.0
