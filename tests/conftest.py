"""Shared pytest fixtures."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's torch code on one thread: on a shared 2-core machine, extra threads
    only add contention to tiny tensors (measured ~100x slower ops with 2 threads)."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)
