"""Input checks shared by the numeric core: bad input raises, it never becomes NaN."""

from __future__ import annotations

import dataclasses
from typing import TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import logsumexp

T = TypeVar("T")

#: Tolerance on ``sum(p) == 1`` and ``logsumexp(logp) == 0`` for user-supplied distributions.
NORMALISATION_ATOL = 1e-8


def as_float_array(x: ArrayLike, name: str, *, min_ndim: int = 1) -> NDArray[np.float64]:
    """``x`` as a float64 array with at least ``min_ndim`` dimensions and no NaN."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be numeric; got {type(x).__name__}: {err}") from None
    if arr.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s); got a scalar.")
    if arr.size == 0 or (arr.ndim >= 1 and arr.shape[-1] == 0):
        raise ValueError(f"{name} is empty; it needs at least one entry.")
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN at index {_first(np.isnan(arr))}.")
    return arr


def as_finite_array(x: ArrayLike, name: str, *, min_ndim: int = 1) -> NDArray[np.float64]:
    """Like :func:`as_float_array` but also rejects ±inf (e.g. rewards)."""
    arr = as_float_array(x, name, min_ndim=min_ndim)
    if not np.isfinite(arr).all():
        raise ValueError(
            f"{name} contains an infinite value at index {_first(~np.isfinite(arr))}; "
            "rewards and scores must be finite."
        )
    return arr


def as_probabilities(p: ArrayLike, name: str) -> NDArray[np.float64]:
    """A probability vector (or a stack of them along the last axis), checked.

    Entries must be finite and non-negative and each distribution must sum to one
    within :data:`NORMALISATION_ATOL`; zeros are allowed (outcomes outside the support).
    """
    arr = as_finite_array(p, name)
    if (arr < 0).any():
        raise ValueError(f"{name} has a negative probability at index {_first(arr < 0)}.")
    sums = arr.sum(axis=-1)
    bad = np.abs(sums - 1.0) > NORMALISATION_ATOL
    if bad.any():
        worst = float(np.ravel(sums)[np.argmax(np.ravel(bad))])
        raise ValueError(
            f"{name} must sum to 1 along its last axis; got sum {worst:.12g}. Normalise it first (p / p.sum())."
        )
    return arr


def as_log_probabilities(logp: ArrayLike, name: str) -> NDArray[np.float64]:
    """Log-probabilities along the last axis: no NaN or +inf, normalised in log space.

    ``-inf`` entries are allowed (probability zero).
    """
    arr = as_float_array(logp, name)
    if (arr == np.inf).any():
        raise ValueError(f"{name} contains +inf at index {_first(arr == np.inf)}.")
    if (arr > 0).any():
        raise ValueError(
            f"{name} has a log-probability above 0 at index {_first(arr > 0)}; "
            "pass normalised log-probabilities (scipy.special.log_softmax of logits)."
        )
    norms = logsumexp(arr, axis=-1)
    bad = ~(np.abs(norms) <= NORMALISATION_ATOL)
    if bad.any():
        raise ValueError(
            f"{name} is not normalised: logsumexp along the last axis is "
            f"{float(np.ravel(norms)[np.argmax(np.ravel(bad))]):.12g}, expected 0. "
            "Apply scipy.special.log_softmax first."
        )
    return arr


def as_discrete_problem(base_probs: ArrayLike, rewards: ArrayLike) -> tuple[NDArray, NDArray]:
    """A base distribution ``π0`` of shape ``(k,)`` and finite rewards of the same shape, checked."""
    p0 = as_probabilities(base_probs, "base_probs")
    r = as_finite_array(rewards, "rewards")
    if p0.ndim != 1:
        raise ValueError(f"base_probs must be 1-D (k outcomes); got shape {p0.shape}.")
    check_same_shape(p0, r, "base_probs", "rewards")
    return p0, r


def as_betas(beta: ArrayLike, name: str = "beta") -> NDArray[np.float64]:
    """Positive, non-NaN KL coefficients as a float64 array (scalar or 1-D); ``inf`` allowed."""
    arr = np.asarray(beta, dtype=np.float64)
    if arr.ndim > 1:
        raise ValueError(f"{name} must be a scalar or a 1-D grid; got shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; pass at least one value.")
    if np.isnan(arr).any() or (arr <= 0).any():
        bad = np.ravel(arr)[np.argmax(np.ravel(np.isnan(arr) | (arr <= 0)))]
        raise ValueError(
            f"{name} must be > 0 (the KL penalty factor); got {bad!r}. "
            "beta -> 0 is the greedy policy, beta = inf the base policy."
        )
    return arr


def as_kl_budgets(kl_budget: ArrayLike, name: str = "kl_budget", *, allow_inf: bool = False) -> NDArray[np.float64]:
    """KL budgets in nats: a scalar or non-empty 1-D array of values ``>= 0`` (shape kept).

    ``allow_inf`` admits ``inf`` (no constraint), where the caller gives it a meaning.
    """
    budgets = np.asarray(kl_budget, dtype=np.float64)
    if budgets.ndim > 1 or budgets.size == 0:
        raise ValueError(f"{name} must be a scalar or a non-empty 1-D array of budgets; got shape {budgets.shape}.")
    bad = np.isnan(budgets) | (budgets < 0) | (~np.isfinite(budgets) & (not allow_inf))
    if bad.any():
        kind = ">= 0" if allow_inf else "finite and >= 0"
        raise ValueError(f"KL budgets must be {kind} nats; got {budgets!r}.")
    return budgets


def check_same_shape(a: NDArray, b: NDArray, name_a: str, name_b: str) -> None:
    """Raise when two arrays that pair up element by element differ in shape."""
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape; got {a.shape} and {b.shape}.")


def prompt_groups(rewards: NDArray, prompt_ids: ArrayLike | None) -> tuple[NDArray, NDArray[np.intp]]:
    """``(labels, inverse)`` of the samples' prompts: the distinct ids, and each sample's index into them.

    ``prompt_ids=None`` puts every sample in one group. Refuses ids that are not 1-D, do not
    match ``rewards`` in shape, or contain NaN (one line each).
    """
    if prompt_ids is None:
        return np.array([0]), np.zeros(rewards.size, dtype=np.intp)
    ids = np.asarray(prompt_ids)
    if ids.ndim != 1:
        raise ValueError(f"prompt_ids must be 1-D; got shape {ids.shape}.")
    check_same_shape(rewards, ids, "rewards", "prompt_ids")
    if ids.dtype.kind == "f" and np.isnan(ids).any():
        raise ValueError("prompt_ids contains NaN; every sample needs a prompt id.")
    labels, inverse = np.unique(ids, return_inverse=True)
    return labels, inverse.reshape(-1)


def _first(mask: NDArray[np.bool_]) -> tuple[int, ...] | int:
    idx = tuple(int(i) for i in np.argwhere(mask)[0])
    return idx[0] if len(idx) == 1 else idx


def squeeze_point(x: NDArray, scalar: bool) -> NDArray:
    """``x`` without its last axis (of length 1) when the input was a scalar: shape ``(1,)`` → NumPy scalar.

    The scalar convention of the numeric API (as in scipy): a scalar β or KL budget
    gives scalar results, a 1-D grid gives arrays. NumPy scalars (``np.float64`` is a
    ``float``, ``np.bool_`` a boolean) keep ``.shape``, ``.ndim`` and ``.tolist()``.
    """
    # [()] turns a 0-d result into a NumPy scalar and leaves higher-dimensional ones as they are
    return np.asarray(x)[..., 0][()] if scalar else x


def squeeze_fields(obj: T, scalar: bool, names: tuple[str, ...]) -> T:
    """A copy of the dataclass ``obj`` with the last axis of the fields ``names`` dropped when ``scalar``."""
    if not scalar:
        return obj
    return dataclasses.replace(obj, **{n: squeeze_point(getattr(obj, n), True) for n in names})
