"""Learning-rate tuning of the RL sweep: the grid, the rule, and what the committed runs choose.

The tuning runs are ordinary RL runs (:mod:`alignlimits.experiments.rl_runs`) at each
method's middle KL coefficient, on a seed the sweep never uses, one evaluation sample per
prompt, for every rate of :data:`TUNING_LRS`; they are saved as the ``-tuning`` variant of
the task's results. :func:`tuned_lr` applies :func:`choose_lr` to them; the sweep's rates
(:data:`~alignlimits.experiments.rl_runs.SWEEP_LRS`) are constants that a test checks
against it, so building a run's config never reads a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from alignlimits.experiments.analysis import summarize_run
from alignlimits.experiments.frontier import load_frontier
from alignlimits.experiments.rl_runs import SWEEP_KL_COEFS, LMRunConfig, load_runs, run_config, runs_path

__all__ = ["TUNING_LRS", "TUNING_SEED", "choose_lr", "tuned_lr", "tuning_configs"]

#: The learning-rate grid, tried at each method's middle KL coefficient.
TUNING_LRS: tuple[float, ...] = (1e-4, 3e-4)
#: The tuning runs' seed, one the sweep never uses.
TUNING_SEED = 0


def tuning_configs(
    task: str, method: str, tier: str | None = None, lrs: Sequence[float] = TUNING_LRS, **overrides: Any
) -> list[LMRunConfig]:
    """The tuning runs of ``method`` on ``task``: one per learning rate, middle β, seed :data:`TUNING_SEED`."""
    coefs = SWEEP_KL_COEFS[method] if method in SWEEP_KL_COEFS else ()
    if not coefs:
        raise ValueError(f"unknown method {method!r}; choose from {tuple(SWEEP_KL_COEFS)}.")
    return [
        run_config(task, method, coefs[len(coefs) // 2], TUNING_SEED, tier, lr=float(lr), eval_samples=1, **overrides)
        for lr in lrs
    ]


def choose_lr(runs: Sequence[dict[str, Any]], method: str, kl_limit: float) -> float:
    """The tuning rule: the learning rate whose run reached the highest evaluated reward, among the runs
    of ``method`` whose evaluated sequence KL stayed below ``kl_limit`` (where the frontier is estimable).
    """
    scored = [(summarize_run(r), r["config"]["lr"]) for r in runs if r["config"]["method"] == method]
    eligible = [(s.reward, lr) for s, lr in scored if s.kl_exact <= kl_limit]
    if not eligible:
        raise ValueError(
            f"no {method} tuning run stayed below KL {kl_limit:.2f} nats; add smaller learning rates to the grid."
        )
    return max(eligible)[1]


def tuned_lr(task: str, method: str, *, path: str | Path | None = None) -> float:
    """The learning rate :func:`choose_lr` picks from the committed full-tier tuning runs of ``task``.

    The KL limit is ``log n`` for the ``n`` base samples per prompt of the task's frontier
    results: beyond it the frontier cannot be estimated from those samples.
    """
    target = Path(path) if path is not None else runs_path(task, "full", "tuning")
    if not target.is_file():
        raise FileNotFoundError(
            f"no learning-rate tuning runs at {target}. Run `python -m alignlimits.experiments rl --tune "
            f"--task {task} --tier full` first, or pass lr= explicitly."
        )
    runs = load_runs(task, "full", path=target)["runs"]
    missing = set(TUNING_LRS) - {r["config"]["lr"] for r in runs if r["config"]["method"] == method}
    if missing:  # e.g. read while the tuning is still running: a partial grid would pick a rate silently
        raise ValueError(
            f"the {method} tuning on {task} lacks the learning rates {sorted(missing)} of the grid; finish it with "
            f"`python -m alignlimits.experiments rl --tune --task {task} --tier full --methods {method}`."
        )
    n_samples = load_frontier(task, "full")["config"]["n_samples"]
    return choose_lr(runs, method, float(np.log(n_samples)))
