"""Benchmark: the vectorised frontier estimator against a naive loop and the exp() floor.

Times, on the same rewards in the same run:

1. ``estimate_frontier`` (chunked, vectorised over samples, prompts and β), with and
   without the PSIS k̂ diagnostic;
2. a naive loop: for each β and each prompt, ``scipy.special.log_softmax`` and the
   plug-in formulas on that prompt's samples;
3. the floor: one vectorised pass computing the ``n × |β|`` exponentials
   ``exp((r − r_max)/β)`` (in the same chunks), with nothing else.

It prints the times, the ratios, the peak memory traced by ``tracemalloc`` for the
vectorised call and the peak resident set size of the process, which stay far below
the 2 GiB that ``n × |β|`` float64 values would take at once. Reproducible (seeded);
not a test. Run from the repository root:

    python benchmarks/bench_estimator.py                    # 10^6 rewards, 256 β (the issue's case)
    python benchmarks/bench_estimator.py --prompts 100 --samples 100 --betas 64   # quick
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
from scipy.special import log_softmax

from alignlimits import estimator


def naive(rewards: np.ndarray, ids: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """Gain and KL by a Python loop over β and prompts (the reference implementation)."""
    prompts = [rewards[ids == p] for p in np.unique(ids)]
    out = np.empty((betas.size, 2))
    for j, beta in enumerate(betas):
        gain = kl = 0.0
        for r in prompts:
            logw = log_softmax(r / beta)
            w = np.exp(logw)
            gain += w @ r - r.mean()
            kl += w @ logw + np.log(r.size)
        out[j] = gain / len(prompts), kl / len(prompts)
    return out


def exp_floor(rewards: np.ndarray, ids: np.ndarray, betas: np.ndarray) -> float:
    """One pass of the n × |β| exponentials in chunks; returns a checksum so it is not skipped."""
    r_max = np.zeros(ids.max() + 1)
    np.maximum.at(r_max, ids, rewards)
    from_top = rewards - r_max[ids]
    step = max(1, estimator._CHUNK_VALUES // rewards.size)
    total = 0.0
    for lo in range(0, betas.size, step):
        total += float(np.exp(from_top[None, :] / betas[lo : lo + step, None]).sum())
    return total


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=1000, help="samples per prompt")
    parser.add_argument("--betas", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    ids = np.repeat(np.arange(args.prompts), args.samples)
    rewards = rng.normal(size=ids.size) + rng.normal(size=args.prompts)[ids]
    betas = np.geomspace(0.05, 20.0, args.betas)
    n_values = rewards.size * betas.size
    print(f"{rewards.size:,} rewards ({args.prompts} prompts × {args.samples}), {betas.size} β values")
    print(f"n × |β| = {n_values:,} values = {n_values * 8 / 2**30:.2f} GiB as float64 at once")

    tracemalloc.start()
    fit, t_vec = timed(estimator.estimate_frontier, rewards, betas, ids, diagnostics=False)
    _, peak_vec = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    _, t_diag = timed(estimator.estimate_frontier, rewards, betas, ids)
    _, peak_diag = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    _, t_floor = timed(exp_floor, rewards, ids, betas)
    ref, t_naive = timed(naive, rewards, ids, betas)
    err = max(np.abs(ref[:, 0] - fit.gain).max(), np.abs(ref[:, 1] - fit.kl).max())

    print(f"vectorised estimate_frontier (no k̂) : {t_vec:8.2f} s   peak traced memory {peak_vec / 2**20:7.1f} MiB")
    print(f"vectorised estimate_frontier (+ k̂)  : {t_diag:8.2f} s   peak traced memory {peak_diag / 2**20:7.1f} MiB")
    print(f"floor: one pass of n×|β| exponentials: {t_floor:8.2f} s")
    print(f"naive loop over β and prompts       : {t_naive:8.2f} s")
    print(f"speed-up over the naive loop        : {t_naive / t_vec:8.1f}×  (with k̂: {t_naive / t_diag:.1f}×)")
    print(f"cost relative to the exp() floor    : {t_vec / t_floor:8.2f}×")
    print(f"largest difference from the naive loop: {err:.2e}")
    # ru_maxrss is in KiB on Linux; it includes the interpreter, numpy and the input arrays
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak resident set size of the whole process: {peak_rss:.2f} GiB")
    assert err < 1e-9, "the vectorised estimator disagrees with the naive loop"
    assert peak_diag < 2**30, "peak memory above 1 GiB"


if __name__ == "__main__":
    main()
