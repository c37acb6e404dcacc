r"""Best-of-N sampling: its exact law, KL, reward, win rate, estimators and soft variant.

*Best-of-N* draws ``N`` candidates ``y_1, …, y_N`` independently from the base policy
``π0`` and returns one with the highest reward. For a discrete base distribution with
distinct reward levels ``v_1 < … < v_L`` of base masses ``q_j`` and cumulative masses
``F_j = q_1 + … + q_j`` (``F_0 = 0``), the reward level of the winner has law

.. math::  P_N(j) = F_j^N − F_{j−1}^N,

and within a level the winner is distributed as ``π0`` restricted to that level (the
candidates are i.i.d., so whichever tied candidate is kept is a ``π0`` draw from the
level). Hence, for outcome ``i`` at level ``j(i)``,

.. math::  π_N(i) = π0(i)\, P_N(j(i)) / q_{j(i)},\qquad
           KL(π_N‖π0) = Σ_j P_N(j) \log(P_N(j)/q_j).

For an atomless (continuous) reward law the winner's quantile ``u = F(r)`` has density
``N u^{N−1}`` and ``KL = log N − (N−1)/N`` exactly; with atoms (ties) the KL is
strictly smaller (for ``N ≥ 2``), so ``log N − (N−1)/N`` is a *bound*, not the KL.

Everything is computed in log space: ``log(F_j^N − F_{j−1}^N) = N log F_j +
log(−expm1(N(log F_{j−1} − log F_j)))``, with ``log F_j = log1p(−(1 − F_j))`` when
``F_j`` is close to one, so ``N`` in the millions and probabilities of 1e-300 are fine.

Public functions take plain arrays: ``base_probs`` and ``rewards`` of shape ``(k,)``;
``n`` (the number of candidates ``N``) a positive integer or a 1-D array of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import integrate, stats
from scipy.special import gammaln, logsumexp

from alignlimits import tilting, toys
from alignlimits._validation import as_betas, as_discrete_problem, as_finite_array, squeeze_fields

__all__ = [
    "HARD_LIMIT_GAP",
    "BestOfN",
    "BonCurve",
    "BonEstimate",
    "best_of_n",
    "bound_gap",
    "bound_is_tight",
    "continuous_expected_max",
    "curve",
    "estimate",
    "expected_max_unbiased",
    "expected_reward",
    "frontier_fraction",
    "kl",
    "kl_bound",
    "law",
    "law_curve",
    "law_frontier_fraction",
    "log_law",
    "optimal_gain",
    "soft_law",
    "soft_log_law",
    "unbiased_max_weights",
    "win_rate",
    "win_rate_bound",
]


# ----------------------------------------------------------------------------- input checks


def _as_ns(n: ArrayLike, name: str = "n") -> NDArray[np.int64]:
    """Positive integer candidate counts (scalar or 1-D)."""
    arr = np.asarray(n)
    if arr.ndim > 1 or arr.size == 0:
        raise ValueError(f"{name} must be a positive integer or a non-empty 1-D array of them; got shape {arr.shape}.")
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name} must be a positive integer number of candidates; got {n!r}.")
    if np.issubdtype(arr.dtype, np.floating) and (~np.isfinite(arr) | (arr != np.round(arr))).any():
        raise ValueError(f"{name} must hold whole numbers of candidates; got {n!r}.")
    if (arr < 1).any():
        raise ValueError(f"{name} must be >= 1 (best-of-1 is the base policy); got {n!r}.")
    return arr.astype(np.int64)


@dataclass(frozen=True)
class _Levels:
    """Distinct reward levels on the support of π0 (ascending) and their base masses."""

    values: NDArray[np.float64]  # (L,) ascending
    log_q: NDArray[np.float64]  # (L,) log base mass of each level
    log_cdf: NDArray[np.float64]  # (L,) log F_j
    log_cdf_prev: NDArray[np.float64]  # (L,) log F_{j−1} (−inf for j = 1)
    index: NDArray[np.int64]  # (k,) level of each outcome (−1 off the support)


def _levels(p0: NDArray, r: NDArray) -> _Levels:
    support = p0 > 0
    values, inverse = np.unique(r[support], return_inverse=True)
    q = np.bincount(inverse, weights=p0[support], minlength=values.size)
    q = q / q.sum()  # removes the ≤1e-8 normalisation slack the validator allows
    # F_j from below and 1 − F_j from above, each summed over small terms for accuracy.
    cdf = np.cumsum(q)
    survival = np.concatenate([np.cumsum(q[::-1])[::-1][1:], [0.0]])
    with np.errstate(divide="ignore"):
        log_cdf = np.where(cdf < 0.5, np.log(cdf), np.log1p(-survival))
        log_q = np.log(q)
    log_cdf[-1] = 0.0
    log_cdf_prev = np.concatenate([[-np.inf], log_cdf[:-1]])
    index = np.full(r.shape, -1, dtype=np.int64)
    index[support] = inverse
    return _Levels(values, log_q, log_cdf, log_cdf_prev, index)


def _log_level_law(lv: _Levels, ns: NDArray[np.int64]) -> NDArray[np.float64]:
    """``log P_N(j) = log(F_j^N − F_{j−1}^N)``, shape ``(m, L)`` for ``m`` values of N."""
    nn = ns[:, None].astype(np.float64)
    diff = lv.log_cdf_prev[None, :] - lv.log_cdf[None, :]  # ≤ 0; −inf for the lowest level
    with np.errstate(divide="ignore", invalid="ignore"):
        out = nn * lv.log_cdf[None, :] + np.log(-np.expm1(nn * diff))
    return out


def _scalar_or(ns_in: ArrayLike, out: NDArray) -> Any:
    return float(out[0]) if np.ndim(ns_in) == 0 else out


# ----------------------------------------------------------------------------- exact law


def log_law(base_probs: ArrayLike, rewards: ArrayLike, n: ArrayLike) -> NDArray[np.float64]:
    r"""Log-probabilities of the best-of-N policy ``π_N`` over the ``k`` outcomes.

    ``log π_N(i) = log π0(i) − log q_{j(i)} + log(F_j^N − F_{j−1}^N)``: the mass of each
    reward level, split among its tied outcomes in proportion to ``π0``.

    Returns shape ``(k,)`` for a scalar ``n`` and ``(m, k)`` for ``m`` values.
    Outcomes with ``π0 = 0`` get ``-inf``.

    Examples
    --------
    >>> from alignlimits.bon import log_law
    >>> log_law([0.5, 0.5], [0.0, 1.0], 2).round(6)  # log(1/4), log(3/4)
    array([-1.386294, -0.287682])
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    ns = np.atleast_1d(_as_ns(n))
    lv = _levels(p0, r)
    log_p_level = _log_level_law(lv, ns)  # (m, L)
    support = lv.index >= 0
    idx = np.where(support, lv.index, 0)
    with np.errstate(divide="ignore"):
        log_p0 = np.log(p0)
    out = log_p0[None, :] - lv.log_q[idx][None, :] + log_p_level[:, idx]
    out = np.where(support[None, :], out, -np.inf)
    return out[0] if np.ndim(n) == 0 else out


def law(base_probs: ArrayLike, rewards: ArrayLike, n: ArrayLike) -> NDArray[np.float64]:
    r"""The best-of-N policy ``π_N`` (see :func:`log_law`); each row sums to one.

    Examples
    --------
    >>> from alignlimits.bon import law
    >>> law([0.5, 0.5], [0.0, 1.0], 2)  # the bottom wins only if both candidates are bottom
    array([0.25, 0.75])
    >>> law([0.25, 0.25, 0.5], [0.0, 1.0, 1.0], 2)  # tied outcomes split in proportion to π0
    array([0.0625, 0.3125, 0.625 ])
    """
    return np.exp(log_law(base_probs, rewards, n))


def kl(base_probs: ArrayLike, rewards: ArrayLike, n: ArrayLike) -> NDArray[np.float64] | float:
    r"""Exact ``KL(π_N‖π0) = Σ_j P_N(j) log(P_N(j)/q_j)`` over distinct reward levels.

    Tied outcomes share the ratio ``π_N/π0``, so only level masses matter. Always
    ``≤ log N − (N−1)/N`` (:func:`kl_bound`) and ``< −log q_top``, the KL of the
    greedy policy. Returns a float for a scalar ``n``, else shape ``(m,)``.

    Examples
    --------
    >>> from alignlimits.bon import kl, kl_bound
    >>> round(kl([0.5, 0.5], [0.0, 1.0], 2), 6)  # 0.25 log 0.5 + 0.75 log 1.5
    0.130812
    >>> kl([0.5, 0.5], [0.0, 1.0], [1, 2]).round(6)
    array([0.      , 0.130812])
    >>> bool(kl([0.5, 0.5], [0.0, 1.0], 2) < kl_bound(2))  # atoms keep it below log N − (N−1)/N
    True
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    ns = np.atleast_1d(_as_ns(n))
    lv = _levels(p0, r)
    log_p = _log_level_law(lv, ns)
    p = np.exp(log_p)
    with np.errstate(invalid="ignore"):
        terms = np.where(p > 0, p * (log_p - lv.log_q[None, :]), 0.0)
    return _scalar_or(n, np.maximum(terms.sum(axis=-1), 0.0))


def expected_reward(base_probs: ArrayLike, rewards: ArrayLike, n: ArrayLike) -> NDArray[np.float64] | float:
    r"""``E_{π_N}[r] = Σ_j (F_j^N − F_{j−1}^N) v_j``, the expected maximum of ``N`` base rewards.

    Examples
    --------
    >>> from alignlimits.bon import expected_reward
    >>> expected_reward([0.5, 0.5], [0.0, 1.0], [1, 2, 3])  # 1 − 0.5^N
    array([0.5  , 0.75 , 0.875])
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    ns = np.atleast_1d(_as_ns(n))
    lv = _levels(p0, r)
    p = np.exp(_log_level_law(lv, ns))
    return _scalar_or(n, p @ lv.values)


def win_rate(base_probs: ArrayLike, rewards: ArrayLike, n: ArrayLike) -> NDArray[np.float64] | float:
    r"""Probability that a best-of-N sample beats an independent base sample, ties counted half.

    ``W_N = Σ_j P_N(j) (F_{j−1} + q_j/2)``. It never exceeds ``N/(N+1)``
    (:func:`win_rate_bound`), with equality only without ties: attach an independent
    uniform tie-breaker to every sample; the half-tie win rate is then the probability
    that the kept candidate beats the base sample in the refined order, at most that
    of the refined maximum, which is ``N/(N+1)`` by symmetry among ``N+1`` i.i.d. draws.

    Examples
    --------
    >>> from alignlimits.bon import win_rate, win_rate_bound
    >>> win_rate([0.5, 0.5], [0.0, 1.0], 2), win_rate_bound(2)  # ties cost win rate
    (0.625, 0.6666666666666666)
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    ns = np.atleast_1d(_as_ns(n))
    lv = _levels(p0, r)
    p = np.exp(_log_level_law(lv, ns))
    q = np.exp(lv.log_q)
    below = np.exp(lv.log_cdf_prev)
    return _scalar_or(n, p @ (below + q / 2))


def kl_bound(n: ArrayLike) -> NDArray[np.float64] | float:
    r"""``log N − (N−1)/N``: the best-of-N KL for atomless rewards, an upper bound otherwise.

    Examples
    --------
    >>> from alignlimits.bon import kl_bound
    >>> round(kl_bound(2), 6)  # log 2 − 1/2
    0.193147
    >>> kl_bound([1, 4]).round(6)
    array([0.      , 0.636294])
    """
    ns = _as_ns(n).astype(np.float64)
    out = np.log(ns) - (ns - 1) / ns
    return float(out) if out.ndim == 0 else out


def win_rate_bound(n: ArrayLike) -> NDArray[np.float64] | float:
    r"""``N/(N+1)``: the win rate of best-of-N over the base for atomless rewards, a bound otherwise.

    Examples
    --------
    >>> from alignlimits.bon import win_rate_bound
    >>> win_rate_bound([1, 3])  # N/(N+1)
    array([0.5 , 0.75])
    """
    ns = _as_ns(n).astype(np.float64)
    out = ns / (ns + 1)
    return float(out) if out.ndim == 0 else out


def bound_gap(base_probs: ArrayLike, rewards: ArrayLike, n: ArrayLike) -> NDArray[np.float64] | float:
    r"""``log N − (N−1)/N − KL(π_N‖π0) ≥ 0``: how loose the bound is for this base.

    Any atom of the reward law (a discrete outcome, or several outcomes with tied
    rewards) makes the gap positive for ``N ≥ 2``; it shrinks to zero only as the
    largest atom does (e.g. ``k`` equiprobable distinct rewards, ``k → ∞``).

    Examples
    --------
    >>> from alignlimits.bon import bound_gap
    >>> round(bound_gap([0.5, 0.5], [0.0, 1.0], 2), 6)  # 0.193147 − 0.130812
    0.062335
    """
    gap = np.atleast_1d(kl_bound(n)) - np.atleast_1d(kl(base_probs, rewards, n))
    return _scalar_or(n, gap)


def bound_is_tight(
    base_probs: ArrayLike | None = None,
    rewards: ArrayLike | None = None,
    n: ArrayLike = 1,
    *,
    atol: float = 0.0,
) -> NDArray[np.bool_] | bool:
    r"""Whether ``KL(π_N‖π0) = log N − (N−1)/N`` (within ``atol``).

    With ``base_probs=None`` and ``rewards=None`` the reward law is taken to be
    atomless (continuous) and the answer is ``True``: the bound is then the KL
    (see :func:`alignlimits.symbolic.bon.continuous_kl`). For a discrete base the
    equality is exact only for ``N = 1``; with ``atol > 0`` this reports whether
    :func:`bound_gap` is within ``atol``.

    Examples
    --------
    >>> from alignlimits.bon import bound_is_tight
    >>> bound_is_tight(n=4)  # an atomless (continuous) reward law
    True
    >>> bound_is_tight([0.5, 0.5], [0.0, 1.0], [1, 2])  # a discrete one: only N = 1
    array([ True, False])
    """
    if (base_probs is None) != (rewards is None):
        raise ValueError("pass both base_probs and rewards (a discrete base), or neither (a continuous law).")
    ns = _as_ns(n)
    if base_probs is None:
        out = np.ones(ns.shape, dtype=bool)
    else:
        if not (np.isfinite(atol) and atol >= 0):
            raise ValueError(f"atol must be a finite number >= 0; got {atol!r}.")
        out = np.atleast_1d(bound_gap(base_probs, rewards, ns)) <= atol
        out = out[0] if ns.ndim == 0 else out
    return bool(out) if np.ndim(out) == 0 else out


#: The fields of :class:`BonCurve` that hold one value per ``N``.
BON_CURVE_FIELDS = ("n", "kl", "gain", "win_rate", "bound")


@dataclass(frozen=True)
class BonCurve:
    """Exact best-of-N points, one per ``N`` (arrays of shape ``(m,)``; scalars for a scalar ``N``).

    Attributes
    ----------
    n : candidate counts ``N``.
    kl : ``KL(π_N‖π0)``.
    gain : ``E_{π_N}[r] − E_{π0}[r]``.
    win_rate : ``P(r_N > r_0) + P(r_N = r_0)/2`` against an independent base sample.
    bound : ``log N − (N−1)/N``.
    base_mean : ``E_{π0}[r]`` (a float).

    Examples
    --------
    >>> from alignlimits.bon import curve
    >>> c = curve([0.5, 0.5], [0.0, 1.0], 2)  # a scalar N gives scalar fields
    >>> float(c.gain), float(c.win_rate), float(c.expected_reward)
    (0.25, 0.625, 0.75)
    """

    n: NDArray[np.int64]
    kl: NDArray[np.float64]
    gain: NDArray[np.float64]
    win_rate: NDArray[np.float64]
    bound: NDArray[np.float64]
    base_mean: float

    @property
    def expected_reward(self) -> NDArray[np.float64]:
        """``E_{π_N}[r] = base_mean + gain``."""
        return self.base_mean + self.gain


def curve(base_probs: ArrayLike, rewards: ArrayLike, n: ArrayLike) -> BonCurve:
    """All exact best-of-N quantities for each ``N`` in ``n`` (see :class:`BonCurve`; scalars for a scalar ``n``).

    Examples
    --------
    >>> from alignlimits.bon import curve
    >>> c = curve([0.5, 0.5], [0.0, 1.0], [1, 2, 4])
    >>> c.kl.round(6), c.gain
    (array([0.      , 0.130812, 0.459356]), array([0.    , 0.25  , 0.4375]))
    >>> c.bound.round(6)  # log N − (N−1)/N, above the KL
    array([0.      , 0.193147, 0.636294])
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    ns = np.atleast_1d(_as_ns(n))
    base_mean = float(p0 @ r)
    points = BonCurve(
        n=ns,
        kl=np.atleast_1d(kl(p0, r, ns)),
        gain=np.atleast_1d(expected_reward(p0, r, ns)) - base_mean,
        win_rate=np.atleast_1d(win_rate(p0, r, ns)),
        bound=np.atleast_1d(kl_bound(ns)),
        base_mean=base_mean,
    )
    return squeeze_fields(points, np.ndim(n) == 0, BON_CURVE_FIELDS)


def optimal_gain(base_probs: ArrayLike, rewards: ArrayLike, kl_budget: ArrayLike) -> NDArray[np.float64] | float:
    r"""``Δ*(ε)``, the best gain of any policy with ``KL(π‖π0) ≤ ε`` (:func:`alignlimits.tilting.max_gain`).

    Best-of-N's KL approaches the greedy ceiling ``−log q_top`` exponentially fast in
    ``N``; budgets within ``1e-9`` (relative) of it are given the greedy gain, which is
    the supremum of the frontier, instead of the root-finding error ``max_gain`` raises
    when no β is distinguishable from the greedy policy. Shape as ``kl_budget``.

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.bon import optimal_gain
    >>> round(optimal_gain([0.5, 0.5], [0.0, 1.0], 0.1), 6)  # as tilting.max_gain
    0.219795
    >>> optimal_gain([0.5, 0.5], [0.0, 1.0], [0.0, np.log(2)])  # at the greedy ceiling: the greedy gain
    array([0. , 0.5])
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    budgets = np.asarray(kl_budget, dtype=np.float64)
    ceiling = tilting.max_kl(p0, r)
    near = budgets >= ceiling * (1 - 1e-9)
    safe = np.where(near, 0.0, budgets)
    out = np.where(near, tilting.greedy_gain(p0, r), tilting.max_gain(p0, r, np.atleast_1d(safe)).reshape(safe.shape))
    return float(out) if out.ndim == 0 else out


def frontier_fraction(base_probs: ArrayLike, rewards: ArrayLike, n: ArrayLike) -> NDArray[np.float64] | float:
    r"""Best-of-N's gain as a fraction of the optimal gain at the same KL: ``Δ_N / Δ*(KL(π_N‖π0))``.

    At most one (no policy beats the frontier); ``NaN`` for ``N = 1`` or a constant reward (0/0).

    Examples
    --------
    >>> from alignlimits.bon import frontier_fraction
    >>> frontier_fraction([0.5, 0.3, 0.2], [0.0, 1.0, 2.0], [1, 2, 8]).round(4)  # close to, never above, 1
    array([   nan, 0.9581, 0.994 ])
    """
    c = curve(base_probs, rewards, np.atleast_1d(n))
    optimal = np.atleast_1d(optimal_gain(base_probs, rewards, c.kl))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(c.n > 1, c.gain / optimal, np.nan)
    return _scalar_or(n, out)


# ----------------------------------------------------------------------------- continuous laws


def continuous_expected_max(dist: Any, n: ArrayLike) -> NDArray[np.float64] | float:
    r"""``E[max of N]`` for an atomless law given as a frozen ``scipy.stats`` distribution.

    In the uniform variable the maximum's quantile has density ``N u^{N−1}``;
    substituting ``u = v^{1/N}`` gives ``E = ∫_0^1 F^{-1}(v^{1/N}) dv``, evaluated with
    ``isf(−expm1(log(v)/N))`` so the upper tail keeps full precision for large ``N``.
    The matching KL is :func:`kl_bound` (exact for atomless laws).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> from alignlimits.bon import continuous_expected_max
    >>> round(continuous_expected_max(stats.norm(), 2), 6), round(float(1 / np.sqrt(np.pi)), 6)  # E max of 2 N(0, 1)
    (0.56419, 0.56419)
    >>> continuous_expected_max(stats.uniform(), [1, 3])  # N/(N+1) for U(0, 1)
    array([0.5 , 0.75])
    """
    ns = np.atleast_1d(_as_ns(n))
    if not (hasattr(dist, "isf") and hasattr(dist, "mean")):
        raise TypeError(
            "dist must be a frozen scipy.stats distribution (with .isf and .mean), e.g. scipy.stats.norm()."
        )

    nn = ns.astype(np.float64)

    def integrand(v: float) -> NDArray[np.float64]:  # one component per N; N = 1 is the mean
        return np.asarray(dist.isf(-np.expm1(np.log(v) / nn)), dtype=np.float64)

    # Break points where the integrand changes fastest (v near 0 and 1 map to the two tails).
    points = [1e-8, 1e-4, 0.01, 0.5, 0.99, 1 - 1e-4, 1 - 1e-8]
    scale = float(dist.std()) if np.isfinite(dist.std()) else 1.0
    total, _ = integrate.quad_vec(
        integrand, 0.0, 1.0, points=points, epsabs=1e-13 * scale, epsrel=1e-12, norm="max", limit=2000
    )
    out = np.asarray(total, dtype=np.float64).reshape(ns.shape)
    if not np.isfinite(out).all():
        raise ValueError("the expected maximum is not finite for this law (heavy upper tail?).")
    return _scalar_or(n, out)


def _scipy_law(law: toys.RewardLaw) -> Any:
    """The frozen scipy.stats distribution of a continuous toy law."""
    if isinstance(law, toys.Gaussian):
        return stats.norm(law.mu, law.sigma)
    if isinstance(law, toys.Exponential):
        return stats.expon(scale=1.0 / law.rate)
    if isinstance(law, toys.Uniform):
        return stats.uniform(law.a, law.b - law.a)
    raise TypeError(
        f"no scipy.stats equivalent is known for {type(law).__name__}; use continuous_expected_max "
        "with a frozen scipy.stats distribution, or a discrete law (atoms())."
    )


def law_curve(law: toys.RewardLaw, n: ArrayLike) -> BonCurve:
    r"""Best-of-N points for a toy reward law (:mod:`alignlimits.toys`), one per ``N``.

    Discrete laws (``law.atoms()``) use the exact tie-aware law (:func:`curve`).
    Continuous laws use the atomless formulas: ``KL = log N − (N−1)/N``, win rate
    ``N/(N+1)`` and gain ``E[max of N] − E[r]`` from :func:`continuous_expected_max`.
    Scalars for a scalar ``n``.

    Examples
    --------
    >>> from alignlimits import toys
    >>> from alignlimits.bon import law_curve
    >>> c = law_curve(toys.Gaussian(), [2, 16])  # atomless: KL = log N − (N−1)/N exactly
    >>> c.kl.round(6), c.gain.round(6)
    (array([0.193147, 1.835089]), array([0.56419 , 1.765991]))
    """
    ns = np.atleast_1d(_as_ns(n))
    atoms = law.atoms()
    if atoms is not None:
        return curve(atoms[1], atoms[0], n)
    expected = np.atleast_1d(continuous_expected_max(_scipy_law(law), ns))
    bound = np.atleast_1d(kl_bound(ns))
    points = BonCurve(
        n=ns,
        kl=bound.copy(),
        gain=expected - law.mean,
        win_rate=np.atleast_1d(win_rate_bound(ns)),
        bound=bound,
        base_mean=float(law.mean),
    )
    return squeeze_fields(points, np.ndim(n) == 0, BON_CURVE_FIELDS)


def law_frontier_fraction(law: toys.RewardLaw, n: ArrayLike) -> NDArray[np.float64] | float:
    r"""``Δ_N / Δ*(KL(π_N‖π0))`` for a toy law: best-of-N's share of the optimal gain at its own KL.

    ``Δ*`` is the law's exact frontier (``law.gain_at_kl``; the greedy gain at the
    ceiling for discrete laws, see :func:`optimal_gain`). ``NaN`` for ``N = 1``.

    Examples
    --------
    >>> from alignlimits import toys
    >>> from alignlimits.bon import law_frontier_fraction
    >>> law_frontier_fraction(toys.Gaussian(), [2, 16]).round(4)  # about 91–92 % of the optimum
    array([0.9077, 0.9218])
    """
    c = law_curve(law, np.atleast_1d(n))
    atoms = law.atoms()
    optimal = np.atleast_1d(optimal_gain(atoms[1], atoms[0], c.kl)) if atoms is not None else law.gain_at_kl(c.kl)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(c.n > 1, c.gain / optimal, np.nan)
    return _scalar_or(n, out)


# ----------------------------------------------------------------------------- estimators from samples


def unbiased_max_weights(n_samples: int, n: int) -> NDArray[np.float64]:
    r"""Weights ``w_i = C(i−1, N−1)/C(n, N)`` of the sorted samples ``x_(1) ≤ … ≤ x_(n)``.

    ``Σ_i w_i x_(i)`` is the average of ``max`` over all ``C(n, N)`` subsets of size
    ``N`` (the ``i``-th smallest is the maximum of exactly ``C(i−1, N−1)`` of them), an
    unbiased estimator of ``E[max of N]``. Computed with ``scipy.special.gammaln``, so
    ``N`` and ``n`` in the thousands or millions are fine. Shape ``(n,)``, sums to one.

    Examples
    --------
    >>> from alignlimits.bon import unbiased_max_weights
    >>> unbiased_max_weights(4, 2).round(6)  # C(i−1, 1)/C(4, 2) for the sorted samples
    array([0.      , 0.166667, 0.333333, 0.5     ])
    """
    n_samples = int(_as_ns(n_samples, "n_samples"))
    n = int(_as_ns(n))
    if n_samples < n:
        raise ValueError(f"need at least N = {n} samples to estimate best-of-{n}; got {n_samples}.")
    i = np.arange(1, n_samples + 1, dtype=np.float64)
    valid = i >= n
    log_choose_i = gammaln(np.where(valid, i, n)) - gammaln(n) - gammaln(np.where(valid, i - n + 1, 1))
    log_choose_total = gammaln(n_samples + 1) - gammaln(n + 1) - gammaln(n_samples - n + 1)
    return np.where(valid, np.exp(log_choose_i - log_choose_total), 0.0)


def expected_max_unbiased(samples: ArrayLike, n: int) -> NDArray[np.float64] | float:
    r"""Unbiased estimate of ``E[max of N rewards]`` from ``n ≥ N`` i.i.d. base rewards.

    ``Σ_i C(i−1, N−1)/C(n, N) · x_(i)`` over the sorted samples (see
    :func:`unbiased_max_weights`). ``samples`` has shape ``(..., n)``: leading axes are
    independent batches (e.g. prompts) and the result has the leading shape.

    Examples
    --------
    >>> from alignlimits.bon import expected_max_unbiased
    >>> round(expected_max_unbiased([3.0, 1.0, 2.0, 0.0], 2), 6)  # mean max over the 6 pairs
    2.333333
    >>> expected_max_unbiased([[3.0, 1.0, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0]], 2).round(6)  # one per row
    array([2.333333, 1.      ])
    """
    x = as_finite_array(samples, "samples")
    w = unbiased_max_weights(x.shape[-1], n)
    out = np.sort(x, axis=-1) @ w
    return float(out) if np.ndim(out) == 0 else out


@dataclass(frozen=True)
class BonEstimate:
    """Best-of-N quantities estimated from base samples (see :func:`estimate`).

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.bon import estimate
    >>> est = estimate(np.random.default_rng(0).normal(size=1000), 4)
    >>> est.n, est.n_samples, round(est.gain, 3)  # exact for N(0, 1): 1.029
    (4, 1000, 1.004)
    """

    n: int
    kl: float
    expected_reward: float
    base_mean: float
    n_samples: int

    @property
    def gain(self) -> float:
        """``expected_reward − base_mean`` (unbiased)."""
        return self.expected_reward - self.base_mean


def estimate(samples: ArrayLike, n: int) -> BonEstimate:
    r"""Estimate best-of-N's KL and reward from ``n ≥ N`` base rewards (shape ``(n,)``).

    * reward: :func:`expected_max_unbiased` (unbiased), base mean: the sample mean;
    * KL: the plug-in estimate — the exact tie-aware KL (:func:`kl`) of best-of-N on
      the empirical reward distribution. It is consistent; it never exceeds the bound
      ``log N − (N−1)/N``, and for continuous rewards (all samples distinct) it equals the
      KL of ``n`` equiprobable distinct outcomes, which approaches the bound from below
      as ``n`` grows (the gap shrinks roughly like ``(N/n)²``: ~2e-4 nats at
      ``N/n = 0.064``). With ties in the samples it reflects the atoms, which is what
      the bound misses; with discrete rewards its error is dominated by the sampling
      noise in the estimated mass of the top reward levels.

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.bon import estimate, kl_bound
    >>> est = estimate(np.random.default_rng(0).normal(size=1000), 4)
    >>> round(est.kl, 4), round(kl_bound(4), 4)  # distinct samples: close to the bound, below it
    (0.6363, 0.6363)
    >>> round(est.expected_reward - est.base_mean, 3)
    1.004
    """
    x = as_finite_array(samples, "samples")
    if x.ndim != 1:
        raise ValueError(f"samples must be 1-D (one reward per base sample); got shape {x.shape}.")
    n = int(_as_ns(n))
    if x.size < n:
        raise ValueError(f"need at least N = {n} samples to estimate best-of-{n}; got {x.size}.")
    values, counts = np.unique(x, return_counts=True)
    return BonEstimate(
        n=n,
        kl=float(kl(counts / counts.sum(), values, n)),
        expected_reward=float(expected_max_unbiased(x, n)),
        base_mean=float(x.mean()),
        n_samples=int(x.size),
    )


# ----------------------------------------------------------------------------- soft best-of-N

#: Soft best-of-N is computed as hard best-of-N once (smallest reward gap)/β exceeds this.
HARD_LIMIT_GAP = 1000.0


def _soft_log_level_law(lv: _Levels, n: int, beta: float) -> NDArray[np.float64]:
    r"""``log P_soft(j)`` for soft best-of-N over the distinct levels, shape ``(L,)``.

    With ``w_j = e^{(v_j − v_top)/β} ∈ (0, 1]``, ``a = w_j`` and ``S`` the sum of the
    other ``N−1`` candidates' weights, ``P_soft(j) = N q_j E[a/(a+S)]``, and
    ``1/x = ∫_0^∞ e^{−tx} dt`` gives ``E[a/(a+S)] = a ∫_0^∞ e^{−ta} φ(t)^{N−1} dt`` with
    ``φ(t) = Σ_l q_l e^{−t w_l}``. The integral is taken over ``s = log t`` entirely in
    log space (``t`` itself is never formed), by adaptive quadrature.
    """
    if n == 1:
        return lv.log_q.copy()
    if lv.values.size > 1 and np.diff(lv.values).min() / beta > HARD_LIMIT_GAP:
        # Every weight ratio between levels is below e^{−1000}: the soft choice is the hard
        # one to far beyond double precision (and the quadrature range would overflow).
        return _log_level_law(lv, np.array([n]))[0]
    log_w = (lv.values - lv.values[-1]) / beta  # ≤ 0, never exponentiated on its own

    def log_phi(s: NDArray) -> NDArray:
        # log φ(e^s) = logsumexp_l(log q_l − e^{s + log w_l}); the max-shift is written out
        # because this runs thousands of times inside the quadrature and scipy's logsumexp
        # costs ~20x more per call on these small arrays. Where every term is −inf, φ is 0 to
        # double precision and log φ = −inf, as it should be.
        with np.errstate(over="ignore"):
            a = lv.log_q[None, :] - np.exp(s[:, None] + log_w[None, :])
        top = a.max(axis=-1, keepdims=True)
        safe = np.where(np.isfinite(top), top, 0.0)
        with np.errstate(divide="ignore"):
            return (safe + np.log(np.exp(a - safe).sum(axis=-1, keepdims=True)))[:, 0]

    # One vector integral over all levels (φ is shared). Range: below s_lo every integral is
    # < 1e-17 of its value (g ≤ a e^s while the value is ≥ a/(a+N−1)); above s_hi the tail
    # ∫ a e^{−ta} dt = e^{−Ta} is as small, for the smallest a.
    s_lo = -40.0 - np.log(n)
    s_hi = float(-log_w.min() + np.log(45.0 + np.log(n) - log_w.min()))

    def log_g(s: NDArray) -> NDArray:  # shape (len(s), L)
        with np.errstate(over="ignore"):
            return log_w[None, :] + s[:, None] - np.exp(log_w[None, :] + s[:, None]) + (n - 1) * log_phi(s)[:, None]

    # Between the "drops" s = −log w_l (where e^{−t w_l} switches off) the integrand grows like
    # e^s, so its mass sits within a few dozen units left of each drop; a ladder of break
    # points there keeps the adaptive rule from stepping over it when β is tiny and the
    # drops are far apart.
    ladder = np.array([-80.0, -40.0, -20.0, -10.0, -5.0, -2.5, -1.0, 0.0, 1.0, 2.5, 5.0])
    points = np.clip((-log_w)[:, None] + ladder[None, :], s_lo, s_hi).ravel()
    grid = np.unique(np.concatenate([np.linspace(s_lo, s_hi, 4001), points]))
    vals = log_g(grid)
    shift = vals.max(axis=0)  # per level, so every component is O(1) for the error control
    # Break points closer than 0.1 add work and no accuracy: merge them.
    points = np.unique(np.round(np.concatenate([points, grid[np.argmax(vals, axis=0)]]), 1))
    points = points[(points > s_lo) & (points < s_hi)]
    val, _ = integrate.quad_vec(
        lambda s: np.exp(log_g(np.array([s]))[0] - shift),
        s_lo,
        s_hi,
        points=points if points.size else None,
        epsabs=0.0,
        epsrel=1e-11,
        norm="max",
        limit=5000,
    )
    out = np.log(n) + lv.log_q + shift + np.log(val)
    norm = logsumexp(out)
    if abs(norm) > 1e-6:  # pragma: no cover - a quadrature failure, not a user error
        raise RuntimeError(f"soft best-of-N quadrature did not normalise (log-sum {norm:.3g}); please report this.")
    return out - norm  # removes the remaining quadrature error (≤ 1e-6 relative)


def soft_log_law(base_probs: ArrayLike, rewards: ArrayLike, n: int, beta: float) -> NDArray[np.float64]:
    r"""Log-probabilities of soft best-of-N: draw ``N`` candidates from ``π0``, keep one w.p. ``softmax(r/β)``.

    ``π_soft(i) = N π0(i) E[e^{r_i/β} / (e^{r_i/β} + Σ_{m=2}^N e^{r_m/β})]`` with the
    other candidates ``y_m ~ π0``; computed exactly (to quadrature precision ~1e-10)
    through a one-dimensional integral, see ``_soft_log_level_law``. Limits:

    * ``N = 1``: ``π0``;
    * ``N → ∞``: the tilted policy ``π_β = π0 e^{r/β}/Z_β`` (the empirical average in
      the denominator tends to ``Z_β``), with an ``O(1/N)`` error;
    * ``β → 0``: best-of-N (:func:`log_law`), ties split in proportion to ``π0`` (used as
      is once the smallest reward gap over β exceeds :data:`HARD_LIMIT_GAP`);
    * ``β → ∞``: ``π0``.

    Returns shape ``(k,)``; outcomes with ``π0 = 0`` get ``-inf``.

    Examples
    --------
    >>> from alignlimits.bon import soft_log_law
    >>> soft_log_law([0.5, 0.5], [0.0, 1.0], 2, 1.0).round(6)
    array([-0.955888, -0.485273])
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    n = int(_as_ns(n))
    b = float(as_betas(beta))
    lv = _levels(p0, r)
    if not np.isfinite(b):
        log_level = lv.log_q.copy()
    else:
        log_level = _soft_log_level_law(lv, n, b)
    support = lv.index >= 0
    idx = np.where(support, lv.index, 0)
    with np.errstate(divide="ignore"):
        log_p0 = np.log(p0)
    return np.where(support, log_p0 - lv.log_q[idx] + log_level[idx], -np.inf)


def soft_law(base_probs: ArrayLike, rewards: ArrayLike, n: int, beta: float) -> NDArray[np.float64]:
    """Soft best-of-N policy (see :func:`soft_log_law`), shape ``(k,)``.

    Examples
    --------
    >>> from alignlimits.bon import soft_law
    >>> soft_law([0.5, 0.5], [0.0, 1.0], 2, 1.0).round(6)  # between π0 and best-of-2
    array([0.384471, 0.615529])
    >>> soft_law([0.5, 0.5], [0.0, 1.0], 2, 1e-3)  # β → 0: best-of-N
    array([0.25, 0.75])
    >>> soft_law([0.5, 0.5], [0.0, 1.0], 2, 1e6).round(6)  # β → ∞: the base policy
    array([0.5, 0.5])
    """
    return np.exp(soft_log_law(base_probs, rewards, n, beta))


# ----------------------------------------------------------------------------- sampler-agnostic best-of-N


@dataclass(frozen=True)
class BestOfN:
    """The outcome of one best-of-N draw.

    Attributes
    ----------
    choice : the kept candidate (``candidates[index]``).
    index : its position among the ``N`` candidates.
    scores : the ``N`` candidate rewards, float64 shape ``(N,)``, in sampling order.
    candidates : everything ``sample`` returned (shape ``(N, ...)`` array or a sequence).

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.bon import best_of_n
    >>> out = best_of_n(lambda n, rng: ["no", "yes!", "ok"][:n], lambda xs: [len(x) for x in xs], 3,
    ...                 np.random.default_rng(0))
    >>> out.choice, out.index, out.scores
    ('yes!', 1, array([2., 4., 2.]))
    """

    choice: Any
    index: int
    scores: NDArray[np.float64]
    candidates: Any


def best_of_n(
    sample: Callable[[int, np.random.Generator], Any],
    reward: Callable[[Any], ArrayLike],
    n: int,
    rng: np.random.Generator,
    *,
    beta: float | None = None,
) -> BestOfN:
    r"""Draw ``n`` candidates with ``sample(n, rng)``, score them with ``reward``, keep the best.

    Parameters
    ----------
    sample : callable ``(n, rng) -> candidates``
        Returns ``n`` i.i.d. base samples: an array whose first axis has length ``n``
        or a sequence of length ``n`` (e.g. strings from a language model).
    reward : callable ``(candidates) -> scores``
        Returns ``n`` finite rewards, shape ``(n,)``.
    n : int
        Number of candidates ``N ≥ 1``.
    rng : numpy.random.Generator
        Passed to ``sample`` and, for soft best-of-N, used for the selection.
    beta : float, optional
        ``None`` (default): hard best-of-N, keep the highest score. Ties go to the
        **first** highest candidate (``numpy.argmax``) — deterministic, and because
        the candidates are i.i.d. the kept sample has the same law as with uniformly
        random tie-breaking (:func:`law`). A positive ``beta``: soft best-of-N, keep
        candidate ``m`` with probability ``softmax(scores/β)_m``, drawn with the
        Gumbel-max trick in log space (:func:`soft_law`).

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.bon import best_of_n
    >>> out = best_of_n(lambda n, rng: rng.normal(size=n), lambda x: x, 4, np.random.default_rng(0))
    >>> out.index, out.scores.round(3)  # the highest of four N(0, 1) draws
    (2, array([ 0.126, -0.132,  0.64 ,  0.105]))
    >>> soft = best_of_n(lambda n, rng: rng.normal(size=n), lambda x: x, 4, np.random.default_rng(0), beta=1e-9)
    >>> soft.index  # a tiny β is hard best-of-N
    2
    """
    n = int(_as_ns(n))
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator, e.g. np.random.default_rng(0).")
    candidates = sample(n, rng)
    try:
        count = len(candidates)
    except TypeError:
        raise TypeError("sample(n, rng) must return an array or a sequence of n candidates.") from None
    if count != n:
        raise ValueError(f"sample(n, rng) returned {count} candidates; expected n = {n}.")
    scores = as_finite_array(reward(candidates), "reward(candidates)")
    if scores.shape != (n,):
        raise ValueError(f"reward(candidates) must return shape ({n},), one score per candidate; got {scores.shape}.")
    if beta is None:
        index = int(np.argmax(scores))
    else:
        b = float(as_betas(beta))
        # Shift by the top score so (scores − max)/β ≤ 0 never overflows, even for tiny β.
        logits = (scores - scores.max()) / b if np.isfinite(b) else np.zeros(n)
        index = int(np.argmax(logits + rng.gumbel(size=n)))
    choice = candidates[index] if isinstance(candidates, np.ndarray | Sequence) else list(candidates)[index]
    return BestOfN(choice=choice, index=index, scores=scores, candidates=candidates)
