"""A Hugging Face hub cache laid out by hand, so the Hub origin is tested with no network.

``place`` puts a folder's files where ``snapshot_download(repo_id, revision=…)`` looks for
them offline: ``<cache>/models--<owner>--<name>/snapshots/<revision>/`` plus ``refs/main``.
Files are symlinked (the real cache symlinks snapshots to blobs too), so a 500 MB model
costs nothing to place.
"""

from __future__ import annotations

import os
from pathlib import Path


def place(cache: Path, repo_id: str, revision: str, folder: Path, *, repo_type: str = "model") -> Path:
    """Lay ``folder``'s files out as ``repo_id`` at ``revision`` in the hub cache ``cache``; return the snapshot."""
    repo = Path(cache) / f"{repo_type}s--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    for item in Path(folder).iterdir():
        target = snapshot / item.name
        if not target.exists():
            os.symlink(item.resolve(), target)
    return snapshot
