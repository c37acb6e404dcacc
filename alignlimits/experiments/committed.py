"""Committed results, or a live smoke-tier run: the one loader of the language-model chapters.

At the ``default`` and ``full`` tiers a chapter shows the full-tier results that ship with
the package (and says so); at the ``smoke`` tier (tests, CI) it runs the same experiment
live at a tiny size with the tiny random GPT-2, so every code path runs and only the
numbers are meaningless. Both paths return the same structures.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignlimits.experiments import frontier
from alignlimits.experiments.storage import results_path
from alignlimits.tiers import current_tier

__all__ = ["RLResults", "frontier_results", "rl_results"]

#: The smoke tier's live frontier: the smoke config's prompts (those the smoke RL runs train on), with
#: enough samples per prompt for best-of-N up to 8.
SMOKE_FRONTIER = {"n_samples": 16}


def frontier_results(
    task: str, tier: str | None = None, *, work_dir: str | Path | None = None, **smoke_overrides: Any
) -> dict[str, Any]:
    """The frontier results a chapter shows for ``task`` at ``tier`` (``ALIGNLIMITS_TIER`` when None).

    ``default``/``full``: the committed full-tier file (else the committed default-tier
    one); ``smoke``: a live run of :data:`SMOKE_FRONTIER` (with ``smoke_overrides`` of its
    config, e.g. ``n_prompts=4``) in ``work_dir`` (a temporary folder when None).
    """
    tier = current_tier() if tier is None else tier
    if tier == "smoke":
        config = frontier.frontier_config(task, "smoke", **{**SMOKE_FRONTIER, **smoke_overrides})
        if work_dir is not None:
            return frontier.run_frontier(config, work_dir=work_dir, progress=False)
        with tempfile.TemporaryDirectory() as work:
            return frontier.run_frontier(config, work_dir=work, progress=False)
    for produced_by in ("full", "default"):
        if results_path("frontier", task, produced_by).is_file():
            return frontier.load_frontier(task, produced_by)
    return frontier.load_frontier(task, "full")  # raises, naming the command that produces it


@dataclass(frozen=True)
class RLResults:
    """What the RL chapter shows for one task.

    Attributes
    ----------
    frontier : the frontier results of the same base policy (:func:`frontier_results`).
    runs : the sweep's saved runs, as configured now.
    tuning : the learning-rate tuning runs (empty at the smoke tier).
    controls : the shuffled-reward control runs (empty where none are committed).
    planned : how many runs the sweep plans.
    """

    frontier: dict[str, Any]
    runs: list[dict[str, Any]]
    tuning: list[dict[str, Any]]
    controls: list[dict[str, Any]]
    planned: int


def rl_results(task: str, tier: str | None = None) -> RLResults:
    """The RL results a chapter shows for ``task``: committed (default, full) or live (smoke).

    At the smoke tier: a live frontier, one run of each method at β = 0.1, and their
    shuffled-reward controls, all on the tiny random GPT-2 in a temporary folder.
    Every run is checked to share the frontier's base policy.
    """
    from alignlimits.experiments import analysis, rl_runs

    tier = current_tier() if tier is None else tier
    if tier == "smoke":
        with tempfile.TemporaryDirectory() as work:
            front = frontier_results(task, "smoke", work_dir=work)
            configs = [rl_runs.run_config(task, m, 0.1, 1, tier="smoke") for m in rl_runs.METHODS]
            controls = [rl_runs.run_config(task, m, 0.1, 1, tier="smoke", reward_signal="shuffled")
                        for m in rl_runs.METHODS]  # fmt: skip
            runs = rl_runs.sweep(configs, work_dir=work, output=f"{work}/rl.json", progress=False)
            control_runs = rl_runs.sweep(controls, work_dir=work, output=f"{work}/control.json", progress=False)
        results = RLResults(front, runs, [], control_runs, len(configs))
    else:
        front = frontier_results(task, tier)
        optional = {}
        for variant in ("tuning", "control"):
            path = rl_runs.runs_path(task, "full", variant)
            optional[variant] = rl_runs.load_runs(task, "full", variant)["runs"] if path.is_file() else []
        planned = len(rl_runs.SWEEP_SEEDS) * sum(map(len, rl_runs.SWEEP_KL_COEFS.values()))
        results = RLResults(front, rl_runs.committed_sweep(task), optional["tuning"], optional["control"], planned)
    for run in results.runs + results.tuning + results.controls:
        analysis.check_same_base(run["config"], results.frontier)  # raises if a run's π0 is not the frontier's
    return results
