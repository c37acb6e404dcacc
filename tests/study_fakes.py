"""Fabricated study runs that pass the results schema (for tests of the study chapter's machinery only).

They are written under a test's ``tmp_path``, never into ``alignlimits/results``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from alignlimits.experiments import rl_runs


def fake_eval(config: rl_runs.LMRunConfig, per_prompt: int, rng: np.random.Generator, *, shift: float,
              kl: float) -> dict[str, Any]:  # fmt: skip
    """An evaluation of ``config``'s prompts: rewards around ``shift``, exact KLs around ``kl``."""
    index = np.repeat(np.arange(config.n_prompts), per_prompt)
    size = index.size
    reward = rng.normal(size=size) * 0.05 + shift
    return {
        "prompt_index": index.tolist(),
        "reward": reward.tolist(),
        "judge": (reward * 0.5 + rng.normal(size=size) * 0.05).tolist(),
        "kl_exact": (np.abs(rng.normal(size=size)) * 0.1 + kl if kl > 0 else np.zeros(size)).tolist(),
        "kl_k1": rng.normal(size=size).tolist(),
        "kl_k3": np.abs(rng.normal(size=size)).tolist(),
        "length": rng.integers(1, config.max_new_tokens + 1, size=size).tolist(),
        "examples": [],
    }


def fake_study_run(config: rl_runs.LMRunConfig, rng: np.random.Generator, *, shift: float = 0.0,
                   kl: float = 0.5) -> dict[str, Any]:  # fmt: skip
    """A finished run of ``config``: final gain ``shift`` at KL about ``kl``, path evaluations on the way."""
    final = fake_eval(config, config.eval_samples, rng, shift=shift, kl=kl if config.steps else 0.0)
    path = [{"step": s, "seconds": 1.0,
             "eval": fake_eval(config, config.path_eval_samples, rng, shift=shift * s / config.steps,
                               kl=kl * s / config.steps)}
            for s in config.path_evals]  # fmt: skip
    history = [{"step": k, "reward": float(rng.normal()), "reward_se": 0.1, "kl_k1": 0.1, "kl_k3": 0.1}
               for k in range(config.steps)]  # fmt: skip
    return {
        "config": config.as_dict(),
        "algorithm": {},
        "history": history,
        "eval": final,
        "path": path,
        "provenance": {"git_sha": "0" * 40, "git_dirty": False, "date": "2025-01-01", "versions": {},
                       "hardware": {"device": "cpu", "torch_threads": 1}, "wall_time_s": 3600.0 + config.steps,
                       "train_time_s": 3000.0, "eval_time_s": 600.0,
                       "samples_trained": config.steps * config.samples_per_step,
                       "samples_drawn": config.steps * config.samples_per_step},
    }  # fmt: skip
