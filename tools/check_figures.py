"""Check that every chapter which draws a figure shows one in the built HTML, legibly.

A chapter source ``book/<slug>.md`` that calls ``plt.show()`` or ``plt.subplots`` must
produce at least one ``<img>`` in ``_build/html/book/<slug>.html``; a non-interactive
matplotlib backend (e.g. ``MPLBACKEND=Agg`` leaking into the kernel) silently drops
them. Every figure image must also read at the size the theme shows it:

* SVG (what :func:`alignlimits.plotting.apply_style` makes), or a PNG of at least
  150 dpi (its ``pHYs`` chunk), since a 100-dpi bitmap blurs at any zoom;
* no wider than :data:`MAX_WIDTH_IN` inches, so that the browser shows it unscaled in
  the text column (an SVG inch is 96 px) and its fonts at their set sizes: a 13-inch
  figure squeezed into the column shrank its legends to about 6 px.

Usage::

    python tools/check_figures.py _build/html
"""

from __future__ import annotations

import re
import struct
import sys
from pathlib import Path

#: Widest figure, in inches, that the text column (about 700-750 px) shows unscaled:
#: :data:`alignlimits.plotting.COLUMN_WIDTH` plus what a tight bounding box may add.
MAX_WIDTH_IN = 7.6
#: Lowest resolution accepted for a bitmap figure.
MIN_DPI = 150

_UNITS_PER_INCH = {"pt": 72.0, "in": 1.0, "px": 96.0, "cm": 2.54, "mm": 25.4, "": 96.0}


def svg_width_in(path: Path) -> float | None:
    """Width in inches of an SVG's root element, or None when it states none."""
    head = path.read_text(encoding="utf-8", errors="replace")[:4000]
    root = re.search(r"<svg\b[^>]*>", head)
    width = re.search(r'\swidth="([\d.]+)\s*(pt|in|px|cm|mm|)"', root.group(0)) if root else None
    return float(width.group(1)) / _UNITS_PER_INCH[width.group(2)] if width else None


def png_size(path: Path) -> tuple[int, float | None]:
    """``(width in pixels, dots per inch)`` of a PNG; the dpi is None without a ``pHYs`` chunk."""
    data = path.read_bytes()
    width = struct.unpack(">I", data[16:20])[0]
    dpi = None
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"pHYs":
            per_x, _, unit = struct.unpack(">IIB", data[pos + 8 : pos + 17])
            dpi = per_x * 0.0254 if unit == 1 else None
            break
        if kind == b"IDAT":
            break
        pos += 12 + length
    return width, dpi


def figure_problem(path: Path) -> str | None:
    """Why a figure image would not read in the column, or None when it would."""
    suffix = path.suffix.lower()
    if suffix == ".svg":
        width = svg_width_in(path)
        if width is not None and width > MAX_WIDTH_IN:
            return f"{width:.1f} in wide (at most {MAX_WIDTH_IN}): shrunk to fit, its text with it"
        return None
    if suffix == ".png":
        pixels, dpi = png_size(path)
        if dpi is None or dpi < MIN_DPI - 1:
            shown = "unknown" if dpi is None else f"{dpi:.0f}"
            return f"a PNG of {shown} dpi (at least {MIN_DPI}, or SVG)"
        if pixels / dpi > MAX_WIDTH_IN:
            return f"{pixels / dpi:.1f} in wide (at most {MAX_WIDTH_IN}): shrunk to fit, its text with it"
        return None
    return f"a {suffix or 'suffix-less'} image (SVG, or a PNG of at least {MIN_DPI} dpi)"


def main(html_root: str) -> int:
    book = Path(__file__).resolve().parents[1] / "book"
    root = Path(html_root)
    bad = checked = figures = 0
    for md in sorted(book.glob("*.md")):
        if not re.search(r"plt\.(show|subplots|figure)\(|plotting\.subplots\(", md.read_text(encoding="utf-8")):
            continue
        page = root / "book" / f"{md.stem}.html"
        if not page.exists():
            continue  # pages outside the toc are reported by the link and toc checks
        checked += 1
        # figures made by code land in _images/ (the launch-button logos live in _static/)
        sources = re.findall(r"<img\b[^>]*src=\"([^\"]*_images/[^\"]+)\"", page.read_text(encoding="utf-8"))
        if not sources:
            print(f"{page}: the chapter draws figures but the page shows none")
            bad += 1
        for src in sources:
            figures += 1
            image = (page.parent / src).resolve()
            problem = figure_problem(image) if image.exists() else "missing from the build"
            if problem:
                print(f"{page}: {Path(src).name} is {problem}")
                bad += 1
    print(f"checked {figures} figures on {checked} chapter pages: {bad} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "_build/html"))
