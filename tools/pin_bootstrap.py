"""Pin every Colab bootstrap to the release tag ``v<version>`` (version from pyproject.toml).

The bootstrap cell of each chapter and assignment installs the package with
``pip install "alignlimits @ git+<repository>@<ref>"``. The ref is the release tag
``v<project.version>``: the version in pyproject.toml is the one place it is written,
so a release bumps the version, runs ``python tools/pin_bootstrap.py --write`` and
``make sync``, commits, and tags that commit ``v<version>`` on GitHub.

    python tools/pin_bootstrap.py           # list files whose bootstrap is not pinned (exit 1 if any)
    python tools/pin_bootstrap.py --write   # rewrite them (then `make sync` for the .ipynb)
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
URL = re.compile(r"(git\+https://github\.com/alignlimits/alignlimits)@([\w.\-]+)")


def release_ref() -> str:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    return f"v{version}"


def pinned_files() -> list[Path]:
    files = sorted((ROOT / "book").glob("*.md")) + sorted((ROOT / "assignments").glob("*.md"))
    return [*files, ROOT / "templates" / "chapter.md", ROOT / "README.md"]


def unpinned(path: Path, ref: str) -> list[str]:
    if not path.exists():
        return []
    return [m.group(2) for m in URL.finditer(path.read_text(encoding="utf-8")) if m.group(2) != ref]


def main(argv: list[str]) -> int:
    ref = release_ref()
    bad = {p: refs for p in pinned_files() if (refs := unpinned(p, ref))}
    for path, refs in bad.items():
        print(f"{path.relative_to(ROOT)}: installs @{', @'.join(sorted(set(refs)))}, not @{ref}")
        if "--write" in argv:
            text = path.read_text(encoding="utf-8")
            path.write_text(URL.sub(lambda m: f"{m.group(1)}@{ref}", text), encoding="utf-8")
    if "--write" in argv:
        print(f"pinned {len(bad)} files to @{ref}" + ("; now run `make sync`" if bad else ""))
        return 0
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
