"""Reinforcement learning from a reward, written by hand: GRPO and PPO (needs torch).

* :mod:`alignlimits.rl.policies` — the policies the algorithms train: a tabular policy on
  the enumerable model (exact everything) and an adapter for transformers causal LMs;
* :mod:`alignlimits.rl.common` — loss pieces (clipped surrogate, KL penalties, loss
  aggregation variants, whitening), per-step metrics through the one masked reducer,
  and the seeded, checkpointed, resumable run loop;
* :mod:`alignlimits.rl.grpo` — GRPO (group-relative advantages, KL in the loss);
* :mod:`alignlimits.rl.ppo` — PPO (value head, GAE, KL in the reward, fixed or adaptive).
* :mod:`alignlimits.rl.enumerable_runs` — runs on the enumerable model scored exactly
  against the frontier (the book's chapter *PPO and GRPO against the limit*).

Import the submodules explicitly.
"""

__all__: list[str] = []
