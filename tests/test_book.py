"""Structure of the book: every chapter is built, paired, bootstrapped for Colab, and complete."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))


def toc_files() -> list[str]:
    files = [TOC["root"]]
    for part in TOC.get("parts", []):
        files += [entry["file"] for entry in part["chapters"]]
    files += [entry["file"] for entry in TOC.get("chapters", [])]
    return files


def notebook_chapters() -> list[Path]:
    out = []
    for name in toc_files():
        md = ROOT / f"{name}.md"
        if md.read_text(encoding="utf-8").startswith("---") and "kernelspec:" in md.read_text(encoding="utf-8"):
            out.append(md)
    return out


def test_every_toc_entry_exists_and_every_chapter_is_in_the_toc():
    listed = set(toc_files())
    for name in listed:
        assert (ROOT / f"{name}.md").exists(), f"{name}.md is in _toc.yml but missing"
    for md in (ROOT / "book").glob("*.md"):
        assert f"book/{md.stem}" in listed, f"{md} is not in _toc.yml, so the book never shows it"


def test_config_is_offline_strict_and_launches_colab_at_the_release_the_bootstrap_installs():
    assert CONFIG["execute"]["raise_on_error"] is True
    assert CONFIG["execute"]["execute_notebooks"] == "cache"
    assert "sphinx-mathjax-offline" in CONFIG["sphinx"]["extra_extensions"]
    assert "intersphinx_mapping" not in CONFIG["sphinx"].get("config", {})
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert CONFIG["repository"]["branch"] == f"v{version}"  # tools/pin_bootstrap.py keeps the two together
    assert "colab.research.google.com" in CONFIG["launch_buttons"]["colab_url"]
    for hidden in (".venv", ".git", ".pytest_cache", ".hypothesis", "book/*.ipynb"):
        assert hidden in CONFIG["exclude_patterns"] or f"{hidden}*" in CONFIG["exclude_patterns"], hidden


@pytest.mark.parametrize("md", notebook_chapters(), ids=lambda p: p.stem)
def test_chapter_has_bootstrap_cell_and_required_sections(md):
    nb = jupytext.read(md, fmt="md:myst")
    assert nb.metadata["kernelspec"]["name"] == "python3"
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert "remove-cell" in first_code.metadata.get("tags", []), "the Colab bootstrap cell must be hidden"
    url = CONFIG["repository"]["url"]
    # installs only what is missing (tests/test_bootstrap.py runs it), from this repository, without the
    # heavy extras for theory chapters
    assert first_code.source.startswith("# Colab bootstrap") and "\n_bootstrap(\n" in first_code.source
    install = re.search(rf'"alignlimits(?:\[([\w,]+)\])? @ git\+{re.escape(url)}@[\w.\-]+"', first_code.source)
    assert install, "the bootstrap must install alignlimits (optionally with extras) from this repository"
    extras = set((install.group(1) or "").split(",")) - {""}
    assert extras <= {"lm", "tasks"}, f"unknown extras {sorted(extras)}: pyproject.toml declares lm and tasks"
    text = md.read_text(encoding="utf-8")
    uses_torch = r"^\s*(import torch|from torch|from alignlimits(\.rl| import rl|\.tasks| import tasks))"
    if re.search(uses_torch, text, re.M):  # Colab has torch, but the package's own install must bring what it imports
        assert "lm" in extras, "a chapter that uses torch must install alignlimits[lm]"
    # The task rewards and judges need the tasks extra: importing alignlimits.tasks, running an
    # experiment (run_frontier scores with them), training RL on the tasks (rl_runs.run, sweep, build,
    # evaluate), or the committed-or-live loaders (committed.frontier_results / rl_results / study_results
    # run live at the smoke tier). Only loading committed results (load_frontier, rl_runs.load_runs / committed_sweep)
    # needs nothing more; the Colab simulation checks it.
    uses_tasks = (
        r"^\s*(import alignlimits\.tasks|from alignlimits(\.tasks| import .*\btasks\b))"
        r"|\brun_frontier\(|\brl_runs\.(run|sweep|build|evaluate)\(|\bcommitted\.(frontier_results|rl_results|study_results)\("
    )
    if re.search(uses_tasks, text, re.M):
        assert {"lm", "tasks"} <= extras, "a chapter that scores task outputs must install alignlimits[lm,tasks]"
    assert re.search(r"^# ", text, re.M), "a chapter needs a # title (Sphinx -W fails without one)"
    assert "**In this chapter.**" in text
    assert "```{prf:theorem}" in text and ":label: thm-" in text
    assert "## Exercises" in text and "```{solution-start}" in text and ":class: dropdown" in text
    # the line linking the chapter to its autograded assignment (tools/sphinx_ext/course.py)
    assert "## Exercises\n\n```{assignments-for}\n```" in text
    assert "## Summary" in text
    assert "assert " in text


@pytest.mark.parametrize("md", notebook_chapters(), ids=lambda p: p.stem)
def test_paired_notebook_exists_without_outputs(md):
    nb = jupytext.read(md.with_suffix(".ipynb"))
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


def test_chapter_template_passes_the_chapter_checks():
    test_chapter_has_bootstrap_cell_and_required_sections(ROOT / "templates" / "chapter.md")
