"""Benchmark: the vectorised exact frontier against a per-β loop of the same formulas.

Both compute the frontier of a random discrete problem with k outcomes over a grid of
m values of β; the vectorised version does it in one pass of array operations. The
script prints both timings, the speed-up and the largest disagreement (which must be
at rounding level), so the comparison is made in the same run on the same machine.

    python benchmarks/bench_frontier.py [--k 10000] [--m 200] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from alignlimits import tilting


def per_beta_loop(base: np.ndarray, reward: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """The baseline: one scalar call per β (what a naive user would write)."""
    return np.array([tilting.frontier(base, reward, b).gain for b in betas])


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", type=int, default=10_000, help="number of outcomes")
    parser.add_argument("--m", type=int, default=200, help="number of β values")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    base = rng.dirichlet(np.ones(args.k))
    reward = rng.normal(size=args.k)
    betas = np.geomspace(1e-3, 1e3, args.m)

    vectorised = best_time(lambda: tilting.frontier(base, reward, betas), args.repeats)
    loop = best_time(lambda: per_beta_loop(base, reward, betas), args.repeats)
    disagreement = np.abs(tilting.frontier(base, reward, betas).gain - per_beta_loop(base, reward, betas)).max()
    print(f"k={args.k} outcomes, m={args.m} betas, best of {args.repeats}")
    print(f"  vectorised frontier : {vectorised * 1e3:9.2f} ms")
    print(f"  per-beta loop       : {loop * 1e3:9.2f} ms")
    print(f"  speed-up            : {loop / vectorised:9.1f}x")
    print(f"  max |difference|    : {disagreement:.1e}")


if __name__ == "__main__":
    main()
