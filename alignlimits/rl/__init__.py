"""Reinforcement learning from a reward, written by hand: GRPO, PPO and distillation of π_β (needs torch).

One file per algorithm, the loop visible; hyper-parameters in one dataclass each:

* :mod:`alignlimits.rl.grpo` — GRPO (group-relative advantages, KL in the loss or in the reward);
* :mod:`alignlimits.rl.ppo` — PPO (value head, GAE, KL in the reward, fixed or adaptive);
* :mod:`alignlimits.rl.distill` — the cheap contender: one pass of base samples weighted by
  the tilt (or best-of-N winners), then supervised fine-tuning;
* :mod:`alignlimits.rl.losses` — the loss pieces both use: clipped surrogate, KL
  penalties, loss-aggregation variants, whitening;
* :mod:`alignlimits.rl.metrics` — what a step logs (reward, judge, exact and estimated KL);
* :mod:`alignlimits.rl.training` — the optimisation settings both share and the seeded,
  checkpointed, resumable training loop;
* :mod:`alignlimits.rl.policies` — the policies they train: a tabular policy on the
  enumerable model (exact everything) and an adapter for transformers causal LMs.

This subpackage holds algorithms only: runs on the book's tasks, with their files,
tiers and results, live in :mod:`alignlimits.experiments`. Import the submodules explicitly.
"""

__all__: list[str] = []
