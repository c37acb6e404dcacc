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
* ``Exponential(rate)`` (rate θ): ``Λ = log θ − log(θ − λ)`` for ``λ < θ`` only, so
  β must exceed ``1/θ``; ``π_β`` is ``Exp(θ − 1/β)``. With the mean ratio
  ``t = θ/(θ − 1/β)``: gain ``(t − 1)/θ``, KL ``= t − 1 − log t``, reverse KL
  ``= log t + 1/t − 1``, and ``Δ*(ε) = (−W_{−1}(−e^{−1−ε}) − 1)/θ``.
* ``Uniform(a, b)`` (width ``w = b − a``, ``x = w/(2β)``): gain ``(w/2) L(x)`` with
  the Langevin function ``L(x) = coth x − 1/x``, reverse KL ``= log(sinh x / x)``,
  KL ``= x L(x) − log(sinh x / x)``; the gain saturates at ``w/2``.

The closed forms are evaluated without cancellation (``expm1``/``log1p``, series near
0, sums of non-negative terms), so KL, reverse KL, Jeffreys and gain keep full relative
precision and are never negative for β/σ from 1e-8 to 1e8 and extreme parameters
(Bernoulli p down to 1e-300, Gaussian σ from 1e-200 to 1e200, θβ → 1): property-tested
against mpmath in ``tests/test_extreme_numerics.py``.

Beyond the closed forms, :func:`numerical_frontier` computes the frontier of any law
from its density (adaptive quadrature of the tilted density, in log space) or its
pmf (the exact discrete tilt) — the independent check the closed forms are tested
against. :func:`gain_at_kl` gives ``Δ*(ε)`` for every law and :func:`sqrt_kl_bound`
the ``σ·sqrt(2·KL)`` curve it is compared with.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import integrate, optimize
from scipy.special import lambertw

from alignlimits import tilting
from alignlimits._kl_terms import forward_terms, psi, reverse_terms
from alignlimits._roots import BudgetAtCeiling, beta_for_budget
from alignlimits._validation import (
    as_betas,
    as_finite_array,
    as_kl_budgets,
    as_probabilities,
    check_same_shape,
    squeeze_fields,
)

__all__ = [
    "Bernoulli",
    "Categorical",
    "Exponential",
    "Gaussian",
    "RewardLaw",
    "Uniform",
    "gain_at_kl",
    "numerical_frontier",
    "sqrt_kl_bound",
]


class RewardLaw(ABC):
    """Base class: the law of the reward under the base policy ``π0``.

    Examples
    --------
    Every law shares this interface (here the Gaussian, whose frontier is the √KL law):

    >>> from alignlimits.toys import Gaussian, RewardLaw
    >>> law = Gaussian(0.0, 2.0)
    >>> isinstance(law, RewardLaw), law.mean, law.std, law.max_gain
    (True, 0.0, 2.0, inf)
    >>> float(law.frontier(2.0).gain), law.gain_at_kl(0.5)  # σ²/β and σ·sqrt(2ε)
    (2.0, 2.0)
    """

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
        """The exact frontier at each β (arrays of shape ``(m,)``; scalars for a scalar β)."""

    # Optional descriptions used by the generic numerical frontier. A law defines
    # either ``atoms`` (discrete) or ``logpdf`` and ``support`` (continuous).

    def atoms(self) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        """``(values, probs)`` of a discrete law; ``None`` for a law with a density."""
        return None

    def logpdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """Log-density of the reward under ``π0`` (continuous laws only)."""
        raise TypeError(f"{type(self).__name__} is discrete and has no density; use atoms().")

    @property
    def support(self) -> tuple[float, float]:
        """``(lo, hi)``, the closed hull of the reward's support (may be infinite)."""
        pmf = self.atoms()
        if pmf is None:
            raise TypeError(f"{type(self).__name__} defines neither atoms() nor support: it cannot be integrated.")
        values, probs = pmf
        return float(values[probs > 0].min()), float(values[probs > 0].max())

    @property
    def beta_min(self) -> float:
        """The infimum of the β with a finite partition function ``E e^{r/β}`` (0 for most laws)."""
        return 0.0

    @property
    def max_kl(self) -> float:
        """``sup_β KL(π_β‖π0)``: ``−log π0(r = max r)`` for discrete laws, ``inf`` otherwise."""
        pmf = self.atoms()
        return float("inf") if pmf is None else tilting.max_kl(pmf[1], pmf[0])

    @property
    def max_gain(self) -> float:
        """``sup_β Δ(β) = sup r − E_π0 r`` (``inf`` for unbounded rewards)."""
        return self.support[1] - self.mean

    def gain_at_kl(self, kl: ArrayLike) -> NDArray[np.float64] | float:
        """``Δ*(ε)``: the largest gain of any policy with ``KL(π‖π0) ≤ ε``.

        A float for a scalar ``kl``, else shape ``(n,)``.

        Discrete laws use :func:`alignlimits.tilting.max_gain`; continuous ones solve
        ``KL(π_β‖π0) = ε`` for β with Brent's method on this law's exact frontier.
        Subclasses with a closed-form inverse override it.
        """
        budgets = as_kl_budgets(kl, "kl")
        pmf = self.atoms()
        if pmf is not None:
            return tilting.max_gain(pmf[1], pmf[0], budgets)
        out = np.array([0.0 if e == 0 else float(self.frontier(self._beta_for_kl(e)).gain) for e in np.ravel(budgets)])
        return _scalar_if(budgets, out)

    def _beta_for_kl(self, eps: float) -> float:
        try:
            return beta_for_budget(lambda beta: float(self.frontier(beta).kl), eps, self.std, beta_min=self.beta_min)
        except BudgetAtCeiling:
            raise ValueError(
                f"KL budget {eps!r} is beyond what any β > {self.beta_min} reaches for {self!r}."
            ) from None


def _scalar_if(requested: NDArray, out: NDArray[np.float64]) -> NDArray[np.float64] | float:
    """A float when the request (β or budget) was a scalar, else the array ``out``."""
    return float(out[0]) if np.ndim(requested) == 0 else out


def _point(front: tilting.Frontier, beta: ArrayLike) -> tilting.Frontier:
    """The frontier with scalar fields when ``beta`` was a scalar (the package's convention)."""
    return squeeze_fields(front, np.ndim(beta) == 0, tilting.FRONTIER_FIELDS)


def _check_n(n: int) -> int:
    if not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive integer number of samples; got {n!r}.")
    return int(n)


@dataclass(frozen=True)
class Gaussian(RewardLaw):
    """Gaussian rewards ``r ~ N(mu, sigma²)`` under ``π0``.

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.toys import Gaussian
    >>> f = Gaussian(0.0, 2.0).frontier(2.0)  # gain σ²/β, KL σ²/(2β²)
    >>> float(f.gain), float(f.kl), float(f.reverse_kl)
    (2.0, 0.5, 0.5)
    >>> Gaussian(0.0, 2.0).gain_at_kl([0.5, 2.0])  # σ·sqrt(2ε)
    array([2., 4.])
    >>> Gaussian().sample(3, np.random.default_rng(0)).round(6)
    array([ 0.12573 , -0.132105,  0.640423])
    """

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
        with np.errstate(over="ignore"):
            ratio = self.sigma / b  # σ/β first: σ² alone overflows (σ = 1e200) or underflows (σ = 1e-200)
        gain = self.sigma * ratio
        kl = 0.5 * ratio**2
        front = tilting.Frontier(beta=b, kl=kl, reverse_kl=kl.copy(), gain=gain, jeffreys=2 * kl, base_mean=self.mean)
        return _point(front, beta)

    def logpdf(self, x: ArrayLike) -> NDArray[np.float64]:
        z = (np.asarray(x, dtype=np.float64) - self.mu) / self.sigma
        return -0.5 * z**2 - np.log(self.sigma) - 0.5 * np.log(2 * np.pi)

    @property
    def support(self) -> tuple[float, float]:
        return -np.inf, np.inf

    def gain_at_kl(self, kl: ArrayLike) -> NDArray[np.float64] | float:
        """``Δ*(ε) = σ sqrt(2ε)`` exactly."""
        budgets = as_kl_budgets(kl, "kl")
        return _scalar_if(budgets, self.sigma * np.sqrt(2 * np.atleast_1d(budgets)))


@dataclass(frozen=True)
class Bernoulli(RewardLaw):
    """Binary rewards: ``r = 1`` with probability ``p`` under ``π0``, else 0.

    Examples
    --------
    >>> from alignlimits.toys import Bernoulli
    >>> coin = Bernoulli(0.5)
    >>> f = coin.frontier(1.0)  # p_β = expit(0 + 1/β) = e/(1 + e)
    >>> round(float(f.gain), 6), round(float(f.kl), 6)
    (0.231059, 0.110944)
    >>> round(coin.max_kl, 6), coin.max_gain  # -log p and 1 - p: the gain saturates
    (0.693147, 0.5)
    """

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
        p, q = float(self.p), 1.0 - float(self.p)
        log_p, log_q = np.log(p), np.log1p(-p)
        with np.errstate(over="ignore", divide="ignore"):
            lam = 1.0 / b  # inf for a subnormal β: the greedy policy
            # The log-ratios ℓ1 = log(p_β/p) = −log(p + q e^{−λ}) and ℓ0 = log(q_β/q) = −log(q + p e^λ),
            # as log1p of a small argument where that has no cancellation (full relative precision
            # at β = 1e8, where ℓ ≈ 1e-8, and for p = 1e-300), else as a log-sum-exp.
            drop = q * -np.expm1(-lam)  # 1 − (p + q e^{−λ}) ∈ [0, q]
            ell1 = np.where(drop <= 0.5, -np.log1p(-drop), -np.logaddexp(log_p, log_q - lam))
            small = lam <= 700.0
            ell0 = np.where(
                small, -np.log1p(p * np.expm1(np.where(small, lam, 0.0))), -np.logaddexp(log_q, log_p + lam)
            )
            w, ell = np.array([q, p])[None, :], np.stack([ell0, ell1], axis=1)
            pi = np.exp(np.array([log_q, log_p])[None, :] + ell)
        # KL, reverse KL and gain as sums of non-negative terms (alignlimits._kl_terms): never negative.
        kl = forward_terms(w, pi, ell).sum(axis=1)
        rkl = reverse_terms(w, pi, ell).sum(axis=1)
        gain = np.where(ell1 <= 1.0, p * np.expm1(np.minimum(ell1, 1.0)), pi[:, 1] - p)  # p_β − p
        front = tilting.Frontier(beta=b, kl=kl, reverse_kl=rkl, gain=gain, jeffreys=kl + rkl, base_mean=p)
        return _point(front, beta)

    def atoms(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return np.array([0.0, 1.0]), np.array([1 - self.p, self.p])


@dataclass(frozen=True, eq=False)
class Categorical(RewardLaw):
    """A discrete reward law: reward ``values[i]`` with probability ``probs[i]``.

    Examples
    --------
    >>> from alignlimits.toys import Categorical
    >>> law = Categorical([0.0, 1.0, 3.0], [0.5, 0.3, 0.2])
    >>> round(law.mean, 6), round(law.std, 6)
    (0.9, 1.135782)
    >>> round(float(law.frontier(1.0).gain), 6), round(law.gain_at_kl(0.2), 6)
    (1.512862, 0.77411)
    >>> round(law.max_kl, 6)  # -log 0.2
    1.609438
    """

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

    def atoms(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return self.values, self.probs


@dataclass(frozen=True)
class Exponential(RewardLaw):
    """Right-skewed rewards ``r ~ Exp(rate)`` under ``π0`` (mean and std ``1/rate``).

    ``E e^{r/β}`` is finite only for ``β > 1/rate``: a smaller β has no tilt (the
    penalised objective is unbounded), and :meth:`frontier` refuses it.

    Examples
    --------
    >>> from alignlimits.toys import Exponential
    >>> law = Exponential(1.0)
    >>> f = law.frontier(2.0)  # t = θ/(θ − 1/β) = 2: gain (t − 1)/θ, KL t − 1 − log t
    >>> float(f.gain), round(float(f.kl), 6)
    (1.0, 0.306853)
    >>> round(law.gain_at_kl(0.306853), 5)  # the closed-form inverse
    1.0
    >>> law.frontier(0.5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Exponential(rate=1.0) rewards have E[exp(r/β)] = inf for β <= 1/rate = 1; got β = 0.5. ...
    """

    rate: float = 1.0
    name: str = "exponential"

    def __post_init__(self) -> None:
        if not (np.isfinite(self.rate) and self.rate > 0):
            raise ValueError(f"Exponential needs a finite rate > 0; got rate={self.rate}.")

    @property
    def mean(self) -> float:
        return 1.0 / self.rate

    @property
    def std(self) -> float:
        return 1.0 / self.rate

    @property
    def beta_min(self) -> float:
        return 1.0 / self.rate

    def sample(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        return rng.exponential(1.0 / self.rate, size=_check_n(n))

    def _check_betas(self, beta: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """β as an array, and ``θβ − 1`` rounded once (> 0 for every admissible β)."""
        b = np.atleast_1d(as_betas(beta))
        excess = _product_minus_one(np.full_like(b, self.rate), b)
        if (excess <= 0).any():
            raise ValueError(
                f"Exponential(rate={self.rate}) rewards have E[exp(r/β)] = inf for β <= 1/rate = "
                f"{self.beta_min:.6g}; got β = {b[excess <= 0][0]:.6g}. Use β > 1/rate "
                "(every KL budget is reached by some such β)."
            )
        return b, excess

    def frontier(self, beta: ArrayLike) -> tilting.Frontier:
        b, excess = self._check_betas(beta)
        # u = t − 1 with t = θ/(θ − 1/β) the ratio of tilted to base mean: u = 1/(θβ − 1), where θβ − 1
        # is exact to one rounding (θβ → 1 would otherwise lose digits). With ℓ = log t = log1p(u),
        # KL = t − 1 − log t = ψ(ℓ) and reverse KL = 1/t − 1 + log t = ψ(−ℓ), ψ(ℓ) = e^ℓ − 1 − ℓ:
        # from the series where u → 0 (β/σ = 1e8: KL ≈ 5e-17), where u − log1p(u) cancels.
        with np.errstate(over="ignore"):
            u = 1.0 / excess
        ell = np.log1p(u)
        kl = psi(ell, u)
        rkl = psi(-ell, -u / (1.0 + u))
        front = tilting.Frontier(
            beta=b, kl=kl, reverse_kl=rkl, gain=u / self.rate, jeffreys=kl + rkl, base_mean=self.mean
        )
        return _point(front, beta)

    def logpdf(self, x: ArrayLike) -> NDArray[np.float64]:
        x = np.asarray(x, dtype=np.float64)
        with np.errstate(divide="ignore"):
            return np.where(x >= 0, np.log(self.rate) - self.rate * x, -np.inf)

    @property
    def support(self) -> tuple[float, float]:
        return 0.0, np.inf

    def gain_at_kl(self, kl: ArrayLike) -> NDArray[np.float64] | float:
        """``Δ*(ε) = (t − 1)/θ`` with ``t = −W_{−1}(−e^{−1−ε})`` solving ``t − 1 − log t = ε``."""
        requested = as_kl_budgets(kl, "kl")
        budgets = np.atleast_1d(requested)
        # W_{-1} loses precision as ε → 0 (t → 1 sits at its branch point), so solve for
        # u = t − 1 with Newton on u − log1p(u) = ε, started from W_{-1} or, for small ε,
        # from the series u ≈ sqrt(2ε) + 2ε/3.
        small = budgets < 1e-3
        u = np.where(
            small,
            np.sqrt(2 * budgets) + 2 * budgets / 3,
            -lambertw(-np.exp(-1.0 - np.where(small, 1.0, budgets)), -1).real - 1.0,
        )
        for _ in range(4):
            safe = np.where(u > 0, u, 1.0)
            # u − log1p(u) = ψ(log1p(u)) without the cancellation of the difference (ε down to 1e-30).
            u = np.where(u > 0, u - (psi(np.log1p(safe), safe) - budgets) * (1 + safe) / safe, 0.0)
        return _scalar_if(requested, u / self.rate)


@dataclass(frozen=True)
class Uniform(RewardLaw):
    """Bounded rewards ``r ~ U(a, b)`` under ``π0``: the gain saturates at ``(b − a)/2``.

    Examples
    --------
    >>> from alignlimits.toys import Uniform
    >>> law = Uniform(0.0, 1.0)
    >>> round(float(law.frontier(1.0).gain), 6), round(float(law.frontier(0.01).gain), 6)
    (0.081977, 0.49)
    >>> law.max_gain  # the gain saturates at (b − a)/2
    0.5
    """

    a: float = 0.0
    b: float = 1.0
    name: str = "uniform"

    def __post_init__(self) -> None:
        if not (np.isfinite(self.a) and np.isfinite(self.b) and self.a < self.b):
            raise ValueError(f"Uniform needs finite a < b; got a={self.a}, b={self.b}.")

    @property
    def mean(self) -> float:
        return 0.5 * (self.a + self.b)

    @property
    def std(self) -> float:
        return (self.b - self.a) / np.sqrt(12.0)

    def sample(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        return rng.uniform(self.a, self.b, size=_check_n(n))

    def frontier(self, beta: ArrayLike) -> tilting.Frontier:
        b = np.atleast_1d(as_betas(beta))
        width = self.b - self.a
        with np.errstate(over="ignore"):
            x = width / (2.0 * b)  # inf for a subnormal β: the greedy limit, where both KLs diverge
        lang = _langevin(x)
        rkl = np.where(np.isinf(x), np.inf, _log_sinhc(np.where(np.isinf(x), 1.0, x)))
        kl = np.where(np.isinf(x), np.inf, _uniform_kl(np.where(np.isinf(x), 1.0, x), lang, rkl))
        front = tilting.Frontier(
            beta=b, kl=kl, reverse_kl=rkl, gain=0.5 * width * lang, jeffreys=kl + rkl, base_mean=self.mean
        )
        return _point(front, beta)

    def logpdf(self, x: ArrayLike) -> NDArray[np.float64]:
        x = np.asarray(x, dtype=np.float64)
        return np.where((x >= self.a) & (x <= self.b), -np.log(self.b - self.a), -np.inf)

    @property
    def support(self) -> tuple[float, float]:
        return float(self.a), float(self.b)


# Below x = 1, coth x − 1/x and log(sinh x / x) are small differences of O(1) terms (at x = 0.1
# they would lose 2–3 digits), so both come from series of positive terms instead:
#   sinh x / x − 1 = x² Σ_{n≥1} x^{2n−2}/(2n+1)!,   x cosh x − sinh x = x³ Σ_{n≥1} 2n x^{2n−2}/(2n+1)!,
# and L(x) = (x cosh x − sinh x)/(x sinh x). Nine terms leave < 1e-19 relative on x ≤ 1.
_SINHC_SERIES = tuple(1.0 / math.factorial(2 * n + 1) for n in range(9, 0, -1))  # highest power first
_LANGEVIN_NUMERATOR_SERIES = tuple(2.0 * n / math.factorial(2 * n + 1) for n in range(9, 0, -1))


def _langevin(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``L(x) = coth x − 1/x`` for ``x ≥ 0`` (``L(inf) = 1``), to full relative precision."""
    x = np.asarray(x, dtype=np.float64)
    small = x < 1.0
    xs = np.where(small, x, 0.0)
    x2 = xs * xs
    series = xs * np.polyval(_LANGEVIN_NUMERATOR_SERIES, x2) / (1.0 + x2 * np.polyval(_SINHC_SERIES, x2))
    xl = np.where(small, 1.0, x)
    return np.where(small, series, 1.0 / np.tanh(xl) - 1.0 / xl)


def _log_sinhc(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``log(sinh x / x)`` for ``x ≥ 0``, accurate for tiny and for huge x."""
    x = np.asarray(x, dtype=np.float64)
    small, large = x < 1.0, x > 20.0
    xs = np.where(small, x, 0.0)
    series = np.log1p(xs * xs * np.polyval(_SINHC_SERIES, xs * xs))
    xm = np.where(small | large, 1.0, x)
    mid = np.log(np.sinh(xm) / xm)
    xl = np.where(large, x, 21.0)
    big = xl - np.log(2 * xl) + np.log1p(-np.exp(-2 * xl))
    return np.where(small, series, np.where(large, big, mid))


def _uniform_kl(x: NDArray[np.float64], lang: NDArray[np.float64], log_sinhc: NDArray[np.float64]) -> NDArray:
    """``KL = x L(x) − log(sinh x / x) ≥ 0`` for ``x ≥ 0``.

    For ``x > 20`` both terms are ``≈ x`` and their difference ``≈ log(2x) − 1`` would lose
    ``log10(x)`` digits (1e-9 relative at x = 1e8), so there the exact rearrangement
    ``log(2x) − 1 + x(coth x − 1) − log1p(−e^{−2x})``, with ``x(coth x − 1) = 2x e^{−2x}/(1 − e^{−2x})``, is used.
    """
    xl = np.where(x > 20.0, x, 21.0)
    e2 = np.exp(-2.0 * xl)
    large = np.log(2.0 * xl) - 1.0 + 2.0 * xl * e2 / -np.expm1(-2.0 * xl) - np.log1p(-e2)
    # x L(x) ≈ x²/3 and log(sinh x/x) ≈ x²/6 below: a factor-2 difference, no cancellation to speak of.
    return np.where(x > 20.0, large, np.maximum(x * lang - log_sinhc, 0.0))


def _product_minus_one(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """``a·b − 1`` with a single rounding (Dekker's error-free product on the mantissas).

    ``fl(a·b) − 1`` loses ``−log10(a·b − 1)`` digits as ``a·b → 1`` (1e-8 relative at
    ``θβ = 1 + 1e-8``); the exact product ``hi + lo`` does not. Exponents are split off
    first (``frexp``), so no factor overflows in the splitting.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        plain = a * b - 1.0
        ma, ea = np.frexp(np.where(np.isfinite(plain), a, 1.0))
        mb, eb = np.frexp(np.where(np.isfinite(plain), b, 1.0))
        hi = ma * mb
        split = 134217729.0  # 2^27 + 1: Veltkamp's split into 26-bit halves
        a_hi = split * ma - (split * ma - ma)
        b_hi = split * mb - (split * mb - mb)
        a_lo, b_lo = ma - a_hi, mb - b_hi
        lo = ((a_hi * b_hi - hi) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo  # ma·mb − hi, exactly
        e = ea + eb
        exact = (np.ldexp(hi, e) - 1.0) + np.ldexp(lo, e)
    return np.where(np.isfinite(plain), exact, plain)  # β = inf: θβ − 1 = inf


def sqrt_kl_bound(law: RewardLaw, kl: ArrayLike) -> NDArray[np.float64] | float:
    r"""The "√KL law" ``σ·sqrt(2·KL)`` with ``σ`` the law's standard deviation under ``π0``.

    It is the exact frontier for Gaussian rewards only; compare with :func:`gain_at_kl`.
    A float for a scalar ``kl``, else shape ``(n,)``.

    Examples
    --------
    >>> from alignlimits.toys import Gaussian, Uniform, gain_at_kl, sqrt_kl_bound
    >>> round(sqrt_kl_bound(Uniform(0.0, 1.0), 0.5), 6)  # σ = 1/sqrt(12)
    0.288675
    >>> round(gain_at_kl(Uniform(0.0, 1.0), 0.5), 6)  # bounded rewards fall short of it
    0.27373
    >>> sqrt_kl_bound(Gaussian(), [0.5, 2.0]) == gain_at_kl(Gaussian(), [0.5, 2.0])  # exact for Gaussians
    array([ True,  True])
    """
    budgets = as_kl_budgets(kl, "kl")
    return _scalar_if(budgets, law.std * np.sqrt(2.0 * np.atleast_1d(budgets)))


def gain_at_kl(law: RewardLaw, kl: ArrayLike) -> NDArray[np.float64] | float:
    r"""``Δ*(ε) = max {E_π r − E_π0 r : KL(π‖π0) ≤ ε}`` for each budget (a float for a scalar, else shape ``(n,)``).

    Budgets beyond a discrete law's :attr:`RewardLaw.max_kl` give its greedy gain.

    Examples
    --------
    >>> from alignlimits.toys import Bernoulli, Exponential, gain_at_kl
    >>> round(gain_at_kl(Exponential(1.0), 0.306853), 5)
    1.0
    >>> gain_at_kl(Bernoulli(0.5), [0.0, 10.0])  # nothing at KL 0; greedy beyond -log p
    array([0. , 0.5])
    """
    return law.gain_at_kl(kl)


def numerical_frontier(law: RewardLaw, beta: ArrayLike) -> tilting.Frontier:
    r"""The frontier of any law computed from its density or pmf alone.

    Discrete laws (``atoms``) use the exact discrete tilt. For a density ``f``, with
    ``λ = 1/β``, the base mean ``μ0 = ∫ x f`` and the log-integrand
    ``ℓ(x) = log f(x) + λ(x − μ0)`` shifted by its maximum ``ℓ̂`` (so nothing
    overflows), adaptive quadrature (``scipy.integrate.quad``, relative tolerance
    1e-13, split at the peak of the tilted density) gives

    * reverse KL ``= Λ(λ) − λμ0 = ℓ̂ + log ∫ e^{ℓ − ℓ̂}``,
    * gain ``= ∫ (x − μ0) e^{ℓ − ℓ̂} / ∫ e^{ℓ − ℓ̂}``,
    * KL ``= λ · gain − reverse KL``  (``log(π_β/π0) = λ(x − μ0) − reverse KL``).

    It never uses a law's closed form, so it is the independent check of them.

    Examples
    --------
    >>> from alignlimits.toys import Exponential, numerical_frontier
    >>> f = numerical_frontier(Exponential(1.0), 2.0)  # by quadrature, not the closed form
    >>> round(float(f.gain), 9), round(float(f.kl), 9)
    (1.0, 0.306852819)
    """
    pmf = law.atoms()
    if pmf is not None:
        return tilting.frontier(pmf[1], pmf[0], beta)
    betas = np.atleast_1d(as_betas(beta))
    if (betas <= law.beta_min).any():
        raise ValueError(f"β must exceed {law.beta_min:.6g} for {law!r}: E[exp(r/β)] is infinite below it.")
    base_mean = _tilted_moments(law, 0.0, 0.0)[1]
    rev, gain = np.array([_tilted_moments(law, 1.0 / b, base_mean) for b in betas]).T
    kl = np.maximum(gain / betas - rev, 0.0)
    rev = np.maximum(rev, 0.0)
    front = tilting.Frontier(beta=betas, kl=kl, reverse_kl=rev, gain=gain, jeffreys=kl + rev, base_mean=base_mean)
    return _point(front, beta)


def _tilted_moments(law: RewardLaw, lam: float, centre: float) -> tuple[float, float]:
    """``(log ∫ f e^{λ(x−c)}, E_λ[x − c])`` by quadrature split at the integrand's peak."""
    lo, hi = law.support
    scale = law.std

    def log_integrand(x: float) -> float:
        return float(law.logpdf(x)) + lam * (x - centre)

    # Locate the peak on a coarse grid (clipped to the support), then refine with a bounded search.
    grid = np.clip(law.mean + scale * np.linspace(-40.0, 40.0, 801), lo, hi)
    values = np.array([log_integrand(x) for x in grid])
    j = int(np.argmax(values))
    left, right = grid[max(j - 1, 0)], grid[min(j + 1, grid.size - 1)]
    if right > left:
        res = optimize.minimize_scalar(
            lambda x: -log_integrand(x), bounds=(left, right), method="bounded", options={"xatol": 1e-12 * scale}
        )
        peak = float(res.x) if -res.fun >= values[j] else float(grid[j])
    else:
        peak = float(grid[j])
    top = log_integrand(peak)
    # Breakpoints at the peak and a few scales either side keep quad adaptive where the mass is.
    offsets = scale * np.array([-40.0, -10.0, -3.0, -1.0, 0.0, 1.0, 3.0, 10.0, 40.0])
    cuts = np.unique(np.clip(peak + offsets, lo, hi))
    edges = [lo, *cuts.tolist(), hi]
    mass = first = 0.0
    for a, b in itertools.pairwise(edges):
        if not b > a:
            continue
        mass += integrate.quad(lambda x: np.exp(log_integrand(x) - top), a, b, epsabs=0.0, epsrel=1e-13, limit=200)[0]
        # The first moment changes sign, so it gets an absolute tolerance on the scale of the law.
        first += integrate.quad(
            lambda x: (x - centre) * np.exp(log_integrand(x) - top), a, b, epsabs=1e-14 * scale, epsrel=1e-12, limit=200
        )[0]
    return top + float(np.log(mass)), first / mass
