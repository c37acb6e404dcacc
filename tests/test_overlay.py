"""Training logs on the estimated frontier: reading TRL and CSV logs, placing their points, refusing bad logs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from alignlimits import estimator, overlay

FIXTURE = Path(__file__).parent / "fixtures" / "trl_tiny"


def _base_rewards() -> tuple[np.ndarray, np.ndarray]:
    with open(FIXTURE / "rewards.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return np.array([float(r["reward"]) for r in rows]), np.array([r["prompt_id"] for r in rows])


def test_a_real_trl_log_gives_sequence_kls():
    history = json.loads((FIXTURE / "trainer_state.json").read_text())["log_history"]
    points = overlay.read_training_log(FIXTURE / "trainer_state.json")
    logged = [h for h in history if "kl" in h]
    assert len(points) == len(logged) == 12  # the final summary entry is no point
    for p, h in zip(points, logged, strict=True):
        assert p.step == h["step"] and p.reward == h["reward"]
        assert p.kl == pytest.approx(h["kl"] * h["completions/mean_length"])  # per token x mean length


def test_the_trl_log_lands_under_the_frontier_of_its_base_samples():
    rewards, ids = _base_rewards()
    points, fit = overlay.overlay(overlay.read_training_log(FIXTURE / "trainer_state.json"), rewards, ids)
    assert points[0].kl == 0 and points[0].limit == 0 and np.isnan(points[0].share)  # step 1: the base policy
    for p in points[1:]:
        assert p.kl < fit.kl_ceiling and np.isfinite(p.limit) and p.limit > 0
        assert p.share == pytest.approx(p.gain / p.limit)
        # the limit is the plug-in frontier at the point's KL
        assert p.limit == pytest.approx(float(estimator.gain_at_budget(rewards, p.kl, ids).gain), rel=2e-3)
    fig = plt.figure()
    overlay.plot_overlay(fig.add_subplot(), fit, points, label="TRL GRPO (tiny model)")
    plt.close(fig)


def test_a_csv_log_and_the_limit_of_gaussian_rewards(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("step,kl,reward\n5,0.125,0.3\n10,0.5,0.9\n20,50.0,3.0\n")
    points = overlay.read_training_log(log)
    assert [p.step for p in points] == [5, 10, 20]
    rewards = np.random.default_rng(0).normal(size=20_000)
    placed, _ = overlay.overlay(points, rewards)
    assert placed[0].limit == pytest.approx(0.5, abs=0.03) and placed[1].limit == pytest.approx(1.0, abs=0.05)
    assert np.isnan(placed[2].limit) and np.isnan(placed[2].share)  # beyond what the samples can estimate
    assert placed[0].reliable and not placed[2].reliable


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("missing.json", None, "no training log"),
        ("state.json", "not json", "not JSON"),
        ("state.json", json.dumps({"epoch": 1}), "no 'log_history'"),
        ("state.json", json.dumps({"log_history": [{"kl": 0.1, "reward": 1.0, "step": 1}]}), "per-token KL"),
        ("state.json", json.dumps({"log_history": [{"loss": 1.0}]}), "no logged step"),
        ("log.csv", "step,kl,reward\n1,-0.5,1.0\n", "negative KL"),
        ("log.csv", "step,kl,reward\n1,x,1.0\n", "non-numeric"),
        ("log.csv", "a,b\n1,2\n", "needs columns"),
    ],
)
def test_bad_logs_get_one_line_errors(tmp_path, name, text, message):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(ValueError, match=message) as err:
        overlay.read_training_log(path)
    assert "\n" not in str(err.value)


def test_the_overlay_command(tmp_path, capsys):
    from alignlimits import cli

    log, rewards = str(FIXTURE / "trainer_state.json"), str(FIXTURE / "rewards.csv")
    plot = tmp_path / "overlay.png"
    assert cli.main(["overlay", log, rewards, "--json", "--plot", str(plot)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "alignlimits.overlay" and len(doc["rows"]) == 12 and plot.stat().st_size > 0
    assert doc["rows"][0]["share"] is None  # NaN becomes null: step 1 is the base policy
    assert cli.main(["overlay", log, rewards, "--csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "step,kl,reward,gain,limit,share,reliable" and len(lines) == 13
    assert cli.main(["overlay", log, rewards]) == 0
    assert "estimable up to KL" in capsys.readouterr().out
    assert cli.main(["overlay", str(tmp_path / "none.json"), rewards]) == 2
    err = capsys.readouterr().err
    assert "no training log" in err and err.count("\n") == 1
