"""Generate the student versions and grading bundles of every assignment (`make assignments`).

Each ``assignments/<name>.md`` is an instructor master: a jupytext MyST notebook in
otter-grader's assignment format (raw cells ``# ASSIGNMENT CONFIG``, ``# BEGIN QUESTION``,
``# BEGIN SOLUTION`` … with ``# BEGIN SOLUTION`` / ``# END SOLUTION`` markers inside the
solution code, assert-only test cells, ``# HIDDEN`` on hidden tests). For each master this
converts it to .ipynb and runs ``otter assign`` (which also runs the master against its
own tests and fails if a solution does not pass), giving::

    OUT/<name>/student/<name>.ipynb            hand this to students (public tests inside)
    OUT/<name>/autograder/<name>.ipynb         instructor version with solutions
    OUT/<name>/autograder/<name>-autograder.zip  grading bundle: all tests, hidden ones too
    OUT/<name>/autograder/otter_config.json

Output is byte-for-byte reproducible. Otter makes three things vary from run to run, and
only these are normalised: the bundle's file name carries a timestamp (renamed to
``<name>-autograder.zip``), the zip entries carry the current time (rewritten with sorted
entries and a fixed date), and notebook cell ids are random (replaced by a hash of the
cell's position and source).

Usage: python tools/make_assignments.py [OUT]        (OUT defaults to _build/assignments)
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1]
MASTERS = ROOT / "assignments"
FIXED_DATE = (1980, 1, 1, 0, 0, 0)


def masters() -> list[Path]:
    found = sorted(MASTERS.glob("*.md"))
    return [m for m in found if m.name.lower() != "readme.md"]


def _normalised_zip(src: Path, dst: Path) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in sorted(zin.namelist()):
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
            info.external_attr = zin.getinfo(name).external_attr
            info.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(info, zin.read(name))


def _normalised_notebook(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        cell["id"] = hashlib.sha1(f"{i}:{cell.source}".encode()).hexdigest()[:8]
    nbformat.write(nb, path)


def build(master: Path, out: Path) -> Path:
    """Run otter assign on one master; return OUT/<name>."""
    name = master.stem
    target = out / name
    shutil.rmtree(target, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=f"assign-{name}-") as tmp:
        work = Path(tmp)
        jupytext.write(jupytext.read(master, fmt="md:myst"), work / f"{name}.ipynb", fmt="ipynb")
        otter = Path(sys.executable).with_name("otter")
        done = subprocess.run(
            [str(otter), "assign", f"{name}.ipynb", "dist"], cwd=work, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            sys.stdout.write(done.stdout + done.stderr)
            raise RuntimeError(f"otter assign failed for {master} (exit {done.returncode}); its output is above")
        (target / "student").mkdir(parents=True)
        (target / "autograder").mkdir()
        for f in sorted((work / "dist" / "student").iterdir()):
            shutil.copy2(f, target / "student" / f.name)
        zips = sorted((work / "dist" / "autograder").glob("*.zip"))
        if len(zips) != 1:
            raise RuntimeError(f"expected one grading bundle from otter assign, found {zips}")
        for f in sorted((work / "dist" / "autograder").iterdir()):
            if f.suffix != ".zip":
                shutil.copy2(f, target / "autograder" / f.name)
        _normalised_zip(zips[0], target / "autograder" / f"{name}-autograder.zip")
    for notebook in sorted(target.rglob("*.ipynb")):
        _normalised_notebook(notebook)
    return target


def main(out: str = str(ROOT / "_build" / "assignments")) -> int:
    found = masters()
    if not found:
        print(f"no assignment masters in {MASTERS}")
        return 1
    for master in found:
        target = build(master, Path(out))
        print(f"{master.relative_to(ROOT)} -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
