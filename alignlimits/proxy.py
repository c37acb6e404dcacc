r"""Proxy rewards, reward hacking and reward-model ensembles on discrete problems.

A *proxy* ``r̂ = r + e`` replaces the true reward ``r`` by a reward with an error ``e``.
Aligning to the proxy gives the tilt ``π̂_β = π0 e^{r̂/β}/Ẑ_β``; every quantity here is
exact (no sampling) for a discrete base ``π0`` over ``k`` outcomes:

* **loss in the true objective** (Gibbs variational identity with ``π = π̂_β``)

  .. math:: [E_{π_β} r − β KL(π_β‖π0)] − [E_{\hat π_β} r − β KL(\hat π_β‖π0)] = β KL(\hat π_β‖π_β) ≥ 0;

* **gap at matched KL**: ``Δ*(KL(π̂_β‖π0)) − (E_{π̂_β} r − E_{π0} r)``, the true gain the
  proxy policy leaves on the table against the best policy spending the same budget;
* for jointly Gaussian ``(r, e)`` with ``Var r = σ²``, ``Var e = s²`` (independent for the
  second formula): loss ``= s²/(2β)`` and gap ``= (σ/β)(sqrt(σ² + s²) − σ)``
  (:mod:`alignlimits.symbolic.proxy` derives both).

Error models (``sample(rewards, base_probs, rng)`` → errors of shape ``(k,)``):
:class:`GaussianError`, :class:`StudentTError` (heavy tails),
:class:`RewardCorrelatedError` and :class:`BumpError` (a few rare low-reward outcomes
with a large positive error, which a policy can exploit).

Ensembles: :func:`correlated_errors` draws ``m`` member errors with pairwise correlation
``ρ``; :func:`ensemble_reward` standardises each member under ``π0`` and combines them by
their mean, their minimum (worst case) or ``mean − λ·variance`` (uncertainty-weighted).
The mean of ``m`` errors of variance ``s²`` and correlation ``ρ`` has variance
``s²(ρ + (1 − ρ)/m)`` (:func:`ensemble_error_variance`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from alignlimits import tilting
from alignlimits._validation import (
    as_betas,
    as_discrete_problem,
    as_finite_array,
    as_probabilities,
    check_same_shape,
    squeeze_fields,
)

__all__ = [
    "ENSEMBLE_METHODS",
    "BumpError",
    "ErrorModel",
    "GaussianError",
    "ProxyResult",
    "RewardCorrelatedError",
    "StudentTError",
    "correlated_errors",
    "ensemble_error_variance",
    "ensemble_reward",
    "gaussian_loss",
    "gaussian_matched_gap",
    "matched_kl_gap",
    "objective_loss",
    "proxy_alignment",
    "proxy_policy",
    "proxy_rewards",
    "standardize",
]

#: Ways to combine ensemble members: ``mean``, ``min`` (worst case), ``uncertainty`` (mean − λ·var).
ENSEMBLE_METHODS = ("mean", "min", "uncertainty")


def _checked_proxy(base_probs: ArrayLike, rewards: ArrayLike, proxy: ArrayLike) -> tuple[NDArray, NDArray, NDArray]:
    p0, r = as_discrete_problem(base_probs, rewards)
    r_hat = as_finite_array(proxy, "proxy_rewards")
    check_same_shape(r, r_hat, "rewards", "proxy_rewards")
    return p0, r, r_hat


def _base_moments(p0: NDArray, r: NDArray) -> tuple[float, float]:
    mean = float(p0 @ r)
    return mean, float(np.sqrt(max(p0 @ (r - mean) ** 2, 0.0)))


def _check_scale(value: float, name: str, *, allow_zero: bool = True) -> float:
    v = float(value)
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}; got {value!r}.")
    return v


def _check_rng(rng: np.random.Generator) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy Generator (np.random.default_rng(seed)); got {type(rng).__name__}. "
            "Pass it explicitly so the same seed gives the same errors."
        )
    return rng


# ---------------------------------------------------------------------------------------
# Error models
# ---------------------------------------------------------------------------------------


class ErrorModel(ABC):
    """A law for the proxy error ``e`` at each of ``k`` outcomes (``r̂ = r + e``).

    Examples
    --------
    >>> import numpy as np
    >>> base, reward = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.0, 1.0, 2.0, 4.0])
    >>> from alignlimits.proxy import ErrorModel, GaussianError
    >>> model = GaussianError(0.5)  # every error model draws one error per outcome
    >>> isinstance(model, ErrorModel), model.sample(reward, base, np.random.default_rng(0)).shape
    (True, (4,))
    """

    name: str = "error"

    def sample(self, rewards: ArrayLike, base_probs: ArrayLike, rng: np.random.Generator) -> NDArray[np.float64]:
        """Draw one error vector, shape ``(k,)``, for rewards and base probabilities of shape ``(k,)``."""
        p0, r = as_discrete_problem(base_probs, rewards)
        return self._sample(r, p0, _check_rng(rng))

    @abstractmethod
    def _sample(self, r: NDArray, p0: NDArray, rng: np.random.Generator) -> NDArray[np.float64]: ...


@dataclass(frozen=True)
class GaussianError(ErrorModel):
    """Independent errors ``e_i ~ N(0, s²)``, one per outcome.

    Examples
    --------
    >>> import numpy as np
    >>> base, reward = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.0, 1.0, 2.0, 4.0])
    >>> from alignlimits.proxy import GaussianError
    >>> GaussianError(0.5).sample(reward, base, np.random.default_rng(0)).round(4)  # 0.5 × N(0, 1)
    array([ 0.0629, -0.0661,  0.3202,  0.0525])
    """

    scale: float = 1.0
    name: str = "Gaussian"

    def __post_init__(self) -> None:
        _check_scale(self.scale, "scale")

    def _sample(self, r: NDArray, p0: NDArray, rng: np.random.Generator) -> NDArray[np.float64]:
        return self.scale * rng.standard_normal(r.shape)


@dataclass(frozen=True)
class StudentTError(ErrorModel):
    r"""Independent heavy-tailed errors ``e_i = s · t_ν · sqrt((ν − 2)/ν)``.

    The factor makes the standard deviation exactly ``s`` (it needs ``ν > 2``), so a
    Student-t model and a Gaussian model of the same ``scale`` have the same variance
    and differ only in their tails.

    Examples
    --------
    >>> import numpy as np
    >>> base, reward = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.0, 1.0, 2.0, 4.0])
    >>> from alignlimits.proxy import StudentTError
    >>> StudentTError(1.0, df=3.0).sample(reward, base, np.random.default_rng(0)).round(4)
    array([ 0.0876,  0.0901,  0.5811, -1.1413])
    >>> StudentTError(1.0, df=2.0)
    Traceback (most recent call last):
    ...
    ValueError: df must be finite and > 2 so the error has a variance; got df=2.0.
    """

    scale: float = 1.0
    df: float = 3.0
    name: str = "Student-t"

    def __post_init__(self) -> None:
        _check_scale(self.scale, "scale")
        if not (np.isfinite(self.df) and self.df > 2):
            raise ValueError(f"df must be finite and > 2 so the error has a variance; got df={self.df!r}.")

    def _sample(self, r: NDArray, p0: NDArray, rng: np.random.Generator) -> NDArray[np.float64]:
        return self.scale * np.sqrt((self.df - 2) / self.df) * rng.standard_t(self.df, size=r.shape)


@dataclass(frozen=True)
class RewardCorrelatedError(ErrorModel):
    r"""Errors correlated with the true reward: ``e = s (ρ u + sqrt(1 − ρ²) z)``.

    ``u = (r − E_π0 r)/sd_π0(r)`` is the reward standardised under ``π0`` and
    ``z ~ N(0, 1)`` independent per outcome, so under ``π0`` the error has standard
    deviation ``s`` (up to the sampling of ``z``) and correlation ``ρ`` with ``r``.
    ``ρ > 0`` over-states differences in reward (the proxy is a stretched reward plus
    noise); ``ρ < 0`` under-states them, and ``s·ρ < −sd(r)`` reverses them.

    Examples
    --------
    >>> import numpy as np
    >>> base, reward = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.0, 1.0, 2.0, 4.0])
    >>> from alignlimits.proxy import RewardCorrelatedError, standardize
    >>> e = RewardCorrelatedError(1.0, rho=1.0).sample(reward, base, np.random.default_rng(0))
    >>> bool(np.allclose(e, standardize(reward[None, :], base)[0]))  # ρ = 1: the standardised reward itself
    True
    """

    scale: float = 1.0
    rho: float = 0.5
    name: str = "reward-correlated"

    def __post_init__(self) -> None:
        _check_scale(self.scale, "scale")
        if not (np.isfinite(self.rho) and -1 <= self.rho <= 1):
            raise ValueError(f"rho is a correlation and must lie in [-1, 1]; got {self.rho!r}.")

    def _sample(self, r: NDArray, p0: NDArray, rng: np.random.Generator) -> NDArray[np.float64]:
        mean, sd = _base_moments(p0, r)
        if sd == 0:
            raise ValueError("the reward is constant under base_probs: an error correlated with it is undefined.")
        u = (r - mean) / sd
        return self.scale * (self.rho * u + np.sqrt(1 - self.rho**2) * rng.standard_normal(r.shape))


@dataclass(frozen=True)
class BumpError(ErrorModel):
    r"""An exploitable error: ``count`` low-reward outcomes get ``+height``, plus optional noise.

    The bumped outcomes are drawn uniformly (with ``rng``, without replacement) among the
    outcomes on the support of ``π0`` whose true reward is below the base mean and whose
    base probability is at most the median base probability of those outcomes: rare,
    bad responses that the proxy happens to love. ``noise`` adds independent
    ``N(0, noise²)`` errors everywhere. A policy that exploits the bump *loses* true
    reward, so the true reward of ``π̂_β`` rises and then falls as β decreases.

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.proxy import BumpError
    >>> base, reward = np.full(6, 1 / 6), np.arange(6.0)
    >>> BumpError(height=3.0).sample(reward, base, np.random.default_rng(0))  # one low-reward outcome gets +3
    array([0., 0., 3., 0., 0., 0.])
    >>> BumpError(height=3.0).bumped(reward, base, np.random.default_rng(0))
    array([2])
    """

    height: float = 5.0
    count: int = 1
    noise: float = 0.0
    name: str = "bump"

    def __post_init__(self) -> None:
        _check_scale(self.height, "height", allow_zero=False)
        _check_scale(self.noise, "noise")
        if not isinstance(self.count, int | np.integer) or self.count < 1:
            raise ValueError(f"count must be a positive integer number of bumped outcomes; got {self.count!r}.")

    def bumped(self, rewards: ArrayLike, base_probs: ArrayLike, rng: np.random.Generator) -> NDArray[np.intp]:
        """The indices the bump lands on (uses ``rng`` exactly as :meth:`sample` does first)."""
        p0, r = as_discrete_problem(base_probs, rewards)
        return self._bumped(r, p0, _check_rng(rng))

    def _bumped(self, r: NDArray, p0: NDArray, rng: np.random.Generator) -> NDArray[np.intp]:
        mean, _ = _base_moments(p0, r)
        low = np.flatnonzero((p0 > 0) & (r < mean))
        if low.size == 0:
            raise ValueError("no outcome has a reward below the base mean: the reward is constant, nothing to bump.")
        rare = low[p0[low] <= np.median(p0[low])]
        if rare.size < self.count:
            raise ValueError(
                f"only {rare.size} rare low-reward outcomes are available for count={self.count} bumps; "
                "use fewer bumps or more outcomes."
            )
        return np.sort(rng.choice(rare, size=int(self.count), replace=False))

    def _sample(self, r: NDArray, p0: NDArray, rng: np.random.Generator) -> NDArray[np.float64]:
        idx = self._bumped(r, p0, rng)
        e = self.noise * rng.standard_normal(r.shape) if self.noise > 0 else np.zeros_like(r)
        e[idx] += self.height
        return e


def proxy_rewards(
    rewards: ArrayLike, base_probs: ArrayLike, model: ErrorModel, rng: np.random.Generator
) -> NDArray[np.float64]:
    """``r̂ = r + e`` with ``e`` drawn from ``model``; shape ``(k,)``.

    Examples
    --------
    >>> import numpy as np
    >>> base, reward = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.0, 1.0, 2.0, 4.0])
    >>> from alignlimits.proxy import GaussianError, proxy_rewards
    >>> proxy_rewards(reward, base, GaussianError(0.5), np.random.default_rng(0)).round(4)  # r + e
    array([0.0629, 0.9339, 2.3202, 4.0525])
    """
    if not isinstance(model, ErrorModel):
        raise TypeError(f"model must be an ErrorModel (e.g. GaussianError(scale=1.0)); got {type(model).__name__}.")
    p0, r = as_discrete_problem(base_probs, rewards)
    return r + model.sample(r, p0, rng)


# ---------------------------------------------------------------------------------------
# Exact quantities for a policy aligned to a proxy
# ---------------------------------------------------------------------------------------


def proxy_policy(base_probs: ArrayLike, proxy_rewards: ArrayLike, beta: ArrayLike) -> NDArray[np.float64]:
    r"""The policy aligned to the proxy, ``π̂_β = π0 e^{r̂/β}/Ẑ_β`` (shape ``(k,)`` or ``(m, k)``).

    Examples
    --------
    >>> import numpy as np
    >>> base, reward = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.0, 1.0, 2.0, 4.0])
    >>> from alignlimits.proxy import proxy_policy
    >>> proxy_policy(base, reward + [0.0, 0.0, 0.0, 2.0], 1.0).round(4)  # the tilt of r̂: the bumped outcome takes over
    array([0.0093, 0.0189, 0.0343, 0.9374])
    """
    return tilting.tilt(base_probs, proxy_rewards, beta)


def objective_loss(
    base_probs: ArrayLike, rewards: ArrayLike, proxy_rewards: ArrayLike, beta: ArrayLike
) -> NDArray[np.float64] | float:
    r"""Loss in the true objective from aligning to the proxy: ``β KL(π̂_β‖π_β) ≥ 0``.

    Equals ``[E_{π_β} r − β KL(π_β‖π0)] − [E_{π̂_β} r − β KL(π̂_β‖π0)]`` (Gibbs
    variational identity). Computed from the two log-tilts, never from ``e^{r/β}``.
    Returns a float for a scalar ``beta`` and shape ``(m,)`` for a grid.

    Examples
    --------
    >>> import numpy as np
    >>> base, reward = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.0, 1.0, 2.0, 4.0])
    >>> from alignlimits.proxy import objective_loss
    >>> round(objective_loss(base, reward, reward + [0.0, 0.0, 0.0, 2.0], 1.0), 6)
    0.211194
    >>> objective_loss(base, reward, reward + 3.0, [0.5, 1.0])  # a constant shift changes nothing
    array([0., 0.])
    """
    p0, r, r_hat = _checked_proxy(base_probs, rewards, proxy_rewards)
    betas = as_betas(beta)
    b = np.atleast_1d(betas)
    if not np.isfinite(b).all():
        raise ValueError("beta must be finite: at beta = inf both policies are π0 and the loss is 0·KL.")
    log_pi = np.atleast_2d(tilting.log_tilt(p0, r, b))
    log_hat = np.atleast_2d(tilting.log_tilt(p0, r_hat, b))
    support = p0 > 0
    pi_hat = np.exp(log_hat)
    diff = np.where(support[None, :], log_hat - np.where(support[None, :], log_pi, 0.0), 0.0)
    loss = b * np.maximum((pi_hat * diff).sum(axis=-1), 0.0)
    return float(loss[0]) if betas.ndim == 0 else loss


#: The fields of :class:`ProxyResult` that hold one value per β.
PROXY_FIELDS = ("beta", "kl", "true_gain", "proxy_gain", "optimal_kl", "optimal_gain", "loss", "matched_gain", "gap")


@dataclass(frozen=True)
class ProxyResult:
    """Exact outcome of aligning to a proxy, one entry per β.

    Every field but ``base_mean`` has shape ``(m,)`` for a grid of β and is a scalar
    (``np.float64``) for a scalar β.

    Attributes
    ----------
    beta : KL penalty factors.
    kl : ``KL(π̂_β‖π0)``, the budget the proxy policy spends.
    true_gain : ``E_{π̂_β}[r] − E_{π0}[r]``, what it really gains.
    proxy_gain : ``E_{π̂_β}[r̂] − E_{π0}[r̂]``, what it believes it gains.
    optimal_kl, optimal_gain : KL and gain of ``π_β``, the true optimum at the same β.
    loss : ``β KL(π̂_β‖π_β)``, the loss in the true objective.
    matched_gain : ``Δ*(kl)``, the best true gain at the proxy policy's KL.
    gap : ``matched_gain − true_gain ≥ 0``, the gap at matched KL.
    base_mean : ``E_{π0}[r]``.

    Examples
    --------
    >>> import numpy as np
    >>> base, reward = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.0, 1.0, 2.0, 4.0])
    >>> from alignlimits.proxy import proxy_alignment
    >>> res = proxy_alignment(base, reward, reward + [0.0, 0.0, 0.0, 2.0], 1.0)
    >>> round(float(res.true_reward), 4)  # base mean 1.1 + true gain
    3.8373
    >>> {k: round(v, 4) for k, v in res.as_dict().items() if k in ("kl", "true_gain", "proxy_gain")}
    {'kl': 1.9501, 'true_gain': 2.7373, 'proxy_gain': 4.4121}
    """

    beta: NDArray[np.float64]
    kl: NDArray[np.float64]
    true_gain: NDArray[np.float64]
    proxy_gain: NDArray[np.float64]
    optimal_kl: NDArray[np.float64]
    optimal_gain: NDArray[np.float64]
    loss: NDArray[np.float64]
    matched_gain: NDArray[np.float64]
    gap: NDArray[np.float64]
    base_mean: float

    @property
    def true_reward(self) -> NDArray[np.float64]:
        """``E_{π̂_β}[r] = base_mean + true_gain``."""
        return self.base_mean + self.true_gain

    def as_dict(self) -> dict[str, list[float] | float]:
        """Plain lists per column (floats for a scalar β), for ``json.dumps`` or ``pandas.DataFrame``."""
        return {c: np.asarray(getattr(self, c)).tolist() for c in PROXY_FIELDS}


def proxy_alignment(
    base_probs: ArrayLike, rewards: ArrayLike, proxy_rewards: ArrayLike, beta: ArrayLike
) -> ProxyResult:
    r"""Everything about ``π̂_β`` measured against the true reward, exactly.

    Parameters
    ----------
    base_probs : array_like, shape (k,)
        The base distribution ``π0``.
    rewards, proxy_rewards : array_like, shape (k,)
        True rewards ``r`` and the proxy ``r̂`` (finite).
    beta : float or array_like, shape (m,)
        Finite KL penalty factors ``> 0``.

    Returns
    -------
    ProxyResult
        Arrays of shape ``(m,)`` (scalars for a scalar β); see its attributes for the formulas.

    Examples
    --------
    >>> import numpy as np
    >>> base, reward = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.0, 1.0, 2.0, 4.0])
    >>> from alignlimits.proxy import proxy_alignment
    >>> res = proxy_alignment(base, reward, reward + [0.0, 0.0, 0.0, 2.0], 1.0)
    >>> round(float(res.proxy_gain), 4), round(float(res.true_gain), 4)  # it believes it gains more
    (4.4121, 2.7373)
    >>> round(float(res.loss), 4), round(float(res.gap), 4)  # β KL(π̂‖π) and the gap at matched KL
    (0.2112, 0.005)
    >>> bool(np.all(np.abs(proxy_alignment(base, reward, reward, [0.5, 2.0]).gap) < 1e-12))  # true reward: no gap
    True
    """
    p0, r, r_hat = _checked_proxy(base_probs, rewards, proxy_rewards)
    b = np.atleast_1d(as_betas(beta))
    if not np.isfinite(b).all():
        raise ValueError("beta must be finite (beta = inf is the base policy, with zero loss and gap).")
    pi_hat = np.atleast_2d(tilting.tilt(p0, r_hat, b))
    hat_front = tilting.frontier(p0, r_hat, b)
    true_front = tilting.frontier(p0, r, b)
    base_mean = float(p0 @ r)
    true_gain = pi_hat @ (r - base_mean)  # centred: accurate when π̂ ≈ π0
    loss = np.atleast_1d(objective_loss(p0, r, r_hat, b))
    matched = _matched_gain(p0, r, hat_front.kl)
    result = ProxyResult(
        beta=b,
        kl=hat_front.kl,
        true_gain=true_gain,
        proxy_gain=hat_front.gain,
        optimal_kl=true_front.kl,
        optimal_gain=true_front.gain,
        loss=loss,
        matched_gain=matched,
        gap=matched - true_gain,
        base_mean=base_mean,
    )
    return squeeze_fields(result, np.ndim(beta) == 0, PROXY_FIELDS)


def _matched_gain(p0: NDArray, r: NDArray, kl: NDArray) -> NDArray[np.float64]:
    """``Δ*(ε)`` per budget; budgets within rounding of the greedy ceiling get the greedy gain.

    A proxy policy near its own greedy limit can spend (up to rounding) exactly the
    true reward's ceiling ``−log π0(argmax r)``; no β > 0 resolves such a budget, and
    ``Δ*`` there equals the greedy gain to within the same rounding (its slope is β → 0).
    """
    ceiling = tilting.max_kl(p0, r)
    near = kl >= ceiling * (1 - 1e-9)
    out = np.full(kl.shape, tilting.greedy_gain(p0, r))
    if (~near).any():
        out[~near] = np.atleast_1d(tilting.max_gain(p0, r, kl[~near]))
    return out


def matched_kl_gap(
    base_probs: ArrayLike, rewards: ArrayLike, proxy_rewards: ArrayLike, beta: ArrayLike
) -> NDArray[np.float64] | float:
    r"""The gap at matched KL, ``Δ*(KL(π̂_β‖π0)) − (E_{π̂_β} r − E_{π0} r) ≥ 0``.

    Float for a scalar ``beta``, shape ``(m,)`` for a grid. See :func:`proxy_alignment`.

    Examples
    --------
    >>> import numpy as np
    >>> base, reward = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.0, 1.0, 2.0, 4.0])
    >>> from alignlimits.proxy import matched_kl_gap
    >>> round(matched_kl_gap(base, reward, reward + [0.0, 0.0, 0.0, 2.0], 1.0), 6)
    0.005041
    """
    gap = proxy_alignment(base_probs, rewards, proxy_rewards, beta).gap
    return float(gap) if np.ndim(gap) == 0 else gap


def gaussian_loss(scale: ArrayLike, beta: ArrayLike) -> NDArray[np.float64] | float:
    r"""``s²/(2β)``: the loss for jointly Gaussian reward and error (error variance ``s²``).

    Exact for Gaussian laws of ``(r, e)`` (any correlation); an approximation on a
    finite space while ``π̂_β`` is spread over many outcomes. Broadcasts.

    Examples
    --------
    >>> from alignlimits.proxy import gaussian_loss
    >>> gaussian_loss(1.0, 2.0)  # s²/(2β)
    0.25
    >>> gaussian_loss([0.5, 1.0], 2.0)
    array([0.0625, 0.25  ])
    """
    s = np.asarray(scale, dtype=np.float64)
    if np.isnan(s).any() or (s < 0).any():
        raise ValueError(f"scale must be >= 0; got {scale!r}.")
    b = as_betas(beta)
    out = s**2 / (2 * b)
    return float(out) if np.ndim(out) == 0 else out


def gaussian_matched_gap(sigma: ArrayLike, scale: ArrayLike, beta: ArrayLike) -> NDArray[np.float64] | float:
    r"""``(σ/β)(sqrt(σ² + s²) − σ)``: the gap at matched KL for independent Gaussian ``r``, ``e``. Broadcasts.

    Examples
    --------
    >>> from alignlimits.proxy import gaussian_matched_gap
    >>> round(gaussian_matched_gap(1.0, 1.0, 2.0), 6)  # (1/2)(sqrt(2) − 1)
    0.207107
    """
    sd = np.asarray(sigma, dtype=np.float64)
    s = np.asarray(scale, dtype=np.float64)
    if np.isnan(sd).any() or (sd <= 0).any():
        raise ValueError(f"sigma must be > 0; got {sigma!r}.")
    if np.isnan(s).any() or (s < 0).any():
        raise ValueError(f"scale must be >= 0; got {scale!r}.")
    b = as_betas(beta)
    # sqrt(σ²+s²) − σ = s²/(sqrt(σ²+s²) + σ): no cancellation for small s.
    out = (sd / b) * s**2 / (np.sqrt(sd**2 + s**2) + sd)
    return float(out) if np.ndim(out) == 0 else out


# ---------------------------------------------------------------------------------------
# Ensembles
# ---------------------------------------------------------------------------------------


def ensemble_error_variance(scale: ArrayLike, rho: ArrayLike, m: ArrayLike) -> NDArray[np.float64] | float:
    r"""Variance of the mean of ``m`` errors of variance ``s²`` and pairwise correlation ``ρ``:
    ``s²(ρ + (1 − ρ)/m)``. Broadcasts; ``m`` must be a positive integer.

    Examples
    --------
    >>> from alignlimits.proxy import ensemble_error_variance
    >>> ensemble_error_variance(1.0, 0.5, [1, 4, 100])  # levels off at ρ s² = 0.5
    array([1.   , 0.625, 0.505])
    >>> ensemble_error_variance(1.0, 0.0, 4)  # independent errors: s²/m
    0.25
    """
    s = np.asarray(scale, dtype=np.float64)
    p = np.asarray(rho, dtype=np.float64)
    n = np.asarray(m)
    if np.isnan(s).any() or (s < 0).any():
        raise ValueError(f"scale must be >= 0; got {scale!r}.")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError(f"rho must lie in [0, 1]; got {rho!r}.")
    if not np.issubdtype(n.dtype, np.integer) or (n < 1).any():
        raise ValueError(f"m must be a positive integer number of members; got {m!r}.")
    out = s**2 * (p + (1 - p) / n)
    return float(out) if np.ndim(out) == 0 else out


def correlated_errors(
    model: ErrorModel,
    rewards: ArrayLike,
    base_probs: ArrayLike,
    m: int,
    rho: float,
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    r"""Errors of ``m`` ensemble members with pairwise correlation ``ρ``, shape ``(m, k)``.

    ``e_j = sqrt(ρ) c + sqrt(1 − ρ) u_j`` with ``c`` (shared) and ``u_1..u_m`` (own)
    independent draws of ``model``. If a draw has mean 0 and variance ``s²`` per
    outcome, every member has variance ``s²`` and each pair correlation ``ρ``; for
    Gaussian errors the members are then exactly jointly Gaussian. For heavy-tailed
    or bump models the marginal shape changes (a mixture), the correlation does not:
    the shared part is what no amount of averaging removes.

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.proxy import GaussianError, correlated_errors
    >>> k = 2000
    >>> e = correlated_errors(GaussianError(1.0), np.zeros(k), np.full(k, 1 / k), 3, 0.5, np.random.default_rng(0))
    >>> e.shape, np.corrcoef(e).round(1)[0]  # pairwise correlation ρ = 0.5
    ((3, 2000), array([1. , 0.5, 0.5]))
    """
    if not isinstance(model, ErrorModel):
        raise TypeError(f"model must be an ErrorModel (e.g. GaussianError(scale=1.0)); got {type(model).__name__}.")
    if not isinstance(m, int | np.integer) or m < 1:
        raise ValueError(f"m must be a positive integer number of members; got {m!r}.")
    rho_f = float(rho)
    if not (np.isfinite(rho_f) and 0 <= rho_f <= 1):
        raise ValueError(f"rho must lie in [0, 1] (a shared error component); got {rho!r}.")
    p0, r = as_discrete_problem(base_probs, rewards)
    rng = _check_rng(rng)
    shared = model.sample(r, p0, rng)
    own = np.stack([model.sample(r, p0, rng) for _ in range(int(m))])
    return np.sqrt(rho_f) * shared[None, :] + np.sqrt(1 - rho_f) * own


def standardize(member_rewards: ArrayLike, base_probs: ArrayLike) -> NDArray[np.float64]:
    r"""z-score each member under ``π0``: ``(r̂_j − E_π0 r̂_j)/sd_π0(r̂_j)``; shape ``(m, k)``.

    One reward of shape ``(k,)`` gives one standardised reward of shape ``(k,)``; with a
    uniform ``base_probs`` this is the plain population z-score of the ``k`` values. To
    standardise on ``n`` sampled base outcomes instead, pass their empirical
    distribution, ``np.bincount(samples, minlength=k)/n``. The result is invariant to
    ``r̂_j → a_j r̂_j + b_j`` with ``a_j > 0``.

    Examples
    --------
    >>> import numpy as np
    >>> base, reward = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.0, 1.0, 2.0, 4.0])
    >>> from alignlimits.proxy import standardize
    >>> z = standardize(np.stack([reward, 2 * reward + 1]), base)  # invariant to a r + b, a > 0
    >>> z.round(4)[0], bool(np.allclose(z[0], z[1]))
    (array([-0.9012, -0.0819,  0.7373,  2.3758]), True)
    >>> bool(abs(z[0] @ base) < 1e-12), round(float(z[0] ** 2 @ base), 12)  # mean 0, variance 1 under π0
    (True, 1.0)
    >>> standardize(np.array([1.0, 2.0, 3.0]), np.full(3, 1 / 3)).round(4)  # one reward in, one out
    array([-1.2247,  0.    ,  1.2247])
    """
    p0 = as_probabilities(base_probs, "base_probs")
    if p0.ndim != 1:
        raise ValueError(f"base_probs must be 1-D (k outcomes); got shape {p0.shape}.")
    single = np.ndim(member_rewards) == 1
    members = as_finite_array(member_rewards, "member_rewards", min_ndim=2 if not single else 1)
    if single:
        members = members[None, :]
    if members.ndim != 2 or members.shape[1] != p0.shape[0]:
        raise ValueError(f"member_rewards must have shape (m, k) with k = {p0.shape[0]} outcomes; got {members.shape}.")
    mean = members @ p0
    centred = members - mean[:, None]
    sd = np.sqrt(np.maximum((centred**2) @ p0, 0.0))
    scale = np.maximum(np.abs(members).max(axis=1), 1.0)
    flat = sd <= 1e-12 * scale
    if flat.any():
        raise ValueError(
            f"member {int(np.argmax(flat))} is constant under base_probs and cannot be standardised; "
            "drop it or standardise on a distribution that covers outcomes it scores differently."
        )
    z = centred / sd[:, None]
    return z[0] if single else z


def ensemble_reward(
    member_rewards: ArrayLike,
    base_probs: ArrayLike,
    method: str = "mean",
    *,
    penalty: float = 1.0,
    standardized: bool = True,
) -> NDArray[np.float64]:
    r"""Combine ``m`` proxy rewards of shape ``(m, k)`` into one of shape ``(k,)``.

    Members are first z-scored under ``π0`` (:func:`standardize`) unless
    ``standardized=False``. Then, with ``z_j`` the members:

    * ``"mean"``: ``(1/m) Σ_j z_j``;
    * ``"min"`` (worst case): ``min_j z_j``;
    * ``"uncertainty"``: ``mean − penalty · var``, with ``var = (1/m) Σ_j (z_j − mean)²``
      the disagreement between members at each outcome.

    Always ``min ≤ mean ≤ max_j z_j`` outcome by outcome.

    Examples
    --------
    >>> import numpy as np
    >>> base, reward = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.0, 1.0, 2.0, 4.0])
    >>> from alignlimits.proxy import ensemble_reward
    >>> members = np.stack([reward, reward[::-1]])  # two members that disagree
    >>> ensemble_reward(members, base, "mean").round(4)
    array([ 0.1095, -0.181 , -0.1214,  0.3477])
    >>> ensemble_reward(members, base, "min").round(4)  # the worst case is never above the mean
    array([-0.9012, -0.2801, -0.9802, -1.6803])
    >>> ensemble_reward(members, base, "uncertainty", penalty=0.5).round(4)  # mean − 0.5 × variance
    array([-0.4012, -0.1859, -0.4902, -1.7088])
    """
    if method not in ENSEMBLE_METHODS:
        raise ValueError(f"method must be one of {ENSEMBLE_METHODS}; got {method!r}.")
    lam = float(penalty)
    if not np.isfinite(lam) or lam < 0:
        raise ValueError(f"penalty must be finite and >= 0; got {penalty!r}.")
    if np.ndim(member_rewards) != 2:  # standardize() also takes one reward; an ensemble needs several
        raise ValueError(
            f"member_rewards must have shape (m, k), one row per members' reward; got {np.shape(member_rewards)}."
        )
    if standardized:
        z = standardize(member_rewards, base_probs)
    else:
        p0 = as_probabilities(base_probs, "base_probs")
        z = as_finite_array(member_rewards, "member_rewards", min_ndim=2)
        if z.ndim != 2 or z.shape[1] != p0.shape[-1]:
            raise ValueError(f"member_rewards must have shape (m, k) with k = {p0.shape[-1]}; got {z.shape}.")
    if method == "min":
        return z.min(axis=0)
    mean = z.mean(axis=0)
    if method == "mean":
        return mean
    return mean - lam * z.var(axis=0)
