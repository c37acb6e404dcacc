"""Course tooling: student build config and extension, solution checker, assignments, bootstrap pin."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import check_assignments  # noqa: E402
import check_no_solutions  # noqa: E402
import make_assignments  # noqa: E402
import pin_bootstrap  # noqa: E402
import student_config  # noqa: E402


def test_student_config_differs_from_the_readers_only_where_it_must():
    reader = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    student = student_config.student_config(reader, cache=Path("/tmp/cache"))
    assert student["sphinx"]["config"]["hide_solutions"] is True
    assert student["sphinx"]["config"]["html_copy_source"] is False
    ext = Path(student["sphinx"]["local_extensions"]["hide_gated_solutions"]) / "hide_gated_solutions.py"
    assert ext.exists()
    assert student["execute"]["cache"] == str(Path("/tmp/cache").resolve())
    for key in set(reader) - {"title", "sphinx", "execute"}:
        assert student[key] == reader[key], key
    for key, value in reader["sphinx"]["config"].items():
        assert student["sphinx"]["config"][key] == value
    assert student["sphinx"]["extra_extensions"] == reader["sphinx"]["extra_extensions"]
    assert "hide_solutions" not in reader["sphinx"].get("config", {}), "the reader's book shows solutions"


RST = """
Title
=====

.. exercise::
   :label: ex-one

   Compute something.

.. solution-start:: ex-one
   :class: dropdown

SOLUTION-MARKER-ONE is the answer.

.. code-block:: python

   SOLUTION_MARKER_TWO = 42

.. solution-end::

AFTER-THE-SOLUTION stays.
"""


@pytest.mark.parametrize("hide", [False, True])
def test_hide_gated_solutions_extension_removes_exactly_the_solution(tmp_path, hide):
    (tmp_path / "index.rst").write_text(RST, encoding="utf-8")
    conf = (
        "extensions = ['sphinx_exercise', 'hide_gated_solutions']\n"
        f"import sys; sys.path.insert(0, {str(ROOT / 'tools' / 'sphinx_ext')!r})\n"
        f"hide_solutions = {hide}\n"
    )
    (tmp_path / "conf.py").write_text(conf, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(tmp_path), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert "AFTER-THE-SOLUTION" in html and "Compute something" in html
    assert ("SOLUTION-MARKER-ONE" in html) is not hide
    assert ("SOLUTION_MARKER_TWO" in html) is not hide


def test_solution_checker_extracts_solution_text_only():
    md = """Intro line that is long enough to be a fragment.

```{solution-start} ex-a
:class: dropdown
```
The answer uses the cumulant expansion, $x^2$, and `code` too.

```{code-cell} ipython3
distinctive_solution_variable = 12345
```
```{solution-end}
```
Outro line that is long enough to be a fragment.
"""
    blocks, outside = check_no_solutions.split_solutions(md)
    assert len(blocks) == 1
    frags = check_no_solutions.fragments(blocks[0])
    assert "distinctive_solution_variable = 12345" in frags
    assert "The answer uses the cumulant expansion," in frags
    assert not any("Outro" in f or "Intro" in f for f in frags)
    assert any("Outro line" in line for line in outside)


def test_every_book_part_has_an_assignment():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    parts = [p["caption"] for p in toc.get("parts", []) if p["caption"] != "Appendices"]
    titles = [next(line for line in m.read_text(encoding="utf-8").splitlines() if line.startswith("# Assignment:"))
              for m in make_assignments.masters()]
    for part in parts:
        assert any(f", {part})" in t for t in titles), f"no assignment for the part {part!r} (see assignments/)"


@pytest.mark.parametrize("master", make_assignments.masters(), ids=lambda p: p.stem)
def test_assignment_master_is_well_formed(master):
    nb = jupytext.read(master, fmt="md:myst")
    config = yaml.safe_load(nb.cells[0].source.split("\n", 1)[1])
    assert config["name"] == master.stem
    assert config["generate"]["pdf"] is False and config["solutions_pdf"] is False
    assert config["export_cell"] is False
    assert config["tests"]["ok_format"] is True  # assert-only tests in OK format
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert check_assignments.solution_lines(master), "a master needs solutions"
    # every solution code cell sits in a raw # BEGIN SOLUTION block, or otter ships it to students
    raws = [(i, c.source.strip()) for i, c in enumerate(nb.cells) if c.cell_type == "raw"]
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "# BEGIN SOLUTION" in cell.source:
            before = [s for j, s in raws if j < i]
            assert before and before[-1] == "# BEGIN SOLUTION", f"solution cell {i} outside a raw BEGIN SOLUTION"
    tests = [c for c in code if c.lstrip().startswith("assert") or c.lstrip().startswith("# HIDDEN")]
    assert any(c.lstrip().startswith("# HIDDEN") for c in tests), "hidden tests keep grading honest"
    assert pin_bootstrap.unpinned(master, pin_bootstrap.release_ref()) == []


def test_bootstrap_pin_is_the_release_tag_and_the_checker_sees_other_refs(tmp_path):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert pin_bootstrap.release_ref() == f"v{version}"
    f = tmp_path / "chapter.md"
    f.write_text('%pip install -q "alignlimits @ git+https://github.com/alignlimits/alignlimits@main"\n')
    assert pin_bootstrap.unpinned(f, "v0.1.0") == ["main"]
    f.write_text('%pip install -q "alignlimits[lm] @ git+https://github.com/alignlimits/alignlimits@v0.1.0"\n')
    assert pin_bootstrap.unpinned(f, "v0.1.0") == []


def test_every_bootstrap_is_pinned_to_the_release_tag():
    ref = pin_bootstrap.release_ref()
    stale = {str(p): pin_bootstrap.unpinned(p, ref) for p in pin_bootstrap.pinned_files()}
    assert {path: refs for path, refs in stale.items() if refs} == {}
