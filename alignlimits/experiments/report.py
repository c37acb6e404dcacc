r"""The figure and tables of the SmolLM2 study chapter, drawn from results (no model is run).

Every function takes what :func:`alignlimits.experiments.committed.study_results` returns
(any subset of the planned runs) and the frontier's :class:`~alignlimits.lab.LabCurves`:

* :func:`pareto_figure` — one task's KL–reward plane: the estimated frontier with its band,
  its reliable and estimable ranges, best-of-N, every run's measured trajectory,
  distillation, the shuffled-reward controls and the zero-step point; beside it the
  held-out judge's gain for the same policies;
* :func:`final_points` — each trained run's final evaluation as a
  :class:`~alignlimits.experiments.analysis.PathPoint` (paired with the zero-step run);
* :func:`status_table`, :func:`pilot_table`, :func:`control_table`, :func:`share_table`,
  :func:`hacking_table`, :func:`cost_table` — the chapter's tables;
* :func:`run_style` — the colour, line and marker of a run.

The figure is :data:`~alignlimits.plotting.COLUMN_WIDTH` wide (the book's text column).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from alignlimits import lab, plotting, tables
from alignlimits.experiments import analysis
from alignlimits.experiments.committed import StudyResults

__all__ = [
    "control_table",
    "cost_table",
    "final_points",
    "hacking_table",
    "pareto_figure",
    "pilot_table",
    "run_style",
    "share_table",
    "status_table",
]

_DISTILL = plotting.COLORS["optimizer"]


def run_style(config: dict[str, Any], main_beta: float | None = None) -> dict[str, Any]:
    """Matplotlib keywords for a study run: colour by method, line by variant, marker by kind.

    Solid line: the main ``β`` (``main_beta``; every ``β`` when None); dashed: another ``β``;
    dotted: GRPO's k3-in-the-loss variant; thin and faint: a shuffled-reward control.
    Distillation is orange with squares (best-of-N winners: plus signs).

    Examples
    --------
    >>> style = run_style({"method": "ppo", "kl_coef": 0.03, "steps": 120}, main_beta=0.1)
    >>> style["color"] == plotting.COLORS["ppo"], style["ls"], style["marker"]
    (True, '--', 'o')
    """
    method = config["method"]
    color = _DISTILL if method == "distill" else plotting.COLORS.get(method, "0.3")
    marker = {"ppo": "o", "grpo": "^"}.get(method, "P" if config.get("best_of") else "s")
    ls = "-" if main_beta is None or config["kl_coef"] == main_beta or method == "distill" else "--"
    if config.get("kl_in") == "loss":
        ls = ":"
    style: dict[str, Any] = {"color": color, "ls": ls, "marker": marker, "lw": 1.3, "ms": 5, "alpha": 0.9}
    if config.get("reward_signal", "task") == "shuffled":
        style.update(lw=0.8, alpha=0.45, marker="x", ms=6)
    return style


def _legend_name(config: dict[str, Any], main_beta: float | None) -> str:
    method = config["method"]
    if method == "distill":
        return f"distillation, best-of-{config['best_of']} winners" if config.get("best_of") else "distillation of π_β"
    name = method.upper()
    if config.get("reward_signal", "task") == "shuffled":
        return f"{name}, shuffled-reward control"
    if config.get("kl_in") == "loss":
        return f"{name}, k3 in the loss"
    if main_beta is not None and config["kl_coef"] != main_beta:
        return f"{name}, second β"
    return f"{name} (one line per seed)"


def _final_point(run: dict[str, Any], curves: lab.LabCurves) -> list[analysis.PathPoint]:
    """Without a zero-step run: the final evaluation alone, its gains over the frontier's base means."""
    s = analysis.summarize_run(run)
    return [analysis.PathPoint(int(run["config"]["steps"]), s.reward - curves.base_reward, s.reward_se,
                               s.judge - curves.base_judge, s.judge_se, s.kl_exact, s.kl_exact_se, s.length,
                               len(run["eval"]["reward"]))]  # fmt: skip


def final_points(
    runs: Sequence[dict[str, Any]], zero_step: dict[str, Any] | None, curves: lab.LabCurves
) -> list[tuple[dict[str, Any], analysis.PathPoint]]:
    """Each trained run of ``runs`` with its final evaluation as a :class:`~alignlimits.experiments.analysis.PathPoint`.

    With the zero-step run, gains (reward, judge, length) are paired with it prompt by prompt
    (:func:`~alignlimits.experiments.analysis.path_points`); without it, the gains are over the
    frontier's base means (``curves``) with unpaired standard errors, and the length change is NaN.
    """
    out = []
    for run in runs:
        if run["config"]["steps"] > 0:
            path = analysis.path_points(run, zero_step) if zero_step is not None else _final_point(run, curves)
            out.append((run, path[-1]))
    return out


def pareto_figure(
    curves: lab.LabCurves,
    runs: Sequence[dict[str, Any]],
    zero_step: dict[str, Any] | None = None,
    *,
    main_beta: float | None = None,
    title: str = "",
) -> Figure:
    """One task's Pareto figure: reward gain (left) and judge gain (right) against the exact KL to ``π0``.

    Parameters
    ----------
    curves : the frontier and best-of-N estimated from the base samples (:func:`alignlimits.lab.lab_curves`).
    runs : the study's trained runs (results-file dicts; a zero-step run among them is skipped).
    zero_step : the zero-step run. With it, each run is drawn as its measured trajectory — the
        zero-step point, each path evaluation, the final evaluation — with gains paired with it
        prompt by prompt (:func:`~alignlimits.experiments.analysis.path_points`); without it,
        only each run's final point, against the frontier's base means.
    main_beta : the study's main ``β`` (solid lines); others are dashed.
    title : a suptitle (the task).

    Returns
    -------
    The figure, :data:`~alignlimits.plotting.COLUMN_WIDTH` wide, legend below.
    """
    fig, axes = plotting.subplots(1, 2, height=4.6)
    inside = np.atleast_1d(curves.kl) <= curves.kl_ceiling
    edge = analysis.reliable_kl(curves)
    trained = [r for r in runs if r["config"]["steps"] > 0]
    paths = [analysis.path_points(r, zero_step) if zero_step is not None else _final_point(r, curves)
             for r in trained]  # fmt: skip
    right = max([curves.kl_ceiling, *(p.kl + p.kl_se for path in paths for p in path)])
    for ax, which, bon, what in ((axes[0], "gain_reward", curves.bon_gain_reward, "reward"),
                                 (axes[1], "gain_judge", curves.bon_gain_judge, "held-out judge")):  # fmt: skip
        kl = np.atleast_1d(curves.kl)[inside]
        plotting.plot_frontier(ax, kl, np.atleast_1d(getattr(curves, which))[inside],
                               label="estimated frontier (tilt selected by the reward)")  # fmt: skip
        low, high = (np.atleast_1d(b)[inside] for b in curves.bands[which])
        ax.fill_between(kl, low, high, color=plotting.COLORS["frontier"], alpha=0.12, lw=0,
                        label="90 % band (prompts resampled)")  # fmt: skip
        ax.axvspan(edge, curves.kl_ceiling, color="0.5", alpha=0.12, lw=0,
                   label="diagnostics flag the frontier (shares: upper estimates)")  # fmt: skip
        ax.axvline(curves.kl_ceiling, color="0.5", ls=":", lw=1, label="estimable ceiling")
        ax.plot(curves.bon_kl, bon, "D", ms=4, color=plotting.COLORS["best_of_n"],
                label=f"best-of-N, N = {curves.n[0]}…{curves.n[-1]}")  # fmt: skip
        for run, path in zip(trained, paths, strict=True):
            style = run_style(run["config"], main_beta)
            x = [p.kl for p in path]
            y = [p.gain if which == "gain_reward" else p.judge_gain for p in path]
            ax.plot(x, y, label=_legend_name(run["config"], main_beta), **style)
            last = path[-1]
            ax.errorbar(last.kl, y[-1], xerr=last.kl_se,
                        yerr=last.gain_se if which == "gain_reward" else last.judge_gain_se,
                        fmt="none", ecolor=style["color"], elinewidth=0.8, alpha=style["alpha"])  # fmt: skip
        if zero_step is not None:
            s = analysis.summarize_run(zero_step)
            base = curves.base_reward if which == "gain_reward" else curves.base_judge
            se = s.reward_se if which == "gain_reward" else s.judge_se
            value = s.reward if which == "gain_reward" else s.judge
            ax.errorbar(s.kl_exact, value - base, yerr=se, fmt="s", ms=6, mfc="white", color="k", zorder=5,
                        label="zero-step run (base policy re-evaluated)")  # fmt: skip
        ax.set_xlim(0, 1.05 * right)
        ax.set_ylabel(f"{what} gain over $\\pi_0$")
    axes[0].set_title("reward")
    axes[1].set_title("held-out judge (same policies)")
    if title:
        fig.suptitle(title)
    plotting.legend_below(fig, axes[0], ncols=2)
    return fig


def status_table(results: StudyResults) -> tables.Table:
    """Every planned run of the study, in planned order, and whether it is in the results yet."""
    done = results.complete
    rows = [[analysis.run_label(c.as_dict()), c.steps, c.steps * c.samples_per_step, done[c.key()]]
            for c in results.planned]  # fmt: skip
    return tables.table(
        rows, ["run", "steps", "training samples", "finished"],
        caption=f"{results.task}: {sum(done.values())} of {len(done)} planned runs finished ({results.tier} tier)",
        notes=[f"{results.unplanned} run(s) of the results file are not in the plan and are left out."]
        if results.unplanned else [],
    )  # fmt: skip


def pilot_table(pilot: Sequence[dict[str, Any]], methods: Sequence[str] = ("ppo", "grpo")) -> tables.Table:
    """The learning-rate pilot: per method and rate, the gain over the shuffled control, its z and KL.

    The rate :func:`~alignlimits.experiments.study.choose_pilot_lr` keeps is marked.
    """
    from alignlimits.experiments import study  # torch: only when the pilot is shown

    rows = []
    for method in methods:
        scores = study.pilot_scores(pilot, method)
        chosen = study.choose_pilot_lr(scores) if scores else None
        rows += [[method.upper(), s.lr, f"{s.gain_over_control:+.4f} ± {s.se:.4f}", s.z, s.kl, s.per_nat,
                  s.lr == chosen] for s in scores]  # fmt: skip
    steps = {r["config"]["steps"] for r in pilot}
    return tables.table(
        rows, ["method", "lr", "gain over control ± se", "z", "KL (nats)", "gain per nat", "chosen"],
        formats={"lr": ".0e", "z": ".2f", "KL (nats)": ".3f", "gain per nat": ".3f"},
        caption=f"learning-rate pilot on {pilot[0]['config']['task'] if pilot else '–'} "
                f"({', '.join(map(str, sorted(steps))) or '–'} steps per run)",
        notes=["chosen: the most gain per nat among rates with z > 2, else the largest z (study.choose_pilot_lr)."],
    )  # fmt: skip


def control_table(task: str, gains: Sequence[analysis.ControlGain]) -> tables.Table:
    """The gain of each run over its shuffled-reward control, its se and z, and whether it learned."""
    rows = [[g.method.upper(), g.beta, g.seed, f"{g.gain:+.4f} ± {g.se:.4f}", g.z, g.learned,
             f"{g.judge_gain:+.4f} ± {g.judge_se:.4f}", g.kl, g.control_kl] for g in gains]  # fmt: skip
    return tables.table(
        rows, ["method", "β", "seed", "reward: run − control ± se", "z", "learned", "judge: run − control ± se",
               "KL run", "KL control"],
        formats={"β": "g", "z": ".2f", "KL run": ".3f", "KL control": ".3f"},
        caption=f"{task}: gain over the shuffled-reward control (paired by prompt, same evaluation seed)",
        notes=[f"learned: z > {analysis.LEARNED_Z:g}."],
    )  # fmt: skip


def share_table(
    task: str, curves: lab.LabCurves, points: Sequence[tuple[dict[str, Any], analysis.PathPoint]]
) -> tuple[tables.Table, list[analysis.MatchedShare]]:
    """Each run's share of the estimated limit at its KL, with the frontier's band, and best-of-N's gain there.

    Returns the table and the :class:`~alignlimits.experiments.analysis.MatchedShare` of each point.
    """
    shares = [analysis.matched_share(curves, p.kl, p.gain, p.gain_se) for _, p in points]
    rows = [[analysis.run_label(run["config"]), f"{p.kl:.3f} ± {p.kl_se:.3f}", f"{p.gain:+.4f} ± {p.gain_se:.4f}",
             s.limit, s.share, f"[{s.share_low:.2f}, {s.share_high:.2f}]" if np.isfinite(s.share) else None,
             s.share_se, s.reliable, s.bon_gain, _ratio(s.bon_gain, s.limit)]
            for (run, p), s in zip(points, shares, strict=True)]  # fmt: skip
    table = tables.table(
        rows, ["run", "KL ± se", "reward gain ± se", "limit there", "share", "share, frontier band", "share se",
               "reliable KL", "best-of-N gain there", "best-of-N share"],
        formats={"limit there": ".4f", "share": ".2f", "share se": ".2f", "best-of-N gain there": "+.4f",
                 "best-of-N share": ".2f"},
        caption=f"{task}: share of the estimated limit at each run's KL (reliable up to "
                f"{analysis.reliable_kl(curves):.2f} nats, estimable up to {curves.kl_ceiling:.2f})",
        notes=["Shares are upper estimates: the plug-in frontier is biased low, most beyond the reliable KL "
               "(reliable KL = no). –: beyond the estimable ceiling or outside best-of-N's range."],
    )  # fmt: skip
    return table, shares


def _ratio(a: float, b: float) -> float:
    return a / b if np.isfinite(a) and np.isfinite(b) and b > 0 else float("nan")


def hacking_table(
    task: str, curves: lab.LabCurves, points: Sequence[tuple[dict[str, Any], analysis.PathPoint]]
) -> tables.Table:
    """The reward, the held-out judge and the completion length of every run and every best-of-N point."""
    rows = [[analysis.run_label(run["config"]), f"{p.gain:+.4f} ± {p.gain_se:.4f}",
             f"{p.judge_gain:+.4f} ± {p.judge_gain_se:.4f}",
             f"{p.length_change:+.2f} ± {p.length_change_se:.2f}" if np.isfinite(p.length_change) else None, p.kl]
            for run, p in points]  # fmt: skip
    rows += [[f"best-of-{n}", f"{g:+.4f}", f"{j:+.4f}", None, kl]
             for n, g, j, kl in zip(curves.n, curves.bon_gain_reward, curves.bon_gain_judge, curves.bon_kl,
                                    strict=True) if n > 1]  # fmt: skip
    return tables.table(
        rows, ["policy", "reward gain ± se", "judge gain ± se", "length change (tokens) ± se", "KL"],
        formats={"KL": ".3f"},
        caption=f"{task}: what the reward, the held-out judge and the completion length say about each policy",
        notes=["Runs: paired with the zero-step run prompt by prompt. Best-of-N: estimated from the frontier's "
               "base samples (no length is recorded per selection: –)."],
    )  # fmt: skip


def cost_table(results: StudyResults, curves: lab.LabCurves) -> tables.Table:
    """What each method costs: samples drawn to train, CPU-hours per run, samples per answer at inference."""
    rows = []
    by_method: dict[str, list[analysis.RunCost]] = {}
    for run in results.runs:
        if run["config"]["steps"] > 0:
            by_method.setdefault(run["config"]["method"], []).append(analysis.run_cost(run))
    for method, costs in by_method.items():
        rows.append([method.upper() if method != "distill" else "distillation", len(costs),
                     float(np.mean([c.samples_drawn for c in costs])), float(np.mean([c.cpu_hours for c in costs])),
                     float(np.sum([c.cpu_hours for c in costs])), "1"])  # fmt: skip
    prov = results.frontier.get("provenance", {})
    front_hours = float(prov.get("wall_time_s", np.nan)) / 3600
    rows.append(["best-of-N (from the frontier's samples)", 0, curves.n_prompts * curves.n_samples, front_hours,
                 front_hours, f"N = {curves.n[1]}…{curves.n[-1]}" if curves.n.size > 1 else "N"])  # fmt: skip
    return tables.table(
        rows, ["method", "runs", "samples drawn per run", "CPU-hours per run", "CPU-hours, all runs",
               "samples per answer"],
        formats={"samples drawn per run": ".0f", "CPU-hours per run": ".2f", "CPU-hours, all runs": ".2f"},
        caption=f"{results.task}: cost of the finished runs (wall time × threads, evaluation included)",
        notes=["Best-of-N trains nothing: its row is the base sampling (and scoring) of the frontier experiment, "
               "which it shares; at inference it draws N samples per answer, the trained policies one."],
    )  # fmt: skip
