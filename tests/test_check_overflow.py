"""Tests for tools/check_overflow.py: a page whose output, table or scroll box overflows fails, a fitting one passes.

Needs Chromium (CI installs it); skipped without one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
try:
    import check_overflow
    from browser import find_chromium
finally:
    sys.path.pop(0)

pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason="needs Chromium (apt-get install -y chromium), which the overflow check drives",
)

# A chapter-like page: the theme's article column (600 px, narrower on a phone) and a code cell.
PAGE = """<!doctype html><html><head><meta name="viewport" content="width=device-width">
<style>body {{ margin: 0 }} article.bd-article {{ max-width: 600px; margin: 0 20px; padding: 0 10px }}
pre {{ margin: 0 }}</style></head>
<body><article class="bd-article"><div class="cell"><div class="cell_output">{body}</div></div></article>
</body></html>"""
WIDE_TEXT = "x = 0.123456 " * 80  # prose: may wrap
WIDE_COLUMNS = "  ".join(f"{i:8.4f}" for i in range(12))  # a fixed-width table row: must not wrap at 1280 px
WRAPS = 'style="white-space:pre-wrap;overflow-wrap:anywhere"'
SMALL_TABLE = "<table><tr><th>β</th><th>KL</th></tr><tr><td>0.5</td><td>2.169</td></tr></table>"
# 500 px: fits 600 px at 1280, needs its (visible) scrollbar on a phone, which a table may use.
MEDIUM_TABLE = '<div style="overflow-x:auto"><table style="width:500px"><tr><td>wide</td></tr></table></div>'

FITS = PAGE.format(body=(
    '<div class="output"><pre>short line</pre></div>'
    f'<div class="output"><pre {WRAPS}>{WIDE_TEXT}</pre></div>'
    f"{SMALL_TABLE}{MEDIUM_TABLE}"
))  # fmt: skip
OVERFLOWS = PAGE.format(body=(
    f'<div class="output"><pre style="overflow-x:auto">{WIDE_TEXT}</pre></div>'          # scrolls sideways
    f'<div class="output"><pre {WRAPS}>aligned\n{WIDE_COLUMNS}</pre></div>'              # wraps a table row
    '<div style="overflow:hidden"><table style="width:900px"><caption>clipped table</caption>'
    "<tr><td>a</td></tr></table></div>"                                                   # clipped
    '<div style="overflow-x:auto;scrollbar-width:none"><table style="width:800px">'
    "<caption>hidden scroll</caption><tr><td>b</td></tr></table></div>"                   # hidden scroll
    f'<table style="width:700px"><caption>spills</caption><tr><td>c</td></tr></table>'    # over the column
))  # fmt: skip


def test_flags_exactly_the_overflowing_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "fits.html").write_text(FITS, encoding="utf-8")
    (tmp_path / "book" / "overflows.html").write_text(OVERFLOWS, encoding="utf-8")
    (tmp_path / "genindex.html").write_text(OVERFLOWS, encoding="utf-8")  # skipped: generated page

    assert check_overflow.main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    problems = {(line.split(":", 1)[0], line.split(" by ")[0].split(": ", 1)[1])
                for line in out.splitlines() if " by " in line}  # fmt: skip
    assert problems == {
        ("book/overflows.html @1280px", "output scrolls"),
        ("book/overflows.html @1280px", "output wraps 1 aligned line(s)"),  # on a phone, wrapping is fine
        ("book/overflows.html @1280px", "table clipped"),
        ("book/overflows.html @1280px", "table hidden scroll"),
        ("book/overflows.html @1280px", "table column"),
        ("book/overflows.html @400px", "output scrolls"),
        ("book/overflows.html @400px", "table clipped"),
        ("book/overflows.html @400px", "table hidden scroll"),
        ("book/overflows.html @400px", "table column"),
        ("book/overflows.html @400px", "table viewport"),  # 700 px on a 400 px screen: the page scrolls
    }, out
    assert "on 1 of 2 pages (4 page-widths checked" in out

    assert check_overflow.main([str(tmp_path), "--pages", "fits"]) == 0
    assert "0 problems on 0 of 1 pages" in capsys.readouterr().out
