r"""The frontier experiment: base samples of a task, scored, saved with provenance.

One command runs it at any tier::

    python -m alignlimits.experiments frontier --task safety --tier full

It samples ``n_samples`` completions from the base policy for
each of ``n_prompts`` prompts of a task, scores every completion with the task's reward
and its held-out judge, and saves a small JSON results file (:func:`save_frontier`) that
the chapters turn into the estimated KL–reward frontier and best-of-N curves.

**Base policy.** The model at temperature ``T`` (``config.temperature``, 0.7 for
SmolLM2 — at ``T = 1`` its text is often incoherent) with no truncation:
``π0(v|h) = softmax(logits(h)/T)``. Every log-probability stored is of that policy
(teacher-forced at the same ``T``, :mod:`alignlimits.lm.sampling`).

**Tiers** (:func:`frontier_config`):

* ``smoke`` — the tiny random GPT-2, 3 prompts × 4 samples × 8 tokens (seconds; tests, CI);
* ``default`` — SmolLM2-135M-Instruct, 8 prompts × 16 samples (a few minutes on a CPU);
* ``full`` — SmolLM2-135M-Instruct, 64 prompts × 256 samples (the committed results).

Chapters at the default tier *load* the committed full-tier results (:func:`load_frontier`)
and say so; they re-run a smoke version live.

**Resuming.** Prompts are processed in batches of ``prompts_per_batch``; each finished
batch is written atomically to a work folder (``<cache>/runs/<task>-<tier>-<hash of the
config>/``). A run started again with the same config skips finished batches. Every
batch draws from its own seed (``SeedSequence(seed).spawn``), so an interrupted and
resumed run gives exactly the results of an uninterrupted one.

**Results schema** (checked by :func:`validate_frontier`; version :data:`SCHEMA_VERSION`)::

    {"schema": "alignlimits.frontier", "schema_version": 1,
     "task": "safety" | "summarization", "tier": "smoke" | "default" | "full",
     "config": {... every FrontierConfig field ...},
     "provenance": {"git_sha": str, "git_dirty": bool, "date": ISO-8601 str,
                    "wall_time_s": float (sampling + scoring, summed over sessions),
                    "sessions": int, "tokens_generated": int,
                    "hardware": {"platform", "processor", "cpu_count", "device", "torch_threads"},
                    "versions": {"python", "alignlimits", "numpy", "torch", "transformers", ...},
                    "weights": {"source": str, "origin": str, "files": {file name: sha256}},
                    "assets": {asset name: {"source", "origin", "files"}} (judge encoder, prompts),
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

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from alignlimits.experiments import provenance, storage
from alignlimits.tasks import TASKS, TaskInputs, get_task
from alignlimits.tiers import TIERS, by_tier, current_tier

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "FrontierConfig",
    "frontier_config",
    "load_frontier",
    "run_frontier",
    "save_frontier",
    "validate_frontier",
    "work_folder",
]

SCHEMA = "alignlimits.frontier"
SCHEMA_VERSION = 1
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
    scoring_version : version of the task's reward and judge definitions
        (:attr:`alignlimits.tasks.base.Task.scoring_version`; 2 = content-free refusal exemplars).
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
    """The frontier config of ``task`` at ``tier`` (``ALIGNLIMITS_TIER`` when None), with overrides.

    Builds a value and nothing else: no file is read.

    Examples
    --------
    >>> cfg = frontier_config("safety", "full")
    >>> cfg.model, cfg.n_prompts, cfg.n_samples, cfg.max_new_tokens
    ('smollm2-135m-instruct', 64, 256, 48)
    """
    tier = current_tier() if tier is None else tier
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; expected one of {', '.join(TIERS)}.")
    spec = get_task(task)
    base = {
        "task": task,
        "tier": tier,
        "model": by_tier(smoke="tiny-gpt2", default="smollm2-135m-instruct", full="smollm2-135m-instruct", tier=tier),
        "n_prompts": by_tier(smoke=3, default=8, full=64, tier=tier),
        # 256 samples per prompt: the plug-in KL ceiling is log 256 ≈ 5.5 nats and the frontier is reliable
        # out to ~1-2 nats, where the RL runs spend their KL (64 samples were reliable only below ~0.5).
        "n_samples": by_tier(smoke=4, default=16, full=256, tier=tier),
        "temperature": 0.7,
        "max_new_tokens": by_tier(smoke=8, default=spec.max_new_tokens, full=spec.max_new_tokens, tier=tier),
        "max_document_words": by_tier(smoke=12, default=None, full=None, tier=tier),
        "prompts_per_batch": by_tier(smoke=1, default=4, full=2, tier=tier),
        "scoring_version": spec.scoring_version,
    }
    base.update(overrides)
    return FrontierConfig(**base)


# ---------------------------------------------------------------------------- the run


def _work_dir(config: FrontierConfig, work_dir: str | Path | None) -> Path:
    return storage.run_folder(f"frontier-{config.task}-{config.tier}-{config.key()}", work_dir)


def _run_batch(config: FrontierConfig, model: Any, tokenizer: Any, task: TaskInputs, rows: range, seed: int) -> dict:
    from alignlimits.lm import sampling
    from alignlimits.lm.chat import chat_prompts

    requests = [task.requests[i] for i in rows]
    prompts = chat_prompts(tokenizer, requests)
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
    spec = get_task(config.task)
    row_requests, row_references = [requests[k] for k in owner], [task.references[rows[k]] for k in owner]
    reward = spec.reward(row_requests, row_references, texts)
    judge = spec.judge(row_requests, row_references, texts)
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
    device: str | None = None,
) -> dict[str, Any] | None:
    """Run (or resume) the frontier experiment; returns the results dict (see the module docstring).

    Parameters
    ----------
    config : a :class:`FrontierConfig` (see :func:`frontier_config`).
    work_dir : where checkpoints go (default ``<cache>/runs``); one subfolder per config.
    progress : show a tqdm bar over prompt batches.
    stop_after : process at most this many *new* batches, then return None (simulates an
        interruption; the next call resumes).
    device : where the model runs (``"cpu"``, ``"cuda"``; default: CUDA when present). Not part
        of the config: the law sampled is the same; provenance records the device.
    """
    from tqdm.auto import tqdm

    provenance.require_clean_tree(config.tier)
    folder = _work_dir(config, work_dir)
    (folder / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=1))
    task = get_task(config.task).inputs(config.n_prompts, max_document_words=config.max_document_words)
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

            model, tokenizer = load_model(config.model, device=device, seed=config.seed, progress=progress)
        began = time.perf_counter()
        rows = range(starts[b], min(starts[b] + config.prompts_per_batch, config.n_prompts))
        out = _run_batch(config, model, tokenizer, task, rows, int(seeds[b].generate_state(1)[0]))
        out["wall_time_s"] = time.perf_counter() - began
        out["session"] = os.getpid()
        storage.write_json_atomic(folder / f"batch-{b:04d}.json", out)
        new += 1
        bar.update(1)
    bar.close()
    return _assemble(config, task, folder, len(starts), device)


def _assemble(
    config: FrontierConfig, task: TaskInputs, folder: Path, n_batches: int, device: str | None = None
) -> dict[str, Any]:
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
    env = provenance.environment(device)
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
            "weights": provenance.weights(config.model),
            "assets": provenance.task_assets(config.task),
            "seeds": {"seed": config.seed, "batch_seeds": f"numpy SeedSequence(seed).spawn({n_batches})"},
        },
        "prompt_ids": task.prompt_ids,
        "reward": cat["reward"],
        "judge": cat["judge"],
        "length": cat["length"],
        "logprob": cat["logprob"],
        "examples": examples,
    }
    return validate_frontier(results)


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


def validate_frontier(results: dict[str, Any]) -> dict[str, Any]:
    """Check a frontier results dict against the schema of the module docstring; return it.

    Raises
    ------
    ValueError
        Naming the first field that is missing, has the wrong type or shape, or holds a
        non-finite or out-of-range value.
    """
    storage.check_header(results, SCHEMA, SCHEMA_VERSION)
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


def save_frontier(results: dict[str, Any], path: str | Path | None = None) -> Path:
    """Validate and write ``results`` (default: the package's results file of its task and tier)."""
    validate_frontier(results)
    target = Path(path) if path is not None else storage.results_path("frontier", results["task"], results["tier"])
    return storage.write_json_atomic(target, results, indent=1)


def load_frontier(task: str, tier: str = "full", *, path: str | Path | None = None) -> dict[str, Any]:
    """Load and validate frontier results (the package's committed file of ``task`` at ``tier``, or ``path``).

    Raises
    ------
    FileNotFoundError
        When there is no results file, saying which command produces it.
    ValueError
        When the file breaks the schema (naming the first faulty field).
    """
    get_task(task)  # an unknown task is an error here, not a missing file
    target = Path(path) if path is not None else storage.results_path("frontier", task, tier)
    command = f"python -m alignlimits.experiments frontier --task {task} --tier {tier}"
    return validate_frontier(storage.read_results(target, SCHEMA, SCHEMA_VERSION, produce_with=command))


def work_folder(config: FrontierConfig, work_dir: str | Path | None = None) -> Path:
    """The work folder (checkpoints; the results of a non-standard config) of a frontier run."""
    return _work_dir(config, work_dir)
