"""Check that a built book shows no exercise solution (student build) — or every one (reader build).

Solutions are the text between ```{solution-start}``` and ```{solution-end}``` in the
chapters' MyST sources (and ```{solution}``` blocks). From each we take *distinctive*
fragments: code lines and runs of plain prose (markup such as $math$ and `code` split a
line into runs), at least MIN_CHARS long, that occur nowhere in the sources outside
solutions, nor in the package's own source (which the API reference and its source pages
publish: a line a solution shares with the package is not the solution's). Every
published file (HTML, search index, anything else under the folder) is reduced to text
(tags stripped, entities unescaped, whitespace collapsed) and searched for those fragments.

    python tools/check_no_solutions.py _build/student/_build/html            # fails if any solution shows
    python tools/check_no_solutions.py _build/html --expect-present           # fails unless every one shows
    python tools/check_no_solutions.py _build/pdf/alignlimits-student.pdf     # a PDF is read with pdftotext

The second form is the control: it proves the fragments are found when solutions are
present, so a pass of the first form means something.
"""

from __future__ import annotations

import argparse
import html
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MIN_CHARS = 24
FENCE = re.compile(r"^(`{3,}|:{3,})\{(solution-start|solution-end|solution)\}")
MARKUP = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`|\{[a-z:]+\}|\*\*|\*|\[|\]\([^)]*\)|\\\(|\\\)")


def toc_sources(toc_file: Path = ROOT / "_toc.yml") -> list[Path]:
    toc = yaml.safe_load(toc_file.read_text(encoding="utf-8"))
    names = [toc["root"]] + [e["file"] for part in toc.get("parts", []) for e in part["chapters"]]
    names += [e["file"] for e in toc.get("chapters", [])]
    return [ROOT / f"{n}.md" for n in names if (ROOT / f"{n}.md").exists()]


def split_solutions(text: str) -> tuple[list[list[str]], list[str]]:
    """Return (solution blocks as lists of lines, lines outside solutions)."""
    blocks, outside, current, depth_fence = [], [], None, None
    for line in text.splitlines():
        m = FENCE.match(line.strip())
        if current is None:
            if m and m.group(2) == "solution-start":
                current = []
            elif m and m.group(2) == "solution":
                current, depth_fence = [], m.group(1)
            else:
                outside.append(line)
        elif depth_fence is None and m and m.group(2) == "solution-end":
            blocks.append(current)
            current = None
        elif depth_fence is not None and line.strip() == depth_fence:
            blocks.append(current)
            current, depth_fence = None, None
        else:
            current.append(line)
    return blocks, outside


def normalise(text: str) -> str:
    return " ".join(text.split())


def fragments(lines: list[str]) -> list[str]:
    out, in_code = [], False
    for raw in lines:
        line = raw.strip()
        if line.startswith("```") or line.startswith(":::"):
            in_code = line.startswith("```{code-cell")
            if line == "```":
                in_code = False
            continue
        if not line or line.startswith(":") or line.startswith("#|"):
            continue
        if in_code:
            candidates = [line]
        else:
            candidates = MARKUP.split(line)
        out += [normalise(c) for c in candidates if len(normalise(c)) >= MIN_CHARS]
    return out


def pdf_text(pdf: Path) -> str:
    """The text of a PDF (poppler's ``pdftotext``), with words hyphenated across lines joined again."""
    try:
        raw = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    except FileNotFoundError:
        raise SystemExit("pdftotext is not installed: `apt-get install -y poppler-utils` (CI does this).") from None
    return normalise(re.sub(r"(\w)-\n(\w)", r"\1\2", raw))


def published_text(folder: Path) -> dict[Path, str]:
    if folder.suffix == ".pdf":
        return {folder: pdf_text(folder)}
    texts = {}
    for f in sorted(folder.rglob("*")):
        if not f.is_file() or f.suffix in {".png", ".jpg", ".svg", ".woff", ".woff2", ".ttf", ".eot", ".ico", ".gif"}:
            continue
        if "mathjax" in f.parts:  # the vendored MathJax library
            continue
        raw = f.read_text(encoding="utf-8", errors="replace")
        texts[f] = normalise(html.unescape(re.sub(r"<[^>]+>", "", raw)))
    return texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="the built HTML folder, or a PDF of the book")
    parser.add_argument("--expect-present", action="store_true", help="control: every solution must be found")
    parser.add_argument("--toc", type=Path, default=ROOT / "_toc.yml", help="the table of contents built")
    args = parser.parse_args(argv)
    if not (args.folder.is_dir() or (args.folder.suffix == ".pdf" and args.folder.is_file())):
        print(f"{args.folder} is neither a folder nor a PDF: build the book first")
        return 2
    if (args.folder / "_sources").exists() and not args.expect_present:
        print(f"{args.folder / '_sources'} exists: it republishes every solution (set html_copy_source: false)")
        return 1

    per_source = {md: split_solutions(md.read_text(encoding="utf-8")) for md in toc_sources(args.toc)}
    package = " ".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "alignlimits").rglob("*.py")))
    outside = normalise(" ".join(" ".join(o) for _, o in per_source.values()) + " " + package)
    texts = published_text(args.folder)
    bad, n_solutions, n_fragments = 0, 0, 0
    for md, (blocks, _) in per_source.items():
        for i, block in enumerate(blocks, 1):
            distinctive = [f for f in dict.fromkeys(fragments(block)) if f not in outside]
            n_solutions += 1
            n_fragments += len(distinctive)
            where = f"{md.relative_to(ROOT)} solution {i}"
            if not distinctive:
                print(f"{where}: no distinctive text to look for (make the solution say something of its own)")
                bad += 1
                continue
            hits = [(f, p) for f in distinctive for p, t in texts.items() if f in t]
            if args.expect_present and not hits:
                print(f"{where}: none of {len(distinctive)} fragments found, e.g. {distinctive[0]!r}")
                bad += 1
            elif not args.expect_present:
                for frag, page in hits:
                    print(f"{where}: LEAKED into {page.relative_to(args.folder)}: {frag!r}")
                    bad += 1
    mode = "present" if args.expect_present else "absent"
    print(f"{n_solutions} solutions in {len(per_source)} sources, {n_fragments} distinctive fragments, "
          f"{len(texts)} published files: {bad} problems (expected {mode})")
    if n_solutions == 0:
        print("no solutions found in the sources: nothing was checked")
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
