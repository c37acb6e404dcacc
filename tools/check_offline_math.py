"""Check that the built HTML renders math with no network, in headless Chromium.

Opens a page that contains math with every network request blocked (an unroutable
proxy), lets MathJax run, and asserts that typeset ``mjx-container`` elements
appear and that the page references MathJax only locally. Usage::

    python tools/check_offline_math.py _build/html/book/objective.html
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from browser import chromium


def main(page: str) -> int:
    html_path = Path(page).resolve()
    html = html_path.read_text(encoding="utf-8")
    mathjax_srcs = re.findall(r'<script[^>]+src="([^"]*mathjax[^"]*)"', html, flags=re.I)
    remote = [src for src in mathjax_srcs if re.match(r"^(https?:)?//", src)]
    if not mathjax_srcs or remote:
        print(f"MathJax scripts: {mathjax_srcs}; remote ones: {remote}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--proxy-server=127.0.0.1:9",  # nothing listens there: every request fails
                f"--user-data-dir={profile}",
                "--virtual-time-budget=20000",
                "--allow-file-access-from-files",
                "--dump-dom",
                html_path.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    typeset = result.stdout.count("<mjx-container")
    print(f"{html_path.name}: {typeset} typeset formulas, MathJax from {mathjax_srcs[0]}")
    return 0 if typeset > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "_build/html/book/objective.html"))
