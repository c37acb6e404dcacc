r"""The book's language-model experiments: configs per tier, resumable runs, results with provenance.

Everything about *runs* lives here; the algorithms they run live in :mod:`alignlimits.rl`,
the models in :mod:`alignlimits.lm`, the tasks in :mod:`alignlimits.tasks`. Nothing else in
the package imports this subpackage.

* :mod:`~alignlimits.experiments.frontier` — base samples of a task, scored by its reward
  and judge: the data of the estimated frontier and best-of-N;
* :mod:`~alignlimits.experiments.rl_runs` — PPO and GRPO runs and sweeps on the tasks,
  their shuffled-reward controls, evaluated on the KL–reward plane (needs torch);
* :mod:`~alignlimits.experiments.tuning` — the first sweep's learning-rate grid and rule;
* :mod:`~alignlimits.experiments.study` — the long runs: their learning-rate pilot, the runs,
  their controls and the zero-step check;
* :mod:`~alignlimits.experiments.enumerable` — PPO and GRPO on the enumerable model,
  scored exactly against the frontier;
* :mod:`~alignlimits.experiments.analysis` — statistics over finished runs (what the
  chapters print), as tested functions returning dataclasses;
* :mod:`~alignlimits.experiments.committed` — committed results, or a live smoke-tier
  run: the one loader every chapter uses;
* :mod:`~alignlimits.experiments.storage` (results files, work folders, locks, atomic
  writes) and :mod:`~alignlimits.experiments.provenance` (git sha, versions, hardware);
* :mod:`~alignlimits.experiments.cli` — ``python -m alignlimits.experiments {frontier,rl}``.

**Tiers** (:mod:`alignlimits.tiers`): ``smoke`` runs the tiny random GPT-2 in seconds,
``default`` and ``full`` SmolLM2-135M-Instruct. Full-tier results ship in
``alignlimits/results/``; chapters at the default tier load them and say so.

The frontier experiment's API is re-exported here (``experiments.frontier_config``, …);
import the other submodules explicitly.
"""

from alignlimits.experiments.frontier import (
    FrontierConfig,
    frontier_config,
    load_frontier,
    run_frontier,
    save_frontier,
    validate_frontier,
)
from alignlimits.tasks import TASKS

__all__ = [
    "TASKS",
    "FrontierConfig",
    "frontier_config",
    "load_frontier",
    "run_frontier",
    "save_frontier",
    "validate_frontier",
]
