"""Coverage check of the certified bounds (alignlimits.certify): the full version of the test.

For each of six reward laws on [0, 1] (Bernoulli, four values with ties, uniform,
Beta(2, 5), Beta(0.5, 0.5), a bimodal mixture) and n in {32, 256, 4096}, draws
``reps`` samples of size n, computes the 95 % bounds at KL budgets 0.1 and 1 nat and
counts how often ``lower ≤ Δ*(ε) ≤ upper`` holds at both budgets, against the true
``Δ*`` (exact for the discrete laws, from 20 000 cells for the continuous ones). Prints
coverage ± its Monte-Carlo standard error, the mean width and the mean plug-in
estimate, and fails (exit 1) if any coverage is below 95 % − 3 standard errors.
Seeded; not a test. Run from the repository root:

    python benchmarks/bench_certify.py                       # reps 1000 / 400 / 100
    python benchmarks/bench_certify.py --reps 200 100 20     # quick
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.test_certify import BUDGETS, LAWS, LEVEL, _replicate_bounds, _truth


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, nargs=3, default=[1000, 400, 100], help="replicates at n = 32, 256, 4096")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    failed = False
    print(f"{'law':42s} {'n':>5s} {'reps':>5s} {'coverage':>15s} {'width@0.1':>10s} {'width@1':>8s} {'plug-in@1':>9s}")
    start = time.perf_counter()
    for law in LAWS:
        truth = _truth(law)
        for n, reps in zip((32, 256, 4096), args.reps, strict=True):
            x = law.sample(rng, (reps, n))
            lower, upper = _replicate_bounds(x, BUDGETS)
            covered = np.all((lower <= truth + 1e-9) & (truth <= upper + 1e-9), axis=1).mean()
            se = math.sqrt(LEVEL * (1 - LEVEL) / reps)
            ok = covered >= LEVEL - 3 * se
            failed |= not ok
            width = (upper - lower).mean(axis=0)
            plug = np.mean([_plug_in(row, BUDGETS[1]) for row in x[: min(reps, 50)]])
            print(
                f"{law.name:42s} {n:5d} {reps:5d} {covered:8.3f} ± {se:.3f} {width[0]:10.4f} {width[1]:8.4f}"
                f" {plug:9.4f}{'' if ok else '  BELOW NOMINAL'}"
            )
    print(f"true Δ* at ε = {BUDGETS}: see tests.test_certify._truth; {time.perf_counter() - start:.0f} s")
    return 1 if failed else 0


def _plug_in(x: np.ndarray, eps: float) -> float:
    from alignlimits import tilting

    return float(tilting.max_gain(np.full(x.size, 1.0 / x.size), x, eps))


if __name__ == "__main__":
    raise SystemExit(main())
