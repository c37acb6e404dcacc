r"""What PPO and GRPO share: small pure loss functions, per-step metrics, and the run loop.

Every masked statistic goes through :func:`alignlimits.lm.kl.masked_sum` (the one
reducer: padded entries are replaced by zero, never multiplied), so a pad value, a
clamp or a ``-inf`` at a padded slot can never reach a loss or a metric.

Notation (per token ``t`` of completion ``i``): ``ℓ = log π_θ(y_t|·)`` (with gradient),
``ℓ_old`` the sampling policy's, ``ℓ_ref`` the reference's, ratio ``ρ = e^{ℓ − ℓ_old}``,
advantage ``A``.

* :func:`clipped_surrogate` — ``−min(ρA, clip(ρ, 1−ε_low, 1+ε_high) A)`` per token
  (Schulman et al. (2017)); at ``ρ = 1`` its gradient is REINFORCE's ``−A ∇ℓ``.
* :func:`kl_penalty` — the k1, k2, k3 estimators of Schulman (2020)
  used *as loss terms* (their gradients differ: see the function).
* :func:`aggregate` — the loss-aggregation variants of the literature, normalised by
  the whole optimiser batch so that gradient accumulation over micro-batches
  reproduces the full-batch gradient exactly.
* :func:`rollout_metrics` — reward, judge score, sequence KL (exact per position, k1,
  k3, each with its standard error), entropy and length of a rollout.
* :func:`train` — seeded, checkpointed, resumable runs with a tqdm bar.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from alignlimits.lm import kl as lmkl
from alignlimits.rl.policies import PolicyOutput, Rollout, token_logprobs

__all__ = [
    "AGGREGATIONS",
    "KL_ESTIMATORS",
    "Algorithm",
    "BatchSizes",
    "aggregate",
    "at_first_token",
    "check_rewards",
    "clip_region",
    "clipped_surrogate",
    "entropy_per_token",
    "kl_penalty",
    "learning_rate",
    "load_trainable_state",
    "masked_mean",
    "micro_batches",
    "minibatches",
    "rollout_metrics",
    "step_rng",
    "train",
    "trainable_state",
    "validate_optimisation",
    "whiten",
]

#: Loss aggregation variants (see :func:`aggregate`).
AGGREGATIONS = ("sequence_mean", "token_mean", "constant_length")
#: KL estimators usable as a loss term (see :func:`kl_penalty`).
KL_ESTIMATORS = ("k1", "k2", "k3")


# ---------------------------------------------------------------------------- reducers


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over the real tokens of the batch (a scalar): ``Σ masked_sum / Σ mask``."""
    n = int(mask.sum())
    if n == 0:
        raise ValueError("the mask selects no token; every completion has length 0.")
    return lmkl.masked_sum(values, mask).sum() / n


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


# ---------------------------------------------------------------------------- losses


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
    sums = lmkl.masked_sum(per_token, mask)
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


def check_rewards(rewards: torch.Tensor, n: int) -> torch.Tensor:
    """The reward function's output as float64 ``(n,)``, refusing NaN/inf and wrong shapes."""
    r = torch.as_tensor(rewards).detach().to("cpu", torch.float64)
    if tuple(r.shape) != (n,):
        raise ValueError(f"reward_fn must return one reward per completion, shape ({n},); got {tuple(r.shape)}.")
    if not bool(torch.isfinite(r).all()):
        raise ValueError("reward_fn returned NaN or inf; fix the reward model (rewards must be finite).")
    return r


# ---------------------------------------------------------------------------- batching, seeds, schedule


def step_rng(seed: int, step: int) -> np.random.Generator:
    """The generator of optimisation step ``step`` of a run seeded with ``seed``.

    Derived from ``(seed, step)`` alone, so a resumed run draws exactly what an
    uninterrupted one would, without saving any generator state.
    """
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(step)]))


def minibatches(n: int, num: int, rng: np.random.Generator) -> list[torch.Tensor]:
    """A random split of ``range(n)`` into ``num`` equal minibatches (one optimiser step each)."""
    if num < 1 or n % num:
        raise ValueError(f"the batch of {n} rows must split into {num} equal minibatches.")
    perm = torch.as_tensor(rng.permutation(n), dtype=torch.long)
    return list(perm.chunk(num))


def micro_batches(rows: torch.Tensor, num: int) -> Iterator[torch.Tensor]:
    """``rows`` in ``num`` consecutive chunks for gradient accumulation (``num`` must divide it)."""
    if num < 1 or rows.numel() % num:
        raise ValueError(f"a minibatch of {rows.numel()} rows must split into {num} equal micro-batches.")
    yield from rows.chunk(num)


def learning_rate(base: float, step: int, steps: int, final_fraction: float) -> float:
    """Linear decay from ``base`` at step 0 to ``base·final_fraction`` at the last step (a function of the step)."""
    if steps <= 1:
        return base
    return base * (1.0 - (1.0 - final_fraction) * step / (steps - 1))


# ---------------------------------------------------------------------------- metrics


def rollout_metrics(
    rollout: Rollout,
    policy_out: PolicyOutput,
    reference_out: PolicyOutput,
    scores: torch.Tensor,
    judge_scores: torch.Tensor | None = None,
) -> dict[str, float]:
    r"""Per-step statistics of a rollout sampled from the policy (means and standard errors).

    ``kl_exact`` is ``Σ_t KL(π(·|y_{<t})‖π_ref(·|y_{<t}))`` along each sample (full
    vocabulary), ``kl_k1`` and ``kl_k3`` the sampled-token estimators
    (:func:`alignlimits.lm.kl.sequence_kl`); all are sequence-level (summed over tokens).
    """
    mask = rollout.mask
    lp = token_logprobs(policy_out.logprobs, rollout).detach().cpu()
    lq = token_logprobs(reference_out.logprobs, rollout).detach().cpu()
    exact = lmkl.per_token_kl(policy_out.logprobs.detach(), reference_out.logprobs.detach()).cpu()
    kls = lmkl.sequence_kl(lp, lq, mask, exact_per_token=exact)
    ent = lmkl.summarize(lmkl.masked_sum(entropy_per_token(policy_out.logprobs.detach().cpu()), mask), "entropy")
    rew = lmkl.summarize(scores, "reward")
    out = {
        "reward": rew.mean,
        "reward_se": rew.stderr,
        "kl_exact": kls["exact"].mean,
        "kl_exact_se": kls["exact"].stderr,
        "kl_k1": kls["k1"].mean,
        "kl_k1_se": kls["k1"].stderr,
        "kl_k3": kls["k3"].mean,
        "kl_k3_se": kls["k3"].stderr,
        "entropy": ent.mean,
        "length": float(rollout.lengths.double().mean()),
    }
    if judge_scores is not None:
        judge = lmkl.summarize(check_rewards(judge_scores, len(rollout)), "judge")
        out["judge"], out["judge_se"] = judge.mean, judge.stderr
    return out


# ---------------------------------------------------------------------------- configs and checkpoints


def validate_optimisation(config: Any) -> None:
    """Checks every algorithm config shares: loss aggregation, positive sizes, learning-rate schedule, clipping."""
    if config.loss_aggregation not in AGGREGATIONS:
        raise ValueError(f"loss_aggregation must be one of {AGGREGATIONS}; got {config.loss_aggregation!r}.")
    if min(config.steps, config.epochs, config.minibatches, config.micro_batches) < 1 or not config.lr > 0:
        raise ValueError("steps, epochs, minibatches, micro_batches must be >= 1 and lr > 0.")
    if not 0 < config.lr_final_fraction <= 1:
        raise ValueError(f"lr_final_fraction must lie in (0, 1]; got {config.lr_final_fraction!r}.")
    if config.max_grad_norm is not None and not config.max_grad_norm > 0:
        raise ValueError(f"max_grad_norm must be > 0 or None; got {config.max_grad_norm!r}.")


def trainable_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Copies of the parameters that train (``requires_grad``): all a checkpoint needs.

    Frozen parameters never change, so a checkpoint of a language model that trains its
    last blocks stays small (megabytes, not the whole model).
    """
    return {name: p.detach().clone() for name, p in module.named_parameters() if p.requires_grad}


def load_trainable_state(module: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Restore :func:`trainable_state` into ``module``; the trainable parameter names must match exactly."""
    params = {name: p for name, p in module.named_parameters() if p.requires_grad}
    if set(state) != set(params):
        missing, extra = sorted(set(params) - set(state)), sorted(set(state) - set(params))
        raise ValueError(
            f"the checkpoint's trainable parameters do not match the policy's (missing {missing[:3]}, "
            f"unexpected {extra[:3]}); it was written for another model or another choice of trained layers."
        )
    wrong = [n for n, v in state.items() if tuple(v.shape) != tuple(params[n].shape)]
    if wrong:
        raise ValueError(f"the checkpoint's parameters {wrong[:3]} have other shapes than the policy's.")
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)


# ---------------------------------------------------------------------------- runs


class Algorithm(Protocol):
    """What :func:`train` drives: ``step(k) -> metrics``, plus a state to checkpoint."""

    steps: int

    def step(self, step: int) -> dict[str, float]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def _save_atomic(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)  # an interrupted save never leaves a half-written checkpoint


def train(
    algorithm: Algorithm,
    *,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 10,
    stop_after: int | None = None,
    progress: bool = True,
    callback: Callable[[int, dict[str, float]], None] | None = None,
) -> list[dict[str, float]]:
    """Run ``algorithm.steps`` steps; with ``checkpoint``, save every ``checkpoint_every`` steps and resume.

    If the checkpoint file exists, the run continues from it: parameters, optimiser
    and controller state and the metric history are restored, and since every step's
    randomness comes from :func:`step_rng` the resumed run equals an uninterrupted one.
    ``stop_after`` ends the call after that many *new* steps (an interruption, for
    tests and for splitting long runs across sessions). Returns the metric history
    (one dict per step, ``"step"`` included).
    """
    path = Path(checkpoint) if checkpoint is not None else None
    history: list[dict[str, float]] = []
    start = 0
    if path is not None and path.is_file():
        state = torch.load(path, weights_only=False)
        algorithm.load_state_dict(state["algorithm"])
        history, start = state["history"], state["step"]
    end = algorithm.steps if stop_after is None else min(algorithm.steps, start + stop_after)
    bar = tqdm(
        range(start, end), desc=type(algorithm).__name__, disable=not progress, initial=start, total=algorithm.steps
    )
    for k in bar:
        metrics = {"step": float(k), **algorithm.step(k)}
        bad = sorted(name for name, value in metrics.items() if not math.isfinite(value))
        if bad:
            raise FloatingPointError(
                f"step {k} produced non-finite {bad}: the run diverged (lower the learning rate or clip gradients); "
                "the last checkpoint is kept."
            )
        history.append(metrics)
        bar.set_postfix(reward=f"{metrics['reward']:.3f}", kl=f"{metrics['kl_exact']:.3f}")
        if callback is not None:
            callback(k, metrics)
        done = k + 1
        if path is not None and (done % checkpoint_every == 0 or done == end):
            path.parent.mkdir(parents=True, exist_ok=True)
            _save_atomic({"algorithm": algorithm.state_dict(), "history": history, "step": done}, path)
    return history
