r"""Distilling the tilted policy: one sampling pass, then supervised fine-tuning.

The seed paper's closing suggestion, as a method with an inference cost of one sample:

1. draw ``n`` samples ``y_1 … y_n`` of every prompt from the base policy ``π0`` and score them;
2. weight them by the tilt, ``w_i = softmax(r_i/β)`` among the samples of the same prompt —
   the self-normalised importance weights of ``π_β`` against ``π0`` — or, the best-of-N
   variant, put weight 1 on the best of each group of ``N`` samples
   (:func:`tilt_weights`, :func:`best_of_n_weights`);
3. fine-tune the policy to maximise the weighted log-likelihood ``Σ_x Σ_i w_i log π(y_i|x)``.

The weighted samples define a distribution ``p̂(y|x) = Σ_i w_i 1[y_i = y]``, and the
weighted log-likelihood is ``−KL(p̂‖π)`` up to a constant: a policy that can represent
``p̂`` converges to it, so distillation lands where ``p̂`` lies on the KL–reward plane —
exactly computable on the enumerable model. As ``n → ∞``, ``p̂ → π_β`` (self-normalised
importance sampling is consistent); for finite ``n`` the point lies below the frontier,
and its KL cannot exceed ``log n`` (``p̂`` has at most ``n`` atoms per prompt).

Each step draws ``batch_size`` rows from ``p̂`` (a prompt uniformly, then a sample of it
with probability ``w_i``) and takes a gradient step on their mean sequence
log-likelihood: an unbiased stochastic gradient of the weighted objective that never
spends compute on samples whose weight is ~0. All randomness comes from
:func:`~alignlimits.rl.training.step_rng`, so a resumed run equals an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from scipy.special import softmax

from alignlimits.rl.policies import Rollout, token_logprobs
from alignlimits.rl.training import (
    OptimisationConfig,
    learning_rate,
    load_trainable_state,
    step_rng,
    trainable_state,
)

__all__ = ["Distill", "DistillConfig", "best_of_n_weights", "tilt_weights"]


def _groups(values: ArrayLike, prompt_index: ArrayLike | None) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    r = np.asarray(values, dtype=np.float64)
    if r.ndim != 1 or r.size == 0:
        raise ValueError(f"rewards must be a non-empty 1-D array; got shape {r.shape}.")
    if not np.isfinite(r).all():
        raise ValueError("rewards must be finite; drop or fix the non-finite ones first.")
    index = np.zeros(r.size, np.int64) if prompt_index is None else np.asarray(prompt_index, dtype=np.int64)
    if index.shape != r.shape:
        raise ValueError(f"prompt_index must have the rewards' shape {r.shape}; got {index.shape}.")
    return r, index


def tilt_weights(rewards: ArrayLike, beta: float, prompt_index: ArrayLike | None = None) -> NDArray[np.float64]:
    r"""Self-normalised tilt weights ``w_i = exp(r_i/β) / Σ_{j: x_j = x_i} exp(r_j/β)``, per prompt.

    The weights of ``π_β ∝ π0 exp(r/β)`` for samples of ``π0``: within each prompt they sum
    to 1. Computed in log-space (a shift by each prompt's largest reward), so any ``β > 0``
    is safe.

    Examples
    --------
    >>> tilt_weights([0.0, 1.0, 0.0, 0.0], 1.0, [0, 0, 1, 1]).round(4).tolist()
    [0.2689, 0.7311, 0.5, 0.5]
    """
    r, index = _groups(rewards, prompt_index)
    if not (np.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a finite number > 0; got {beta!r}.")
    weights = np.empty_like(r)
    for p in np.unique(index):
        rows = index == p
        weights[rows] = softmax(r[rows] / beta)
    return weights


def best_of_n_weights(rewards: ArrayLike, n: int, prompt_index: ArrayLike | None = None) -> NDArray[np.float64]:
    """Best-of-N weights: each prompt's samples, in order, form groups of ``n``; each group's best
    (the first, on a tie) gets ``1/groups``, every other sample 0 (per prompt, the weights sum to 1).

    Samples that do not fill a last group are left out (weight 0).

    Examples
    --------
    >>> best_of_n_weights([0.1, 0.5, 0.3, 0.2, 0.9, 0.0], 2).tolist()
    [0.0, 0.3333333333333333, 0.3333333333333333, 0.0, 0.3333333333333333, 0.0]
    """
    r, index = _groups(rewards, prompt_index)
    if not (isinstance(n, int | np.integer) and n >= 1):
        raise ValueError(f"n must be a positive integer; got {n!r}.")
    weights = np.zeros_like(r)
    for p in np.unique(index):
        rows = np.flatnonzero(index == p)
        groups = rows.size // n
        if groups == 0:
            raise ValueError(f"prompt {p} has {rows.size} samples, fewer than n = {n}.")
        grouped = rows[: groups * n].reshape(groups, n)
        weights[grouped[np.arange(groups), np.argmax(r[grouped], axis=1)]] = 1.0 / groups
    return weights


@dataclass(frozen=True)
class DistillConfig(OptimisationConfig):
    """Hyper-parameters of a distillation run; the optimiser's are inherited.

    Attributes
    ----------
    beta : ``β`` of the tilt whose weights the samples get (unused with ``best_of``).
    best_of : None, or ``N``: the variant that fine-tunes on the best of each group of ``N``.
    samples_per_prompt : base samples per prompt in the one sampling pass.
    sample_batch_size : rows sampled at once in that pass.
    batch_size : rows per optimisation step (drawn from the weighted samples).
    """

    beta: float = 1.0
    best_of: int | None = None
    samples_per_prompt: int = 64
    sample_batch_size: int = 64
    batch_size: int = 16

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (np.isfinite(self.beta) and self.beta > 0):
            raise ValueError(f"beta must be a finite number > 0; got {self.beta!r}.")
        if self.best_of is not None and not (isinstance(self.best_of, int) and 1 <= self.best_of):
            raise ValueError(f"best_of must be None or a positive integer; got {self.best_of!r}.")
        for name in ("samples_per_prompt", "sample_batch_size", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        if self.best_of is not None and self.samples_per_prompt < self.best_of:
            raise ValueError(f"samples_per_prompt={self.samples_per_prompt} must be >= best_of={self.best_of}.")
        if self.batch_size % self.micro_batches:
            raise ValueError(f"batch_size={self.batch_size} must split into {self.micro_batches} micro-batches.")


class Distill:
    """Weighted supervised fine-tuning of ``policy`` on its own first samples (see the module docstring).

    Parameters
    ----------
    policy : a :class:`~alignlimits.rl.policies.TabularPolicy` or
        :class:`~alignlimits.rl.policies.CausalLMPolicy`, equal to the base policy when the
        run starts (the sampling pass, made at the first step, draws from it).
    reward_fn : the reward of a rollout's completions, float64 ``(B,)``.
    config : :class:`DistillConfig`.
    """

    def __init__(self, policy: Any, reward_fn: Callable[[Rollout], torch.Tensor], config: DistillConfig) -> None:
        self.policy, self.reward_fn, self.config = policy, reward_fn, config
        self.steps = config.steps
        params = [p for p in policy.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=config.lr, eps=config.adam_eps)
        self.chunks: list[Rollout] = []  # the sampling pass, in the chunks it was drawn in
        self.rewards = np.zeros(0)
        self.weights = np.zeros(0)

    # ------------------------------------------------------------------ the sampling pass

    @torch.no_grad()
    def collect(self) -> None:
        """Draw and score ``samples_per_prompt`` samples of every prompt from the policy; set the weights."""
        cfg = self.config
        index = torch.arange(self.policy.num_prompts).repeat_interleave(cfg.samples_per_prompt)
        rng = np.random.default_rng([cfg.seed, 2**32 - 1])  # the pass's own stream, apart from every step's
        chunks, rewards = [], []
        for rows in index.split(cfg.sample_batch_size):
            rollout = self.policy.rollout(rows, seed=int(rng.integers(2**31)))
            chunks.append(rollout)
            rewards.append(np.asarray(self.reward_fn(rollout), dtype=np.float64))
        self.use_samples(chunks, np.concatenate(rewards))

    def use_samples(self, chunks: list[Rollout], rewards: ArrayLike) -> None:
        """Take a sampling pass made elsewhere (``chunks`` of base samples and their rewards) and weight it.

        Runs that differ only in ``β`` or ``best_of`` can share one pass: it does not depend on them.
        """
        self.chunks, self.rewards = list(chunks), np.asarray(rewards, dtype=np.float64)
        if self.rewards.shape != (sum(len(c) for c in self.chunks),):
            raise ValueError("rewards must hold one value per sample of the chunks.")
        prompts = self.prompt_index
        if self.config.best_of is None:
            self.weights = tilt_weights(self.rewards, self.config.beta, prompts)
        else:
            self.weights = best_of_n_weights(self.rewards, self.config.best_of, prompts)

    @property
    def prompt_index(self) -> NDArray[np.int64]:
        """The prompt of each sample of the pass."""
        return np.concatenate([c.prompt_index.numpy() for c in self.chunks]) if self.chunks else np.zeros(0, np.int64)

    def effective_sample_size(self) -> float:
        """Mean over prompts of ``1 / Σ w_i²``: how many distinct samples ``p̂`` rests on per prompt."""
        index = self.prompt_index
        return float(np.mean(1.0 / np.bincount(index, self.weights**2)[np.unique(index)]))

    # ------------------------------------------------------------------ a step

    def draw_rows(self, rng: np.random.Generator) -> NDArray[np.int64]:
        """``batch_size`` sample rows from ``p̂``: a prompt uniformly, then one of its samples with probability ``w``."""
        index = self.prompt_index
        prompts = np.unique(index)
        chosen = rng.choice(prompts, size=self.config.batch_size)
        rows = np.empty(chosen.size, np.int64)
        for k, p in enumerate(chosen):
            own = np.flatnonzero(index == p)
            rows[k] = own[rng.choice(own.size, p=self.weights[own] / self.weights[own].sum())]
        return rows

    def step(self, step: int) -> dict[str, float]:
        """One optimisation step (the sampling pass first, at the first step); returns the step's metrics."""
        cfg = self.config
        if not self.chunks:
            self.collect()
        rng = step_rng(cfg.seed, step)
        rows = np.sort(self.draw_rows(rng))
        starts = np.cumsum([0] + [len(c) for c in self.chunks])
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(cfg.lr, step, cfg.steps, cfg.lr_final_fraction)
        self.optimizer.zero_grad(set_to_none=True)
        nll = 0.0
        # Rows of one chunk are scored together; the loss is normalised by the whole batch, so the
        # accumulated gradient is the batch's.
        micro_size = cfg.batch_size // cfg.micro_batches
        for c, chunk in enumerate(self.chunks):
            mine = rows[(rows >= starts[c]) & (rows < starts[c + 1])] - starts[c]
            for first in range(0, mine.size, micro_size):
                sub = chunk.select(torch.as_tensor(mine[first : first + micro_size]))
                lp = token_logprobs(self.policy(sub).logprobs, sub)
                loss = -lp.sum() / cfg.batch_size
                loss.backward()
                nll += float(loss.detach())
        if cfg.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.optimizer.param_groups[0]["params"], cfg.max_grad_norm)
        self.optimizer.step()
        picked = self.rewards[rows]
        return {"reward": float(picked.mean()), "nll": nll, "effective_sample_size": self.effective_sample_size()}

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        """Trained parameters, optimiser and the sampling pass (a resumed run does not sample again)."""
        return {
            "policy": trainable_state(self.policy),
            "optimizer": self.optimizer.state_dict(),
            "chunks": self.chunks,
            "rewards": self.rewards,
            "weights": self.weights,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_trainable_state(self.policy, state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.chunks, self.rewards, self.weights = state["chunks"], state["rewards"], state["weights"]
