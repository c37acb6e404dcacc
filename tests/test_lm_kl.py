"""Sequence-level KL estimators and the one masked reducer (numpy and torch)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import log_softmax

from alignlimits.lm import kl as K


def random_batch(rng: np.random.Generator, b: int = 5, t: int = 6, v: int = 4):
    pol = log_softmax(rng.normal(size=(b, t, v)), axis=-1)
    ref = log_softmax(rng.normal(size=(b, t, v)), axis=-1)
    tokens = rng.integers(0, v, size=(b, t))
    lengths = rng.integers(1, t + 1, size=b)
    lengths[0] = t  # one full row
    mask = K.mask_from_lengths(lengths, t)
    lp = np.take_along_axis(pol, tokens[..., None], -1)[..., 0]
    lq = np.take_along_axis(ref, tokens[..., None], -1)[..., 0]
    return pol, ref, lp, lq, mask, lengths


def test_mask_from_lengths() -> None:
    m = K.mask_from_lengths(np.array([0, 2, 3]), 3)
    np.testing.assert_array_equal(m, [[0, 0, 0], [1, 1, 0], [1, 1, 1]])
    mt = K.mask_from_lengths(torch.tensor([1, 3]), 3)
    assert mt.dtype == torch.bool and mt.tolist() == [[True, False, False], [True, True, True]]
    with pytest.raises(ValueError, match="lengths"):
        K.mask_from_lengths(np.array([4]), 3)


def test_masked_sum_ignores_whatever_is_padded() -> None:
    v = np.array([[1.0, 2.0, np.nan], [3.0, np.inf, -np.inf]])
    m = np.array([[True, True, False], [True, False, False]])
    np.testing.assert_array_equal(K.masked_sum(v, m), [3.0, 3.0])
    vt = torch.tensor(v)
    assert K.masked_sum(vt, torch.tensor(m)).tolist() == [3.0, 3.0]
    with pytest.raises(ValueError, match="NaN at an unmasked"):
        K.masked_sum(v, np.ones_like(m))
    with pytest.raises(ValueError, match="same shape"):
        K.masked_sum(v, m[:, :2])
    with pytest.raises(TypeError, match="both"):
        K.masked_sum(vt, m)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), garbage=st.sampled_from([np.nan, np.inf, -np.inf, 1e300, -7.0]))
def test_padded_positions_never_change_a_statistic(seed: int, garbage: float) -> None:
    rng = np.random.default_rng(seed)
    pol, ref, lp, lq, mask, _ = random_batch(rng)
    clean = K.sequence_kl(lp, lq, mask, exact_per_token=K.per_token_kl(pol, ref))
    pad = ~mask
    dirty_tok = K.per_token_kl(pol, ref).copy()
    dirty_tok[pad] = garbage
    lp2, lq2 = lp.copy(), lq.copy()
    lp2[pad] = garbage
    lq2[pad] = -garbage if np.isfinite(garbage) else garbage
    dirty = K.sequence_kl(lp2, lq2, mask, exact_per_token=dirty_tok)
    for name in clean:
        np.testing.assert_array_equal(clean[name].per_sequence, dirty[name].per_sequence)
        assert clean[name].mean == dirty[name].mean and clean[name].stderr == dirty[name].stderr


def test_numpy_and_torch_agree() -> None:
    rng = np.random.default_rng(1)
    pol, ref, lp, lq, mask, _ = random_batch(rng)
    a = K.sequence_kl(lp, lq, mask, exact_per_token=K.per_token_kl(pol, ref))
    tt = torch.tensor
    b = K.sequence_kl(tt(lp), tt(lq), tt(mask), exact_per_token=K.per_token_kl(tt(pol), tt(ref)))
    for name in a:
        np.testing.assert_allclose(a[name].per_sequence, b[name].per_sequence, rtol=1e-12)


def test_per_token_kl_matches_divergences_module() -> None:
    from alignlimits.divergences import kl_from_logprobs

    rng = np.random.default_rng(2)
    pol, ref, *_ = random_batch(rng)
    np.testing.assert_allclose(K.per_token_kl(pol, ref), kl_from_logprobs(pol, ref), rtol=1e-12)
    # Zero-probability entries of the policy contribute nothing, even where the reference is 0 too.
    with np.errstate(divide="ignore"):
        p = np.log(np.array([[0.5, 0.5, 0.0]]))
        q = np.log(np.array([[0.25, 0.75, 0.0]]))
    assert K.per_token_kl(p, q)[0] == pytest.approx(0.5 * np.log(2) + 0.5 * np.log(0.5 / 0.75))


def test_estimator_values_by_hand() -> None:
    lp = np.array([[np.log(0.5), np.log(0.25)]])
    lq = np.array([[np.log(0.25), np.log(0.5)]])
    mask = np.array([[True, True]])
    assert K.k1_per_sequence(lp, lq, mask)[0] == pytest.approx(np.log(2) + np.log(0.5))
    # token k3: ρ = 1/2 then 2 → (−1/2 + log 2) + (1 − log 2) = 1/2
    assert K.k3_per_sequence(lp, lq, mask)[0] == pytest.approx(0.5)
    # sequence k3: ρ = 1 → 0
    assert K.k3_per_sequence(lp, lq, mask, level="sequence")[0] == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ValueError, match="level"):
        K.k3_per_sequence(lp, lq, mask, level="word")


def test_k3_is_nonnegative_and_zero_iff_equal() -> None:
    rng = np.random.default_rng(3)
    _, _, lp, lq, mask, _ = random_batch(rng, b=50)
    assert (K.k3_per_sequence(lp, lq, mask) >= 0).all()
    assert (K.k3_per_sequence(lp, lp, mask) == 0).all()


def test_summarize_and_errors() -> None:
    e = K.summarize(np.array([1.0, 2.0, 3.0]), "k1")
    assert e.mean == 2.0 and e.stderr == pytest.approx(1 / np.sqrt(3)) and e.variance == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 2"):
        K.summarize(np.array([1.0]), "k1")
    with pytest.raises(ValueError, match="same shape"):
        K.k1_per_sequence(np.zeros((2, 3)), np.zeros((2, 2)), np.ones((2, 3), bool))
    with pytest.raises(ValueError, match="boolean"):
        K.masked_sum(np.zeros((1, 2)), np.array([[2, 0]]))
