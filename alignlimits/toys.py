r"""Toy reward laws under the base policy: samplers and exact frontiers.

A *reward law* is the distribution of ``r(y)`` for ``y ~ π0``. Everything on the
KL–reward frontier depends on the base policy only through it (DESIGN.md §1: the
cumulant form), so a toy law is a complete alignment problem.

Every law has

* ``sample(n, rng)`` — ``n`` rewards of base samples, shape ``(n,)``, float64;
* ``frontier(beta)`` — the exact frontier (:class:`alignlimits.tilting.Frontier`);
* ``mean``, ``std`` — moments of the reward under ``π0``.

Closed forms (with ``λ = 1/β``, ``Λ(λ) = log E_π0 e^{λr}``):

* ``Gaussian(μ, σ)``: ``Λ = μλ + σ²λ²/2``; ``π_β`` is ``N(μ + σ²/β, σ²)``;
  gain ``σ²/β``, KL = reverse KL ``= σ²/(2β²)``; hence gain ``= σ·sqrt(2·KL)`` exactly.
* ``Bernoulli(p)`` (rewards 0/1): ``π_β`` is Bernoulli with
  ``p_β = expit(logit p + 1/β)``; gain ``p_β − p``; KL and reverse KL are the
  Bernoulli divergences between ``p_β`` and ``p``.
* ``Categorical(values, probs)``: the exact discrete tilt
  (:func:`alignlimits.tilting.frontier`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, logit, rel_entr

from alignlimits import tilting
from alignlimits._validation import as_betas, as_finite_array, as_probabilities, check_same_shape

__all__ = ["Bernoulli", "Categorical", "Gaussian", "RewardLaw"]


class RewardLaw(ABC):
    """Base class: the law of the reward under the base policy ``π0``."""

    name: str = "reward law"

    @property
    @abstractmethod
    def mean(self) -> float:
        """``E_π0[r]``."""

    @property
    @abstractmethod
    def std(self) -> float:
        """``sqrt(Var_π0[r])``."""

    @abstractmethod
    def sample(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        """``n`` rewards of independent base samples, shape ``(n,)``."""

    @abstractmethod
    def frontier(self, beta: ArrayLike) -> tilting.Frontier:
        """The exact frontier at each β (arrays of shape ``(m,)``)."""


def _check_n(n: int) -> int:
    if not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive integer number of samples; got {n!r}.")
    return int(n)


@dataclass(frozen=True)
class Gaussian(RewardLaw):
    """Gaussian rewards ``r ~ N(mu, sigma²)`` under ``π0``."""

    mu: float = 0.0
    sigma: float = 1.0
    name: str = "Gaussian"

    def __post_init__(self) -> None:
        if not (np.isfinite(self.mu) and np.isfinite(self.sigma) and self.sigma > 0):
            raise ValueError(f"Gaussian needs finite mu and sigma > 0; got mu={self.mu}, sigma={self.sigma}.")

    @property
    def mean(self) -> float:
        return float(self.mu)

    @property
    def std(self) -> float:
        return float(self.sigma)

    def sample(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        return rng.normal(self.mu, self.sigma, size=_check_n(n))

    def frontier(self, beta: ArrayLike) -> tilting.Frontier:
        b = np.atleast_1d(as_betas(beta))
        gain = self.sigma**2 / b
        kl = self.sigma**2 / (2 * b**2)
        return tilting.Frontier(beta=b, kl=kl, reverse_kl=kl.copy(), gain=gain, jeffreys=2 * kl, base_mean=self.mean)


@dataclass(frozen=True)
class Bernoulli(RewardLaw):
    """Binary rewards: ``r = 1`` with probability ``p`` under ``π0``, else 0."""

    p: float = 0.5
    name: str = "Bernoulli"

    def __post_init__(self) -> None:
        if not 0 < self.p < 1:
            raise ValueError(f"Bernoulli needs 0 < p < 1 (otherwise the reward is constant); got p={self.p}.")

    @property
    def mean(self) -> float:
        return float(self.p)

    @property
    def std(self) -> float:
        return float(np.sqrt(self.p * (1 - self.p)))

    def sample(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        return (rng.random(_check_n(n)) < self.p).astype(np.float64)

    def frontier(self, beta: ArrayLike) -> tilting.Frontier:
        b = np.atleast_1d(as_betas(beta))
        p_b = expit(logit(self.p) + 1.0 / b)  # the tilted success probability, in log-odds
        kl = rel_entr(p_b, self.p) + rel_entr(1 - p_b, 1 - self.p)
        rkl = rel_entr(self.p, p_b) + rel_entr(1 - self.p, 1 - p_b)
        return tilting.Frontier(beta=b, kl=kl, reverse_kl=rkl, gain=p_b - self.p, jeffreys=kl + rkl, base_mean=self.p)


@dataclass(frozen=True, eq=False)
class Categorical(RewardLaw):
    """A discrete reward law: reward ``values[i]`` with probability ``probs[i]``."""

    values: NDArray[np.float64]
    probs: NDArray[np.float64]
    name: str = "categorical"

    def __init__(self, values: ArrayLike, probs: ArrayLike, name: str = "categorical") -> None:
        v = as_finite_array(values, "values")
        q = as_probabilities(probs, "probs")
        check_same_shape(v, q, "values", "probs")
        if v.ndim != 1:
            raise ValueError(f"values must be 1-D; got shape {v.shape}.")
        object.__setattr__(self, "values", v)
        object.__setattr__(self, "probs", q)
        object.__setattr__(self, "name", name)

    @property
    def mean(self) -> float:
        return float(self.probs @ self.values)

    @property
    def std(self) -> float:
        return float(np.sqrt(self.probs @ (self.values - self.mean) ** 2))

    def sample(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        return rng.choice(self.values, size=_check_n(n), p=self.probs)

    def frontier(self, beta: ArrayLike) -> tilting.Frontier:
        return tilting.frontier(self.probs, self.values, beta)
