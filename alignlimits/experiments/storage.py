"""Where runs keep their work and their results, and how files are written safely.

* **Results files** ship inside the package, one per experiment, task, tier and variant:
  ``alignlimits/results/<experiment>-<task>-<tier>[-<variant>].json``
  (:func:`results_path`); :func:`read_results` reads one and checks its header
  (:func:`check_header`) before the experiment's own validator checks the rest.
* **Work folders** (:func:`run_folder`) hold checkpoints under ``<cache>/runs``; a run
  holds its folder's lock while it trains (:func:`hold_run`), so parallel workers never
  train the same run, and results files are merged under a lock (:func:`locked`).
* Every write is atomic (:func:`write_json_atomic`): an interruption never leaves a
  half-written file behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "RunInProgressError",
    "check_header",
    "hold_run",
    "locked",
    "read_results",
    "results_path",
    "run_folder",
    "write_json_atomic",
]


def results_path(experiment: str, task: str, tier: str = "full", variant: str | None = None) -> Path:
    """The package's results file of ``experiment`` on ``task`` at ``tier`` (and ``variant``, e.g. ``"control"``).

    Examples
    --------
    >>> results_path("rl", "safety", "full", "control").name
    'rl-safety-full-control.json'
    """
    name = "-".join([experiment, task, tier] + ([variant] if variant else []))
    return Path(str(resources.files("alignlimits"))) / "results" / f"{name}.json"


def check_header(results: Any, schema: str, version: int) -> None:
    """Raise ValueError unless ``results`` is a JSON object of ``schema`` at ``version``."""
    if not isinstance(results, dict):
        raise ValueError("invalid results file: top level: expected a JSON object")
    if results.get("schema") != schema or results.get("schema_version") != version:
        raise ValueError(
            f"invalid results file: schema: expected {schema!r} version {version}; got "
            f"{results.get('schema')!r} version {results.get('schema_version')!r}"
        )


def read_results(path: str | Path, schema: str, version: int, *, produce_with: str) -> dict[str, Any]:
    """Read the results file ``path`` and check its header; ``produce_with`` names the command that makes it.

    Raises
    ------
    FileNotFoundError
        When there is no such file, saying which command produces it.
    ValueError
        When the file is not JSON or not of ``schema`` at ``version``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no results at {path}; produce them with\n    {produce_with}")
    try:
        results = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"invalid results file {path}: not JSON ({err})") from None
    check_header(results, schema, version)
    return results


def write_json_atomic(path: str | Path, obj: Any, *, indent: int | None = None) -> Path:
    """Write ``obj`` as JSON to ``path`` through a temporary file and a rename (atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            if indent is None:
                json.dump(obj, fh, indent=None, separators=(",", ":"))
            else:
                fh.write(json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def run_folder(name: str, work_dir: str | Path | None = None) -> Path:
    """The work folder ``<work_dir>/<name>`` of one run (created; ``work_dir`` defaults to ``<cache>/runs``)."""
    if work_dir is None:
        from alignlimits.cache import cache_dir

        work_dir = cache_dir() / "runs"
    path = Path(work_dir) / name
    path.mkdir(parents=True, exist_ok=True)
    return path


class RunInProgressError(RuntimeError):
    """Another process is training this run (it holds the run folder's lock)."""


@contextlib.contextmanager
def hold_run(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s training lock for the block; raise :class:`RunInProgressError` at once if another has it."""
    import filelock

    lock = filelock.FileLock(folder / "train.lock")
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise RunInProgressError(
            f"run {folder.name} is training in another process (it holds {folder / 'train.lock'}); "
            "wait for that process or stop it."
        ) from None
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def locked(target: Path, timeout: float = 600) -> Iterator[None]:
    """Hold the lock of results file ``target`` for a read-merge-write (another worker may be adding runs)."""
    import filelock

    target.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(target.with_name(f".{target.name}.lock"), timeout=timeout):
        yield
