r"""Sequence-level KL of a policy ``π`` to a reference ``π_ref`` from sequences sampled from ``π``.

For a completion ``y = (y_1, …, y_T)`` sampled from ``π`` (given a prompt), with
per-token log-probabilities ``log π(y_t|y_{<t})`` and ``log π_ref(y_t|y_{<t})``,
three per-sequence estimators of ``KL(π‖π_ref) = E_{y∼π}[log π(y)/π_ref(y)]``:

* **exact per position** — ``Σ_t KL(π(·|y_{<t}) ‖ π_ref(·|y_{<t}))``, the full-vocabulary
  KL at each sampled prefix, summed over positions. Its mean is the sequence KL by the
  chain rule. Each term is k1's term averaged over the token drawn at that position,
  which removes the noise of the draw itself; usually it has by far the smallest
  variance, but this is **not** guaranteed: the later terms depend on the earlier tokens
  and can covary with them so that k1's terms cancel more (the enumerable-model tests
  and chapter exhibit such a pair of models).
* **k1** — ``Σ_t log π(y_t|y_{<t}) − log π_ref(y_t|y_{<t}) = log π(y)/π_ref(y)``: unbiased,
  can be negative for one sequence.
* **k3** — with the ratio ``ρ = π_ref/π`` (reference over policy, *for samples of the
  policy*: the inverse ratio estimates χ²-type quantities, not KL),
  ``(ρ − 1) − log ρ ≥ 0``. ``level="token"`` (the default, as in RL libraries) sums it over
  tokens, each term unbiased for that position's KL because ``E_{y_t∼π}[ρ_t] = 1``;
  ``level="sequence"`` applies it once to the whole-sequence ratio (unbiased too, but its
  variance explodes with length because ``ρ`` is a product over tokens).

Every statistic goes through **one masked reducer**, :func:`masked_sum`: values at
positions where ``mask`` is False are *replaced* by zero (not multiplied by zero), so
padding, sentinel values, ``-inf`` or NaN in padded slots never reach a result.

Arrays may be numpy arrays or torch tensors (torch is imported only when a tensor is
passed); shapes are ``(B, T)`` per token and ``(B, T, V)`` for full-vocabulary log-probs,
``B`` sequences of up to ``T`` tokens over a vocabulary of ``V``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "KLEstimate",
    "k1_per_sequence",
    "k3_per_sequence",
    "mask_from_lengths",
    "masked_sum",
    "per_position_kl",
    "per_token_kl",
    "sequence_kl",
    "summarize",
]

Array = Any  # numpy.ndarray or torch.Tensor


def _is_torch(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


def _xp(x: Any) -> Any:
    """The array namespace of ``x``: numpy, or torch for a tensor."""
    if _is_torch(x):
        import torch

        return torch
    return np


def _to_numpy64(x: Array) -> NDArray[np.float64]:
    if _is_torch(x):
        import torch

        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def _checked_mask(values: Array, mask: Array) -> Array:
    xp = _xp(values)
    if xp is not _xp(mask):
        raise TypeError("values and mask must both be numpy arrays or both torch tensors.")
    if tuple(values.shape) != tuple(mask.shape):
        raise ValueError(
            f"values and mask must have the same shape; got {tuple(values.shape)} and {tuple(mask.shape)}."
        )
    if xp is np:
        mask = np.asarray(mask)
        if mask.dtype != bool:
            if not np.isin(mask, (0, 1)).all():
                raise ValueError("mask must be boolean (or 0/1): True marks a real token, False padding.")
            mask = mask.astype(bool)
    else:
        if mask.dtype != xp.bool:
            if not ((mask == 0) | (mask == 1)).all():
                raise ValueError("mask must be boolean (or 0/1): True marks a real token, False padding.")
            mask = mask.bool()
    return mask


def masked_sum(values: Array, mask: Array) -> Array:
    r"""``Σ_t values[..., t]`` over the positions where ``mask`` is True: the one reducer.

    Masked-out entries are replaced by zero with ``where`` before summing, so whatever
    they hold (padding, ``-inf``, NaN) cannot change the result.

    Parameters
    ----------
    values : array, shape (..., T)
    mask : bool array, shape (..., T)
        True for real tokens (build it from lengths with :func:`mask_from_lengths`).

    Returns
    -------
    array, shape (...)
        Same library (numpy/torch) and dtype as ``values``.

    Raises
    ------
    ValueError
        If an unmasked entry is NaN (a bug upstream, never silently averaged away).
    """
    mask = _checked_mask(values, mask)
    xp = _xp(values)
    kept = _zero_pads(values, mask)
    if bool(xp.isnan(kept).any()):
        raise ValueError("values are NaN at an unmasked (real-token) position; check the log-probs upstream.")
    return kept.sum(-1)


def mask_from_lengths(lengths: Array, max_len: int) -> Array:
    """Boolean mask of shape ``(B, max_len)`` with ``mask[b, t] = t < lengths[b]``.

    Built from lengths, never from token values, so a pad id equal to a real token
    (or to EOS) cannot corrupt it.
    """
    xp = _xp(lengths)
    if max_len < 0:
        raise ValueError(f"max_len must be >= 0; got {max_len}.")
    if xp is np:
        lengths = np.asarray(lengths)
        if lengths.ndim != 1:
            raise ValueError(f"lengths must be 1-D (one per sequence); got shape {lengths.shape}.")
        if (lengths < 0).any() or (lengths > max_len).any():
            raise ValueError(f"lengths must lie in [0, {max_len}]; got min {lengths.min()}, max {lengths.max()}.")
        return np.arange(max_len)[None, :] < lengths[:, None]
    if lengths.ndim != 1:
        raise ValueError(f"lengths must be 1-D (one per sequence); got shape {tuple(lengths.shape)}.")
    if bool((lengths < 0).any()) or bool((lengths > max_len).any()):
        raise ValueError(f"lengths must lie in [0, {max_len}].")
    return xp.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def per_token_kl(policy_logprobs: Array, reference_logprobs: Array) -> Array:
    r"""``KL(π(·|prefix) ‖ π_ref(·|prefix)) = Σ_v e^{log π_v} (log π_v − log π_ref,v)`` per position.

    Parameters
    ----------
    policy_logprobs, reference_logprobs : array, shape (..., V)
        Normalised full-vocabulary log-probabilities (``log_softmax(logits / T)``).
        Vocabulary entries with ``π_v = 0`` contribute zero whatever ``π_ref,v`` is.

    Returns
    -------
    array, shape (...)
    """
    xp = _xp(policy_logprobs)
    if tuple(policy_logprobs.shape) != tuple(reference_logprobs.shape):
        raise ValueError(
            f"policy and reference log-probs must have the same shape; got {tuple(policy_logprobs.shape)} "
            f"and {tuple(reference_logprobs.shape)}."
        )
    in_support = policy_logprobs > -math.inf
    zero = xp.zeros_like(policy_logprobs)
    diff = xp.where(in_support, policy_logprobs - xp.where(in_support, reference_logprobs, zero), zero)
    terms = xp.where(in_support, xp.exp(policy_logprobs) * diff, zero)
    return terms.sum(-1)


def per_position_kl(policy_logprobs: Array, reference_logprobs: Array, mask: Array) -> Array:
    r"""Exact per-position sequence KL: ``Σ_t mask_t · KL(π(·|y_{<t}) ‖ π_ref(·|y_{<t}))``.

    ``policy_logprobs`` and ``reference_logprobs`` have shape ``(B, T, V)``, ``mask``
    ``(B, T)``; returns shape ``(B,)``. For a large vocabulary compute
    :func:`per_token_kl` chunk by chunk and pass the ``(B, T)`` result to
    :func:`sequence_kl` as ``exact_per_token``.
    """
    return masked_sum(per_token_kl(policy_logprobs, reference_logprobs), mask)


def k1_per_sequence(policy_token_logprobs: Array, reference_token_logprobs: Array, mask: Array) -> Array:
    r"""k1: ``Σ_t mask_t (log π(y_t|y_{<t}) − log π_ref(y_t|y_{<t}))`` per sequence, shape ``(B,)``."""
    _check_pair(policy_token_logprobs, reference_token_logprobs)
    mask = _checked_mask(policy_token_logprobs, mask)
    lp, lq = _zero_pads(policy_token_logprobs, mask), _zero_pads(reference_token_logprobs, mask)
    return masked_sum(lp - lq, mask)


def k3_per_sequence(
    policy_token_logprobs: Array, reference_token_logprobs: Array, mask: Array, *, level: str = "token"
) -> Array:
    r"""k3 with ``ρ = π_ref/π``: ``(ρ − 1) − log ρ`` (``expm1(log ρ) − log ρ``, computed in log space).

    ``level="token"``: ``Σ_t mask_t [(ρ_t − 1) − log ρ_t]`` with ``ρ_t = π_ref(y_t|y_{<t})/π(y_t|y_{<t})``.
    ``level="sequence"``: ``(ρ − 1) − log ρ`` with ``log ρ = Σ_t mask_t log ρ_t``.
    Both are unbiased for ``KL(π‖π_ref)`` when ``y ∼ π``; returns shape ``(B,)``.
    """
    _check_pair(policy_token_logprobs, reference_token_logprobs)
    xp = _xp(policy_token_logprobs)
    mask = _checked_mask(policy_token_logprobs, mask)
    # Zero the inputs at pads *before* any arithmetic, so padded slots never overflow or warn.
    log_rho = _zero_pads(reference_token_logprobs, mask) - _zero_pads(policy_token_logprobs, mask)
    if level == "token":
        return masked_sum(xp.expm1(log_rho) - log_rho, mask)
    if level == "sequence":
        total = masked_sum(log_rho, mask)
        return xp.expm1(total) - total
    raise ValueError(f"level must be 'token' or 'sequence'; got {level!r}.")


def _zero_pads(values: Array, mask: Array) -> Array:
    """``values`` with padded entries replaced by zero (inputs, before arithmetic on them)."""
    xp = _xp(values)
    return xp.where(mask, values, xp.zeros_like(values))


def _check_pair(a: Array, b: Array) -> None:
    if _xp(a) is not _xp(b):
        raise TypeError("policy and reference log-probs must both be numpy arrays or both torch tensors.")
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"policy and reference token log-probs must have the same shape; got {tuple(a.shape)} and {tuple(b.shape)}."
        )


@dataclass(frozen=True)
class KLEstimate:
    """One KL estimator over ``B`` sampled sequences.

    Attributes
    ----------
    name : ``"exact"``, ``"k1"``, ``"k3"`` or ``"k3_sequence"``.
    per_sequence : float64 array, shape (B,): the estimator's value for each sequence.
    mean : the estimate of ``KL(π‖π_ref)`` (nats, summed over tokens).
    stderr : standard error of the mean, ``std(ddof=1)/sqrt(B)``.
    """

    name: str
    per_sequence: NDArray[np.float64]
    mean: float
    stderr: float

    @property
    def variance(self) -> float:
        """Sample variance (ddof=1) of the per-sequence values."""
        return float(np.var(self.per_sequence, ddof=1))


def summarize(per_sequence: Array, name: str) -> KLEstimate:
    """Mean and standard error of per-sequence values (numpy or torch, shape ``(B,)``, ``B ≥ 2``)."""
    x = _to_numpy64(per_sequence)
    if x.ndim != 1:
        raise ValueError(f"per_sequence must be 1-D (one value per sequence); got shape {x.shape}.")
    if x.size < 2:
        raise ValueError(f"need at least 2 sequences for a standard error; got {x.size}.")
    if np.isnan(x).any():
        raise ValueError(f"{name}: a per-sequence value is NaN.")
    return KLEstimate(name=name, per_sequence=x, mean=float(x.mean()), stderr=float(x.std(ddof=1) / math.sqrt(x.size)))


def sequence_kl(
    policy_token_logprobs: Array,
    reference_token_logprobs: Array,
    mask: Array,
    *,
    exact_per_token: Array | None = None,
) -> dict[str, KLEstimate]:
    r"""All sequence-level KL estimators from ``B`` sequences sampled from the policy.

    Parameters
    ----------
    policy_token_logprobs, reference_token_logprobs : array, shape (B, T)
        ``log π(y_t|y_{<t})`` and ``log π_ref(y_t|y_{<t})`` of the sampled tokens, both at
        the sampling temperature.
    mask : bool array, shape (B, T)
        True for real tokens (completion tokens up to and including EOS).
    exact_per_token : array, shape (B, T), optional
        ``KL(π(·|y_{<t}) ‖ π_ref(·|y_{<t}))`` at each position (:func:`per_token_kl`).

    Returns
    -------
    dict
        ``{"exact": …, "k1": …, "k3": …, "k3_sequence": …}`` of :class:`KLEstimate`
        (``"exact"`` only when ``exact_per_token`` is given).
    """
    out: dict[str, KLEstimate] = {}
    if exact_per_token is not None:
        out["exact"] = summarize(masked_sum(exact_per_token, mask), "exact")
    out["k1"] = summarize(k1_per_sequence(policy_token_logprobs, reference_token_logprobs, mask), "k1")
    out["k3"] = summarize(k3_per_sequence(policy_token_logprobs, reference_token_logprobs, mask), "k3")
    out["k3_sequence"] = summarize(
        k3_per_sequence(policy_token_logprobs, reference_token_logprobs, mask, level="sequence"), "k3_sequence"
    )
    return out
