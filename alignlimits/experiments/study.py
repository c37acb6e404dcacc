r"""The long language-model runs: the learning-rate pilot, the runs, their controls and the zero-step check.

The first sweep (:func:`alignlimits.experiments.rl_runs.sweep_configs`: 12 steps of 16
completions) drifted more than it learned. These runs are fewer and longer, and every one
targets the same optimum as the frontier:

* **KL in the reward for both methods.** PPO and GRPO both subtract ``β log π(y)/π0(y)``
  from the reward, so both have the Gibbs tilt ``π_β`` as their fixed point and the same
  ``β`` (on the reward's scale) means the same target for both. GRPO with the GRPO paper's
  k3 estimator in the *loss* (``β`` on the scale of the normalised advantages, whose fixed
  point is not ``π_β``) is the secondary variant, one run per task at the paper's ``β = 0.04``.
* **Two coefficients** (:data:`STUDY_KL_COEFS`): the main one, whose ``π_β`` the 64-sample
  frontier puts at about 0.3 nats, inside the region where the frontier is estimated
  reliably; and one whose ``π_β`` lies near 2 nats. Seeds :data:`STUDY_SEEDS` at the main
  coefficient, the first seed at the second.
* **The whole path is measured**: the exact KL of the training samples every
  ``metrics_every`` steps, and the policy evaluated on every prompt at the steps
  ``path_evals`` as well as at the end (more samples at the end, for a standard error of the
  gain of about 0.0025–0.0035).
* **Controls**: per method, the main run trained on shuffled rewards (the same rewards,
  permuted: no information about the text), and one **zero-step run**, the base policy sent
  through the evaluation, which must land on the frontier's base point (exact KL 0, the
  base reward within its standard error).
* **The cheap contender** (:func:`distill_configs`): distillation of ``π_β``
  (:class:`~alignlimits.rl.distill.Distill`) at both coefficients, and the variant fine-tuned
  on best-of-4 winners, from one shared pass of :data:`DISTILL_SAMPLES` base samples per
  prompt; its learning rate :data:`DISTILL_LR` is fixed (supervised fine-tuning of the same
  blocks; no pilot), its inference cost one sample per answer.
* **Learning rate from a pilot** (:func:`pilot_configs`, :func:`choose_pilot_lr`): short runs
  at each rate of :data:`PILOT_LRS`, with the reward and with shuffled rewards; the rate kept
  is the one with the largest gain over its shuffled control per nat of KL, among the rates
  whose gain over the control exceeds twice its standard error (if none does, the largest
  ``z``). The pilot runs on one task, :data:`PILOT_TASK` (the cheaper one: short prompts),
  and its rate serves both: a pilot step on summarization's whole documents costs about
  twice as much, and each study run's own shuffled control shows whether the rate lets
  the method learn there. The chosen rates are the constants :data:`STUDY_LRS`, which a
  test checks against the committed pilot, so building a config reads no file.

All of them are ordinary runs of :mod:`alignlimits.experiments.rl_runs`, saved as its
``"pilot"`` and ``"study"`` result variants; the command line runs them with
``alignlimits experiments rl --pilot`` and ``--study``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from alignlimits.experiments.analysis import paired_difference
from alignlimits.experiments.rl_runs import METHODS, RUN_METHODS, LMRunConfig, load_runs, run_config, runs_path
from alignlimits.tiers import by_tier, current_tier

__all__ = [
    "DISTILL_BEST_OF",
    "DISTILL_LR",
    "DISTILL_SAMPLES",
    "LOSS_KL_COEF",
    "PILOT_LRS",
    "PILOT_SEED",
    "PILOT_TASK",
    "STUDY_KL_COEFS",
    "STUDY_LRS",
    "STUDY_PARTS",
    "STUDY_SEEDS",
    "PilotScore",
    "choose_pilot_lr",
    "distill_configs",
    "pilot_configs",
    "pilot_lr",
    "pilot_scores",
    "study_configs",
    "study_sizes",
    "zero_step_config",
]

#: β of the penalty in the reward, main coefficient first (the same for both methods and both tasks:
#: on both, the 64-sample frontier puts π_0.1 at ≈ 0.3 nats and π_0.03 at ≈ 2 nats).
STUDY_KL_COEFS: tuple[float, ...] = (0.1, 0.03)
#: The parts of the study :func:`study_configs` can return: ``"all"`` of it, or only the zero-step run and
#: each RL method's main run with its shuffled control (``"pairs"``).
STUDY_PARTS: tuple[str, ...] = ("all", "pairs")
#: Seeds at the main coefficient (the second coefficient, the controls and the secondary variant use the first).
STUDY_SEEDS: tuple[int, ...] = (1, 2, 3)
#: The GRPO paper's β for its k3 estimator in the loss (the secondary variant).
LOSS_KL_COEF = 0.04
#: The pilot's learning rates.
PILOT_LRS: tuple[float, ...] = (1e-5, 3e-5, 1e-4)
#: The pilot's seed, one the study never uses.
PILOT_SEED = 0
#: The task the pilot runs on; its rates serve both tasks.
PILOT_TASK = "safety"
#: The learning rate of each method at the full tier (both tasks), as :func:`pilot_lr` chooses it from the
#: committed pilot (a test checks that they agree). Neither method beat its shuffled control by z > 2 in the
#: pilot's 20 steps (PPO: z = 1.75 at 3e-5; GRPO: z = 1.89 at 1e-4), so the rule took the largest z.
STUDY_LRS: dict[str, float] = {"ppo": 3e-5, "grpo": 1e-4}
#: Distillation: base samples per prompt in its one sampling pass (full tier).
DISTILL_SAMPLES = 64
#: Distillation's fine-tuning learning rate (fixed: supervised fine-tuning of the same blocks, no pilot).
DISTILL_LR = 1e-4
#: The N of distillation's best-of-N variant (fine-tuning on the best of each group of N base samples).
DISTILL_BEST_OF = 4


def study_sizes(tier: str | None = None, *, pilot: bool = False) -> dict[str, Any]:
    """The run sizes of the study (``pilot``: of its pilot) at ``tier``: the fields every config shares.

    Examples
    --------
    >>> sizes = study_sizes("full")
    >>> sizes["steps"], sizes["samples_per_step"], sizes["path_evals"], sizes["eval_samples"]
    (120, 32, (40, 80), 8)
    """
    tier = current_tier() if tier is None else tier
    sizes: dict[str, Any] = {
        "steps": by_tier(smoke=3, default=6, full=120, tier=tier),
        "samples_per_step": by_tier(smoke=4, default=16, full=32, tier=tier),
        "micro_batch_size": by_tier(smoke=2, default=4, full=8, tier=tier),
        "checkpoint_every": by_tier(smoke=1, default=2, full=5, tier=tier),
        "metrics_every": by_tier(smoke=2, default=2, full=10, tier=tier),
        # Two evaluations along the path (with the zero-step run and the final one: four points of the
        # trajectory); an evaluation sample costs about a training sample, so more would cost a run's tenth each.
        "path_evals": by_tier(smoke=(1, 2), default=(2, 4), full=(40, 80), tier=tier),
        "path_eval_samples": by_tier(smoke=1, default=2, full=4, tier=tier),
        # 8 per prompt: a gain's standard error, paired with the zero-step run prompt by prompt, of about 0.0025
        # (safety) and 0.0035 (summarization) from the frontier's within-prompt spread; an evaluation sample costs
        # about as much as a training one (sampling, reward, judge, exact KL over the vocabulary).
        "eval_samples": by_tier(smoke=2, default=4, full=8, tier=tier),
    }
    if pilot:
        sizes.update(steps=by_tier(smoke=2, default=4, full=20, tier=tier), path_evals=(),
                     eval_samples=by_tier(smoke=1, default=2, full=4, tier=tier))  # fmt: skip
    return sizes


def _lr(task: str, method: str, tier: str) -> float:
    if tier == "smoke":
        return 1e-3  # the tiny random model: large steps, so that the smoke runs move
    try:
        return STUDY_LRS[method]
    except KeyError:
        raise ValueError(
            f"no learning rate chosen yet for {method}: run the pilot (`python -m alignlimits.experiments "
            f"rl --pilot --task {PILOT_TASK} --tier full`) and set study.STUDY_LRS from study.pilot_lr."
        ) from None


def _config(task: str, method: str, beta: float, seed: int, tier: str, lr: float, **fields: Any) -> LMRunConfig:
    return run_config(task, method, beta, seed, tier, lr=lr, kl_in="reward", **fields)


def pilot_configs(
    task: str, tier: str | None = None, *, methods: Sequence[str] = METHODS, lrs: Sequence[float] = PILOT_LRS
) -> list[LMRunConfig]:
    """The pilot of ``task``: each method at the main β for each rate, with the reward and with shuffled rewards.

    Ordered rate by rate, each run next to its control, so that an interrupted pilot has
    finished pairs to read.
    """
    tier = current_tier() if tier is None else tier
    sizes = study_sizes(tier, pilot=True)
    return [
        _config(task, method, STUDY_KL_COEFS[0], PILOT_SEED, tier, float(lr), reward_signal=signal, **sizes)
        for method in methods
        for lr in lrs
        for signal in ("task", "shuffled")
    ]


def distill_configs(task: str, tier: str | None = None) -> list[LMRunConfig]:
    """Distillation of ``task``: ``π_β`` at each β of :data:`STUDY_KL_COEFS`, then the best-of-N variant
    (all three from one shared sampling pass)."""
    tier = current_tier() if tier is None else tier
    sizes = {
        **study_sizes(tier),
        "steps": by_tier(smoke=3, default=6, full=100, tier=tier),
        "path_evals": by_tier(smoke=(1, 2), default=(2, 4), full=(50,), tier=tier),
        "distill_samples": by_tier(smoke=4, default=8, full=DISTILL_SAMPLES, tier=tier),
        "epochs": 1,
        "minibatches": 1,
    }
    lr = 1e-3 if tier == "smoke" else DISTILL_LR
    first = STUDY_SEEDS[0]
    configs = [run_config(task, "distill", beta, first, tier, lr=lr, **sizes) for beta in STUDY_KL_COEFS]
    best_of = by_tier(smoke=2, default=2, full=DISTILL_BEST_OF, tier=tier)
    configs.append(run_config(task, "distill", STUDY_KL_COEFS[0], first, tier, lr=lr, best_of=best_of, **sizes))
    return configs


def study_configs(
    task: str, tier: str | None = None, *, methods: Sequence[str] = RUN_METHODS, part: str = "all"
) -> list[LMRunConfig]:
    """The study's runs of ``task`` (``methods`` from :data:`~alignlimits.experiments.rl_runs.RUN_METHODS`),
    in the order worth running them.

    First the zero-step run, then per RL method the main run of the first seed and its
    shuffled control (the pair that says whether the method learned) and the second β;
    distillation (:func:`distill_configs`); the other seeds; GRPO's k3-in-the-loss variant last.
    ``part="pairs"`` keeps only the zero-step run and those pairs (one of :data:`STUDY_PARTS`):
    the runs that decide whether a method learned, worth having before the rest.
    """
    tier = current_tier() if tier is None else tier
    unknown = sorted(set(methods) - set(RUN_METHODS))
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {RUN_METHODS}.")
    if part not in STUDY_PARTS:
        raise ValueError(f"unknown study part {part!r}; choose from {STUDY_PARTS}.")
    sizes = study_sizes(tier)
    main, second = STUDY_KL_COEFS
    first, *others = STUDY_SEEDS
    rl_methods = [m for m in METHODS if m in methods]
    configs = [zero_step_config(task, tier)]
    for method in rl_methods:
        lr = _lr(task, method, tier)
        configs += [
            _config(task, method, main, first, tier, lr, **sizes),
            _config(task, method, main, first, tier, lr, reward_signal="shuffled", **sizes),
            _config(task, method, second, first, tier, lr, **sizes),
        ]
    if part == "pairs":
        main_seed = {"kl_coef": main, "seed": first}
        return [c for c in configs if c.steps == 0 or all(getattr(c, k) == v for k, v in main_seed.items())]
    if "distill" in methods:
        configs += distill_configs(task, tier)
    for seed in others:
        configs += [_config(task, method, main, seed, tier, _lr(task, method, tier), **sizes) for method in rl_methods]
    if "grpo" in methods:
        loss_variant = {**sizes, "kl_in": "loss"}
        configs.append(run_config(task, "grpo", LOSS_KL_COEF, first, tier, lr=_lr(task, "grpo", tier), **loss_variant))
    return configs


def zero_step_config(task: str, tier: str | None = None) -> LMRunConfig:
    """The zero-step run of ``task``: the base policy through the study's final evaluation (no training)."""
    tier = current_tier() if tier is None else tier
    sizes = {**study_sizes(tier), "steps": 0, "path_evals": ()}
    # lr: never used, no step is taken (a constant, so that the run needs no pilot)
    return run_config(task, "grpo", STUDY_KL_COEFS[0], STUDY_SEEDS[0], tier, lr=1.0, kl_in="reward", **sizes)


@dataclass(frozen=True)
class PilotScore:
    """One pilot rate of one method: the run against its shuffled control.

    Attributes
    ----------
    lr : the learning rate.
    gain_over_control, se : mean evaluated reward of the run minus its control's, and its
        standard error (:func:`~alignlimits.experiments.analysis.paired_difference`).
    kl : the run's mean exact sequence KL to the base policy (nats).
    per_nat : ``gain_over_control / kl``.
    z : ``gain_over_control / se``.
    """

    lr: float
    gain_over_control: float
    se: float
    kl: float
    per_nat: float
    z: float


def pilot_scores(runs: Sequence[dict[str, Any]], method: str) -> list[PilotScore]:
    """The score of each rate of ``method`` in the pilot ``runs`` (rates missing a run or its control are left out)."""
    pairs: dict[float, dict[str, dict[str, Any]]] = {}
    for r in runs:
        cfg = r["config"]
        if cfg["method"] == method:
            pairs.setdefault(cfg["lr"], {})[cfg.get("reward_signal", "task")] = r
    scores = []
    for lr, pair in sorted(pairs.items()):
        if set(pair) != {"task", "shuffled"}:
            continue
        diff, se = paired_difference(pair["task"]["eval"], pair["shuffled"]["eval"])
        kl = float(np.mean(pair["task"]["eval"]["kl_exact"]))
        scores.append(PilotScore(lr, diff, se, kl, diff / kl if kl > 0 else np.nan, diff / se if se > 0 else np.nan))
    return scores


def choose_pilot_lr(scores: Sequence[PilotScore]) -> float:
    """The pilot's rule: the most gain over the control per nat among rates with ``z > 2``, else the largest ``z``."""
    if not scores:
        raise ValueError("no pilot rate has both its run and its shuffled control; finish the pilot first.")
    significant = [s for s in scores if s.z > 2]
    if significant:
        return max(significant, key=lambda s: s.per_nat).lr
    return max(scores, key=lambda s: s.z).lr


def pilot_lr(method: str, *, task: str = PILOT_TASK, path: str | Path | None = None) -> float:
    """The learning rate :func:`choose_pilot_lr` picks from the committed full-tier pilot (of :data:`PILOT_TASK`)."""
    target = Path(path) if path is not None else runs_path(task, "full", "pilot")
    runs = load_runs(task, "full", "pilot", path=target)["runs"]
    scores = pilot_scores(runs, method)
    missing = sorted(set(PILOT_LRS) - {s.lr for s in scores})
    if missing:  # a partial grid would pick a rate silently
        raise ValueError(
            f"the {method} pilot on {task} lacks the rates {missing}; finish it with "
            f"`python -m alignlimits.experiments rl --pilot --task {task} --tier full --methods {method}`."
        )
    return choose_pilot_lr(scores)
