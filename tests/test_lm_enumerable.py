"""The enumerable language model: exact sequence law, sampling, tilt, best-of-N, every KL."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import logsumexp

from alignlimits import bon, tilting
from alignlimits.lm import enumerable as E


def chi_square_pvalue(counts: np.ndarray, probs: np.ndarray, min_expected: float = 5.0) -> float:
    """Pearson chi-square p-value, pooling cells with small expected counts into one."""
    n = counts.sum()
    expected = n * probs
    small = expected < min_expected
    obs = np.concatenate([counts[~small], [counts[small].sum()]])
    exp = np.concatenate([expected[~small], [expected[small].sum()]])
    keep = exp > 0
    return float(stats.chisquare(obs[keep], exp[keep] * obs[keep].sum() / exp[keep].sum()).pvalue)


@pytest.fixture(scope="module")
def lm() -> E.EnumerableLM:
    return E.random_lm(4, 5, seed=0, scale=1.5)


def test_sequence_count_and_normalisation(lm: E.EnumerableLM) -> None:
    assert lm.n_sequences == 1 + 3 + 9 + 27 + 81 + 243
    assert abs(logsumexp(lm.log_probs)) < 1e-12
    # Every sequence is distinct, ends with EOS or has the maximum length.
    seqs = {lm.sequence(i) for i in range(lm.n_sequences)}
    assert len(seqs) == lm.n_sequences
    for s in seqs:
        assert (s[-1] == lm.eos) or (len(s) == lm.max_len and lm.eos not in s)
        assert lm.eos not in s[:-1]


def test_log_probs_are_products_of_conditionals(lm: E.EnumerableLM) -> None:
    i = 200
    seq = lm.sequence(i)
    # Walk the table by hand: prefix index = offset[len] + base-(V−1) number.
    b = lm.vocab_size - 1
    total, num = 0.0, 0
    for t, tok in enumerate(seq):
        offset = sum(b**d for d in range(t))
        total += lm.next_logprobs[offset + num, tok]
        num = num * b + tok
    assert total == pytest.approx(lm.log_probs[i], abs=1e-12)


def test_same_seed_same_model_and_samples() -> None:
    a, b = E.random_lm(3, 4, seed=7), E.random_lm(3, 4, seed=7)
    np.testing.assert_array_equal(a.next_logprobs, b.next_logprobs)
    np.testing.assert_array_equal(a.sample(50, np.random.default_rng(1)), b.sample(50, np.random.default_rng(1)))
    assert not np.array_equal(a.next_logprobs, E.random_lm(3, 4, seed=8).next_logprobs)


def test_ancestral_sampling_matches_sequence_law(lm: E.EnumerableLM) -> None:
    idx = lm.sample(40_000, np.random.default_rng(3))
    counts = np.bincount(idx, minlength=lm.n_sequences)
    assert chi_square_pvalue(counts, lm.probs) > 1e-3


def test_sampling_detects_a_wrong_law(lm: E.EnumerableLM) -> None:
    # The chi-square check has power: samples of the tilted policy fail against the base.
    tilted = lm.tilt(E.count_reward(lm, 0), 1.0)
    idx = tilted.sample(40_000, np.random.default_rng(3))
    assert chi_square_pvalue(np.bincount(idx, minlength=lm.n_sequences), lm.probs) < 1e-6


def test_round_trip_from_sequence_logprobs(lm: E.EnumerableLM) -> None:
    back = E.EnumerableLM.from_sequence_logprobs(lm.log_probs, lm)
    np.testing.assert_allclose(back.next_logprobs, lm.next_logprobs, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), beta=st.floats(0.05, 20.0))
def test_tilt_is_the_gibbs_tilt_of_the_sequence_law(seed: int, beta: float) -> None:
    base = E.random_lm(3, 4, seed=seed)
    r = E.random_reward(base, np.random.default_rng(seed))
    tilted = base.tilt(r, beta)
    np.testing.assert_allclose(tilted.log_probs, tilting.log_tilt(base.probs, r, beta), atol=1e-10)
    exact = tilting.frontier(base.probs, r, beta)
    assert E.sequence_kl(tilted, base) == pytest.approx(exact.kl, rel=1e-9, abs=1e-12)


def test_best_of_n_matches_exact_law_and_sampling(lm: E.EnumerableLM) -> None:
    r = E.count_reward(lm, 1)  # integer rewards: many ties
    n = 4
    policy = lm.best_of_n(r, n)
    np.testing.assert_allclose(policy.probs, bon.law(lm.probs, r, n), atol=1e-12)
    assert E.sequence_kl(policy, lm) == pytest.approx(bon.kl(lm.probs, r, n), rel=1e-10)
    # Ties make the exact KL strictly smaller than log N − (N−1)/N.
    assert E.sequence_kl(policy, lm) < bon.kl_bound(n) - 1e-3
    # Simulate best-of-N by drawing N base sequences and keeping one with the top reward.
    rng = np.random.default_rng(5)
    draws = lm.sample(20_000 * n, rng).reshape(-1, n)
    winners = draws[np.arange(draws.shape[0]), np.argmax(r[draws], axis=1)]
    counts = np.bincount(winners, minlength=lm.n_sequences)
    assert chi_square_pvalue(counts, policy.probs) > 1e-3


def test_exact_per_position_kl_averages_to_sequence_kl(lm: E.EnumerableLM) -> None:
    tilted = lm.tilt(E.count_reward(lm, 0), 0.7)
    everything = np.arange(lm.n_sequences)
    per_seq = E.per_position_kl(tilted, lm, everything)
    # Chain rule: the π-average of the per-position KL is the sequence KL, exactly.
    assert tilted.probs @ per_seq == pytest.approx(E.sequence_kl(tilted, lm), rel=1e-10)


def test_every_estimator_is_unbiased_and_exact_has_smallest_variance(lm: E.EnumerableLM) -> None:
    policy = lm.tilt(E.count_reward(lm, 0), 1.0)
    exact = E.sequence_kl(policy, lm)
    idx = policy.sample(20_000, np.random.default_rng(11))
    est = E.kl_estimates(policy, lm, idx)
    assert set(est) == {"exact", "k1", "k3", "k3_sequence"}
    for name, e in est.items():
        assert abs(e.mean - exact) < 4 * e.stderr, (name, e.mean, exact, e.stderr)
    assert est["exact"].variance < min(est[k].variance for k in ("k1", "k3", "k3_sequence"))
    # Exact means and variances over the whole sequence space, not only within noise.
    variances = exact_variances(policy, lm)
    assert variances["exact"] < min(variances[k] for k in ("k1", "k3", "k3_sequence"))
    everything = np.arange(lm.n_sequences)
    for e in E.kl_estimates(policy, lm, everything).values():
        assert policy.probs @ e.per_sequence == pytest.approx(exact, rel=1e-9)


def exact_variances(policy: E.EnumerableLM, reference: E.EnumerableLM) -> dict[str, float]:
    everything = np.arange(policy.n_sequences)
    p = policy.probs
    return {
        k: float(p @ (e.per_sequence - p @ e.per_sequence) ** 2)
        for k, e in E.kl_estimates(policy, reference, everything).items()
    }


def test_exact_per_position_kl_is_not_always_the_lowest_variance() -> None:
    # Not a theorem: later per-position terms depend on earlier tokens, and k1's terms can
    # cancel that dependence. Random two-step models (V = 3, L = 2) show it within a few tries.
    for seed in range(200):
        rng = np.random.default_rng(seed)
        a = E.random_lm(3, 2, seed=seed, scale=rng.uniform(0.5, 4))
        b = E.random_lm(3, 2, seed=seed + 100_000, scale=rng.uniform(0.5, 4))
        v = exact_variances(a, b)
        if v["exact"] > v["k1"] * (1 + 1e-6):
            break
    else:
        pytest.fail("no pair found where k1 has a smaller variance than the exact per-position KL")
    assert v["exact"] > v["k1"]


def test_policy_equal_reference_gives_exactly_zero(lm: E.EnumerableLM) -> None:
    idx = lm.sample(100, np.random.default_rng(0))
    for e in E.kl_estimates(lm, lm, idx).values():
        assert np.all(e.per_sequence == 0.0)
        assert e.mean == 0.0
    assert E.sequence_kl(lm, lm) == 0.0


def test_bad_input_raises_clearly(lm: E.EnumerableLM) -> None:
    with pytest.raises(ValueError, match="one value per sequence"):
        lm.tilt(np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="beta"):
        lm.tilt(np.zeros(lm.n_sequences), 0.0)
    with pytest.raises(ValueError, match="infinite"):
        lm.tilt(np.full(lm.n_sequences, np.inf), 1.0)
    with pytest.raises(ValueError, match="vocab_size"):
        E.random_lm(1, 3, seed=0)
    with pytest.raises(ValueError, match="sequences"):
        E.random_lm(50, 8, seed=0)
    with pytest.raises(ValueError, match="normalised"):
        E.EnumerableLM(np.zeros((1 + 3, 4)), 2)
    with pytest.raises(ValueError, match="different sequence spaces"):
        E.sequence_kl(lm, E.random_lm(3, 5, seed=0))
    with pytest.raises(TypeError, match="Generator"):
        lm.sample(3, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="indices"):
        lm.token_logprobs(np.array([lm.n_sequences]))


def test_imports_without_torch() -> None:
    code = "import sys; import alignlimits.lm.enumerable, alignlimits.lm.kl; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
