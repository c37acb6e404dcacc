r"""PPO and GRPO runs on the language-model tasks, evaluated on the KL–reward plane.

A run fine-tunes the base policy of a task's frontier experiment — the same model,
temperature, prompts and completion length (:func:`alignlimits.experiments.frontier.frontier_config`),
so its points and the estimated frontier describe the same ``π0`` — with one KL
coefficient ``β``, then **evaluates** the final policy: ``eval_samples`` completions for
*every* prompt, scored by the reward and by the held-out judge, with the sequence KL to
``π0`` computed exactly per position over the whole vocabulary along each sample (and
k1, k3 for comparison). Methods, as the literature runs them:

* ``"ppo"`` — :class:`~alignlimits.rl.ppo.PPO`: the penalty ``β (ℓ − ℓ_ref)`` in every
  token's reward (fixed ``β``), a value head on the last hidden state, GAE with
  ``γ = λ = 1`` (unbiased with a value head still learning), whitened advantages,
  token-mean loss; its fixed point is ``π_β``.
* ``"grpo"`` — :class:`~alignlimits.rl.grpo.GRPO` as in the GRPO paper: group-std
  normalised advantages, per-sequence-mean loss, and ``β`` times the k3 estimator per
  token as a *loss* term (whose fixed point is not ``π_β``; see the RL chapter).

Only the last ``trainable_blocks`` transformer blocks and the final norm train (the
embeddings, tied to the output layer, stay frozen; :func:`alignlimits.lm.models.last_blocks`);
the chapters say so. The learning rates are :data:`SWEEP_LRS`, chosen by the tuning runs
of :mod:`alignlimits.experiments.tuning` (building a config reads no file).

**Resuming.** Each run has a work folder ``<cache>/runs/rl-<task>-<tier>-<method>-<hash>/``
with a checkpoint of the trained parameters and optimiser every ``checkpoint_every``
steps (:func:`alignlimits.rl.training.train`); a finished run writes ``run.json`` and its
trained parameters, ``final.pt``, there.
Running the same command again resumes an unfinished run and skips finished ones. A
sweep (:func:`sweep`) adds every finished run to the task's results file at once, so an
interrupted sweep loses at most the steps since the last checkpoint.

**Parallel workers.** A run holds a lock on its work folder while it trains, so a second
process never trains the same run: :func:`run` raises :class:`~alignlimits.experiments.storage.RunInProgressError` and
:func:`sweep` moves on to the next run. A sweep merges its runs into the results file
under a lock, keeping runs other processes added meanwhile. Several sweeps over the same
configs (say one per core) therefore share the work without colliding.

**Results schema** (:func:`validate_runs`, version :data:`SCHEMA_VERSION`); the package
keeps the sweep in ``rl-<task>-<tier>.json``, the controls and the tuning runs in the
``-control`` and ``-tuning`` variants (:func:`runs_path`)::

    {"schema": "alignlimits.rl", "schema_version": 1, "task": str, "tier": str,
     "runs": [{"config": {... every LMRunConfig field (reward_signal only in controls) ...},
               "algorithm": {... every PPOConfig or GRPOConfig field ...},
               "history": [{"step", "reward", "kl_exact", "kl_k1", "kl_k3", "judge", ...}] * steps,
               "eval": {"prompt_index": [int] * E, "reward": [float] * E, "judge": [float] * E,
                        "kl_exact": [float] * E, "kl_k1": [float] * E, "kl_k3": [float] * E,
                        "length": [int] * E, "examples": [{"prompt_index", "text", "reward", "judge"}]},
               "provenance": {"git_sha", "git_dirty", "date", "hardware", "versions", "weights", "assets",
                              "wall_time_s", "train_time_s", "eval_time_s", "sessions",
                              "samples_trained": int}}]}

``E = n_prompts · eval_samples``; the eval arrays hold one value per evaluation sample.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from alignlimits.experiments import provenance, storage
from alignlimits.experiments.frontier import frontier_config
from alignlimits.lm import kl as sequence_kl
from alignlimits.rl import distill, grpo, ppo
from alignlimits.rl.metrics import exact_kl_and_entropy
from alignlimits.rl.policies import CausalLMPolicy, Rollout, token_logprobs
from alignlimits.rl.training import step_rng, train, trainable_state
from alignlimits.tasks import TASKS, TaskInputs, get_task
from alignlimits.tiers import TIERS, by_tier, current_tier

__all__ = [
    "KL_PLACEMENTS",
    "METHODS",
    "REWARD_SIGNALS",
    "RUN_METHODS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "SWEEP_KL_COEFS",
    "SWEEP_LRS",
    "SWEEP_SEEDS",
    "VARIANTS",
    "LMRunConfig",
    "TaskScorer",
    "build",
    "committed_sweep",
    "control_configs",
    "evaluate",
    "load_runs",
    "run",
    "run_config",
    "run_folder",
    "runs_path",
    "save_runs",
    "shuffled_rewards",
    "step_prompts",
    "sweep",
    "sweep_configs",
    "validate_runs",
]

METHODS = ("ppo", "grpo")
#: Every method a run can have: the RL methods and the cheap contender, distillation of the tilted policy
#: (:class:`~alignlimits.rl.distill.Distill`; ``kl_coef`` is its ``β``, ``steps`` its fine-tuning steps).
RUN_METHODS = (*METHODS, "distill")
REWARD_SIGNALS = ("task", "shuffled")
SCHEMA = "alignlimits.rl"
SCHEMA_VERSION = 1
#: The results files of a task and tier: the first sweep (None), its shuffled-reward controls, its tuning
#: runs; the long runs' learning-rate pilot and the long runs themselves (:mod:`alignlimits.experiments.study`).
VARIANTS = (None, "control", "tuning", "pilot", "study")
#: Where the KL penalty goes: in the reward (PPO's and REINFORCE's penalty, whose fixed point is π_β) or,
#: for GRPO, as the k3 estimator in the loss (the GRPO paper's choice, whose fixed point is not π_β).
KL_PLACEMENTS = ("reward", "loss")
#: Fields added after the first runs, with their defaults: left out of :meth:`LMRunConfig.as_dict` at the
#: default, so the first runs keep their keys and their results files stay readable.
_LATER_FIELDS: dict[str, Any] = {
    "reward_signal": "task",
    "kl_in": None,
    "metrics_every": 1,
    "path_evals": (),
    "path_eval_samples": 4,
    "distill_samples": 64,
    "best_of": None,
}
_N_EXAMPLES = 4


@dataclass(frozen=True)
class LMRunConfig:
    """Everything that determines one run's numbers (hashed to name its work folder).

    Attributes
    ----------
    task, tier, method : what runs (``method`` in :data:`RUN_METHODS`).
    kl_coef : ``β``. With the penalty in the reward (:attr:`placement` ``"reward"``) it is
        ``kl_reward_coef``, on the reward's scale, and the run's fixed point is ``π_β``; GRPO
        with the penalty in the loss uses it as ``kl_loss_coef``, the k3 loss term, on the
        scale of the normalised advantages.
    kl_in : ``"reward"`` or ``"loss"`` (:data:`KL_PLACEMENTS`); None keeps each method's placement
        of the first runs (PPO: reward, GRPO: loss). PPO's penalty is always in the reward.
    seed : the run's seed (prompts, samples and minibatches of step ``k`` derive from it).
    lr, steps : Adam learning rate (constant) and optimisation steps; ``steps = 0`` is the
        zero-step run, the base policy sent through the evaluation (it must land on the
        frontier's base point).
    model, n_prompts, temperature, max_new_tokens, max_document_words, model_seed,
    scoring_version : the base policy, prompts and scoring — copied from the task's
        frontier config, so ``π0`` is the frontier's.
    samples_per_step : completions sampled per step (GRPO: ``groups × group_size``).
    group_size : GRPO's completions per prompt.
    epochs, minibatches : passes over each batch and optimiser steps per pass.
    micro_batch_size : rows per forward/backward pass (memory: the log-probs are ``(B, T, V)``).
    trainable_blocks : the last blocks that train (:func:`~alignlimits.lm.models.last_blocks`).
    max_grad_norm : gradient clipping.
    eval_samples : evaluation completions per prompt; ``eval_seed`` seeds them (the same
        for every run, so runs are compared on common random numbers).
    checkpoint_every : steps between checkpoints.
    metrics_every : the exact per-position KL and entropy of the training samples are logged every
        this many steps (and at the last); the other steps log the sampled-token estimators.
    path_evals : training steps (each in ``1..steps-1``, increasing) after which the policy is
        also evaluated, on ``path_eval_samples`` completions per prompt with the same seed as
        the final evaluation: the run's trajectory on the KL–reward plane, measured.
    distill_samples, best_of : distillation only — base samples per prompt in its one sampling
        pass (shared by the runs that differ only in ``β`` or ``best_of``), and None (weights
        ``softmax(r/β)``) or ``N`` (fine-tune on the best of each group of ``N``). Its
        ``samples_per_step`` is the rows per fine-tuning step.
    reward_signal : ``"task"`` trains on the task's reward; ``"shuffled"`` is a control that
        trains on the same rewards permuted at random across each step's completions (GRPO:
        within each group), so they carry no information about the text
        (:func:`shuffled_rewards`, :func:`control_configs`). The evaluation always uses the
        task's reward.
    """

    task: str
    tier: str
    method: str
    kl_coef: float
    seed: int
    lr: float
    steps: int
    model: str
    n_prompts: int
    temperature: float
    max_new_tokens: int
    max_document_words: int | None
    model_seed: int
    scoring_version: int
    samples_per_step: int = 16
    group_size: int = 4
    epochs: int = 1
    minibatches: int = 1
    micro_batch_size: int = 4
    trainable_blocks: int = 2
    max_grad_norm: float = 1.0
    eval_samples: int = 2
    eval_seed: int = 31337
    checkpoint_every: int = 2
    reward_signal: str = "task"
    kl_in: str | None = None
    metrics_every: int = 1
    path_evals: tuple[int, ...] = ()
    path_eval_samples: int = 4
    distill_samples: int = 64
    best_of: int | None = None

    def __post_init__(self) -> None:
        # A config read back from JSON has a list here; the frozen dataclass keeps a tuple.
        object.__setattr__(self, "path_evals", tuple(int(s) for s in self.path_evals))
        if self.kl_in not in (None, *KL_PLACEMENTS):
            raise ValueError(f"kl_in must be one of {KL_PLACEMENTS} or None; got {self.kl_in!r}.")
        if self.method == "ppo" and self.kl_in == "loss":
            raise ValueError("PPO's KL penalty is in the reward (kl_in='reward' or None); kl_in='loss' is GRPO's.")
        if not isinstance(self.steps, int) or self.steps < 0:
            raise ValueError(f"steps must be a non-negative integer (0: the zero-step run); got {self.steps!r}.")
        if list(self.path_evals) != sorted(set(self.path_evals)) or any(
            not 1 <= s < self.steps for s in self.path_evals
        ):
            raise ValueError(
                f"path_evals must be increasing steps in 1..{self.steps - 1} (the final evaluation comes anyway); "
                f"got {list(self.path_evals)}."
            )
        if self.reward_signal not in REWARD_SIGNALS:
            raise ValueError(f"reward_signal must be one of {REWARD_SIGNALS}; got {self.reward_signal!r}.")
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}; got {self.task!r}.")
        if self.tier not in TIERS:
            raise ValueError(f"tier must be one of {TIERS}; got {self.tier!r}.")
        if self.method not in RUN_METHODS:
            raise ValueError(f"method must be one of {RUN_METHODS}; got {self.method!r}.")
        if self.method != "distill" and (self.best_of is not None or self.distill_samples != 64):
            raise ValueError("best_of and distill_samples are distillation's; leave them at their defaults.")
        if self.method == "distill" and self.kl_in is not None:
            raise ValueError("distillation has no KL penalty to place (kl_coef is its β); leave kl_in None.")
        if self.best_of is not None and not (isinstance(self.best_of, int) and self.best_of <= self.distill_samples):
            raise ValueError(f"best_of must be None or an integer in 1..distill_samples; got {self.best_of!r}.")
        if not (np.isfinite(self.kl_coef) and self.kl_coef > 0):
            raise ValueError(f"kl_coef must be a finite number > 0; got {self.kl_coef!r}.")
        if not (np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0 (give lr= for a method the first sweep did not tune); "
                             f"got {self.lr!r}.")  # fmt: skip
        for name in ("samples_per_step", "group_size", "epochs", "minibatches", "micro_batch_size",
                     "trainable_blocks", "eval_samples", "checkpoint_every", "metrics_every",
                     "path_eval_samples", "distill_samples"):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        if self.method == "grpo" and self.samples_per_step % self.group_size:
            raise ValueError(
                f"samples_per_step={self.samples_per_step} must be a multiple of group_size={self.group_size}."
            )
        per_minibatch, rest = divmod(self.samples_per_step, self.minibatches)
        if rest or per_minibatch % self.micro_batch_size:
            raise ValueError(
                f"samples_per_step={self.samples_per_step} must split into {self.minibatches} minibatches of "
                f"micro-batches of {self.micro_batch_size} rows."
            )

    @property
    def placement(self) -> str:
        """Where the KL penalty goes: ``"reward"`` or ``"loss"`` (:attr:`kl_in`, or the method's first choice).

        Distillation counts as ``"reward"``: like the penalty in the reward, it targets ``π_β``.
        """
        return self.kl_in or ("loss" if self.method == "grpo" else "reward")

    def as_dict(self) -> dict[str, Any]:
        """Every field, except those added after the first runs while at their defaults.

        Leaving them out keeps the first runs' keys, and keeps results files readable by code
        from before them (``path_evals`` as a list, as JSON has it).
        """
        fields = dataclasses.asdict(self)
        for name, default in _LATER_FIELDS.items():
            if fields[name] == default:
                del fields[name]
        if "path_evals" in fields:
            fields["path_evals"] = list(fields["path_evals"])
        return fields

    def key(self) -> str:
        """A short hash of :meth:`as_dict`: runs with the same key produce the same numbers."""
        text = json.dumps(self.as_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


#: The sweep of the full tier: KL coefficients per method (PPO: β of the penalty in the reward, on the
#: scale of the rewards; GRPO: β of the k3 loss term, on the scale of the group-normalised advantages)
#: and seeds.
SWEEP_KL_COEFS: dict[str, tuple[float, ...]] = {"ppo": (0.01, 0.03, 0.1), "grpo": (0.01, 0.04, 0.16)}
SWEEP_SEEDS: tuple[int, ...] = (1, 2)
#: The learning rate of each task and method (default and full tiers): what
#: :func:`alignlimits.experiments.tuning.tuned_lr` picks from the committed tuning runs
#: (a test checks that they agree). A constant, so that building a config reads no file.
SWEEP_LRS: dict[str, dict[str, float]] = {
    "safety": {"ppo": 1e-4, "grpo": 1e-4},
    "summarization": {"ppo": 1e-4, "grpo": 3e-4},
}


def run_config(
    task: str, method: str, kl_coef: float, seed: int, tier: str | None = None, **overrides: Any
) -> LMRunConfig:
    """The config of one run of ``method`` on ``task`` at ``tier`` (``ALIGNLIMITS_TIER`` when None).

    A value, built from the task's frontier config and the tier's sizes; no file is read.
    """
    tier = current_tier() if tier is None else tier
    _check_methods([method], RUN_METHODS)
    fr = frontier_config(task, tier)
    base: dict[str, Any] = {
        "task": task,
        "tier": tier,
        "method": method,
        "kl_coef": float(kl_coef),
        "seed": int(seed),
        # The first sweep's tuned rates; other methods and studies pass their own.
        "lr": 1e-3 if tier == "smoke" else SWEEP_LRS[task].get(method, math.nan),
        "steps": by_tier(smoke=2, default=4, full=12, tier=tier),
        "model": fr.model,
        "n_prompts": fr.n_prompts,
        "temperature": fr.temperature,
        "max_new_tokens": fr.max_new_tokens,
        "max_document_words": fr.max_document_words,
        "model_seed": fr.seed,
        "scoring_version": fr.scoring_version,
        "samples_per_step": by_tier(smoke=4, default=16, full=16, tier=tier),
        "group_size": by_tier(smoke=2, default=4, full=4, tier=tier),
        "micro_batch_size": by_tier(smoke=2, default=4, full=4, tier=tier),
        "trainable_blocks": by_tier(smoke=1, default=2, full=2, tier=tier),
        "epochs": 2 if method == "ppo" else 1,
        "minibatches": 2 if method == "ppo" else 1,
        "checkpoint_every": by_tier(smoke=1, default=2, full=2, tier=tier),
    }
    base.update(overrides)
    return LMRunConfig(**base)


def _check_methods(methods: Sequence[str], known: Sequence[str] = METHODS) -> None:
    unknown = sorted(set(methods) - set(known))
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {tuple(known)}.")


def sweep_configs(
    task: str,
    tier: str | None = None,
    *,
    methods: Sequence[str] = METHODS,
    kl_coefs: Sequence[float] | None = None,
    seeds: Sequence[int] = SWEEP_SEEDS,
    **overrides: Any,
) -> list[LMRunConfig]:
    """The sweep's runs, seed-major (an interrupted sweep already covers every method and β).

    ``kl_coefs`` (one list for every method) defaults to each method's :data:`SWEEP_KL_COEFS`.
    """
    _check_methods(methods)
    return [
        run_config(task, method, beta, seed, tier, **overrides)
        for seed in seeds
        for method in methods
        for beta in (kl_coefs if kl_coefs is not None else SWEEP_KL_COEFS[method])
    ]


def control_configs(
    task: str, tier: str | None = None, *, methods: Sequence[str] = METHODS, **overrides: Any
) -> list[LMRunConfig]:
    """The shuffled-reward controls of ``task``: each method at its largest sweep β on the first sweep
    seed, trained on permuted rewards (``reward_signal="shuffled"``).

    Paired with the sweep's run of the same method, β and seed (same prompts, same first
    samples), a control shows how much KL the updates spend with no reward signal at all.
    """
    _check_methods(methods)
    return [
        run_config(task, method, max(SWEEP_KL_COEFS[method]), SWEEP_SEEDS[0], tier, reward_signal="shuffled",
                   **overrides)
        for method in methods
    ]


# ---------------------------------------------------------------------------- building a run


class TaskScorer:
    """Reward and judge of a rollout's completions (decoded with ``tokenizer``).

    Parameters
    ----------
    task : the task's name (:func:`alignlimits.tasks.get_task`).
    inputs : the task's :class:`~alignlimits.tasks.base.TaskInputs` (indexed by the rollout's prompt index).
    tokenizer : decodes the completions.

    Nothing is cached between calls: the reward and the judge are separate computations.
    """

    def __init__(self, task: str, inputs: TaskInputs, tokenizer: Any) -> None:
        self.task, self.inputs, self.tokenizer = get_task(task), inputs, tokenizer

    def texts(self, rollout: Rollout) -> list[str]:
        return rollout.context.texts(self.tokenizer)

    def _inputs(self, rollout: Rollout) -> tuple[list[str], list[str], list[str]]:
        owner = rollout.prompt_index.tolist()
        return (
            [self.inputs.requests[i] for i in owner],
            [self.inputs.references[i] for i in owner],
            self.texts(rollout),
        )

    def reward(self, rollout: Rollout) -> torch.Tensor:
        """The task's reward, float64 ``(B,)``."""
        return torch.as_tensor(np.asarray(self.task.reward(*self._inputs(rollout)), np.float64))

    def judge(self, rollout: Rollout) -> torch.Tensor:
        """The held-out judge, float64 ``(B,)``."""
        return torch.as_tensor(np.asarray(self.task.judge(*self._inputs(rollout)), np.float64))


def shuffled_rewards(
    reward_fn: Callable[[Rollout], torch.Tensor], seed: int, *, within_prompt: bool = False
) -> Callable[[Rollout], torch.Tensor]:
    """``reward_fn`` with its values permuted at random across each rollout's completions.

    The control of the noise hypothesis: the same rewards, so the same mean and spread, but
    no information about which completion earned which. ``within_prompt=True`` permutes only
    among the completions of the same prompt (GRPO's groups), so every group keeps its own
    rewards — the same advantages, ties and zero-variance groups — in a random order. The
    permutation is seeded by ``seed`` and the rollout's tokens, so a resumed run draws the
    same permutations as an uninterrupted one.
    """

    def reward(rollout: Rollout) -> torch.Tensor:
        values = reward_fn(rollout)
        digest = hashlib.sha256(rollout.completion_ids.numpy().tobytes()).digest()
        rng = np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])
        if not within_prompt:
            return values[torch.as_tensor(rng.permutation(len(values)))]
        order = np.arange(len(values))
        prompts = rollout.prompt_index.numpy()
        for p in np.unique(prompts):
            rows = np.flatnonzero(prompts == p)
            order[rows] = rng.permutation(rows)
        return values[torch.as_tensor(order)]

    return reward


def build(
    config: LMRunConfig, *, device: str | None = None, bf16: bool = False
) -> tuple[CausalLMPolicy, CausalLMPolicy, grpo.GRPO | ppo.PPO | distill.Distill, TaskScorer]:
    """``(policy, reference, algorithm, scorer)`` of a run, the policy equal to the base model, on ``device``
    (default: CUDA when present); ``bf16``: forward passes under bfloat16 autocast (CUDA only)."""
    from alignlimits.lm.chat import chat_prompts
    from alignlimits.lm.models import last_blocks, load_model

    model, tokenizer = load_model(config.model, device=device, seed=config.model_seed, progress=False)
    if bf16 and next(model.parameters()).device.type != "cuda":
        raise ValueError("bf16 autocast is for a CUDA device; on the CPU run in float32 (drop --bf16).")
    inputs = get_task(config.task).inputs(config.n_prompts, max_document_words=config.max_document_words)
    policy = CausalLMPolicy(
        model,
        chat_prompts(tokenizer, inputs.requests),
        temperature=config.temperature,
        max_new_tokens=config.max_new_tokens,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        value_head=config.method == "ppo",
        trainable=last_blocks(model, config.trainable_blocks),
        autocast_dtype=torch.bfloat16 if bf16 else None,
    )
    reference = policy.frozen_copy()
    scorer = TaskScorer(config.task, inputs, tokenizer)
    reward_fn = scorer.reward
    if config.reward_signal == "shuffled":  # GRPO's groups keep their own rewards (see shuffled_rewards)
        reward_fn = shuffled_rewards(scorer.reward, config.seed, within_prompt=config.method == "grpo")
    micro = config.samples_per_step // config.minibatches // config.micro_batch_size
    shared = dict(
        steps=max(config.steps, 1),  # a zero-step run builds the algorithm and never steps it
        metrics_every=config.metrics_every,
        lr=config.lr,
        epochs=config.epochs,
        minibatches=config.minibatches,
        micro_batches=micro,
        max_grad_norm=config.max_grad_norm,
        seed=config.seed,
    )
    if config.method == "distill":
        cfg_d = distill.DistillConfig(
            beta=config.kl_coef, best_of=config.best_of, samples_per_prompt=config.distill_samples,
            batch_size=config.samples_per_step, **shared,
        )  # fmt: skip
        return policy, reference, distill.Distill(policy, reward_fn, cfg_d), scorer
    if config.method == "ppo":
        # GAE λ = 1: the advantage is the return minus V, unbiased whatever V is. With λ < 1 and a
        # value head that is still near zero after a few dozen Adam steps, the first token of a
        # 48-token answer would get only λ^47 of the score.
        cfg = ppo.PPOConfig(batch_size=config.samples_per_step, kl_reward_coef=config.kl_coef, lam=1.0, **shared)
        algorithm: grpo.GRPO | ppo.PPO = ppo.PPO(policy, reference, reward_fn, cfg, judge_fn=scorer.judge)
    else:
        in_loss = config.placement == "loss"
        cfg_g = grpo.GRPOConfig(
            groups=config.samples_per_step // config.group_size,
            group_size=config.group_size,
            kl_loss_coef=config.kl_coef if in_loss else 0.0,
            kl_reward_coef=0.0 if in_loss else config.kl_coef,
            kl_estimator="k3",
            kl_level="token",
            scale_rewards=True,
            loss_aggregation="sequence_mean",
            **shared,
        )
        algorithm = grpo.GRPO(policy, reference, reward_fn, cfg_g, judge_fn=scorer.judge)
    return policy, reference, algorithm, scorer


# ---------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(
    policy: CausalLMPolicy,
    reference: CausalLMPolicy,
    scorer: TaskScorer,
    *,
    samples_per_prompt: int,
    seed: int,
    batch_size: int = 32,
    micro_batch_size: int = 4,
    progress: bool = False,
) -> dict[str, Any]:
    r"""Sample ``samples_per_prompt`` completions of every prompt from ``policy`` and score them.

    Returns per-sample lists (see the module docstring): reward, judge, the exact sequence
    KL ``Σ_t KL(π(·|y_{<t})‖π_ref(·|y_{<t}))`` along each sample, k1 ``Σ_t (ℓ_t − ℓ_ref,t)``
    and k3, the length, and a few example completions.
    """
    from tqdm.auto import tqdm

    index = torch.arange(policy.num_prompts).repeat_interleave(samples_per_prompt)
    shared = policy.shares_trunk_with(reference)
    out: dict[str, list] = {k: [] for k in ("prompt_index", "reward", "judge", "kl_exact", "kl_k1", "kl_k3", "length")}
    texts: list[str] = []
    chunks = list(index.split(batch_size))
    for c, rows in enumerate(tqdm(chunks, desc="evaluate", disable=not progress)):
        rollout = policy.rollout(rows, seed=seed + c, capture_trunk=shared)
        reward, judge = scorer.reward(rollout).numpy(), scorer.judge(rollout).numpy()
        texts += scorer.texts(rollout)
        for micro in torch.arange(len(rollout)).split(micro_batch_size):
            sub = rollout.select(micro)
            trunk = policy.trunk(sub) if shared else None  # the frozen blocks once, for both models
            p_out, q_out = policy(sub, trunk), reference(sub, trunk)
            lp, lq = token_logprobs(p_out.logprobs, sub).cpu(), token_logprobs(q_out.logprobs, sub).cpu()
            exact, _ = exact_kl_and_entropy(p_out.logprobs, q_out.logprobs)  # float64 sums, chunked
            out["kl_exact"] += sequence_kl.masked_sum(exact, sub.mask).tolist()
            out["kl_k1"] += sequence_kl.k1_per_sequence(lp, lq, sub.mask).tolist()
            out["kl_k3"] += sequence_kl.k3_per_sequence(lp, lq, sub.mask).tolist()
        out["prompt_index"] += rows.tolist()
        out["reward"] += reward.tolist()
        out["judge"] += judge.tolist()
        out["length"] += rollout.lengths.tolist()
    reward = np.asarray(out["reward"])
    best, worst = int(np.argmax(reward)), int(np.argmin(reward))
    out["examples"] = [
        {"prompt_index": out["prompt_index"][i], "text": texts[i], "reward": out["reward"][i], "judge": out["judge"][i]}
        for i in dict.fromkeys([best, worst, *range(min(_N_EXAMPLES - 2, len(texts)))])
    ]
    return out


# ---------------------------------------------------------------------------- runs


def run_folder(config: LMRunConfig, work_dir: str | Path | None = None) -> Path:
    """The work folder of a run: ``<work_dir>/rl-<task>-<tier>-<method>-<key>/`` (checkpoints, ``run.json``)."""
    return storage.run_folder(f"rl-{config.task}-{config.tier}-{config.method}-{config.key()}", work_dir)


def run(
    config: LMRunConfig,
    *,
    work_dir: str | Path | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    device: str | None = None,
    bf16: bool = False,
) -> dict[str, Any] | None:
    """Train (or resume) one run and evaluate it; returns the run's results entry.

    ``stop_after`` ends the call after that many *new* training steps and returns None
    (an interruption: the next call resumes from the checkpoint). ``device``: where it trains
    (default: CUDA when present; not part of the config, recorded in the provenance).
    """
    folder = run_folder(config, work_dir)
    finished = folder / "run.json"
    if finished.is_file():
        return json.loads(finished.read_text())
    provenance.require_clean_tree(config.tier)  # before any training: a full-tier run must be reproducible
    with storage.hold_run(folder):  # raises RunInProgressError if another process trains this run
        if finished.is_file():  # finished by another process between the first check and the lock
            return json.loads(finished.read_text())
        return _train_and_evaluate(config, folder, progress=progress, stop_after=stop_after, device=device, bf16=bf16)


def _train_and_evaluate(
    config: LMRunConfig,
    folder: Path,
    *,
    progress: bool,
    stop_after: int | None,
    device: str | None = None,
    bf16: bool = False,
) -> dict[str, Any] | None:
    finished = folder / "run.json"
    (folder / "config.json").write_text(json.dumps(config.as_dict(), indent=1))
    torch.manual_seed(config.seed)
    policy, reference, algorithm, scorer = build(config, device=device, bf16=bf16)
    sessions_file = folder / "sessions.json"
    sessions = json.loads(sessions_file.read_text()) if sessions_file.is_file() else []
    if os.getpid() not in sessions:
        sessions.append(os.getpid())
        storage.write_json_atomic(sessions_file, sessions)
    clock = [time.perf_counter()]

    def timed(_step: int, metrics: dict[str, float]) -> None:
        now = time.perf_counter()
        metrics["seconds"] = now - clock[0]  # saved with the step in the checkpoint's history
        clock[0] = now

    if isinstance(algorithm, distill.Distill) and not (folder / "checkpoint.pt").is_file():
        chunks, rewards, seconds = _distill_pass(config, folder.parent, algorithm)
        algorithm.use_samples(chunks, rewards)
        storage.write_json_atomic(folder / "pass.json", {"sampling_time_s": seconds})
    history, path = _train_along_path(config, folder, algorithm, (policy, reference, scorer), timed,
                                      progress=progress, stop_after=stop_after)  # fmt: skip
    if history is None:
        return None
    began = time.perf_counter()
    evaluation = evaluate(
        policy,
        reference,
        scorer,
        samples_per_prompt=config.eval_samples,
        seed=config.eval_seed,
        micro_batch_size=config.micro_batch_size,
        progress=progress,
    )
    eval_time = time.perf_counter() - began
    train_time = float(sum(h["seconds"] for h in history))
    pass_file = folder / "pass.json"  # distillation: the one sampling pass (shared, counted in every run using it)
    sampling_time = json.loads(pass_file.read_text())["sampling_time_s"] if pass_file.is_file() else 0.0
    eval_time += float(sum(p["seconds"] for p in path))
    result = {
        "config": config.as_dict(),
        "algorithm": dataclasses.asdict(algorithm.config),  # every hyper-parameter the algorithm ran with
        "history": history,
        "eval": evaluation,
        **({"path": path} if config.path_evals else {}),
        "provenance": {
            **provenance.environment(next(policy.parameters()).device),
            "weights": provenance.weights(config.model),
            "assets": provenance.task_assets(config.task),
            "autocast": "bfloat16" if bf16 else None,
            "wall_time_s": train_time + eval_time + sampling_time,
            **({"sampling_time_s": sampling_time} if config.method == "distill" else {}),
            "train_time_s": train_time,
            "eval_time_s": eval_time,
            "sessions": len(sessions),
            "samples_trained": config.steps * config.samples_per_step,
            "samples_drawn": config.n_prompts * (
                config.distill_samples if config.method == "distill" else config.steps * config.samples_per_step
            ),
        },
    }
    _validate_run(result, "run")
    # Keep the trained parameters (megabytes) to re-evaluate or inspect the policy without retraining. They are
    # written atomically and *before* run.json, the mark of a finished run that every rerun returns at once: a
    # process killed (kill -9) between or inside these writes leaves no run.json, and the rerun finishes the run
    # from its last checkpoint. Written after run.json, a kill there left a finished run without final.pt, or
    # with half of one, for good.
    tmp = folder / "final.pt.tmp"
    torch.save(trainable_state(policy), tmp)
    os.replace(tmp, folder / "final.pt")
    storage.write_json_atomic(finished, result)
    (folder / "checkpoint.pt").unlink(missing_ok=True)
    return result


def _distill_pass(
    config: LMRunConfig, work_dir: Path, algorithm: distill.Distill
) -> tuple[list[Rollout], Any, float]:
    """The base samples of a distillation run and their rewards, drawn once and shared by the runs that
    differ only in ``β``, ``best_of`` or their fine-tuning settings (saved next to their work folders)."""
    fields = ("task", "tier", "model", "n_prompts", "temperature", "max_new_tokens", "max_document_words",
              "model_seed", "scoring_version", "distill_samples", "seed", "reward_signal")  # fmt: skip
    key = hashlib.sha256(json.dumps({f: getattr(config, f) for f in fields}, sort_keys=True).encode()).hexdigest()
    target = storage.run_folder(f"distill-pass-{config.task}-{config.tier}-{key[:12]}", work_dir) / "pass.pt"
    with storage.locked(target, timeout=24 * 3600):  # another run may be drawing the same pass: wait for it
        if not target.is_file():
            began = time.perf_counter()
            algorithm.collect()
            saved = {"chunks": algorithm.chunks, "rewards": algorithm.rewards, "seconds": time.perf_counter() - began}
            tmp = target.with_name("pass.pt.tmp")
            torch.save(saved, tmp)
            os.replace(tmp, target)
        saved = torch.load(target, weights_only=False)
    return saved["chunks"], saved["rewards"], float(saved["seconds"])


def _train_along_path(
    config: LMRunConfig,
    folder: Path,
    algorithm: grpo.GRPO | ppo.PPO,
    models: tuple[CausalLMPolicy, CausalLMPolicy, TaskScorer],
    callback: Callable[[int, dict[str, float]], None],
    *,
    progress: bool,
    stop_after: int | None,
) -> tuple[list[dict[str, float]] | None, list[dict[str, Any]]]:
    """Train to ``config.steps``, stopping at each of ``config.path_evals`` to evaluate the policy there.

    Returns ``(history, path)``, or ``(None, path)`` when ``stop_after`` new steps ran out first.
    The path evaluations are saved in ``path.json`` as they finish, and training stops (and
    checkpoints) exactly at each path step, so an interruption anywhere resumes with the
    policy each evaluation needs.
    """
    if config.steps == 0:
        return [], []
    checkpoint, path_file = folder / "checkpoint.pt", folder / "path.json"
    path: list[dict[str, Any]] = json.loads(path_file.read_text()) if path_file.is_file() else []
    history = train(algorithm, checkpoint=checkpoint, stop_after=0, progress=False)  # restores a checkpoint
    budget = stop_after
    for target in (*config.path_evals, config.steps):
        if len(history) < target:
            new = target - len(history) if budget is None else min(target - len(history), budget)
            before = len(history)
            history = train(algorithm, checkpoint=checkpoint, checkpoint_every=config.checkpoint_every,
                            stop_after=new, progress=progress, callback=callback)  # fmt: skip
            if budget is not None:
                budget -= len(history) - before
            if len(history) < target:
                return None, path
        if target < config.steps and target not in {p["step"] for p in path}:
            began = time.perf_counter()
            evaluation = evaluate(*models, samples_per_prompt=config.path_eval_samples, seed=config.eval_seed,
                                  micro_batch_size=config.micro_batch_size, progress=progress)  # fmt: skip
            path.append({"step": target, "seconds": time.perf_counter() - began, "eval": evaluation})
            storage.write_json_atomic(path_file, path)
    return history, path


# ---------------------------------------------------------------------------- results files


def _fail(where: str, what: str) -> None:
    raise ValueError(f"invalid RL results: {where}: {what}")


def _validate_run(entry: dict[str, Any], where: str) -> None:
    for key in ("config", "history", "eval", "provenance"):
        if key not in entry:
            _fail(where, f"missing {key!r}")
    try:
        config = LMRunConfig(**entry["config"])
    except (TypeError, ValueError) as err:
        _fail(where, f"bad config ({err})")
    if len(entry["history"]) != config.steps:
        _fail(where, f"history has {len(entry['history'])} steps, the config {config.steps}")
    for k, h in enumerate(entry["history"]):
        if not all(np.isfinite(v) for v in h.values()):
            _fail(where, f"step {k} has a non-finite metric")
    _validate_eval(entry["eval"], config.n_prompts * config.eval_samples, config, f"{where}: eval")
    steps = [p.get("step") for p in entry.get("path", [])]
    if steps != list(config.path_evals):
        _fail(where, f"path evaluated at steps {steps}, the config asks for {list(config.path_evals)}")
    for p in entry.get("path", []):
        _validate_eval(p["eval"], config.n_prompts * config.path_eval_samples, config, f"{where}: path[{p['step']}]")
    for key in ("git_sha", "date", "hardware", "versions", "wall_time_s", "samples_trained"):
        if key not in entry["provenance"]:
            _fail(where, f"provenance lacks {key!r}")


def _validate_eval(ev: dict[str, Any], size: int, config: LMRunConfig, where: str) -> None:
    for name in ("prompt_index", "reward", "judge", "kl_exact", "kl_k1", "kl_k3", "length"):
        values = np.asarray(ev.get(name, []), dtype=np.float64)
        if values.shape != (size,):
            _fail(where, f"{name!r} must hold {size} values; got shape {values.shape}")
        if not np.isfinite(values).all():
            _fail(where, f"{name!r} has a non-finite value")
    if np.min(ev["kl_exact"]) < -1e-9:
        _fail(where, "an exact per-position KL is negative")
    if np.min(ev["length"]) < 1 or np.max(ev["length"]) > config.max_new_tokens:
        _fail(where, f"lengths must lie in 1..{config.max_new_tokens}")


def validate_runs(results: dict[str, Any]) -> dict[str, Any]:
    """Check an RL results dict against the schema (module docstring); returns it, or raises ValueError."""
    storage.check_header(results, SCHEMA, SCHEMA_VERSION)
    if results.get("task") not in TASKS or results.get("tier") not in TIERS:
        _fail("header", "unknown task or tier")
    runs = results.get("runs")
    if not isinstance(runs, list) or not runs:
        _fail("runs", "must be a non-empty list")
    keys = []
    for i, entry in enumerate(runs):
        _validate_run(entry, f"runs[{i}]")
        cfg = entry["config"]
        if (cfg["task"], cfg["tier"]) != (results["task"], results["tier"]):
            _fail(f"runs[{i}]", "task or tier differs from the file's")
        keys.append(LMRunConfig(**cfg).key())
    if len(set(keys)) != len(keys):
        _fail("runs", "the same config appears twice")
    return results


def runs_path(task: str, tier: str = "full", variant: str | None = None) -> Path:
    """The package's RL results file of ``task`` at ``tier``: the sweep, or a ``variant`` of :data:`VARIANTS`.

    Examples
    --------
    >>> runs_path("safety").name, runs_path("safety", variant="control").name
    ('rl-safety-full.json', 'rl-safety-full-control.json')
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}; got {variant!r}.")
    return storage.results_path("rl", task, tier, variant)


def save_runs(task: str, tier: str, runs: Sequence[dict[str, Any]], path: str | Path | None = None) -> Path:
    """Validate and write the results file of ``runs`` (sorted by method, β, seed) atomically.

    It replaces the file; :func:`sweep` adds runs under a lock instead, keeping what other
    processes saved meanwhile.
    """
    ordered = sorted(runs, key=lambda e: (e["config"]["method"], e["config"]["kl_coef"], e["config"]["seed"],
                                          e["config"]["lr"]))  # fmt: skip
    results = validate_runs(
        {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "task": task, "tier": tier, "runs": ordered}
    )
    return storage.write_json_atomic(Path(path) if path is not None else runs_path(task, tier), results)


def load_runs(
    task: str, tier: str = "full", variant: str | None = None, *, path: str | Path | None = None
) -> dict[str, Any]:
    """Read and validate an RL results file (the package's ``variant`` of ``task`` at ``tier``, or ``path``)."""
    target = Path(path) if path is not None else runs_path(task, tier, variant)
    flag = {None: "", "control": " --control", "tuning": " --tune", "pilot": " --pilot", "study": " --study"}[variant]
    command = f"python -m alignlimits.experiments rl{flag} --task {task} --tier {tier}"
    return validate_runs(storage.read_results(target, SCHEMA, SCHEMA_VERSION, produce_with=command))


def sweep(
    configs: Sequence[LMRunConfig],
    *,
    work_dir: str | Path | None = None,
    output: str | Path | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    device: str | None = None,
    bf16: bool = False,
) -> list[dict[str, Any]]:
    """Run (or resume) every config in order, rewriting the results file after each finished run.

    All configs must share one task and tier. Runs already in the results file (same
    config) are kept and not re-run; runs another process is training are skipped (see
    *Parallel workers* in the module docstring). ``stop_after`` limits the *new training steps* of
    the whole call (the sweep then stops; run it again to continue).
    """
    if not configs:
        raise ValueError("no runs to sweep; give at least one method, KL coefficient and seed.")
    task, tier = configs[0].task, configs[0].tier
    if any((c.task, c.tier) != (task, tier) for c in configs):
        raise ValueError("every config of a sweep must have the same task and tier.")
    target = Path(output) if output is not None else runs_path(task, tier)
    done = _saved_runs(task, tier, target)
    busy: list[LMRunConfig] = []
    budget = stop_after
    for config in configs:
        if config.key() not in done:
            done.update(_saved_runs(task, tier, target))  # another worker may have saved it meanwhile
        if config.key() in done:
            continue
        before = _steps_done(config, work_dir) if budget is not None else 0
        try:
            entry = run(config, work_dir=work_dir, progress=progress, stop_after=budget, device=device, bf16=bf16)
        except storage.RunInProgressError:  # another worker has it (checked again at the end)
            busy.append(config)
            continue
        if entry is None:  # the budget ran out inside this run
            break
        done.update(_merge_into_results(task, tier, entry, target))
        if budget is not None:
            budget -= config.steps - before
            if budget <= 0:
                break
    for config in busy:  # finished meanwhile by another process, which may have saved it elsewhere
        finished = run_folder(config, work_dir) / "run.json"
        if config.key() not in done and finished.is_file():
            done.update(_merge_into_results(task, tier, json.loads(finished.read_text()), target))
    return list(done.values())


def step_prompts(entry: dict[str, Any], step: int) -> NDArray[np.int64]:
    """The prompt index of each rollout of training step ``step`` of a saved run (0-based).

    Recomputed from the run's seed exactly as the algorithm drew it, so a step's logged
    reward can be compared with the base policy's on the *same* prompts.
    """
    if entry["config"]["method"] == "distill":
        raise ValueError("a distillation step draws rows of its sampling pass, not prompts; see rl.distill.")
    algorithm = entry["algorithm"]
    rng = step_rng(algorithm["seed"], step)
    n_prompts = entry["config"]["n_prompts"]
    if entry["config"]["method"] == "ppo":
        return ppo.draw_prompts(rng, ppo.PPOConfig.from_dict(algorithm), n_prompts).numpy()
    return grpo.draw_prompts(rng, grpo.GRPOConfig.from_dict(algorithm), n_prompts).numpy()


def committed_sweep(task: str, tier: str = "full", *, path: str | Path | None = None) -> list[dict[str, Any]]:
    """The saved runs of ``task``'s sweep as it is configured now (:func:`sweep_configs`).

    Runs of another configuration — say, from before the learning rate was re-tuned — are
    left out, so a chapter never mixes them in. Empty if no results file exists yet.
    """
    target = Path(path) if path is not None else runs_path(task, tier)
    planned = {c.key() for c in sweep_configs(task, tier)}
    return [r for r in _saved_runs(task, tier, target).values() if LMRunConfig(**r["config"]).key() in planned]


def _saved_runs(task: str, tier: str, target: Path) -> dict[str, dict[str, Any]]:
    if not target.is_file():
        return {}
    return {LMRunConfig(**e["config"]).key(): e for e in load_runs(task, tier, path=target)["runs"]}


def _merge_into_results(task: str, tier: str, entry: dict[str, Any], target: Path) -> dict[str, dict[str, Any]]:
    """Add ``entry`` to the results file, keeping every run already there; returns the file's runs."""
    # Read-merge-write under a lock: another sweep may have added runs since this one started.
    with storage.locked(target):
        runs = _saved_runs(task, tier, target)
        runs[LMRunConfig(**entry["config"]).key()] = entry
        save_runs(task, tier, list(runs.values()), target)
    return runs


def _steps_done(config: LMRunConfig, work_dir: str | Path | None) -> int:
    folder = run_folder(config, work_dir)
    if (folder / "run.json").is_file():
        return config.steps
    try:
        return int(torch.load(folder / "checkpoint.pt", weights_only=False)["step"])
    except FileNotFoundError:  # not started, or finished (and the checkpoint removed) by another process
        return config.steps if (folder / "run.json").is_file() else 0
