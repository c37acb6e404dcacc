r"""Statistics over finished runs: what the language-model chapters print, as tested functions.

Everything takes the plain dicts of the results files (:mod:`~alignlimits.experiments.frontier`,
:mod:`~alignlimits.experiments.rl_runs`) and returns small frozen dataclasses:

* :func:`summarize_run` → :class:`RunSummary` — a run's evaluation: means and standard
  errors clustered by prompt (:func:`clustered_mean_se`);
* :func:`run_points` → :class:`RunPoint` — each run on the KL–reward plane against the
  estimated frontier (:func:`alignlimits.lab.lab_curves`): its gain, the limit at its KL,
  its share of it, and whether the frontier is reliable there;
* :func:`training_path` → :class:`TrainingPath` — a run's logged path, measured against
  the base policy *on each step's own prompts*, and the slopes of its last half;
* :func:`pair_controls` → :class:`ControlPair` — a shuffled-reward control beside the
  sweep run it shadows;
* :func:`k1_bias` → :class:`K1Bias` — is the k1 estimate of the sequence KL biased
  against the exact per-position KL, pooled over runs?
* :func:`ppo_fixed_points` → :class:`FixedPointComparison` — each PPO run beside its own
  fixed point ``π_β``, estimated from the base samples;
* :func:`check_same_base` — refuses to compare a run with a frontier of another ``π0``;
* :func:`paired_difference` — two evaluations of the same prompts compared prompt by prompt;
* :func:`path_points` → :class:`PathPoint` — a run's measured trajectory (its path
  evaluations and its final one) as gains over the zero-step run;
* :func:`block_means` → :class:`BlockMeans` — a logged per-step metric averaged over
  consecutive blocks of steps, with standard errors;
* :func:`zero_step_check` → :class:`ZeroStepCheck` — does the evaluation pipeline, run on
  the untrained policy, reproduce the frontier's base point?
* :func:`value_at_kl` — a curve on the KL–reward plane read at a given KL (matched-KL
  comparisons), refusing to extrapolate.

The long runs (:mod:`~alignlimits.experiments.study`):

* :func:`control_gains` → :class:`ControlGain` — each run's reward gain over its
  shuffled-reward control, with its standard error and ``z`` (learned: ``z >`` :data:`LEARNED_Z`);
* :func:`matched_share` → :class:`MatchedShare` — a policy's share of the estimated limit
  at its KL, with the frontier's band, and best-of-N's gain there;
* :func:`run_cost` → :class:`RunCost` — samples and CPU-hours from a run's provenance;
* :func:`run_label` — a short name for a study run.

numpy only (no torch): it reads results, it does not run models.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from alignlimits import lab

__all__ = [
    "LEARNED_Z",
    "BlockMeans",
    "ControlGain",
    "ControlPair",
    "FixedPointComparison",
    "K1Bias",
    "MatchedShare",
    "PathPoint",
    "RunCost",
    "RunPoint",
    "RunSummary",
    "TrainingPath",
    "ZeroStepCheck",
    "block_means",
    "check_same_base",
    "clustered_mean_se",
    "control_gains",
    "k1_bias",
    "matched_share",
    "pair_controls",
    "paired_difference",
    "path_points",
    "ppo_fixed_points",
    "reliable_kl",
    "run_cost",
    "run_label",
    "run_points",
    "summarize_run",
    "training_path",
    "value_at_kl",
    "zero_step_check",
]

_EVAL_FIELDS = ("reward", "judge", "kl_exact", "kl_k1", "kl_k3", "length")


def clustered_mean_se(values: ArrayLike, prompt_index: ArrayLike) -> tuple[float, float]:
    r"""Mean of ``values`` (shape ``(E,)``) and its standard error clustered by prompt.

    ``se = sd(per-prompt means) / sqrt(P)`` over the ``P`` prompts in ``prompt_index``
    (shape ``(E,)``); NaN with a single prompt. Samples of one prompt are correlated, so
    treating them as independent would understate the error. The mean is over all
    values (every prompt weighs the same when each has the same number of samples).

    Examples
    --------
    >>> clustered_mean_se([1.0, 3.0, 2.0, 6.0], [0, 0, 1, 1])
    (3.0, 1.0)
    """
    x = np.asarray(values, dtype=np.float64)
    ids, inverse = np.unique(np.asarray(prompt_index), return_inverse=True)
    if x.shape != inverse.shape:
        raise ValueError(f"values and prompt_index must have the same shape; got {x.shape} and {inverse.shape}.")
    if x.size == 0:
        raise ValueError("no values: a mean needs at least one.")
    if not np.all(np.isfinite(x)):
        raise ValueError("values must be finite.")
    per_prompt = np.bincount(inverse, weights=x) / np.bincount(inverse)
    se = float(per_prompt.std(ddof=1) / np.sqrt(ids.size)) if ids.size > 1 else float("nan")
    return float(x.mean()), se


@dataclass(frozen=True)
class RunSummary:
    """A finished run's evaluation: each quantity's mean and its standard error clustered by prompt."""

    reward: float
    reward_se: float
    judge: float
    judge_se: float
    kl_exact: float
    kl_exact_se: float
    kl_k1: float
    kl_k1_se: float
    kl_k3: float
    kl_k3_se: float
    length: float
    length_se: float


def summarize_run(run_result: dict[str, Any]) -> RunSummary:
    r"""Means and clustered standard errors (:func:`clustered_mean_se`) of a finished run's evaluation.

    ``kl_exact`` is the sequence KL to ``π0`` computed exactly per position along each
    evaluation sample; ``kl_k1``/``kl_k3`` the sampled-token estimators on the same samples.
    """
    ev = run_result["eval"]
    out: dict[str, float] = {}
    for name in _EVAL_FIELDS:
        out[name], out[name + "_se"] = clustered_mean_se(ev[name], ev["prompt_index"])
    return RunSummary(**out)


def check_same_base(run_config: dict[str, Any], frontier_results: dict[str, Any]) -> None:
    """Raise ValueError unless an RL run and a frontier results file describe the same base policy.

    Model, seed of its weights, prompts, temperature, completion length, document cut and
    scoring version must agree, or the run's point and the frontier are not comparable.
    """
    fr = frontier_results["config"]
    pairs = {
        "task": (run_config["task"], frontier_results["task"]),
        "model": (run_config["model"], fr["model"]),
        "model_seed": (run_config["model_seed"], fr["seed"]),
        "n_prompts": (run_config["n_prompts"], fr["n_prompts"]),
        "temperature": (run_config["temperature"], fr["temperature"]),
        "max_new_tokens": (run_config["max_new_tokens"], fr["max_new_tokens"]),
        "max_document_words": (run_config["max_document_words"], fr["max_document_words"]),
        "scoring_version": (run_config["scoring_version"], fr["scoring_version"]),
    }
    differ = {k: v for k, v in pairs.items() if v[0] != v[1]}
    if differ:
        raise ValueError(f"the RL run and the frontier have different base policies (run, frontier): {differ}.")


# ---------------------------------------------------------------------------- runs against the frontier


@dataclass(frozen=True)
class RunPoint:
    """One run's final policy on the KL–reward plane, against the estimated frontier.

    Attributes
    ----------
    method, beta, seed : the run (``beta`` is its ``kl_coef``).
    kl, kl_se : exact sequence KL to ``π0`` on the evaluation samples, and its clustered se.
    k1, k1_se : the k1 estimate on the same samples.
    gain, gain_se : reward gain over the base policy's mean reward (the frontier's samples).
    judge_gain, judge_se : the held-out judge's gain, likewise.
    limit : the estimated frontier's gain at ``kl`` (NaN beyond the estimable ceiling).
    share : ``gain / limit`` (NaN where the limit is not positive or not estimable).
    reliable : ``kl`` lies where the frontier's diagnostics pass; beyond, the plug-in frontier
        is biased low, so ``share`` is an upper bound on the share of the true limit.
    seconds, samples : the run's wall time (training and evaluation) and training samples.
    """

    method: str
    beta: float
    seed: int
    kl: float
    kl_se: float
    k1: float
    k1_se: float
    gain: float
    gain_se: float
    judge_gain: float
    judge_se: float
    limit: float
    share: float
    reliable: bool
    seconds: float
    samples: int


def reliable_kl(curves: lab.LabCurves) -> float:
    """The largest KL of the frontier where the estimator's diagnostics pass (0 when none)."""
    reliable = np.atleast_1d(curves.reliable)
    return float(np.atleast_1d(curves.kl)[reliable].max()) if reliable.any() else 0.0


def run_points(curves: lab.LabCurves, runs: Sequence[dict[str, Any]]) -> list[RunPoint]:
    """Each run's :class:`RunPoint` against ``curves`` (the frontier of the same base samples)."""
    edge = reliable_kl(curves)
    points = []
    for run in runs:
        s, cfg = summarize_run(run), run["config"]
        limit = float(lab.limit_at(curves, s.kl_exact))  # NaN beyond the ceiling
        gain = s.reward - curves.base_reward
        points.append(RunPoint(
            method=cfg["method"], beta=float(cfg["kl_coef"]), seed=int(cfg["seed"]), kl=s.kl_exact,
            kl_se=s.kl_exact_se, k1=s.kl_k1, k1_se=s.kl_k1_se, gain=gain, gain_se=s.reward_se,
            judge_gain=s.judge - curves.base_judge, judge_se=s.judge_se, limit=limit,
            share=gain / limit if limit > 0 else float("nan"), reliable=bool(s.kl_exact <= edge),
            seconds=float(run["provenance"]["wall_time_s"]), samples=int(run["provenance"]["samples_trained"]),
        ))  # fmt: skip
    return points


# ---------------------------------------------------------------------------- training paths


@dataclass(frozen=True)
class TrainingPath:
    """A run's logged path and what its last half says.

    Attributes
    ----------
    steps : 1-based step numbers.
    reward_gain : each step's on-policy reward minus the base policy's mean reward on the
        *same* prompts (each step samples a few prompts, some easier than others: without
        this, prompt difficulty would masquerade as progress).
    kl_exact, kl_k1 : each step's sequence KL of its samples, exact per position (NaN on steps
        that did not log it, see ``metrics_every``) and k1.
    slope, kl_growth : least-squares slopes of ``reward_gain`` and ``kl_exact`` per step
        over the last half of the steps.
    k1_rms_error : root-mean-square gap between k1 and the exact KL over the steps.
    k1_negative : the fraction of steps whose k1 estimate is negative (a KL never is).
    reward_se : the mean of the steps' own reward standard errors.
    zero_groups : GRPO only: the mean fraction of groups whose rewards were all equal (NaN for PPO).
    """

    method: str
    steps: NDArray[np.float64]
    reward_gain: NDArray[np.float64]
    kl_exact: NDArray[np.float64]
    kl_k1: NDArray[np.float64]
    slope: float
    kl_growth: float
    k1_rms_error: float
    k1_negative: float
    reward_se: float
    zero_groups: float


def _slope(x: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    return float(np.polyfit(x, y, 1)[0]) if x.size >= 2 else float("nan")


def training_path(run: dict[str, Any], base_reward_by_prompt: ArrayLike) -> TrainingPath:
    """The :class:`TrainingPath` of a saved run; ``base_reward_by_prompt`` is ``π0``'s mean reward per prompt.

    Each step's prompts are recomputed from the run's seed
    (:func:`alignlimits.experiments.rl_runs.step_prompts`).
    """
    from alignlimits.experiments.rl_runs import step_prompts  # torch: only when a path is asked for

    base = np.asarray(base_reward_by_prompt, dtype=np.float64)
    hist = run["history"]
    steps = np.array([h["step"] for h in hist], dtype=np.float64) + 1
    base_path = np.array([base[step_prompts(run, int(h["step"]))].mean() for h in hist])
    reward_gain = np.array([h["reward"] for h in hist]) - base_path
    exact = np.array([h.get("kl_exact", np.nan) for h in hist], dtype=np.float64)  # absent between metrics steps
    k1 = np.array([h["kl_k1"] for h in hist], dtype=np.float64)
    half = len(steps) // 2
    logged = np.isfinite(exact)
    late = logged & (np.arange(len(steps)) >= half)
    return TrainingPath(
        method=run["config"]["method"], steps=steps, reward_gain=reward_gain, kl_exact=exact, kl_k1=k1,
        slope=_slope(steps[half:], reward_gain[half:]), kl_growth=_slope(steps[late], exact[late]),
        k1_rms_error=float(np.sqrt(np.mean((k1[logged] - exact[logged]) ** 2))) if logged.any() else float("nan"),
        k1_negative=float(np.mean(k1 < 0)),
        reward_se=float(np.mean([h["reward_se"] for h in hist])),
        zero_groups=float(np.mean([h.get("advantage_zero_groups", np.nan) for h in hist])),
    )  # fmt: skip


# ---------------------------------------------------------------------------- controls and estimators


@dataclass(frozen=True)
class ControlPair:
    """A shuffled-reward control and the sweep run with the same method, β and seed."""

    task: str
    method: str
    beta: float
    real: RunSummary
    control: RunSummary

    @property
    def kl_ratio(self) -> float:
        """The control's KL over the real run's (NaN when the real run did not move)."""
        return self.control.kl_exact / self.real.kl_exact if self.real.kl_exact > 0 else float("nan")

    @property
    def reward_difference(self) -> tuple[float, float]:
        """Real minus control reward, and the standard error of the difference (independent errors).

        The two evaluations share their random numbers, which makes this se conservative.
        """
        se = float(np.hypot(self.real.reward_se, self.control.reward_se))
        return self.real.reward - self.control.reward, se


def pair_controls(
    runs: Sequence[dict[str, Any]], controls: Sequence[dict[str, Any]], frontier_results: dict[str, Any]
) -> list[ControlPair]:
    """Each control beside its sweep run (same config but the reward signal); both must share ``π0``."""
    from alignlimits.experiments.rl_runs import LMRunConfig  # the key hashing lives with the config

    by_key = {LMRunConfig(**r["config"]).key(): r for r in runs}
    pairs = []
    for control in controls:
        cfg = LMRunConfig(**control["config"])
        check_same_base(control["config"], frontier_results)
        key = dataclasses.replace(cfg, reward_signal="task").key()
        if key not in by_key:
            raise ValueError(f"the control {cfg.method} β={cfg.kl_coef} seed {cfg.seed} has no sweep run beside it.")
        pairs.append(ControlPair(cfg.task, cfg.method, cfg.kl_coef, summarize_run(by_key[key]),
                                 summarize_run(control)))  # fmt: skip
    return pairs


@dataclass(frozen=True)
class K1Bias:
    """k1 minus the exact sequence KL on the runs' evaluation samples: per-run z-scores, pooled (Stouffer)."""

    z_scores: NDArray[np.float64]
    pooled_z: float


def k1_bias(runs: Sequence[dict[str, Any]]) -> K1Bias:
    """Is k1 biased against the exact KL? One clustered z per run (runs that did not move are skipped)."""
    z = []
    for run in runs:
        ev = run["eval"]
        mean, se = clustered_mean_se(np.subtract(ev["kl_k1"], ev["kl_exact"]), ev["prompt_index"])
        if se > 0:  # a run that did not move (possible at the smoke tier) has no spread and no z
            z.append(mean / se)
    z_arr = np.asarray(z, dtype=np.float64)
    return K1Bias(z_arr, float(z_arr.sum() / np.sqrt(z_arr.size)) if z_arr.size else float("nan"))


@dataclass(frozen=True)
class FixedPointComparison:
    """A PPO run against its own fixed point ``π_β`` (KL in the reward), estimated from the base samples.

    ``kl_beta``, ``gain_beta`` are the plug-in estimates of ``π_β``'s KL and gain at the run's β
    (:func:`alignlimits.estimator.estimate_frontier`, per prompt, averaged); ``reliable`` is
    the estimator's diagnostic there (where it fails, both are biased low). ``point`` is the run.
    """

    beta: float
    kl_beta: float
    gain_beta: float
    reliable: bool
    point: RunPoint

    @property
    def objective_gap(self) -> float:
        """``J(π_β) − J(run)`` with ``J = gain − β·KL``, the objective PPO climbs (``π_β`` maximises it)."""
        run = self.point.gain - self.beta * self.point.kl
        return (self.gain_beta - self.beta * self.kl_beta) - run


def ppo_fixed_points(base_rewards: ArrayLike, points: Sequence[RunPoint]) -> list[FixedPointComparison]:
    """Each PPO run of ``points`` beside ``π_β`` at its β, estimated from ``base_rewards`` (shape ``(P, n)``)."""
    from alignlimits import estimator

    r = np.asarray(base_rewards, dtype=np.float64)
    if r.ndim != 2:
        raise ValueError(f"base_rewards must have shape (prompts, samples); got {r.shape}.")
    ppo = [p for p in points if p.method == "ppo"]
    if not ppo:
        return []
    betas = np.array(sorted({p.beta for p in ppo}))
    target = estimator.estimate_frontier(r.ravel(), betas, np.repeat(np.arange(r.shape[0]), r.shape[1]))
    kl, gain, ok = (np.atleast_1d(x) for x in (target.kl, target.gain, target.reliable))
    out = []
    for i, beta in enumerate(betas):
        for p in (p for p in ppo if p.beta == beta):
            out.append(FixedPointComparison(float(beta), float(kl[i]), float(gain[i]), bool(ok[i]), p))
    return out


# ---------------------------------------------------------------------------- trajectories


def paired_difference(a: dict[str, Any], b: dict[str, Any], key: str = "reward") -> tuple[float, float]:
    """Mean of ``a[key] − b[key]`` over prompts and its standard error, for two evaluations of the same prompts.

    The per-prompt means are differenced first: both evaluations cover every prompt, so the
    prompts' own spread (larger than the effect on both tasks) cancels. The standard error is
    the spread of the per-prompt differences over ``sqrt(P)``.

    Examples
    --------
    >>> a = {"reward": [1.0, 2.0, 5.0, 6.0], "prompt_index": [0, 0, 1, 1]}
    >>> b = {"reward": [1.0, 1.0, 4.0, 4.0], "prompt_index": [0, 0, 1, 1]}
    >>> paired_difference(a, b)
    (1.0, 0.5)
    """
    means = []
    for ev in (a, b):
        index = np.asarray(ev["prompt_index"], dtype=np.int64)
        values = np.asarray(ev[key], dtype=np.float64)
        means.append(np.bincount(index, values) / np.bincount(index))
    if means[0].shape != means[1].shape:
        raise ValueError("the two evaluations cover different prompts; compare runs of the same task and tier.")
    diff = means[0] - means[1]
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else float("nan")


@dataclass(frozen=True)
class PathPoint:
    """One evaluation of a run along its path: the policy after ``step`` steps against the base policy.

    ``gain``/``gain_se``: mean reward minus the zero-step run's, prompt by prompt
    (:func:`paired_difference`); ``judge_gain`` the same for the held-out judge;
    ``kl``/``kl_se`` the exact sequence KL to ``π0`` (clustered by prompt); ``length``
    the mean completion length; ``samples`` how many evaluation samples; ``length_change``/
    ``length_change_se`` the mean length minus the zero-step run's, paired like the gains.
    """

    step: int
    gain: float
    gain_se: float
    judge_gain: float
    judge_gain_se: float
    kl: float
    kl_se: float
    length: float
    samples: int
    length_change: float = float("nan")
    length_change_se: float = float("nan")


def path_points(run: dict[str, Any], zero_step: dict[str, Any]) -> list[PathPoint]:
    """A run's measured trajectory: step 0 (the zero-step run itself), each path evaluation, the final one.

    ``zero_step`` is the task's zero-step run (the base policy through the same evaluation,
    same seed and prompts), so every gain is paired prompt by prompt.
    """
    base = zero_step["eval"]
    evaluations = [(0, base)] + [(int(p["step"]), p["eval"]) for p in run.get("path", [])]
    evaluations.append((int(run["config"]["steps"]), run["eval"]))
    points = []
    for step, ev in evaluations:
        gain, gain_se = paired_difference(ev, base)
        judge, judge_se = paired_difference(ev, base, "judge")
        kl, kl_se = clustered_mean_se(ev["kl_exact"], ev["prompt_index"])
        length, length_se = paired_difference(ev, base, "length")
        points.append(PathPoint(step, gain, gain_se, judge, judge_se, kl, kl_se, float(np.mean(ev["length"])),
                                len(ev["reward"]), length, length_se))  # fmt: skip
    return points


@dataclass(frozen=True)
class BlockMeans:
    """A per-step metric averaged over consecutive blocks of ``size`` steps.

    ``step`` is each block's middle step (1-based steps), ``mean`` its average, ``se`` its
    standard error: from the steps' own standard errors when given (``sqrt(Σ se²)/n``: the
    steps draw independent samples), else the spread of the block's values over ``sqrt(n)``.
    A last, incomplete block is dropped.
    """

    step: NDArray[np.float64]
    mean: NDArray[np.float64]
    se: NDArray[np.float64]
    size: int


def block_means(values: ArrayLike, size: int, se: ArrayLike | None = None) -> BlockMeans:
    """Averages of ``values`` (one per step, step 1 first) over consecutive blocks of ``size`` steps.

    Examples
    --------
    >>> b = block_means([1.0, 3.0, 2.0, 4.0, 9.0], 2)
    >>> b.step.tolist(), b.mean.tolist()
    ([1.5, 3.5], [2.0, 3.0])
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"values must be 1-D, one per step; got shape {x.shape}.")
    if not (isinstance(size, int | np.integer) and 1 <= size <= x.size):
        raise ValueError(f"size must be an integer in 1..{x.size} (the number of steps); got {size!r}.")
    blocks = x.size // size
    grid = x[: blocks * size].reshape(blocks, size)
    if se is not None:
        s = np.asarray(se, dtype=np.float64)
        if s.shape != x.shape:
            raise ValueError(f"se must have the values' shape {x.shape}; got {s.shape}.")
        errors = np.sqrt((s[: blocks * size].reshape(blocks, size) ** 2).sum(axis=1)) / size
    elif size > 1:
        errors = grid.std(axis=1, ddof=1) / np.sqrt(size)
    else:
        errors = np.full(blocks, np.nan)
    middle = np.arange(blocks) * size + (size + 1) / 2
    return BlockMeans(middle, grid.mean(axis=1), errors, int(size))


def value_at_kl(kl: ArrayLike, curve_kl: ArrayLike, curve_value: ArrayLike) -> NDArray[np.float64] | float:
    """A curve ``(curve_kl, curve_value)`` read at ``kl`` by linear interpolation (matched-KL comparisons).

    The curve need not be sorted (it is, first); a KL outside its range gives NaN rather
    than an extrapolation. Scalar in, scalar out.

    Examples
    --------
    >>> value_at_kl(0.5, [0.0, 1.0], [0.0, 0.2])
    0.1
    >>> bool(np.isnan(value_at_kl(2.0, [0.0, 1.0], [0.0, 0.2])))
    True
    """
    x, y = np.asarray(curve_kl, dtype=np.float64), np.asarray(curve_value, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or x.size < 2:
        raise ValueError("curve_kl and curve_value must be 1-D of the same length, at least 2 points.")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("the curve must be finite; drop its non-finite points first.")
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    at = np.asarray(kl, dtype=np.float64)
    out = np.interp(at, x, y)
    out = np.where((at < x[0]) | (at > x[-1]) | np.isnan(at), np.nan, out)
    return float(out) if np.ndim(kl) == 0 else out


@dataclass(frozen=True)
class ZeroStepCheck:
    """The zero-step run against the frontier's base samples (same prompts, independent samples).

    ``reward_difference``/``judge_difference``: the run's mean minus the frontier's, prompt by
    prompt (:func:`paired_difference`), with standard errors ``*_se``; ``z`` the larger
    ``|difference| / se`` of the two; ``max_kl`` the largest exact sequence KL of an
    evaluation sample (0 up to rounding: the policy *is* the base). ``passed`` when both
    differences lie within ``z_limit`` standard errors and ``max_kl`` within ``kl_tolerance``.
    """

    reward_difference: float
    reward_se: float
    judge_difference: float
    judge_se: float
    z: float
    max_kl: float
    passed: bool


def zero_step_check(
    zero_step: dict[str, Any], frontier_results: dict[str, Any], *, z_limit: float = 3.0, kl_tolerance: float = 1e-6
) -> ZeroStepCheck:
    """Check that the evaluation of the untrained policy lands on the frontier's base point.

    The two draw independent samples of the same base policy on the same prompts, so the
    per-prompt differences of their means are pure noise: a difference beyond ``z_limit``
    standard errors would mean the evaluation does not measure the frontier's ``π0``.
    """
    check_same_base(zero_step["config"], frontier_results)
    if zero_step["config"]["steps"] != 0:
        raise ValueError(f"not a zero-step run: it trained {zero_step['config']['steps']} steps.")
    reward = np.asarray(frontier_results["reward"], dtype=np.float64)
    prompts = np.repeat(np.arange(reward.shape[0]), reward.shape[1])
    base = {"prompt_index": prompts, "reward": reward.ravel(),
            "judge": np.asarray(frontier_results["judge"], dtype=np.float64).ravel()}  # fmt: skip
    ev = zero_step["eval"]
    reward_diff, reward_se = paired_difference(ev, base)
    judge_diff, judge_se = paired_difference(ev, base, "judge")
    z = max(abs(reward_diff) / reward_se, abs(judge_diff) / judge_se)
    max_kl = float(np.max(np.abs(ev["kl_exact"])))
    return ZeroStepCheck(reward_diff, reward_se, judge_diff, judge_se, float(z), max_kl,
                         bool(z <= z_limit and max_kl <= kl_tolerance))  # fmt: skip


# ---------------------------------------------------------------------------- the long runs (study)

#: A run *learned* when its reward gain over its shuffled-reward control exceeds this many standard errors.
LEARNED_Z = 2.0


def _config_without(config: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in names}


@dataclass(frozen=True)
class ControlGain:
    """A run trained on the reward against its shuffled-reward control (same config but the reward signal).

    Attributes
    ----------
    method, beta, seed : the pair's method, ``kl_coef`` and seed.
    gain, se : the run's mean evaluated reward minus the control's, prompt by prompt, and its
        standard error (:func:`paired_difference`; both evaluations use the same prompts and seed).
    z : ``gain / se``; the run *learned* (:attr:`learned`) when ``z >`` :data:`LEARNED_Z`.
    judge_gain, judge_se : the same difference for the held-out judge.
    kl, control_kl : the exact sequence KL to ``π0`` of the run and of its control (means over samples).
    """

    method: str
    beta: float
    seed: int
    gain: float
    se: float
    z: float
    judge_gain: float
    judge_se: float
    kl: float
    control_kl: float

    @property
    def learned(self) -> bool:
        """``z >`` :data:`LEARNED_Z`: the reward bought a gain that noise alone (the control) did not."""
        return bool(self.z > LEARNED_Z)


def control_gains(runs: Sequence[dict[str, Any]]) -> list[ControlGain]:
    """Each shuffled-reward control of ``runs`` against the run it shadows (the same config, trained on the reward).

    Controls whose run is not among ``runs`` are left out (the study may not have it yet).

    Examples
    --------
    >>> cfg = {"method": "ppo", "kl_coef": 0.1, "seed": 1, "steps": 2}
    >>> ev = lambda r: {"prompt_index": [0, 0, 1, 1], "reward": r, "judge": [0.0] * 4, "kl_exact": [0.5] * 4}
    >>> run = {"config": cfg, "eval": ev([1.0, 2.0, 5.0, 6.0])}
    >>> control = {"config": {**cfg, "reward_signal": "shuffled"}, "eval": ev([1.0, 1.0, 4.0, 4.0])}
    >>> g = control_gains([run, control])[0]
    >>> g.gain, g.se, g.z, g.learned
    (1.0, 0.5, 2.0, False)
    """
    real = [r for r in runs if r["config"].get("reward_signal", "task") == "task"]
    out = []
    for control in runs:
        cfg = control["config"]
        if cfg.get("reward_signal", "task") != "shuffled":
            continue
        key = _config_without(cfg, "reward_signal")
        match = [r for r in real if _config_without(r["config"], "reward_signal") == key]
        if not match:
            continue
        run = match[0]
        gain, se = paired_difference(run["eval"], control["eval"])
        judge, judge_se = paired_difference(run["eval"], control["eval"], "judge")
        out.append(ControlGain(
            method=cfg["method"], beta=float(cfg["kl_coef"]), seed=int(cfg["seed"]), gain=gain, se=se,
            z=gain / se if se > 0 else float("nan"), judge_gain=judge, judge_se=judge_se,
            kl=float(np.mean(run["eval"]["kl_exact"])), control_kl=float(np.mean(control["eval"]["kl_exact"])),
        ))  # fmt: skip
    return out


@dataclass(frozen=True)
class MatchedShare:
    """A policy's reward gain as a share of the estimated limit at the same KL (matched KL).

    Attributes
    ----------
    kl, gain, gain_se : the policy's KL to ``π0``, its reward gain and the gain's standard error.
    limit : the estimated frontier's gain at ``kl`` (:func:`value_at_kl` along the frontier; NaN
        beyond the estimable ceiling or the β grid).
    limit_low, limit_high : the frontier's band at ``kl`` (its bootstrap percentiles over prompts).
    share : ``gain / limit``; ``share_low``, ``share_high`` the share against the band's upper and
        lower edges (the frontier's uncertainty); ``share_se`` the gain's standard error over the
        limit (the policy's own noise). NaN where the limit (or the edge) is not positive.
    reliable : ``kl`` lies in the frontier's reliable region. The plug-in frontier is biased low at
        every KL, and more so beyond the reliable region, so a share is an upper estimate of the
        share of the true limit.
    bon_gain : best-of-N's gain at the same KL, interpolated between its ``N`` (NaN outside them).
    """

    kl: float
    gain: float
    gain_se: float
    limit: float
    limit_low: float
    limit_high: float
    share: float
    share_low: float
    share_high: float
    share_se: float
    reliable: bool
    bon_gain: float


def _ratio(a: float, b: float) -> float:
    return a / b if np.isfinite(b) and b > 0 else float("nan")


def matched_share(curves: lab.LabCurves, kl: float, gain: float, gain_se: float = float("nan")) -> MatchedShare:
    """The :class:`MatchedShare` of a policy at (``kl``, ``gain``) against the estimated frontier ``curves``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> rewards = rng.normal(size=(8, 16))
    >>> curves = lab.lab_curves(rewards, rewards, [0.5, 1.0, 2.0], (1, 2, 4), n_boot=50,
    ...                         rng=np.random.default_rng(1))
    >>> s = matched_share(curves, 0.2, 0.3, 0.05)
    >>> round(s.limit, 4), round(s.share, 4), round(s.share_se, 4)
    (0.5327, 0.5632, 0.0939)
    >>> bool(np.isnan(matched_share(curves, 5.0, 0.3).share))  # beyond the estimable ceiling
    True
    """
    if not (np.isfinite(kl) and kl >= 0):
        raise ValueError(f"kl must be a finite number >= 0; got {kl!r}.")
    if not np.isfinite(gain):
        raise ValueError(f"gain must be finite; got {gain!r}.")
    frontier_kl = np.concatenate([[0.0], np.atleast_1d(curves.kl)])
    inside = frontier_kl <= curves.kl_ceiling  # beyond the ceiling the estimate has no meaning

    def read(values: ArrayLike) -> float:
        curve = np.concatenate([[0.0], np.atleast_1d(values)])[inside]
        return float(value_at_kl(kl, frontier_kl[inside], curve))

    limit = read(curves.gain_reward)
    low, high = (read(edge) for edge in curves.bands["gain_reward"])
    bon = float(value_at_kl(kl, curves.bon_kl, curves.bon_gain_reward)) if curves.bon_kl.size > 1 else float("nan")
    return MatchedShare(
        kl=float(kl), gain=float(gain), gain_se=float(gain_se), limit=limit, limit_low=low, limit_high=high,
        share=_ratio(gain, limit), share_low=_ratio(gain, high), share_high=_ratio(gain, low),
        share_se=_ratio(gain_se, limit), reliable=bool(kl <= reliable_kl(curves)), bon_gain=bon,
    )  # fmt: skip


@dataclass(frozen=True)
class RunCost:
    """What a run cost, from its provenance.

    Attributes
    ----------
    samples_drawn : completions sampled from a policy to train (RL: every training sample;
        distillation: its one pass of base samples).
    samples_trained : rows the optimiser saw (``steps × samples_per_step``).
    cpu_hours : wall time (training and evaluation) times the torch threads, in hours.
    train_hours : the training part alone (sampling pass included), times the threads.
    device : the device it ran on (``"cpu"``, ``"cuda"``).
    per_answer : samples drawn per answer at inference (1: the trained policy answers once).
    """

    samples_drawn: int
    samples_trained: int
    cpu_hours: float
    train_hours: float
    device: str
    per_answer: int = 1


def run_cost(run: dict[str, Any]) -> RunCost:
    """The :class:`RunCost` of a saved run (its ``provenance``).

    Examples
    --------
    >>> prov = {"samples_trained": 3840, "samples_drawn": 3840, "wall_time_s": 7200.0, "train_time_s": 5400.0,
    ...         "hardware": {"device": "cpu", "torch_threads": 1}}
    >>> run_cost({"provenance": prov})
    RunCost(samples_drawn=3840, samples_trained=3840, cpu_hours=2.0, train_hours=1.5, device='cpu', per_answer=1)
    """
    prov = run["provenance"]
    hardware = prov.get("hardware", {})
    threads = int(hardware.get("torch_threads", 1) or 1)
    trained = int(prov["samples_trained"])
    train_s = float(prov.get("train_time_s", prov["wall_time_s"])) + float(prov.get("sampling_time_s", 0.0))
    return RunCost(
        samples_drawn=int(prov.get("samples_drawn", trained)), samples_trained=trained,
        cpu_hours=float(prov["wall_time_s"]) * threads / 3600, train_hours=train_s * threads / 3600,
        device=str(hardware.get("device", "cpu")),
    )  # fmt: skip


def run_label(config: dict[str, Any]) -> str:
    """A short name for a study run: method, β, seed and what sets it apart (control, KL in the loss, best-of-N).

    Examples
    --------
    >>> run_label({"method": "ppo", "kl_coef": 0.1, "seed": 2, "steps": 120})
    'PPO β=0.1 seed 2'
    >>> run_label({"method": "grpo", "kl_coef": 0.1, "seed": 1, "steps": 120, "reward_signal": "shuffled"})
    'GRPO β=0.1 seed 1, shuffled control'
    >>> run_label({"method": "distill", "kl_coef": 0.1, "seed": 1, "steps": 100, "best_of": 4})
    'distill best-of-4 seed 1'
    >>> run_label({"method": "grpo", "kl_coef": 0.1, "seed": 1, "steps": 0})
    'zero-step (base policy)'
    """
    if config["steps"] == 0:
        return "zero-step (base policy)"
    method = "distill" if config["method"] == "distill" else config["method"].upper()
    what = f"best-of-{config['best_of']}" if config.get("best_of") else f"β={config['kl_coef']:g}"
    label = f"{method} {what} seed {config['seed']}"
    if config.get("reward_signal", "task") == "shuffled":
        label += ", shuffled control"
    if config.get("kl_in") == "loss":
        label += ", k3 in the loss"
    return label
