"""Benchmark: our sampler against plain ``model.generate`` on the same batches, and the frontier's sampling throughput.

**Part 1, the sampler against plain ``generate``.** Both draw ``num_samples``
completions of ``prompts`` short prompts, ``batch_size`` rows per ``generate`` call, from
the same left-padded inputs (ids, attention masks, position ids) at the same temperature
and ``max_new_tokens``. Plain ``generate`` is what a user writes,
``generate(do_sample=True, temperature=T, top_k=0, top_p=1, max_new_tokens=…)``, seeded
per batch with the seeds :func:`alignlimits.lm.sampling.sample` uses, so that both sample
the same law with the same random draws. **Correctness check**: the script asserts that
ours without shared prefill returns exactly plain ``generate``'s completions, and reports
how many rows the shared-prefill path reproduces (all of them unless float32 rounding of
the cached prompt flips a draw; its law is the same either way, see
``tests/test_lm_sampling_shared.py``). Equal samples also mean equal completion lengths,
so tokens per second compare fairly.

Ours is timed in three variants: the old path (``share_prefill=False,
teacher_forced=True``: every row prefills its prompt, then a second, teacher-forced
forward scores the samples), the new default (one prefill per distinct prompt, log-probs
from ``generate``'s own logits) and the new default without scoring (``score=False``,
what the RL rollouts use). For each the script prints the CPU time (``time.process_time``)
per decoded position (rows × decoding steps of ``generate``: the work of a call whatever
the completion lengths) of the whole call, split into inside ``generate``, the
teacher-forced scoring pass and the rest (the shared prefill, gathering log-probs,
padding), and its ratio to plain ``generate``.

**Part 2, the frontier experiment's sampling.** The summarization task's real prompts
(chat template over a docstring body), ``--frontier-samples`` samples per prompt (64 in
the full tier), one prompt's samples per ``generate`` call, with the arguments
``alignlimits.experiments.frontier`` passes (``frontier_config("summarization", "full")``),
scored (log-probs at the temperature): real completion tokens per CPU second, old path
against new, on the same prompts and seed (the script reports how many rows both paths
drew identically and the largest log-prob difference on those rows).

Rounds alternate the variants and the best CPU time of each is reported. With one torch
thread (the default) CPU times hardly depend on other jobs sharing the cores; pass
``--threads 2`` only on an idle machine. Reproducible (seeded); not a test. From the
repository root::

    python benchmarks/bench_sampler.py                        # SmolLM2-135M-Instruct, both parts
    python benchmarks/bench_sampler.py --frontier-prompts 0   # part 1 only
    python benchmarks/bench_sampler.py --model tiny-gpt2 --rounds 1 --frontier-prompts 0
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch

from alignlimits.lm import kl, sampling
from alignlimits.lm.models import load_model


class Timer:
    """Wraps a callable, adding up the CPU seconds spent in it (and, for ``generate``, the decoded positions)."""

    def __init__(self, fn: Any) -> None:
        self.fn, self.cpu_seconds, self.positions = fn, 0.0, 0

    def reset(self) -> None:
        self.cpu_seconds, self.positions = 0.0, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        cpu = time.process_time()
        try:
            out = self.fn(*args, **kwargs)
        finally:
            self.cpu_seconds += time.process_time() - cpu
        if "input_ids" in kwargs:  # generate: rows × decoding steps, the work whatever the lengths
            seq = out if isinstance(out, torch.Tensor) else out.sequences
            self.positions += seq.shape[0] * (seq.shape[1] - kwargs["input_ids"].shape[1])
        return out


def prompt_ids(tokenizer: Any, n: int) -> list[list[int]]:
    """``n`` short plain-text prompts of similar length, tokenized."""
    topics = ["rivers", "bread", "comets", "owls", "glass", "tides", "maps", "bees", "salt", "wind", "clocks", "moss"]
    return [tokenizer(f"Write one sentence about {topics[i % len(topics)]} number {i}.")["input_ids"] for i in range(n)]


def plain_generate(model: Any, prompts: list[list[int]], args: argparse.Namespace, eos: int, pad: int) -> torch.Tensor:
    """Plain ``generate`` on the sampler's batches, inputs and per-batch seeds; returns the completions."""
    rows = [p for p in prompts for _ in range(args.num_samples)]
    ids, mask = sampling.left_pad(rows, pad)
    starts = range(0, len(rows), args.batch_size)
    seeds = np.random.SeedSequence(args.seed).spawn(len(starts))
    pieces = []
    with torch.no_grad():
        for start, ss in zip(starts, seeds, strict=True):
            m = mask[start : start + args.batch_size]
            with torch.random.fork_rng():
                torch.manual_seed(int(ss.generate_state(1)[0]))
                out = model.generate(
                    input_ids=ids[start : start + args.batch_size],
                    attention_mask=m.long(),
                    position_ids=sampling.position_ids(m),
                    do_sample=True,
                    temperature=args.temperature,
                    top_k=0,
                    top_p=1.0,
                    max_new_tokens=args.max_new_tokens,
                    pad_token_id=pad,
                )
            new = torch.full((out.shape[0], args.max_new_tokens), pad, dtype=torch.long)
            new[:, : out.shape[1] - ids.shape[1]] = out[:, ids.shape[1] :]
            pieces.append(new)
    completions = torch.cat(pieces)
    mask = kl.mask_from_lengths(sampling.completion_lengths(completions, eos), args.max_new_tokens)
    return torch.where(mask, completions, torch.full_like(completions, pad))


VARIANTS = {
    "old: unshared + teacher-forced": dict(share_prefill=False, teacher_forced=True),
    "new: shared + own logits": dict(),
    "new: shared, score=False": dict(score=False),
}


def timed(fn: Any, timers: tuple[Timer, Timer]) -> tuple[Any, dict[str, float]]:
    for t in timers:
        t.reset()
    cpu = time.process_time()
    out = fn()
    total = time.process_time() - cpu
    generate, scoring = timers
    return out, {"cpu": total, "generate": generate.cpu_seconds, "scoring": scoring.cpu_seconds,
                 "positions": generate.positions}  # fmt: skip


def part_sampler(model: Any, tok: Any, args: argparse.Namespace, timers: tuple[Timer, Timer]) -> None:
    eos, pad = tok.eos_token_id, tok.pad_token_id
    prompts = prompt_ids(tok, args.prompts)

    def ours(**kw: Any) -> sampling.Samples:
        return sampling.sample(model, prompts, num_samples=args.num_samples, temperature=args.temperature,
                               max_new_tokens=args.max_new_tokens, eos_token_id=eos, pad_token_id=pad,
                               seed=args.seed, batch_size=args.batch_size, score_batch_size=args.score_batch_size,
                               **kw)  # fmt: skip

    runs: dict[str, list[dict[str, float]]] = {"plain generate": [], **{name: [] for name in VARIANTS}}
    outputs: dict[str, Any] = {}
    calls = {"plain generate": lambda: plain_generate(model, prompts, args, eos, pad)}
    calls.update({name: (lambda kw=kw: ours(**kw)) for name, kw in VARIANTS.items()})
    order = list(calls)
    for k in range(args.rounds):
        for name in order[k % len(order) :] + order[: k % len(order)]:  # rotated: no variant always runs first
            outputs[name], r = timed(calls[name], timers)
            runs[name].append(r)

    plain = outputs["plain generate"]
    old = outputs["old: unshared + teacher-forced"]
    assert torch.equal(old.completion_ids, plain), "ours (unshared) and plain generate drew different samples"
    new = outputs["new: shared + own logits"]
    same = (new.completion_ids == plain).all(dim=1)
    diff = (new.logprobs - old.logprobs)[same].abs().max().item()
    tokens = int(old.lengths.sum())
    print(
        f"part 1: {args.prompts} prompts × {args.num_samples} samples = {len(plain)} rows, {args.batch_size} per "
        f"generate call, ≤ {args.max_new_tokens} new tokens, T = {args.temperature}; best CPU of {args.rounds} rounds"
    )
    print(
        f"  check: ours (unshared) drew exactly plain generate's {len(plain)} completions ({tokens} tokens); "
        f"shared prefill reproduced {int(same.sum())}/{len(plain)} rows, log-probs within {diff:.1e} of the "
        "teacher-forced ones there"
    )
    base = min(runs["plain generate"], key=lambda r: r["cpu"])
    base_pp = base["cpu"] / base["positions"]
    print(f"  {'':32s} {'CPU s':>7s} {'generate':>9s} {'teacher-f.':>10s} {'rest':>6s} {'ms/pos':>7s} {'/ plain':>8s}")
    for name, rs in runs.items():
        b = min(rs, key=lambda r: r["cpu"])
        rest = b["cpu"] - b["generate"] - b["scoring"]
        pp = b["cpu"] / b["positions"]
        print(
            f"  {name:32s} {b['cpu']:7.2f} {b['generate']:9.2f} {b['scoring']:10.2f} {rest:6.2f} "
            f"{1e3 * pp:7.2f} {pp / base_pp:8.2f}"
        )


def part_frontier(model: Any, tok: Any, args: argparse.Namespace, timers: tuple[Timer, Timer]) -> None:
    from alignlimits.experiments.frontier import frontier_config
    from alignlimits.lm.chat import chat_prompts
    from alignlimits.tasks import get_task

    cfg = frontier_config(
        "summarization", "full", model=args.model, n_prompts=args.frontier_prompts, n_samples=args.frontier_samples
    )
    inputs = get_task(cfg.task).inputs(cfg.n_prompts, max_document_words=cfg.max_document_words)
    prompts = chat_prompts(tok, inputs.requests)

    def run(**kw: Any) -> sampling.Samples:  # the call in alignlimits.experiments.frontier._run_batch
        return sampling.sample(model, prompts, num_samples=cfg.n_samples, temperature=cfg.temperature,
                               max_new_tokens=cfg.max_new_tokens, eos_token_id=tok.eos_token_id,
                               pad_token_id=tok.pad_token_id, seed=cfg.seed, batch_size=cfg.generation_batch_size,
                               score_batch_size=cfg.score_batch_size, **kw)  # fmt: skip

    names = list(VARIANTS)[:2]
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    outputs: dict[str, Any] = {}
    for k in range(args.frontier_rounds):
        for name in names[k % 2 :] + names[: k % 2]:
            outputs[name], r = timed(lambda name=name: run(**VARIANTS[name]), timers)
            runs[name].append(r)
    old, new = (outputs[n] for n in names)
    same = (old.completion_ids == new.completion_ids).all(dim=1)
    diff = (new.logprobs - old.logprobs)[same].abs().max().item()
    print(
        f"part 2 (frontier, summarization): {cfg.n_prompts} prompts of {[len(p) for p in prompts]} tokens × "
        f"{cfg.n_samples} samples, {cfg.generation_batch_size} rows per generate call, ≤ {cfg.max_new_tokens} new "
        f"tokens, T = {cfg.temperature}, scored; best CPU of {args.frontier_rounds} rounds"
    )
    print(f"  check: new drew {int(same.sum())}/{len(same)} rows identically to old, log-probs within {diff:.1e} there")
    rate = {}
    for name in names:
        b = min(runs[name], key=lambda r: r["cpu"])
        tokens = int(outputs[name].lengths.sum())
        rate[name] = tokens / b["cpu"]
        print(
            f"  {name:32s} {tokens} tokens in {b['cpu']:.2f} CPU s (generate {b['generate']:.2f}, teacher-forced "
            f"{b['scoring']:.2f}, rest {b['cpu'] - b['generate'] - b['scoring']:.2f}): {rate[name]:.1f} tokens/CPU s"
        )
    print(f"  tokens per CPU second incl. scoring, new / old: {rate[names[1]] / rate[names[0]]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct", help="smollm2-135m-instruct, tiny-gpt2 or a folder")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--num-samples", type=int, default=4, help="completions per prompt")
    parser.add_argument("--batch-size", type=int, default=32, help="rows per generate call (both)")
    parser.add_argument("--score-batch-size", type=int, default=8, help="rows per teacher-forced forward (old path)")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--frontier-prompts", type=int, default=2, help="summarization prompts in part 2 (0: skip)")
    parser.add_argument("--frontier-samples", type=int, default=64, help="samples per prompt in part 2")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: CPU times stay meaningful on a shared machine)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of part 1; the best of each is reported")
    parser.add_argument("--frontier-rounds", type=int, default=2, help="timed rounds of part 2 (minutes each)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model, tok = load_model(args.model, device="cpu", progress=False)
    print(f"model {args.model} (fp32, CPU, {args.threads} torch threads), torch {torch.__version__}")
    timers = (Timer(model.generate), Timer(sampling.token_logprobs))
    model.generate = timers[0]
    sampling.token_logprobs = timers[1]  # sample() looks the name up at call time
    warm = argparse.Namespace(**{**vars(args), "prompts": 2, "num_samples": 2, "rounds": 1})
    part_sampler(model, tok, warm, timers)  # warm-up (and a quick check), not reported
    print("--- (the above was the warm-up) ---")
    part_sampler(model, tok, args, timers)
    if args.frontier_prompts > 0:
        part_frontier(model, tok, args, timers)


if __name__ == "__main__":
    main()
