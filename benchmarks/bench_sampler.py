"""Benchmark: our sampler against plain ``model.generate(do_sample=True)`` on the same model and settings.

Both draw ``num_samples`` completions of ``prompts`` prompts, ``batch_size`` rows per
``generate`` call, at the same temperature with the same ``max_new_tokens``, from
left-padded prompts with attention masks, in the same process with the same torch
thread count. The script prints the tokens per second of each (real completion tokens,
EOS included, per wall-clock second and per CPU second, ``time.process_time``), where
the CPU time goes, the CPU time of ``generate`` per decoded position (rows × decoding
steps: the work of a call, whatever the completions' lengths, which differ when the
sampling laws differ) and the ratios. With one torch thread (the default) CPU times hardly
depend on other jobs sharing the cores; pass ``--threads 2`` on an idle machine.

:func:`alignlimits.lm.sampling.sample` does more than ``generate``, and the script times
those parts separately (``model.generate`` and ``sampling.token_logprobs`` are wrapped
with timers for the run):

* an explicit :func:`~alignlimits.lm.sampling.generation_config` (no top-k/top-p/min-p,
  no penalties) and an emptied model ``generation_config`` while generating, so the
  samples follow ``softmax(logits/T)`` exactly; plain ``generate`` falls back on the
  model's and the library's defaults (printed: transformers' default ``top_k = 50``);
* explicit ``position_ids``, one seed per batch inside ``torch.random.fork_rng``, and
  masks from lengths (cheap);
* a **teacher-forced scoring pass**: one extra forward over prompt + completion that
  returns ``log π(y_t|…)`` at the temperature in float64 (what the frontier estimator
  and the RL code consume), ``score_batch_size`` rows at a time.

Reproducible (seeded); not a test. From the repository root::

    python benchmarks/bench_sampler.py                   # SmolLM2-135M-Instruct, 8 prompts × 4, 32 tokens
    python benchmarks/bench_sampler.py --same-law       # plain generate at top_k=0, top_p=1 too
    python benchmarks/bench_sampler.py --model tiny-gpt2 --repeats 1
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

from alignlimits.lm import sampling
from alignlimits.lm.models import load_model


class Timer:
    """Wraps a callable, adding up the wall-clock and CPU seconds spent in it."""

    def __init__(self, fn: Any) -> None:
        self.fn, self.seconds, self.cpu_seconds, self.positions = fn, 0.0, 0.0, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        start, cpu = time.perf_counter(), time.process_time()
        try:
            out = self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start
            self.cpu_seconds += time.process_time() - cpu
        if "input_ids" in kwargs:  # generate: rows × decoding steps, the work whatever the lengths
            self.positions += out.shape[0] * (out.shape[1] - kwargs["input_ids"].shape[1])
        return out


def prompt_ids(tokenizer: Any, n: int) -> list[list[int]]:
    """``n`` short plain-text prompts of similar length, tokenized."""
    topics = ["rivers", "bread", "comets", "owls", "glass", "tides", "maps", "bees", "salt", "wind", "clocks", "moss"]
    return [tokenizer(f"Write one sentence about {topics[i % len(topics)]} number {i}.")["input_ids"] for i in range(n)]


def effective_sampling_defaults(model: Any) -> dict[str, Any]:
    """The truncation/penalty settings plain ``generate`` uses: the model's config, else the library's defaults."""
    from transformers import GenerationConfig

    try:  # transformers >= 5 fills fields left None from here (e.g. top_k = 50)
        library = GenerationConfig._get_default_generation_params()
    except AttributeError:
        library = GenerationConfig().to_dict()
    own = model.generation_config
    keys = ("top_k", "top_p", "min_p", "repetition_penalty")
    return {k: getattr(own, k, None) if getattr(own, k, None) is not None else library.get(k) for k in keys}


def plain_generate(model: Any, prompts: list[list[int]], args: argparse.Namespace, eos: int, pad: int) -> int:
    """What a user writes: ``generate(do_sample=True, temperature, max_new_tokens)`` per batch; returns tokens."""
    rows = [p for p in prompts for _ in range(args.num_samples)]
    ids, mask = sampling.left_pad(rows, pad)
    torch.manual_seed(args.seed)
    tokens = 0
    with torch.no_grad():
        for start in range(0, len(rows), args.batch_size):
            out = model.generate(
                input_ids=ids[start : start + args.batch_size],
                attention_mask=mask[start : start + args.batch_size].long(),
                do_sample=True,
                temperature=args.temperature,
                max_new_tokens=args.max_new_tokens,
                pad_token_id=pad,
                **({"top_k": 0, "top_p": 1.0} if args.same_law else {}),
            )
            tokens += int(sampling.completion_lengths(out[:, ids.shape[1] :], eos).sum())
    return tokens


def ours(model: Any, prompts: list[list[int]], args: argparse.Namespace, eos: int, pad: int) -> int:
    samples = sampling.sample(
        model,
        prompts,
        num_samples=args.num_samples,
        temperature=args.temperature,
        max_new_tokens=args.max_new_tokens,
        eos_token_id=eos,
        pad_token_id=pad,
        seed=args.seed,
        batch_size=args.batch_size,
        score_batch_size=args.score_batch_size,
    )
    return int(samples.lengths.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct", help="smollm2-135m-instruct, tiny-gpt2 or a folder")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--num-samples", type=int, default=4, help="completions per prompt")
    parser.add_argument("--batch-size", type=int, default=32, help="rows per generate call (both)")
    parser.add_argument("--score-batch-size", type=int, default=8, help="rows per teacher-forced scoring forward")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: CPU times stay meaningful on a shared machine)"
    )
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each; the best is reported")
    parser.add_argument(
        "--same-law", action="store_true", help="give plain generate top_k=0, top_p=1 too (same sampling law as ours)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model, tok = load_model(args.model, device="cpu")
    eos, pad = tok.eos_token_id, tok.pad_token_id
    prompts = prompt_ids(tok, args.prompts)
    rows = args.prompts * args.num_samples
    effective = effective_sampling_defaults(model)
    print(
        f"model {args.model} (fp32, CPU, {args.threads} torch threads): {args.prompts} prompts × {args.num_samples} "
        f"samples = {rows} rows, {args.batch_size} per generate call, ≤ {args.max_new_tokens} new tokens, "
        f"T = {args.temperature}, best of {args.repeats} after one warm-up"
    )
    print(
        f"  plain generate samples with the model's generation_config, unset fields from transformers' defaults: "
        f"{effective}{' but top_k=0, top_p=1 (--same-law)' if args.same_law else ''}; "
        "ours with top_k=0, top_p=1, min_p=0, no penalties"
    )

    generate = Timer(model.generate)
    model.generate = generate
    scoring = Timer(sampling.token_logprobs)
    sampling.token_logprobs = scoring  # sample() looks the name up at call time
    small = argparse.Namespace(**{**vars(args), "num_samples": 1})
    plain_generate(model, prompts[:2], small, eos, pad)  # warm-up
    ours(model, prompts[:2], small, eos, pad)

    results = {}
    for name, fn in (("plain generate", plain_generate), ("ours: sampling.sample", ours)):
        runs = []
        for _ in range(args.repeats):
            generate.seconds = generate.cpu_seconds = scoring.seconds = scoring.cpu_seconds = 0.0
            generate.positions = 0
            start, cpu = time.perf_counter(), time.process_time()
            tokens = fn(model, prompts, args, eos, pad)
            runs.append({
                "wall": time.perf_counter() - start, "cpu": time.process_time() - cpu, "tokens": tokens,
                "generate": generate.cpu_seconds, "scoring": scoring.cpu_seconds, "positions": generate.positions,
            })  # fmt: skip
        wall, best = min(r["wall"] for r in runs), min(runs, key=lambda r: r["cpu"])
        results[name] = best
        other = best["cpu"] - best["generate"] - best["scoring"]
        print(
            f"{name:22s}: {best['tokens'] / wall:7.1f} tokens/s wall, {best['tokens'] / best['cpu']:7.1f} tokens/s "
            f"CPU ({best['tokens']} tokens; CPU {best['cpu']:.2f} s = generate {best['generate']:.2f} s + "
            f"teacher-forced scoring {best['scoring']:.2f} s + other {other:.2f} s); generate: "
            f"{1e3 * best['generate'] / best['positions']:.2f} ms CPU per decoded position (row × step)"
        )
    mine, plain = results["ours: sampling.sample"], results["plain generate"]
    rate = {name: r["tokens"] / r["cpu"] for name, r in results.items()}
    per_position = {name: r["generate"] / r["positions"] for name, r in results.items()}
    ratio = rate["ours: sampling.sample"] / rate["plain generate"]
    print(f"tokens per CPU second, ratio ours / plain (lengths differ) : {ratio:.2f}")
    ratio = per_position["ours: sampling.sample"] / per_position["plain generate"]
    print(f"generate CPU per decoded position, ratio ours / plain       : {ratio:.2f}")
    whole = {name: r["cpu"] / r["positions"] for name, r in results.items()}
    ratio = whole["ours: sampling.sample"] / whole["plain generate"]
    print(f"whole call CPU per decoded position, ratio ours / plain     : {ratio:.2f}  (lengths-independent)")
    print(f"teacher-forced scoring share of ours' CPU time             : {mine['scoring'] / mine['cpu']:.0%}")
    assert plain["tokens"] > 0 and mine["tokens"] > 0, "no tokens generated"


if __name__ == "__main__":
    main()
