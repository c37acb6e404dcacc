import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import log_softmax

from alignlimits import divergences as D


def test_kl_matches_definition(rng):
    p, q = rng.dirichlet(np.ones(5)), rng.dirichlet(np.ones(5))
    assert D.kl(p, q) == pytest.approx(np.sum(p * np.log(p / q)), rel=1e-12)
    assert D.reverse_kl(p, q) == pytest.approx(np.sum(q * np.log(q / p)), rel=1e-12)
    assert D.jeffreys(p, q) == pytest.approx(np.sum((p - q) * np.log(p / q)), rel=1e-12)


def test_kl_zero_iff_equal(rng):
    p = rng.dirichlet(np.ones(4))
    assert D.kl(p, p) == 0.0
    assert D.kl(p, rng.dirichlet(np.ones(4))) > 0


def test_zero_mass_conventions():
    p = np.array([0.5, 0.5, 0.0])
    q = np.array([0.25, 0.25, 0.5])
    assert D.kl(p, q) == pytest.approx(np.log(2))  # 0 log 0 = 0
    assert D.kl(q, p) == np.inf  # q puts mass where p has none
    assert D.jeffreys(p, q) == np.inf


def test_batched_last_axis(rng):
    p = rng.dirichlet(np.ones(3), size=(4, 2))
    q = rng.dirichlet(np.ones(3), size=(4, 2))
    out = D.kl(p, q)
    assert out.shape == (4, 2)
    assert out[1, 0] == pytest.approx(D.kl(p[1, 0], q[1, 0]))


def test_logprob_versions_agree(rng):
    lp = log_softmax(rng.normal(size=(3, 7)), axis=-1)
    lq = log_softmax(rng.normal(size=(3, 7)), axis=-1)
    p, q = np.exp(lp), np.exp(lq)
    np.testing.assert_allclose(D.kl_from_logprobs(lp, lq), D.kl(p, q), rtol=1e-12)
    np.testing.assert_allclose(D.reverse_kl_from_logprobs(lp, lq), D.kl(q, p), rtol=1e-12)
    np.testing.assert_allclose(D.jeffreys_from_logprobs(lp, lq), D.jeffreys(p, q), rtol=1e-12)


def test_logprobs_handle_minus_inf_and_tiny_masses():
    lp = np.array([0.0, -np.inf])
    lq = np.array([np.log(0.5), np.log(0.5)])
    assert D.kl_from_logprobs(lp, lq) == pytest.approx(np.log(2))
    assert D.kl_from_logprobs(lq, lp) == np.inf
    # masses far below the smallest double stay exact in log space
    lp2 = np.array([0.0, -1000.0])
    lq2 = np.array([0.0, -2000.0])
    assert D.kl_from_logprobs(lp2, lq2) == pytest.approx(np.exp(-1000.0) * 1000.0, abs=0.0)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 9), st.integers(0, 2**32 - 1))
def test_kl_nonnegative_and_jeffreys_symmetric(k, seed):
    rng = np.random.default_rng(seed)
    p, q = rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k))
    assert D.kl(p, q) >= 0
    assert D.jeffreys(p, q) == pytest.approx(D.jeffreys(q, p), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 9), st.integers(0, 2**32 - 1))
def test_kl_invariant_to_permutation(k, seed):
    rng = np.random.default_rng(seed)
    p, q = rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k))
    perm = rng.permutation(k)
    assert D.kl(p[perm], q[perm]) == pytest.approx(D.kl(p, q), rel=1e-12)


@pytest.mark.parametrize(
    ("p", "q", "message"),
    [
        ([0.5, np.nan], [0.5, 0.5], "NaN"),
        ([0.5, np.inf], [0.5, 0.5], "infinite"),
        ([1.5, -0.5], [0.5, 0.5], "negative"),
        ([0.3, 0.3], [0.5, 0.5], "sum to 1"),
        ([0.5, 0.5], [0.2, 0.3, 0.5], "same shape"),
        ([], [], "empty"),
        (0.5, 0.5, "dimension"),
        (["a", "b"], [0.5, 0.5], "numeric"),
    ],
)
def test_bad_inputs_raise(p, q, message):
    with pytest.raises((ValueError, TypeError), match=message):
        D.kl(p, q)


def test_bad_logprobs_raise():
    with pytest.raises(ValueError, match="normalised"):
        D.kl_from_logprobs(np.log([0.2, 0.2]), np.log([0.5, 0.5]))
    with pytest.raises(ValueError, match="above 0"):
        D.kl_from_logprobs([0.1, -3.0], np.log([0.5, 0.5]))
    with pytest.raises(ValueError, match=r"\+inf"):
        D.kl_from_logprobs([np.inf, -np.inf], np.log([0.5, 0.5]))
    with pytest.raises(ValueError, match="NaN"):
        D.kl_from_logprobs([np.nan, 0.0], np.log([0.5, 0.5]))
