"""Command-line interface: ``alignlimits frontier REWARDS.csv``.

Reads rewards of base-model samples (CSV or JSON Lines, columns ``reward`` and
optionally ``prompt_id``), estimates the optimal KL–reward frontier with
:mod:`alignlimits.estimator`, and prints it as a table, JSON or CSV.
Malformed input ends with exit code 2 and a one-line message naming the line.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

import numpy as np

from alignlimits import certify, estimator

__all__ = ["InputError", "main", "read_rewards"]

EXIT_INPUT_ERROR = 2

DESCRIPTION = """\
Estimate the optimal KL-reward frontier of KL-regularised alignment from rewards of
samples drawn from your base model. For each KL penalty beta the optimal policy is
the Gibbs tilt pi_beta ~ pi0 exp(r/beta); the frontier point (KL(pi_beta||pi0),
reverse KL, gain E_pi_beta[r] - E_pi0[r], Jeffreys = KL + reverse KL) is estimated
by self-normalised importance weights softmax(r/beta) over each prompt's samples and
averaged over prompts. No policy with that KL from the base model can gain more.
"""

FRONTIER_EPILOG = """\
input file
  .csv    a header row with a 'reward' column and, optionally, 'prompt_id';
          other columns are ignored. Example:
              prompt_id,reward
              p1,0.31
              p1,-1.20
              p2,0.05
  .jsonl  one JSON object per line with the same keys, e.g. {"prompt_id": "p1", "reward": 0.31}
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
  python -m alignlimits frontier rewards.csv   (same thing)
"""


class InputError(ValueError):
    """Malformed input file or arguments; the message is one line for the user."""


# ----------------------------------------------------------------------------- reading


def _parse_reward(value: object, where: str) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(f"{where}: reward is empty; every row needs a finite number.")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InputError(f"{where}: reward {value!r} is not a number.")
    try:
        x = float(value)
    except ValueError:
        raise InputError(f"{where}: reward {value!r} is not a number.") from None
    if not math.isfinite(x):
        raise InputError(f"{where}: reward is {value!r}; rewards must be finite (no NaN or inf).")
    return x


def _parse_prompt(value: object, where: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(f"{where}: prompt_id is empty; give every row a prompt id or drop the column.")
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{where}: prompt_id is {value!r}.")
    return str(value).strip() if isinstance(value, str) else json.dumps(value)


def _read_csv(text: str, name: str) -> tuple[list[float], list[str] | None]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise InputError(f"{name}: the file is empty; expected a header line with a 'reward' column.")
    fields = [f.strip() if f else f for f in reader.fieldnames]
    reader.fieldnames = fields
    if "reward" not in fields:
        raise InputError(f"{name} line 1: no 'reward' column (found: {', '.join(map(str, fields))}).")
    has_prompt = "prompt_id" in fields
    rewards: list[float] = []
    prompts: list[str] = []
    for row in reader:
        where = f"{name} line {reader.line_num}"
        if None in row:
            raise InputError(f"{where}: more fields than the header has columns.")
        if all(v is None or not str(v).strip() for v in row.values()):
            continue  # a blank line
        rewards.append(_parse_reward(row.get("reward"), where))
        if has_prompt:
            prompts.append(_parse_prompt(row.get("prompt_id"), where))
    return rewards, (prompts if has_prompt else None)


def _read_jsonl(text: str, name: str) -> tuple[list[float], list[str] | None]:
    rewards: list[float] = []
    prompts: list[str | None] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name} line {line_no}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"{where}: not valid JSON ({err.msg}).") from None
        if not isinstance(obj, dict):
            raise InputError(f'{where}: expected a JSON object like {{"reward": 0.5}}.')
        if "reward" not in obj:
            raise InputError(f"{where}: no 'reward' key (found: {', '.join(obj) or 'none'}).")
        rewards.append(_parse_reward(obj["reward"], where))
        prompts.append(_parse_prompt(obj["prompt_id"], where) if "prompt_id" in obj else None)
    with_id = [p is not None for p in prompts]
    if any(with_id) and not all(with_id):
        first = with_id.index(False) if with_id[0] else with_id.index(True)
        lines = [i for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
        raise InputError(f"{name} line {lines[first]}: prompt_id is given on some lines but not on others.")
    return rewards, ([str(p) for p in prompts] if prompts and all(with_id) else None)


def read_rewards(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Rewards (float64, shape (N,)) and prompt ids (str, shape (N,) or None) from a .csv or .jsonl file.

    Raises :class:`InputError` with the file name and line number for malformed input.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in {".csv", ".jsonl", ".ndjson"}:
        raise InputError(f"{p}: unknown file type {suffix or '(none)'!r}; use a .csv or .jsonl file.")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{p}: no such file.") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{p}: cannot read it ({err}).") from None
    rewards, prompts = (_read_csv if suffix == ".csv" else _read_jsonl)(text, str(p))
    if not rewards:
        raise InputError(f"{p}: no data rows; expected one reward per line after the header.")
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
        return values

    return parse


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``alignlimits: error: ...`` and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_INPUT_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="alignlimits",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'alignlimits frontier --help' for the file format, columns and examples.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    fr = sub.add_parser(
        "frontier",
        help="estimate the optimal KL-reward frontier from base-model rewards",
        description=DESCRIPTION,
        epilog=FRONTIER_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fr.add_argument("rewards", metavar="REWARDS", help="a .csv or .jsonl file of base-model rewards")
    grid = fr.add_argument_group("where to evaluate (default: 20 betas from 0.1 sd to 10 sd, log-spaced)")
    grid.add_argument("--betas", type=number_list(float), help="comma-separated KL penalty factors, e.g. 0.1,0.5,2")
    grid.add_argument("--beta-min", type=float, help="smallest beta of a log-spaced grid")
    grid.add_argument("--beta-max", type=float, help="largest beta of a log-spaced grid")
    grid.add_argument("--num", type=int, default=20, help="number of betas in the log-spaced grid (default 20)")
    grid.add_argument(
        "--kl-budgets", type=number_list(float), help="comma-separated KL budgets in nats: report the gain at each"
    )
    unc = fr.add_argument_group("uncertainty and diagnostics")
    unc.add_argument("--bootstrap", type=int, default=0, metavar="N", help="bootstrap replicates for intervals")
    unc.add_argument(
        "--level", type=float, default=0.95, help="level of bootstrap intervals and certified bounds (default 0.95)"
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
        type=float,
        default=estimator.DEFAULT_MIN_ESS,
        help=f"ESS a prompt needs to count as reliable (default {estimator.DEFAULT_MIN_ESS:g})",
    )
    unc.add_argument(
        "--min-reliable-fraction",
        type=float,
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
    return parser


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


def _write_json(rows: list[dict], summary: dict, out: io.TextIOBase) -> None:
    cols = _columns(rows)
    doc = {**summary, "rows": [{c: _json_value(r[c]) for c in cols} for r in rows]}
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
    out.write("  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True)) + "\n")
    for row in cells:
        out.write("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) + "\n")
    if not all(r["reliable"] for r in rows):
        out.write("rows with reliable = no: too few effective samples or a heavy weight tail; do not trust them.\n")


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


def _run(args: argparse.Namespace) -> None:
    if args.bootstrap < 0 or args.bootstrap == 1:
        raise InputError(f"--bootstrap needs 0 (off) or at least 2 replicates; got {args.bootstrap}.")
    if not 0 < args.level < 1:
        raise InputError(f"--level must be between 0 and 1, e.g. 0.95; got {args.level}.")
    if args.plot is not None and not args.plot.lower().endswith(".png"):
        raise InputError(f"--plot needs a .png file name; got {args.plot!r}.")
    rewards, prompts = read_rewards(args.rewards)
    rows, summary = _frontier_rows(args, rewards, prompts)
    if args.json:
        _write_json(rows, summary, sys.stdout)
    elif args.csv:
        _write_csv(rows, sys.stdout)
    else:
        _write_table(rows, summary, sys.stdout)
    if args.plot is not None:
        _plot(rows, summary, args.plot)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad input)."""
    parser = _build_parser()
    args = parser.parse_args(argv)  # argparse itself exits with status 2 on bad options
    try:
        _run(args)
    except (InputError, ValueError, TypeError) as err:
        message = " ".join(str(err).split())  # one line, whatever the library said
        print(f"alignlimits: error: {message}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
