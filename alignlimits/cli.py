"""Command-line interface: ``alignlimits sample``, ``alignlimits frontier REWARDS.csv`` and ``alignlimits experiments``.

``sample`` draws completions of prompts from a causal LM, scores them with a reward (a
``module:function`` or a sequence-classification model) and writes the rewards file that
``frontier`` reads, with checkpoints and resume (:mod:`alignlimits.lm.rewards_file` does the
work; ``alignlimits sample ... | alignlimits frontier - --format csv`` goes from a model to
its frontier). ``frontier`` reads rewards of base-model samples (CSV, JSON Lines or Parquet, from a file or
standard input; columns ``reward`` and optionally ``prompt_id``, or others named with
``--reward-column``/``--prompt-column``), estimates the optimal KL–reward frontier with
:mod:`alignlimits.estimator`, and prints it as a table, JSON or CSV. ``experiments`` hands its
arguments to :mod:`alignlimits.experiments.cli` (the same as ``python -m alignlimits.experiments``).

Bad input of any kind ends with exit code 2 and one line ``alignlimits: error: ...`` naming the
problem (and the line of the file); anything else unexpected ends with exit code 1 and one line
asking for a report, never a traceback (``ALIGNLIMITS_DEBUG=1`` re-raises it).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import decimal
import io
import json
import math
import os
import shutil
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn

import numpy as np

from alignlimits import __version__, certify, estimator

__all__ = ["InputError", "main", "read_rewards"]

EXIT_INPUT_ERROR = 2
EXIT_INTERNAL_ERROR = 1

DESCRIPTION = """\
Estimate the optimal KL-reward frontier of KL-regularised alignment from rewards of
samples drawn from your base model. For each KL penalty beta the optimal policy is
the Gibbs tilt pi_beta ~ pi0 exp(r/beta); the frontier point (KL(pi_beta||pi0),
reverse KL, gain E_pi_beta[r] - E_pi0[r], Jeffreys = KL + reverse KL) is estimated
by self-normalised importance weights softmax(r/beta) over each prompt's samples and
averaged over prompts. No policy with that KL from the base model can gain more.
"""

SAMPLE_DESCRIPTION = """\
Sample completions of your prompts from a causal language model (a Hugging Face hub id,
a folder saved with save_pretrained, 'tiny-gpt2' or 'smollm2-135m-instruct'), score them
with a reward, and write the rewards file 'alignlimits frontier' reads: one row per
completion. Finished batches of prompts are kept in a work folder named by a hash of the
options; running the same command again resumes and gives the same file.
"""

SAMPLE_EPILOG = """\
prompts (--prompts)
  .jsonl  one JSON object per line: {"prompt": "...", "id": "p1"} (id optional)
  .csv    a header with a 'prompt' column and, optionally, 'id'
  hf:NAME:SPLIT:COLUMN or hf:NAME:CONFIG:SPLIT:COLUMN
          a Hugging Face dataset split (needs: pip install datasets), e.g. hf:openai/gsm8k:main:test:question
  Without ids the prompts are numbered 0, 1, ... in order; ids must be unique.

reward (--reward)
  module:function or file.py:function
          a Python function f(prompts, completions) taking two lists of strings and
          returning one finite float per completion (the working folder is importable)
  a model folder or hub id
          a sequence-classification model; the reward is the raw logit of its only label,
          of label 1 of a two-label model (the positive class by convention), or of
          --reward-label NAME|INDEX. It reads prompt and completion as a text pair (or its
          chat template, when it has one).

output columns (CSV with a header, or JSON Lines with --format jsonl)
  prompt_id   the prompt's id
  sample      0 .. samples-per-prompt - 1
  reward      the reward of the completion
  length      completion tokens, EOS included
  logprob     log-probability of the completion under the model at --temperature
  completion  the decoded text (only with --keep-text)

checkpoints
  A batch holds max(1, batch-size // samples-per-prompt) prompts. Each finished batch is
  written atomically to WORK_DIR/<hash> (WORK_DIR defaults to ~/.cache/alignlimits/sample,
  or $ALIGNLIMITS_CACHE/sample). After an interruption (Ctrl-C, a killed job) run the same
  command again: finished batches are read back, the rest is sampled from the same seeds.
  --stop-after N samples at most N batches, then stops without writing the output.

examples
  alignlimits sample --model HuggingFaceTB/SmolLM2-135M-Instruct --prompts prompts.jsonl \\
      --reward myrewards:score --samples-per-prompt 64 -o rewards.csv
  alignlimits sample --model tiny-gpt2 --prompts prompts.csv --reward ./reward-model \\
      --samples-per-prompt 32 | alignlimits frontier - --format csv
  alignlimits sample --model ./my-model --prompts hf:openai/gsm8k:main:test[:100]:question \\
      --reward rewards.py:correct --format jsonl -o rewards.jsonl --keep-text

Progress and messages go to standard error; the rewards go to standard output or -o FILE.
exit status: 0 done (or stopped by --stop-after), 2 bad input (one line saying what),
1 internal error (please report it), 130 interrupted (run the command again to resume).
"""

FRONTIER_EPILOG = """\
input file (the format comes from the suffix, or --format; '-' reads standard input)
  .csv    a header row with a 'reward' column and, optionally, 'prompt_id';
          other columns are ignored. Example:
              prompt_id,reward
              p1,0.31
              p1,-1.20
              p2,0.05
  .jsonl  one JSON object per line with the same keys, e.g. {"prompt_id": "p1", "reward": 0.31}
  .parquet  a table with the same columns (needs pyarrow: pip install pyarrow)
  Other column names: --reward-column NAME, --prompt-column NAME.
  Rewards must be finite numbers. Without prompt_id all rows are one prompt.
  Sample several completions per prompt (tens at least): the estimate is per prompt.

output columns (one row per beta, or per KL budget with --kl-budgets)
  beta        KL penalty factor of the tilted policy
  kl          estimated KL(pi_beta || pi0) in nats, averaged over prompts
  reverse_kl  estimated KL(pi0 || pi_beta)
  gain        estimated optimal reward gain over the base model (reward units)
  jeffreys    kl + reverse_kl (= gain / beta)
  ess_min     smallest effective sample size 1/sum(w^2) over prompts (w = weights)
  ess_mean    mean effective sample size over prompts (at most samples per prompt)
  khat        largest PSIS Pareto k-hat over prompts: the tail diagnostic. A prompt
              fails when k-hat > min(1 - 1/log10(n), 0.7). Undefined ('-' in the
              table, null in JSON, nan in CSV) with fewer than 96 samples per prompt
              or when the top rewards tie; then the ESS alone decides.
  reliable_fraction
              fraction of prompts with ess >= --min-ess and k-hat below threshold
              (k-hat is not held against a prompt whose weights all lie within a
              factor e of each other, i.e. (max r - min r)/beta <= 1)
  reliable    reliable_fraction >= --min-reliable-fraction (default 0.9)
  gain_ci_low, gain_ci_high, kl_ci_low, kl_ci_high
              percentile bootstrap interval (only with --bootstrap N)
  certified_low, certified_high
              distribution-free bounds on the optimal gain at the row's KL budget
              (kl_budget, else kl), valid at --level for every finite n and every
              reward law within --reward-range, all rows (and prompts) at once
              (only with --certify). Without a known range no such bound exists.
  The plug-in KL can never exceed log(samples per prompt): budgets beyond the
  ceiling are refused. Estimates are biased low by O(1/n); trust reliable rows.

examples
  alignlimits frontier rewards.csv
  alignlimits frontier rewards.csv --betas 0.1,0.3,1,3 --bootstrap 1000 --seed 0 --json
  alignlimits frontier rewards.jsonl --kl-budgets 0.5,1,2 --csv > gains.csv
  alignlimits frontier rewards.csv --kl-budgets 0.1,0.5 --certify --reward-range 0,1 --level 0.95
  alignlimits frontier rewards.csv --certify --reward-range=-1,1   (a negative bound needs '=')
  alignlimits frontier rewards.csv --beta-min 0.05 --beta-max 5 --num 40 --plot frontier.png
  cat rewards.csv | alignlimits frontier - --format csv
  alignlimits frontier scores.parquet --reward-column score --prompt-column question
  python -m alignlimits frontier rewards.csv   (same thing)

JSON output (--json) carries "schema": "alignlimits.cli.frontier", "schema_version", the
"alignlimits_version" and "options": every option that changes the numbers.
exit status: 0 done, 2 bad input (one line saying what), 1 internal error (please report it).
"""


class InputError(ValueError):
    """Malformed input file or arguments; the message is one line for the user."""


# ----------------------------------------------------------------------------- reading

#: Input formats and the file suffixes that imply them (``--format`` overrides the suffix).
FORMATS = ("csv", "jsonl", "parquet")
SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
STDIN = "-"
STDIN_NAME = "<stdin>"
STDOUT = "-"
DEFAULT_REWARD_COLUMN = "reward"
DEFAULT_PROMPT_COLUMN = "prompt_id"


def _parse_reward(value: object, where: str, column: str = DEFAULT_REWARD_COLUMN) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(f"{where}: {column} is empty; every row needs a finite number.")
    if isinstance(value, bool) or not isinstance(value, str | int | float | decimal.Decimal):
        raise InputError(f"{where}: {column} {value!r} is not a number.")
    try:
        x = float(value)
    except ValueError:
        raise InputError(f"{where}: {column} {value!r} is not a number.") from None
    except OverflowError:  # an integer too large for a float (JSON allows any integer)
        raise InputError(f"{where}: {column} is too large for a float; rewards must be finite.") from None
    if not math.isfinite(x):
        raise InputError(f"{where}: {column} is {value!r}; rewards must be finite (no NaN or inf).")
    return x


def _parse_prompt(value: object, where: str, column: str = DEFAULT_PROMPT_COLUMN) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(f"{where}: {column} is empty; give every row a prompt id or drop the column.")
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{where}: {column} is {value!r}.")
    # default=str: Parquet can hold bytes, dates and decimals, which JSON cannot spell
    return str(value).strip() if isinstance(value, str) else json.dumps(value, default=str)


def _found(names: Sequence[object]) -> str:
    return ", ".join(repr(str(n)) for n in names) or "none"


def _check_header(names: Sequence[str], where: str, reward_column: str, prompt_column: str | None) -> bool:
    """Check that a table header has the reward column (and an asked-for prompt column) exactly once.

    Returns whether the prompt column is there: with the default prompt column its absence
    means one prompt, but a column named with ``--prompt-column`` must exist.
    """
    wanted = [(reward_column, "--reward-column"), (prompt_column or DEFAULT_PROMPT_COLUMN, "--prompt-column")]
    for i, (name, flag) in enumerate(wanted):
        if names.count(name) > 1:
            raise InputError(f"{where}: column {name!r} appears {names.count(name)} times; keep one.")
        if name not in names and (i == 0 or prompt_column is not None):
            raise InputError(f"{where}: no {name!r} column (found: {_found(names)}); name the column with {flag}.")
    return prompt_column is not None or DEFAULT_PROMPT_COLUMN in names


def _read_csv(
    text: str,
    name: str,
    reward_column: str = DEFAULT_REWARD_COLUMN,
    prompt_column: str | None = None,
) -> tuple[list[float], list[str] | None]:
    reader = csv.DictReader(io.StringIO(text))
    try:
        fieldnames = reader.fieldnames
        if not fieldnames:
            raise InputError(f"{name}: the file is empty; expected a header line with a {reward_column!r} column.")
        fields = [f.strip() if f else f for f in fieldnames]
        has_prompt = _check_header(fields, f"{name} line 1", reward_column, prompt_column)
        prompt_key = prompt_column if prompt_column is not None else DEFAULT_PROMPT_COLUMN
        reader.fieldnames = fields
        rewards: list[float] = []
        prompts: list[str] = []
        for row in reader:
            where = f"{name} line {reader.line_num}"
            if None in row:
                raise InputError(f"{where}: more fields than the header has columns.")
            if all(v is None or not str(v).strip() for v in row.values()):
                continue  # a blank line
            rewards.append(_parse_reward(row.get(reward_column), where, reward_column))
            if has_prompt:
                prompts.append(_parse_prompt(row.get(prompt_key), where, prompt_key))
    except csv.Error as err:  # a NUL byte, an unterminated quote at the end, a field over the size limit
        # reader.reader's count: DictReader's own line_num still names the last good row
        raise InputError(f"{name} line {reader.reader.line_num}: not valid CSV ({err}).") from None
    return rewards, (prompts if has_prompt else None)


def _no_duplicate_keys(where: str, keys: tuple[str, ...]) -> Callable[[list[tuple[str, object]]], dict]:
    """A ``json`` object hook that refuses a repeated reward or prompt key (``json`` keeps the last silently)."""

    def hook(pairs: list[tuple[str, object]]) -> dict:
        names = [k for k, _ in pairs]
        for key in keys:
            if names.count(key) > 1:
                raise InputError(f"{where}: key {key!r} appears {names.count(key)} times; keep one.")
        return dict(pairs)

    return hook


def _read_jsonl(
    text: str,
    name: str,
    reward_column: str = DEFAULT_REWARD_COLUMN,
    prompt_column: str | None = None,
) -> tuple[list[float], list[str] | None]:
    prompt_key = prompt_column if prompt_column is not None else DEFAULT_PROMPT_COLUMN
    rewards: list[float] = []
    prompts: list[str | None] = []
    line_numbers: list[int] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name} line {line_no}"
        try:
            obj = json.loads(line, object_pairs_hook=_no_duplicate_keys(where, (reward_column, prompt_key)))
        except json.JSONDecodeError as err:
            raise InputError(f"{where}: not valid JSON ({err.msg}).") from None
        except InputError:
            raise
        except ValueError as err:  # e.g. an integer of more than 4300 digits
            raise InputError(f"{where}: not valid JSON ({' '.join(str(err).split())}).") from None
        except RecursionError:
            raise InputError(f"{where}: not valid JSON (nested too deeply).") from None
        if not isinstance(obj, dict):
            raise InputError(f"{where}: expected a JSON object like {{{json.dumps(reward_column)}: 0.5}}.")
        if reward_column not in obj:
            hint = "" if reward_column != DEFAULT_REWARD_COLUMN else "; name the key with --reward-column"
            raise InputError(f"{where}: no {reward_column!r} key (found: {', '.join(obj) or 'none'}){hint}.")
        rewards.append(_parse_reward(obj[reward_column], where, reward_column))
        if prompt_key in obj:
            prompts.append(_parse_prompt(obj[prompt_key], where, prompt_key))
        elif prompt_column is not None:
            raise InputError(f"{where}: no {prompt_column!r} key (found: {', '.join(obj) or 'none'}).")
        else:
            prompts.append(None)
        line_numbers.append(line_no)
    with_id = [p is not None for p in prompts]
    if any(with_id) and not all(with_id):
        first = with_id.index(False) if with_id[0] else with_id.index(True)
        raise InputError(f"{name} line {line_numbers[first]}: {prompt_key} is given on some lines but not on others.")
    return rewards, ([str(p) for p in prompts] if prompts and all(with_id) else None)


def _read_parquet(
    data: bytes | Path,
    name: str,
    reward_column: str = DEFAULT_REWARD_COLUMN,
    prompt_column: str | None = None,
) -> tuple[list[float] | np.ndarray, list[str] | None]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError("reading Parquet needs pyarrow, which is not installed: pip install pyarrow") from None
    try:
        source = pa.BufferReader(data) if isinstance(data, bytes) else str(data)
        table = pq.read_table(source)
    except (pa.ArrowException, OSError, ValueError) as err:
        raise InputError(f"{name}: not a readable Parquet file ({' '.join(str(err).split())}).") from None
    names = list(table.column_names)
    has_prompt = _check_header(names, name, reward_column, prompt_column)
    prompt_key = prompt_column if prompt_column is not None else DEFAULT_PROMPT_COLUMN
    column = table.column(reward_column)
    rewards: list[float] | np.ndarray
    if (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)) and column.null_count == 0:
        # the fast path for the usual case; only its non-finite values need a row number
        rewards = column.to_numpy().astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(rewards))
        if bad.size:
            _parse_reward(float(rewards[bad[0]]), f"{name} row {bad[0] + 1}", reward_column)
    else:
        rewards = [_parse_reward(v, f"{name} row {i}", reward_column) for i, v in enumerate(column.to_pylist(), 1)]
    prompts = None
    if has_prompt:
        values = table.column(prompt_key).to_pylist()
        prompts = [_parse_prompt(v, f"{name} row {i}", prompt_key) for i, v in enumerate(values, 1)]
    return rewards, prompts


def _format_of(path: str, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise InputError(f"unknown --format {fmt!r}; use one of {', '.join(FORMATS)}.")
        return fmt
    if path == STDIN:
        raise InputError(f"reading standard input ('-') needs --format {{{','.join(FORMATS)}}}.")
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(
            f"{path}: cannot tell the file type from the suffix {suffix or '(none)'!r}; "
            "use a .csv or .jsonl (or .parquet) file, or give --format."
        )
    return SUFFIXES[suffix]


def _read_bytes(path: str) -> bytes:
    if path == STDIN:
        if sys.stdin is None or sys.stdin.closed:
            raise InputError("standard input is closed; give a file name instead of '-'.")
        if sys.stdin.isatty():  # reading a terminal would wait for typing that never comes
            raise InputError("standard input is a terminal; pipe the rewards in, e.g. cat rewards.csv | ... -")
        buffer = getattr(sys.stdin, "buffer", None)
        # a text-only stream (some notebook kernels and test harnesses) has no byte buffer
        return buffer.read() if buffer is not None else sys.stdin.read().encode("utf-8")
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{p}: no such file.") from None
    except IsADirectoryError:
        raise InputError(f"{p}: is a directory; give a rewards file.") from None
    except NotADirectoryError:
        raise InputError(f"{p}: no such file (a part of the path is not a folder).") from None
    except PermissionError:
        raise InputError(f"{p}: permission denied; cannot read it.") from None
    except OSError as err:
        raise InputError(f"{p}: cannot read it ({err.strerror or err}).") from None


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        byte = data[err.start : err.start + 1].hex()
        raise InputError(
            f"{name}: not UTF-8 text (byte 0x{byte} at offset {err.start}); save it as UTF-8, "
            "or give --format parquet for a Parquet file."
        ) from None


def read_rewards(
    path: str | Path,
    *,
    format: str | None = None,  # shadows the builtin on purpose: the CLI flag's name
    reward_column: str = DEFAULT_REWARD_COLUMN,
    prompt_column: str | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Read base-model rewards and their prompt ids from a CSV, JSON Lines or Parquet file.

    Parameters
    ----------
    path : str or Path
        The file, or ``"-"`` for standard input (then ``format`` is required).
    format : {"csv", "jsonl", "parquet"}, optional
        The file format; by default inferred from the suffix (.csv, .jsonl/.ndjson, .parquet/.pq).
    reward_column : str
        The column (CSV, Parquet) or key (JSON Lines) holding the reward.
    prompt_column : str, optional
        The column of prompt ids, which must then exist. By default ``prompt_id`` is used when
        present; without it all rows are one prompt.

    Returns
    -------
    rewards : ndarray of float64, shape (N,)
    prompt_ids : ndarray of str, shape (N,), or None

    Raises
    ------
    InputError
        For a missing, unreadable or malformed file, with the file name and line (or row) number.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "r.csv"
    >>> _ = f.write_text("prompt_id,reward\\np1,0.5\\np1,1.5\\n")
    >>> rewards, ids = read_rewards(f)
    >>> rewards.tolist(), ids.tolist()
    ([0.5, 1.5], ['p1', 'p1'])
    """
    path = str(path)
    if not reward_column:
        raise InputError("--reward-column needs a column name.")
    if prompt_column is not None and not prompt_column:
        raise InputError("--prompt-column needs a column name.")
    if prompt_column is not None and prompt_column == reward_column:
        raise InputError(f"--reward-column and --prompt-column are both {reward_column!r}; they must differ.")
    if not path:
        raise InputError("REWARDS is empty; give a file name, or '-' for standard input.")
    name = STDIN_NAME if path == STDIN else path
    if path != STDIN:  # a missing file or a folder says so before its suffix is judged
        p = Path(path)
        try:
            is_dir, exists = p.is_dir(), p.exists()
        except OSError:  # e.g. a folder on the way we may not enter: reading it below says which
            is_dir, exists = False, True
        if is_dir:
            raise InputError(f"{p}: is a directory; give a rewards file.")
        if not exists:
            raise InputError(f"{p}: no such file.")
    fmt = _format_of(path, format)
    if fmt == "parquet":
        try:  # fail on a missing pyarrow before reading (possibly all of standard input)
            import pyarrow  # noqa: F401
        except ImportError:
            raise InputError("reading Parquet needs pyarrow, which is not installed: pip install pyarrow") from None
    data = _read_bytes(path)
    if not data and fmt != "csv":  # the CSV reader says the same, naming the header it expected
        raise InputError(f"{name}: the file is empty; expected one reward per {'line' if fmt == 'jsonl' else 'row'}.")
    if fmt == "parquet":
        rewards, prompts = _read_parquet(data, name, reward_column, prompt_column)
    else:
        reader = _read_csv if fmt == "csv" else _read_jsonl
        rewards, prompts = reader(_decode(data, name), name, reward_column, prompt_column)
    if len(rewards) == 0:
        raise InputError(f"{name}: no data rows; expected one reward per line after the header.")
    return np.asarray(rewards, dtype=np.float64), (None if prompts is None else np.asarray(prompts))


# ----------------------------------------------------------------------------- arguments


def number_list(kind: type = float) -> Callable[[str], list]:
    """An argparse ``type`` parsing ``"1,2,3"`` into a non-empty list of ``kind`` (a clear error otherwise)."""

    def parse(text: str) -> list:
        try:
            values = [kind(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
        if not values:
            raise argparse.ArgumentTypeError("expected at least one number")
        if not all(math.isfinite(v) for v in values):  # float() accepts 'nan' and 'inf'
            raise argparse.ArgumentTypeError(f"expected finite numbers, got {text!r}")
        return values

    return parse


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``alignlimits: error: ...`` and exit status 2."""

    def error(self, message: str) -> NoReturn:
        # the same prefix as every other bad-input error; the help named is the subcommand's
        self.exit(EXIT_INPUT_ERROR, f"alignlimits: error: {message} (see {self.prog} --help)\n")


def finite_float(text: str) -> float:
    """An argparse ``type``: a finite float (``float`` alone accepts 'nan' and 'inf')."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="alignlimits",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'alignlimits frontier --help' for the file format, columns and examples, "
        "'alignlimits sample --help' to make the rewards file from a model, and "
        "'alignlimits experiments --help' for the book's language-model experiments.",
    )
    parser.add_argument("--version", action="version", version=f"alignlimits {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    fr = sub.add_parser(
        "frontier",
        help="estimate the optimal KL-reward frontier from base-model rewards",
        description=DESCRIPTION,
        epilog=FRONTIER_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fr.add_argument(
        "rewards", metavar="REWARDS", help="a .csv, .jsonl or .parquet file of base-model rewards, or - for stdin"
    )
    inp = fr.add_argument_group("input")
    inp.add_argument(
        "--format",
        choices=FORMATS,
        help="the input format (default: from the file's suffix; required with -); parquet needs pyarrow",
    )
    inp.add_argument(
        "--reward-column",
        default=DEFAULT_REWARD_COLUMN,
        metavar="NAME",
        help=f"the column (or JSON key) holding the reward (default {DEFAULT_REWARD_COLUMN!r})",
    )
    inp.add_argument(
        "--prompt-column",
        default=None,
        metavar="NAME",
        help=f"the column of prompt ids (default {DEFAULT_PROMPT_COLUMN!r} when present, else all rows are "
        "one prompt); a column named here must exist",
    )
    grid = fr.add_argument_group("where to evaluate (default: 20 betas from 0.1 sd to 10 sd, log-spaced)")
    grid.add_argument("--betas", type=number_list(float), help="comma-separated KL penalty factors, e.g. 0.1,0.5,2")
    grid.add_argument("--beta-min", type=finite_float, help="smallest beta of a log-spaced grid")
    grid.add_argument("--beta-max", type=finite_float, help="largest beta of a log-spaced grid")
    grid.add_argument("--num", type=int, default=20, help="number of betas in the log-spaced grid (default 20)")
    grid.add_argument(
        "--kl-budgets", type=number_list(float), help="comma-separated KL budgets in nats: report the gain at each"
    )
    unc = fr.add_argument_group("uncertainty and diagnostics")
    unc.add_argument("--bootstrap", type=int, default=0, metavar="N", help="bootstrap replicates for intervals")
    unc.add_argument(
        "--level",
        type=finite_float,
        default=0.95,
        help="level of bootstrap intervals and certified bounds (default 0.95)",
    )
    unc.add_argument(
        "--certify",
        action="store_true",
        help="add distribution-free bounds on the optimal gain (certified_low/high); needs --reward-range",
    )
    unc.add_argument(
        "--reward-range",
        type=number_list(float),
        metavar="A,B",
        help="a range the reward is known to lie in, e.g. 0,1 for a probability (with --certify)",
    )
    unc.add_argument("--seed", type=int, default=0, help="seed of the bootstrap generator (default 0)")
    unc.add_argument(
        "--min-ess",
        type=finite_float,
        default=estimator.DEFAULT_MIN_ESS,
        help=f"ESS a prompt needs to count as reliable (default {estimator.DEFAULT_MIN_ESS:g})",
    )
    unc.add_argument(
        "--min-reliable-fraction",
        type=finite_float,
        default=estimator.DEFAULT_MIN_RELIABLE_FRACTION,
        help="fraction of reliable prompts a row needs to be 'reliable' (default "
        f"{estimator.DEFAULT_MIN_RELIABLE_FRACTION:g})",
    )
    unc.add_argument(
        "--bias-correction",
        action="store_true",
        help="subtract the estimated first-order O(1/n) bias from each prompt's estimate (worth it with many "
        "prompts; KL budgets are still solved with the uncorrected KL)",
    )
    out = fr.add_argument_group("output (default: a table on the terminal)")
    fmt = out.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON: a summary and one object per row")
    fmt.add_argument("--csv", action="store_true", help="print CSV, one row per beta (nan = undefined)")
    out.add_argument("--plot", metavar="FILE.png", help="also save a figure of the frontier")
    _add_sample_parser(sub)
    _add_overlay_parser(sub)
    # Listed here for --help; main() hands everything after 'experiments' to the experiments'
    # own parser unparsed, so its options and help are its own.
    sub.add_parser(
        "experiments",
        help="run the book's language-model experiments: alignlimits experiments {frontier,rl} --help "
        "(the same as python -m alignlimits.experiments)",
        add_help=False,
    )
    return parser


def _add_overlay_parser(sub: argparse._SubParsersAction) -> None:
    ov = sub.add_parser(
        "overlay",
        help="place a training log (TRL trainer_state.json, or a CSV of kl,reward) on the frontier of base rewards",
        description=(
            "Read a training log and the base samples' rewards of the same reward function, estimate the frontier "
            "from the rewards, and print each logged step's KL, gain over the base mean, the estimated limit at its "
            "KL, its share of that limit and whether the frontier is reliable there. TRL's per-token 'kl' is turned "
            "into the sequence KL by multiplying with 'completions/mean_length'. The limit is the plug-in frontier, "
            "biased low, so shares are biased up."
        ),
    )
    ov.add_argument("log", help="trainer_state.json (TRL/transformers) or a .csv with columns kl,reward[,step]")
    ov.add_argument("rewards", help="the base rewards file (as for 'frontier'); '-' reads standard input")
    ov.add_argument("--format", choices=("csv", "jsonl", "parquet"), default=None,
                    help="format of the rewards file (default: from its suffix; required with '-')")  # fmt: skip
    ov.add_argument("--reward-column", default=DEFAULT_REWARD_COLUMN, help="reward column of the rewards file")
    ov.add_argument("--prompt-column", default=None, help="prompt-id column (default: prompt_id when present)")
    out = ov.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON: one object per logged step")
    out.add_argument("--csv", action="store_true", help="print CSV, one row per logged step")
    ov.add_argument("--plot", metavar="FILE.png", help="also save a figure: the frontier and the logged path")


def _run_overlay(args: argparse.Namespace) -> None:
    from alignlimits import overlay

    if args.plot is not None:
        _check_plot_path(args.plot)
    try:
        points = overlay.read_training_log(args.log)
    except ValueError as err:
        raise InputError(str(err)) from None
    rewards, prompts = read_rewards(
        args.rewards, format=args.format, reward_column=args.reward_column, prompt_column=args.prompt_column
    )
    placed, fit = overlay.overlay(points, rewards, prompts)
    fields = ("step", "kl", "reward", "gain", "limit", "share", "reliable")
    rows = [{f: getattr(p, f) for f in fields} for p in placed]
    if args.json:
        doc = {"schema": "alignlimits.overlay", "schema_version": 1, "alignlimits_version": __version__,
               "log": str(args.log), "rewards": str(args.rewards), "base_mean": fit.base_mean,
               "kl_ceiling": fit.kl_ceiling,
               "rows": [{f: _json_value(r[f]) for f in fields} for r in rows]}  # fmt: skip
        json.dump(doc, sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
    elif args.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        print(f"base mean reward {fit.base_mean:.4g}; the frontier is estimable up to KL {fit.kl_ceiling:.3g} nats")
        print(f"{'step':>6} {'KL':>8} {'reward':>9} {'gain':>9} {'limit':>9} {'share':>7}  reliable")
        for r in rows:
            print(f"{r['step']:6d} {r['kl']:8.3f} {r['reward']:9.4f} {r['gain']:+9.4f} {r['limit']:9.4f} "
                  f"{r['share']:7.3f}  {'yes' if r['reliable'] else 'no'}")  # fmt: skip
    if args.plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        overlay.plot_overlay(ax, fit, placed, label=Path(args.log).name)
        try:
            fig.savefig(args.plot, dpi=150, bbox_inches="tight")
        except OSError as err:
            raise InputError(f"--plot: cannot write {args.plot!r} ({err.strerror or err}).") from None
        finally:
            plt.close(fig)


def _add_sample_parser(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser(
        "sample",
        help="sample completions from a model, score them, and write the rewards file 'frontier' reads",
        description=SAMPLE_DESCRIPTION,
        epilog=SAMPLE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = sp.add_argument_group("what to sample and score")
    what.add_argument("--model", required=True, metavar="NAME", help="a hub id, a model folder, or 'tiny-gpt2'")
    what.add_argument(
        "--prompts", required=True, metavar="SOURCE", help="a .jsonl or .csv file, or hf:NAME:SPLIT:COLUMN"
    )
    what.add_argument(
        "--reward", required=True, metavar="SPEC", help="module:function, file.py:function, or a reward-model folder/id"
    )
    what.add_argument(
        "--reward-label", metavar="LABEL", help="which label's logit a reward model gives (name or index)"
    )
    how = sp.add_argument_group("sampling")
    how.add_argument("--samples-per-prompt", type=int, default=32, metavar="N", help="completions per prompt (32)")
    how.add_argument("--temperature", type=finite_float, default=1.0, metavar="T", help="sampling temperature (1)")
    how.add_argument("--max-new-tokens", type=int, default=64, metavar="N", help="completion length limit (64)")
    how.add_argument("--seed", type=int, default=0, help="seed of the samples (default 0)")
    how.add_argument("--batch-size", type=int, default=64, metavar="N", help="completions generated at once (64)")
    how.add_argument(
        "--reward-batch-size", type=int, default=32, metavar="N", help="completions a reward model scores at once (32)"
    )
    how.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: CUDA when present)")
    how.add_argument(
        "--chat",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="wrap each prompt in the chat template as a user turn (default: when the tokenizer has one)",
    )
    run = sp.add_argument_group("checkpoints and output")
    run.add_argument("--work-dir", metavar="DIR", help="where the work folders go (default <cache>/sample)")
    run.add_argument("--stop-after", type=int, metavar="N", help="sample at most N batches now, then stop")
    run.add_argument("-o", "--output", default=STDOUT, metavar="FILE", help="the rewards file (default -: stdout)")
    run.add_argument(
        "--format",
        choices=("csv", "jsonl"),
        help="output format (default: from the -o suffix, else csv)",
    )
    run.add_argument("--keep-text", action="store_true", help="add the completion text as a column")
    run.add_argument("--quiet", action="store_true", help="no progress bar or messages on stderr")


def _check_output_path(path: str, flag: str) -> None:
    """Refuse an output file that cannot be written, before minutes of sampling are spent."""
    target = Path(path)
    folder = target.parent
    try:
        if target.is_dir():
            raise InputError(f"{flag} {path!r} is a directory; give a file name.")
        if not folder.exists():
            raise InputError(f"{flag}: the folder {str(folder)!r} does not exist; create it first.")
        if not folder.is_dir():
            raise InputError(f"{flag}: {str(folder)!r} is not a folder.")
        writable = os.access(folder, os.W_OK | os.X_OK) and (not target.exists() or os.access(target, os.W_OK))
    except PermissionError:
        writable = False
    if not writable:
        raise InputError(f"{flag}: permission denied; cannot write {path!r}.")


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send whatever is printed to standard output to standard error for the block.

    Standard output carries the rewards file (often into a pipe); libraries that print
    while loading (the tokenizer trainer writes progress to file descriptor 1 from Rust)
    must not corrupt it. Both Python's ``sys.stdout`` and, where it is a real file, the
    descriptor underneath are redirected.
    """
    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
        err_fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # a stream without a descriptor (tests, notebooks)
        fd = err_fd = -1
    saved = os.dup(fd) if fd >= 0 else -1
    try:
        if saved >= 0:
            os.dup2(err_fd, fd)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        if saved >= 0:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)


def _run_sample(args: argparse.Namespace) -> None:
    # Imported here: torch and transformers load only for this command (--help stays light).
    from alignlimits.lm import rewards_file

    if not args.output:
        raise InputError("-o/--output needs a file name, or '-' for standard output.")
    to_stdout = args.output == STDOUT
    fmt = args.format or ("jsonl" if not to_stdout and SUFFIXES.get(Path(args.output).suffix.lower()) == "jsonl"
                          else "csv")  # fmt: skip
    if not to_stdout:
        _check_output_path(args.output, "-o/--output")
    say = (lambda _m: None) if args.quiet else (lambda m: print(f"alignlimits: {m}", file=sys.stderr, flush=True))
    prompts = rewards_file.read_prompts(args.prompts)
    with _stdout_to_stderr():
        result = rewards_file.sample_rewards(
            args.model,
            prompts,
            args.reward,
            samples_per_prompt=args.samples_per_prompt,
            temperature=args.temperature,
            max_new_tokens=args.max_new_tokens,
            seed=args.seed,
            batch_size=args.batch_size,
            device=args.device,
            chat=args.chat,
            reward_label=args.reward_label,
            reward_batch_size=args.reward_batch_size,
            work_dir=args.work_dir,
            progress=False if args.quiet else None,
            stop_after=args.stop_after,
            log=say,
        )
    if not result.complete:
        say(
            f"stopped after {result.batches_sampled} batch(es) as asked (--stop-after): {len(result.rows)} of "
            f"{len(prompts) * args.samples_per_prompt} rows done, nothing written yet; run the same command again "
            "to continue (without --stop-after to finish)."
        )
        return
    if to_stdout:
        rewards_file.write_rewards(result, sys.stdout, format=fmt, keep_text=args.keep_text)
    else:
        try:
            rewards_file.save_rewards(result, args.output, format=fmt, keep_text=args.keep_text)
        except OSError as err:  # the folder vanished or the disk filled since the check
            raise InputError(f"-o/--output: cannot write {args.output!r} ({err.strerror or err}).") from None
    say(f"wrote {len(result.rows)} rows ({len(prompts)} prompts x {args.samples_per_prompt} samples) to "
        f"{'standard output' if to_stdout else args.output}")  # fmt: skip


def _beta_grid(args: argparse.Namespace, rewards: np.ndarray, prompts: np.ndarray | None) -> np.ndarray:
    if args.betas is not None and (args.beta_min is not None or args.beta_max is not None):
        raise InputError("give either --betas or --beta-min/--beta-max, not both.")
    if args.betas is not None:
        return np.asarray(args.betas, dtype=np.float64)
    if args.num < 1:
        raise InputError(f"--num must be at least 1; got {args.num}.")
    if prompts is None:
        sd = float(np.std(rewards))
    else:
        _, inv = np.unique(prompts, return_inverse=True)
        means = np.bincount(inv, weights=rewards) / np.bincount(inv)
        sd = float(np.sqrt(np.mean((rewards - means[inv]) ** 2)))
    if sd == 0 and (args.beta_min is None or args.beta_max is None):
        raise InputError("every prompt's rewards are constant: there is no gain to estimate.")
    lo = args.beta_min if args.beta_min is not None else 0.1 * sd
    hi = args.beta_max if args.beta_max is not None else 10.0 * sd
    if not (lo > 0 and hi >= lo and math.isfinite(hi)):
        raise InputError(f"need 0 < --beta-min <= --beta-max < inf; got {lo} and {hi}.")
    return np.geomspace(lo, hi, args.num)


# ----------------------------------------------------------------------------- computing


def _reliability(args: argparse.Namespace) -> dict[str, float]:
    return {
        "min_ess": args.min_ess,
        "min_reliable_fraction": args.min_reliable_fraction,
        "bias_correction": args.bias_correction,
    }


def _frontier_rows(args: argparse.Namespace, rewards: np.ndarray, prompts: np.ndarray | None) -> tuple[list, dict]:
    rng = np.random.default_rng(args.seed)
    if args.kl_budgets is not None:
        if args.betas is not None or args.beta_min is not None or args.beta_max is not None:
            raise InputError("give either --kl-budgets or a beta grid, not both.")
        budget = estimator.gain_at_budget(rewards, args.kl_budgets, prompts)
        fit = estimator.estimate_frontier(rewards, budget.beta, prompts, **_reliability(args))
        rows = fit.rows()
        for row, eps in zip(rows, budget.kl_budget, strict=True):
            row["kl_budget"] = float(eps)
        if args.bootstrap:
            low, high = estimator.bootstrap_gain_at_budget(
                rewards, budget.kl_budget, prompts, n_boot=args.bootstrap, level=args.level, rng=rng
            )
            for row, lo, hi in zip(rows, low, high, strict=True):
                row["gain_ci_low"], row["gain_ci_high"] = float(lo), float(hi)
    else:
        betas = _beta_grid(args, rewards, prompts)
        fit = estimator.estimate_frontier(rewards, betas, prompts, **_reliability(args))
        rows = fit.rows()
        if args.bootstrap:
            ci = estimator.bootstrap_frontier(rewards, betas, prompts, n_boot=args.bootstrap, level=args.level, rng=rng)
            for i, row in enumerate(rows):
                row["gain_ci_low"], row["gain_ci_high"] = float(ci.gain_low[i]), float(ci.gain_high[i])
                row["kl_ci_low"], row["kl_ci_high"] = float(ci.kl_low[i]), float(ci.kl_high[i])
    certified = _certify_rows(args, rows, rewards, prompts)
    summary = {
        "file": str(args.rewards),
        "n_samples": int(rewards.size),
        "n_prompts": int(fit.n_samples.size),
        "samples_per_prompt_min": int(fit.n_samples.min()),
        "kl_ceiling": fit.kl_ceiling,
        "base_mean": fit.base_mean,
        "bootstrap": int(args.bootstrap),
        "level": float(args.level) if args.bootstrap else None,
        "seed": int(args.seed) if args.bootstrap else None,
        "certify": certified,
        "options": _options(args, prompts),
    }
    return rows, summary


def _reward_range(args: argparse.Namespace) -> tuple[float, float] | None:
    if args.reward_range is None:
        if args.certify:
            raise InputError(
                "--certify needs --reward-range A,B, a range the reward is known to lie in: "
                "without one no finite-sample bound on the gain exists."
            )
        return None
    if not args.certify:
        raise InputError("--reward-range is used only with --certify.")
    if len(args.reward_range) != 2:
        raise InputError(f"--reward-range needs two numbers A,B; got {len(args.reward_range)}.")
    return float(args.reward_range[0]), float(args.reward_range[1])


def _certify_rows(args: argparse.Namespace, rows: list, rewards: np.ndarray, prompts: np.ndarray | None) -> dict | None:
    reward_range = _reward_range(args)
    if reward_range is None:
        return None
    budgets = np.array([row.get("kl_budget", row["kl"]) for row in rows], dtype=np.float64)
    bound = certify.certified_gain(rewards, budgets, reward_range, level=args.level, prompt_ids=prompts)
    for row, lo, hi in zip(rows, bound.lower, bound.upper, strict=True):
        row["certified_low"], row["certified_high"] = float(lo), float(hi)
    return {
        "level": float(args.level),
        "reward_range": list(reward_range),
        "band_width_max": float(np.max(bound.band_width)),
        "method": bound.method,
    }


COLUMNS = (
    "kl_budget",
    "beta",
    "kl",
    "reverse_kl",
    "gain",
    "jeffreys",
    "ess_min",
    "ess_mean",
    "khat",
    "reliable_fraction",
    "reliable",
)
CI_COLUMNS = ("gain_ci_low", "gain_ci_high", "kl_ci_low", "kl_ci_high")
CERTIFIED_COLUMNS = ("certified_low", "certified_high")


def _columns(rows: list[dict]) -> list[str]:
    return [c for c in (*COLUMNS, *CI_COLUMNS, *CERTIFIED_COLUMNS) if c in rows[0]]


def _json_value(v: object) -> object:
    return None if isinstance(v, float) and not math.isfinite(v) else v


#: The JSON document's identity: a reader checks ``schema`` and ``schema_version`` (bumped when a
#: key changes meaning or disappears; new keys alone do not bump it).
JSON_SCHEMA = "alignlimits.cli.frontier"
JSON_SCHEMA_VERSION = 1


def _options(args: argparse.Namespace, prompts: np.ndarray | None) -> dict[str, object]:
    """Every option that changes the numbers, as given (None where not given), for the JSON output."""

    def floats(values: list | None) -> list[float] | None:
        return None if values is None else [float(v) for v in values]

    return {
        "format": args.input_format,
        "reward_column": args.reward_column,
        # the column actually used: None when the rows are one prompt
        "prompt_column": (args.prompt_column or DEFAULT_PROMPT_COLUMN) if prompts is not None else None,
        "betas": floats(args.betas),
        "beta_min": args.beta_min,
        "beta_max": args.beta_max,
        "num": int(args.num),
        "kl_budgets": floats(args.kl_budgets),
        "bootstrap": int(args.bootstrap),
        "level": float(args.level),
        "seed": int(args.seed),
        "min_ess": float(args.min_ess),
        "min_reliable_fraction": float(args.min_reliable_fraction),
        "bias_correction": bool(args.bias_correction),
        "certify": bool(args.certify),
        "reward_range": floats(args.reward_range),
    }


def _write_json(rows: list[dict], summary: dict, out: io.TextIOBase) -> None:
    cols = _columns(rows)
    head = {"schema": JSON_SCHEMA, "schema_version": JSON_SCHEMA_VERSION, "alignlimits_version": __version__}
    doc = {**head, **summary, "rows": [{c: _json_value(r[c]) for c in cols} for r in rows]}
    json.dump(doc, out, indent=2, allow_nan=False)
    out.write("\n")


def _write_csv(rows: list[dict], out: io.TextIOBase) -> None:
    cols = _columns(rows)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(cols)
    for r in rows:
        writer.writerow([repr(float(r[c])) if c != "reliable" else str(r[c]).lower() for c in cols])


def _write_table(rows: list[dict], summary: dict, out: io.TextIOBase) -> None:
    cols = _columns(rows)
    out.write(
        f"{summary['n_samples']} rewards, {summary['n_prompts']} prompt(s), "
        f"min {summary['samples_per_prompt_min']} samples per prompt; "
        f"plug-in KL ceiling {summary['kl_ceiling']:.3f} nats; base mean reward {summary['base_mean']:.4g}\n"
    )
    if summary["bootstrap"]:
        out.write(f"{summary['level']:.0%} percentile intervals from {summary['bootstrap']} bootstrap replicates\n")
    if summary.get("certify"):
        cert = summary["certify"]
        a, b = cert["reward_range"]
        out.write(
            f"certified_low/high: {cert['level']:.0%} distribution-free bounds on the optimal gain "
            f"for rewards in [{a:g}, {b:g}] ({cert['method']})\n"
        )
    cells = [[_cell(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    for b, block in enumerate(_column_blocks(widths, shutil.get_terminal_size().columns)):
        out.write("\n" if b else "")
        out.write("  ".join(cols[i].rjust(widths[i]) for i in block) + "\n")
        for row in cells:
            out.write("  ".join(row[i].rjust(widths[i]) for i in block) + "\n")
    if not all(r["reliable"] for r in rows):
        out.write("rows with reliable = no: too few effective samples or a heavy weight tail; do not trust them.\n")


def _column_blocks(widths: list[int], room: int) -> list[list[int]]:
    """Column indices in blocks no wider than ``room`` characters, each led by column 0 (the row's key).

    A table wider than the terminal (or than 80 columns when output is not a terminal, as
    in a notebook) is printed block after block, as pandas prints a wide frame, instead of
    wrapping every line.
    """
    blocks = [[0]]
    used = widths[0]
    for i in range(1, len(widths)):
        if used + 2 + widths[i] > room and len(blocks[-1]) > 1:
            blocks.append([0])
            used = widths[0]
        blocks[-1].append(i)
        used += 2 + widths[i]
    return blocks


def _cell(v: object) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return "-" if not math.isfinite(v) else f"{v:.4g}"
    return str(v)


def _plot(rows: list[dict], summary: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from alignlimits import plotting

    plotting.apply_style()
    fig, ax = plt.subplots()
    kl = np.array([r["kl"] for r in rows])
    gain = np.array([r["gain"] for r in rows])
    ok = np.array([r["reliable"] for r in rows])
    order = np.argsort(kl)
    color = plotting.COLORS["estimate"]
    ax.plot(kl[order], gain[order], color=color, lw=1.5, label="estimated frontier")
    if "gain_ci_low" in rows[0]:
        lo = np.array([r["gain_ci_low"] for r in rows])
        hi = np.array([r["gain_ci_high"] for r in rows])
        ax.fill_between(kl[order], lo[order], hi[order], color=color, alpha=0.2, label=f"{summary['level']:.0%} CI")
    ax.scatter(kl[ok], gain[ok], color=color, s=18, zorder=3, label="reliable")
    ax.scatter(kl[~ok], gain[~ok], facecolors="white", edgecolors=color, s=18, zorder=3, label="unreliable")
    ax.axvline(summary["kl_ceiling"], color="0.5", ls=":", lw=1, label="plug-in KL ceiling")
    plotting.label_kl_reward(ax)
    ax.set_title(f"{summary['n_prompts']} prompt(s), {summary['n_samples']} samples")
    ax.legend()
    fig.savefig(path)
    plt.close(fig)


# ----------------------------------------------------------------------------- entry point


def _check_options(args: argparse.Namespace) -> None:
    """Refuse option values no computation can use, before any file is read."""
    if args.bootstrap < 0 or args.bootstrap == 1:
        raise InputError(f"--bootstrap needs 0 (off) or at least 2 replicates; got {args.bootstrap}.")
    if not 0 < args.level < 1:
        raise InputError(f"--level must be between 0 and 1, e.g. 0.95; got {args.level}.")
    if args.seed < 0:
        raise InputError(f"--seed must be a non-negative integer; got {args.seed}.")
    if args.min_ess < 1:
        raise InputError(f"--min-ess must be at least 1 (an ESS is never below 1); got {args.min_ess:g}.")
    if not 0 < args.min_reliable_fraction <= 1:
        raise InputError(f"--min-reliable-fraction must be in (0, 1]; got {args.min_reliable_fraction:g}.")
    if args.plot is not None:
        _check_plot_path(args.plot)


def _check_plot_path(path: str) -> None:
    """Refuse a --plot target that cannot be written, before minutes of bootstrap are spent."""
    if not path.lower().endswith(".png") or path.lower() == ".png":
        raise InputError(f"--plot needs a .png file name; got {path!r}.")
    target = Path(path)
    folder = target.parent
    try:
        if target.is_dir():
            raise InputError(f"--plot {path!r} is a directory; give a file name ending in .png.")
        if not folder.exists():
            raise InputError(f"--plot: the folder {str(folder)!r} does not exist; create it first.")
        if not folder.is_dir():
            raise InputError(f"--plot: {str(folder)!r} is not a folder.")
        writable = os.access(folder, os.W_OK | os.X_OK) and (not target.exists() or os.access(target, os.W_OK))
    except PermissionError:  # a folder on the way we may not enter
        writable = False
    if not writable:
        raise InputError(f"--plot: permission denied; cannot write {path!r}.")


def _run(args: argparse.Namespace) -> None:
    if args.command == "sample":
        _run_sample(args)
        return
    if args.command == "overlay":
        _run_overlay(args)
        return
    _check_options(args)
    rewards, prompts = read_rewards(
        args.rewards, format=args.format, reward_column=args.reward_column, prompt_column=args.prompt_column
    )
    args.input_format = _format_of(args.rewards, args.format)
    rows, summary = _frontier_rows(args, rewards, prompts)
    if args.json:
        _write_json(rows, summary, sys.stdout)
    elif args.csv:
        _write_csv(rows, sys.stdout)
    else:
        _write_table(rows, summary, sys.stdout)
    if args.plot is not None:
        try:
            _plot(rows, summary, args.plot)
        except OSError as err:  # the folder vanished or the disk filled since the check
            raise InputError(f"--plot: cannot write {args.plot!r} ({err.strerror or err}).") from None


def _one_line(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _debug() -> bool:
    return os.environ.get("ALIGNLIMITS_DEBUG", "") not in ("", "0")


def _experiments(argv: Sequence[str]) -> int:
    # Imported here: the experiments pull in the task registry (and torch for 'rl'), which
    # 'alignlimits --help' and 'alignlimits frontier' must not pay for.
    from alignlimits.experiments import cli as experiments_cli

    return experiments_cli.main(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 done, 2 bad input (one line ``alignlimits: error: ...`` on stderr),
        1 an internal error (one line asking for a report; ``ALIGNLIMITS_DEBUG=1`` shows the
        traceback instead), 130 interrupted. Usage errors and ``--help`` exit through
        ``SystemExit`` with status 2 and 0, as argparse does.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["experiments"]:
            return _experiments(argv[1:])
        args = _build_parser().parse_args(argv)  # argparse itself exits with status 2 on bad options
        _run(args)
        sys.stdout.flush()  # inside the try: a reader gone away (| head) fails here, not at exit
    except KeyboardInterrupt:
        print("alignlimits: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. '| head'): stop quietly; pointing stdout at devnull keeps
        # Python's own flush at exit from printing a second error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except InputError as err:
        print(f"alignlimits: error: {_one_line(str(err))}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except ValueError as err:
        # The library's argument checks raise ValueError with a message meant for the caller
        # (a budget beyond the KL ceiling, rewards outside --reward-range): bad input here too.
        if _debug():
            raise
        print(f"alignlimits: error: {_one_line(str(err))}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except Exception as err:
        if _debug():
            raise
        where = traceback.extract_tb(err.__traceback__)[-1]
        print(
            f"alignlimits: internal error: {type(err).__name__}: {_one_line(str(err), 200)}; please report it "
            f"with the command you ran (at {Path(where.filename).name}:{where.lineno}; ALIGNLIMITS_DEBUG=1 "
            "shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
