"""Random discrete alignment problems for unit and property tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays


def random_problem(rng: np.random.Generator, k: int = 6, concentration: float = 1.0):
    """A random discrete alignment problem: base probabilities and rewards of shape (k,)."""
    return rng.dirichlet(np.full(k, concentration)), rng.normal(size=k)


@st.composite
def discrete_problems(draw, min_k: int = 2, max_k: int = 8):
    """Hypothesis strategy: (base_probs, rewards) with non-constant rewards and π0 > 0."""
    k = draw(st.integers(min_k, max_k))
    weights = draw(arrays(np.float64, k, elements=st.floats(0.05, 1.0)))
    rewards = draw(arrays(np.float64, k, elements=st.floats(-3.0, 3.0)))
    rewards = rewards + np.linspace(0.0, 1e-3, k)  # never exactly constant
    return weights / weights.sum(), rewards
