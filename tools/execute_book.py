"""Execute the book's chapters in parallel into the build's execution cache, before ``jupyter-book build``.

Jupyter Book 1.x executes the chapters one after another while Sphinx reads them, which
leaves all but one core idle for most of a build. This script runs the same executions
beforehand, ``--jobs`` at a time, and stores each executed chapter in the build's
jupyter-cache (``_build/.jupyter_cache``) exactly as MyST-NB would: the chapter read by
MyST-NB's own reader, executed with the book's timeout in its own folder, cached with its
execution time. ``jupyter-book build`` then finds every chapter in the cache and only
renders it (the chapter-status table shows the times measured here). A chapter whose
cached copy already matches its code is skipped; one that fails stops the script with
its traceback (the build would fail on it anyway, later)::

    python tools/execute_book.py --jobs 2     # then: jupyter-book build . -W

Longest chapters start first (times from a previous build's cache when there is one,
else the language-model chapters, which are the slowest), so two workers finish together.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import yaml
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from jupyter_cache.executors.utils import single_nb_execution
from myst_nb.core.read import is_myst_markdown_notebook, read_myst_markdown_notebook
from myst_parser.config.main import MdParserConfig

ROOT = Path(__file__).resolve().parent.parent
#: Chapters known to be the slowest at every tier (scheduled first when no earlier timing exists).
SLOW_FIRST = (
    "book/rl-smollm2",
    "book/rl-against-the-limit",
    "book/lm-frontier",
    "book/lm-lab",
    "book/what-limits-explain",
)


def toc_files(root: Path) -> list[str]:
    """Every file named in ``_toc.yml`` (root first), without suffix, in reading order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc.get("parts", toc.get("chapters", [])))
    return files


def book_config(root: Path) -> tuple[MdParserConfig, int, bool]:
    """The Markdown parser configuration, execution timeout and allow-errors flag of ``_config.yml``."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    extensions = config.get("parse", {}).get("myst_enable_extensions", [])
    execute = config.get("execute", {})
    return (
        MdParserConfig(enable_extensions=set(extensions)),
        int(execute.get("timeout", 30)),
        bool(execute.get("allow_errors", False)),
    )


def chapters(root: Path) -> list[Path]:
    """The MyST-Markdown notebooks among the table of contents' files."""
    found = []
    for name in toc_files(root):
        path = root / f"{name}.md"
        if path.exists() and is_myst_markdown_notebook(path.read_text(encoding="utf-8")):
            found.append(path)
    return found


def read_chapter(path: Path, md_config: MdParserConfig):
    """The chapter as MyST-NB reads it (so its cache key is the one the build looks up)."""
    return read_myst_markdown_notebook(
        path.read_text(encoding="utf-8"), config=md_config, add_source_map=True, path=str(path)
    )


def _execute(path: str, root: str, timeout: int, allow_errors: bool) -> tuple[str, object, float, str | None]:
    md_config, _, _ = book_config(Path(root))
    nb = read_chapter(Path(path), md_config)
    result = single_nb_execution(
        nb, cwd=str(Path(path).parent), timeout=timeout, allow_errors=allow_errors, meta_override=True
    )
    return path, nb, result.time, result.exc_string if result.err is not None else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="chapters executed at once")
    parser.add_argument("--root", default=str(ROOT), help="the book's folder (with _config.yml and _toc.yml)")
    parser.add_argument("--cache", default=None, help="jupyter-cache folder (default: ROOT/_build/.jupyter_cache)")
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    cache_dir = Path(args.cache) if args.cache else root / "_build" / ".jupyter_cache"
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")

    md_config, timeout, allow_errors = book_config(root)
    cache = get_cache(str(cache_dir))
    todo: list[tuple[float, Path]] = []
    for path in chapters(root):
        try:
            record = cache.match_cache_notebook(read_chapter(path, md_config))
        except KeyError:
            record = None
        if record is not None:
            continue
        # A previous execution of this chapter (other code) says how long it takes.
        previous = [r.data.get("execution_seconds", 0.0) for r in cache.list_cache_records() if r.uri == str(path)]
        name = path.relative_to(root).with_suffix("").as_posix()
        guess = max(previous) if previous else (1e6 - SLOW_FIRST.index(name) if name in SLOW_FIRST else 0.0)
        todo.append((guess, path))
    todo.sort(key=lambda item: -item[0])
    if not todo:
        print("execute_book: every chapter is already in the cache")
        return 0

    print(f"execute_book: {len(todo)} chapters, {args.jobs} at a time", flush=True)
    start = time.perf_counter()
    failed = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(_execute, str(path), str(root), timeout, allow_errors) for _, path in todo]
        for future in as_completed(futures):
            path, nb, seconds, error = future.result()
            name = Path(path).relative_to(root)
            if error is not None:
                failed.append(name)
                print(f"execute_book: {name} FAILED after {seconds:.1f} s\n{error}", flush=True)
                continue
            cache.cache_notebook_bundle(
                CacheBundleIn(nb, path, data={"execution_seconds": seconds}), check_validity=False, overwrite=True
            )
            print(f"execute_book: {name} {seconds:.1f} s", flush=True)
    print(f"execute_book: done in {time.perf_counter() - start:.1f} s", flush=True)
    if failed:
        print(f"execute_book: {len(failed)} chapter(s) failed: {', '.join(map(str, failed))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
