"""Check that the built book's full-text search covers every page.

Sphinx's search page (search.html) looks words up in searchindex.js. For every page in
the table of contents this checks that the page is indexed, and that distinctive words
of its text — the longest words of its first paragraphs, stemmed as the search box stems
them — lead to that page. Usage: python tools/check_search.py _build/html [--toc TOC]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml
from sphinx.search.en import SearchEnglish

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_no_solutions import split_solutions

ROOT = Path(__file__).resolve().parents[1]
WORDS_PER_PAGE = 8


def toc_names(toc_file: Path) -> list[str]:
    toc = yaml.safe_load(toc_file.read_text(encoding="utf-8"))
    names = [toc["root"]] + [e["file"] for part in toc.get("parts", []) for e in part["chapters"]]
    return names + [e["file"] for e in toc.get("chapters", [])]


def prose_words(md: Path) -> list[str]:
    """Longest plain words of the page's prose (no code, math, directives or markup)."""
    _, outside = split_solutions(md.read_text(encoding="utf-8"))  # the student edition has no solutions
    text = re.sub(r"^---\n.*?\n---\n", "", "\n".join(outside), flags=re.S)  # front matter
    text = re.sub(r"```.*?```", " ", text, flags=re.S)  # code cells and directives
    text = re.sub(r"\$\$.*?\$\$|\$[^$\n]*\$|`[^`]*`|\{[^}]*\}|\([^)]*\)=|https?://\S+", " ", text)
    words = [w.lower() for w in re.findall(r"(?<![\w-])[A-Za-z]{7,}(?![\w-])", text)]
    return sorted(dict.fromkeys(words), key=lambda w: (-len(w), w))[:WORDS_PER_PAGE]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("html", type=Path)
    parser.add_argument("--toc", type=Path, default=ROOT / "_toc.yml")
    args = parser.parse_args(argv)
    if not (args.html / "search.html").exists():
        print(f"{args.html / 'search.html'} is missing: the book has no search page")
        return 1
    raw = (args.html / "searchindex.js").read_text(encoding="utf-8")
    index = json.loads(raw[raw.index("(") + 1 : raw.rindex(")")])
    docnames = index["docnames"]
    stem = SearchEnglish({}).stem
    bad, checked = 0, 0
    for name in toc_names(args.toc):
        if name not in docnames:
            print(f"{name}: not in the search index")
            bad += 1
            continue
        doc = docnames.index(name)
        words = prose_words(ROOT / f"{name}.md")
        for word in words:
            hits = set()
            for table in ("terms", "titleterms"):
                found = index[table].get(stem(word), [])
                hits |= {found} if isinstance(found, int) else set(found)
            checked += 1
            if doc not in hits:
                print(f"{name}: searching {word!r} does not find this page")
                bad += 1
    print(f"search index: {len(docnames)} pages, {checked} words looked up: {bad} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
