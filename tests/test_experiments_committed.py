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


def test_study_results_read_a_partial_study_and_report_what_is_missing(tmp_path):
    import numpy as np

    from alignlimits.experiments import study
    from tests.study_fakes import fake_study_run

    planned = study.study_configs("safety", "full")
    rng = np.random.default_rng(0)
    chosen = [planned[0], planned[2], planned[1]]  # zero-step, PPO's control, PPO's main run (out of order)
    other = rl_runs.run_config("safety", "ppo", 0.5, 9, "full", lr=1e-3, kl_in="reward",
                               **study.study_sizes("full"))  # not in the plan  # fmt: skip
    path = rl_runs.save_runs("safety", "full", [fake_study_run(c, rng) for c in [*chosen, other]],
                             tmp_path / "study.json")  # fmt: skip
    res = committed.study_results("safety", "default", path=path)
    assert [rl_runs.LMRunConfig(**r["config"]).key() for r in res.runs] == [c.key() for c in planned[:3]]
    assert res.missing == planned[3:] and res.unplanned == 1 and res.tier == "full"
    assert sum(res.complete.values()) == 3 and len(res.complete) == len(planned)
    assert res.zero_step is res.runs[0] and res.frontier["task"] == "safety"
    assert res.pilot and all(r["config"]["steps"] == study.study_sizes("full", pilot=True)["steps"]
                             for r in res.pilot)  # fmt: skip


def test_study_results_without_a_file_plan_every_run(tmp_path):
    res = committed.study_results("summarization", "full", path=tmp_path / "none.json")
    assert res.runs == [] and res.zero_step is None and len(res.missing) == len(res.planned) > 10


def test_study_results_refuse_a_run_of_another_base_policy(tmp_path):
    import numpy as np

    from alignlimits.experiments import study
    from tests.study_fakes import fake_study_run

    zero = fake_study_run(study.study_configs("safety", "full")[0], np.random.default_rng(0))
    path = rl_runs.save_runs("safety", "full", [zero], tmp_path / "study.json")
    other = {**committed.frontier_results("safety", "full")}
    other["config"] = {**other["config"], "temperature": 1.0}
    with pytest.raises(ValueError, match="different base policies"):
        committed.study_results("safety", "full", path=path, frontier=other)


def test_the_smoke_tier_runs_the_verdicts_runs_live_and_lists_the_rest(tmp_path, monkeypatch):
    from alignlimits.experiments import study

    monkeypatch.setattr(study, "study_configs", _only_grpo(study.study_configs))  # one method: half the time
    res = committed.study_results("safety", "smoke", work_dir=tmp_path)
    configs = [rl_runs.LMRunConfig(**r["config"]) for r in res.runs]
    ran = [(c.method, c.reward_signal, c.steps) for c in configs]
    steps = study.study_sizes("smoke")["steps"]
    assert ran[:3] == [("grpo", "task", 0), ("grpo", "task", steps), ("grpo", "shuffled", steps)]
    assert {m for m, _, _ in ran[3:]} == {"distill"} and len(ran) > 3
    main = (study.STUDY_KL_COEFS[0], study.STUDY_SEEDS[0], "reward")  # the pair's β, seed and KL placement
    assert res.missing and all(c.method == "grpo" and (c.kl_coef, c.seed, c.placement) != main for c in res.missing)
    assert res.tier == "smoke"


def _only_grpo(plan):
    def configs(task, tier=None, *, methods=("grpo", "distill"), part="all"):
        return plan(task, tier, methods=[m for m in methods if m in ("grpo", "distill")], part=part)

    return configs
