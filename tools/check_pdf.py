"""Check a PDF of the book: every chapter there, references resolved, figures, math and boxes present.

    python tools/check_pdf.py _build/pdf/alignlimits.pdf

Reads the PDF with poppler (``pdfinfo``, ``pdftotext``, ``pdfimages``) and checks that

* it has at least two pages per chapter of the table of contents;
* every chapter's title (the first ``#`` heading of its source) appears in its text;
* no reference is left unresolved: no ``??`` (LaTeX's mark for a missing label) and no empty
  citation brackets ``[]``;
* the bibliography is there, with at least one entry of ``book/references.bib`` cited by a chapter;
* theorem and exercise boxes came through (``Theorem`` and ``Exercise`` captions), and the book's
  figures are embedded (at least one image per chapter that draws one in its source);
* with ``--latex-log``, no character went missing: XeLaTeX only *warns* when a font has no glyph
  for a character (a Greek letter in math set in Computer Modern, a symbol the code font lacks) and
  leaves a blank, so the check reads those warnings from the LaTeX log.

Solutions are checked separately, by ``tools/check_no_solutions.py`` (which reads PDFs too).
Prints one line per problem and a summary; exit status 1 on any problem.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from check_no_solutions import ROOT, normalise, pdf_text, toc_sources

#: Source lines that draw a figure (matplotlib in a code cell, or a figure directive).
DRAWS = re.compile(r"plt\.(subplots|figure|show)\(|plotting\.\w+\(|```\{figure\}|```\{image\}")


def _poppler(*args: str) -> str:
    try:
        return subprocess.run(list(args), capture_output=True, text=True, check=True).stdout
    except FileNotFoundError:
        raise SystemExit(f"{args[0]} is not installed: `apt-get install -y poppler-utils` (CI does this).") from None


def title_of(source: Path) -> str:
    """The first level-one heading of a MyST source, without markup."""
    for line in source.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return normalise(re.sub(r"[`*$]|\{[a-z:-]+\}", "", line[2:]))
    raise ValueError(f"{source} has no '# ' heading")


def cited_keys(sources: list[Path]) -> set[str]:
    keys: set[str] = set()
    for source in sources:
        for group in re.findall(r"\{cite[a-z:]*\}`([^`]+)`", source.read_text(encoding="utf-8")):
            keys.update(k.strip() for k in group.split(","))
    return keys


def bib_titles(keys: set[str], bib: Path = ROOT / "book" / "references.bib") -> dict[str, str]:
    """The title of each cited bibliography entry (braces removed)."""
    titles = {}
    for key, body in re.findall(r"@\w+\{([^,]+),(.*?)\n\}", bib.read_text(encoding="utf-8"), flags=re.S):
        if key.strip() in keys:
            m = re.search(r"\btitle\s*=\s*[{\"](.+?)[}\"],?\s*\n", body, flags=re.S)
            if m:
                titles[key.strip()] = normalise(m.group(1).replace("{", "").replace("}", ""))
    return titles


def embedded_graphics(log_text: str) -> int:
    """How many graphics files XeLaTeX embedded, from its log (``<use file.pdf>``, one per inclusion).

    The book's figures are vector PDFs, which ``pdfimages`` does not list (it lists raster images only).
    """
    return len(re.findall(r"<use [^>]+\.(?:pdf|png|jpe?g)>", log_text))


def problems(pdf: Path, toc: Path, latex_log: str | None = None) -> list[str]:
    sources = toc_sources(toc)
    chapters = sources  # the landing page and the appendices too: each is a chapter of the PDF
    found = []
    pages = int(re.search(r"^Pages:\s+(\d+)", _poppler("pdfinfo", str(pdf)), flags=re.M).group(1))
    if pages < 2 * len(chapters):
        found.append(f"{pages} pages for {len(chapters)} chapters: chapters are missing")
    text = pdf_text(pdf)
    folded = text.casefold()
    for source in chapters:
        title = title_of(source)
        if title.casefold() not in folded:
            found.append(f"chapter title missing: {title!r} ({source.relative_to(ROOT)})")
    # LaTeX prints ?? for a reference it could not resolve, and a citation with no bibliography
    # entry as empty brackets after a word (code's `x = []` is not one).
    for pattern, what in ((r"\?\?", "unresolved reference ??"), (r"[A-Za-z] \[\](?![,)\]:])", "empty citation []")):
        hits = [m.start() for m in re.finditer(pattern, text)]
        if hits:
            at = hits[0]
            found.append(f"{len(hits)} × {what}, first: …{text[max(0, at - 60):at + 20]}…")
    titles = bib_titles(cited_keys(sources))
    if not titles:
        found.append("no chapter cites an entry of book/references.bib: nothing to look for")
    elif not any(t.casefold()[:40] in folded for t in titles.values()):
        example = next(iter(titles.values()))
        found.append(f"bibliography missing: none of {len(titles)} cited titles appears, e.g. {example!r}")
    for caption in ("Theorem", "Exercise", "Proof"):
        if caption not in text:
            found.append(f"no {caption!r} box in the text")
    drawing = [s for s in sources if DRAWS.search(s.read_text(encoding="utf-8"))]
    images = max(0, len(_poppler("pdfimages", "-list", str(pdf)).splitlines()) - 2)  # two header lines
    if latex_log is not None:
        images = max(images, embedded_graphics(latex_log))
    if images < len(drawing):
        found.append(f"{images} images embedded, but {len(drawing)} chapters draw figures")
    print(f"{pdf.name}: {pages} pages, {len(chapters)} chapters, {images} images, {len(titles)} cited titles checked")
    return found


#: XeLaTeX's warning for a character the current font has no glyph for (the PDF gets nothing there).
MISSING_CHARACTER = re.compile(r"^Missing character: There is no (\S+) .*?in font ([^!/\n]+)", flags=re.M)


def missing_characters(log_text: str) -> list[str]:
    """One problem per distinct (character, font) that XeLaTeX's log says went missing, with its count."""
    counts: dict[tuple[str, str], int] = {}
    for m in MISSING_CHARACTER.finditer(log_text):
        key = (m.group(1), m.group(2).strip())
        counts[key] = counts.get(key, 0) + 1
    return [
        f"{n} × missing character {char} (U+{ord(char[0]):04X}) in font {font}" for (char, font), n in counts.items()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pdf", type=Path, help="the book's PDF")
    parser.add_argument("--toc", type=Path, default=ROOT / "_toc.yml", help="the table of contents built")
    parser.add_argument("--latex-log", type=Path, default=None, help="the LaTeX log of the run that made the PDF")
    args = parser.parse_args(argv)
    for path in (args.pdf, args.latex_log):
        if path is not None and not path.is_file():
            print(f"{path} does not exist: run `make pdf` first")
            return 2
    log = args.latex_log.read_text(encoding="utf-8", errors="replace") if args.latex_log is not None else None
    found = problems(args.pdf, args.toc, log)
    if log is not None:
        found += missing_characters(log)
    for line in found:
        print(line)
    print(f"{len(found)} problems")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
