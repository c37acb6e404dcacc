"""Check that every chapter page's Colab button opens that chapter's .ipynb at the book's release.

For each ``book/<slug>.ipynb`` in the repository, the built page
``_build/html/book/<slug>.html`` must link to
``https://colab.research.google.com/github/<owner>/<repo>/blob/<branch>/book/<slug>.ipynb``,
with owner/repo taken from ``repository.url`` in ``_config.yml`` and ``<branch>`` its
``repository.branch``: the release tag the bootstraps install (``tools/pin_bootstrap.py``
keeps the two equal). Usage::

    python tools/check_launch_buttons.py _build/html
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml


def main(html_root: str) -> int:
    root = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    repo = re.sub(r"^https://github\.com/", "", config["repository"]["url"]).rstrip("/")
    branch = config["repository"]["branch"]
    bad = 0
    notebooks = sorted((root / "book").glob("*.ipynb"))
    for nb in notebooks:
        page = Path(html_root) / "book" / f"{nb.stem}.html"
        if not page.exists():
            print(f"{page}: not built (is book/{nb.stem} in _toc.yml?)")
            bad += 1
            continue
        want = f"https://colab.research.google.com/github/{repo}/blob/{branch}/book/{nb.name}"
        if want not in page.read_text(encoding="utf-8"):
            print(f"{page}: no Colab link to {want}")
            bad += 1
    print(f"checked the Colab buttons of {len(notebooks)} chapters: {bad} wrong")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "_build/html"))
