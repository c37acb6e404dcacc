r"""PPO and GRPO runs on the enumerable model, scored exactly against the frontier.

A run trains a :class:`~alignlimits.rl.policies.TabularPolicy` with a KL-in-reward
coefficient ``β`` and records the *exact* ``KL(π‖π0)``, reward and distance
``KL(π‖π_β)`` of the policy along the way (every ``record_every`` steps), next to what
the run itself logged from its samples. Methods:

* ``"ppo"`` — :class:`~alignlimits.rl.ppo.PPO`, KL penalty in the per-token reward;
* ``"grpo"`` — :class:`~alignlimits.rl.grpo.GRPO` with the GRPO paper's advantages
  (group-std normalised) and per-sequence-mean loss, KL in the reward;
* ``"dr_grpo"`` — GRPO without std normalisation and with the constant-length loss
  (Dr. GRPO), KL in the reward;
* ``"distill"`` — :class:`~alignlimits.rl.distill.Distill`: one pass of ``samples_per_prompt``
  base samples weighted by ``softmax(r/β)``, then supervised fine-tuning (``best_of=N``: on
  the best of each group of ``N`` instead). It lands on the weighted empirical law of its
  samples, :func:`distillation_target` — the exact prediction a run is checked against.

Any config field can be overridden (e.g. ``kl_reward_coef=0, kl_loss_coef=β,
kl_estimator="k3"`` for the GRPO paper's KL term in the loss).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from alignlimits import tilting
from alignlimits.lm import enumerable
from alignlimits.rl import distill, grpo, ppo
from alignlimits.rl.policies import TabularPolicy, sequence_reward
from alignlimits.rl.training import train

__all__ = ["METHODS", "RL_METHODS", "RunResult", "distillation_target", "make_run", "run"]

#: The reinforcement-learning methods, and every method a run can have (with distillation).
RL_METHODS = ("ppo", "grpo", "dr_grpo")
METHODS = (*RL_METHODS, "distill")


@dataclass
class RunResult:
    """One finished run.

    Attributes
    ----------
    method, beta, seed, lr, steps, samples : what was run (``samples`` = completions drawn; for
        distillation, the base samples of its one sampling pass).
    kl, reward : exact ``KL(π‖π0)`` and ``E_π[r]`` of the final policy.
    kl_to_optimum : exact ``KL(π‖π_β)``.
    fraction_of_limit : ``(E_π[r] − E_π0[r]) / Δ*(KL(π‖π0))``, the share of the best gain
        any policy gets at the same KL (``nan`` when the KL is 0).
    objective_gap : ``β·KL(π‖π_β)``, the shortfall in ``E[r] − β KL`` (Gibbs identity).
    trajectory : ``(steps recorded, exact KL, exact reward)`` arrays along the run.
    history : the per-step metrics the run logged from its own samples.
    seconds : wall time.
    """

    method: str
    beta: float
    seed: int
    lr: float
    steps: int
    samples: int
    kl: float
    reward: float
    kl_to_optimum: float
    fraction_of_limit: float
    objective_gap: float
    trajectory: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]
    history: list[dict[str, float]] = field(repr=False)
    seconds: float = 0.0


def make_run(
    method: str, base: enumerable.EnumerableLM, rewards: ArrayLike, beta: float, *, seed: int, **overrides: Any
) -> tuple[TabularPolicy, grpo.GRPO | ppo.PPO | distill.Distill]:
    """The policy and algorithm object of one run (defaults: 300 steps of 64 samples, lr 0.05 decayed to 5 %;
    distillation: 1024 base samples, then 1000 steps of 64 rows, lr 0.1 decayed to 5 %)."""
    r = np.asarray(rewards, dtype=np.float64)
    if not beta > 0:
        raise ValueError(f"beta must be > 0; got {beta!r}.")
    if method == "distill":
        policy = TabularPolicy(base)
        cfg_d: dict[str, Any] = dict(
            steps=1000, batch_size=64, lr=0.1, lr_final_fraction=0.05, samples_per_prompt=1024, beta=beta
        )
        cfg_d.update(overrides)
        return policy, distill.Distill(policy, sequence_reward(r), distill.DistillConfig(seed=seed, **cfg_d))
    if method == "ppo":
        policy = TabularPolicy(base, value_head=True)
        cfg: dict[str, Any] = dict(
            steps=300, batch_size=64, lr=0.05, lr_final_fraction=0.05, kl_reward_coef=beta, epochs=2, vf_coef=0.5
        )
        cfg.update(overrides)
        return policy, ppo.PPO(policy, policy.frozen_copy(), sequence_reward(r), ppo.PPOConfig(seed=seed, **cfg))
    variants = {
        "grpo": dict(scale_rewards=True, loss_aggregation="sequence_mean"),
        "dr_grpo": dict(scale_rewards=False, loss_aggregation="constant_length"),
    }
    if method not in variants:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}.")
    policy = TabularPolicy(base)
    cfg = dict(steps=300, groups=4, group_size=16, lr=0.05, lr_final_fraction=0.05, kl_reward_coef=beta)
    cfg.update(variants[method])
    cfg.update(overrides)
    return policy, grpo.GRPO(policy, policy.frozen_copy(), sequence_reward(r), grpo.GRPOConfig(seed=seed, **cfg))


def distillation_target(algorithm: distill.Distill, base: enumerable.EnumerableLM) -> enumerable.EnumerableLM:
    """The law a distillation run on the enumerable model converges to: its samples' weighted empirical law
    ``p̂(y) = Σ_i w_i 1[y_i = y]`` (the minimiser of its loss, reachable by the tabular policy)."""
    if not algorithm.chunks:
        raise ValueError("the run has not drawn its samples yet; call algorithm.collect() or train it first.")
    sequences = np.concatenate([np.asarray(c.context) for c in algorithm.chunks])
    mass = np.bincount(sequences, algorithm.weights, minlength=base.n_sequences)
    with np.errstate(divide="ignore"):  # sequences never drawn have mass 0
        return enumerable.EnumerableLM.from_sequence_logprobs(np.log(mass), base)


def run(
    method: str,
    base: enumerable.EnumerableLM,
    rewards: ArrayLike,
    beta: float,
    *,
    seed: int,
    record_every: int = 10,
    progress: bool = False,
    **overrides: Any,
) -> RunResult:
    """Train one run (see :func:`make_run`) and score it exactly."""
    r = np.asarray(rewards, dtype=np.float64)
    policy, algorithm = make_run(method, base, r, beta, seed=seed, **overrides)
    optimum = base.tilt(r, beta)
    base_reward = float(base.probs @ r)
    recorded: list[tuple[int, float, float]] = []

    def exact_point(step: int) -> None:
        current = policy.to_enumerable()
        recorded.append((step, enumerable.sequence_kl(current, base), float(current.probs @ r)))

    exact_point(0)
    start = time.perf_counter()
    history = train(
        algorithm,
        progress=progress,
        callback=lambda k, _m: exact_point(k + 1) if (k + 1) % record_every == 0 else None,
    )
    seconds = time.perf_counter() - start
    final = policy.to_enumerable()
    kl, reward = enumerable.sequence_kl(final, base), float(final.probs @ r)
    best = float(tilting.max_gain(base.probs, r, kl)) if kl > 0 else 0.0
    cfg = algorithm.config
    if method == "distill":
        samples = cfg.samples_per_prompt
    else:
        samples = cfg.steps * (cfg.batch_size if method == "ppo" else cfg.groups * cfg.group_size)
    steps, kls, rews = (np.array(x) for x in zip(*recorded, strict=True))
    return RunResult(
        method=method,
        beta=float(beta),
        seed=seed,
        lr=cfg.lr,
        steps=cfg.steps,
        samples=samples,
        kl=kl,
        reward=reward,
        kl_to_optimum=enumerable.sequence_kl(final, optimum),
        fraction_of_limit=(reward - base_reward) / best if best > 0 else float("nan"),
        objective_gap=float(beta) * enumerable.sequence_kl(final, optimum),
        trajectory=(steps.astype(np.int64), kls, rews),
        history=history,
        seconds=seconds,
    )
