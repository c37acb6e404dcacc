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
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import rel_entr

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
        ``inf`` where ``p_i > 0 = q_i`` for some ``i``. Tiny negative values from
        rounding are clipped to zero: KL is non-negative.

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
    return _scalar_or_array(np.maximum(rel_entr(p_arr, q_arr).sum(axis=-1), 0.0))


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
    in_support = lp > -np.inf
    # Where p_i = 0 the term is 0 whatever q_i is (0·log 0 = 0, 0·(−inf) = 0).
    diff = np.where(in_support, lp - np.where(in_support, lq, 0.0), 0.0)
    terms = np.where(in_support, np.exp(lp) * diff, 0.0)
    out = terms.sum(axis=-1)
    outside = (in_support & (lq == -np.inf)).any(axis=-1)
    return _scalar_or_array(np.where(outside, np.inf, np.maximum(out, 0.0)))


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


def _scalar_or_array(x: NDArray[np.float64]) -> NDArray[np.float64] | float:
    return float(x) if np.ndim(x) == 0 else x
