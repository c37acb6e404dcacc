"""Benchmark: one PPO step of ours now against ours at an earlier commit, same model, batch and settings.

Issue 21's target for PPO is relative to our own code before the speed work ("ours /
ours today ≤ 0.7"): both sides run :class:`alignlimits.rl.ppo.PPO` on a
:class:`~alignlimits.rl.policies.CausalLMPolicy` with the settings of the book's PPO runs
(``alignlimits.experiments.rl_runs.build``: 16 completions per step, 2 epochs × 2
minibatches, micro-batches of 4, GAE γ = λ = 1, the last 2 blocks trained, gradient-norm
clip 1), the same cheap text reward as the GRPO benchmark, 32 new tokens at T = 0.7.
Each side runs in a fresh process with ``PYTHONPATH`` pointing at its own checkout, one
torch thread, one warm-up step, then ``--steps`` timed steps (best reported, CPU and wall).
The newer code logs the exact per-position KL every ``--metrics-every`` steps (the older
one did every step); both log reward, k1 and k3 at every step.

Make the baseline checkout with ``git worktree add /tmp/ppo-baseline <commit>`` (e.g. the
last commit before the speed work) and run, from the repository root::

    .venv/bin/python benchmarks/bench_ppo_step.py --baseline /tmp/ppo-baseline
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULT_TAG = "@@RESULT "
ROOT = Path(__file__).resolve().parents[1]


def text_reward(text: str) -> float:
    return sum(c in "aeiouAEIOU" for c in text) / (len(text) + 1)


def prompt_texts(n: int) -> list[str]:
    topics = ["rivers", "bread", "comets", "owls", "glass", "tides", "maps", "bees", "salt", "wind", "clocks", "moss"]
    return [f"Write one sentence about {topics[i % len(topics)]} number {i}." for i in range(n)]


def last_blocks(model: Any, k: int):
    n = model.config.num_hidden_layers
    block = re.compile(r"(?:^|\.)layers\.(\d+)\.")

    def trainable(name: str) -> bool:
        match = block.search(name)
        return int(match.group(1)) >= n - k if match else name.startswith("model.norm.")

    return trainable


def worker(args: argparse.Namespace) -> None:
    import torch

    import alignlimits
    from alignlimits.lm.models import load_model
    from alignlimits.rl.policies import CausalLMPolicy
    from alignlimits.rl.ppo import PPO, PPOConfig

    torch.set_num_threads(1)
    model, tok = load_model(args.model, device="cpu", progress=False)
    policy = CausalLMPolicy(model, [tok(p)["input_ids"] for p in prompt_texts(16)], temperature=0.7,
                            max_new_tokens=32, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                            value_head=True, trainable=last_blocks(model, 2))  # fmt: skip
    reference = policy.frozen_copy()

    def reward_fn(rollout: Any) -> torch.Tensor:
        return torch.tensor([text_reward(t) for t in rollout.context.texts(tok)], dtype=torch.float64)

    fields = {f.name for f in dataclasses.fields(PPOConfig)}
    beta = {"kl_reward_coef": 0.03} if "kl_reward_coef" in fields else {"kl_coef": 0.03}  # the field's old name
    extra = {"metrics_every": args.metrics_every} if "metrics_every" in fields else {}
    total = args.warmup + args.steps + 1  # the last step of a run always logs the exact KL: never timed
    config = PPOConfig(steps=total, batch_size=16, lr=1e-4, epochs=2, minibatches=2, micro_batches=2, lam=1.0,
                       max_grad_norm=1.0, seed=0, **beta, **extra)  # fmt: skip
    trainer = PPO(policy, reference, reward_fn, config)
    steps = []
    for k in range(args.warmup + args.steps):
        start, cpu = time.perf_counter(), time.process_time()
        metrics = trainer.step(k)
        if k >= args.warmup:
            steps.append({"wall": time.perf_counter() - start, "cpu": time.process_time() - cpu,
                          "length": metrics["length"]})  # fmt: skip
    print(RESULT_TAG + json.dumps({"steps": steps, "package": alignlimits.__file__, "extra": extra}))


def run(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--worker", "--model", args.model, "--steps", str(args.steps),
            "--warmup", str(args.warmup), "--metrics-every", str(args.metrics_every)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            result = json.loads(line[len(RESULT_TAG) :])
            if not result["package"].startswith(str(root)):
                raise SystemExit(f"the worker imported {result['package']}, not the checkout at {root}")
            return result
    sys.stderr.write(done.stdout[-3000:] + done.stderr[-6000:])
    raise SystemExit(f"the worker for {root} failed (exit {done.returncode})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="a checkout of the earlier code (git worktree add …)")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--metrics-every", type=int, default=10)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if args.baseline is None or not (args.baseline / "alignlimits").is_dir():
        raise SystemExit("give --baseline: a checkout of the earlier code (git worktree add /tmp/ppo-baseline SHA)")
    best: dict[str, dict[str, float]] = {}
    for _ in range(args.rounds):
        for name, root in (("ours now", ROOT), ("baseline", args.baseline.resolve())):
            result = run(root, args)
            for key in ("wall", "cpu"):
                value = min(s[key] for s in result["steps"])
                best.setdefault(name, {})[key] = min(best.get(name, {}).get(key, float("inf")), value)
            best[name]["length"] = sum(s["length"] for s in result["steps"]) / len(result["steps"])
    print(f"PPO step, {args.model}, 16 completions of ≤ 32 tokens, 2 epochs × 2 minibatches, last 2 blocks, "
          f"1 torch thread; best of {args.steps} step(s) × {args.rounds} round(s); exact KL every "
          f"{args.metrics_every} steps in ours now (every step in the baseline)")
    for name, b in best.items():
        print(f"  {name:9s}: CPU {b['cpu']:.2f} s, wall {b['wall']:.2f} s, mean completion {b['length']:.1f} tokens")
    print(f"ratio ours now / baseline, CPU : {best['ours now']['cpu'] / best['baseline']['cpu']:.2f}")
    print(f"ratio ours now / baseline, wall: {best['ours now']['wall'] / best['baseline']['wall']:.2f}")


if __name__ == "__main__":
    main()
