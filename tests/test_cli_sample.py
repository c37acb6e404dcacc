"""Tests for ``alignlimits sample`` (alignlimits.lm.rewards_file): from a model to the rewards file, offline.

The model is ``tiny-gpt2`` (random weights, locally trained tokenizer, built once per
module); rewards come from functions in this module, a module file, or a tiny
``GPT2ForSequenceClassification`` saved to a folder.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from alignlimits import cli

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from alignlimits.lm import models, rewards_file  # noqa: E402  (needs torch)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PROMPTS = [("a", "The cat sat"), ("b", "Return the value of"), ("c", "Hello")]
SAMPLES = 6
THIS = "tests.test_cli_sample"


# ----------------------------------------------------------------------------- rewards used by the tests


def char_reward(prompts: list[str], completions: list[str]) -> list[float]:
    """Distinct characters of the completion, plus a little of its length and the prompt's: varies per sample."""
    return [len(set(c)) + 0.01 * len(c) + 0.001 * len(p) for p, c in zip(prompts, completions, strict=True)]


def short_reward(prompts: list[str], completions: list[str]) -> list[float]:
    return [1.0] * (len(completions) - 1)


def nan_reward(prompts: list[str], completions: list[str]) -> list[float]:
    return [float("nan")] + [1.0] * (len(completions) - 1)


def text_reward(prompts: list[str], completions: list[str]) -> list[str]:
    return ["high"] * len(completions)


def failing_reward(prompts: list[str], completions: list[str]) -> list[float]:
    raise KeyError("score")


#: calls of interrupted_reward before it raises KeyboardInterrupt (None: never)
INTERRUPT: dict[str, int | None] = {"after": None}


def interrupted_reward(prompts: list[str], completions: list[str]) -> list[float]:
    after = INTERRUPT["after"]
    if after is not None:
        if after == 0:
            raise KeyboardInterrupt
        INTERRUPT["after"] = after - 1
    return char_reward(prompts, completions)


NOT_CALLABLE = 3


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def tokenizer():
    return models.build_tokenizer()


@pytest.fixture(autouse=True)
def _offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tokenizer) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("ALIGNLIMITS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ALIGNLIMITS_DEBUG", raising=False)
    # load_model("tiny-gpt2") trains the same tokenizer every time (seconds): train it once
    monkeypatch.setattr(models, "build_tokenizer", lambda *args, **kwargs: tokenizer)
    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # so "tests.test_cli_sample:..." imports


@pytest.fixture
def prompts_file(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"id": i, "prompt": p}) + "\n" for i, p in PROMPTS))
    return path


def sample_argv(prompts: Path, work: Path, *extra: str, reward: str = f"{THIS}:char_reward") -> list[str]:
    return ["sample", "--model", "tiny-gpt2", "--prompts", str(prompts), "--reward", reward,
            "--samples-per-prompt", str(SAMPLES), "--max-new-tokens", "6", "--batch-size", "12", "--device", "cpu",
            "--work-dir", str(work), "--quiet", *extra]  # fmt: skip


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's usage errors and --help
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# ----------------------------------------------------------------------------- the pipe and the rows


def test_sample_feeds_frontier_through_stdin(prompts_file: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    code, out, err = run(sample_argv(prompts_file, tmp_path / "work", "--keep-text"), capsys)
    assert code == 0 and err == "", err
    rows = read_csv(out)
    assert list(rows[0]) == [*rewards_file.COLUMNS, "completion"]
    assert [r["prompt_id"] for r in rows] == [i for i, _ in PROMPTS for _ in range(SAMPLES)]
    assert [int(r["sample"]) for r in rows] == list(range(SAMPLES)) * len(PROMPTS)
    texts = dict(PROMPTS)
    expected = char_reward([texts[r["prompt_id"]] for r in rows], [r["completion"] for r in rows])
    np.testing.assert_allclose([float(r["reward"]) for r in rows], expected, rtol=1e-15)
    assert all(1 <= int(r["length"]) <= 6 for r in rows)
    assert all(float(r["logprob"]) < 0 for r in rows)
    # the same text, piped into frontier
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(out.encode()), encoding="utf-8"))
    code, front, err = run(["frontier", "-", "--format", "csv", "--betas", "1,3", "--json"], capsys)
    assert code == 0, err
    doc = json.loads(front)
    assert doc["n_prompts"] == len(PROMPTS) and doc["n_samples"] == len(PROMPTS) * SAMPLES
    assert doc["kl_ceiling"] == pytest.approx(np.log(SAMPLES))


def test_logprob_is_the_sampled_laws(prompts_file: Path, tmp_path: Path, tokenizer) -> None:
    # The logprob column is log pi(y|x) at the temperature: the teacher-forced sum over the completion.
    from alignlimits.lm import sampling

    prompts = rewards_file.read_prompts(prompts_file)
    result = rewards_file.sample_rewards(
        "tiny-gpt2", prompts, char_reward, samples_per_prompt=2, temperature=0.7, max_new_tokens=5,
        batch_size=6, device="cpu", work_dir=tmp_path / "work",
    )  # fmt: skip
    model, tok = models.load_model("tiny-gpt2", device="cpu")
    # batch 0 holds all three prompts (6 // 2); redraw it with its seed
    seed = int(np.random.SeedSequence(0, spawn_key=(0,)).generate_state(1)[0])
    ids = [tok(text)["input_ids"] for _, text in PROMPTS]
    s = sampling.sample(model, ids, num_samples=2, temperature=0.7, max_new_tokens=5, eos_token_id=tok.eos_token_id,
                        pad_token_id=tok.pad_token_id, seed=seed, batch_size=6)  # fmt: skip
    tf = sampling.token_logprobs(model, s.prompt_ids, s.prompt_mask, s.completion_ids, s.completion_mask,
                                 temperature=0.7).sum(dim=1)  # fmt: skip
    np.testing.assert_allclose([r["logprob"] for r in result.rows], tf.numpy(), rtol=1e-5)
    assert [r["length"] for r in result.rows] == s.lengths.tolist()


def test_same_seed_same_file_other_seed_other_rewards(prompts_file: Path, tmp_path: Path, capsys) -> None:
    work = tmp_path / "work"
    _, first, _ = run(sample_argv(prompts_file, work), capsys)
    code, again, _ = run(sample_argv(prompts_file, work), capsys)  # read back from the work folder
    assert code == 0 and again == first
    _, fresh, _ = run(sample_argv(prompts_file, tmp_path / "elsewhere"), capsys)  # sampled anew
    assert fresh == first
    _, other, _ = run(sample_argv(prompts_file, work, "--seed", "1"), capsys)
    assert [r["reward"] for r in read_csv(other)] != [r["reward"] for r in read_csv(first)]
    assert len(list(work.iterdir())) == 2  # one work folder per option set


def test_chat_mode_changes_what_the_model_reads(prompts_file: Path, tmp_path: Path, capsys) -> None:
    # tiny-gpt2 has no chat template: --chat writes "User: ...\nAssistant:" around each prompt
    work = tmp_path / "work"
    _, plain, _ = run(sample_argv(prompts_file, work), capsys)
    _, chat, _ = run(sample_argv(prompts_file, work, "--chat"), capsys)
    _, no_chat, _ = run(sample_argv(prompts_file, work, "--no-chat"), capsys)
    assert no_chat == plain
    assert [r["logprob"] for r in read_csv(chat)] != [r["logprob"] for r in read_csv(plain)]


def test_jsonl_output_and_file(prompts_file: Path, tmp_path: Path, capsys) -> None:
    work = tmp_path / "work"
    _, csv_text, _ = run(sample_argv(prompts_file, work), capsys)
    target = tmp_path / "out.jsonl"
    code, out, _ = run(sample_argv(prompts_file, work, "-o", str(target)), capsys)
    assert code == 0 and out == ""
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert list(lines[0]) == list(rewards_file.COLUMNS)
    assert [str(x["reward"]) for x in lines] == [r["reward"] for r in read_csv(csv_text)]
    code, out, _ = run(sample_argv(prompts_file, work, "--format", "jsonl"), capsys)
    assert out == target.read_text()


def test_progress_and_messages_go_to_stderr(prompts_file: Path, tmp_path: Path, capsys) -> None:
    argv = [a for a in sample_argv(prompts_file, tmp_path / "work") if a != "--quiet"]
    code, out, err = run(argv, capsys)
    assert code == 0 and out.startswith("prompt_id,sample,reward,length,logprob\n")
    assert "alignlimits: work folder" in err and "wrote 18 rows (3 prompts x 6 samples)" in err


# ----------------------------------------------------------------------------- checkpoints and resume


def test_stop_after_then_resume_equals_an_uninterrupted_run(prompts_file: Path, tmp_path: Path, capsys) -> None:
    _, whole, _ = run(sample_argv(prompts_file, tmp_path / "one-go", "--batch-size", "6"), capsys)
    work = tmp_path / "work"
    target = tmp_path / "r.csv"
    argv = sample_argv(prompts_file, work, "--batch-size", "6", "-o", str(target))  # one prompt per batch
    code, out, err = run([a for a in argv if a != "--quiet"] + ["--stop-after", "1"], capsys)
    assert code == 0 and out == "" and not target.exists()
    assert "stopped after 1 batch(es)" in err and "6 of 18 rows done" in err
    (folder,) = work.iterdir()
    assert sorted(p.name for p in folder.glob("batch-*.json")) == ["batch-00000.json"]
    assert json.loads((folder / "options.json").read_text())["schema"] == rewards_file.SCHEMA
    code, _, err = run([a for a in argv if a != "--quiet"], capsys)
    assert code == 0 and "1 of 3 batches already done" in err
    assert target.read_text() == whole


def test_interrupted_run_resumes_to_the_same_file(prompts_file: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    reward = f"{THIS}:interrupted_reward"
    _, whole, _ = run(sample_argv(prompts_file, tmp_path / "one-go", "--batch-size", "6", reward=reward), capsys)
    work = tmp_path / "work"
    monkeypatch.setitem(INTERRUPT, "after", 2)  # Ctrl-C while scoring the third batch
    code, out, err = run(sample_argv(prompts_file, work, "--batch-size", "6", reward=reward), capsys)
    assert code == 130 and out == "" and err.endswith("alignlimits: interrupted\n")
    (folder,) = work.iterdir()
    assert len(list(folder.glob("batch-*.json"))) == 2
    monkeypatch.setitem(INTERRUPT, "after", None)
    code, out, _ = run(sample_argv(prompts_file, work, "--batch-size", "6", reward=reward), capsys)
    assert code == 0 and out == whole


def test_a_damaged_batch_file_is_sampled_again(prompts_file: Path, tmp_path: Path, capsys) -> None:
    work = tmp_path / "work"
    _, first, _ = run(sample_argv(prompts_file, work, "--batch-size", "6"), capsys)
    (folder,) = work.iterdir()
    (folder / "batch-00001.json").write_text('{"prompt_ids": ["b"], "rows": [')
    _, again, _ = run(sample_argv(prompts_file, work, "--batch-size", "6"), capsys)
    assert again == first


def test_editing_the_prompts_or_the_reward_module_starts_a_new_folder(tmp_path: Path, capsys) -> None:
    prompts = tmp_path / "p.csv"
    prompts.write_text("id,prompt\nx,The cat\ny,Hello\n")
    module = tmp_path / "rw.py"
    module.write_text("def score(prompts, completions):\n    return [len(c) + 0.5 for c in completions]\n")
    work = tmp_path / "work"
    reward = f"{module}:score"
    assert run(sample_argv(prompts, work, reward=reward), capsys)[0] == 0
    module.write_text("def score(prompts, completions):\n    return [len(c) + 0.25 for c in completions]\n")
    code, out, _ = run(sample_argv(prompts, work, reward=reward), capsys)
    assert code == 0 and all(float(r["reward"]) % 1 == 0.25 for r in read_csv(out))
    prompts.write_text("id,prompt\nx,The cat\ny,Hello there\n")
    assert run(sample_argv(prompts, work, reward=reward), capsys)[0] == 0
    assert len(list(work.iterdir())) == 3


# ----------------------------------------------------------------------------- a reward model


def _reward_model(folder: Path, tokenizer, num_labels: int, id2label: dict[int, str] | None = None) -> Path:
    from transformers import GPT2Config, GPT2ForSequenceClassification

    config = GPT2Config(vocab_size=len(tokenizer), n_positions=256, n_embd=32, n_layer=1, n_head=2,
                        num_labels=num_labels, pad_token_id=tokenizer.pad_token_id,
                        eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.eos_token_id)  # fmt: skip
    if id2label:
        config.id2label, config.label2id = id2label, {v: k for k, v in id2label.items()}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        model = GPT2ForSequenceClassification(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_reward_model_folder_scores_the_pairs(prompts_file: Path, tmp_path: Path, tokenizer, capsys) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = _reward_model(tmp_path / "rm", tokenizer, num_labels=1)
    code, out, err = run(sample_argv(prompts_file, tmp_path / "work", "--keep-text", reward=str(folder)), capsys)
    assert code == 0, err
    rows = read_csv(out)
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    texts = dict(PROMPTS)
    with torch.no_grad():  # one pair at a time, no padding: what the batched, padded scoring must equal
        expected = [float(model(**tok(texts[r["prompt_id"]], r["completion"], return_tensors="pt")).logits[0, 0])
                    for r in rows]  # fmt: skip
    np.testing.assert_allclose([float(r["reward"]) for r in rows], expected, rtol=1e-5, atol=1e-6)
    assert len({r["reward"] for r in rows}) > len(PROMPTS)


def test_reward_model_labels(tmp_path: Path, tokenizer) -> None:
    two = _reward_model(tmp_path / "two", tokenizer, num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"})
    three = _reward_model(tmp_path / "three", tokenizer, num_labels=3)
    pairs = (["The cat"], ["sat on the mat"])
    positive = rewards_file.load_reward(str(two))(*pairs)
    assert rewards_file.load_reward(str(two), label="positive")(*pairs) == positive
    assert rewards_file.load_reward(str(two), label="0")(*pairs) != positive
    with pytest.raises(rewards_file.SampleInputError, match=r"has 3 labels \(0=LABEL_0, 1=LABEL_1, 2=LABEL_2\)"):
        rewards_file.load_reward(str(three))
    assert rewards_file.load_reward(str(three), label="LABEL_2")(*pairs).shape == (1,)
    with pytest.raises(rewards_file.SampleInputError, match="names no label"):
        rewards_file.load_reward(str(two), label="neutral")
    with pytest.raises(rewards_file.SampleInputError, match=r"labels 0\.\.1"):
        rewards_file.load_reward(str(two), label="5")


# ----------------------------------------------------------------------------- prompts


def test_prompt_sources_agree(tmp_path: Path) -> None:
    csv_path = tmp_path / "p.csv"
    csv_path.write_text('id,prompt\na,The cat sat\nb,"Return the value of"\nc,Hello\n')
    from_csv = rewards_file.read_prompts(csv_path)
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text("".join(json.dumps({"prompt_id": i, "prompt": p}) + "\n" for i, p in PROMPTS))
    assert (from_csv.ids, from_csv.texts) == (rewards_file.read_prompts(jsonl).ids, [p for _, p in PROMPTS])
    bare = tmp_path / "bare.jsonl"
    bare.write_text('{"prompt": "x"}\n\n{"prompt": "y", "other": 1}\n')
    assert rewards_file.read_prompts(bare).ids == ["0", "1"]


def test_a_datasets_split(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    class Split:
        column_names = ("question", "answer")

        def __getitem__(self, column: str) -> list[str]:
            return {"question": ["What is 2+2?", "Name a colour."], "answer": ["4", "red"]}[column]

    def load_dataset(name: str, config: str | None, split: str) -> Split:
        calls.append((name, config, split))
        return Split()

    monkeypatch.setitem(sys.modules, "datasets", SimpleNamespace(load_dataset=load_dataset))
    prompts = rewards_file.read_prompts("hf:owner/maths:main:test[:2]:question")
    assert (prompts.ids, prompts.texts) == (["0", "1"], ["What is 2+2?", "Name a colour."])
    assert rewards_file.read_prompts("hf:maths:train:answer").texts == ["4", "red"]
    assert calls == [("owner/maths", "main", "test[:2]"), ("maths", None, "train")]
    with pytest.raises(rewards_file.SampleInputError, match=r"no column 'prompt' \(found: 'question', 'answer'\)"):
        rewards_file.read_prompts("hf:maths:train:prompt")


# ----------------------------------------------------------------------------- bad input: exit 2, one line

BAD = [
    ("missing-prompts", {}, ["--prompts", "{d}/nope.jsonl"], "nope.jsonl: no such file"),
    ("prompts-folder", {}, ["--prompts", "{d}"], "is a directory"),
    ("prompts-suffix", {"p.txt": "hi\n"}, ["--prompts", "{d}/p.txt"], "cannot tell the prompts file type"),
    ("prompts-json", {"p.jsonl": '{"prompt": "x"}\n{"prompt": \n'}, ["--prompts", "{d}/p.jsonl"],
     "p.jsonl line 2: not valid JSON"),
    ("prompts-key", {"p.jsonl": '{"text": "x"}\n'}, ["--prompts", "{d}/p.jsonl"], "line 1: no 'prompt' key"),
    ("prompts-empty", {"p.jsonl": '{"prompt": " "}\n'}, ["--prompts", "{d}/p.jsonl"], "line 1: prompt is empty"),
    ("prompts-none", {"p.jsonl": "\n"}, ["--prompts", "{d}/p.jsonl"], "no prompts"),
    ("prompts-ids", {"p.csv": "id,prompt\na,x\na,y\n"}, ["--prompts", "{d}/p.csv"],
     "prompt id 'a' is used by prompts 1 and 2"),
    ("prompts-some-ids", {"p.jsonl": '{"prompt": "x", "id": 1}\n{"prompt": "y"}\n'}, ["--prompts", "{d}/p.jsonl"],
     "line 2: an id is given on some lines"),
    ("prompts-column", {"p.csv": "text\nx\n"}, ["--prompts", "{d}/p.csv"], "line 1: no 'prompt' column"),
    ("prompts-utf8", {"p.csv": b"prompt\n\xff\n"}, ["--prompts", "{d}/p.csv"], "not UTF-8"),
    ("prompts-stdin", {}, ["--prompts", "-"], "--prompts needs a .jsonl or .csv file"),
    ("hf-spec", {}, ["--prompts", "hf:only-a-name"], "a dataset is hf:NAME:SPLIT:COLUMN"),
    ("hf-missing", {}, ["--prompts", "hf:owner/data:train:text"], "needs the 'datasets' package"),
    ("reward-module", {}, ["--reward", "no_such_module_x:score"], "no module named 'no_such_module_x'"),
    ("reward-attr", {}, ["--reward", f"{THIS}:no_such_function"], "has no attribute 'no_such_function'"),
    ("reward-not-callable", {}, ["--reward", f"{THIS}:NOT_CALLABLE"], "'NOT_CALLABLE' is a int, not a function"),
    ("reward-file", {}, ["--reward", "{d}/missing.py:score"], "no such file"),
    ("reward-import", {"broken.py": "raise ImportError('needs torchvision')\n"}, ["--reward", "{d}/broken.py:f"],
     "importing '{d}/broken.py' failed (ImportError: needs torchvision)"),
    ("reward-name", {}, ["--reward", "mod:not-a-name"], "'not-a-name' is not a function name"),
    ("reward-folder", {}, ["--reward", "{d}"], "not a model folder (no config.json)"),
    ("reward-nothing", {}, ["--reward", "./nowhere/rm"], "no such model folder"),
    ("reward-label", {}, ["--reward-label", "1"], "--reward-label is only for a reward model"),
    ("reward-length", {}, ["--reward", f"{THIS}:short_reward"], "returned 11 values for 12 completions"),
    ("reward-nan", {}, ["--reward", f"{THIS}:nan_reward"], "returned nan for completion 0"),
    ("reward-text", {}, ["--reward", f"{THIS}:text_reward"], "returned list ['high',"),
    ("reward-raises", {}, ["--reward", f"{THIS}:failing_reward"], "raised KeyError: 'score'"),
    ("samples-zero", {}, ["--samples-per-prompt", "0"], "--samples-per-prompt must be at least 1; got 0"),
    ("temperature", {}, ["--temperature", "0"], "--temperature must be a finite number > 0"),
    ("temperature-nan", {}, ["--temperature", "nan"], "expected a finite number"),
    ("max-new-tokens", {}, ["--max-new-tokens", "0"], "--max-new-tokens must be at least 1"),
    ("context", {}, ["--max-new-tokens", "200"], "exceeds the model's context of 128 tokens"),
    ("batch-size", {}, ["--batch-size", "0"], "--batch-size must be at least 1"),
    ("seed", {}, ["--seed", "-1"], "--seed must be a non-negative integer"),
    ("stop-after", {}, ["--stop-after", "0"], "--stop-after must be at least 1"),
    ("device", {}, ["--device", "tpu7"], "unknown device 'tpu7'"),
    ("model", {}, ["--model", "./no/such/model"], "--model './no/such/model': no model folder"),
    ("output-folder", {}, ["-o", "{d}/missing/r.csv"], "-o/--output: the folder"),
    ("output-dir", {}, ["-o", "{d}"], "is a directory"),
    ("format", {}, ["--format", "parquet"], "argument --format: invalid choice"),
    ("usage", {}, ["--samples-per-prompt", "many"], "invalid int value: 'many'"),
]  # fmt: skip


@pytest.mark.parametrize(("files", "extra", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_exits_2_with_one_line(
    prompts_file: Path,
    tmp_path: Path,
    capsys,
    monkeypatch,
    files: dict[str, str | bytes],
    extra: list[str],
    message: str,
) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if not installed, wherever it is
    d = tmp_path / "in"
    d.mkdir()
    for name, data in files.items():
        (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())
    argv = sample_argv(prompts_file, tmp_path / "work", *(a.format(d=d) for a in extra))
    code, out, err = run(argv, capsys)
    assert (code, out) == (2, ""), err
    assert err.startswith("alignlimits: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert message.format(d=d) in err, err


def test_nothing_is_written_for_a_faulty_reward(prompts_file: Path, tmp_path: Path, capsys) -> None:
    work = tmp_path / "work"
    assert run(sample_argv(prompts_file, work, reward=f"{THIS}:nan_reward"), capsys)[0] == 2
    assert not list(work.rglob("batch-*.json"))


def test_internal_error_is_one_line_exit_1(prompts_file: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("sampler broke")

    monkeypatch.setattr(rewards_file, "_sample_batch", boom)
    code, out, err = run(sample_argv(prompts_file, tmp_path / "work"), capsys)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith("alignlimits: internal error: RuntimeError: sampler broke; please report it")


def test_sample_help_lists_the_options(capsys) -> None:
    code, out, _ = run(["sample", "--help"], capsys)
    assert code == 0
    for option in ("--model", "--prompts", "--reward", "--samples-per-prompt", "--work-dir", "--keep-text", "--chat"):
        assert option in out
    assert "alignlimits frontier - --format csv" in out


# ----------------------------------------------------------------------------- a real pipe


def test_a_real_pipe_from_sample_to_frontier(prompts_file: Path, tmp_path: Path) -> None:
    module = tmp_path / "rw.py"
    module.write_text("def score(prompts, completions):\n    return [len(set(c)) + len(c) / 9 for c in completions]\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ALIGNLIMITS_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    argv = sample_argv(prompts_file, tmp_path / "work", reward=f"{module}:score")
    sample = [sys.executable, "-m", "alignlimits", *argv]
    frontier = [sys.executable, "-m", "alignlimits", "frontier", "-", "--format", "csv", "--betas", "1,3", "--csv"]
    first = subprocess.Popen(sample, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    second = subprocess.run(frontier, stdin=first.stdout, capture_output=True, text=True, env=env, timeout=300)
    assert first.stdout is not None and first.stderr is not None
    first.stdout.close()
    assert first.wait(timeout=300) == 0, first.stderr.read().decode()
    assert second.returncode == 0, second.stderr
    rows = read_csv(second.stdout)
    assert [float(r["beta"]) for r in rows] == [1.0, 3.0] and all(float(r["gain"]) > 0 for r in rows)
