"""Where the system Chromium is, for the checks that render the built book (offline math, overflow)."""

from __future__ import annotations

import shutil

#: The names Chromium goes by: Debian's package, Ubuntu's, and Google's build (as on GitHub's runners).
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    """The path of the first Chromium on ``PATH``, or None."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium() -> str:
    """The path of Chromium; exits with what to install when there is none."""
    path = find_chromium()
    if path is None:
        raise SystemExit("Chromium is not installed: `apt-get install -y chromium` (CI does this).")
    return path
