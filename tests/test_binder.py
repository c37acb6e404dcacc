"""binder/: a core-only environment (no torch) at the pinned versions, for the numpy/SymPy chapters."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", f"{path.name}: {line} is not pinned"
            pins[req.name.lower().replace("_", "-")] = spec.version
    return pins


def test_binder_pins_the_core_dependencies_at_the_books_versions() -> None:
    binder = _pins(ROOT / "binder" / "requirements.txt")
    book = _pins(ROOT / "requirements.txt")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = [Requirement(d).name.lower() for d in project["dependencies"]]
    assert set(core) <= set(binder), f"binder lacks {set(core) - set(binder)}"
    for name, version in binder.items():
        assert book.get(name) == version, f"binder pins {name}=={version}, the book's environment {book.get(name)}"
    assert not {"torch", "transformers", "accelerate"} & set(binder)  # core only: no CUDA wheels on Binder


def test_post_build_installs_the_package_without_extras() -> None:
    post = ROOT / "binder" / "postBuild"
    assert os.access(post, os.X_OK)
    assert re.search(r"pip install --no-deps\b.* \.$", post.read_text(), flags=re.M)
