r"""Real training runs on the estimated frontier: how far is each logged step from the limit?

A training log gives, at each logged step, the mean reward of the policy's own samples and
an estimate of its KL to the starting model. Placed on the frontier estimated from base
samples of the *same* reward (:func:`alignlimits.estimator.estimate_frontier`), each point
gets the best gain any policy reaches at its KL, its share of that limit, and whether the
frontier is reliable there (:func:`overlay`).

**Logs read** (:func:`read_training_log`):

* a TRL ``trainer_state.json`` — its ``log_history``. GRPO-style logs (``"kl"``,
  ``"reward"``, ``"completions/mean_length"``): TRL's ``kl`` is the k3 estimate averaged
  over all completion tokens of the batch, so ``kl × mean length`` is the mean over
  completions of each one's summed k3 — an unbiased estimate of the *sequence* KL the
  frontier is drawn in. PPO-style logs (``"objective/kl"``, ``"objective/scores"``) already
  give the sequence KL.
* a CSV file with columns ``kl`` (sequence KL, nats) and ``reward``, and optionally ``step``.

The gain of a point is its mean reward minus the base samples' mean reward: the log's reward
and the rewards file must come from the same reward function on the same prompts. A
training batch's mean reward is a noisy estimate; the share is a point estimate, and the
limit is the plug-in frontier, biased low at every KL (the book's chapter on the
covariance estimator proves it), so the share is biased up.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from alignlimits import estimator

__all__ = ["LogPoint", "OverlayPoint", "overlay", "plot_overlay", "read_training_log"]


@dataclass(frozen=True)
class LogPoint:
    """One logged training step: ``step``, the sequence ``kl`` to the reference (nats) and the mean ``reward``.

    Examples
    --------
    >>> LogPoint(step=10, kl=0.5, reward=0.6).kl
    0.5
    """

    step: int
    kl: float
    reward: float


def _trl_points(history: list[dict], source: str) -> list[LogPoint]:
    points = []
    for entry in history:
        if "objective/kl" in entry and "objective/scores" in entry:  # PPO: sequence KL already
            kl, reward = entry["objective/kl"], entry["objective/scores"]
        elif "kl" in entry and "reward" in entry:
            if "completions/mean_length" not in entry:
                raise ValueError(
                    f"{source}: a logged 'kl' without 'completions/mean_length' is a per-token KL that cannot be "
                    "turned into the sequence KL of the frontier; log completion lengths or give a CSV of (kl, reward)."
                )
            kl, reward = entry["kl"] * entry["completions/mean_length"], entry["reward"]
        else:
            continue  # e.g. the final summary entry (train_runtime, …)
        points.append(LogPoint(int(entry.get("step", len(points) + 1)), float(kl), float(reward)))
    return points


def _csv_points(path: Path) -> list[LogPoint]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or not {"kl", "reward"} <= set(rows[0]):
        raise ValueError(f"{path}: a CSV log needs columns 'kl' (sequence KL, nats) and 'reward'.")
    points = []
    for i, row in enumerate(rows):
        try:
            points.append(LogPoint(int(row.get("step") or i + 1), float(row["kl"]), float(row["reward"])))
        except ValueError:
            raise ValueError(f"{path}: row {i + 2} has a non-numeric step, kl or reward.") from None
    return points


def read_training_log(path: str | Path) -> list[LogPoint]:
    """The (step, sequence KL, mean reward) points of a training log (see the module docstring).

    Raises ValueError, with one line naming the file and what to do, for a file that is not
    such a log, has no point, or holds a non-finite value or a KL estimate below ``-1e-9``
    (k3 and exact KLs are never negative; a negative value means a per-token k1 or a
    mislabelled column).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> log = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
    >>> _ = log.write_text("step,kl,reward\\n10,0.5,0.6\\n20,1.0,0.8\\n")
    >>> [p.step for p in read_training_log(log)]
    [10, 20]
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no training log at {path}; give a TRL trainer_state.json or a CSV with kl,reward columns.")
    if path.suffix.lower() == ".csv":
        points = _csv_points(path)
    else:
        try:
            state = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ValueError(f"{path}: not JSON; give a TRL trainer_state.json or a .csv log.") from None
        if not isinstance(state, dict) or not isinstance(state.get("log_history"), list):
            raise ValueError(f"{path}: no 'log_history' list; is this a TRL/transformers trainer_state.json?")
        points = _trl_points(state["log_history"], str(path))
    if not points:
        raise ValueError(f"{path}: no logged step has both a KL and a reward (log with a KL coefficient > 0).")
    bad = [p.step for p in points if not (math.isfinite(p.kl) and math.isfinite(p.reward)) or p.kl < -1e-9]
    if bad:
        raise ValueError(f"{path}: steps {bad[:5]} have a non-finite value or a negative KL.")
    return points


@dataclass(frozen=True)
class OverlayPoint:
    """A logged step against the estimated frontier.

    ``gain`` = its reward minus the base mean; ``limit`` = the estimated best gain at its KL
    (NaN beyond what the base samples can estimate); ``share`` = ``gain / limit``;
    ``reliable`` = the frontier is reliable at its KL (effective sample sizes and Pareto
    ``k̂`` within their thresholds, :func:`alignlimits.estimator.estimate_frontier`).

    Examples
    --------
    >>> p = OverlayPoint(step=10, kl=0.5, reward=0.7, gain=0.5, limit=1.0, share=0.5, reliable=True)
    >>> p.share
    0.5
    """

    step: int
    kl: float
    reward: float
    gain: float
    limit: float
    share: float
    reliable: bool


def overlay(
    points: list[LogPoint], rewards: ArrayLike, prompt_ids: ArrayLike | None = None, *, betas: ArrayLike | None = None
) -> tuple[list[OverlayPoint], estimator.EstimatedFrontier]:
    """Each logged point against the frontier estimated from base ``rewards`` (grouped by ``prompt_ids``).

    Returns the points and the estimated frontier (on ``betas``, default a grid of 200 values
    spanning the base rewards' scale), e.g. for :func:`plot_overlay`.

    Examples
    --------
    >>> import numpy as np
    >>> rewards = np.random.default_rng(0).normal(size=4000)  # N(0, 1): the limit at KL ε is sqrt(2ε)
    >>> points, _ = overlay([LogPoint(10, 0.5, 0.6)], rewards)
    >>> p = points[0]
    >>> round(p.limit, 2), round(p.share, 2), p.reliable
    (1.0, 0.62, True)
    """
    r = np.asarray(rewards, dtype=np.float64)
    if betas is None:
        spread = float(np.std(r)) or 1.0
        betas = np.geomspace(spread / 100, spread * 100, 200)
    fit = estimator.estimate_frontier(r, betas, prompt_ids)
    # The curve starts at the base policy (0, 0); no extrapolation beyond its largest KL or the ceiling.
    kl_curve, gain_curve = np.concatenate([[0.0], fit.kl]), np.concatenate([[0.0], fit.gain])
    order = np.argsort(kl_curve, kind="stable")
    kl_curve, gain_curve = kl_curve[order], gain_curve[order]
    reliable_kl = float(np.max(fit.kl[fit.reliable])) if np.any(fit.reliable) else 0.0
    out = []
    for p in points:
        inside = p.kl <= min(kl_curve[-1], fit.kl_ceiling)
        limit = float(np.interp(p.kl, kl_curve, gain_curve)) if inside else float("nan")
        gain = p.reward - fit.base_mean
        share = gain / limit if limit > 1e-12 else float("nan")
        out.append(OverlayPoint(p.step, p.kl, p.reward, gain, limit, share, bool(p.kl <= reliable_kl)))
    return out, fit


def plot_overlay(
    ax: Any, fit: estimator.EstimatedFrontier, points: list[OverlayPoint], label: str = "training log"
) -> Any:
    """Draw the estimated frontier (dashed where unreliable) and the logged points; returns ``ax``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> points, fit = overlay([LogPoint(10, 0.5, 0.6)], np.random.default_rng(0).normal(size=4000))
    >>> ax = plot_overlay(plt.figure().add_subplot(), fit, points)
    >>> ax.get_ylabel()
    'reward gain over the base model'
    """
    from alignlimits import plotting

    order = np.argsort(fit.kl)
    kl, gain, reliable = fit.kl[order], fit.gain[order], fit.reliable[order]
    ax.plot(kl[reliable], gain[reliable], "-", color="k", lw=1.5, label="estimated frontier (reliable)")
    ax.plot(kl[~reliable], gain[~reliable], "--", color="k", lw=1, label="estimated frontier (unreliable)")
    xs, ys = [p.kl for p in points], [p.gain for p in points]
    ax.plot(xs, ys, "o-", ms=4, lw=1, color=plotting.COLORS["grpo"], label=label)
    ax.annotate(f"step {points[-1].step}", (xs[-1], ys[-1]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel(r"sequence $\mathrm{KL}(\pi\,\|\,\pi_0)$ (nats)")
    ax.set_ylabel("reward gain over the base model")
    ax.legend(loc="lower right")
    return ax
