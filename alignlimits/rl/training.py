r"""The training loop PPO and GRPO share, and the optimisation settings they share.

* :class:`OptimisationConfig` — the hyper-parameters of the optimiser and of the
  clipped surrogate, common to :class:`~alignlimits.rl.grpo.GRPOConfig` and
  :class:`~alignlimits.rl.ppo.PPOConfig` (which add their own);
* :func:`step_rng`, :func:`minibatches`, :func:`micro_batches`, :func:`learning_rate` —
  the randomness, batching and schedule of one step, each a function of the step
  alone, so a resumed run equals an uninterrupted one;
* :func:`train` — seeded, checkpointed, resumable runs with a tqdm bar;
  :func:`trainable_state` / :func:`load_trainable_state` — what a checkpoint holds.
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

from alignlimits.rl.losses import AGGREGATIONS

__all__ = [
    "Algorithm",
    "OptimisationConfig",
    "exact_metrics_at",
    "learning_rate",
    "load_trainable_state",
    "micro_batches",
    "minibatches",
    "step_rng",
    "train",
    "trainable_state",
]


@dataclass(frozen=True)
class OptimisationConfig:
    """Hyper-parameters every algorithm here shares: optimiser, schedule, batching, clipping.

    Attributes
    ----------
    steps : optimisation steps (one rollout each).
    lr : Adam's learning rate at step 0; ``lr_final_fraction`` sets a linear decay to
        ``lr · lr_final_fraction`` at the last step (1: constant).
    epochs : passes over each step's rollout (μ in the GRPO paper).
    minibatches : optimiser steps per pass; ``micro_batches`` splits each for gradient
        accumulation (the loss is normalised by the whole minibatch, so accumulation
        reproduces the full-minibatch gradient exactly).
    clip_low, clip_high : the surrogate's clip range ``[1 − clip_low, 1 + clip_high]``.
    loss_aggregation : how per-token losses are averaged (:data:`~alignlimits.rl.losses.AGGREGATIONS`).
    max_grad_norm : gradient-norm clipping (None: off).
    adam_eps : Adam's ε.
    seed : every step's randomness derives from ``(seed, step)`` (:func:`step_rng`).
    metrics_every : log the exact per-position KL and the entropy (a pass over the whole
        vocabulary for the policy *and* the reference) every this many steps and at the
        last step; the other steps log the reward and the sampled-token KL estimators only.
    """

    steps: int = 100
    lr: float = 1e-2
    lr_final_fraction: float = 1.0
    epochs: int = 1
    minibatches: int = 1
    micro_batches: int = 1
    clip_low: float = 0.2
    clip_high: float = 0.2
    loss_aggregation: str = "sequence_mean"
    max_grad_norm: float | None = None
    adam_eps: float = 1e-8
    seed: int = 0
    metrics_every: int = 1

    def __post_init__(self) -> None:
        if self.loss_aggregation not in AGGREGATIONS:
            raise ValueError(f"loss_aggregation must be one of {AGGREGATIONS}; got {self.loss_aggregation!r}.")
        sizes = (self.steps, self.epochs, self.minibatches, self.micro_batches, self.metrics_every)
        if min(sizes) < 1 or not self.lr > 0:
            raise ValueError("steps, epochs, minibatches, micro_batches, metrics_every must be >= 1 and lr > 0.")
        if not 0 < self.lr_final_fraction <= 1:
            raise ValueError(f"lr_final_fraction must lie in (0, 1]; got {self.lr_final_fraction!r}.")
        if not (self.clip_low > 0 and self.clip_high > 0):
            raise ValueError(f"clip_low and clip_high must be > 0; got {self.clip_low}, {self.clip_high}.")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be > 0 or None; got {self.max_grad_norm!r}.")


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


def micro_batches(rows: torch.Tensor, num: int, sizes: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
    """``rows`` in ``num`` chunks for gradient accumulation (``num`` must divide it).

    With ``sizes`` (one per rollout row, e.g. prompt lengths) the rows are sorted by size
    first, so each chunk holds rows of similar width and a left-padded model input can drop
    the padding its rows share (:meth:`~alignlimits.rl.policies.CausalLMPolicy.forward`). The
    accumulated gradient is the same in any order.
    """
    if num < 1 or rows.numel() % num:
        raise ValueError(f"a minibatch of {rows.numel()} rows must split into {num} equal micro-batches.")
    if sizes is not None:
        rows = rows[torch.argsort(sizes[rows], stable=True)]
    yield from rows.chunk(num)


def exact_metrics_at(step: int, config: OptimisationConfig) -> bool:
    """Whether step ``step`` logs the exact per-position KL and entropy (every ``metrics_every``, and the last)."""
    return step % config.metrics_every == 0 or step == config.steps - 1


def learning_rate(base: float, step: int, steps: int, final_fraction: float) -> float:
    """Linear decay from ``base`` at step 0 to ``base·final_fraction`` at the last step (a function of the step)."""
    if steps <= 1:
        return base
    return base * (1.0 - (1.0 - final_fraction) * step / (steps - 1))


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
        kl = metrics.get("kl_exact", metrics.get("kl_k1", math.nan))  # exact only on steps that log it
        bar.set_postfix(reward=f"{metrics['reward']:.3f}", kl=f"{kl:.3f}")
        if callback is not None:
            callback(k, metrics)
        done = k + 1
        if path is not None and (done % checkpoint_every == 0 or done == end):
            path.parent.mkdir(parents=True, exist_ok=True)
            _save_atomic({"algorithm": algorithm.state_dict(), "history": history, "step": done}, path)
    return history
