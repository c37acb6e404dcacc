"""Where alignlimits keeps what it builds or fetches at run time (stdlib only).

Converted model folders, downloaded data wheels and experiment work folders all live
under one root, so one environment variable moves them all (say, to a larger disk).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """``$ALIGNLIMITS_CACHE`` if set, else ``~/.cache/alignlimits`` (created on demand).

    Examples
    --------
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as root:
    ...     os.environ["ALIGNLIMITS_CACHE"] = root
    ...     print(cache_dir() == Path(root))
    ...     del os.environ["ALIGNLIMITS_CACHE"]
    True
    """
    root = os.environ.get("ALIGNLIMITS_CACHE", "").strip()
    path = Path(root).expanduser() if root else Path.home() / ".cache" / "alignlimits"
    path.mkdir(parents=True, exist_ok=True)
    return path
