"""The study chapter's Pareto figure, drawn from fabricated partial results (alignlimits.experiments.report)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from alignlimits import lab, plotting
from alignlimits.experiments import report, study
from tests.study_fakes import fake_study_run


@pytest.fixture(scope="module")
def curves() -> lab.LabCurves:
    rng = np.random.default_rng(1)
    r = rng.normal(size=(64, 16)) * 0.1
    return lab.lab_curves(r, r + rng.normal(size=r.shape) * 0.05, np.geomspace(0.01, 20, 60), (1, 2, 4, 8),
                          n_boot=10, rng=np.random.default_rng(2))  # fmt: skip


def _labels(fig) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def test_pareto_figure_draws_each_kind_of_run_and_fits_the_column(curves) -> None:
    rng = np.random.default_rng(0)
    planned = study.study_configs("safety", "full")
    zero = fake_study_run(planned[0], rng)
    runs = [fake_study_run(c, rng, shift=0.05, kl=0.4) for c in planned[1:5]]  # PPO main, control, second β; GRPO
    runs.append(fake_study_run(next(c for c in planned if c.method == "distill"), rng, shift=0.03, kl=1.0))
    fig = report.pareto_figure(curves, runs, zero, main_beta=study.STUDY_KL_COEFS[0], title="safety")
    try:
        assert fig.get_size_inches()[0] <= plotting.COLUMN_WIDTH
        labels = _labels(fig)
        expected = ("PPO (one line per seed)", "PPO, shuffled-reward control", "PPO, second β",
                    "distillation of π_β", "zero-step run (base policy re-evaluated)", "estimated frontier")
        for name in expected:
            assert any(label.startswith(name) for label in labels), (name, labels)
        # every run is drawn as its trajectory: the zero-step point, each path evaluation, the final one
        ppo = [line for line in fig.axes[0].lines if line.get_label() == "PPO (one line per seed)"]
        assert len(ppo) == 1 and len(ppo[0].get_xdata()) == 2 + len(planned[1].path_evals)
        assert fig.axes[0].get_xlim()[1] >= curves.kl_ceiling
    finally:
        plt.close(fig)


def test_pareto_figure_without_a_zero_step_run_draws_final_points(curves) -> None:
    rng = np.random.default_rng(0)
    planned = study.study_configs("summarization", "full")
    fig = report.pareto_figure(curves, [fake_study_run(planned[1], rng, kl=0.3)], None)
    try:
        (line,) = [line for line in fig.axes[0].lines if line.get_label().startswith("PPO")]
        assert len(line.get_xdata()) == 1
        assert not any(label.startswith("zero-step") for label in _labels(fig))
    finally:
        plt.close(fig)


def test_run_style_separates_controls_and_the_loss_variant() -> None:
    control = report.run_style({"method": "grpo", "kl_coef": 0.1, "steps": 5, "reward_signal": "shuffled"}, 0.1)
    loss = report.run_style({"method": "grpo", "kl_coef": 0.04, "steps": 5, "kl_in": "loss"}, 0.1)
    assert control["marker"] == "x" and control["alpha"] < 0.9 and loss["ls"] == ":"


@pytest.fixture(scope="module")
def partial(tmp_path_factory):
    """A study file with a few of the planned runs (zero-step, PPO's main run and control, one distillation)."""
    from alignlimits.experiments import committed, rl_runs

    planned = study.study_configs("safety", "full")
    rng = np.random.default_rng(3)
    base = np.mean(committed.frontier_results("safety", "full")["reward"])
    chosen = [planned[0], planned[1], planned[2], next(c for c in planned if c.method == "distill")]
    runs = [fake_study_run(c, rng, shift=base + (0.05 if i == 1 else 0.0), kl=0.3) for i, c in enumerate(chosen)]
    path = rl_runs.save_runs("safety", "full", runs, tmp_path_factory.mktemp("study") / "study.json")
    return committed.study_results("safety", "full", path=path)


@pytest.fixture(scope="module")
def real_curves(partial) -> lab.LabCurves:
    r, j = np.asarray(partial.frontier["reward"]), np.asarray(partial.frontier["judge"])
    return lab.lab_curves(r, j, np.geomspace(1e-3, 10, 80), lab.bon_sizes(r.shape[1]), n_boot=10,
                          rng=np.random.default_rng(0))  # fmt: skip


def test_the_tables_show_a_partial_study(partial, real_curves) -> None:
    from alignlimits.experiments import analysis

    status = report.status_table(partial)
    assert len(status.cells) == len(partial.planned) and [row[-1] for row in status.cells].count("yes") == 4
    assert "4 of 15 planned runs finished" in status.caption
    gains = analysis.control_gains(partial.runs)
    assert len(gains) == 1 and gains[0].method == "ppo" and gains[0].learned  # the fake run is 0.05 above
    assert len(report.control_table("safety", gains).cells) == 1
    points = report.final_points(partial.runs, partial.zero_step, real_curves)
    assert len(points) == 3 and all(np.isfinite(p.length_change) for _, p in points)  # paired with the zero-step
    table, shares = report.share_table("safety", real_curves, points)
    assert len(table.cells) == len(shares) == 3
    assert shares[0].share == pytest.approx(points[0][1].gain / shares[0].limit)
    hacking = report.hacking_table("safety", real_curves, points)
    assert len(hacking.cells) == 3 + int(np.sum(real_curves.n > 1))
    cost = report.cost_table(partial, real_curves)
    assert [row[0] for row in cost.cells] == ["PPO", "distillation", "best-of-N (from the frontier's samples)"]
    assert cost.cells[0][1] == "2"  # the PPO run and its control


def test_final_points_without_a_zero_step_run_use_the_frontiers_base(partial, real_curves) -> None:
    runs = [r for r in partial.runs if r["config"]["steps"] > 0]
    points = report.final_points(runs, None, real_curves)
    assert len(points) == 3 and all(np.isnan(p.length_change) for _, p in points)
    run, p = points[0]
    assert p.gain == pytest.approx(np.mean(run["eval"]["reward"]) - real_curves.base_reward)


def test_pilot_table_marks_the_chosen_rate(partial) -> None:
    table = report.pilot_table(partial.pilot)
    chosen = {(row[0], row[1]) for row in table.cells if row[-1] == "yes"}
    assert chosen == {("PPO", f"{study.STUDY_LRS['ppo']:.0e}"), ("GRPO", f"{study.STUDY_LRS['grpo']:.0e}")}
