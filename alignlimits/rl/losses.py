r"""The pieces of PPO's and GRPO's losses: small pure functions on per-token tensors.

Every masked statistic goes through :func:`alignlimits.lm.kl.masked_sum` (the one
reducer: padded entries are replaced by zero, never multiplied), so a pad value, a
clamp or a ``-inf`` at a padded slot can never reach a loss.

Notation (per token ``t`` of completion ``i``): ``ℓ = log π_θ(y_t|·)`` (with gradient),
``ℓ_old`` the sampling policy's, ``ℓ_ref`` the reference's, ratio ``ρ = e^{ℓ − ℓ_old}``,
advantage ``A``.

* :func:`clipped_surrogate` — ``−min(ρA, clip(ρ, 1−ε_low, 1+ε_high) A)`` per token
  (Schulman et al. (2017)); at ``ρ = 1`` its gradient is REINFORCE's ``−A ∇ℓ``.
* :func:`kl_penalty` — the k1, k2, k3 estimators of Schulman (2020) used *as loss
  terms* (their gradients differ: see the function).
* :func:`aggregate` — the loss-aggregation variants of the literature, normalised by
  the whole optimiser batch so that gradient accumulation over micro-batches
  reproduces the full-batch gradient exactly.
* :func:`whiten`, :func:`masked_mean`, :func:`entropy_per_token` — masked statistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from alignlimits.lm.kl import masked_sum

__all__ = [
    "AGGREGATIONS",
    "KL_ESTIMATORS",
    "BatchSizes",
    "aggregate",
    "at_first_token",
    "clip_region",
    "clipped_surrogate",
    "entropy_per_token",
    "kl_penalty",
    "masked_mean",
    "whiten",
]

#: Loss aggregation variants (see :func:`aggregate`).
AGGREGATIONS = ("sequence_mean", "token_mean", "constant_length")
#: KL estimators usable as a loss term (see :func:`kl_penalty`).
KL_ESTIMATORS = ("k1", "k2", "k3")


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over the real tokens of the batch (a scalar): ``Σ masked_sum / Σ mask``."""
    n = int(mask.sum())
    if n == 0:
        raise ValueError("the mask selects no token; every completion has length 0.")
    return masked_sum(values, mask).sum() / n


def whiten(values: torch.Tensor, mask: torch.Tensor, *, shift_mean: bool = True) -> torch.Tensor:
    r"""``(x − mean)/sqrt(var + 1e-8)`` over the real tokens (masked mean and variance); pads stay 0."""
    mean = masked_mean(values, mask)
    var = masked_mean((values - mean) ** 2, mask)
    out = (values - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        out = out + mean
    return torch.where(mask, out, torch.zeros_like(out))


def entropy_per_token(logprobs: torch.Tensor) -> torch.Tensor:
    r"""``H(π(·|h)) = −Σ_v π_v log π_v`` per position, (B, T) from (B, T, V); zero-probability tokens add 0."""
    p_logp = torch.where(logprobs > -math.inf, logprobs.exp() * logprobs, torch.zeros_like(logprobs))
    return -p_logp.sum(-1)


def clipped_surrogate(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    *,
    clip_low: float,
    clip_high: float,
) -> torch.Tensor:
    r"""PPO's clipped surrogate *loss* per token: ``−min(ρA, clip(ρ, 1 − ε_low, 1 + ε_high)·A)``.

    ``ρ = exp(ℓ − ℓ_old)``. Shapes broadcast: ``(B, T)`` log-probs with ``(B, T)`` or
    ``(B, 1)`` advantages. Where the clipped branch is the minimum (see
    :func:`clip_region`) the gradient is exactly zero; elsewhere it is ``−ρ A ∇ℓ``, which
    at ``ρ = 1`` is the REINFORCE gradient ``−A ∇ℓ``. ``clip_high > clip_low`` is the
    "clip-higher" of DAPO (Yu et al., 2025).
    """
    if not (clip_low > 0 and clip_high > 0):
        raise ValueError(f"clip_low and clip_high must be > 0; got {clip_low}, {clip_high}.")
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high) * advantages
    return -torch.minimum(unclipped, clipped)


def clip_region(
    logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, *, clip_low: float, clip_high: float
) -> torch.Tensor:
    """True where clipping zeroes the gradient.

    That is ``ρ > 1 + ε_high`` with ``A > 0``, or ``ρ < 1 − ε_low`` with ``A < 0``.
    """
    ratio = torch.exp(logprobs - old_logprobs)
    return ((ratio > 1.0 + clip_high) & (advantages > 0)) | ((ratio < 1.0 - clip_low) & (advantages < 0))


def kl_penalty(logprobs: torch.Tensor, reference_logprobs: torch.Tensor, estimator: str) -> torch.Tensor:
    r"""A KL estimator of Schulman (2020) as a loss term, elementwise.

    With ``δ = ℓ − ℓ_ref`` (policy minus reference; samples from the policy):

    * ``"k1"``: ``δ``. Unbiased for the KL, but its expected gradient on policy is
      ``E[∇ℓ] = 0``: as a loss it does nothing on average.
    * ``"k2"``: ``δ²/2``. Biased for the KL, but its expected gradient on policy,
      ``E[δ ∇ℓ]``, is ``∇ KL(π‖π_ref)`` when applied to whole sequences (and, applied
      per token, the gradient of the per-position KL with the prefixes held fixed).
    * ``"k3"``: ``e^{−δ} − 1 + δ``. Unbiased for the KL (the GRPO paper's choice), but its
      expected gradient on policy, ``E[(1 − e^{−δ})∇ℓ]``, is ``∇ KL(π_ref‖π)``: the
      gradient of the *other* KL.

    Apply it to per-token log-probs (``(B, T)``, then :func:`aggregate`) or to sequence
    log-probs (``(B,)``). Per token, each term's gradient ignores how the token changes
    the prefixes of later positions: a partial gradient (Tang and Munos, 2025).
    """
    delta = logprobs - reference_logprobs
    if estimator == "k1":
        return delta
    if estimator == "k2":
        return 0.5 * delta**2
    if estimator == "k3":
        return torch.expm1(-delta) + delta
    raise ValueError(f"estimator must be one of {KL_ESTIMATORS}; got {estimator!r}.")


@dataclass(frozen=True)
class BatchSizes:
    """Normalisers of one optimiser step's batch (all its micro-batches together)."""

    n_sequences: int
    n_tokens: int
    max_len: int

    @classmethod
    def of(cls, mask: torch.Tensor, max_len: int | None = None) -> BatchSizes:
        return cls(int(mask.shape[0]), int(mask.sum()), int(mask.shape[1] if max_len is None else max_len))


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, how: str, sizes: BatchSizes) -> torch.Tensor:
    r"""A micro-batch's share of the optimiser batch's loss; the shares sum to the full-batch loss.

    With ``s_i = Σ_t mask_{it} x_{it}`` (:func:`~alignlimits.lm.kl.masked_sum`), ``|y_i|``
    the length, and ``N, N_tok, L`` the sequences, real tokens and maximum length of the
    *whole optimiser batch* (``sizes``):

    * ``"sequence_mean"`` — ``(1/N) Σ_i s_i/|y_i|``: mean over tokens, then over
      sequences, as in the GRPO paper (Shao et al., 2024);
    * ``"token_mean"`` — ``Σ_i s_i / N_tok``: every token weighs the same, the
      "token-level" loss of DAPO (Yu et al., 2025) (and PPO implementations);
    * ``"constant_length"`` — ``Σ_i s_i / (N·L)``: a constant normaliser, as in
      Dr. GRPO (Liu et al., 2025), whose gradient is the unbiased policy
      gradient up to the constant.

    When every length equals ``L`` the three coincide.
    """
    sums = masked_sum(per_token, mask)
    if how == "sequence_mean":
        lengths = mask.sum(-1)
        if bool((lengths == 0).any()):
            raise ValueError("a completion has length 0; sequence_mean divides by each length.")
        return (sums / lengths).sum() / sizes.n_sequences
    if how == "token_mean":
        return sums.sum() / sizes.n_tokens
    if how == "constant_length":
        return sums.sum() / (sizes.n_sequences * sizes.max_len)
    raise ValueError(f"loss aggregation must be one of {AGGREGATIONS}; got {how!r}.")


def at_first_token(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """A per-sequence value ``(B,)`` as a per-token tensor ``(B, T)``: at the first position, 0 elsewhere.

    Aggregating it with :func:`aggregate` weighs sequence ``i`` exactly as the
    aggregation weighs the token sum of sequence ``i`` (e.g. ``1/|y_i|`` for
    ``"sequence_mean"``), so a sequence-level loss term keeps its scale relative to
    the per-token surrogate under every variant.
    """
    out = torch.zeros(mask.shape, dtype=values.dtype, device=values.device)
    return out.index_put(
        (torch.arange(mask.shape[0], device=values.device), torch.zeros_like(values, dtype=torch.long)), values
    )
