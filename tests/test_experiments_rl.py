"""PPO/GRPO runs on the language-model tasks (smoke tier: the tiny random GPT-2, seconds per run)."""

from __future__ import annotations

import dataclasses
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from alignlimits.experiments import analysis, cli, frontier, rl_runs, storage, study, tuning
from alignlimits.lm import models
from alignlimits.rl import training
from alignlimits.tasks import get_task

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def smoke(method: str = "grpo", **overrides) -> rl_runs.LMRunConfig:
    args = {"task": "safety", "method": method, "kl_coef": 0.1, "seed": 1, "tier": "smoke", **overrides}
    return rl_runs.run_config(**args)


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory) -> dict[str, dict]:
    work = tmp_path_factory.mktemp("runs")
    return {m: rl_runs.run(smoke(m), work_dir=work, progress=False) for m in rl_runs.METHODS}


# ---------------------------------------------------------------------------- configs


def test_run_config_copies_the_frontier_base_policy() -> None:
    fr = frontier.frontier_config("summarization", "smoke")
    cfg = rl_runs.run_config("summarization", "ppo", 0.05, 3, tier="smoke")
    assert (cfg.model, cfg.n_prompts, cfg.temperature, cfg.max_new_tokens, cfg.max_document_words, cfg.model_seed) == (
        fr.model, fr.n_prompts, fr.temperature, fr.max_new_tokens, fr.max_document_words, fr.seed,
    )  # fmt: skip
    assert cfg.key() == rl_runs.run_config("summarization", "ppo", 0.05, 3, tier="smoke").key()
    assert cfg.key() != rl_runs.run_config("summarization", "ppo", 0.05, 4, tier="smoke").key()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"method": "dpo"}, "unknown method"),
        ({"kl_coef": 0.0}, "kl_coef must be"),
        ({"kl_coef": math.nan}, "kl_coef must be"),
        ({"lr": -1.0}, "lr must be"),
        ({"steps": -1}, "steps must be a non-negative integer"),
        ({"path_evals": (1, 1)}, "path_evals must be increasing"),
        ({"path_evals": (2,), "steps": 2}, "path_evals must be increasing"),
        ({"method": "ppo", "kl_in": "loss"}, "PPO's KL penalty is in the reward"),
        ({"kl_in": "prompt"}, "kl_in must be one of"),
        ({"metrics_every": 0}, "metrics_every must be a positive integer"),
        ({"samples_per_step": 5}, "multiple of group_size"),
        ({"micro_batch_size": 3}, "micro-batches"),
        ({"task": "poetry"}, "unknown task"),
    ],
)
def test_bad_configs_are_refused(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        smoke(**overrides)


def test_last_blocks_selects_the_top_blocks_and_final_norm_only() -> None:
    model = models.tiny_gpt2(seed=0, vocab_size=8, eos_token_id=6, pad_token_id=7, n_layer=3, device="cpu")
    keep = models.last_blocks(model, 2)
    chosen = {n for n, _ in model.named_parameters() if keep(n)}
    assert chosen, "nothing selected"
    assert all(n.startswith(("transformer.h.1.", "transformer.h.2.", "transformer.ln_f.")) for n in chosen)
    assert any(n.startswith("transformer.h.1.") for n in chosen)
    assert any(n.startswith("transformer.ln_f") for n in chosen)
    assert not any(n.startswith("transformer.h.0.") or "wte" in n or "lm_head" in n for n in chosen)
    with pytest.raises(ValueError, match="trainable_blocks"):
        models.last_blocks(model, 4)


def test_last_blocks_on_a_llama_style_model() -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=3, num_attention_heads=2,
                      num_key_value_heads=2, tie_word_embeddings=True)  # fmt: skip
    model = LlamaForCausalLM(cfg)
    keep = models.last_blocks(model, 1)
    chosen = {n for n, _ in model.named_parameters() if keep(n)}
    assert chosen == {n for n, _ in model.named_parameters() if n.startswith(("model.layers.2.", "model.norm."))}


# ---------------------------------------------------------------------------- runs


def test_a_finished_run_validates_and_moved_the_policy(finished_runs) -> None:
    for method, result in finished_runs.items():
        cfg = rl_runs.LMRunConfig(**result["config"])
        assert cfg.method == method
        assert len(result["history"]) == cfg.steps
        s = analysis.summarize_run(result)
        assert s.kl_exact > 0, "training changed nothing"
        assert len(result["eval"]["reward"]) == cfg.n_prompts * cfg.eval_samples
        assert result["provenance"]["samples_trained"] == cfg.steps * cfg.samples_per_step
        assert sorted(set(result["eval"]["prompt_index"])) == list(range(cfg.n_prompts))


def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(tmp_path, finished_runs) -> None:
    cfg = smoke("ppo")
    assert rl_runs.run(cfg, work_dir=tmp_path, progress=False, stop_after=1) is None
    folder = next(tmp_path.iterdir())
    state = torch.load(folder / "checkpoint.pt", weights_only=False)
    assert state["step"] == 1
    resumed = rl_runs.run(cfg, work_dir=tmp_path, progress=False)
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
    policy, _, _, _ = rl_runs.build(cfg)
    training.load_trainable_state(policy, final)
    assert resumed["algorithm"]["lam"] == 1.0  # PPO's GAE with λ = 1 (see build)


class _Killed(BaseException):
    """Stands for SIGKILL in the test below: no ``except Exception`` of the run handles it."""


@pytest.mark.parametrize("dies_at", ["final.pt", "run.json"])
def test_a_run_killed_while_saving_its_end_is_finished_by_the_rerun(tmp_path, monkeypatch, dies_at) -> None:
    """A process killed while a finished run saves its trained parameters (half of ``final.pt`` on disk) or its
    ``run.json`` leaves the run to be finished by the rerun, from its last checkpoint: never a ``run.json``, the
    mark of a finished run, without a whole ``final.pt`` (issue 19: kill -9, then resume)."""
    cfg = smoke("grpo")
    save, write_json = torch.save, storage.write_json_atomic

    def dying_save(obj, f, *args, **kwargs):
        if Path(f).name.startswith("final.pt"):  # half of the file reaches the disk, then the process dies
            buffer = io.BytesIO()
            save(obj, buffer, *args, **kwargs)
            Path(f).write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
            raise _Killed
        return save(obj, f, *args, **kwargs)

    def dying_write(path, obj, **kwargs):
        if Path(path).name == "run.json":
            raise _Killed
        return write_json(path, obj, **kwargs)

    if dies_at == "final.pt":
        monkeypatch.setattr(torch, "save", dying_save)
    else:
        monkeypatch.setattr(storage, "write_json_atomic", dying_write)
    with pytest.raises(_Killed):
        rl_runs.run(cfg, work_dir=tmp_path, progress=False)
    monkeypatch.undo()
    folder = rl_runs.run_folder(cfg, tmp_path)
    trained = torch.load(folder / "checkpoint.pt", weights_only=False)["algorithm"]["policy"]  # the last step's
    result = rl_runs.run(cfg, work_dir=tmp_path, progress=False)
    assert len(result["history"]) == cfg.steps and json.loads((folder / "run.json").read_text()) == result
    final = torch.load(folder / "final.pt", weights_only=False)
    assert final.keys() == trained.keys() and all(torch.equal(final[name], trained[name]) for name in final)
    assert not (folder / "checkpoint.pt").exists()


def test_checkpoints_hold_only_the_trained_parameters(tmp_path) -> None:
    cfg = smoke("grpo", trainable_blocks=1)
    rl_runs.run(cfg, work_dir=tmp_path, progress=False, stop_after=1)
    state = torch.load(next(tmp_path.iterdir()) / "checkpoint.pt", weights_only=False)
    policy, _, _, _ = rl_runs.build(cfg)
    trained = {n for n, p in policy.named_parameters() if p.requires_grad}
    assert set(state["algorithm"]["policy"]) == trained
    assert len(trained) < len(list(policy.named_parameters()))
    with pytest.raises(ValueError, match="do not match"):
        training.load_trainable_state(policy, {"nonsense": torch.zeros(1)})
    wrong = {n: torch.zeros(1) for n in trained}
    with pytest.raises(ValueError, match="other shapes"):
        training.load_trainable_state(policy, wrong)
    assert (next(tmp_path.iterdir()) / "checkpoint.pt").is_file()


def test_evaluating_the_reference_itself_gives_zero_kl() -> None:
    cfg = smoke("grpo")
    policy, reference, _, scorer = rl_runs.build(cfg)
    ev = rl_runs.evaluate(policy, reference, scorer, samples_per_prompt=2, seed=0, batch_size=4, micro_batch_size=2)
    assert np.all(np.asarray(ev["kl_exact"]) == 0.0)
    assert np.all(np.asarray(ev["kl_k1"]) == 0.0)
    assert len(ev["reward"]) == 2 * cfg.n_prompts
    assert 1 <= len(ev["examples"]) <= 4


# ---------------------------------------------------------------------------- results, tuning, sweeps


def test_results_round_trip_and_corruptions_are_refused(tmp_path, finished_runs) -> None:
    runs = list(finished_runs.values())
    path = rl_runs.save_runs("safety", "smoke", runs, tmp_path / "rl.json")
    loaded = rl_runs.load_runs("safety", "smoke", path=path)
    assert [r["config"]["method"] for r in loaded["runs"]] == sorted(rl_runs.METHODS)
    bad = json.loads(path.read_text())
    bad["runs"][0]["eval"]["kl_exact"][0] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        rl_runs.validate_runs(bad)
    bad = json.loads(path.read_text())
    bad["runs"][0]["history"].pop()
    with pytest.raises(ValueError, match="history has"):
        rl_runs.validate_runs(bad)
    bad = json.loads(path.read_text())
    bad["runs"].append(bad["runs"][0])
    with pytest.raises(ValueError, match="twice"):
        rl_runs.validate_runs(bad)
    with pytest.raises(FileNotFoundError, match=r"python -m alignlimits\.experiments rl"):
        rl_runs.load_runs("safety", "smoke", path=tmp_path / "missing.json")


def fake_run(method: str, lr: float, reward: float, kl: float) -> dict:
    ev = {"prompt_index": [0, 1], "reward": [reward, reward], "judge": [0, 0], "kl_exact": [kl, kl],
          "kl_k1": [kl, kl], "kl_k3": [kl, kl], "length": [1, 1]}  # fmt: skip
    return {"config": {"method": method, "lr": lr}, "eval": ev}


def test_choose_lr_takes_the_best_reward_within_the_kl_limit() -> None:
    runs = [fake_run("ppo", 1e-5, 0.1, 0.2), fake_run("ppo", 1e-4, 0.3, 1.0), fake_run("ppo", 1e-3, 0.9, 9.0),
            fake_run("grpo", 1e-3, 0.5, 0.5)]  # fmt: skip
    assert tuning.choose_lr(runs, "ppo", kl_limit=math.log(64)) == 1e-4
    assert tuning.choose_lr(runs, "ppo", kl_limit=10.0) == 1e-3
    with pytest.raises(ValueError, match="smaller learning rates"):
        tuning.choose_lr(runs, "ppo", kl_limit=0.1)


def test_tuned_lr_needs_the_tuning_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="--tune"):
        tuning.tuned_lr("safety", "ppo", path=tmp_path / "none.json")


def test_sweep_resumes_and_skips_finished_runs(tmp_path, finished_runs) -> None:
    configs = [smoke("grpo"), smoke("grpo", kl_coef=0.3)]
    out = tmp_path / "rl.json"
    first = rl_runs.sweep(configs, work_dir=tmp_path, output=out, progress=False, stop_after=3)
    assert len(first) == 1  # 2 steps finish the first run; the third step starts the second
    again = rl_runs.sweep(configs, work_dir=tmp_path, output=out, progress=False)
    assert len(again) == 2
    assert len(rl_runs.load_runs("safety", "smoke", path=out)["runs"]) == 2
    with pytest.raises(ValueError, match="same task and tier"):
        rl_runs.sweep([smoke(), rl_runs.run_config("summarization", "grpo", 0.1, 1, tier="smoke")])
    with pytest.raises(ValueError, match="no runs"):
        rl_runs.sweep([])


def test_command_line(tmp_path, capsys) -> None:
    out = tmp_path / "rl.json"
    argv = ["rl", "--task", "safety", "--tier", "smoke", "--methods", "ppo", "--kl-coefs", "0.1", "--seeds", "1",
            "--work-dir", str(tmp_path), "--output", str(out)]  # fmt: skip
    assert cli.main(argv) == 0
    assert "1 of 1 runs finished" in capsys.readouterr().out
    assert rl_runs.load_runs("safety", "smoke", path=out)["runs"][0]["config"]["method"] == "ppo"
    assert cli.main(["rl", "--task", "safety", "--tier", "smoke", "--methods", "dpo"]) == 2
    assert "unknown method" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["rl", "--task", "safety", "--kl-coefs", "a,b"])


def test_scorer_scores_each_rollout_afresh() -> None:
    # Regression: a cache keyed by id() once returned the previous rollout's scores when a new
    # rollout reused a freed one's id. Every call now scores the rollout it is given.
    cfg = smoke("grpo")
    policy, _, _, scorer = rl_runs.build(cfg)
    for seed in range(4):
        rollout = policy.rollout(torch.arange(cfg.n_prompts).repeat_interleave(1 + seed % 2), seed=seed)
        requests = [scorer.inputs.requests[i] for i in rollout.prompt_index.tolist()]
        task = get_task(cfg.task)
        args = (requests, [""] * len(rollout), scorer.texts(rollout))
        np.testing.assert_array_equal(scorer.reward(rollout).numpy(), task.reward(*args))
        np.testing.assert_array_equal(scorer.judge(rollout).numpy(), task.judge(*args))


def test_committed_rl_results_validate() -> None:
    folder = rl_runs.runs_path("safety").parent
    for path in sorted(folder.glob("rl-*.json")):
        results = rl_runs.load_runs("safety", path=path)  # validates (task and tier come from the file)
        stem = f"rl-{results['task']}-{results['tier']}"
        variants = {f"{stem}.json" if v is None else f"{stem}-{v}.json": v for v in rl_runs.VARIANTS}
        assert path.name in variants
        variant = variants[path.name]
        for entry in results["runs"]:
            cfg = entry["config"]
            assert cfg["tier"] == results["tier"]
            shuffled = cfg.get("reward_signal") == "shuffled"
            if variant in (None, "control", "tuning"):  # the first sweep: controls in their own file only
                assert (variant == "control") == shuffled
            if variant == "tuning":
                assert cfg["seed"] == tuning.TUNING_SEED
            elif variant == "pilot":  # the study's pilot: its own seed, never a study seed
                assert cfg["seed"] == study.PILOT_SEED and cfg["lr"] in study.PILOT_LRS
            elif variant == "study":
                assert cfg["seed"] in study.STUDY_SEEDS
            else:
                assert cfg["seed"] != tuning.TUNING_SEED  # tuning never reuses a sweep seed


def test_summarize_run_clusters_standard_errors_by_prompt() -> None:
    # Two prompts, two samples each: the mean is over samples, the SE over the two prompt means.
    ev = {"prompt_index": [0, 0, 1, 1], "reward": [1.0, 3.0, 5.0, 7.0], "judge": [0, 0, 0, 0],
          "kl_exact": [0.1, 0.3, 0.1, 0.3], "kl_k1": [0] * 4, "kl_k3": [0] * 4, "length": [1, 2, 3, 4]}  # fmt: skip
    s = analysis.summarize_run({"eval": ev})
    assert s.reward == 4.0
    assert s.reward_se == pytest.approx(np.std([2.0, 6.0], ddof=1) / np.sqrt(2))
    assert s.kl_exact_se == 0.0  # the prompt means are equal: no between-prompt spread
    assert analysis.clustered_mean_se(ev["reward"], ev["prompt_index"]) == (s.reward, s.reward_se)
    assert np.isnan(analysis.clustered_mean_se([1.0, 2.0], [0, 0])[1])  # one prompt: no spread to measure
    with pytest.raises(ValueError, match="same shape"):
        analysis.clustered_mean_se([1.0, 2.0, 3.0], [0, 1])


def test_check_same_base_accepts_the_frontier_and_names_differences() -> None:
    front = {"task": "safety", "config": dataclasses.asdict(frontier.frontier_config("safety", "smoke"))}
    cfg = dataclasses.asdict(smoke("ppo"))
    analysis.check_same_base(cfg, front)
    with pytest.raises(ValueError, match="temperature"):
        analysis.check_same_base({**cfg, "temperature": 1.0}, front)
    with pytest.raises(ValueError, match="n_prompts"):
        analysis.check_same_base({**cfg, "n_prompts": 99}, front)


def test_sweep_configs_are_seed_major_and_checked() -> None:
    configs = rl_runs.sweep_configs("safety", "smoke", seeds=(1, 2))
    assert len(configs) == 2 * sum(len(v) for v in rl_runs.SWEEP_KL_COEFS.values())
    assert [c.seed for c in configs[: len(configs) // 2]] == [1] * (len(configs) // 2)
    assert {c.kl_coef for c in configs if c.method == "ppo"} == set(rl_runs.SWEEP_KL_COEFS["ppo"])
    assert {c.seed for c in tuning.tuning_configs("safety", "grpo", "smoke")} == {tuning.TUNING_SEED}
    assert rl_runs.runs_path("safety", variant="tuning").name == "rl-safety-full-tuning.json"
    with pytest.raises(ValueError, match="unknown method"):
        rl_runs.sweep_configs("safety", "smoke", methods=("dpo",))


def test_tuned_lr_reads_the_tuning_file(tmp_path, finished_runs) -> None:
    runs = []
    for lr, result in zip((1e-4, 3e-4), finished_runs.values(), strict=False):
        entry = json.loads(json.dumps(result))
        entry["config"].update(method="grpo", lr=lr, seed=tuning.TUNING_SEED)
        entry["algorithm"]["lr"] = lr
        runs.append(entry)
    runs[0]["eval"]["reward"] = [x + 1.0 for x in runs[0]["eval"]["reward"]]  # the smaller rate wins
    path = rl_runs.save_runs("safety", "smoke", runs, tmp_path / "tuning.json")
    assert tuning.tuned_lr("safety", "grpo", path=path) == 1e-4
    with pytest.raises(ValueError, match=r"ppo tuning on safety lacks the learning rates \[0.0001, 0.0003\]"):
        tuning.tuned_lr("safety", "ppo", path=path)
    partial = rl_runs.save_runs("safety", "smoke", runs[1:], tmp_path / "partial.json")  # tuning still running
    with pytest.raises(ValueError, match=r"lacks the learning rates \[0.0001\]"):
        tuning.tuned_lr("safety", "grpo", path=partial)


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
        training.train(Diverging(), progress=False)


def test_a_run_another_process_trains_is_refused_and_a_sweep_moves_on(tmp_path, finished_runs) -> None:
    import filelock

    busy, free = smoke("grpo", kl_coef=0.3), smoke("grpo")
    folder = rl_runs.run_folder(busy, tmp_path)
    held = filelock.FileLock(folder / "train.lock")  # stands for the other worker (flock is per open file)
    held.acquire(timeout=0)
    try:
        with pytest.raises(storage.RunInProgressError, match="another process"):
            rl_runs.run(busy, work_dir=tmp_path, progress=False)
        out = tmp_path / "rl.json"
        runs = rl_runs.sweep([busy, free], work_dir=tmp_path, output=out, progress=False)
        assert [rl_runs.LMRunConfig(**r["config"]) for r in runs] == [free]
        assert not (folder / "run.json").exists()
    finally:
        held.release()


def test_sweep_keeps_runs_another_worker_saved_meanwhile(tmp_path, finished_runs, monkeypatch) -> None:
    out = tmp_path / "rl.json"
    other = finished_runs["ppo"]
    mine = smoke("grpo")
    real_run = rl_runs.run

    def run_while_another_worker_saves(config, **kwargs):
        rl_runs.save_runs("safety", "smoke", [other], out)  # written after this sweep read the file
        return real_run(config, **kwargs)

    monkeypatch.setattr(rl_runs, "run", run_while_another_worker_saves)
    rl_runs.sweep([mine], work_dir=tmp_path, output=out, progress=False)
    saved = {r["config"]["method"] for r in rl_runs.load_runs("safety", "smoke", path=out)["runs"]}
    assert saved == {"ppo", "grpo"}


def test_reward_signal_enters_the_key_only_when_it_is_a_control() -> None:
    import hashlib

    cfg = smoke("ppo")
    later = ("reward_signal", "kl_in", "metrics_every", "path_evals", "path_eval_samples", "distill_samples",
             "best_of")
    before_the_field = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in later}
    old_key = hashlib.sha256(json.dumps(before_the_field, sort_keys=True).encode()).hexdigest()[:12]
    assert cfg.key() == old_key  # work folders and results written before the field still match
    control = dataclasses.replace(cfg, reward_signal="shuffled")
    assert control.key() != cfg.key()
    with pytest.raises(ValueError, match="reward_signal"):
        dataclasses.replace(cfg, reward_signal="random")


def test_shuffled_rewards_permute_each_rollout_reproducibly() -> None:
    cfg = smoke("grpo")
    policy, _, _, scorer = rl_runs.build(cfg)
    rollout = policy.rollout(torch.arange(8) % cfg.n_prompts, seed=0)
    true = scorer.reward(rollout)
    shuffle = rl_runs.shuffled_rewards(scorer.reward, seed=1)
    permuted = shuffle(rollout)
    assert torch.equal(torch.sort(permuted).values, torch.sort(true).values)  # the same values ...
    assert torch.unique(true).numel() > 1 and not torch.equal(permuted, true)  # ... moved
    assert torch.equal(shuffle(rollout), permuted)  # the same rollout, the same permutation (resumable)
    assert not torch.equal(rl_runs.shuffled_rewards(scorer.reward, seed=2)(rollout), permuted)


def test_control_configs_pair_with_the_sweep_and_run_from_the_command_line(tmp_path, capsys) -> None:
    controls = rl_runs.control_configs("safety", "full")
    assert [c.method for c in controls] == list(rl_runs.METHODS)
    for c in controls:
        paired = rl_runs.run_config("safety", c.method, c.kl_coef, c.seed, "full")
        assert c.kl_coef == max(rl_runs.SWEEP_KL_COEFS[c.method]) and c.seed == rl_runs.SWEEP_SEEDS[0]
        assert dataclasses.replace(c, reward_signal="task") == paired  # differs from its sweep run only there
    out = tmp_path / "control.json"
    argv = ["rl", "--task", "safety", "--tier", "smoke", "--control", "--methods", "ppo", "--work-dir", str(tmp_path),
            "--output", str(out)]  # fmt: skip
    assert cli.main(argv) == 0
    assert "1 of 1 control runs finished" in capsys.readouterr().out
    (run,) = rl_runs.load_runs("safety", "smoke", path=out)["runs"]
    assert run["config"]["reward_signal"] == "shuffled"
    assert cli.main(["rl", "--task", "safety", "--tier", "smoke", "--control", "--tune"]) == 2
    assert "separate experiments" in capsys.readouterr().err


def _merge_copies(out: str, entry: dict, seeds: list[int]) -> None:
    for seed in seeds:
        copy = {**entry, "config": {**entry["config"], "seed": seed}}
        rl_runs._merge_into_results("safety", "smoke", copy, Path(out))


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
    seeds = sorted(r["config"]["seed"] for r in rl_runs.load_runs("safety", "smoke", path=out)["runs"])
    assert seeds == list(range(10, 24))  # without the lock, interleaved read-merge-writes lose runs


def test_a_resumed_control_equals_an_uninterrupted_one(tmp_path) -> None:
    cfg = smoke("grpo", reward_signal="shuffled")
    whole = rl_runs.run(cfg, work_dir=tmp_path / "a", progress=False)
    assert rl_runs.run(cfg, work_dir=tmp_path / "b", progress=False, stop_after=1) is None
    resumed = rl_runs.run(cfg, work_dir=tmp_path / "b", progress=False)
    for a, b in zip(resumed["history"], whole["history"], strict=True):
        assert {k: v for k, v in a.items() if k != "seconds"} == pytest.approx(
            {k: v for k, v in b.items() if k != "seconds"}, rel=1e-9, abs=1e-12)
    assert resumed["config"]["reward_signal"] == "shuffled"


def test_grpo_controls_shuffle_within_each_group() -> None:
    cfg = smoke("grpo")
    policy, _, _, scorer = rl_runs.build(cfg)
    rollout = policy.rollout(torch.tensor([0, 0, 0, 0, 1, 1, 1, 1]), seed=3)
    true = scorer.reward(rollout)
    within = rl_runs.shuffled_rewards(scorer.reward, seed=1, within_prompt=True)(rollout)
    for rows in (slice(0, 4), slice(4, 8)):  # every group keeps its own rewards, in another order
        assert torch.equal(torch.sort(within[rows]).values, torch.sort(true[rows]).values)
    _, _, control, _ = rl_runs.build(dataclasses.replace(cfg, reward_signal="shuffled"))
    assert torch.equal(control.reward_fn(rollout), within)  # build wires the within-group control into GRPO


def test_committed_sweep_keeps_only_runs_of_the_current_sweep(tmp_path, finished_runs) -> None:
    current = finished_runs["ppo"]  # β = 0.1, seed 1, the smoke tier's rate: in the PPO sweep
    stale = json.loads(json.dumps(current))
    stale["config"]["lr"] = stale["algorithm"]["lr"] = 5e-4  # e.g. from before a re-tuning
    outside = finished_runs["grpo"]  # β = 0.1 is not in GRPO's sweep
    path = rl_runs.save_runs("safety", "smoke", [current, stale, outside], tmp_path / "rl.json")
    kept = rl_runs.committed_sweep("safety", "smoke", path=path)
    assert [r["config"] for r in kept] == [current["config"]]
    assert rl_runs.committed_sweep("safety", "smoke", path=tmp_path / "none.json") == []


@pytest.mark.parametrize("method", rl_runs.METHODS)
def test_step_prompts_are_the_prompts_the_run_trained_on(method, tmp_path, monkeypatch) -> None:
    drawn = []
    real_rollout = rl_runs.CausalLMPolicy.rollout

    def recording_rollout(self, prompt_index, seed, **kwargs):
        drawn.append(prompt_index.numpy().copy())
        return real_rollout(self, prompt_index, seed, **kwargs)

    monkeypatch.setattr(rl_runs.CausalLMPolicy, "rollout", recording_rollout)
    cfg = smoke(method, n_prompts=5, seed=7)
    entry = rl_runs.run(cfg, work_dir=tmp_path, progress=False)
    trained_on = drawn[: cfg.steps]  # the evaluation's rollouts come after
    for step, prompts in enumerate(trained_on):
        np.testing.assert_array_equal(rl_runs.step_prompts(entry, step), prompts)
    assert len(trained_on) == cfg.steps


def test_the_sweep_learning_rates_are_what_the_committed_tuning_chooses() -> None:
    # SWEEP_LRS is a constant so that building a config reads no file; it must stay what the rule picks.
    for task, rates in rl_runs.SWEEP_LRS.items():
        for method, lr in rates.items():
            assert tuning.tuned_lr(task, method) == lr, (task, method)


def test_building_a_config_reads_no_file(monkeypatch) -> None:
    import builtins

    def no_open(*args, **kwargs):
        raise AssertionError(f"a config read a file: {args[:1]}")

    monkeypatch.setattr(builtins, "open", no_open)
    monkeypatch.setattr(Path, "read_text", no_open)
    for tier in ("smoke", "default", "full"):
        for method in rl_runs.METHODS:
            assert rl_runs.run_config("summarization", method, 0.1, 1, tier).lr > 0
        frontier.frontier_config("safety", tier)


def test_the_command_line_offers_the_sweep_methods_and_seeds() -> None:
    assert cli.METHODS == rl_runs.METHODS and cli.SWEEP_SEEDS == rl_runs.SWEEP_SEEDS
    assert cli.RUN_METHODS == rl_runs.RUN_METHODS


def test_legacy_algorithm_configs_load_under_the_new_names() -> None:
    from alignlimits.rl import grpo, ppo

    old_grpo = {"steps": 3, "groups": 2, "group_size": 2, "kl_coef": 0.04, "kl_in_reward": 0.0}
    assert grpo.GRPOConfig.from_dict(old_grpo).kl_loss_coef == 0.04
    assert ppo.PPOConfig.from_dict({"steps": 3, "kl_coef": 0.1}).kl_reward_coef == 0.1
    committed = rl_runs.load_runs("safety")["runs"]
    for entry in committed:  # every committed run's hyper-parameters still build a config
        cls = ppo.PPOConfig if entry["config"]["method"] == "ppo" else grpo.GRPOConfig
        assert cls.from_dict(entry["algorithm"]).steps == entry["config"]["steps"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_asking_for_cuda_without_a_gpu_is_refused_with_a_clear_message(capsys) -> None:
    for command in (["rl", "--task", "safety", "--tier", "smoke"], ["frontier", "--task", "safety", "--tier", "smoke"]):
        assert cli.main([*command, "--device", "cuda"]) == 2
        assert "no CUDA device is available here; use --device cpu" in capsys.readouterr().err
    assert cli.main(["frontier", "--task", "safety", "--tier", "smoke", "--device", "abacus"]) == 2
    assert "unknown device 'abacus'" in capsys.readouterr().err


def test_resolve_device() -> None:
    assert models.resolve_device("cpu") == torch.device("cpu")
    assert models.resolve_device(None) == models.default_device() == models.resolve_device("auto")


def test_a_run_on_an_explicit_device_records_it(tmp_path) -> None:
    entry = rl_runs.run(smoke("grpo", steps=1), work_dir=tmp_path, progress=False, device="cpu")
    assert entry["provenance"]["hardware"]["device"] == "cpu"


def test_full_tier_results_are_refused_from_a_dirty_tree(monkeypatch, tmp_path, capsys) -> None:
    from alignlimits.experiments import provenance

    monkeypatch.setattr(provenance, "_git", lambda *a: " M alignlimits/tilting.py" if a[0] == "status" else "abc")
    with pytest.raises(provenance.DirtyTreeError, match=r"committed code.*alignlimits/tilting.py"):
        provenance.require_clean_tree("full")
    provenance.require_clean_tree("smoke")  # smoke and default runs are for checking code, not for the book
    with pytest.raises(provenance.DirtyTreeError):
        rl_runs.run(rl_runs.run_config("safety", "grpo", 0.1, 1, "full"), work_dir=tmp_path, progress=False)
    assert cli.main(["frontier", "--task", "safety", "--tier", "full", "--work-dir", str(tmp_path)]) == 2
    assert "full-tier results must come from committed code" in capsys.readouterr().err
    monkeypatch.setattr(provenance, "_git", lambda *a: "")  # clean: passes
    provenance.require_clean_tree("full")


def test_a_rewritten_results_file_does_not_make_the_tree_dirty(monkeypatch, tmp_path) -> None:
    import subprocess

    from alignlimits.experiments import provenance

    repo = tmp_path / "repo"
    (repo / "alignlimits" / "results").mkdir(parents=True)
    (repo / "alignlimits" / "results" / "rl-x.json").write_text("{}")
    (repo / "alignlimits" / "code.py").write_text("x = 1\n")

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
        return out.stdout.strip()

    git("init", "-q")
    git("add", ".")
    git("-c", "user.email=a@b", "-c", "user.name=t", "commit", "-qm", "init")
    monkeypatch.setattr(provenance, "_git", git)
    (repo / "alignlimits" / "results" / "rl-x.json").write_text('{"runs": []}')  # a sweep saved a run
    provenance.require_clean_tree("full")
    assert provenance.environment("cpu")["git_dirty"] is False
    (repo / "alignlimits" / "code.py").write_text("x = 2\n")  # code changed: refused
    with pytest.raises(provenance.DirtyTreeError, match=r"code\.py"):
        provenance.require_clean_tree("full")
    assert provenance.environment("cpu")["git_dirty"] is True
