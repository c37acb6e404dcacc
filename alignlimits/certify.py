r"""Certified, distribution-free confidence bounds on the optimal KL-budget gain.

The target is the largest reward gain any policy reaches within a KL budget ε,

.. math::  Δ^*(ε) = \max\{E_π[r] − E_{π_0}[r] : \mathrm{KL}(π‖π_0) ≤ ε\},

for the *true* law of the reward under the base policy. Given ``n`` base samples
whose rewards are known to lie in ``[a, b]``, :func:`certified_gain` returns
``lower ≤ Δ*(ε) ≤ upper`` that hold together, for every ε at once, with probability
at least ``level`` — for every finite ``n`` and every reward law on ``[a, b]``
(continuous, discrete, with ties). The argument, in five steps:

1. **One dimension.** ``Δ*`` depends on ``π0`` only through the law ``F`` of
   ``R = r(Y)``, ``Y ~ π0``: data processing gives ``KL(π‖π0) ≥ KL(Q‖F)`` for the law
   ``Q`` of ``r`` under π, and every ``Q ≪ F`` lifts to ``π = π0·(dQ/dF)(r)`` with the
   same KL. Write ``g = F^{-1}`` (the quantile function) and ``U ~ Uniform(0, 1)``.
   Then, with densities ``h ≥ 0`` on ``(0, 1)``, ``∫h = 1``, ``∫h log h ≤ ε``:
   ``Δ*(ε; g) = sup_h ∫(h − 1) g`` — a supremum of linear functions of ``g``.
   The dual (Donsker–Varadhan) is ``Δ*(ε; g) = inf_{β>0} Φ(β, g)``,
   ``Φ(β, g) = βε + β log ∫e^{g/β} − ∫g``.

2. **A band.** Kolmogorov's statistic ``D_n = sup_x |F_n(x) − F(x)|`` satisfies
   ``P(D_n > t) ≤ α`` for ``t`` its exact upper-α quantile under a continuous ``F``
   (``scipy.stats.kstwo``) and for any discrete ``F`` too (then ``D_n`` is
   stochastically smaller: ``F_n(x) = Ĝ_n(F(x))`` for the empirical CDF ``Ĝ_n`` of
   uniforms). Massart's DKW inequality ``P(D_n > t) ≤ 2e^{−2nt²}`` (a sharp
   constant) gives a closed form that is never smaller; we take the smaller of the two.
   On ``{D_n ≤ t}`` the quantile function lies between two step functions,
   ``g_lo ≤ g ≤ g_hi``: ``g_lo`` moves mass ``t`` from the top sample values to ``a``,
   ``g_hi`` moves mass ``t`` from the bottom sample values to ``b``. The uniform width
   is wasteful in the tails, which is where a tilt puts its mass: the default band
   (``"ks+tails"``) spends ``0.9α`` on the Kolmogorov band and ``0.05α`` per tail on
   one-sided bounds for the order statistics ``X_(n−j)`` and ``X_(j+1)``,
   ``j = 0, 1, 3, 7, …`` (``F(X_(k)) ≥ U_(k) ≥ F(X_(k)−)`` with ``U_(k) ~ Beta(k, n−k+1)``
   for every law), so at most ``≈ log(1/α)/n`` instead of ``t ≈ 1.36/√n`` of the
   mass can sit above the sample maximum. Steps 3–4 hold for any band given by
   non-decreasing edges.

3. **The exact supremum over the band** (the upper bound). The gain is *not*
   monotone under stochastic dominance — raising the lower quantiles raises the base
   mean and lowers the gain — so ``upper`` is not ``M*(g_hi) − E g_lo`` (that
   difference of extremes is valid but looser). For fixed β, ``Φ(β, g) = βε − ∫g +
   sup_h[∫hg − β∫h log h]``; exchange the suprema: for fixed ``h`` the best ``g`` in
   the box takes ``g_hi`` where ``h > 1`` and ``g_lo`` where ``h < 1``, and by the
   Hardy–Littlewood rearrangement inequality ``h`` may be taken non-decreasing, so
   the maximiser is a **splice** ``g = g_lo`` on ``(0, u0)``, ``g_hi`` on
   ``(u0, 1)`` — itself a quantile function in the band. Between breakpoints
   ``Φ`` is concave in ``u0`` with a closed-form maximiser, so
   ``Ψ(β) = sup_band Φ(β, ·)`` is computed exactly, and ``Δ*(ε; F) ≤ Ψ(β)`` for
   *every* β (weak duality): ``upper = min_β Ψ(β)`` (convex in β) is valid whatever
   the optimiser returns. By Sion's minimax theorem it equals ``sup_band Δ*``.

4. **The exact infimum over the band** (the lower bound). ``Φ(β, ·)`` is convex in
   ``g``, so its minimum over the box is fixed by the KKT conditions: the **clamp**
   ``g_c = min(max(c, g_lo), g_hi)`` with ``c = β log ∫e^{g_c/β}`` (the level where
   the tilt crosses 1), computed exactly per β. ``Φ`` is jointly convex in (β, g),
   so ``inf_band Δ* = min_β Φ(β, g_{c(β)})``. The reported value is certified by the
   other weak duality: for the ε-tilt ``h`` of the clamp found (KL exactly ≤ ε),
   ``Δ*(ε; g) ≥ ∫(h − 1) g ≥ inf_box ∫(h − 1) g`` (``g_lo`` where ``h > 1``, ``g_hi``
   where ``h < 1``) — a number valid for any ``h``, and equal to the infimum at the
   optimum.

5. **Many prompts.** The pooled frontier averages per-prompt gains under a budget
   on the *average* KL (one common β, :func:`alignlimits.estimator.estimate_frontier`).
   Each prompt gets a band at level ``1 − α/P`` (Bonferroni: all P bands hold at once
   with probability ``≥ 1 − α``, whatever the dependence); the dual separates,
   ``Ψ(β) = βε + mean_p Ψ_p(β)``, and the certificate uses per-prompt tilts with a
   common β. The same bands give per-prompt bounds that hold simultaneously. The
   prompts are the ones in the data (the bound is conditional on them).

The empirical law lies in its band, so ``lower ≤ plug-in ≤ upper`` always; the plug-in
estimate is biased low, and ``upper`` is what a claim "no KL-regularised fine-tuning
can gain more than …" may quote. Without a known range no finite-sample upper bound
exists: a mass ``δ < (1 − level)/n`` placed far above the data is invisible in ``n``
samples with probability ``≥ 1 − nδ`` yet makes ``Δ*(ε)`` as large as we like.

Everything is float64, exponents shifted by ``b`` (no overflow), and vectorised over
prompts and the band's ``≤ 2n + 2`` intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import logsumexp
from scipy.stats import beta as stats_beta
from scipy.stats import kstwo

from alignlimits import estimator
from alignlimits._validation import as_finite_array, as_kl_budgets, prompt_groups

__all__ = ["CertifiedBound", "band_width", "certified_gain", "certified_gain_rows", "range_only_bound"]

#: Golden-section iterations over log β: the bracket (width < 40) shrinks below 1e-7;
#: the objectives are flat at their minimum, so their value is exact to ~1e-14.
_GOLDEN_ITERS = 44
#: Bisection iterations for the β whose tilt spends the budget (the certificate).
_BISECT_ITERS = 80
#: How far the β search reaches below the reward range, in nats of log β: ``β ≥ 1e-6 (b − a)``.
#: Where the optimum is the greedy limit β → 0 this leaves the upper bound above its
#: limit by about ``β (ε + log(1/t)) ≤ 1e-5 (b − a)`` — conservative, never invalid.
_LOG_BETA_BELOW = 6.0 * math.log(10.0)


@dataclass(frozen=True)
class CertifiedBound:
    """Confidence bounds ``lower ≤ Δ*(ε) ≤ upper`` holding together with probability ≥ ``level``.

    Scalar fields for a scalar budget, arrays of shape ``(m,)`` for ``m`` budgets.

    Attributes
    ----------
    kl_budget : the budgets ε (nats); the KL is the prompt average when pooled.
    lower, upper : the certified bounds on the optimal gain ``Δ*(ε)`` (reward units).
    estimate : the plug-in estimate (:func:`alignlimits.estimator.gain_at_budget`;
        the greedy gain beyond its KL ceiling); always within ``[lower, upper]``.
    level : the confidence level; the bounds hold simultaneously for all budgets
        (and all prompts) with at least this probability.
    n : samples per prompt, shape ``(P,)``.
    band_width : the half-width ``t`` of each prompt's Kolmogorov band, shape ``(P,)``.
    reward_range : ``(a, b)``.
    method : a one-line description of the route.
    per_prompt_lower, per_prompt_upper : with several prompts, each prompt's bounds
        at its own budget ε, simultaneously valid at ``level``; shape ``(P,)`` or
        ``(P, m)``. ``None`` for one prompt.

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.certify import certified_gain
    >>> bound = certified_gain(np.linspace(0.0, 1.0, 200), 0.5, (0.0, 1.0))
    >>> bool(0.0 <= bound.lower <= bound.estimate <= bound.upper <= 1.0), bound.level
    (True, 0.95)
    """

    kl_budget: NDArray[np.float64] | float
    lower: NDArray[np.float64] | float
    upper: NDArray[np.float64] | float
    estimate: NDArray[np.float64] | float
    level: float
    n: NDArray[np.intp]
    band_width: NDArray[np.float64]
    reward_range: tuple[float, float]
    method: str
    per_prompt_lower: NDArray[np.float64] | None = None
    per_prompt_upper: NDArray[np.float64] | None = None

    @property
    def width(self) -> NDArray[np.float64] | float:
        """``upper − lower``."""
        return self.upper - self.lower


# ----------------------------------------------------------------------------- band


def band_width(n: int, alpha: float) -> float:
    """Half-width ``t`` of a CDF band with ``P(sup|F_n − F| > t) ≤ alpha`` for every law ``F``.

    The smaller of the exact Kolmogorov quantile (``scipy.stats.kstwo``, checked and
    nudged up if rounding left its tail above ``alpha``) and Massart's DKW value
    ``sqrt(log(2/alpha)/(2n))``.

    Examples
    --------
    >>> round(band_width(32, 0.05), 4), round(math.sqrt(math.log(2 / 0.05) / 64), 4)
    (0.2342, 0.2401)
    """
    if not (isinstance(n, int | np.integer) and n >= 1):
        raise ValueError(f"n must be a positive integer number of samples; got {n!r}.")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha!r}.")
    dkw = math.sqrt(math.log(2.0 / alpha) / (2.0 * n))
    t = float(kstwo.isf(alpha, int(n)))
    for _ in range(20):
        if math.isfinite(t) and kstwo.sf(t, int(n)) <= alpha:
            return min(t, dkw)
        t *= 1.0 + 1e-9 if math.isfinite(t) else 1.0
    return dkw


def range_only_bound(kl_budget: ArrayLike, reward_range: tuple[float, float]) -> NDArray[np.float64] | float:
    """What the range alone certifies (no samples): ``Δ*(ε) ≤ (b − a)·min(1, sqrt(ε/2))``.

    Hoeffding's lemma ``log E e^{λ(R − ER)} ≤ λ²(b − a)²/8`` in the dual
    ``Δ* = inf_β βε + β log E e^{(R−ER)/β}`` gives ``(b − a)sqrt(ε/2)``.

    Examples
    --------
    >>> float(range_only_bound(0.5, (0.0, 1.0)))
    0.5
    """
    a, b = _check_range(reward_range)
    eps = as_kl_budgets(kl_budget)
    out = (b - a) * np.minimum(1.0, np.sqrt(eps / 2.0))
    return float(out) if eps.ndim == 0 else out


def _check_band(band: object) -> None:
    if band not in BANDS:
        raise ValueError(f"band must be one of {', '.join(BANDS)}; got {band!r}.")


def _check_range(reward_range: object) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in reward_range)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"reward_range must be a pair (a, b) of numbers; got {reward_range!r}.") from None
    if not (math.isfinite(a) and math.isfinite(b) and a < b):
        raise ValueError(f"reward_range must be finite with a < b; got ({a!r}, {b!r}).")
    return a, b


@dataclass(frozen=True)
class _Bands:
    """Per-prompt bands as intervals of ``u ∈ (0, 1)``, padded to shape (P, K).

    On interval k of prompt p the lower edge is ``lo[p, k]`` and the upper ``hi[p, k]``;
    ``w`` are the interval lengths (0 for padding, whose values are ``b``). ``lo`` and
    ``hi`` are non-decreasing along k.
    """

    w: NDArray[np.float64]
    lo: NDArray[np.float64]
    hi: NDArray[np.float64]
    a: float
    b: float


#: The bands :func:`certified_gain` offers (see :func:`_one_band`).
BANDS = ("ks+tails", "ks")
#: Share of the error budget α spent on each tail's order-statistic bounds (the rest on
#: the Kolmogorov band): the tail bounds tighten like log(1/α), the band width like
#: sqrt(log(1/α)), so a small share costs the band ~1.4 % of its width.
TAIL_SHARE = 0.05


def _ks_alpha(alpha: float, band: str) -> float:
    return (1.0 - 2.0 * TAIL_SHARE) * alpha if band == "ks+tails" else alpha


def _tail_indices(n: int) -> NDArray[np.intp]:
    """Offsets ``j = 0, 1, 3, 7, …, < n/2`` of the order statistics bounded in each tail."""
    j = (1 << np.arange(max(1, int(math.log2(max(n, 1))) + 1))) - 1
    return j[(j < max(n / 2, 1))].astype(np.intp)


def _one_band(x: NDArray[np.float64], alpha: float, a: float, b: float, band: str) -> tuple[NDArray, NDArray, NDArray]:
    """Intervals of ``u`` and the lower and upper quantile edges of a band holding with prob. ≥ 1 − alpha.

    ``"ks"``: ``|G − F_n| ≤ t`` with ``t = band_width(n, alpha)``. ``"ks+tails"``: the
    Kolmogorov band at ``(1 − 2·TAIL_SHARE)·alpha`` intersected with one-sided bounds on
    order statistics in each tail, ``TAIL_SHARE·alpha`` per tail split equally over the offsets
    ``j`` of :func:`_tail_indices`: with ``U_(k) ~ Beta(k, n − k + 1)``,
    ``F(X_(k)) ≥ U_(k)`` and ``F(X_(k)−) ≤ U_(k)`` for every law (continuous or not), so
    ``F(X_(n−j)) ≥ B`` and ``F(X_(j+1)−) ≤ A`` fail with probability at most their
    share (``B``, ``A`` the Beta quantiles). In quantiles: ``g(u) ≤ X_(n−j)`` for
    ``u ≤ B`` and ``g(u) ≥ X_(j+1)`` for ``u > A``. A union bound gives the level.
    ``x`` is sorted.
    """
    n = x.size
    tails = band == "ks+tails"
    t = band_width(n, _ks_alpha(alpha, band))
    j = np.arange(n + 1) / n
    extra: list[NDArray] = []
    if tails:
        off = _tail_indices(n)
        share = TAIL_SHARE * alpha / off.size
        k_top = (n - off)[::-1]  # ascending k
        k_bot = off + 1
        b_top = stats_beta.ppf(share, k_top, n - k_top + 1)  # ascending in k
        a_bot = stats_beta.isf(share, k_bot, n - k_bot + 1)
        extra = [b_top, a_bot]
    pts = np.unique(np.clip(np.concatenate([[0.0, 1.0], j + t, j - t, *extra]), 0.0, 1.0))
    w = np.diff(pts)
    mid = 0.5 * (pts[:-1] + pts[1:])
    keep = w > 0
    w, mid = w[keep], mid[keep]
    # the empirical quantile at v ∈ (0, 1] is x_(ceil(n v)) (1-based)
    i_lo = np.clip(np.ceil(n * (mid - t)).astype(np.intp) - 1, 0, n - 1)
    i_hi = np.clip(np.ceil(n * (mid + t)).astype(np.intp) - 1, 0, n - 1)
    lo = np.where(mid <= t, a, x[i_lo])
    hi = np.where(mid >= 1.0 - t, b, x[i_hi])
    if tails:
        first = np.searchsorted(b_top, mid, "left")  # the smallest k with B_k ≥ u caps g(u)
        capped = first < k_top.size
        hi = np.where(capped, np.minimum(hi, x[k_top[np.minimum(first, k_top.size - 1)] - 1]), hi)
        last = np.searchsorted(a_bot, mid, "left") - 1  # the largest k with A_k < u floors g(u)
        floored = last >= 0
        lo = np.where(floored, np.maximum(lo, x[k_bot[np.maximum(last, 0)] - 1]), lo)
    return w, lo, hi


def _bands(samples: list[NDArray[np.float64]], alpha: float, a: float, b: float, band: str) -> tuple[_Bands, NDArray]:
    """Each prompt's band at level ``1 − alpha``, padded to (P, K); and the Kolmogorov half-widths."""
    parts = [_one_band(np.sort(x), alpha, a, b, band) for x in samples]
    k = max(p[0].size for p in parts)
    w = np.zeros((len(parts), k))
    lo = np.full((len(parts), k), b)
    hi = np.full((len(parts), k), b)
    for i, (wi, li, hi_i) in enumerate(parts):
        w[i, : wi.size], lo[i, : wi.size], hi[i, : wi.size] = wi, li, hi_i
    widths = np.array([band_width(int(x.size), _ks_alpha(alpha, band)) for x in samples])
    return _Bands(w, lo, hi, a, b), widths


# ----------------------------------------------------------------------------- dual pieces


@dataclass(frozen=True)
class _Order:
    """β-free bookkeeping: prefix sums of the band and, for the clamp, sorted candidate levels.

    ``cand`` (P, 2K) are the sorted values of ``lo ∪ hi``; for each candidate,
    ``n_hi_left = #{hi < cand}`` and ``n_lo_left = #{lo < cand}`` (the sets at the
    level itself) and ``n_hi_right = #{hi ≤ cand}``, ``n_lo_right = #{lo ≤ cand}`` (the
    open segment to its right). ``c_w``, ``m_hi``, ``m_lo`` are prefix sums (P, K+1) of
    ``w``, ``w·hi``, ``w·lo``; ``log_w`` is ``log w`` (−inf for padding).
    """

    cand: NDArray[np.float64]
    n_hi_right: NDArray[np.intp]
    n_lo_right: NDArray[np.intp]
    n_hi_left: NDArray[np.intp]
    n_lo_left: NDArray[np.intp]
    c_w: NDArray[np.float64]
    m_hi: NDArray[np.float64]
    m_lo: NDArray[np.float64]
    log_w: NDArray[np.float64]


def _prefix(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)], axis=1)


def _order(bd: _Bands) -> _Order:
    cand = np.sort(np.concatenate([bd.lo, bd.hi], axis=1), axis=1)
    out = [np.empty(cand.shape, dtype=np.intp) for _ in range(4)]
    for p in range(cand.shape[0]):
        out[0][p] = np.searchsorted(bd.hi[p], cand[p], "right")
        out[1][p] = np.searchsorted(bd.lo[p], cand[p], "right")
        out[2][p] = np.searchsorted(bd.hi[p], cand[p], "left")
        out[3][p] = np.searchsorted(bd.lo[p], cand[p], "left")
    with np.errstate(divide="ignore"):
        log_w = np.log(bd.w)
    return _Order(cand, *out, _prefix(bd.w), _prefix(bd.w * bd.hi), _prefix(bd.w * bd.lo), log_w)


def _sup_phi(bd: _Bands, od: _Order, beta: NDArray[np.float64]) -> NDArray[np.float64]:
    """``sup over the band of β log ∫e^{g/β} − ∫g`` per prompt (β of shape (P,)): the best splice.

    The splice at the left end of interval k has mass ``z0`` (shifted by ``e^{−b/β}``)
    and mean ``m0``; moving the splice point by ``s`` into the interval gives
    ``β log(z0 − s D) + b − (m0 − s d)``, concave in ``s``, maximised in closed form.
    """
    bb = beta[:, None]
    w, lo, hi, b = bd.w, bd.lo, bd.hi, bd.b
    d = hi - lo
    with np.errstate(under="ignore"):
        e_hi = np.exp((hi - b) / bb)
        d_exp = -e_hi * np.expm1(-d / bb)  # (e^{hi/β} − e^{lo/β}) e^{−b/β} ≥ 0
    we_hi = w * e_hi
    z0 = _prefix(we_hi - w * d_exp)[:, :-1] + (we_hi.sum(axis=1, keepdims=True) - _prefix(we_hi)[:, :-1])
    m0 = od.m_lo[:, :-1] + (od.m_hi[:, -1:] - od.m_hi[:, :-1])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s = (z0 - bb * d_exp / d) / d_exp
    s = np.clip(np.where((d > 0) & (d_exp > 0) & np.isfinite(s), s, 0.0), 0.0, w)
    with np.errstate(divide="ignore"):
        val = bb * np.log(np.maximum(z0 - s * d_exp, 0.0)) + b - (m0 - s * d)
    return val.max(axis=1)


@dataclass(frozen=True)
class _Clamp:
    """The minimiser of ``Φ(β, ·)`` over the band, per prompt (all shape (P,)).

    ``level`` is the clamp level ``c``; ``log_level = (c − b)/β`` kept without the
    rounding of ``c`` (it is O(1) even where β is tiny); intervals ``k < n_hi`` sit at
    ``hi`` (below ``c``), ``k ≥ n_lo`` at ``lo`` (above ``c``), the rest at ``c``;
    ``value`` is ``min over the band of β log ∫e^{g/β} − ∫g``.
    """

    level: NDArray[np.float64]
    log_level: NDArray[np.float64]
    n_hi: NDArray[np.intp]
    n_lo: NDArray[np.intp]
    value: NDArray[np.float64]


def _log_cumsum(log_w: NDArray, expo: NDArray, beta: NDArray, bd: _Bands) -> NDArray:
    """``log cumsum(w e^{expo})`` along rows, ``expo ≤ 0``; exact in log space where ``e^{expo}`` could underflow."""
    with np.errstate(divide="ignore"):
        out = np.log(np.cumsum(np.exp(log_w + expo), axis=1))
    deep = (bd.b - bd.a) / beta > 600.0  # e^{−600} ≈ 1e−261 still has full precision
    if deep.any():
        out[deep] = np.logaddexp.accumulate(log_w[deep] + expo[deep], axis=1)
    return out


def _clamp(bd: _Bands, od: _Order, beta: NDArray[np.float64]) -> _Clamp:
    """The clamp ``g_c = min(max(c, g_lo), g_hi)`` minimising ``Φ(β, ·)`` over the band.

    ``c`` solves ``c = β log ∫e^{g_c/β}`` (where the tilt of ``g_c`` crosses 1); the
    right side minus ``c`` is non-increasing in ``c``, so a binary search over the
    sorted candidate levels finds the segment where it changes sign, and there
    ``c = b + β log(A/(1 − m))`` (``A`` the shifted mass clamped at the edges, ``m``
    the mass at ``c``). Sums are kept in log space, so nothing underflows at small β.
    """
    bb = beta[:, None]
    lo, hi, b = bd.lo, bd.hi, bd.b
    rows = np.arange(lo.shape[0])
    ninf = np.full((lo.shape[0], 1), -np.inf)
    lp_hi = np.concatenate([ninf, _log_cumsum(od.log_w, (hi - b) / bb, beta, bd)], axis=1)
    ls_lo = np.concatenate([_log_cumsum(od.log_w[:, ::-1], ((lo - b) / bb)[:, ::-1], beta, bd)[:, ::-1], ninf], axis=1)
    total = od.c_w[:, -1]

    def parts(i_hi: NDArray, i_lo: NDArray) -> tuple[NDArray, NDArray, NDArray]:
        """log of the edge-clamped mass A, the mass m at c and the mass 1 − m outside."""
        outside = od.c_w[rows, i_hi] + (total - od.c_w[rows, i_lo])
        return np.logaddexp(lp_hi[rows, i_hi], ls_lo[rows, i_lo]), np.maximum(total - outside, 0.0), outside

    def f(j: NDArray) -> NDArray:
        level = od.cand[rows, j]
        log_a, mass, _ = parts(od.n_hi_left[rows, j], od.n_lo_left[rows, j])
        with np.errstate(divide="ignore"):
            return beta * np.logaddexp(log_a, np.log(mass) + (level - b) / beta) + b - level

    # the last candidate with f ≥ 0 (f(first) ≥ 0 ≥ f(last) in exact arithmetic)
    last = od.cand.shape[1] - 1
    j_lo, j_hi = np.zeros(rows.size, dtype=np.intp), np.full(rows.size, last)
    top_ok = f(j_hi) >= 0
    for _ in range(max(1, math.ceil(math.log2(last + 1)) + 1)):
        mid = (j_lo + j_hi) // 2
        ok = f(mid) >= 0
        j_lo, j_hi = np.where(ok, mid, j_lo), np.where(ok, j_hi, mid)
    j = np.where(top_ok, last, j_lo)
    left, right = od.cand[rows, j], od.cand[rows, np.minimum(j + 1, last)]
    i_hi, i_lo = od.n_hi_right[rows, j], od.n_lo_right[rows, j]
    log_a, mass, outside = parts(i_hi, i_lo)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_level = log_a - np.log(outside)
    c = b + beta * log_level
    inside = np.isfinite(log_level) & (c >= left) & (c <= right)
    c = np.where(inside, c, np.clip(np.where(np.isfinite(c), c, left), left, right))
    log_level = np.where(inside, log_level, (c - b) / beta)
    with np.errstate(divide="ignore"):
        log_z = np.logaddexp(log_a, np.log(mass) + log_level)
    mean = od.m_hi[rows, i_hi] + (od.m_lo[:, -1] - od.m_lo[rows, i_lo]) + c * mass
    return _Clamp(c, log_level, i_hi, i_lo, beta * log_z + b - mean)


# ----------------------------------------------------------------------------- search


def _golden(fun, lo: NDArray[np.float64], hi: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
    """Minimise ``fun`` (vectorised, unimodal) on ``[lo, hi]`` per entry; the best point and value seen."""
    inv_phi = (math.sqrt(5.0) - 1.0) / 2.0
    x1 = hi - inv_phi * (hi - lo)
    x2 = lo + inv_phi * (hi - lo)
    f1, f2 = fun(x1), fun(x2)
    best_x, best_f = np.where(f1 <= f2, x1, x2), np.minimum(f1, f2)
    for _ in range(_GOLDEN_ITERS):
        left = f1 <= f2  # the minimum is in [lo, x2]
        hi = np.where(left, x2, hi)
        lo = np.where(left, lo, x1)
        new = np.where(left, hi - inv_phi * (hi - lo), lo + inv_phi * (hi - lo))
        f_new = fun(new)
        x1, x2, f1, f2 = (
            np.where(left, new, x2),
            np.where(left, x1, new),
            np.where(left, f_new, f2),
            np.where(left, f1, f_new),
        )
        better = f_new < best_f
        best_x, best_f = np.where(better, new, best_x), np.where(better, f_new, best_f)
    return best_x, best_f


def _certificate(
    bd: _Bands, cl: _Clamp, beta: NDArray[np.float64], eps: float, group: NDArray, n_groups: int
) -> NDArray:
    """Valid lower bounds per prompt: ``inf over the band of ∫(h − 1) g`` for a feasible ``h``.

    ``h`` is the tilt of the clamp at β, ``log h = (g_c − c)/β`` — the maximiser of the
    dual at the optimal β — renormalised, and mixed with the uniform density
    (``h ← (1 − θ)h + θ``, which keeps the sign of ``h − 1`` and, KL being convex,
    brings the group-mean KL to at most ε) if rounding left it above the budget.
    Any such ``h`` gives a valid bound; this one makes it tight.
    """
    k = np.arange(bd.w.shape[1])[None, :]
    bb = beta[:, None]
    with np.errstate(under="ignore"):
        log_h = np.where(
            k < cl.n_hi[:, None],
            (bd.hi - bd.b) / bb - cl.log_level[:, None],
            np.where(k >= cl.n_lo[:, None], (bd.lo - bd.b) / bb - cl.log_level[:, None], 0.0),
        )
        log_h = log_h - logsumexp(log_h, b=bd.w, axis=1, keepdims=True)
        h = np.exp(log_h)
    kl = np.maximum((bd.w * h * log_h).sum(axis=1), 0.0)
    counts = np.bincount(group, minlength=n_groups)
    mean_kl = np.bincount(group, weights=kl, minlength=n_groups) / counts
    keep = np.where(mean_kl > eps, eps / np.maximum(mean_kl, eps), 1.0)[group]  # 1 − θ
    excess = bd.w * keep[:, None] * (h - 1.0)  # (h − 1) times the interval length
    pick = np.where(excess > 0, bd.lo, bd.hi)  # the band's worst g for this h
    return (excess * (pick - cl.level[:, None])).sum(axis=1)  # Σ excess = 0: centred for accuracy


def _bounds(bd: _Bands, od: _Order, eps: float, group: NDArray[np.intp], n_groups: int) -> tuple[NDArray, NDArray]:
    """Lower and upper bounds, one per group (groups share β and average their prompts)."""
    if eps == 0:
        return np.zeros(n_groups), np.zeros(n_groups)
    scale = bd.b - bd.a
    counts = np.bincount(group, minlength=n_groups)

    def group_mean(x: NDArray) -> NDArray:
        return np.bincount(group, weights=x, minlength=n_groups) / counts

    lo = np.full(n_groups, math.log(scale) - _LOG_BETA_BELOW)
    hi = np.full(n_groups, math.log(scale) + 0.5 * math.log(1.0 / eps) + 5.0)

    def upper_obj(u: NDArray) -> NDArray:
        return np.exp(u) * eps + group_mean(_sup_phi(bd, od, np.exp(u)[group]))

    def lower_obj(u: NDArray) -> NDArray:
        return np.exp(u) * eps + group_mean(_clamp(bd, od, np.exp(u)[group]).value)

    _, upper = _golden(upper_obj, lo, hi)
    u_low, _ = _golden(lower_obj, lo, hi)
    beta = np.exp(u_low)[group]
    lower = group_mean(_certificate(bd, _clamp(bd, od, beta), beta, eps, group, n_groups))
    cap = scale * min(1.0, math.sqrt(eps / 2.0))
    return np.clip(lower, 0.0, cap), np.minimum(upper, cap)


# ----------------------------------------------------------------------------- public


def _plug_in(rewards: NDArray, eps: NDArray, prompt_ids: NDArray | None) -> NDArray:
    ceiling = estimator.kl_ceiling(rewards, prompt_ids)
    out = np.empty(eps.size)
    for i, e in enumerate(eps):
        try:
            fit = estimator.gain_at_budget(rewards, np.array([e]), prompt_ids) if e < ceiling else None
            out[i] = np.nan if fit is None else float(np.ravel(fit.gain)[0])
        except ValueError:  # within rounding of the ceiling: the greedy optimum
            out[i] = np.nan
    if np.isnan(out).any():  # beyond the ceiling every prompt is greedy: mean of max − mean
        ids = np.zeros(rewards.size, dtype=np.intp)
        if prompt_ids is not None:
            ids = np.unique(prompt_ids, return_inverse=True)[1].reshape(-1)
        sizes = np.bincount(ids)
        greedy = np.maximum.reduceat(rewards[np.argsort(ids, kind="stable")], np.r_[0, np.cumsum(sizes)[:-1]])
        # max − mean ≥ 0; equal rewards whose mean is an ulp above them must not give a negative gain
        out[np.isnan(out)] = float(np.mean(np.maximum(greedy - np.bincount(ids, weights=rewards) / sizes, 0.0)))
    return out


def certified_gain(
    rewards: ArrayLike,
    kl_budget: ArrayLike,
    reward_range: tuple[float, float],
    level: float = 0.95,
    prompt_ids: ArrayLike | None = None,
    *,
    band: str = "ks+tails",
) -> CertifiedBound:
    r"""Distribution-free confidence bounds on the optimal gain ``Δ*(ε)`` at KL budgets ε.

    With probability at least ``level``, for every law of the reward on
    ``reward_range`` and every ``n``: ``lower ≤ Δ*(ε) ≤ upper`` at all budgets given
    (and, with ``prompt_ids``, for the pooled frontier and every prompt) at once. The
    route — the exact supremum and infimum of ``Δ*`` over a Kolmogorov/DKW band on
    the reward CDF, Bonferroni over prompts — is derived in the module docstring.

    Parameters
    ----------
    rewards : array_like, shape (N,)
        Rewards of samples from the base policy, each within ``reward_range``.
    kl_budget : float or array_like, shape (m,)
        Budgets ε ≥ 0 in nats (finite). With several prompts, on the average KL.
    reward_range : (a, b)
        A range the reward is *known* to lie in (by construction, e.g. a probability
        in [0, 1]) — not one read off the data. Without it no finite-sample upper bound
        exists.
    level : float
        Confidence level in (0, 1).
    prompt_ids : array_like, shape (N,), optional
        The prompt of each sample; the pooled frontier (one common β) is bounded.
    band : {"ks+tails", "ks"}
        The confidence band on each prompt's reward CDF: the Kolmogorov band at
        half the error budget with order-statistic bounds in both tails (default:
        much tighter upper bounds at large budgets, where the Kolmogorov band alone
        lets mass ``t`` sit at ``b``), or the Kolmogorov band alone.

    Returns
    -------
    CertifiedBound
        Scalar fields for a scalar budget, arrays of shape ``(m,)`` otherwise.

    Raises
    ------
    ValueError
        For empty or non-finite rewards, a reward outside the range, a bad range,
        a level outside (0, 1), or a negative, NaN or infinite budget.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> r = rng.beta(2.0, 5.0, size=1000)
    >>> cb = certified_gain(r, 0.5, (0.0, 1.0))
    >>> bool(0 <= cb.lower <= cb.estimate <= cb.upper <= 0.5)
    True
    >>> certified_gain([0.2, 1.5], 0.5, (0.0, 1.0))
    Traceback (most recent call last):
    ...
    ValueError: reward 1.5 at index 1 is outside the stated reward_range [0, 1].
    """
    r = as_finite_array(rewards, "rewards")
    if r.ndim != 1:
        raise ValueError(f"rewards must be 1-D (one reward per sample); got shape {r.shape}.")
    a, b = _check_range(reward_range)
    outside = (r < a) | (r > b)
    if outside.any():
        i = int(np.argmax(outside))
        raise ValueError(f"reward {r[i]:.6g} at index {i} is outside the stated reward_range [{a:g}, {b:g}].")
    if not (isinstance(level, int | float | np.floating) and 0 < level < 1):
        raise ValueError(f"level must be in (0, 1), e.g. 0.95; got {level!r}.")
    _check_band(band)
    budgets = as_kl_budgets(kl_budget)
    eps = np.atleast_1d(budgets)
    ids = None
    if prompt_ids is None:
        samples = [r]
    else:
        labels, ids = prompt_groups(r, prompt_ids)  # ids: each sample's prompt, 0..P-1
        samples = [r[ids == p] for p in range(labels.size)]
    n_prompts = len(samples)
    sizes = np.array([x.size for x in samples], dtype=np.intp)
    alpha = (1.0 - float(level)) / n_prompts
    bd, widths = _bands(samples, alpha, a, b, band)
    od = _order(bd)
    pooled = np.zeros(n_prompts, dtype=np.intp)
    own = np.arange(n_prompts, dtype=np.intp)
    lower, upper = np.empty(eps.size), np.empty(eps.size)
    per_lo, per_hi = np.empty((n_prompts, eps.size)), np.empty((n_prompts, eps.size))
    for i, e in enumerate(eps):
        lo_i, hi_i = _bounds(bd, od, float(e), pooled, 1)
        lower[i], upper[i] = lo_i[0], hi_i[0]
        if n_prompts > 1:
            per_lo[:, i], per_hi[:, i] = _bounds(bd, od, float(e), own, n_prompts)
    estimate = _plug_in(r, eps, ids)
    # the empirical law is in every band: keep the plug-in inside despite rounding
    lower, upper = np.minimum(lower, estimate), np.maximum(upper, estimate)
    method = "exact sup/inf of the optimal gain over a Kolmogorov CDF band" + (
        " with order-statistic tail bounds" if band == "ks+tails" else ""
    )
    method += f", Bonferroni over {n_prompts} prompts" if n_prompts > 1 else ""

    def out(x: NDArray) -> NDArray | float:
        return float(x[0]) if budgets.ndim == 0 else x

    def out_pp(x: NDArray) -> NDArray | None:
        if n_prompts == 1:
            return None
        return x[:, 0] if budgets.ndim == 0 else x

    return CertifiedBound(
        kl_budget=out(eps),
        lower=out(lower),
        upper=out(upper),
        estimate=out(estimate),
        level=float(level),
        n=sizes,
        band_width=widths,
        reward_range=(a, b),
        method=method,
        per_prompt_lower=out_pp(per_lo),
        per_prompt_upper=out_pp(per_hi),
    )


def certified_gain_rows(
    rewards: ArrayLike,
    kl_budget: ArrayLike,
    reward_range: tuple[float, float],
    level: float = 0.95,
    *,
    band: str = "ks+tails",
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Bounds for many independent samples at once: one per row of ``rewards`` (shape (R, n)).

    Each row is its own data set, bounded at ``level`` as :func:`certified_gain` would
    bound it alone (not simultaneously over rows) — the tool for simulation studies
    of coverage, vectorised over rows. Returns ``(lower, upper)``, each of shape
    ``(R, m)`` for ``m`` budgets (``(R,)`` for a scalar budget).

    Examples
    --------
    >>> x = np.random.default_rng(1).uniform(size=(3, 64))
    >>> lower, upper = certified_gain_rows(x, [0.1, 1.0], (0.0, 1.0))
    >>> lower.shape, bool(np.all(lower <= upper))
    ((3, 2), True)
    """
    x = as_finite_array(rewards, "rewards")
    if x.ndim != 2:
        raise ValueError(f"rewards must be 2-D (one data set per row); got shape {x.shape}.")
    a, b = _check_range(reward_range)
    if ((x < a) | (x > b)).any():
        raise ValueError(f"rewards must lie in the stated reward_range [{a:g}, {b:g}].")
    if not (isinstance(level, int | float | np.floating) and 0 < level < 1):
        raise ValueError(f"level must be in (0, 1), e.g. 0.95; got {level!r}.")
    _check_band(band)
    budgets = as_kl_budgets(kl_budget)
    reps, _ = x.shape
    bd, _ = _bands(list(x), 1.0 - float(level), a, b, band)
    od = _order(bd)
    own = np.arange(reps, dtype=np.intp)
    pairs = [_bounds(bd, od, float(e), own, reps) for e in np.atleast_1d(budgets)]
    lower = np.stack([p[0] for p in pairs], axis=1)
    upper = np.stack([p[1] for p in pairs], axis=1)
    return (lower[:, 0], upper[:, 0]) if budgets.ndim == 0 else (lower, upper)
