"""Check that every chapter which draws a figure shows one in the built HTML.

A chapter source ``book/<slug>.md`` that calls ``plt.show()`` or ``plt.subplots`` must
produce at least one ``<img>`` in ``_build/html/book/<slug>.html``; a non-interactive
matplotlib backend (e.g. ``MPLBACKEND=Agg`` leaking into the kernel) silently drops
them. Usage::

    python tools/check_figures.py _build/html
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def main(html_root: str) -> int:
    book = Path(__file__).resolve().parents[1] / "book"
    bad = checked = 0
    for md in sorted(book.glob("*.md")):
        if not re.search(r"plt\.(show|subplots|figure)\(", md.read_text(encoding="utf-8")):
            continue
        page = Path(html_root) / "book" / f"{md.stem}.html"
        if not page.exists():
            continue  # pages outside the toc are reported by the link and toc checks
        checked += 1
        # figures made by code land in _images/ (the launch-button logos live in _static/)
        images = len(re.findall(r"<img\b[^>]*src=\"[^\"]*_images/", page.read_text(encoding="utf-8")))
        if images == 0:
            print(f"{page}: the chapter draws figures but the page shows none")
            bad += 1
    print(f"checked figures on {checked} chapter pages: {bad} without images")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "_build/html"))
