"""Tests for tools/check_pdf.py's reading of the LaTeX log (the PDF checks themselves run in `make pdf`)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
try:
    import check_pdf
finally:
    sys.path.pop(0)

# Lines as XeLaTeX writes them, wrapped at 79 characters as in a real log.
LOG = """[286] [287]
Missing character: There is no π ("3C0) in font cmmi10!
Missing character: There is no β ("3B2) in font cmmi7!
Missing character: There is no π ("3C0) in font cmmi10!
Missing character: There is no ℓ (U+2113) in font DejaVu Sans Mono/OT:script=la
tn;language=dflt;!
Overfull \\hbox (1.2pt too wide) in paragraph at lines 10--12
"""


def test_each_missing_character_is_one_problem_with_its_count() -> None:
    found = check_pdf.missing_characters(LOG)
    assert found == [
        "2 × missing character π (U+03C0) in font cmmi10",
        "1 × missing character β (U+03B2) in font cmmi7",
        "1 × missing character ℓ (U+2113) in font DejaVu Sans Mono",
    ]


def test_embedded_figures_are_counted_from_the_log() -> None:
    log = "<use 3d95.pdf> <use 43ba.pdf>\n[12] <use logo.png>\n<use not-a-figure.tex>\n"
    assert check_pdf.embedded_graphics(log) == 3


def test_a_clean_log_has_no_problem() -> None:
    assert check_pdf.missing_characters("Output written on book.pdf (395 pages).\n") == []


def test_a_missing_log_is_one_line(tmp_path, capsys) -> None:
    pdf = tmp_path / "book.pdf"
    pdf.write_bytes(b"%PDF-1.5\n")
    assert check_pdf.main([str(pdf), "--latex-log", str(tmp_path / "book.log")]) == 2
    assert "does not exist: run `make pdf` first" in capsys.readouterr().out
