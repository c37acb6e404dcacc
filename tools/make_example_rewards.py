"""Write book/data/example_rewards.csv: synthetic rewards of base-model samples (seeded).

The rewards are SYNTHETIC, drawn from a toy law meant to look like a reward model's
scores of sampled completions: 200 prompts × 32 samples. Each prompt has its own
difficulty (mean, a Gaussian across prompts) and spread (log-normal across prompts),
and within a prompt the score is skew-normal-like: a Gaussian plus an occasional
exponential bonus ("a much better completion"). Run from the repository root:

    python tools/make_example_rewards.py
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

N_PROMPTS = 200
SAMPLES_PER_PROMPT = 32
SEED = 20241129
OUT = Path(__file__).resolve().parents[1] / "book" / "data" / "example_rewards.csv"


def make_rewards(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Prompt ids (shape (N,), strings) and rewards (shape (N,)) of the toy law."""
    prompt_mean = rng.normal(0.0, 1.0, size=N_PROMPTS)
    prompt_sd = np.exp(rng.normal(np.log(0.6), 0.3, size=N_PROMPTS))
    ids = np.repeat(np.arange(N_PROMPTS), SAMPLES_PER_PROMPT)
    noise = rng.normal(size=ids.size)
    bonus = (rng.random(ids.size) < 0.1) * rng.exponential(1.0, size=ids.size)
    rewards = prompt_mean[ids] + prompt_sd[ids] * (noise + bonus)
    return np.array([f"prompt-{i:03d}" for i in ids]), np.round(rewards, 4)


def main() -> None:
    ids, rewards = make_rewards(np.random.default_rng(SEED))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["prompt_id", "reward"])
        writer.writerows(zip(ids, (f"{r:.4f}" for r in rewards), strict=True))
    print(f"wrote {ids.size} rows to {OUT}")


if __name__ == "__main__":
    main()
