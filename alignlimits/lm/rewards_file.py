"""From a causal LM, prompts and a reward to the rewards file that ``alignlimits frontier`` reads.

The frontier estimator needs only rewards of base-model samples, several per prompt. This
module makes them in one call (:func:`sample_rewards`, the ``alignlimits sample`` command):

* **prompts** (:func:`read_prompts`): a JSON Lines file (a ``prompt`` key per line, optional
  ``id``), a CSV file (a ``prompt`` column, optional ``id``), or a split of a Hugging Face
  dataset, ``hf:NAME:SPLIT:COLUMN`` or ``hf:NAME:CONFIG:SPLIT:COLUMN`` (needs the
  ``datasets`` package). Without ids the prompts are numbered ``0, 1, ...`` in order.
* **the base model**: anything :func:`alignlimits.lm.models.load_model` loads, sampled with
  :func:`alignlimits.lm.sampling.sample` from ``softmax(logits/T)`` with no truncation. Chat
  models get their chat template (``chat=None``: when the tokenizer has one).
* **the reward** (:func:`load_reward`): a Python callable ``module:function`` (or
  ``file.py:function``) taking the lists ``(prompts, completions)`` and returning one float
  per completion; or a sequence-classification model (a folder saved with
  ``save_pretrained`` or a hub id), whose score is the raw logit of one label: the only
  label of a one-label model, label 1 (by convention the positive class, as in
  ``{0: NEGATIVE, 1: POSITIVE}``) of a two-label model, or the label named by
  ``reward_label``. The model reads the prompt and the completion as a text pair, or
  through its chat template (user and assistant turns) when it has one, padded on the
  right so that every text is read as it would be alone.
* **checkpoints**: the prompts are sampled in batches (as many prompts as fill one
  generation batch of ``batch_size`` completions, at least one), and every finished batch
  is written atomically to a work folder named by a hash of everything that changes the
  numbers (model, prompts, reward, sampling options, seed, batch size; for local folders
  and reward modules also their files' sizes and times). A rerun of the same command skips
  the finished batches, and since every batch draws from its own seed it yields the same
  rows as an uninterrupted run. The device is not part of the hash: a run may be resumed
  on another device (its rows are then valid samples, but not bit-for-bit the same).
* **the output** (:func:`write_rewards`): one row per completion, ``prompt_id, sample,
  reward, length, logprob`` (and ``completion``, the text, when asked), as CSV or JSON
  Lines. ``length`` counts the completion's tokens up to and including EOS; ``logprob`` is
  its log-probability under the sampled law (the model at temperature ``T``), the
  numbers a practitioner needs to reweight or filter samples later.

Every problem a user can fix raises :class:`SampleInputError` with a one-line message.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import importlib
import importlib.util
import inspect
import io
import json
import logging
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

__all__ = [
    "COLUMNS",
    "OUTPUT_FORMATS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "Prompts",
    "Reward",
    "SampleInputError",
    "SampledRewards",
    "load_reward",
    "read_prompts",
    "sample_rewards",
    "save_rewards",
    "write_rewards",
]

#: The output columns, in order; ``completion`` (the text) follows them when kept.
COLUMNS = ("prompt_id", "sample", "reward", "length", "logprob")
#: Output formats: both are read by ``alignlimits frontier`` (columns ``prompt_id`` and ``reward``).
OUTPUT_FORMATS = ("csv", "jsonl")
#: Identity of a work folder's ``options.json``; the version is part of the folder's hash.
SCHEMA = "alignlimits.lm.rewards_file"
#: Bumped whenever a batch file's content or meaning changes, so old work folders are not reused.
SCHEMA_VERSION = 1

_PROMPT_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")

RewardFunction = Callable[[list[str], list[str]], Sequence[float]]


class SampleInputError(ValueError):
    """A problem the user can fix (a file, an option, a reward); the message is one line."""


# ----------------------------------------------------------------------------- prompts


@dataclass(frozen=True)
class Prompts:
    """Prompt texts and their ids (unique strings), in order.

    Attributes
    ----------
    ids : the prompt ids written to the rewards file (the ``prompt_id`` column).
    texts : the prompts as the user wrote them (before any chat template).
    source : where they came from, for messages.
    """

    ids: list[str]
    texts: list[str]
    source: str = "<prompts>"

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.texts):
            raise SampleInputError(f"{self.source}: {len(self.ids)} ids for {len(self.texts)} prompts.")
        if not self.texts:
            raise SampleInputError(f"{self.source}: no prompts.")
        seen: dict[str, int] = {}
        for i, pid in enumerate(self.ids):
            if pid in seen:
                raise SampleInputError(
                    f"{self.source}: prompt id {pid!r} is used by prompts {seen[pid] + 1} and {i + 1}; ids must be "
                    "unique (the frontier groups samples by id)."
                )
            seen[pid] = i

    def __len__(self) -> int:
        return len(self.texts)


def _prompt_text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise SampleInputError(f"{where}: prompt must be text; got {type(value).__name__} {value!r:.40}.")
    if not value.strip():
        raise SampleInputError(f"{where}: prompt is empty.")
    return value


def _prompt_id(value: object, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise SampleInputError(f"{where}: id must be a string or an integer; got {value!r:.40}.")
    text = str(value).strip()
    if not text:
        raise SampleInputError(f"{where}: id is empty; give every prompt an id or none.")
    return text


def _id_key(keys: Sequence[str], where: str) -> str | None:
    """The id column of a header or JSON object: ``id`` or ``prompt_id`` (not both)."""
    present = [k for k in ("id", "prompt_id") if k in keys]
    if len(present) > 1:
        raise SampleInputError(f"{where}: both 'id' and 'prompt_id' are given; keep one.")
    return present[0] if present else None


def _read_prompts_jsonl(text: str, name: str) -> Prompts:
    ids: list[str | None] = []
    texts: list[str] = []
    lines: list[int] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name} line {line_no}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise SampleInputError(f"{where}: not valid JSON ({err.msg}).") from None
        except (ValueError, RecursionError):
            raise SampleInputError(f"{where}: not valid JSON.") from None
        if not isinstance(obj, dict):
            raise SampleInputError(f'{where}: expected a JSON object like {{"prompt": "...", "id": "p1"}}.')
        if "prompt" not in obj:
            raise SampleInputError(f"{where}: no 'prompt' key (found: {', '.join(map(repr, obj)) or 'none'}).")
        texts.append(_prompt_text(obj["prompt"], where))
        key = _id_key(list(obj), where)
        ids.append(None if key is None else _prompt_id(obj[key], where))
        lines.append(line_no)
    if not texts:
        raise SampleInputError(f"{name}: no prompts; expected one JSON object per line with a 'prompt' key.")
    with_id = [i is not None for i in ids]
    if any(with_id) and not all(with_id):
        first = with_id.index(False)
        raise SampleInputError(f"{name} line {lines[first]}: an id is given on some lines but not on this one.")
    return Prompts([str(i) for i in ids] if all(with_id) else [str(i) for i in range(len(texts))], texts, name)


def _read_prompts_csv(text: str, name: str) -> Prompts:
    reader = csv.DictReader(io.StringIO(text))
    try:
        if not reader.fieldnames:
            raise SampleInputError(f"{name}: the file is empty; expected a header line with a 'prompt' column.")
        fields = [f.strip() if f else f for f in reader.fieldnames]
        reader.fieldnames = fields
        if "prompt" not in fields:
            raise SampleInputError(f"{name} line 1: no 'prompt' column (found: {', '.join(map(repr, fields))}).")
        key = _id_key(fields, f"{name} line 1")
        ids: list[str] = []
        texts: list[str] = []
        for row in reader:
            where = f"{name} line {reader.line_num}"
            if None in row:
                raise SampleInputError(f"{where}: more fields than the header has columns.")
            if all(v is None or not str(v).strip() for v in row.values()):
                continue
            texts.append(_prompt_text(row["prompt"], where))
            if key is not None:
                ids.append(_prompt_id(row[key], where))
    except csv.Error as err:
        raise SampleInputError(f"{name} line {reader.reader.line_num}: not valid CSV ({err}).") from None
    if not texts:
        raise SampleInputError(f"{name}: no prompts after the header.")
    return Prompts(ids if key is not None else [str(i) for i in range(len(texts))], texts, name)


def _split_outside_brackets(text: str) -> list[str]:
    """``a:b[:3]:c`` → ``['a', 'b[:3]', 'c']``: colons inside a split's slice do not separate."""
    parts, depth, current = [], 0, []
    for ch in text:
        depth += (ch == "[") - (ch == "]")
        if ch == ":" and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _read_prompts_dataset(source: str) -> Prompts:
    parts = _split_outside_brackets(source[len("hf:") :])
    if len(parts) not in (3, 4) or not all(p.strip() for p in parts):
        raise SampleInputError(
            f"--prompts {source!r}: a dataset is hf:NAME:SPLIT:COLUMN or hf:NAME:CONFIG:SPLIT:COLUMN, "
            "e.g. hf:openai/gsm8k:main:test:question."
        )
    name, config, split, column = parts if len(parts) == 4 else (parts[0], None, parts[1], parts[2])
    try:
        import datasets
    except ImportError:
        raise SampleInputError(
            f"--prompts {source!r}: reading a Hugging Face dataset needs the 'datasets' package, which is not "
            "installed: pip install datasets (or save the prompts as a .jsonl or .csv file)."
        ) from None
    try:
        data = datasets.load_dataset(name, config, split=split)
    except Exception as err:  # a missing dataset, split or config, or no network: all the user's to fix
        raise SampleInputError(
            f"--prompts {source!r}: could not load the dataset ({type(err).__name__}: {err})."
        ) from err
    names = list(getattr(data, "column_names", []) or [])
    if column not in names:
        raise SampleInputError(f"--prompts {source!r}: no column {column!r} (found: {', '.join(map(repr, names))}).")
    texts = [_prompt_text(v, f"{source} row {i}") for i, v in enumerate(data[column])]
    return Prompts([str(i) for i in range(len(texts))], texts, source)


def read_prompts(source: str | Path) -> Prompts:
    """Read the prompts to sample from: a ``.jsonl`` or ``.csv`` file, or ``hf:NAME:SPLIT:COLUMN``.

    A file needs a ``prompt`` key (JSON Lines) or column (CSV) and may give an ``id`` (or
    ``prompt_id``) for each prompt; without ids the prompts are numbered from 0 in order.
    Ids must be unique, because the frontier groups a prompt's samples by its id.

    Raises
    ------
    SampleInputError
        For a missing, unreadable or malformed file, naming the file and the line.
    """
    text_source = str(source)
    if text_source.startswith("hf:"):
        return _read_prompts_dataset(text_source)
    if not text_source or text_source == "-":
        raise SampleInputError("--prompts needs a .jsonl or .csv file (or hf:NAME:SPLIT:COLUMN).")
    path = Path(text_source)
    suffix = path.suffix.lower()
    try:
        if path.is_dir():
            raise SampleInputError(f"{path}: is a directory; give a prompts file.")
        if not path.exists():
            raise SampleInputError(f"{path}: no such file.")
        if suffix not in _PROMPT_SUFFIXES:
            raise SampleInputError(
                f"{path}: cannot tell the prompts file type from the suffix {suffix or '(none)'!r}; "
                "use a .jsonl or .csv file."
            )
        data = path.read_bytes()
    except PermissionError:
        raise SampleInputError(f"{path}: permission denied; cannot read it.") from None
    except OSError as err:
        raise SampleInputError(f"{path}: cannot read it ({err.strerror or err}).") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SampleInputError(f"{path}: not UTF-8 text (byte offset {err.start}); save it as UTF-8.") from None
    reader = _read_prompts_jsonl if _PROMPT_SUFFIXES[suffix] == "jsonl" else _read_prompts_csv
    return reader(text, str(path))


# ----------------------------------------------------------------------------- rewards


def _folder_fingerprint(folder: Path) -> list[tuple[str, int, int]]:
    """Names, sizes and modification times of a folder's files: changes when the weights do."""
    out = []
    for p in sorted(folder.rglob("*")):
        if p.is_file() and ".cache" not in p.parts:
            st = p.stat()
            out.append((str(p.relative_to(folder)), st.st_size, st.st_mtime_ns))
    return out


def _file_fingerprint(path: str | None) -> str | None:
    if not path or not Path(path).is_file():
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass
class Reward:
    """A reward ready to score completions: ``reward(prompts, completions)`` → float64 array.

    Every call checks the result (one finite number per completion), so a faulty reward
    stops the run with a :class:`SampleInputError` before any of its numbers is written.

    Attributes
    ----------
    name : the spec it was loaded from (or the callable's name), for messages.
    fingerprint : what identifies it in the work folder's hash.
    """

    name: str
    fingerprint: Any
    _score: Callable[[list[str], list[str]], Any] = field(repr=False)

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        prompts, completions = list(prompts), list(completions)
        try:
            values = self._score(prompts, completions)
        except SampleInputError:
            raise
        except Exception as err:
            raise SampleInputError(
                f"the reward {self.name!r} raised {type(err).__name__}: {err} (ALIGNLIMITS_DEBUG=1 shows the traceback)"
            ) from err
        try:
            array = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise SampleInputError(
                f"the reward {self.name!r} returned {type(values).__name__} {values!r:.60}; expected one number "
                "per completion."
            ) from None
        if array.shape != (len(completions),):
            got = f"{array.size} values" if array.ndim == 1 else f"an array of shape {array.shape}"
            raise SampleInputError(
                f"the reward {self.name!r} returned {got} for {len(completions)} completions; expected one number "
                "per completion."
            )
        bad = np.flatnonzero(~np.isfinite(array))
        if bad.size:
            raise SampleInputError(
                f"the reward {self.name!r} returned {array[bad[0]]} for completion {bad[0]} of a batch "
                f"({bad.size} of {array.size} not finite); rewards must be finite numbers."
            )
        return array


def _import_callable(spec: str, module_name: str, attr: str) -> Callable[..., Any]:
    """Import ``module_name`` (a dotted name, or a ``.py`` file) and return its attribute ``attr``."""
    where = f"--reward {spec!r}"
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            if not path.is_file():
                raise SampleInputError(f"{where}: no such file {module_name!r}.")
            mod_spec = importlib.util.spec_from_file_location(f"_alignlimits_reward_{path.stem}", path)
            if mod_spec is None or mod_spec.loader is None:
                raise SampleInputError(f"{where}: cannot import {module_name!r}.")
            module = importlib.util.module_from_spec(mod_spec)
            mod_spec.loader.exec_module(module)
        else:
            # The console script does not put the working folder on sys.path (python -m does):
            # a reward module next to the user's data should import either way.
            added = os.getcwd() not in sys.path
            if added:
                sys.path.insert(0, os.getcwd())
            try:
                module = importlib.import_module(module_name)
            finally:
                if added:
                    sys.path.remove(os.getcwd())
    except SampleInputError:
        raise
    except ModuleNotFoundError as err:
        if err.name and module_name.startswith(err.name):
            raise SampleInputError(
                f"{where}: no module named {err.name!r}; run from the folder that holds it, give a file "
                "(rewards.py:function), or install it."
            ) from None
        raise SampleInputError(f"{where}: importing {module_name!r} failed ({err}).") from err
    except Exception as err:
        raise SampleInputError(f"{where}: importing {module_name!r} failed ({type(err).__name__}: {err}).") from err
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise SampleInputError(f"{where}: {module_name!r} has no attribute {attr!r}.")
        obj = getattr(obj, part)
    if not callable(obj):
        raise SampleInputError(f"{where}: {attr!r} is a {type(obj).__name__}, not a function.")
    return obj


def _callable_spec(spec: str) -> tuple[str, str] | None:
    """``(module, function)`` when ``spec`` reads as ``module:function`` or ``file.py:function``, else None."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name:
        return None
    if module_name.endswith(".py") or _IDENTIFIER.match(module_name):
        if not _IDENTIFIER.match(attr):
            raise SampleInputError(f"--reward {spec!r}: {attr!r} is not a function name (module:function).")
        return module_name, attr
    return None


def _source_fingerprint(fn: Callable[..., Any]) -> Any:
    try:
        source_file = inspect.getsourcefile(fn)
    except TypeError:
        source_file = None
    name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
    return {"callable": name, "source_sha256": _file_fingerprint(source_file)}


def _local_folder(name: str) -> Path | None:
    path = Path(name).expanduser()
    return path if path.exists() else None


def _looks_like_hub_id(name: str) -> bool:
    return not name.startswith(("/", ".", "~")) and name.count("/") == 1 and all(name.split("/"))


def _label_index(config: Any, label: str | None, name: str) -> int:
    """Which logit is the reward: the only one, label 1 of two, or the one named by ``label``."""
    n = int(config.num_labels)
    id2label = {int(k): str(v) for k, v in (getattr(config, "id2label", None) or {}).items()}
    names = ", ".join(f"{i}={id2label.get(i, i)}" for i in range(n))
    if label is None:
        if n in (1, 2):
            return n - 1
        raise SampleInputError(
            f"the reward model {name!r} has {n} labels ({names}); say which logit is the reward with --reward-label."
        )
    if label.strip().lstrip("-").isdigit():
        index = int(label)
        if not 0 <= index < n:
            raise SampleInputError(f"--reward-label {label}: the model has labels 0..{n - 1} ({names}).")
        return index
    matches = [i for i, v in id2label.items() if v.lower() == label.strip().lower()]
    if len(matches) != 1:
        raise SampleInputError(f"--reward-label {label!r} names no label of the reward model ({names}).")
    return matches[0]


def _model_reward(spec: str, *, device: Any, label: str | None, batch_size: int) -> Reward:
    """A sequence-classification model as a reward (the weights load on the first call)."""
    folder = _local_folder(spec)
    if folder is not None:
        if not (folder.is_dir() and (folder / "config.json").is_file()):
            raise SampleInputError(
                f"--reward {spec!r}: not a model folder (no config.json); give a folder saved with "
                "save_pretrained, a hub id, or module:function."
            )
        fingerprint: Any = {"folder": str(folder.resolve()), "files": _folder_fingerprint(folder)}
    elif _looks_like_hub_id(spec):
        fingerprint = {"hub_id": spec}
    else:
        raise SampleInputError(
            f"--reward {spec!r}: no such model folder, and not module:function or a hub id 'owner/name'."
        )
    fingerprint["label"] = label
    from transformers import AutoConfig

    source = str(folder) if folder is not None else spec
    local = folder is not None
    hint = "" if local else " (a hub id needs internet access with HF_HUB_OFFLINE unset)"
    try:  # the config alone, now: a wrong label or model type stops the run before any sampling
        config = AutoConfig.from_pretrained(source, local_files_only=local)
    except (OSError, ValueError, KeyError) as err:
        raise SampleInputError(f"--reward {spec!r}: could not read the model's config{hint}: {err}") from err
    index = _label_index(config, label, spec)
    loaded: dict[str, Any] = {}

    def load() -> tuple[Any, Any]:
        if not loaded:
            import torch
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            try:
                tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local)
                model = AutoModelForSequenceClassification.from_pretrained(
                    source, dtype=torch.float32, local_files_only=local
                )
            except (OSError, ValueError, KeyError) as err:
                raise SampleInputError(
                    f"--reward {spec!r}: could not load a sequence-classification model{hint}: {err}"
                ) from err
            if tokenizer.pad_token_id is None:
                if tokenizer.eos_token is None:
                    raise SampleInputError(f"--reward {spec!r}: the tokenizer has neither a pad nor an EOS token.")
                tokenizer.pad_token = tokenizer.eos_token
            model.config.pad_token_id = tokenizer.pad_token_id
            # Right padding: a model with absolute positions reads each text as it would alone,
            # and the classifier pools the last real token.
            tokenizer.padding_side = "right"
            loaded.update(tokenizer=tokenizer, model=model.to(device).eval())
        return loaded["tokenizer"], loaded["model"]

    def score(prompts: list[str], completions: list[str]) -> np.ndarray:
        import torch

        tokenizer, model = load()
        out = []
        for s in range(0, len(prompts), batch_size):
            p, c = prompts[s : s + batch_size], completions[s : s + batch_size]
            if getattr(tokenizer, "chat_template", None):
                texts = [
                    tokenizer.apply_chat_template(
                        [{"role": "user", "content": a}, {"role": "assistant", "content": b}], tokenize=False
                    )
                    for a, b in zip(p, c, strict=True)
                ]
                enc = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
            else:
                enc = tokenizer(p, c, padding=True, truncation=True, return_tensors="pt")
            with torch.no_grad():
                logits = model(**{k: v.to(device) for k, v in enc.items()}).logits
            out.append(logits[:, index].double().cpu().numpy())
        return np.concatenate(out)

    return Reward(spec, fingerprint, score)


def load_reward(
    spec: str | RewardFunction,
    *,
    device: Any = None,
    label: str | None = None,
    batch_size: int = 32,
) -> Reward:
    """Turn a reward spec into a :class:`Reward`: a callable, ``module:function``, or a classifier.

    Parameters
    ----------
    spec : str or callable
        * a callable ``f(prompts, completions)`` taking two lists of strings and returning one
          float per completion (used as it is);
        * ``"module:function"`` (imported, with the working folder on the path) or
          ``"path/to/file.py:function"``: the same, from a module;
        * a folder saved with ``save_pretrained`` or a hub id of a transformers
          sequence-classification model: the reward is the raw logit of the only label, of
          label 1 of a two-label model (the positive class by convention), or of ``label``
          (a name from the model's ``id2label`` or an index). The model reads the prompt and
          the completion as a text pair, or through its chat template when it has one.
    device : where a classifier runs (a ``torch.device`` or name; the CPU by default).
    label : which label's logit is the reward (classifiers only).
    batch_size : completions a classifier scores at once.

    A classifier's weights load on the first call; its folder and label are checked now.
    """
    if batch_size < 1:
        raise SampleInputError(f"--reward-batch-size must be at least 1; got {batch_size}.")
    if callable(spec):
        if label is not None:
            raise SampleInputError("--reward-label is only for a reward model, not a function.")
        return Reward(getattr(spec, "__qualname__", repr(spec)), _source_fingerprint(spec), spec)
    if not isinstance(spec, str) or not spec.strip():
        raise SampleInputError("--reward needs module:function, a model folder or a hub id.")
    parsed = _callable_spec(spec)
    if parsed is not None:
        if label is not None:
            raise SampleInputError("--reward-label is only for a reward model, not module:function.")
        fn = _import_callable(spec, *parsed)
        return Reward(spec, _source_fingerprint(fn), fn)
    return _model_reward(spec, device="cpu" if device is None else device, label=label, batch_size=batch_size)


# ----------------------------------------------------------------------------- sampling with checkpoints


@dataclass
class SampledRewards:
    """The rows of the rewards file, in prompt order then sample order, and how the run went.

    Attributes
    ----------
    rows : one dict per completion with the keys of :data:`COLUMNS` and ``completion``.
    complete : False when the run stopped early (``stop_after``); the rows are then those of the finished batches.
    folder : the work folder holding the batches (a rerun resumes from it).
    batches : the number of batches of the whole run.
    batches_sampled : how many of them this call sampled (the others were finished before).
    """

    rows: list[dict[str, Any]]
    complete: bool
    folder: Path
    batches: int
    batches_sampled: int


def _model_fingerprint(name: str) -> Any:
    folder = _local_folder(name)
    if folder is not None and folder.is_dir():
        return {"folder": str(folder.resolve()), "files": _folder_fingerprint(folder)}
    return {"name": name}


def _write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file and a rename: an interruption never leaves half a file."""
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_batch(path: Path, ids: list[str], rows: int) -> list[dict[str, Any]] | None:
    """A finished batch's rows, or None when it is missing or is not the batch expected."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("prompt_ids") != ids or len(doc.get("rows", [])) != rows:
        return None
    return doc["rows"]


def _check_sampling_options(
    samples_per_prompt: int, temperature: float, max_new_tokens: int, seed: int, batch_size: int, stop_after: int | None
) -> None:
    def whole(value: object) -> bool:
        return isinstance(value, int | np.integer) and not isinstance(value, bool)

    if not whole(samples_per_prompt) or samples_per_prompt < 1:
        raise SampleInputError(f"--samples-per-prompt must be at least 1; got {samples_per_prompt}.")
    if not (isinstance(temperature, int | float) and math.isfinite(temperature) and temperature > 0):
        raise SampleInputError(f"--temperature must be a finite number > 0; got {temperature}.")
    if not whole(max_new_tokens) or max_new_tokens < 1:
        raise SampleInputError(f"--max-new-tokens must be at least 1; got {max_new_tokens}.")
    if not whole(seed) or seed < 0:
        raise SampleInputError(f"--seed must be a non-negative integer; got {seed}.")
    if not whole(batch_size) or batch_size < 1:
        raise SampleInputError(f"--batch-size must be at least 1; got {batch_size}.")
    if stop_after is not None and (not whole(stop_after) or stop_after < 1):
        raise SampleInputError(f"--stop-after must be at least 1; got {stop_after}.")


@dataclass
class _Policy:
    """The base model and the prompts' token ids, loaded on first need (a finished run never loads them)."""

    name: str
    device: Any
    chat: bool | None
    prompts: Prompts
    max_new_tokens: int
    model: Any = None
    tokenizer: Any = None
    token_ids: list[list[int]] = field(default_factory=list)

    def load(self, progress: bool) -> None:
        if self.model is not None:
            return
        from alignlimits.lm import models
        from alignlimits.lm.chat import chat_prompts

        try:
            self.model, self.tokenizer = models.load_model(self.name, device=self.device, progress=progress)
        except (OSError, ValueError) as err:  # FileNotFoundError is an OSError
            raise SampleInputError(f"--model {self.name!r}: {err}") from err
        tok = self.tokenizer
        use_chat = bool(getattr(tok, "chat_template", None)) if self.chat is None else self.chat
        if use_chat:
            self.token_ids = chat_prompts(tok, self.prompts.texts)
        else:
            self.token_ids = [list(tok(text)["input_ids"]) for text in self.prompts.texts]
        context = getattr(self.model.config, "max_position_embeddings", None)
        for pid, ids in zip(self.prompts.ids, self.token_ids, strict=True):
            if not ids:
                raise SampleInputError(f"prompt {pid!r} has no tokens; give it some text (or use --chat).")
            if context is not None and len(ids) + self.max_new_tokens > int(context):
                raise SampleInputError(
                    f"prompt {pid!r} has {len(ids)} tokens; with --max-new-tokens {self.max_new_tokens} that "
                    f"exceeds the model's context of {int(context)} tokens."
                )


def sample_rewards(
    model: str,
    prompts: Prompts,
    reward: str | RewardFunction | Reward,
    *,
    samples_per_prompt: int,
    temperature: float = 1.0,
    max_new_tokens: int = 64,
    seed: int = 0,
    batch_size: int = 64,
    device: Any = None,
    chat: bool | None = None,
    reward_label: str | None = None,
    reward_batch_size: int = 32,
    work_dir: str | Path | None = None,
    progress: bool | None = None,
    stop_after: int | None = None,
    log: Callable[[str], None] | None = None,
) -> SampledRewards:
    """Sample completions of every prompt from a causal LM, score them, and return the rewards file's rows.

    This is ``alignlimits sample`` as a function: the way from a model to the input of
    ``alignlimits frontier`` (or :func:`alignlimits.estimator.estimate_frontier`). Batches of
    prompts are checkpointed to a work folder, so an interrupted run loses at most one batch
    and a rerun with the same arguments continues where it stopped, giving the same rows as
    an uninterrupted run (on the same device).

    Parameters
    ----------
    model : str
        What :func:`alignlimits.lm.models.load_model` loads: ``"tiny-gpt2"``,
        ``"smollm2-135m-instruct"``, a folder saved with ``save_pretrained``, or a hub id.
    prompts : Prompts
        From :func:`read_prompts`.
    reward : str, callable or Reward
        See :func:`load_reward`. The reward sees the prompts as written (before any chat
        template) and the decoded completions (special tokens dropped).
    samples_per_prompt : int
        Completions per prompt (tens at least: the frontier is estimated per prompt).
    temperature, max_new_tokens : float, int
        The base policy is ``softmax(logits / temperature)`` with no truncation; a
        completion stops at EOS or after ``max_new_tokens`` tokens.
    seed : int
        Batch ``i`` samples from seed ``SeedSequence(seed, spawn_key=(i,))``.
    batch_size : int
        Completions generated at once; a checkpoint batch holds
        ``max(1, batch_size // samples_per_prompt)`` prompts.
    device : str or torch.device, optional
        ``"cpu"``, ``"cuda"``, ``"auto"``/None (CUDA when present).
    chat : bool, optional
        Apply the tokenizer's chat template (a user turn with the generation prompt); None:
        when the tokenizer has one. Without a template, True writes ``"User: …\\nAssistant:"``.
    reward_label, reward_batch_size
        For a classifier reward, see :func:`load_reward`.
    work_dir : path, optional
        Parent of the work folders (default ``<cache>/sample``, see
        :func:`alignlimits.cache.cache_dir`); the run's folder is named by a hash of its options.
    progress : bool, optional
        Show a progress bar on standard error (None: when it is a terminal).
    stop_after : int, optional
        Sample at most this many batches in this call, then return with ``complete=False``.
    log : callable, optional
        Receives one-line messages (where the work folder is, how many batches were already
        done); None keeps quiet.

    Returns
    -------
    SampledRewards
        Write it with :func:`write_rewards` or :func:`save_rewards`.

    Raises
    ------
    SampleInputError
        For every problem the user can fix, before any batch is written when the problem is
        in the options, the prompts or the reward's spec, and before the faulty batch is
        written when the reward returns the wrong number of values or a non-finite one.
    """
    _check_sampling_options(samples_per_prompt, temperature, max_new_tokens, seed, batch_size, stop_after)
    from alignlimits.lm import models

    try:
        dev = models.resolve_device(device)
    except ValueError as err:
        raise SampleInputError(str(err)) from None
    if isinstance(reward, Reward):
        reward_fn = reward
    else:
        reward_fn = load_reward(reward, device=dev, label=reward_label, batch_size=reward_batch_size)
    say = log or (lambda _message: None)

    key_doc = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "model": _model_fingerprint(model),
        "prompts_sha256": hashlib.sha256(
            json.dumps([prompts.ids, prompts.texts], ensure_ascii=False).encode("utf-8")
        ).hexdigest(),
        "reward": reward_fn.fingerprint,
        "chat": chat,
        "samples_per_prompt": int(samples_per_prompt),
        "temperature": float(temperature),
        "max_new_tokens": int(max_new_tokens),
        "seed": int(seed),
        "batch_size": int(batch_size),
    }
    digest = hashlib.sha256(json.dumps(key_doc, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:16]
    if work_dir is None:
        from alignlimits.cache import cache_dir

        work_dir = cache_dir() / "sample"
    folder = Path(work_dir).expanduser() / digest
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SampleInputError(f"--work-dir: cannot create {str(folder)!r} ({err.strerror or err}).") from None
    options_file = folder / "options.json"
    if not options_file.exists():
        doc = {**key_doc, "model_name": model, "prompts_source": prompts.source, "n_prompts": len(prompts)}
        _write_atomic(options_file, json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")

    per_batch = max(1, int(batch_size) // int(samples_per_prompt))
    starts = list(range(0, len(prompts), per_batch))
    policy = _Policy(model, dev, chat, prompts, int(max_new_tokens))

    import filelock
    from tqdm.auto import tqdm

    lock = filelock.FileLock(folder / "sample.lock")
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise SampleInputError(
            f"another process is sampling into the work folder {str(folder)!r}; wait for it or stop it."
        ) from None
    rows: list[dict[str, Any]] = []
    sampled = 0
    complete = True
    try:
        batches = [(i, s, prompts.ids[s : s + per_batch]) for i, s in enumerate(starts)]
        finished = [
            _read_batch(folder / f"batch-{i:05d}.json", ids, len(ids) * int(samples_per_prompt))
            for i, _, ids in batches
        ]
        done = sum(f is not None for f in finished)
        say(
            f"work folder {folder}: {done} of {len(batches)} batches already done"
            if done
            else f"work folder {folder}: {len(batches)} batches of up to {per_batch} prompt(s)"
        )
        bar = tqdm(total=len(batches), initial=done, desc="sampling", unit="batch", file=sys.stderr,
                   disable=(None if progress is None else not progress), leave=False)  # fmt: skip
        with bar:
            for (i, start, ids), old in zip(batches, finished, strict=True):
                if old is not None:
                    rows.extend(old)
                    continue
                if stop_after is not None and sampled >= stop_after:
                    complete = False  # the batches finished earlier still count
                    continue
                policy.load(progress=progress is not False)
                batch_rows = _sample_batch(policy, reward_fn, start, ids, i, samples_per_prompt, temperature,
                                           max_new_tokens, seed, batch_size)  # fmt: skip
                _write_atomic(
                    folder / f"batch-{i:05d}.json",
                    json.dumps({"prompt_ids": ids, "rows": batch_rows}, ensure_ascii=False) + "\n",
                )
                rows.extend(batch_rows)
                sampled += 1
                bar.update(1)
    except KeyboardInterrupt:
        say(f"interrupted: the finished batches are kept in {folder}; run the same command again to continue")
        raise
    finally:
        lock.release()
    return SampledRewards(rows, complete, folder, len(batches), sampled)


@contextlib.contextmanager
def _without_false_padding_warning() -> Iterator[None]:
    """Drop transformers' "passing in an attention_mask" warning while sampling: a false alarm here.

    The sampler always passes masks; ``generate`` drops a mask of all ones (every row of a
    batch has the same, unpadded prompt) and then mistakes a sampled pad-token id for padding.
    """
    logger = logging.getLogger("transformers.modeling_utils")

    def keep(record: logging.LogRecord) -> bool:
        return "passing in an `attention_mask`" not in record.getMessage()

    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


def _sample_batch(
    policy: _Policy,
    reward: Reward,
    start: int,
    ids: list[str],
    index: int,
    samples_per_prompt: int,
    temperature: float,
    max_new_tokens: int,
    seed: int,
    batch_size: int,
) -> list[dict[str, Any]]:
    """Sample and score one batch of prompts; rows in prompt order, then sample order."""
    from alignlimits.lm import sampling

    tok = policy.tokenizer
    batch_seed = int(np.random.SeedSequence(int(seed), spawn_key=(index,)).generate_state(1)[0])
    with _without_false_padding_warning():
        samples = sampling.sample(
            policy.model,
            policy.token_ids[start : start + len(ids)],
            num_samples=int(samples_per_prompt),
            temperature=float(temperature),
            max_new_tokens=int(max_new_tokens),
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            seed=batch_seed,
            batch_size=int(batch_size),
        )
    texts = samples.texts(tok)
    which = samples.prompt_index.tolist()
    rewards = reward([policy.prompts.texts[start + j] for j in which], texts)
    assert samples.logprobs is not None  # sample(score=True) always scores
    logprobs = samples.logprobs.sum(dim=1).tolist()
    lengths = samples.lengths.tolist()
    return [
        {
            "prompt_id": ids[j],
            "sample": row % int(samples_per_prompt),
            "reward": float(rewards[row]),
            "length": int(lengths[row]),
            "logprob": float(logprobs[row]),
            "completion": texts[row],
        }
        for row, j in enumerate(which)
    ]


# ----------------------------------------------------------------------------- output


def _columns(keep_text: bool) -> tuple[str, ...]:
    return (*COLUMNS, "completion") if keep_text else COLUMNS


def _lines(rows: Sequence[dict[str, Any]], format: str, keep_text: bool) -> Iterator[str]:
    cols = _columns(keep_text)
    if format == "jsonl":
        for row in rows:
            yield json.dumps({c: row[c] for c in cols}, ensure_ascii=False) + "\n"
        return
    if format != "csv":
        raise SampleInputError(f"unknown --format {format!r}; use one of {', '.join(OUTPUT_FORMATS)}.")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(cols)
    for row in rows:
        writer.writerow([repr(row[c]) if isinstance(row[c], float) else row[c] for c in cols])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def write_rewards(
    result: SampledRewards | Sequence[dict[str, Any]],
    out: TextIO,
    *,
    format: str = "csv",  # shadows the builtin on purpose: the CLI flag's name
    keep_text: bool = False,
) -> None:
    """Write the rows as CSV (with a header) or JSON Lines: the file ``alignlimits frontier`` reads.

    Columns :data:`COLUMNS` (``prompt_id`` and ``reward`` are what the frontier uses), then
    ``completion`` with ``keep_text``. Floats are written exactly (``repr``).
    """
    rows = result.rows if isinstance(result, SampledRewards) else result
    for line in _lines(rows, format, keep_text):
        out.write(line)


def save_rewards(
    result: SampledRewards | Sequence[dict[str, Any]],
    path: str | Path,
    *,
    format: str = "csv",  # shadows the builtin on purpose: the CLI flag's name
    keep_text: bool = False,
) -> Path:
    """:func:`write_rewards` to a file, atomically (a reader never sees half a file)."""
    path = Path(path)
    buffer = io.StringIO()
    write_rewards(result, buffer, format=format, keep_text=keep_text)
    _write_atomic(path, buffer.getvalue())
    return path
