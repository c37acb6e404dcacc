"""The chapters' one loader: committed results at the default and full tiers (the smoke tier's live runs
are exercised by nbval over the language-model chapters)."""

from __future__ import annotations

import pytest

from alignlimits.experiments import committed, frontier, rl_runs


@pytest.mark.parametrize("tier", ["default", "full"])
def test_frontier_results_are_the_committed_full_tier_file(tier):
    res = committed.frontier_results("safety", tier)
    assert res == frontier.load_frontier("safety", "full")
    assert res["tier"] == "full"


def test_rl_results_bundle_the_sweep_its_controls_and_tuning():
    res = committed.rl_results("summarization", "default")
    assert res.frontier["task"] == "summarization"
    assert res.runs == rl_runs.committed_sweep("summarization")
    assert res.planned == len(rl_runs.SWEEP_SEEDS) * sum(map(len, rl_runs.SWEEP_KL_COEFS.values()))
    assert all(r["config"].get("reward_signal") == "shuffled" for r in res.controls) and res.controls
    assert {r["config"]["lr"] for r in res.tuning} >= {1e-4, 3e-4}


def test_an_unknown_task_is_refused():
    with pytest.raises(ValueError, match="unknown task"):
        committed.frontier_results("poetry", "default")
