"""The long language-model runs: their plan, the path evaluations, the zero-step check and the pilot's rule."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignlimits.experiments import analysis, cli, rl_runs, study
from alignlimits.experiments.analysis import clustered_mean_se

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_full_tier_plan_matches_the_issue() -> None:
    sizes = study.study_sizes("full")
    assert sizes["steps"] >= 120 and sizes["samples_per_step"] >= 32 and sizes["metrics_every"] > 1
    lrs = {"ppo": 1e-4, "grpo": 3e-5}
    original = dict(study.STUDY_LRS)
    try:
        study.STUDY_LRS.update(lrs)
        configs = study.study_configs("safety", "full")
    finally:
        study.STUDY_LRS.clear()
        study.STUDY_LRS.update(original)
    zero, *runs = configs
    assert zero.steps == 0 and zero.path_evals == ()
    in_reward = [c for c in runs if c.placement == "reward" and c.reward_signal == "task"]
    for method in rl_runs.METHODS:
        mine = [c for c in in_reward if c.method == method]
        assert {c.kl_coef for c in mine} == set(study.STUDY_KL_COEFS)
        assert len([c for c in mine if c.kl_coef == study.STUDY_KL_COEFS[0]]) >= 3  # seeds at the main β
        controls = [c for c in runs if c.method == method and c.reward_signal == "shuffled"]
        assert len(controls) == 1 and controls[0].kl_coef == study.STUDY_KL_COEFS[0]
    assert [c.kl_coef for c in runs if c.placement == "loss"] == [study.LOSS_KL_COEF]
    assert len({c.key() for c in configs}) == len(configs)


def test_study_configs_need_the_pilot_first(monkeypatch) -> None:
    monkeypatch.setattr(study, "STUDY_LRS", {})  # as before the pilot had run
    with pytest.raises(ValueError, match="run the pilot"):
        study.study_configs("safety", "full")


def test_pilot_pairs_every_rate_with_its_control() -> None:
    configs = study.pilot_configs("summarization", "full")
    assert len(configs) == 2 * len(study.PILOT_LRS) * len(rl_runs.METHODS)
    for run, control in zip(configs[::2], configs[1::2], strict=True):
        assert (run.reward_signal, control.reward_signal) == ("task", "shuffled")
        assert run.method == control.method and run.lr == control.lr and run.placement == "reward"
        assert run.seed == study.PILOT_SEED and run.seed not in study.STUDY_SEEDS


def test_new_fields_leave_the_first_runs_keys_alone() -> None:
    cfg = rl_runs.run_config("safety", "grpo", 0.04, 1, "full")
    assert set(cfg.as_dict()) == {f for f in cfg.as_dict()} and "kl_in" not in cfg.as_dict()
    assert "path_evals" not in cfg.as_dict() and "metrics_every" not in cfg.as_dict()
    moved = rl_runs.run_config("safety", "grpo", 0.04, 1, "full", kl_in="reward", path_evals=[3, 6])
    assert moved.path_evals == (3, 6) and moved.as_dict()["path_evals"] == [3, 6]
    assert rl_runs.LMRunConfig(**json.loads(json.dumps(moved.as_dict()))).key() == moved.key()
    assert cfg.placement == "loss" and moved.placement == "reward"
    assert rl_runs.run_config("safety", "ppo", 0.04, 1, "full").placement == "reward"


def test_grpo_with_the_penalty_in_the_reward_targets_pi_beta() -> None:
    cfg = rl_runs.run_config("safety", "grpo", 0.1, 1, "smoke", kl_in="reward", metrics_every=3)
    _, _, algorithm, _ = rl_runs.build(cfg, device="cpu")
    assert algorithm.config.kl_reward_coef == 0.1 and algorithm.config.kl_loss_coef == 0.0
    assert algorithm.config.metrics_every == 3
    legacy = rl_runs.run_config("safety", "grpo", 0.1, 1, "smoke")
    _, _, algorithm, _ = rl_runs.build(legacy, device="cpu")
    assert algorithm.config.kl_loss_coef == 0.1 and algorithm.config.kl_reward_coef == 0.0


@pytest.fixture(scope="module")
def path_run(tmp_path_factory) -> tuple[rl_runs.LMRunConfig, dict]:
    cfg = study.study_configs("safety", "smoke", methods=["grpo"])[1]
    return cfg, rl_runs.run(cfg, work_dir=tmp_path_factory.mktemp("study"), progress=False)


def test_a_study_run_evaluates_along_its_path(path_run) -> None:
    cfg, entry = path_run
    assert cfg.path_evals and [p["step"] for p in entry["path"]] == list(cfg.path_evals)
    for p in entry["path"]:
        assert len(p["eval"]["reward"]) == cfg.n_prompts * cfg.path_eval_samples
    assert "kl_exact" in entry["history"][0] and "kl_exact" not in entry["history"][1]  # metrics_every = 2
    rl_runs.validate_runs({"schema": rl_runs.SCHEMA, "schema_version": rl_runs.SCHEMA_VERSION, "task": "safety",
                           "tier": "smoke", "runs": [entry]})  # fmt: skip
    broken = {**entry, "path": entry["path"][:1]}
    with pytest.raises(ValueError, match="path evaluated at steps"):
        rl_runs.validate_runs({"schema": rl_runs.SCHEMA, "schema_version": rl_runs.SCHEMA_VERSION,
                               "task": "safety", "tier": "smoke", "runs": [broken]})  # fmt: skip


def test_an_interrupted_path_run_resumes_to_the_same_numbers(tmp_path, path_run) -> None:
    cfg, whole = path_run
    for _ in range(cfg.steps + 1):  # one new step per call: interrupted before and after every path evaluation
        resumed = rl_runs.run(cfg, work_dir=tmp_path, progress=False, stop_after=1)
        if resumed is not None:
            break
    assert resumed is not None
    for key in ("reward", "kl_exact", "judge"):
        np.testing.assert_allclose(resumed["eval"][key], whole["eval"][key], rtol=1e-6, atol=1e-9)
        for a, b in zip(resumed["path"], whole["path"], strict=True):
            np.testing.assert_allclose(a["eval"][key], b["eval"][key], rtol=1e-6, atol=1e-9)


def test_the_zero_step_run_is_the_base_policy(tmp_path) -> None:
    cfg = study.zero_step_config("safety", "smoke")
    entry = rl_runs.run(cfg, work_dir=tmp_path, progress=False)
    assert entry["history"] == [] and entry["provenance"]["samples_trained"] == 0
    assert np.max(np.abs(entry["eval"]["kl_exact"])) < 1e-6 and np.max(np.abs(entry["eval"]["kl_k1"])) < 1e-5


def _eval(values, prompts):
    return {"reward": list(values), "prompt_index": list(prompts)}


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 6), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_paired_difference_is_the_clustered_mean_of_per_prompt_differences(prompts, samples, seed) -> None:
    rng = np.random.default_rng(seed)
    index = np.repeat(np.arange(prompts), samples)
    a, b = rng.normal(size=index.size), rng.normal(size=index.size)
    mean, se = analysis.paired_difference(_eval(a, index), _eval(b, index))
    per_prompt = np.array([a[index == p].mean() - b[index == p].mean() for p in range(prompts)])  # brute force
    assert mean == pytest.approx(per_prompt.mean(), abs=1e-12)
    assert se == pytest.approx(clustered_mean_se(per_prompt, np.arange(prompts))[1], rel=1e-9)
    shifted, _ = analysis.paired_difference(_eval(a + 0.5, index), _eval(b, index))
    assert shifted == pytest.approx(mean + 0.5, abs=1e-12)  # a shift moves the mean, not the error


def test_paired_difference_refuses_different_prompts() -> None:
    with pytest.raises(ValueError, match="different prompts"):
        analysis.paired_difference(_eval([1.0, 2.0], [0, 1]), _eval([1.0, 2.0, 3.0], [0, 1, 2]))


def _pair(method, lr, task_rewards, control_rewards, kl):
    prompts = np.arange(len(task_rewards)) % 4
    entries = []
    for signal, rewards in (("task", task_rewards), ("shuffled", control_rewards)):
        cfg = {"method": method, "lr": lr, **({"reward_signal": signal} if signal == "shuffled" else {})}
        entries.append({"config": cfg, "eval": {"reward": rewards, "prompt_index": prompts,
                                                 "kl_exact": np.full(len(rewards), kl)}})  # fmt: skip
    return entries


def test_the_pilot_rule_prefers_significant_gains_per_nat() -> None:
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.01, 64)
    base = np.zeros(64)
    runs = (_pair("ppo", 1e-5, base + 0.05 + noise, base, 0.5)  # z large, 0.1 per nat
            + _pair("ppo", 3e-5, base + 0.10 + noise, base, 2.0)  # z large, 0.05 per nat
            + _pair("ppo", 1e-4, base + 0.30 + 10 * noise, base, 1.0)  # 0.3 per nat, but noisy
            + _pair("grpo", 1e-4, base + noise, base, 1.0))  # fmt: skip
    scores = study.pilot_scores(runs, "ppo")
    assert [s.lr for s in scores] == [1e-5, 3e-5, 1e-4]
    assert scores[0].per_nat == pytest.approx(scores[0].gain_over_control / 0.5)
    assert study.choose_pilot_lr(scores) == (1e-4 if scores[2].z > 2 else 1e-5)
    assert study.choose_pilot_lr(study.pilot_scores(runs, "grpo")) == 1e-4  # none significant: the largest z
    with pytest.raises(ValueError, match="finish the pilot"):
        study.choose_pilot_lr([])


def test_the_pilot_and_study_run_from_the_command_line(tmp_path, capsys) -> None:
    out = tmp_path / "pilot.json"
    argv = ["rl", "--task", "safety", "--tier", "smoke", "--pilot", "--methods", "grpo", "--work-dir", str(tmp_path),
            "--output", str(out)]  # fmt: skip
    assert cli.main(argv) == 0
    runs = rl_runs.load_runs("safety", "smoke", path=out)["runs"]
    assert len(runs) == 2 * len(study.PILOT_LRS)
    assert {s.lr for s in study.pilot_scores(runs, "grpo")} == set(study.PILOT_LRS)
    assert cli.main(["rl", "--task", "safety", "--tier", "smoke", "--pilot", "--study"]) == 2
    assert "separate experiments" in capsys.readouterr().err
    assert cli.main(["rl", "--task", "safety", "--tier", "smoke", "--study", "--seeds", "4"]) == 2
    assert "drop ['--seeds']" in capsys.readouterr().err
    assert cli.main(["rl", "--task", "safety", "--tier", "smoke", "--pilot", "--part", "pairs"]) == 2
    assert "give it with --study" in capsys.readouterr().err


def test_the_pairs_part_is_the_zero_step_run_and_each_main_run_with_its_control() -> None:
    everything = study.study_configs("summarization", "smoke")
    pairs = study.study_configs("summarization", "smoke", part="pairs")
    assert pairs[0] == everything[0] and pairs[0].steps == 0
    trained = pairs[1:]
    assert [(c.method, c.reward_signal) for c in trained] == [
        (m, signal) for m in rl_runs.METHODS for signal in ("task", "shuffled")
    ]
    assert all(c.kl_coef == study.STUDY_KL_COEFS[0] and c.seed == study.STUDY_SEEDS[0] for c in trained)
    assert all(c.placement == "reward" for c in trained)
    keys = [c.key() for c in everything]
    assert [keys.index(c.key()) for c in pairs] == sorted(keys.index(c.key()) for c in pairs)  # same runs, same order
    with pytest.raises(ValueError, match="unknown study part"):
        study.study_configs("safety", "smoke", part="seeds")


def test_distillation_runs_share_one_sampling_pass_and_evaluate(tmp_path) -> None:
    configs = study.distill_configs("safety", "smoke")
    assert [c.method for c in configs] == ["distill"] * 3 and configs[-1].best_of is not None
    assert {c.kl_coef for c in configs[:2]} == set(study.STUDY_KL_COEFS)
    entries = [rl_runs.run(c, work_dir=tmp_path, progress=False) for c in configs]
    passes = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("distill-pass"))
    assert len(passes) == 1  # one pass for the three runs
    for cfg, entry in zip(configs, entries, strict=True):
        assert entry["provenance"]["samples_drawn"] == cfg.n_prompts * cfg.distill_samples
        assert entry["provenance"]["sampling_time_s"] > 0
        assert [p["step"] for p in entry["path"]] == list(cfg.path_evals)
        assert min(entry["eval"]["kl_exact"]) >= -1e-9
    assert entries[0]["eval"]["kl_exact"] != entries[2]["eval"]["kl_exact"]  # different weights, different policies
    with pytest.raises(ValueError, match="sampling pass"):
        rl_runs.step_prompts(entries[0], 0)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"method": "ppo", "best_of": 2}, "distillation's"),
        ({"method": "distill", "kl_in": "reward"}, "no KL penalty to place"),
        ({"method": "distill", "best_of": 99}, "best_of must be"),
    ],
)
def test_distillation_fields_are_checked(overrides, message) -> None:
    args = {"task": "safety", "method": "grpo", "kl_coef": 0.1, "seed": 1, "tier": "smoke", **overrides}
    with pytest.raises(ValueError, match=message):
        rl_runs.run_config(**args)


def test_the_zero_step_check_compares_with_the_frontier(tmp_path) -> None:
    from alignlimits.experiments import frontier

    cfg = study.zero_step_config("safety", "smoke")
    entry = rl_runs.run(cfg, work_dir=tmp_path, progress=False)
    fr_cfg = frontier.frontier_config("safety", "smoke", n_samples=6)
    base = frontier.run_frontier(fr_cfg, work_dir=tmp_path)
    check = analysis.zero_step_check(entry, base, z_limit=4.0)
    assert check.max_kl < 1e-6 and np.isfinite(check.z)
    assert check.passed == (check.z <= 4.0)
    shifted = {**entry, "eval": {**entry["eval"], "reward": (np.asarray(entry["eval"]["reward"]) + 1.0).tolist()}}
    assert not analysis.zero_step_check(shifted, base).passed  # a pipeline that moved the base point is caught
    with pytest.raises(ValueError, match="not a zero-step run"):
        analysis.zero_step_check({**entry, "config": {**entry["config"], "steps": 2}}, base)


def test_study_rates_are_the_committed_pilots_choice() -> None:
    # STUDY_LRS is typed into study.py so that building a config reads no file; it must be what the
    # pilot's rule picks from the committed pilot, for every method.
    assert set(study.STUDY_LRS) == set(rl_runs.METHODS)
    for method in rl_runs.METHODS:
        assert study.STUDY_LRS[method] == study.pilot_lr(method)
