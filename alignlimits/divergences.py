r"""Divergences between discrete distributions, from probabilities or log-probabilities.

All functions reduce over the **last axis** and broadcast over the leading ones, so a
stack of distributions of shape ``(..., k)`` gives divergences of shape ``(...)``.
They follow the convention ``0 log 0 = 0`` and return ``inf`` where the first
argument puts mass outside the support of the second.

Our naming follows the alignment literature: for a policy ``π`` and the base policy
``π0`` the *forward* KL of the objective is ``KL(π‖π0)`` and the *reverse* KL is
``KL(π0‖π)``; hence ``reverse_kl(p, q) = KL(q‖p)``.

Formulae
--------
* ``kl(p, q)        = Σ_i p_i log(p_i / q_i)``
* ``reverse_kl(p, q) = Σ_i q_i log(q_i / p_i)``
* ``jeffreys(p, q)  = KL(p‖q) + KL(q‖p) = Σ_i (p_i − q_i) log(p_i / q_i)``

Each is evaluated as a sum of non-negative terms (``alignlimits._kl_terms``), so none is
ever negative and each keeps full relative precision down to ``1e-300`` — property-tested
against mpmath in ``tests/test_extreme_numerics.py``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from alignlimits._kl_terms import forward_terms
from alignlimits._validation import (
    as_log_probabilities,
    as_probabilities,
    check_same_shape,
)

__all__ = [
    "jeffreys",
    "jeffreys_from_logprobs",
    "kl",
    "kl_from_logprobs",
    "reverse_kl",
    "reverse_kl_from_logprobs",
]


def kl(p: ArrayLike, q: ArrayLike) -> NDArray[np.float64] | float:
    r"""Kullback–Leibler divergence ``KL(p‖q) = Σ_i p_i log(p_i/q_i)`` (nats).

    Parameters
    ----------
    p, q : array_like, shape (..., k)
        Probability vectors along the last axis (non-negative, summing to one).

    Returns
    -------
    float or ndarray, shape (...)
        ``inf`` where ``p_i > 0 = q_i`` for some ``i``. Computed as a sum of
        non-negative terms (``Σ_i q_i φ(log(p_i/q_i))``, ``φ(ℓ) = ℓe^ℓ − e^ℓ + 1``), so it
        is never negative and keeps full relative precision when ``p ≈ q`` or when it
        comes from masses as small as ``1e-300``. ``p`` and ``q`` are normalised first
        (they sum to one only to rounding).

    Examples
    --------
    >>> from alignlimits.divergences import kl
    >>> round(kl([0.5, 0.5], [0.9, 0.1]), 6)  # 0.5 log(0.5/0.9) + 0.5 log(0.5/0.1)
    0.510826
    >>> kl([1.0, 0.0], [0.0, 1.0])  # p has mass where q has none
    inf
    >>> kl([[0.5, 0.5], [0.9, 0.1]], [[0.5, 0.5], [0.5, 0.5]]).round(6)  # one value per row
    array([0.      , 0.368064])
    """
    p_arr = as_probabilities(p, "p")
    q_arr = as_probabilities(q, "q")
    check_same_shape(p_arr, q_arr, "p", "q")
    sum_p = p_arr.sum(axis=-1, keepdims=True)
    # log(Σq/Σp) from Σ(q − p), so nearly equal p and q keep it exact (the sums are 1 only to rounding).
    log_sum_ratio = np.log1p((q_arr - p_arr).sum(axis=-1, keepdims=True) / sum_p)
    both = (p_arr > 0) & (q_arr > 0)
    pb, qb = np.where(both, p_arr, 1.0), np.where(both, q_arr, 1.0)
    # log(p/q): log1p of the exact difference where p/q is within a factor 2 (Sterbenz), the log of the
    # ratio while that is a normal float, a difference of logs beyond (p = 1, q = 1e-320).
    with np.errstate(divide="ignore", over="ignore", under="ignore"):
        ratio = pb / qb
        log_ratio = np.log(ratio)
        close = (ratio >= 0.5) & (ratio <= 2.0)
        log_ratio[close] = np.log1p((pb[close] - qb[close]) / qb[close])
        extreme = ~((ratio > 1e-300) & (ratio < 1e300))
        log_ratio[extreme] = np.log(pb[extreme]) - np.log(qb[extreme])
    log_ratio += log_sum_ratio
    q_norm = q_arr / q_arr.sum(axis=-1, keepdims=True)
    return _scalar_or_array(_kl_sum(p_arr / sum_p, q_norm, log_ratio, p_arr > 0, q_arr > 0))


def reverse_kl(p: ArrayLike, q: ArrayLike) -> NDArray[np.float64] | float:
    r"""Reverse KL ``KL(q‖p) = Σ_i q_i log(q_i/p_i)``: the policy ``p`` in second place.

    Examples
    --------
    >>> from alignlimits.divergences import kl, reverse_kl
    >>> round(reverse_kl([0.5, 0.5], [0.9, 0.1]), 6)
    0.368064
    >>> reverse_kl([0.5, 0.5], [0.9, 0.1]) == kl([0.9, 0.1], [0.5, 0.5])
    True
    """
    return kl(q, p)


def jeffreys(p: ArrayLike, q: ArrayLike) -> NDArray[np.float64] | float:
    r"""Jeffreys divergence ``J(p, q) = KL(p‖q) + KL(q‖p)``, symmetric in its arguments.

    Examples
    --------
    >>> from alignlimits.divergences import jeffreys
    >>> round(jeffreys([0.5, 0.5], [0.9, 0.1]), 6)  # 0.510826 + 0.368064
    0.87889
    >>> jeffreys([0.5, 0.5], [0.9, 0.1]) == jeffreys([0.9, 0.1], [0.5, 0.5])
    True
    """
    return _scalar_or_array(np.asarray(kl(p, q)) + np.asarray(kl(q, p)))


def kl_from_logprobs(logp: ArrayLike, logq: ArrayLike) -> NDArray[np.float64] | float:
    r"""``KL(p‖q) = Σ_i exp(logp_i) (logp_i − logq_i)`` from normalised log-probabilities.

    Parameters
    ----------
    logp, logq : array_like, shape (..., k)
        Log-probabilities along the last axis (``-inf`` allowed for zero mass); each
        row must satisfy ``logsumexp(row) == 0``, e.g. ``scipy.special.log_softmax``
        of logits. Working in log space keeps outcomes with probabilities below
        ``1e-308`` exact.

    Returns
    -------
    float or ndarray, shape (...)
        ``inf`` where ``logp_i > -inf = logq_i`` for some ``i``.

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.divergences import kl_from_logprobs
    >>> round(kl_from_logprobs(np.log([0.5, 0.5]), np.log([0.9, 0.1])), 6)
    0.510826
    >>> round(kl_from_logprobs([-1e-300, -700.0], [-700.0, -1e-300]), 6)  # mass e^-700 underflows nothing
    700.0
    """
    lp = as_log_probabilities(logp, "logp")
    lq = as_log_probabilities(logq, "logq")
    check_same_shape(lp, lq, "logp", "logq")
    both = (lp > -np.inf) & (lq > -np.inf)
    diff = np.where(both, lp, 0.0) - np.where(both, lq, 0.0)  # log(p/q) before normalising
    p, q = np.exp(lp), np.exp(lq)
    # e^lq − e^lp without cancellation where they are close, for log(Σq/Σp) (both sums are 1 to ~1e-8).
    close = both & (np.abs(diff) <= 1.0)
    q_minus_p = np.where(close, p * np.expm1(-np.where(close, diff, 0.0)), q - p)
    sum_p = p.sum(axis=-1, keepdims=True)
    log_sum_ratio = np.log1p(q_minus_p.sum(axis=-1, keepdims=True) / sum_p)
    q_norm = q / q.sum(axis=-1, keepdims=True)
    return _scalar_or_array(_kl_sum(p / sum_p, q_norm, diff + log_sum_ratio, lp > -np.inf, lq > -np.inf))


def reverse_kl_from_logprobs(logp: ArrayLike, logq: ArrayLike) -> NDArray[np.float64] | float:
    r"""Reverse KL ``KL(q‖p)`` from log-probabilities (see :func:`kl_from_logprobs`).

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.divergences import reverse_kl_from_logprobs
    >>> round(reverse_kl_from_logprobs(np.log([0.5, 0.5]), np.log([0.9, 0.1])), 6)
    0.368064
    """
    return kl_from_logprobs(logq, logp)


def jeffreys_from_logprobs(logp: ArrayLike, logq: ArrayLike) -> NDArray[np.float64] | float:
    r"""Jeffreys divergence ``KL(p‖q) + KL(q‖p)`` from log-probabilities.

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.divergences import jeffreys_from_logprobs
    >>> round(jeffreys_from_logprobs(np.log([0.5, 0.5]), np.log([0.9, 0.1])), 6)
    0.87889
    """
    return _scalar_or_array(np.asarray(kl_from_logprobs(logp, logq)) + np.asarray(kl_from_logprobs(logq, logp)))


def _kl_sum(p: NDArray, q: NDArray, log_ratio: NDArray, p_in: NDArray, q_in: NDArray) -> NDArray[np.float64]:
    """``KL(p‖q)`` along the last axis for normalised ``p``, ``q`` and ``log_ratio = log(p/q)`` on both supports.

    ``p_in``/``q_in`` mark the supports (``p_i > 0``; or ``logp_i > −inf``, which stays true where
    ``e^{logp_i}`` underflows). As ``Σ q φ(log(p/q))`` with ``φ(ℓ) = ℓe^ℓ − e^ℓ + 1 ≥ 0`` (see
    ``alignlimits._kl_terms``): every term is non-negative, so KL keeps full relative precision
    when p ≈ q or when it comes from masses of 1e-300, and is never negative. ``p_i = 0 < q_i``
    contributes ``q_i`` (φ(−inf) = 1); ``q_i = 0 < p_i`` makes the divergence ``inf``.
    """
    both = p_in & q_in
    ell = np.where(both, log_ratio, np.where(q_in, -np.inf, 0.0))
    terms = np.where(p_in | q_in, forward_terms(q, p, ell), 0.0)
    outside = (p_in & ~q_in).any(axis=-1)
    return np.where(outside, np.inf, terms.sum(axis=-1))


def _scalar_or_array(x: NDArray[np.float64]) -> NDArray[np.float64] | float:
    return float(x) if np.ndim(x) == 0 else x
