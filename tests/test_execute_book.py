"""tools/execute_book.py: chapters executed ahead of the build land in the cache under the key MyST-NB looks up."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import execute_book
from jupyter_cache import get_cache

HEADER = textwrap.dedent(
    """\
    ---
    jupytext:
      text_representation:
        format_name: myst
    kernelspec:
      name: python3
      display_name: Python 3
    ---
    """
)


def _book(tmp_path: Path, code: str) -> Path:
    (tmp_path / "book").mkdir()
    (tmp_path / "_config.yml").write_text("execute:\n  timeout: 60\n  allow_errors: false\n")
    toc = "format: jb-book\nroot: index\nchapters:\n  - file: book/one\n  - file: book/plain\n"
    (tmp_path / "_toc.yml").write_text(toc)
    (tmp_path / "index.md").write_text("# Index\n")
    (tmp_path / "book" / "plain.md").write_text("# Not a notebook\n")
    (tmp_path / "book" / "one.md").write_text(HEADER + f"# One\n\n```{{code-cell}} ipython3\n{code}\n```\n")
    return tmp_path


def test_toc_and_chapters(tmp_path):
    root = _book(tmp_path, "print(1)")
    assert execute_book.toc_files(root) == ["index", "book/one", "book/plain"]
    assert execute_book.chapters(root) == [root / "book" / "one.md"]  # plain Markdown pages are not executed


def test_executes_into_the_cache_once(tmp_path, capsys):
    root = _book(tmp_path, "print(6 * 7)")
    assert execute_book.main(["--root", str(root), "--jobs", "1"]) == 0
    md_config, _, _ = execute_book.book_config(root)
    cache = get_cache(str(root / "_build" / ".jupyter_cache"))
    record = cache.match_cache_notebook(execute_book.read_chapter(root / "book" / "one.md", md_config))
    nb = cache.get_cache_bundle(record.pk).nb
    assert "42" in nb.cells[0].outputs[0]["text"]
    assert record.data["execution_seconds"] > 0
    capsys.readouterr()
    assert execute_book.main(["--root", str(root), "--jobs", "1"]) == 0
    assert "already in the cache" in capsys.readouterr().out


def test_a_failing_chapter_fails_the_script(tmp_path, capsys):
    root = _book(tmp_path, "raise RuntimeError('chapter broke')")
    assert execute_book.main(["--root", str(root), "--jobs", "1"]) == 1
    out = capsys.readouterr()
    assert "book/one.md FAILED" in out.out and "chapter broke" in out.out
    assert "1 chapter(s) failed" in out.err


def test_jobs_must_be_positive(tmp_path):
    with pytest.raises(SystemExit):
        execute_book.main(["--root", str(_book(tmp_path, "1")), "--jobs", "0"])
