"""``kill -9`` and resume: the long commands, killed with SIGKILL after their first checkpoint, give the same results.

For each long command — ``alignlimits sample``, ``python -m alignlimits.experiments frontier`` and ``... rl`` —
the test starts the command as a real subprocess, polls the work folder it was given (``--work-dir``) until the
command's first checkpoint is on disk, kills it with SIGKILL (no handler, no ``finally``, no lock release: only what
the kernel does for a dead process), runs the same command again to completion, and compares the final output with
that of an uninterrupted run in another work folder.

* ``sample`` writes a rewards file with nothing but numbers and texts: it must be the same **byte for byte**.
* ``frontier`` and ``rl`` write results files with provenance; they must be the same **value for value**, except
  the provenance fields that record *when, how long and in how many processes* the numbers were computed, not the
  numbers (:data:`FRONTIER_RUN_FIELDS`, :data:`RL_RUN_FIELDS`, :data:`RL_STEP_FIELDS`):

  - ``date``, ``wall_time_s``, ``train_time_s``, ``eval_time_s`` and each training step's ``seconds``: wall-clock
    readings, different in every run;
  - ``sessions``: how many processes contributed; 2 after a kill and a resume, 1 for the uninterrupted run (the
    test checks that it is 2: the resumed run did reuse the killed one's checkpoints);
  - ``git_sha``, ``git_dirty``: the state of the checkout when the results were saved, which other sessions
    working in the same checkout may change (a commit) between the two runs; they are not computed from the run.

  Every other field — configs, every reward, judge, log-probability, length, KL and metric, the examples' texts,
  hardware (with the torch thread count) and library versions — must be equal, and ``rl``'s trained parameters
  (``final.pt``) equal tensor for tensor.

The uninterrupted reference is a subprocess too, not a call in this process: the ``tiny-gpt2`` tokenizer is trained
on the docstrings of standard-library modules *and of the submodules a process has imported* (pytest imports
``logging.handlers``, say), so in-process numbers differ from any command's. Every subprocess runs on one CPU thread
(``--threads 1`` where offered, ``OMP_NUM_THREADS=1``). Sizes are chosen so that each killed command still has about
a second of work left when its first checkpoint appears (the test checks that the kill landed: the process died of
SIGKILL before writing its output), and every subprocess runs under a timeout and is killed in a ``finally``, so a
hung command fails the test instead of hanging it.

``sample`` and ``rl`` hold a lock (``filelock``, an OS ``flock``) on their work folder: the killed process leaves
its lock *file* behind, which the test checks, but the kernel drops the lock itself with the process, so the rerun
is not refused. (A kill while a finished ``rl`` run saves its ``final.pt`` is tested in ``test_experiments_rl.py``.)
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None,
    reason="needs torch and transformers",
)

ROOT = Path(__file__).resolve().parents[1]
#: Seconds a subprocess may take (to its first checkpoint, or to the end) before the test fails.
TIMEOUT = 300
#: Provenance fields of a frontier results file that record the run, not its numbers (see the module docstring).
FRONTIER_RUN_FIELDS = ("date", "wall_time_s", "sessions", "git_sha", "git_dirty")
#: The same for each run of an RL results file, and for each step of its history.
RL_RUN_FIELDS = ("date", "wall_time_s", "train_time_s", "eval_time_s", "sessions", "git_sha", "git_dirty")
RL_STEP_FIELDS = ("seconds",)

#: The reward of the ``sample`` runs. The sleep costs no CPU but keeps the killed run busy, well after its
#: first batch, until the kill lands; it changes no number (and is part of the file hashed into the work folder's
#: name for both runs alike).
REWARD_SOURCE = """
import time


def score(prompts, completions):
    time.sleep(0.3)
    return [len(set(c)) + 0.01 * len(c) + 0.001 * len(p) for p, c in zip(prompts, completions, strict=True)]
"""


def _env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {
        **os.environ,
        "PYTHONPATH": path,  # this checkout's package, whatever the working folder
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ALIGNLIMITS_DEBUG": "1",  # a failure shows its traceback in the log
    }


def _log(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.is_file() else ""


def _kill_after_first_checkpoint(command: list[str], cwd: Path, checkpoints: Path, pattern: str) -> None:
    """Start ``command``; once a file matching ``pattern`` exists under ``checkpoints``, SIGKILL it."""
    log = cwd / "killed.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, cwd=cwd, env=_env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not list(checkpoints.glob(pattern)):
            if proc.poll() is not None:
                pytest.fail(f"exited with {proc.returncode} before its first checkpoint:\n{_log(log)}")
            if time.monotonic() > deadline:
                pytest.fail(f"no checkpoint {pattern} in {checkpoints} after {TIMEOUT} s:\n{_log(log)}")
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        returncode = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:  # a failure above: leave no process behind
            proc.kill()
            proc.wait(timeout=60)
    assert returncode == -signal.SIGKILL, (
        f"the command ended ({returncode}) before the kill landed; give it more work after its first checkpoint:\n"
        f"{_log(log)}"
    )


def _run_to_completion(command: list[str], cwd: Path, name: str) -> str:
    """Run ``command`` to its end (killed after :data:`TIMEOUT`); returns its output (in ``name``.log)."""
    log = cwd / f"{name}.log"
    with open(log, "wb") as out:
        try:
            done = subprocess.run(command, cwd=cwd, env=_env(), stdout=out, stderr=subprocess.STDOUT,
                                  timeout=TIMEOUT, check=False)  # fmt: skip
        except subprocess.TimeoutExpired:  # subprocess.run has killed it
            pytest.fail(f"{name}: the command did not finish in {TIMEOUT} s:\n{_log(log)}")
    assert done.returncode == 0, _log(log)
    return _log(log)


def _killed_resumed_and_whole(
    command: Any, tmp_path: Path, pattern: str, suffix: str, lock: str | None = None
) -> tuple[Path, str, Path]:
    """Kill ``command("killed")`` after its first checkpoint and run it again; then run ``command("whole")``.

    ``command(name)`` is the command line with work folder ``tmp_path/work-<name>`` and output
    ``tmp_path/<name><suffix>``; ``pattern`` matches its checkpoint files under the work folder, ``lock`` the
    lock file the command holds there (if any). Returns the output of the killed-and-resumed command, the log of
    its rerun, and the output of the uninterrupted one.
    """
    output = tmp_path / f"killed{suffix}"
    _kill_after_first_checkpoint(command("killed"), tmp_path, tmp_path / "work-killed", pattern)
    assert not output.exists(), "killed before its end, the command has written no output"
    if lock is not None:  # the dead process's lock file stays on disk; its flock died with it and blocks no rerun
        assert list((tmp_path / "work-killed").glob(lock)), f"no lock file {lock} left by the killed process"
    log = _run_to_completion(command("killed"), tmp_path, "resumed")
    _run_to_completion(command("whole"), tmp_path, "whole")
    return output, log, tmp_path / f"whole{suffix}"


def _without(doc: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    assert set(fields) <= doc.keys(), f"{sorted(set(fields) - doc.keys())} are no longer recorded: update the test"
    return {k: v for k, v in doc.items() if k not in fields}


# ----------------------------------------------------------------------------- alignlimits sample


def test_sample_killed_and_resumed_writes_the_same_bytes(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"The value of item {i} is"}) + "\n"
                               for i in range(8)))  # fmt: skip
    (tmp_path / "kr_reward.py").write_text(REWARD_SOURCE)
    reward = f"{tmp_path / 'kr_reward.py'}:score"

    def command(name: str) -> list[str]:
        # A batch of 4 completions holds one prompt: 8 batches, each a checkpoint.
        return [sys.executable, "-m", "alignlimits", "sample", "--model", "tiny-gpt2", "--prompts", str(prompts),
                "--reward", reward, "--samples-per-prompt", "4", "--batch-size", "4", "--max-new-tokens", "8",
                "--device", "cpu", "--keep-text", "--work-dir", str(tmp_path / f"work-{name}"),
                "-o", str(tmp_path / f"{name}.csv")]  # fmt: skip

    resumed, log, whole = _killed_resumed_and_whole(command, tmp_path, "*/batch-*.json", ".csv", lock="*/sample.lock")
    assert "batches already done" in log, "the rerun resumed from the killed run's batches"
    rows = list(csv.DictReader(io.StringIO(whole.read_text(encoding="utf-8"))))
    assert len(rows) == 8 * 4 and len({r["completion"] for r in rows}) > 1
    assert resumed.read_bytes() == whole.read_bytes()


# ----------------------------------------------------------------------------- experiments frontier


def test_frontier_killed_and_resumed_gives_the_same_results(tmp_path: Path) -> None:
    def command(name: str) -> list[str]:
        # The smoke tier checkpoints each prompt (one per batch): 8 prompts leave the killed run 7 batches to go.
        return [sys.executable, "-m", "alignlimits.experiments", "frontier", "--task", "safety", "--tier", "smoke",
                "--n-prompts", "8", "--device", "cpu", "--threads", "1", "--work-dir", str(tmp_path / f"work-{name}"),
                "--output", str(tmp_path / f"{name}.json")]  # fmt: skip

    paths = _killed_resumed_and_whole(command, tmp_path, "frontier-*/batch-*.json", ".json")
    resumed, whole = (json.loads(p.read_text()) for p in (paths[0], paths[2]))
    assert resumed["provenance"]["sessions"] == 2, "the resumed run kept the killed run's batches"
    assert whole["provenance"]["sessions"] == 1
    assert _without(resumed["provenance"], FRONTIER_RUN_FIELDS) == _without(whole["provenance"], FRONTIER_RUN_FIELDS)
    assert {**resumed, "provenance": None} == {**whole, "provenance": None}


# ----------------------------------------------------------------------------- experiments rl


def _rl_comparable(doc: dict[str, Any]) -> dict[str, Any]:
    runs = [
        {
            **entry,
            "history": [_without(step, RL_STEP_FIELDS) for step in entry["history"]],
            "provenance": _without(entry["provenance"], RL_RUN_FIELDS),
        }
        for entry in doc["runs"]
    ]
    return {**doc, "runs": runs}


def test_rl_killed_and_resumed_gives_the_same_results(tmp_path: Path) -> None:
    import torch

    def command(name: str) -> list[str]:
        # The smoke tier checkpoints every step: 6 steps leave the killed run 5 steps and the evaluation to go.
        return [sys.executable, "-m", "alignlimits.experiments", "rl", "--task", "safety", "--tier", "smoke",
                "--methods", "grpo", "--kl-coefs", "0.04", "--seeds", "1", "--steps", "6", "--device", "cpu",
                "--threads", "1", "--work-dir", str(tmp_path / f"work-{name}"),
                "--output", str(tmp_path / f"{name}.json")]  # fmt: skip

    paths = _killed_resumed_and_whole(command, tmp_path, "rl-*/checkpoint.pt", ".json", lock="rl-*/train.lock")
    resumed, whole = (json.loads(p.read_text()) for p in (paths[0], paths[2]))
    assert [r["provenance"]["sessions"] for r in resumed["runs"]] == [2], "the resumed run kept the killed one's steps"
    assert len(whole["runs"]) == 1 and len(whole["runs"][0]["history"]) == 6
    assert _rl_comparable(resumed) == _rl_comparable(whole)
    (folder_a,), (folder_b,) = (list((tmp_path / w).glob("rl-*")) for w in ("work-killed", "work-whole"))
    params_a, params_b = (torch.load(f / "final.pt", weights_only=False) for f in (folder_a, folder_b))
    assert params_a.keys() == params_b.keys()
    assert all(torch.equal(params_a[name], params_b[name]) for name in params_a)
