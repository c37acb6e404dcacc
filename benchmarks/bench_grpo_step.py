"""Benchmark: one GRPO step of ours against TRL's ``GRPOTrainer``, same model, batch and settings.

One optimisation step = sample ``prompts × group_size`` completions of at most
``max_new_tokens`` tokens, score them with the same cheap reward (a deterministic
function of the text, so the benchmark measures the algorithms, not a reward model),
score them under the reference model, and make one clipped-surrogate + k3-KL update of
the same trainable parameters. Each implementation runs in a fresh process of the same
interpreter (so each one's peak memory is its own): one warm-up step, then ``--steps``
timed steps (``--rounds`` alternates the two processes). The script prints, for each,
the best wall-clock and CPU time of a step (CPU: ``time.process_time``, all threads),
the part spent inside ``model.generate`` (patched on the model instance with a timer,
for both), the peak resident set size during the step (Linux ``VmHWM`` after resetting
it through ``/proc/self/clear_refs``), and the ratios ours / TRL. With one torch thread
(the default) the CPU times hardly depend on other jobs sharing the cores, which wall
times on a busy 2-core machine do a lot; pass ``--threads 2`` on an idle machine.

Matched settings (printed by the script): ``num_generations = group_size``,
``per_device_train_batch_size = prompts × group_size`` with one accumulation step and
one generation per step, ``num_iterations = 1`` (μ = 1), ``beta = kl_coef`` with the k3
estimator per token in both, ``loss_type`` mapped from our aggregation (``grpo`` ↔
``sequence_mean``, ``dapo`` ↔ ``token_mean``, ``dr_grpo`` ↔ ``constant_length``),
``scale_rewards="group"``, clip ε = 0.2 both sides, gradient clipping at norm 1, a
constant learning rate, fp32 on the CPU, no gradient checkpointing, no vLLM, sampling
at the same temperature with ``top_k = 0, top_p = 1``, the same ``torch`` thread count,
and the same trainable parameters (the last ``--train-blocks`` transformer blocks and
the final norm; ``--train-blocks -1`` trains everything). The parameter counts the two
optimisers actually hold are printed and must agree.

TRL is not a dependency of the package: install it into a separate environment that
reuses this project's packages, leaving ``.venv`` untouched, e.g. from the repository root::

    python3.11 -m venv .venv-bench
    echo "import site; site.addsitedir('$PWD/.venv/lib/python3.11/site-packages')" \\
        > .venv-bench/lib/python3.11/site-packages/_main_venv.pth
    .venv/bin/pip freeze | grep -v alignlimits > /tmp/constraints.txt
    .venv-bench/bin/pip install -c /tmp/constraints.txt trl==1.16.0

then run (nothing is downloaded: ``HF_HUB_OFFLINE=1``, reporting off)::

    .venv-bench/bin/python benchmarks/bench_grpo_step.py             # SmolLM2-135M-Instruct, 4 prompts × 4, 32 tokens
    .venv-bench/bin/python benchmarks/bench_grpo_step.py --quick     # tiny-gpt2, seconds
    .venv-bench/bin/python benchmarks/bench_grpo_step.py --only ours # no TRL needed
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TRL_VERSION = "1.16.0"  # the version this benchmark was written and checked against
INSTALL_HINT = (
    "TRL is not installed in this interpreter. It is deliberately not a dependency of alignlimits; "
    "install it into a separate environment that reuses the project's packages (see this script's --help):\n"
    "    python3.11 -m venv .venv-bench\n"
    "    echo \"import site; site.addsitedir('$PWD/.venv/lib/python3.11/site-packages')\" "
    "> .venv-bench/lib/python3.11/site-packages/_main_venv.pth\n"
    "    .venv/bin/pip freeze | grep -v alignlimits > /tmp/constraints.txt\n"
    f"    .venv-bench/bin/pip install -c /tmp/constraints.txt trl=={TRL_VERSION}\n"
    "and run the benchmark with .venv-bench/bin/python (or pass --only ours)."
)
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "WANDB_DISABLED": "true",
    "TRL_EXPERIMENTAL_SILENCE": "1",
}
#: Our loss aggregation → TRL's loss_type (see alignlimits.rl.losses.aggregate).
LOSS_TYPES = {"sequence_mean": "grpo", "token_mean": "dapo", "constant_length": "dr_grpo"}
RESULT_TAG = "BENCH-RESULT "


# ----------------------------------------------------------------------------- shared by both


def text_reward(text: str) -> float:
    """The reward of both trainers: the fraction of vowels in the completion (cheap, deterministic, varied)."""
    return sum(c in "aeiouAEIOU" for c in text) / (len(text) + 1)


def prompt_texts(n: int) -> list[str]:
    """``n`` short plain-text prompts of similar length."""
    topics = ["rivers", "bread", "comets", "owls", "glass", "tides", "maps", "bees", "salt", "wind", "clocks", "moss"]
    return [f"Write one sentence about {topics[i % len(topics)]} number {i}." for i in range(n)]


def trainable_predicate(model: Any, blocks: int) -> Callable[[str], bool]:
    """Train the last ``blocks`` transformer blocks and the final norm (``blocks < 0``: everything)."""
    if blocks < 0:
        return lambda name: True
    from alignlimits.lm.models import last_blocks

    return last_blocks(model, blocks)


class Probe:
    """Times ``model.generate`` (patched on the instance) and the peak RSS of a window."""

    def __init__(self, model: Any, eos_token_id: int) -> None:
        self.scoring_seconds = 0.0  # our sampler's teacher-forced scoring pass (ours only)
        self.generate_seconds = self.generate_cpu_seconds = 0.0
        self.generated_tokens = 0
        self.completions = 0
        original = model.generate

        def timed_generate(*args: Any, **kwargs: Any) -> Any:
            start, cpu = time.perf_counter(), time.process_time()
            out = original(*args, **kwargs)
            self.generate_seconds += time.perf_counter() - start
            self.generate_cpu_seconds += time.process_time() - cpu
            prompt_width = kwargs["input_ids"].shape[1] if "input_ids" in kwargs else args[0].shape[1]
            new = out[:, prompt_width:]
            is_eos = new == eos_token_id
            lengths = [int(row.nonzero()[0]) + 1 if bool(row.any()) else new.shape[1] for row in is_eos]
            self.generated_tokens += sum(lengths)
            self.completions += len(lengths)
            return out

        model.generate = timed_generate

    def reset(self) -> None:
        self.generate_seconds, self.generated_tokens, self.completions = 0.0, 0, 0
        self.scoring_seconds = self.scoring_cpu_seconds = self.generate_cpu_seconds = 0.0
        self.cpu_start = time.process_time()
        reset_peak_rss()


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux ≥ 4.0); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mib() -> float:
    """``VmHWM`` (peak RSS since the last reset) in MiB, else the process-lifetime ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def optimised_parameters(optimizer: Any) -> int:
    return sum(p.numel() for group in optimizer.param_groups for p in group["params"])


# ----------------------------------------------------------------------------- the two workers


def run_ours(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from alignlimits.lm import sampling
    from alignlimits.lm.models import load_model
    from alignlimits.rl.grpo import GRPO, GRPOConfig
    from alignlimits.rl.policies import CausalLMPolicy

    torch.set_num_threads(args.threads)
    model, tok = load_model(args.model_path, device="cpu", progress=False)
    probe = Probe(model, tok.eos_token_id)
    # Our sampler also scores its samples by teacher forcing (Samples.logprobs): time that pass too.
    scoring = sampling.token_logprobs

    def timed_scoring(*a: Any, **k: Any) -> Any:
        start, cpu = time.perf_counter(), time.process_time()
        try:
            return scoring(*a, **k)
        finally:
            probe.scoring_seconds += time.perf_counter() - start
            probe.scoring_cpu_seconds += time.process_time() - cpu

    sampling.token_logprobs = timed_scoring  # sample() looks the name up at call time
    prompt_ids = [tok(p)["input_ids"] for p in prompt_texts(args.prompt_pool)]
    policy = CausalLMPolicy(
        model,
        prompt_ids,
        temperature=args.temperature,
        max_new_tokens=args.max_new_tokens,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        trainable=trainable_predicate(model, args.train_blocks),
    )
    reference = policy.frozen_copy()

    def reward_fn(rollout: Any) -> torch.Tensor:
        return torch.tensor([text_reward(t) for t in rollout.context.texts(tok)], dtype=torch.float64)

    config = GRPOConfig(
        # one step more than timed: the last step of a run always logs the exact KL (see metrics_every)
        steps=args.warmup + args.steps + 1,
        groups=args.prompts,
        group_size=args.group_size,
        lr=args.lr,
        clip_low=0.2,
        clip_high=0.2,
        kl_loss_coef=args.beta,
        kl_estimator="k3",
        kl_level="token",
        scale_rewards=True,
        loss_aggregation=args.loss,
        max_grad_norm=1.0,
        seed=args.seed,
        metrics_every=args.metrics_every,
    )
    trainer = GRPO(policy, reference, reward_fn, config)
    steps = []
    for step in range(args.warmup + args.steps):
        probe.reset()
        start = time.perf_counter()
        trainer.step(step)
        seconds = time.perf_counter() - start
        if step >= args.warmup:
            steps.append(_step_record(seconds, probe))
    return {
        "steps": steps,
        "optimised_parameters": optimised_parameters(trainer.optimizer),
        "threads": torch.get_num_threads(),
        "peak_rss_process_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_trl(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    import trl
    from datasets import Dataset
    from transformers import TrainerCallback

    from alignlimits.lm.models import load_model

    torch.set_num_threads(args.threads)
    model, tok = load_model(args.model_path, device="cpu", progress=False)
    predicate = trainable_predicate(model, args.train_blocks)
    for name, p in model.named_parameters():
        p.requires_grad_(predicate(name))
    probe = Probe(model, tok.eos_token_id)

    def reward(completions: list[str], **kwargs: Any) -> list[float]:
        return [text_reward(t) for t in completions]

    out_dir = tempfile.mkdtemp(prefix="bench-grpo-trl-")
    config = trl.GRPOConfig(
        output_dir=out_dir,
        per_device_train_batch_size=args.prompts * args.group_size,
        gradient_accumulation_steps=1,
        steps_per_generation=1,
        num_generations=args.group_size,
        max_completion_length=args.max_new_tokens,
        temperature=args.temperature,
        top_k=0,
        top_p=1.0,
        beta=args.beta,
        num_iterations=1,
        epsilon=0.2,
        loss_type=LOSS_TYPES[args.loss],
        scale_rewards="group",
        learning_rate=args.lr,
        lr_scheduler_type="constant",
        weight_decay=0.0,
        max_grad_norm=1.0,
        max_steps=args.warmup + args.steps,
        use_vllm=False,
        use_cpu=True,
        bf16=False,
        fp16=False,
        gradient_checkpointing=False,
        report_to="none",
        logging_steps=10**6,
        save_strategy="no",
        disable_tqdm=True,
        dataloader_num_workers=0,
        log_completions=False,
        seed=args.seed,
        model_init_kwargs={"dtype": torch.float32},
    )
    dataset = Dataset.from_dict({"prompt": prompt_texts(args.prompt_pool)})
    steps: list[dict[str, float]] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *a: Any, **k: Any) -> None:
            probe.reset()
            self.start = time.perf_counter()

        def on_step_end(self, *a: Any, **k: Any) -> None:
            steps.append(_step_record(time.perf_counter() - self.start, probe))

    trainer = trl.GRPOTrainer(
        model=model, reward_funcs=[reward], args=config, train_dataset=dataset, processing_class=tok
    )
    trainer.add_callback(StepTimer())
    try:
        trainer.train()
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    return {
        "steps": steps[args.warmup :],
        "optimised_parameters": optimised_parameters(trainer.optimizer),
        "threads": torch.get_num_threads(),
        "peak_rss_process_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "trl_version": trl.__version__,
        "reference_model": trainer.ref_model is not None,
    }


def _step_record(seconds: float, probe: Probe) -> dict[str, float]:
    return {
        "seconds": seconds,
        # CPU seconds of all threads: less sensitive than wall time to other jobs on a shared machine
        "cpu_seconds": time.process_time() - probe.cpu_start,
        "generate_seconds": probe.generate_seconds,
        "generate_cpu_seconds": probe.generate_cpu_seconds,
        "scoring_seconds": probe.scoring_seconds,
        "scoring_cpu_seconds": probe.scoring_cpu_seconds,
        "mean_length": probe.generated_tokens / max(probe.completions, 1),
        "completions": probe.completions,
        "peak_rss_mib": peak_rss_mib(),
    }


# ----------------------------------------------------------------------------- driver


def run_child(which: str, args: argparse.Namespace, model_path: str) -> dict[str, Any]:
    """Run one implementation in a fresh process of this interpreter and parse its result line."""
    argv = [sys.executable, os.path.abspath(__file__), "--worker", which, "--model-path", model_path]
    for key in ("prompts", "group_size", "max_new_tokens", "temperature", "beta", "lr", "loss", "train_blocks",
                "threads", "warmup", "steps", "seed", "prompt_pool", "metrics_every"):  # fmt: skip
        argv += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    env = {**os.environ, **OFFLINE_ENV, "OMP_NUM_THREADS": str(args.threads)}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG) :])
    sys.stderr.write(done.stdout[-4000:] + done.stderr[-8000:])
    raise SystemExit(f"the {which} worker failed (exit code {done.returncode}); its output is above.")


def resolve_model(name: str, tmp: str) -> str:
    """A folder both workers load the same weights from (tiny-gpt2 is saved once; its weights are random)."""
    from alignlimits.lm.models import SMOLLM2_NAME, TINY_GPT2_NAME, load_model, smollm2_folder

    if name == SMOLLM2_NAME:
        return str(smollm2_folder(progress=True))
    if name == TINY_GPT2_NAME:
        model, tok = load_model(name, device="cpu", seed=0)
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        return tmp
    if not Path(name).expanduser().is_dir():
        raise SystemExit(f"--model must be {SMOLLM2_NAME!r}, {TINY_GPT2_NAME!r} or a local folder; got {name!r}.")
    return str(Path(name).expanduser())


def best(result: dict[str, Any], key: str) -> dict[str, float]:
    """The timed step with the least ``key`` (wall ``seconds`` or ``cpu_seconds``)."""
    return min(result["steps"], key=lambda s: s[key])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct", help="smollm2-135m-instruct, tiny-gpt2 or a folder")
    parser.add_argument("--prompts", type=int, default=4, help="prompts per step (our `groups`)")
    parser.add_argument("--group-size", type=int, default=4, help="completions per prompt (TRL num_generations)")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="max completion length")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--beta", type=float, default=0.04, help="KL coefficient (k3 per token), > 0 so both use π_ref")
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--loss", choices=sorted(LOSS_TYPES), default="sequence_mean", help="aggregation (TRL: grpo)")
    parser.add_argument("--train-blocks", type=int, default=2, help="train the last N blocks + final norm; -1: all")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of both (1: CPU times stay meaningful when other jobs share the cores)",
    )
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--metrics-every", type=int, default=10,
                        help="ours: log the exact per-position KL and entropy every N steps (step 0 is the warm-up)")
    parser.add_argument("--steps", type=int, default=1, help="timed steps; the best is reported")
    parser.add_argument("--rounds", type=int, default=1, help="alternate the two workers this many times")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prompt-pool", type=int, default=16, help="distinct prompts to draw from")
    parser.add_argument("--only", choices=["ours", "trl"], help="run one implementation (no ratio)")
    parser.add_argument("--quick", action="store_true", help="tiny-gpt2, 2 prompts × 2, 8 tokens, 1 timed step")
    parser.add_argument("--worker", choices=["ours", "trl"], help=argparse.SUPPRESS)
    parser.add_argument("--model-path", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        os.environ.update(OFFLINE_ENV)
        result = (run_ours if args.worker == "ours" else run_trl)(args)
        print(RESULT_TAG + json.dumps(result), flush=True)
        return
    if args.quick:
        args.model, args.prompts, args.group_size, args.max_new_tokens, args.steps = "tiny-gpt2", 2, 2, 8, 1
    if args.beta <= 0:
        parser.error("--beta must be > 0: with beta = 0 TRL skips the reference model and ours does not.")
    which = [args.only] if args.only else ["ours", "trl"]
    if "trl" in which and importlib.util.find_spec("trl") is None:
        raise SystemExit(INSTALL_HINT)

    with tempfile.TemporaryDirectory(prefix="bench-grpo-model-") as tmp:
        model_path = resolve_model(args.model, tmp)
        batch = args.prompts * args.group_size
        print(f"model {args.model} (fp32, CPU, {args.threads} torch threads), one GRPO step = {args.prompts} prompts "
              f"× {args.group_size} completions = {batch} sequences of ≤ {args.max_new_tokens} new tokens")  # fmt: skip
        print(f"  temperature {args.temperature} (top_k 0, top_p 1), KL coefficient {args.beta} (k3 per token), "
              f"clip ε 0.2, advantages scaled by group std, loss {args.loss} = TRL loss_type "
              f"{LOSS_TYPES[args.loss]!r}, lr {args.lr} constant, grad-norm clip 1, μ = 1 (num_iterations), "
              f"no vLLM, no gradient checkpointing; trainable: "
              f"{'all parameters' if args.train_blocks < 0 else f'last {args.train_blocks} blocks + final norm'}; "
              f"reward: vowel fraction of the completion text")  # fmt: skip
        print(f"  {args.warmup} warm-up step(s), best of {args.steps} timed step(s) × {args.rounds} round(s), "
              "each implementation in its own process")  # fmt: skip
        results: dict[str, dict[str, Any]] = {}
        for _ in range(args.rounds):  # alternate, so a burst of load on a shared machine hits both
            for name in which:
                res = run_child(name, args, model_path)
                if name in results:
                    res["steps"] = results[name]["steps"] + res["steps"]
                    res["peak_rss_process_mib"] = max(
                        res["peak_rss_process_mib"], results[name]["peak_rss_process_mib"]
                    )
                results[name] = res

    for name, res in results.items():
        sampled = {step["completions"] for step in res["steps"]}
        if sampled != {batch}:
            raise SystemExit(f"{name} sampled {sampled} completions per step, not {batch}: not the same batch.")
        w, c = best(res, "seconds"), best(res, "cpu_seconds")
        label = "ours (alignlimits.rl.grpo)" if name == "ours" else f"TRL {res['trl_version']} GRPOTrainer"
        print(f"{label}:")
        print(f"    wall: step {w['seconds']:.2f} s, in generate {w['generate_seconds']:.2f} s, "
              f"the rest {w['seconds'] - w['generate_seconds']:.2f} s")  # fmt: skip
        print(f"    CPU : step {c['cpu_seconds']:.2f} s, in generate {c['generate_cpu_seconds']:.2f} s, "
              f"the rest {c['cpu_seconds'] - c['generate_cpu_seconds']:.2f} s")  # fmt: skip
        if name == "ours":
            print(f"    of the rest, the sampler's teacher-forced scoring pass (Samples.logprobs): "
                  f"{c['scoring_cpu_seconds']:.2f} s CPU")  # fmt: skip
        whole = res["peak_rss_process_mib"]
        print(f"    mean completion length {w['mean_length']:.1f} tokens; peak RSS during the step "
              f"{w['peak_rss_mib']:.0f} MiB (whole process {whole:.0f} MiB); parameters optimised "
              f"{res['optimised_parameters']:,}; torch threads {res['threads']}")  # fmt: skip
    if len(results) == 2:
        if results["ours"]["optimised_parameters"] != results["trl"]["optimised_parameters"]:
            raise SystemExit("the two optimisers hold different numbers of parameters: the comparison is not fair.")
        ours_w, trl_w = best(results["ours"], "seconds"), best(results["trl"], "seconds")
        ours_c, trl_c = best(results["ours"], "cpu_seconds"), best(results["trl"], "cpu_seconds")

        def rest(step: dict[str, float]) -> float:
            return step["cpu_seconds"] - step["generate_cpu_seconds"]

        print(f"ratio ours / TRL, whole step, wall      : {ours_w['seconds'] / trl_w['seconds']:.2f}")
        print(f"ratio ours / TRL, whole step, CPU       : {ours_c['cpu_seconds'] / trl_c['cpu_seconds']:.2f}")
        print(f"ratio ours / TRL, generate, CPU         : "
              f"{ours_c['generate_cpu_seconds'] / trl_c['generate_cpu_seconds']:.2f}")  # fmt: skip
        print(f"ratio ours / TRL, outside generate, CPU : {rest(ours_c) / rest(trl_c):.2f}")
        print(f"ratio ours / TRL, peak RSS in the step  : {ours_w['peak_rss_mib'] / trl_w['peak_rss_mib']:.2f}")


if __name__ == "__main__":
    main()
