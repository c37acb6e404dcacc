"""``python -m alignlimits.experiments``: run the book's language-model experiments from the shell.

Two commands, both resumable (run the same command again after an interruption):

* ``frontier`` — base samples of a task, scored by its reward and judge
  (:mod:`alignlimits.experiments.frontier`);
* ``rl`` — the PPO/GRPO sweep, its learning-rate tuning (``--tune``) or its
  shuffled-reward controls (``--control``) (:mod:`alignlimits.experiments.rl_runs`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from alignlimits.experiments import frontier, provenance
from alignlimits.tasks import TASKS
from alignlimits.tiers import TIERS

__all__ = ["main"]

#: The methods and seeds the ``rl`` command offers (the values of
#: :data:`alignlimits.experiments.rl_runs.METHODS` and ``SWEEP_SEEDS``, without importing torch for ``--help``;
#: a test checks that they agree).
METHODS = ("ppo", "grpo")
RUN_METHODS = ("ppo", "grpo", "distill")
SWEEP_SEEDS = (1, 2)


DEVICE_HELP = (
    "where the model runs: cpu, cuda, cuda:N, or auto (default: cuda when present, else cpu); the same seeds give "
    "the same law on either, and each result records the device it ran on"
)


def _device(name: str) -> str:
    """The device to run on, checked now (a CUDA device must exist) so a bad flag fails before any work."""
    from alignlimits.lm.models import resolve_device

    return str(resolve_device(name))


def _number_list(kind: type = float) -> Callable[[str], list]:
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


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m alignlimits.experiments",
        description="Run the language-model experiments of the book (resumable; results with provenance).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    fr = sub.add_parser(
        "frontier",
        help="sample base completions, score reward and judge, save a results JSON",
        description=(
            "Sample n_samples completions per prompt from the base policy (the model at temperature T), "
            "score them with the task's reward and held-out judge, and save a results JSON with provenance. "
            "Checkpoints after every prompt batch; run the same command again to resume."
        ),
    )
    fr.add_argument("--task", choices=TASKS, required=True)
    fr.add_argument("--tier", choices=TIERS, default=None, help="default: $ALIGNLIMITS_TIER or 'default'")
    fr.add_argument("--model", default=None, help="override the model (a load_model name, folder or hub id)")
    fr.add_argument("--n-prompts", type=int, default=None)
    fr.add_argument("--n-samples", type=int, default=None)
    fr.add_argument("--seed", type=int, default=None)
    fr.add_argument("--work-dir", default=None, help="checkpoint folder (default: <cache>/runs)")
    fr.add_argument(
        "--output", default=None, help="results file (default: the package's results/; with overrides: the work folder)"
    )
    fr.add_argument("--stop-after", type=int, default=None, help="stop after this many new batches (resume later)")
    fr.add_argument("--device", default="auto", help=DEVICE_HELP)

    rl = sub.add_parser(
        "rl",
        help="train PPO/GRPO on a task for a sweep of KL coefficients and seeds, evaluate, save a results JSON",
        description=(
            "Fine-tune the task's base policy (the frontier experiment's model, prompts and temperature) with "
            "PPO and/or GRPO, one run per method x KL coefficient x seed, evaluate each final policy (reward, "
            "judge, exact sequence KL) and add it to the results JSON. --tune runs the learning-rate grid "
            "instead, --control the shuffled-reward controls. Checkpoints every few steps; run the same command "
            "again to resume. Several processes may run the same command at once: they share the runs."
        ),
    )
    rl.add_argument("--task", choices=TASKS, required=True)
    rl.add_argument("--tier", choices=TIERS, default=None, help="default: $ALIGNLIMITS_TIER or 'default'")
    methods_help = (
        f"comma-separated, from {','.join(METHODS)} (default: both), or with --study from {','.join(RUN_METHODS)} "
        "(default: all three)"
    )
    rl.add_argument("--methods", type=lambda t: t.split(","), default=None, help=methods_help)
    coefs_help = (
        "comma-separated KL coefficients, the same for every method given (default: each method's own sweep, "
        "rl_runs.SWEEP_KL_COEFS; PPO's β is on the reward's scale, GRPO's on the normalised advantages')"
    )
    rl.add_argument("--kl-coefs", type=_number_list(float), default=None, help=coefs_help)
    rl.add_argument("--seeds", type=_number_list(int), default=None,
                    help=f"comma-separated seeds (default: the sweep's, {','.join(map(str, SWEEP_SEEDS))})")
    rl.add_argument("--lr", type=float, default=None, help="override the tuned learning rate")
    rl.add_argument(
        "--tune",
        action="store_true",
        help="run the learning-rate tuning grid instead (tuning.TUNING_LRS, or --lrs) into the tuning file",
    )
    rl.add_argument("--lrs", type=_number_list(float), default=None, help="the tuning grid (with --tune)")
    rl.add_argument(
        "--control",
        action="store_true",
        help="run the shuffled-reward controls instead (rl_runs.control_configs) into the control file",
    )
    rl.add_argument(
        "--pilot",
        action="store_true",
        help="run the long runs' learning-rate pilot (study.pilot_configs: each rate with and without the reward "
        "signal) into the pilot file",
    )
    rl.add_argument(
        "--study",
        action="store_true",
        help="run the long runs (study.study_configs: zero-step check, main runs and controls, second β, more "
        "seeds, GRPO's k3-in-the-loss variant) into the study file",
    )
    rl.add_argument(
        "--part",
        choices=("all", "pairs"),
        default=None,
        help="with --study: 'pairs' runs only the zero-step check and each method's main run with its shuffled "
        "control (default: all)",
    )
    rl.add_argument("--steps", type=int, default=None, help="override the tier's number of steps")
    rl.add_argument("--work-dir", default=None, help="checkpoint folder (default: <cache>/runs)")
    output_help = (
        "results file (default: the package's results/rl-TASK-TIER.json, -tuning.json with --tune, -control.json "
        "with --control; with --lr or --steps, a -custom.json file in the work folder)"
    )
    rl.add_argument("--output", default=None, help=output_help)
    rl.add_argument("--stop-after", type=int, default=None, help="stop after this many new training steps")
    rl.add_argument("--device", default="auto", help=DEVICE_HELP)
    rl.add_argument("--bf16", action="store_true", help="forward passes under bfloat16 autocast (CUDA only)")
    for sub_parser in (fr, rl):
        sub_parser.add_argument(
            "--threads", type=int, default=None,
            help="torch CPU threads of this process (default: torch's choice); with several workers on a small "
            "machine give each one thread, e.g. two workers with --threads 1 on two cores",
        )  # fmt: skip
    return parser


def _main_rl(args: argparse.Namespace) -> int:
    from alignlimits.experiments import rl_runs, tuning  # torch: only for this command

    steps = {"steps": args.steps} if args.steps is not None else {}
    steps_and_lr = {**steps, **({"lr": args.lr} if args.lr is not None else {})}
    if args.methods is None:
        args.methods = list(RUN_METHODS if args.study else METHODS)
    chosen = [flag for flag in ("tune", "control", "pilot", "study") if getattr(args, flag)]
    if len(chosen) > 1:
        raise ValueError(f"{', '.join('--' + c for c in chosen)} are separate experiments; give one.")
    if args.part is not None and not args.study:
        raise ValueError("--part chooses a part of the study; give it with --study.")
    if args.pilot or args.study:
        from alignlimits.experiments import study

        given = [f for f, v in (("--kl-coefs", args.kl_coefs), ("--seeds", args.seeds), ("--lr", args.lr),
                                ("--steps", args.steps), ("--lrs", args.lrs)) if v is not None]  # fmt: skip
        if given:
            raise ValueError(f"--pilot and --study run the planned configs (experiments.study); drop {given}.")
        if args.pilot:
            configs = study.pilot_configs(args.task, args.tier, methods=args.methods)
        else:
            configs = study.study_configs(args.task, args.tier, methods=args.methods, part=args.part or "all")
        variant = "pilot" if args.pilot else "study"
        overrides, default, label = {}, rl_runs.runs_path(args.task, configs[0].tier, variant), f"{variant} runs"
    elif args.control:
        given = [f for f, v in (("--kl-coefs", args.kl_coefs), ("--lrs", args.lrs), ("--seeds", args.seeds)) if v]
        if given:
            raise ValueError(f"--control runs each method at its largest sweep β on the first seed; drop {given}.")
        overrides = steps_and_lr
        configs = rl_runs.control_configs(args.task, args.tier, methods=args.methods, **overrides)
        default, label = rl_runs.runs_path(args.task, configs[0].tier, "control"), "control runs"
    elif args.tune:
        flags = (("--lr", args.lr), ("--kl-coefs", args.kl_coefs), ("--seeds", args.seeds))
        ignored = [flag for flag, value in flags if value is not None]
        if ignored:
            raise ValueError(f"--tune runs the learning-rate grid (--lrs) at each method's middle β; drop {ignored}.")
        lrs = args.lrs or tuning.TUNING_LRS
        configs = [c for m in args.methods for c in tuning.tuning_configs(args.task, m, args.tier, lrs, **steps)]
        overrides, default, label = steps, rl_runs.runs_path(args.task, configs[0].tier, "tuning"), "tuning runs"
    else:
        overrides = steps_and_lr
        configs = rl_runs.sweep_configs(
            args.task, args.tier, methods=args.methods, kl_coefs=args.kl_coefs,
            seeds=args.seeds or SWEEP_SEEDS, **overrides
        )
        default, label = rl_runs.runs_path(args.task, configs[0].tier), "runs"
    output = args.output
    if output is None:  # a non-standard config never enters the package's results
        custom = default.name.replace(".json", "-custom.json")
        output = Path(args.work_dir or ".") / custom if overrides else default
    runs = rl_runs.sweep(configs, work_dir=args.work_dir, output=output, stop_after=args.stop_after,
                         device=_device(args.device), bf16=args.bf16)  # fmt: skip
    finished = {rl_runs.LMRunConfig(**r["config"]).key() for r in runs}
    todo = [c for c in configs if c.key() not in finished]
    print(f"{len(configs) - len(todo)} of {len(configs)} {label} finished; results in {output}")
    if todo:
        print(f"{len(todo)} not finished (stopped early, or training in another process); run the same command "
              "again to resume.", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m alignlimits.experiments {frontier,rl} --task T --tier TIER [...]``."""
    args = _build_parser().parse_args(argv)
    try:
        if args.threads is not None:
            if args.threads < 1:
                raise ValueError(f"--threads must be >= 1; got {args.threads}.")
            import torch

            torch.set_num_threads(args.threads)
        if args.command == "rl":
            return _main_rl(args)
        given = {"model": args.model, "n_prompts": args.n_prompts, "n_samples": args.n_samples, "seed": args.seed}
        overrides = {k: v for k, v in given.items() if v is not None}
        config = frontier.frontier_config(args.task, args.tier, **overrides)
        results = frontier.run_frontier(config, work_dir=args.work_dir, stop_after=args.stop_after,
                                        device=_device(args.device))  # fmt: skip
    except (ValueError, FileNotFoundError, OSError, provenance.DirtyTreeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if results is None:
        print("stopped early; run the same command again to resume.", file=sys.stderr)
        return 0
    output = args.output
    if output is None and overrides:  # a non-standard config never replaces the package's results
        output = frontier.work_folder(config, args.work_dir) / "results.json"
    path = frontier.save_frontier(results, output)
    prov = results["provenance"]
    print(
        f"saved {path}: {config.n_prompts} prompts x {config.n_samples} samples, "
        f"{prov['tokens_generated']} tokens in {prov['wall_time_s']:.0f} s "
        f"({prov['tokens_generated'] / max(prov['wall_time_s'], 1e-9):.0f} tok/s incl. scoring)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
