"""Check (or write) the output-free .ipynb paired with every MyST chapter.

Each ``book/**/*.md`` whose front matter declares a ``kernelspec`` is a notebook
source; its ``.ipynb`` twin (used by Colab and nbval) must be exactly what jupytext
makes of it, with no outputs. Usage::

    python tools/check_pairing.py book           # fail when a pair is out of sync
    python tools/check_pairing.py book --write   # regenerate the .ipynb files (make sync)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext


def is_notebook_source(md: Path) -> bool:
    text = md.read_text(encoding="utf-8")
    return text.startswith("---") and "kernelspec:" in text.split("\n---", 1)[0]


def expected_ipynb(md: Path) -> str:
    nb = jupytext.read(md, fmt="md:myst")
    for index, cell in enumerate(nb.cells):
        cell.id = f"cell-{index:03d}"  # deterministic ids: jupytext draws random ones
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return jupytext.writes(nb, fmt="ipynb")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="folder holding the MyST chapters (book)")
    parser.add_argument("--write", action="store_true", help="regenerate the .ipynb files instead of checking")
    args = parser.parse_args(argv)

    sources = sorted(md for md in args.folder.rglob("*.md") if is_notebook_source(md))
    problems = []
    for md in sources:
        nb_path = md.with_suffix(".ipynb")
        text = expected_ipynb(md)
        if args.write:
            if not nb_path.exists() or nb_path.read_text(encoding="utf-8") != text:
                nb_path.write_text(text, encoding="utf-8")
                print(f"wrote {nb_path}")
        elif not nb_path.exists():
            problems.append(f"{md}: no paired {nb_path.name}")
        elif nb_path.read_text(encoding="utf-8") != text:
            problems.append(f"{nb_path} is out of sync with {md.name} (or holds outputs)")
    orphans = [
        nb
        for nb in sorted(args.folder.rglob("*.ipynb"))
        if ".ipynb_checkpoints" not in nb.parts and nb.with_suffix(".md") not in sources
    ]
    problems += [f"{nb}: no MyST source {nb.with_suffix('.md').name}" for nb in orphans]
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print("Run `make sync` to regenerate the notebooks from their .md sources.", file=sys.stderr)
        return 1
    print(f"{len(sources)} chapter notebooks paired and in sync")
    return 0


if __name__ == "__main__":
    sys.exit(main())
