"""Committed results, or a live smoke-tier run: the one loader of the language-model chapters.

At the ``default`` and ``full`` tiers a chapter shows the full-tier results that ship with
the package (and says so); at the ``smoke`` tier (tests, CI) it runs the same experiment
live at a tiny size with the tiny random GPT-2, so every code path runs and only the
numbers are meaningless. Both paths return the same structures.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlimits.experiments import frontier
from alignlimits.experiments.storage import results_path
from alignlimits.tiers import current_tier

if TYPE_CHECKING:  # torch: rl_runs is imported only when RL results are asked for
    from alignlimits.experiments.rl_runs import LMRunConfig

__all__ = ["RLResults", "StudyResults", "frontier_results", "rl_results", "study_results"]

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


@dataclass(frozen=True)
class StudyResults:
    """What the SmolLM2 study chapter shows for one task: the long runs that exist so far, and the plan.

    Attributes
    ----------
    task, tier : the task, and the tier of the runs (``"full"`` for committed results, ``"smoke"`` live).
    frontier : the frontier results of the same base policy (:func:`frontier_results`).
    planned : every run the study plans (:func:`alignlimits.experiments.study.study_configs`), in the
        order worth running them.
    runs : the finished runs among them, in planned order (the run dicts of the results file).
    pilot : the learning-rate pilot's runs (the committed full-tier pilot at every tier; empty if none).
    unplanned : how many runs of the results file the plan no longer contains (left out of ``runs``).
    """

    task: str
    tier: str
    frontier: dict[str, Any]
    planned: list[LMRunConfig]
    runs: list[dict[str, Any]]
    pilot: list[dict[str, Any]] = field(default_factory=list)
    unplanned: int = 0

    @property
    def missing(self) -> list[LMRunConfig]:
        """The planned runs not finished yet, in planned order."""
        done = {_key(r) for r in self.runs}
        return [c for c in self.planned if c.key() not in done]

    @property
    def complete(self) -> dict[str, bool]:
        """Each planned run's key → whether it is among :attr:`runs`."""
        done = {_key(r) for r in self.runs}
        return {c.key(): c.key() in done for c in self.planned}

    @property
    def zero_step(self) -> dict[str, Any] | None:
        """The zero-step run (the base policy through the evaluation), or None while it is missing."""
        return next((r for r in self.runs if r["config"]["steps"] == 0), None)


def _key(run: dict[str, Any]) -> str:
    from alignlimits.experiments.rl_runs import LMRunConfig

    return LMRunConfig(**run["config"]).key()


def study_results(
    task: str,
    tier: str | None = None,
    *,
    path: str | Path | None = None,
    frontier: dict[str, Any] | None = None,
    work_dir: str | Path | None = None,
) -> StudyResults:
    """The long runs a chapter shows for ``task``: committed (default, full) or a live tiny study (smoke).

    ``default``/``full``: the finished runs of the committed study file (or ``path``), which may
    hold any subset of the planned runs — or none, when the file does not exist yet — against
    the full-tier plan; ``frontier`` defaults to :func:`frontier_results`. ``smoke``: against the
    smoke-tier plan (:func:`alignlimits.experiments.study.study_configs`), the runs the chapter's
    verdicts rest on — the zero-step run, each RL method's main run with its shuffled control
    (``part="pairs"``) and the distillation runs — run live on the tiny random GPT-2 in
    ``work_dir`` (a temporary folder when None), with a live frontier; the rest (second β, more
    seeds, the k3 variant: the same code with other settings) are reported missing, which also
    exercises the chapter's partial-study path. Every run is checked to share the frontier's base
    policy.
    """
    from alignlimits.experiments import analysis, rl_runs, study

    tier = current_tier() if tier is None else tier
    pilot_path = rl_runs.runs_path(study.PILOT_TASK, "full", "pilot")
    pilot = rl_runs.load_runs(study.PILOT_TASK, "full", "pilot")["runs"] if pilot_path.is_file() else []
    if tier == "smoke":
        planned = study.study_configs(task, "smoke")
        verdicts = {c.key() for c in study.study_configs(task, "smoke", part="pairs")}
        live = [c for c in planned if c.key() in verdicts or c.method == "distill"]
        with tempfile.TemporaryDirectory() as temporary:
            work = Path(work_dir) if work_dir is not None else Path(temporary)
            front = frontier if frontier is not None else frontier_results(task, "smoke", work_dir=work)
            runs = rl_runs.sweep(live, work_dir=work, output=work / "study.json", progress=False)
        saved, runs_tier = runs, "smoke"
    else:
        planned = study.study_configs(task, "full")
        target = Path(path) if path is not None else rl_runs.runs_path(task, "full", "study")
        saved = rl_runs.load_runs(task, "full", "study", path=target)["runs"] if target.is_file() else []
        front = frontier if frontier is not None else frontier_results(task, tier)
        runs_tier = "full"
    by_key = {_key(r): r for r in saved}
    runs = [by_key[c.key()] for c in planned if c.key() in by_key]
    for run in runs:
        analysis.check_same_base(run["config"], front)  # raises if a run's π0 is not the frontier's
    return StudyResults(task, runs_tier, front, planned, runs, pilot, unplanned=len(by_key) - len(runs))
