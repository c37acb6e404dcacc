"""PPO/GRPO runs on the language-model tasks (smoke tier: the tiny random GPT-2, seconds per run)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from alignlimits import experiments
from alignlimits.lm import models
from alignlimits.rl import common, lm_runs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def smoke(method: str = "grpo", **overrides) -> lm_runs.LMRunConfig:
    args = {"task": "safety", "method": method, "kl_coef": 0.1, "seed": 1, "tier": "smoke", **overrides}
    return lm_runs.run_config(**args)


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory) -> dict[str, dict]:
    work = tmp_path_factory.mktemp("runs")
    return {m: lm_runs.run(smoke(m), work_dir=work, progress=False) for m in lm_runs.METHODS}


# ---------------------------------------------------------------------------- configs


def test_run_config_copies_the_frontier_base_policy() -> None:
    fr = experiments.frontier_config("summarization", "smoke")
    cfg = lm_runs.run_config("summarization", "ppo", 0.05, 3, tier="smoke")
    assert (cfg.model, cfg.n_prompts, cfg.temperature, cfg.max_new_tokens, cfg.max_document_words, cfg.model_seed) == (
        fr.model, fr.n_prompts, fr.temperature, fr.max_new_tokens, fr.max_document_words, fr.seed,
    )  # fmt: skip
    assert cfg.key() == lm_runs.run_config("summarization", "ppo", 0.05, 3, tier="smoke").key()
    assert cfg.key() != lm_runs.run_config("summarization", "ppo", 0.05, 4, tier="smoke").key()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"method": "dpo"}, "method must be one of"),
        ({"kl_coef": 0.0}, "kl_coef must be"),
        ({"kl_coef": math.nan}, "kl_coef must be"),
        ({"lr": -1.0}, "lr must be"),
        ({"steps": 0}, "steps must be a positive integer"),
        ({"samples_per_step": 5}, "multiple of group_size"),
        ({"micro_batch_size": 3}, "micro-batches"),
        ({"task": "poetry"}, "task must be one of"),
    ],
)
def test_bad_configs_are_refused(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        smoke(**overrides)


def test_last_blocks_selects_the_top_blocks_and_final_norm_only() -> None:
    model = models.tiny_gpt2(seed=0, vocab_size=8, eos_token_id=6, pad_token_id=7, n_layer=3, device="cpu")
    keep = lm_runs.last_blocks(model, 2)
    chosen = {n for n, _ in model.named_parameters() if keep(n)}
    assert chosen, "nothing selected"
    assert all(n.startswith(("transformer.h.1.", "transformer.h.2.", "transformer.ln_f.")) for n in chosen)
    assert any(n.startswith("transformer.h.1.") for n in chosen)
    assert any(n.startswith("transformer.ln_f") for n in chosen)
    assert not any(n.startswith("transformer.h.0.") or "wte" in n or "lm_head" in n for n in chosen)
    with pytest.raises(ValueError, match="trainable_blocks"):
        lm_runs.last_blocks(model, 4)


def test_last_blocks_on_a_llama_style_model() -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=3, num_attention_heads=2,
                      num_key_value_heads=2, tie_word_embeddings=True)  # fmt: skip
    model = LlamaForCausalLM(cfg)
    keep = lm_runs.last_blocks(model, 1)
    chosen = {n for n, _ in model.named_parameters() if keep(n)}
    assert chosen == {n for n, _ in model.named_parameters() if n.startswith(("model.layers.2.", "model.norm."))}


# ---------------------------------------------------------------------------- runs


def test_a_finished_run_validates_and_moved_the_policy(finished_runs) -> None:
    for method, result in finished_runs.items():
        cfg = lm_runs.LMRunConfig(**result["config"])
        assert cfg.method == method
        assert len(result["history"]) == cfg.steps
        s = lm_runs.summarize_run(result)
        assert s["kl_exact"] > 0, "training changed nothing"
        assert len(result["eval"]["reward"]) == cfg.n_prompts * cfg.eval_samples
        assert result["provenance"]["samples_trained"] == cfg.steps * cfg.samples_per_step
        assert sorted(set(result["eval"]["prompt_index"])) == list(range(cfg.n_prompts))


def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(tmp_path, finished_runs) -> None:
    cfg = smoke("ppo")
    assert lm_runs.run(cfg, work_dir=tmp_path, progress=False, stop_after=1) is None
    folder = next(tmp_path.iterdir())
    state = torch.load(folder / "checkpoint.pt", weights_only=False)
    assert state["step"] == 1
    resumed = lm_runs.run(cfg, work_dir=tmp_path, progress=False)
    whole = finished_runs["ppo"]
    drop = {"seconds"}
    for a, b in zip(resumed["history"], whole["history"], strict=True):
        assert {k: v for k, v in a.items() if k not in drop} == pytest.approx(
            {k: v for k, v in b.items() if k not in drop}, rel=1e-9, abs=1e-12
        )
    for name in ("reward", "judge", "kl_exact", "kl_k1", "length"):
        np.testing.assert_allclose(resumed["eval"][name], whole["eval"][name], rtol=1e-9, atol=1e-12)
    assert resumed["provenance"]["sessions"] == 1  # one process ran both parts here
    assert not (folder / "checkpoint.pt").exists(), "the checkpoint is removed once run.json holds the run"
    final = torch.load(folder / "final.pt", weights_only=False)  # the trained parameters are kept
    policy, _, _, _ = lm_runs.build(cfg)
    common.load_trainable_state(policy, final)
    assert resumed["algorithm"]["lam"] == 1.0  # PPO's GAE with λ = 1 (see build)


def test_checkpoints_hold_only_the_trained_parameters(tmp_path) -> None:
    cfg = smoke("grpo", trainable_blocks=1)
    lm_runs.run(cfg, work_dir=tmp_path, progress=False, stop_after=1)
    state = torch.load(next(tmp_path.iterdir()) / "checkpoint.pt", weights_only=False)
    policy, _, _, _ = lm_runs.build(cfg)
    trained = {n for n, p in policy.named_parameters() if p.requires_grad}
    assert set(state["algorithm"]["policy"]) == trained
    assert len(trained) < len(list(policy.named_parameters()))
    with pytest.raises(ValueError, match="do not match"):
        common.load_trainable_state(policy, {"nonsense": torch.zeros(1)})
    wrong = {n: torch.zeros(1) for n in trained}
    with pytest.raises(ValueError, match="other shapes"):
        common.load_trainable_state(policy, wrong)
    assert (next(tmp_path.iterdir()) / "checkpoint.pt").is_file()


def test_evaluating_the_reference_itself_gives_zero_kl() -> None:
    cfg = smoke("grpo")
    policy, reference, _, scorer = lm_runs.build(cfg)
    ev = lm_runs.evaluate(policy, reference, scorer, samples_per_prompt=2, seed=0, batch_size=4, micro_batch_size=2)
    assert np.all(np.asarray(ev["kl_exact"]) == 0.0)
    assert np.all(np.asarray(ev["kl_k1"]) == 0.0)
    assert len(ev["reward"]) == 2 * cfg.n_prompts
    assert 1 <= len(ev["examples"]) <= 4


# ---------------------------------------------------------------------------- results, tuning, sweeps


def test_results_round_trip_and_corruptions_are_refused(tmp_path, finished_runs) -> None:
    runs = list(finished_runs.values())
    path = lm_runs.save_results("safety", "smoke", runs, tmp_path / "rl.json")
    loaded = lm_runs.load_results("safety", "smoke", path=path)
    assert [r["config"]["method"] for r in loaded["runs"]] == sorted(lm_runs.METHODS)
    bad = json.loads(path.read_text())
    bad["runs"][0]["eval"]["kl_exact"][0] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        lm_runs.validate_results(bad)
    bad = json.loads(path.read_text())
    bad["runs"][0]["history"].pop()
    with pytest.raises(ValueError, match="history has"):
        lm_runs.validate_results(bad)
    bad = json.loads(path.read_text())
    bad["runs"].append(bad["runs"][0])
    with pytest.raises(ValueError, match="twice"):
        lm_runs.validate_results(bad)
    with pytest.raises(FileNotFoundError, match=r"python -m alignlimits\.experiments rl"):
        lm_runs.load_results("safety", "smoke", path=tmp_path / "missing.json")


def fake_run(method: str, lr: float, reward: float, kl: float) -> dict:
    ev = {"prompt_index": [0, 1], "reward": [reward, reward], "judge": [0, 0], "kl_exact": [kl, kl],
          "kl_k1": [kl, kl], "kl_k3": [kl, kl], "length": [1, 1]}  # fmt: skip
    return {"config": {"method": method, "lr": lr}, "eval": ev}


def test_choose_lr_takes_the_best_reward_within_the_kl_limit() -> None:
    runs = [fake_run("ppo", 1e-5, 0.1, 0.2), fake_run("ppo", 1e-4, 0.3, 1.0), fake_run("ppo", 1e-3, 0.9, 9.0),
            fake_run("grpo", 1e-3, 0.5, 0.5)]  # fmt: skip
    assert lm_runs.choose_lr(runs, "ppo", kl_limit=math.log(64)) == 1e-4
    assert lm_runs.choose_lr(runs, "ppo", kl_limit=10.0) == 1e-3
    with pytest.raises(ValueError, match="smaller learning rates"):
        lm_runs.choose_lr(runs, "ppo", kl_limit=0.1)


def test_tuned_lr_needs_the_tuning_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="--tune"):
        lm_runs.tuned_lr("safety", "ppo", path=tmp_path / "none.json")


def test_sweep_resumes_and_skips_finished_runs(tmp_path, finished_runs) -> None:
    configs = [smoke("grpo"), smoke("grpo", kl_coef=0.3)]
    out = tmp_path / "rl.json"
    first = lm_runs.sweep(configs, work_dir=tmp_path, output=out, progress=False, stop_after=3)
    assert len(first) == 1  # 2 steps finish the first run; the third step starts the second
    again = lm_runs.sweep(configs, work_dir=tmp_path, output=out, progress=False)
    assert len(again) == 2
    assert len(lm_runs.load_results("safety", "smoke", path=out)["runs"]) == 2
    with pytest.raises(ValueError, match="same task and tier"):
        lm_runs.sweep([smoke(), lm_runs.run_config("summarization", "grpo", 0.1, 1, tier="smoke")])
    with pytest.raises(ValueError, match="no runs"):
        lm_runs.sweep([])


def test_command_line(tmp_path, capsys) -> None:
    out = tmp_path / "rl.json"
    argv = ["rl", "--task", "safety", "--tier", "smoke", "--methods", "ppo", "--kl-coefs", "0.1", "--seeds", "1",
            "--work-dir", str(tmp_path), "--output", str(out)]  # fmt: skip
    assert experiments.main(argv) == 0
    assert "1 of 1 runs finished" in capsys.readouterr().out
    assert lm_runs.load_results("safety", "smoke", path=out)["runs"][0]["config"]["method"] == "ppo"
    assert experiments.main(["rl", "--task", "safety", "--tier", "smoke", "--methods", "dpo"]) == 2
    assert "unknown method" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        experiments.main(["rl", "--task", "safety", "--kl-coefs", "a,b"])


def test_scorer_scores_each_rollout_afresh() -> None:
    # Regression: a cache keyed by id() once returned the previous rollout's scores when a new
    # rollout reused a freed one's id. Every call now scores the rollout it is given.
    cfg = smoke("grpo")
    policy, _, _, scorer = lm_runs.build(cfg)
    for seed in range(4):
        rollout = policy.rollout(torch.arange(cfg.n_prompts).repeat_interleave(1 + seed % 2), seed=seed)
        requests = [scorer.inputs.requests[i] for i in rollout.prompt_index.tolist()]
        expected = experiments.score(cfg.task, requests, [""] * len(rollout), scorer.texts(rollout))
        np.testing.assert_array_equal(scorer.reward(rollout).numpy(), expected[0])
        np.testing.assert_array_equal(scorer.judge(rollout).numpy(), expected[1])


def test_committed_rl_results_validate() -> None:
    folder = lm_runs.results_path("safety").parent
    for path in sorted(folder.glob("rl-*.json")):
        results = lm_runs.load_results("safety", path=path)  # validates (task and tier come from the file)
        stem = f"rl-{results['task']}-{results['tier']}"
        assert path.name in (f"{stem}.json", f"{stem}-tuning.json", f"{stem}-control.json")
        for entry in results["runs"]:
            assert entry["config"]["tier"] == results["tier"]
            # controls live only in the control file, and nothing else does
            assert path.name.endswith("-control.json") == (entry["config"].get("reward_signal") == "shuffled")
            if path.name.endswith("-tuning.json"):
                assert entry["config"]["seed"] == lm_runs.TUNING_SEED
            else:
                assert entry["config"]["seed"] != lm_runs.TUNING_SEED  # tuning never reuses a sweep seed


def test_summarize_run_clusters_standard_errors_by_prompt() -> None:
    # Two prompts, two samples each: the mean is over samples, the SE over the two prompt means.
    ev = {"prompt_index": [0, 0, 1, 1], "reward": [1.0, 3.0, 5.0, 7.0], "judge": [0, 0, 0, 0],
          "kl_exact": [0.1, 0.3, 0.1, 0.3], "kl_k1": [0] * 4, "kl_k3": [0] * 4, "length": [1, 2, 3, 4]}  # fmt: skip
    s = lm_runs.summarize_run({"eval": ev})
    assert s["reward"] == 4.0
    assert s["reward_se"] == pytest.approx(np.std([2.0, 6.0], ddof=1) / np.sqrt(2))
    assert s["kl_exact_se"] == 0.0  # the prompt means are equal: no between-prompt spread
    assert lm_runs.clustered_mean_se(ev["reward"], ev["prompt_index"]) == (s["reward"], s["reward_se"])
    assert np.isnan(lm_runs.clustered_mean_se([1.0, 2.0], [0, 0])[1])  # one prompt: no spread to measure
    with pytest.raises(ValueError, match="same shape"):
        lm_runs.clustered_mean_se([1.0, 2.0, 3.0], [0, 1])


def test_check_same_base_accepts_the_frontier_and_names_differences() -> None:
    front = {"task": "safety", "config": dataclasses.asdict(experiments.frontier_config("safety", "smoke"))}
    cfg = dataclasses.asdict(smoke("ppo"))
    lm_runs.check_same_base(cfg, front)
    with pytest.raises(ValueError, match="temperature"):
        lm_runs.check_same_base({**cfg, "temperature": 1.0}, front)
    with pytest.raises(ValueError, match="n_prompts"):
        lm_runs.check_same_base({**cfg, "n_prompts": 99}, front)


def test_sweep_configs_are_seed_major_and_checked() -> None:
    configs = lm_runs.sweep_configs("safety", "smoke", seeds=(1, 2))
    assert len(configs) == 2 * sum(len(v) for v in lm_runs.SWEEP_KL_COEFS.values())
    assert [c.seed for c in configs[: len(configs) // 2]] == [1] * (len(configs) // 2)
    assert {c.kl_coef for c in configs if c.method == "ppo"} == set(lm_runs.SWEEP_KL_COEFS["ppo"])
    assert {c.seed for c in lm_runs.tuning_configs("safety", "grpo", "smoke")} == {lm_runs.TUNING_SEED}
    assert lm_runs.tuning_path("safety").name == "rl-safety-full-tuning.json"
    with pytest.raises(ValueError, match="unknown method"):
        lm_runs.sweep_configs("safety", "smoke", methods=("dpo",))


def test_tuned_lr_reads_the_tuning_file(tmp_path, finished_runs) -> None:
    runs = []
    for lr, result in zip((1e-4, 3e-4), finished_runs.values(), strict=False):
        entry = json.loads(json.dumps(result))
        entry["config"].update(method="grpo", lr=lr, seed=lm_runs.TUNING_SEED)
        entry["algorithm"]["lr"] = lr
        runs.append(entry)
    runs[0]["eval"]["reward"] = [x + 1.0 for x in runs[0]["eval"]["reward"]]  # the smaller rate wins
    path = lm_runs.save_results("safety", "smoke", runs, tmp_path / "tuning.json")
    assert lm_runs.tuned_lr("safety", "grpo", path=path) == 1e-4
    with pytest.raises(ValueError, match=r"ppo tuning on safety lacks the learning rates \[0.0001, 0.0003\]"):
        lm_runs.tuned_lr("safety", "ppo", path=path)
    partial = lm_runs.save_results("safety", "smoke", runs[1:], tmp_path / "partial.json")  # tuning still running
    with pytest.raises(ValueError, match=r"lacks the learning rates \[0.0001\]"):
        lm_runs.tuned_lr("safety", "grpo", path=partial)


def test_a_diverging_step_stops_the_run_with_its_number() -> None:
    class Diverging:
        steps = 3

        def step(self, k):
            return {"reward": 1.0, "kl_exact": float("nan") if k == 1 else 0.0}

        def state_dict(self):
            return {}

        def load_state_dict(self, state):
            pass

    with pytest.raises(FloatingPointError, match="step 1"):
        common.train(Diverging(), progress=False)


def test_a_run_another_process_trains_is_refused_and_a_sweep_moves_on(tmp_path, finished_runs) -> None:
    import filelock

    busy, free = smoke("grpo", kl_coef=0.3), smoke("grpo")
    folder = lm_runs._work_dir(busy, tmp_path)
    held = filelock.FileLock(folder / "train.lock")  # stands for the other worker (flock is per open file)
    held.acquire(timeout=0)
    try:
        with pytest.raises(lm_runs.RunInProgressError, match="another process"):
            lm_runs.run(busy, work_dir=tmp_path, progress=False)
        out = tmp_path / "rl.json"
        runs = lm_runs.sweep([busy, free], work_dir=tmp_path, output=out, progress=False)
        assert [lm_runs.LMRunConfig(**r["config"]) for r in runs] == [free]
        assert not (folder / "run.json").exists()
    finally:
        held.release()


def test_sweep_keeps_runs_another_worker_saved_meanwhile(tmp_path, finished_runs, monkeypatch) -> None:
    out = tmp_path / "rl.json"
    other = finished_runs["ppo"]
    mine = smoke("grpo")
    real_run = lm_runs.run

    def run_while_another_worker_saves(config, **kwargs):
        lm_runs.save_results("safety", "smoke", [other], out)  # written after this sweep read the file
        return real_run(config, **kwargs)

    monkeypatch.setattr(lm_runs, "run", run_while_another_worker_saves)
    lm_runs.sweep([mine], work_dir=tmp_path, output=out, progress=False)
    saved = {r["config"]["method"] for r in lm_runs.load_results("safety", "smoke", path=out)["runs"]}
    assert saved == {"ppo", "grpo"}


def test_reward_signal_enters_the_key_only_when_it_is_a_control() -> None:
    import hashlib

    cfg = smoke("ppo")
    before_the_field = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "reward_signal"}
    old_key = hashlib.sha256(json.dumps(before_the_field, sort_keys=True).encode()).hexdigest()[:12]
    assert cfg.key() == old_key  # work folders and results written before the field still match
    control = dataclasses.replace(cfg, reward_signal="shuffled")
    assert control.key() != cfg.key()
    with pytest.raises(ValueError, match="reward_signal"):
        dataclasses.replace(cfg, reward_signal="random")


def test_shuffled_rewards_permute_each_rollout_reproducibly() -> None:
    cfg = smoke("grpo")
    policy, _, _, scorer = lm_runs.build(cfg)
    rollout = policy.rollout(torch.arange(8) % cfg.n_prompts, seed=0)
    true = scorer.reward(rollout)
    shuffle = lm_runs.shuffled_rewards(scorer.reward, seed=1)
    permuted = shuffle(rollout)
    assert torch.equal(torch.sort(permuted).values, torch.sort(true).values)  # the same values ...
    assert torch.unique(true).numel() > 1 and not torch.equal(permuted, true)  # ... moved
    assert torch.equal(shuffle(rollout), permuted)  # the same rollout, the same permutation (resumable)
    assert not torch.equal(lm_runs.shuffled_rewards(scorer.reward, seed=2)(rollout), permuted)


def test_control_configs_pair_with_the_sweep_and_run_from_the_command_line(tmp_path, capsys) -> None:
    controls = lm_runs.control_configs("safety", "full")
    assert [c.method for c in controls] == list(lm_runs.METHODS)
    for c in controls:
        paired = lm_runs.run_config("safety", c.method, c.kl_coef, c.seed, "full")
        assert c.kl_coef == max(lm_runs.SWEEP_KL_COEFS[c.method]) and c.seed == lm_runs.SWEEP_SEEDS[0]
        assert dataclasses.replace(c, reward_signal="task") == paired  # differs from its sweep run only there
    out = tmp_path / "control.json"
    argv = ["rl", "--task", "safety", "--tier", "smoke", "--control", "--methods", "ppo", "--work-dir", str(tmp_path),
            "--output", str(out)]  # fmt: skip
    assert experiments.main(argv) == 0
    assert "1 of 1 control runs finished" in capsys.readouterr().out
    (run,) = lm_runs.load_results("safety", "smoke", path=out)["runs"]
    assert run["config"]["reward_signal"] == "shuffled"
    assert experiments.main(["rl", "--task", "safety", "--tier", "smoke", "--control", "--tune"]) == 2
    assert "separate experiments" in capsys.readouterr().err


def _merge_copies(out: str, entry: dict, seeds: list[int]) -> None:
    for seed in seeds:
        copy = {**entry, "config": {**entry["config"], "seed": seed}}
        lm_runs._merge_into_results("safety", "smoke", copy, Path(out))


def test_concurrent_merges_keep_every_run(tmp_path, finished_runs) -> None:
    import multiprocessing

    out = tmp_path / "rl.json"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_merge_copies, args=(str(out), finished_runs["grpo"], list(range(k, 24, 2))))
               for k in (10, 11)]  # fmt: skip
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)
        assert w.exitcode == 0
    seeds = sorted(r["config"]["seed"] for r in lm_runs.load_results("safety", "smoke", path=out)["runs"])
    assert seeds == list(range(10, 24))  # without the lock, interleaved read-merge-writes lose runs


def test_a_resumed_control_equals_an_uninterrupted_one(tmp_path) -> None:
    cfg = smoke("grpo", reward_signal="shuffled")
    whole = lm_runs.run(cfg, work_dir=tmp_path / "a", progress=False)
    assert lm_runs.run(cfg, work_dir=tmp_path / "b", progress=False, stop_after=1) is None
    resumed = lm_runs.run(cfg, work_dir=tmp_path / "b", progress=False)
    for a, b in zip(resumed["history"], whole["history"], strict=True):
        assert {k: v for k, v in a.items() if k != "seconds"} == pytest.approx(
            {k: v for k, v in b.items() if k != "seconds"}, rel=1e-9, abs=1e-12)
    assert resumed["config"]["reward_signal"] == "shuffled"


def test_grpo_controls_shuffle_within_each_group() -> None:
    cfg = smoke("grpo")
    policy, _, _, scorer = lm_runs.build(cfg)
    rollout = policy.rollout(torch.tensor([0, 0, 0, 0, 1, 1, 1, 1]), seed=3)
    true = scorer.reward(rollout)
    within = lm_runs.shuffled_rewards(scorer.reward, seed=1, within_prompt=True)(rollout)
    for rows in (slice(0, 4), slice(4, 8)):  # every group keeps its own rewards, in another order
        assert torch.equal(torch.sort(within[rows]).values, torch.sort(true[rows]).values)
    _, _, control, _ = lm_runs.build(dataclasses.replace(cfg, reward_signal="shuffled"))
    assert torch.equal(control.reward_fn(rollout), within)  # build wires the within-group control into GRPO


def test_committed_sweep_keeps_only_runs_of_the_current_sweep(tmp_path, finished_runs) -> None:
    current = finished_runs["ppo"]  # β = 0.1, seed 1, the smoke tier's rate: in the PPO sweep
    stale = json.loads(json.dumps(current))
    stale["config"]["lr"] = stale["algorithm"]["lr"] = 5e-4  # e.g. from before a re-tuning
    outside = finished_runs["grpo"]  # β = 0.1 is not in GRPO's sweep
    path = lm_runs.save_results("safety", "smoke", [current, stale, outside], tmp_path / "rl.json")
    kept = lm_runs.committed_sweep("safety", "smoke", path=path)
    assert [r["config"] for r in kept] == [current["config"]]
    assert lm_runs.committed_sweep("safety", "smoke", path=tmp_path / "none.json") == []


@pytest.mark.parametrize("method", lm_runs.METHODS)
def test_step_prompts_are_the_prompts_the_run_trained_on(method, tmp_path, monkeypatch) -> None:
    drawn = []
    real_rollout = lm_runs.CausalLMPolicy.rollout

    def recording_rollout(self, prompt_index, seed, **kwargs):
        drawn.append(prompt_index.numpy().copy())
        return real_rollout(self, prompt_index, seed, **kwargs)

    monkeypatch.setattr(lm_runs.CausalLMPolicy, "rollout", recording_rollout)
    cfg = smoke(method, n_prompts=5, seed=7)
    entry = lm_runs.run(cfg, work_dir=tmp_path, progress=False)
    training = drawn[: cfg.steps]  # the evaluation's rollouts come after
    for step, prompts in enumerate(training):
        np.testing.assert_array_equal(lm_runs.step_prompts(entry, step), prompts)
    assert len(training) == cfg.steps
