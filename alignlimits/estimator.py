r"""Estimate the KL–reward frontier from rewards of base-model samples.

For one prompt with samples ``y_1..y_n ~ π0`` and rewards ``r_i``, the Gibbs tilt
``π_β ∝ π0 e^{r/β}`` is estimated by self-normalised importance sampling: the
empirical base distribution (mass ``1/n`` on each sample) is tilted exactly, giving
weights

.. math::  \tilde w_i = \mathrm{softmax}(r/β)_i = e^{r_i/β} / \textstyle\sum_j e^{r_j/β}.

The plug-in frontier point is the exact frontier of that empirical problem:

* ``gain      = Σ w̃_i r_i − r̄``  ``= Ĉov(r, e^{r/β}) / Ê[e^{r/β}]`` (covariance form)
* ``KL        = Σ w̃_i log(n w̃_i) = log n − H(w̃)``  — so never above ``log n``
* ``reverse KL = −(1/n) Σ log(n w̃_i)``
* ``Jeffreys  = KL + reverse KL = gain/β`` (the Jeffreys identity holds exactly).

With several prompts (a ``prompt_ids`` array) each prompt is tilted on its own and
the frontier point is the average over prompts at the same β, which is the
frontier of the prompt-averaged objective ``E_x[E_π[r] − β KL(π(·|x)‖π0(·|x))]``.

Reliability. Self-normalised importance sampling is consistent, with an ``O(1/n)``
bias that makes the gain and KL too small (derived in
:mod:`alignlimits.symbolic.estimator`; for Gaussian rewards the relative gain bias is
``≈ −e^{2 KL}/n``); ``bias_correction=True`` subtracts its sample estimate, which
removes most of it (worth it when many prompts are averaged). Two diagnostics per prompt and β flag where it fails:

* the effective sample size ``ESS = 1/Σ w̃_i²`` (Kish); since Rényi-2 entropy is below
  Shannon entropy, ``KL ≤ log(n/ESS)``;
* the Pareto-smoothed importance sampling shape ``k̂`` (Vehtari et al. 2024): a
  generalized Pareto law is fitted to the ``M = ceil(min(n/5, 3√n))`` largest weights by
  the Zhang–Stephens (2009) posterior-mean estimator with the weakly informative prior
  of PSIS. Its threshold is ``min(1 − 1/log10 n, 0.7)``; above it the weight
  distribution is too heavy-tailed for the estimate to be trusted at that ``n``.
  ``k̂`` is NaN (documented, not an error) where the fit is undefined or meaningless:
  fewer than :data:`MIN_TAIL` = 20 tail weights (``n < 96`` samples per prompt — with
  fewer, the PSIS prior outweighs the data and pulls k̂ towards 0.5), or the tail tied
  with its threshold (discrete rewards, or weights below floating-point resolution at
  tiny β); then ESS alone decides.

A prompt is reliable at β when ``ESS ≥ min_ess`` and ``k̂`` is below its threshold
(or undefined, or its weights all lie within a factor ``e`` of each other —
``(max r − min r)/β ≤ 1`` — when no tail shape can make a few samples dominate);
the β is ``reliable`` when at least ``min_reliable_fraction`` (default 0.9) of the
prompts are — with one prompt, when that prompt is.

Nothing forms ``e^{r/β}``: exponents are shifted by each prompt's top reward, so every
exponential lies in ``[0, 1]`` and ``r/β`` of ``1e300`` is harmless. KL values are
accurate to about ``1e-15·log n`` in absolute terms (not relative: at β → ∞ the
estimate is rounding-level, far below any Monte-Carlo error). Work is vectorised
over samples, prompts and β, in chunks of β so memory stays bounded.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from alignlimits._roots import BudgetAtCeiling, beta_for_budget
from alignlimits._validation import (
    as_betas,
    as_finite_array,
    as_kl_budgets,
    prompt_groups,
    squeeze_fields,
    squeeze_point,
)

__all__ = [
    "BootstrapInterval",
    "BudgetEstimate",
    "EstimatedFrontier",
    "bootstrap_frontier",
    "bootstrap_gain_at_budget",
    "estimate_frontier",
    "gain_at_budget",
    "khat_threshold",
    "kl_ceiling",
    "pareto_khat",
]

#: Default smallest effective sample size per prompt for a point to be called reliable.
DEFAULT_MIN_ESS = 10.0
#: Values held in memory at once by one chunk of the (β × samples) exponent array.
_CHUNK_VALUES = 1 << 21
#: Smallest tail for a generalized-Pareto fit. With fewer tail weights the PSIS prior
#: (worth 10 pseudo-observations at k = 0.5) dominates the fit and k̂ says nothing.
MIN_TAIL = 20
#: Default fraction of prompts that must pass for a β to be called reliable.
DEFAULT_MIN_RELIABLE_FRACTION = 0.9


#: The fields of :class:`EstimatedFrontier` that hold one value per β.
ESTIMATE_FIELDS = (
    "beta",
    "kl",
    "reverse_kl",
    "gain",
    "jeffreys",
    "ess_min",
    "ess_mean",
    "khat",
    "reliable_fraction",
    "reliable",
)
#: The fields of :class:`BootstrapInterval` that hold one value per β.
BOOTSTRAP_FIELDS = (
    "beta",
    "kl_low",
    "kl_high",
    "gain_low",
    "gain_high",
    "reverse_kl_low",
    "reverse_kl_high",
)


# --------------------------------------------------------------------------- grouping


@dataclass(frozen=True)
class _Groups:
    """Rewards sorted by prompt: ``r`` (N,), segment ``starts`` (P,), ``sizes`` (P,)."""

    r: NDArray[np.float64]
    group: NDArray[np.intp]  # prompt index of each sorted sample, (N,)
    starts: NDArray[np.intp]
    sizes: NDArray[np.intp]
    labels: NDArray
    r_max: NDArray[np.float64]  # per prompt
    r_min: NDArray[np.float64]
    r_mean: NDArray[np.float64]
    n_top: NDArray[np.intp]  # how many samples tie at the prompt's top reward

    @property
    def equal_sizes(self) -> bool:
        return bool((self.sizes == self.sizes[0]).all())


def _group(rewards: ArrayLike, prompt_ids: ArrayLike | None) -> _Groups:
    r = as_finite_array(rewards, "rewards")
    if r.ndim != 1:
        raise ValueError(f"rewards must be 1-D (one reward per sample); got shape {r.shape}.")
    labels, inverse = prompt_groups(r, prompt_ids)
    order = np.argsort(inverse, kind="stable")
    r_sorted = r[order]
    group = inverse[order].astype(np.intp)
    sizes = np.bincount(group, minlength=labels.size).astype(np.intp)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
    r_max = np.maximum.reduceat(r_sorted, starts)
    r_min = np.minimum.reduceat(r_sorted, starts)
    r_mean = np.add.reduceat(r_sorted, starts) / sizes
    n_top = np.add.reduceat((r_sorted == r_max[group]).astype(np.intp), starts)
    return _Groups(r_sorted, group, starts, sizes, labels, r_max, r_min, r_mean, n_top)


def _betas(beta: ArrayLike) -> NDArray[np.float64]:
    return np.atleast_1d(as_betas(beta)).astype(np.float64)


# --------------------------------------------------------------------------- core pass


def _segment_sum(x: NDArray[np.float64], g: _Groups, weights: NDArray[np.float64] | None = None) -> NDArray:
    """Per-prompt sums of ``x`` (shape (c, N)) → (P, c); ``weights`` (N,) multiplies first.

    Equal-sized prompts (the common case) use a reshaped view and ``einsum`` (no
    temporaries); ragged ones ``np.add.reduceat``.
    """
    c = x.shape[0]
    if g.equal_sizes:
        view = x.reshape(c, g.sizes.size, -1)
        if weights is None:
            return view.sum(axis=-1).T
        return np.einsum("cpn,pn->pc", view, weights.reshape(g.sizes.size, -1))
    if weights is not None:
        x = x * weights[None, :]
    return np.add.reduceat(x, g.starts, axis=1).T


def _per_prompt(g: _Groups, betas: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
    """Plug-in KL, reverse KL, gain and ESS per prompt and β, shape (P, m) each.

    With ``f_i = r_i − r_max ≤ 0``, ``s_i = f_i/β``, ``E_i = e^{s_i} ∈ [0, 1]``,
    ``S = Σ E_i ≥ 1``: ``log w̃_i = s_i − log S``, ``KL = log n + (Σ E f)/(β S) − log S``,
    ``reverse KL = log S − log n − mean(f)/β``, ``gain = Σ E (r − r̄)/S``, ``ESS = S²/Σ E²``.
    The exponentials are written into one preallocated buffer per chunk of β.
    """
    n_total, n_prompts, m = g.r.size, g.sizes.size, betas.size
    centred = g.r - g.r_mean[g.group]  # keeps the gain exact when π_β ≈ π0
    from_top = g.r - g.r_max[g.group]  # ≤ 0
    mean_from_top = _segment_sum(from_top[None, :], g)[:, 0] / g.sizes
    log_n = np.log(g.sizes)
    out = {k: np.empty((n_prompts, m)) for k in ("kl", "reverse_kl", "gain", "ess", "gain_bias")}
    step = min(m, max(1, _CHUNK_VALUES // n_total))
    buf = np.empty((step, n_total))
    for lo in range(0, m, step):
        sl = slice(lo, min(lo + step, m))
        inv_beta = 1.0 / betas[sl]  # β = inf → 0: the base policy
        e = buf[: inv_beta.size]
        with np.errstate(over="ignore"):  # (r − r_max)/β below −1.8e308 is −inf: weight 0, as it should be
            np.multiply(from_top[None, :], inv_beta[:, None], out=e)
        np.exp(e, out=e)
        sum_e = _segment_sum(e, g)  # (P, c)
        sum_ef = _segment_sum(e, g, from_top)
        sum_ec = _segment_sum(e, g, centred)
        np.multiply(e, e, out=e)
        sum_e2 = _segment_sum(e, g)
        sum_e2c = _segment_sum(e, g, centred)
        log_s = np.log(sum_e)
        out["kl"][:, sl] = np.maximum(log_n[:, None] + inv_beta[None, :] * sum_ef / sum_e - log_s, 0.0)
        with np.errstate(over="ignore"):  # a reverse KL beyond 1.8e308 nats is reported as inf
            out["reverse_kl"][:, sl] = np.maximum(log_s - log_n[:, None] - mean_from_top[:, None] * inv_beta, 0.0)
        # β = inf is the base policy: its gain is exactly 0, not the rounding of mean(r − r̄). Otherwise the
        # weights rise with r, so Σ w̃ r ≥ r̄ (Chebyshev's sum inequality): a negative gain is rounding only
        # (e.g. equal rewards whose mean is one ulp off), and it is clipped at 0 like the divergences above.
        out["gain"][:, sl] = np.where(np.isinf(betas[sl])[None, :], 0.0, np.maximum(sum_ec / sum_e, 0.0))
        out["ess"][:, sl] = sum_e**2 / sum_e2
        # first-order bias of the gain, −Σ w̃² (r − Σ w̃ r) (see _bias_corrected)
        out["gain_bias"][:, sl] = -(sum_e2c - sum_e2 * sum_ec / sum_e) / sum_e**2
    return out


# --------------------------------------------------------------------------- PSIS k̂


def khat_threshold(n: ArrayLike) -> NDArray[np.float64]:
    """PSIS reliability threshold for ``n`` draws: ``min(1 − 1/log10 n, 0.7)`` (Vehtari et al. 2024).

    Examples
    --------
    >>> from alignlimits.estimator import khat_threshold
    >>> khat_threshold([100, 10_000])  # 1 − 1/log10(100) = 0.5; capped at 0.7
    array([0.5, 0.7])
    """
    n_arr = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.minimum(1.0 - 1.0 / np.log10(np.maximum(n_arr, 1.0 + 1e-12)), 0.7)


def _tail_length(n: int) -> int:
    return math.ceil(min(0.2 * n, 3.0 * math.sqrt(n)))


def _zhang_stephens(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Generalized-Pareto shape ``k̂`` for each row of ``x`` (rows sorted ascending, ``x[:, -1] > 0``).

    The Zhang & Stephens (2009) posterior mean over a grid of ``θ = −k/σ`` with the
    PSIS prior ``k ← (M k + 10·0.5)/(M + 10)``; rows with ``x[:, M//4] = 0`` return NaN.
    """
    rows, m_tail = x.shape
    out = np.full(rows, np.nan)
    grid = 30 + int(math.sqrt(m_tail))
    quart = x[:, int(m_tail / 4 + 0.5) - 1]
    ok = (quart > 0) & (x[:, -1] > 0)
    if not ok.any():
        return out
    xs, q, top = x[ok], quart[ok], x[ok, -1]
    j = np.arange(1, grid + 1, dtype=np.float64)
    b = (1.0 - np.sqrt(grid / (j - 0.5)))[None, :] / (3.0 * q[:, None]) + 1.0 / top[:, None]  # (R, G)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.log1p(-b[:, :, None] * xs[:, None, :]).mean(axis=-1)  # (R, G)
        log_lik = m_tail * (np.log(-b / k) - k - 1.0)
    log_lik = np.where(np.isfinite(log_lik), log_lik, -np.inf)
    log_lik -= log_lik.max(axis=1, keepdims=True)
    wts = np.exp(log_lik)
    wts /= wts.sum(axis=1, keepdims=True)
    b_post = (b * wts).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        k_post = np.log1p(-b_post[:, None] * xs).mean(axis=1)
    out[ok] = (m_tail * k_post + 10 * 0.5) / (m_tail + 10)
    return out


def _khat(g: _Groups, betas: NDArray[np.float64]) -> NDArray[np.float64]:
    """PSIS ``k̂`` per prompt and β, shape (P, m); NaN where the tail fit is undefined.

    The weights ``e^{r/β}`` are increasing in ``r`` for every β > 0, so the largest
    ``M`` weights are the same samples at every β; exceedances over the ``(M+1)``-th
    largest are rescaled by the top weight (``k̂`` is scale-free) so they lie in [0, 1].
    """
    out = np.full((g.sizes.size, betas.size), np.nan)
    for n in np.unique(g.sizes):
        m_tail = _tail_length(int(n))
        if m_tail < MIN_TAIL or n <= m_tail:
            continue
        idx = np.flatnonzero(g.sizes == n)
        block = g.r[g.starts[idx][:, None] + np.arange(n)[None, :]]  # (p, n)
        top = np.sort(block, axis=1)[:, -(m_tail + 1) :]  # ascending; column 0 is the threshold
        rel = top - top[:, -1:]  # ≤ 0
        above = top - top[:, :1]  # ≥ 0, distances above the threshold
        per_row = max(1, _CHUNK_VALUES // (m_tail * (30 + int(math.sqrt(m_tail)))))
        inv_beta = 1.0 / betas
        # rows = (prompt, β) pairs, fitted in chunks
        n_rows = idx.size * betas.size
        flat = np.empty(n_rows)
        pi = np.repeat(np.arange(idx.size), betas.size)
        bi = np.tile(np.arange(betas.size), idx.size)
        for lo in range(0, n_rows, per_row):
            sl = slice(lo, lo + per_row)
            ib = inv_beta[bi[sl], None]
            with np.errstate(over="ignore"):
                w = np.exp(rel[pi[sl]] * ib)  # (R, M+1) in [0, 1]
                d = above[pi[sl], 1:] * ib
            # near-flat weights (large β): e^{d} − 1 by expm1 keeps the exceedances' shape
            # instead of rounding them to 0; otherwise the overflow-free difference of weights
            flat_rows = d[:, -1] <= 1.0
            x = np.where(flat_rows[:, None], np.expm1(np.minimum(d, 1.0)), w[:, 1:] - w[:, :1])
            flat[sl] = _zhang_stephens(x)
        out[idx] = flat.reshape(idx.size, betas.size)
    return out


def pareto_khat(rewards: ArrayLike, beta: ArrayLike, prompt_ids: ArrayLike | None = None) -> NDArray[np.float64]:
    """PSIS ``k̂`` of the weights ``e^{r/β}`` per prompt and β, shape ``(P, m)`` (NaN where undefined).

    For a scalar β the β axis is dropped: shape ``(P,)``.

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.estimator import pareto_khat
    >>> r = np.random.default_rng(0).normal(size=2000)
    >>> pareto_khat(r, [0.3, 3.0]).round(2)  # small β: heavy weights (k̂ > 0.7); large β: light
    array([[ 1.  , -0.06]])
    >>> pareto_khat(r[:50], 1.0)  # too few samples for a tail fit
    array([nan])
    """
    return squeeze_point(_khat(_group(rewards, prompt_ids), _betas(beta)), np.ndim(beta) == 0)


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class EstimatedFrontier:
    """Plug-in frontier estimated from base samples, one entry per β.

    The per-β fields (``beta`` to ``reliable_fraction``) have shape ``(m,)`` for a grid
    of ``m`` values of β and are scalars for a scalar β; ``per_prompt`` arrays have
    shape ``(P, m)``, or ``(P,)`` for a scalar β.

    Attributes
    ----------
    beta, kl, reverse_kl, gain, jeffreys :
        The frontier point averaged over prompts (``jeffreys = gain/β``).
    ess_min, ess_mean :
        Smallest and mean effective sample size ``1/Σ w̃²`` over prompts.
    khat :
        Largest PSIS ``k̂`` over prompts (NaN if undefined for every prompt).
    reliable :
        True where at least ``min_reliable_fraction`` of the prompts have
        ``ESS ≥ min_ess`` and ``k̂`` below :func:`khat_threshold` (or undefined).
    reliable_fraction :
        Fraction of prompts that pass.
    base_mean :
        Mean over prompts of the sample mean reward.
    kl_ceiling :
        The largest KL any β can reach on these samples, the mean over prompts of
        ``log(n_p / t_p)`` (``t_p`` samples tie at the top); ``≤ mean log n_p``.
    prompt_ids, n_samples :
        The prompt labels (sorted) and samples per prompt, shape ``(P,)``.
    per_prompt :
        ``{"kl", "reverse_kl", "gain", "ess", "khat", "gain_bias"}`` each of shape
        ``(P, m)``; ``gain_bias`` is the estimated first-order bias of the gain.

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.estimator import estimate_frontier
    >>> fit = estimate_frontier(np.random.default_rng(0).normal(size=2000), 1.0)
    >>> round(float(fit.gain), 3), round(float(fit.kl), 3)  # exact: 1 and 0.5 (biased low)
    (0.961, 0.473)
    >>> bool(fit.reliable), round(float(fit.ess_min))
    (True, 822)
    >>> sorted(fit.rows()[0])[:3]
    ['beta', 'ess_mean', 'ess_min']
    """

    beta: NDArray[np.float64]
    kl: NDArray[np.float64]
    reverse_kl: NDArray[np.float64]
    gain: NDArray[np.float64]
    jeffreys: NDArray[np.float64]
    ess_min: NDArray[np.float64]
    ess_mean: NDArray[np.float64]
    khat: NDArray[np.float64]
    reliable: NDArray[np.bool_]
    reliable_fraction: NDArray[np.float64]
    base_mean: float
    kl_ceiling: float
    prompt_ids: NDArray
    n_samples: NDArray[np.intp]
    per_prompt: dict[str, NDArray[np.float64]] = field(repr=False)

    def rows(self) -> list[dict[str, float | bool]]:
        """One plain dict per β (beta, kl, reverse_kl, gain, jeffreys, ess_min, ess_mean, khat,
        reliable_fraction, reliable); a list of one for a scalar β."""
        cols = {c: np.atleast_1d(getattr(self, c)) for c in ESTIMATE_FIELDS}
        return [
            {c: bool(v[i]) if c == "reliable" else float(v[i]) for c, v in cols.items()}
            for i in range(cols["beta"].size)
        ]


def _bias_corrected(per: dict[str, NDArray[np.float64]], g: _Groups, betas: NDArray[np.float64]) -> None:
    """Subtract the plug-in first-order bias (:func:`alignlimits.symbolic.estimator.first_order_bias`).

    With ``w̃`` the weights and ``χ̂² = n Σ w̃² − 1 = n/ESS − 1`` the ratio-estimator
    bias ``a Var B/b³ − Cov(A,B)/b²`` becomes ``−Σ w̃²(r − Σ w̃ r)`` for the gain;
    ``KL = λ·(Σ w̃ r) − log B̄`` adds ``χ̂²/(2n)``; the reverse KL has ``−χ̂²/(2n)``.
    """
    half_chi2_over_n = 0.5 * (1.0 / per["ess"] - 1.0 / g.sizes[:, None])
    inv_beta = 1.0 / betas[None, :]
    per["gain"] = per["gain"] - per["gain_bias"]
    per["kl"] = per["kl"] - per["gain_bias"] * inv_beta - half_chi2_over_n
    per["reverse_kl"] = per["reverse_kl"] + half_chi2_over_n


def estimate_frontier(
    rewards: ArrayLike,
    beta: ArrayLike,
    prompt_ids: ArrayLike | None = None,
    *,
    min_ess: float = DEFAULT_MIN_ESS,
    min_reliable_fraction: float = DEFAULT_MIN_RELIABLE_FRACTION,
    diagnostics: bool = True,
    bias_correction: bool = False,
) -> EstimatedFrontier:
    r"""Plug-in frontier ``(KL, reverse KL, gain, Jeffreys)`` at each β from base-sample rewards.

    Parameters
    ----------
    rewards : array_like, shape (N,)
        Finite rewards of samples drawn from the base policy.
    beta : float or array_like, shape (m,)
        KL penalty factors ``> 0``; ``inf`` gives the base policy (all zeros).
    prompt_ids : array_like, shape (N,), optional
        The prompt of each sample (any sortable labels). Groups may differ in size.
        Omitted: all samples belong to one prompt.
    min_ess : float
        Smallest ESS per prompt for the prompt to count as reliable at that β.
    min_reliable_fraction : float
        Fraction of prompts (in (0, 1]) that must be reliable for the β to be.
    diagnostics : bool
        Compute PSIS ``k̂`` (the slowest part); when False ``khat`` is NaN and
        reliability uses ESS only.
    bias_correction : bool
        Subtract the estimated first-order (delta-method) bias per prompt:
        ``gain += Σ w̃²(r − Σ w̃ r)``, ``KL += that/β − (Σ w̃² − 1/n)/2``,
        ``reverse KL += (Σ w̃² − 1/n)/2`` (so ``Jeffreys = gain/β`` still holds). It
        removes most of the ``O(1/n)`` bias where ``ESS`` is large, at some cost in
        variance for one prompt; it pays when many prompts are averaged, since
        averaging shrinks the variance but not the bias. The corrected KL may exceed
        ``log n`` slightly; the ceiling and budgets use the uncorrected estimator.

    Returns
    -------
    EstimatedFrontier
        See the class; every per-β field has shape ``(m,)``, or is a scalar for a scalar β.

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.estimator import estimate_frontier
    >>> r = np.array([0.0, 1.0, 2.0, 3.0])
    >>> fit = estimate_frontier(r, 1.0)  # weights softmax(r): gain Σ w r − mean r
    >>> round(float(fit.gain), 6), round(float(fit.kl), 6)
    (0.992653, 0.438757)
    >>> bool(fit.reliable)  # an ESS of 2.5 is below min_ess = 10
    False
    >>> fit = estimate_frontier(np.random.default_rng(0).normal(size=2000), [0.5, 1.0, 2.0])
    >>> fit.gain.round(3)  # exact for N(0, 1): 1/β
    array([1.755, 0.961, 0.492])
    """
    g = _group(rewards, prompt_ids)
    betas = _betas(beta)
    if not (np.isfinite(min_ess) and min_ess >= 1):
        raise ValueError(f"min_ess must be a finite number >= 1; got {min_ess!r}.")
    if not 0 < min_reliable_fraction <= 1:
        raise ValueError(f"min_reliable_fraction must be in (0, 1]; got {min_reliable_fraction!r}.")
    per = _per_prompt(g, betas)
    if bias_correction:
        _bias_corrected(per, g, betas)
    per["khat"] = _khat(g, betas) if diagnostics else np.full((g.sizes.size, betas.size), np.nan)
    thresh = khat_threshold(g.sizes)[:, None]
    # Weights within a factor e of each other cannot concentrate on a few samples,
    # whatever shape the fitted tail has: k̂ is reported but not held against them.
    with np.errstate(over="ignore"):
        flat = (g.r_max - g.r_min)[:, None] / betas[None, :] <= 1.0
    ok = (per["ess"] >= min_ess) & (~(per["khat"] > thresh) | flat)
    # β = inf is the base policy itself: exact, whatever the diagnostics say
    ok |= np.isinf(betas)[None, :]
    kl, rkl, gain = (per[k].mean(axis=0) for k in ("kl", "reverse_kl", "gain"))
    khat_all_nan = np.isnan(per["khat"]).all(axis=0)
    khat = np.where(khat_all_nan, np.nan, np.nanmax(np.where(np.isnan(per["khat"]), -np.inf, per["khat"]), axis=0))
    fit = EstimatedFrontier(
        beta=betas,
        kl=kl,
        reverse_kl=rkl,
        gain=gain,
        jeffreys=kl + rkl,
        ess_min=per["ess"].min(axis=0),
        ess_mean=per["ess"].mean(axis=0),
        khat=khat,
        reliable=ok.mean(axis=0) >= min_reliable_fraction - 1e-12,
        reliable_fraction=ok.mean(axis=0),
        base_mean=float(g.r_mean.mean()),
        kl_ceiling=float(np.mean(np.log(g.sizes / g.n_top))),
        prompt_ids=g.labels,
        n_samples=g.sizes,
        per_prompt=per,
    )
    if np.ndim(beta) != 0:
        return fit
    per_point = {k: squeeze_point(v, True) for k, v in per.items()}
    return dataclasses.replace(squeeze_fields(fit, True, ESTIMATE_FIELDS), per_prompt=per_point)


def kl_ceiling(rewards: ArrayLike, prompt_ids: ArrayLike | None = None) -> float:
    """The largest plug-in KL any β reaches: mean over prompts of ``log(n_p/t_p) ≤ log n_p``.

    ``t_p`` is the number of samples tied at prompt ``p``'s top reward; the plug-in KL
    approaches the ceiling as β → 0 and never reaches it.

    Examples
    --------
    >>> from alignlimits.estimator import kl_ceiling
    >>> round(kl_ceiling([0.0, 1.0, 2.0, 3.0]), 6), round(kl_ceiling([0.0, 1.0, 3.0, 3.0]), 6)  # log 4, log(4/2)
    (1.386294, 0.693147)
    """
    g = _group(rewards, prompt_ids)
    return float(np.mean(np.log(g.sizes / g.n_top)))


# --------------------------------------------------------------------------- budgets


def _pooled_sd(g: _Groups) -> float:
    dev = g.r - g.r_mean[g.group]
    return float(np.sqrt(np.mean(dev**2)))


def _mean_kl(g: _Groups, beta: float) -> float:
    return float(_per_prompt(g, np.array([beta]))["kl"].mean())


def _solve_beta(g: _Groups, eps: float, ceiling: float) -> float:
    if eps == 0:
        return math.inf
    if eps >= ceiling:
        raise ValueError(
            f"KL budget {eps:.6g} nats cannot be estimated from these samples: the plug-in KL "
            f"never exceeds {ceiling:.6g} nats (the mean over prompts of log(n/ties at the top), "
            f"at most log n). The largest supportable budget is below {ceiling:.6g}; draw more "
            "samples per prompt (about e^budget times more) or ask for a smaller budget."
        )
    try:
        return beta_for_budget(lambda beta: _mean_kl(g, beta), eps, _pooled_sd(g))
    except BudgetAtCeiling:
        raise ValueError(
            f"KL budget {eps:.17g} is within rounding of the ceiling {ceiling:.17g}: no β > 0 "
            "is distinguishable from the greedy choice; ask for a smaller budget."
        ) from None


@dataclass(frozen=True)
class BudgetEstimate:
    """Gain at KL budgets: ``kl_budget``, the solving ``beta`` and ``gain``.

    Shape ``(K,)`` each for ``K`` budgets; scalars for a scalar budget.

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.estimator import gain_at_budget
    >>> est = gain_at_budget(np.random.default_rng(0).normal(size=2000), 0.5)
    >>> round(float(est.beta), 3), round(float(est.gain), 3)  # exact for N(0, 1): β = 1, gain 1
    (0.971, 0.988)
    """

    kl_budget: NDArray[np.float64]
    beta: NDArray[np.float64]
    gain: NDArray[np.float64]
    kl_ceiling: float


def gain_at_budget(rewards: ArrayLike, kl_budget: ArrayLike, prompt_ids: ArrayLike | None = None) -> BudgetEstimate:
    r"""Estimated optimal gain ``Δ*(ε)`` at KL budgets ``ε``: solve ``KL̂(β) = ε``, report ``gain(β)``.

    ``KL̂(β)`` (the prompt-averaged plug-in KL) decreases strictly from
    :func:`kl_ceiling` (β → 0) to 0 (β → ∞) unless every prompt's rewards are
    constant; the root is found by Brent's method in ``log β`` to ~1e-13.

    Raises
    ------
    ValueError
        For a budget at or above :func:`kl_ceiling` — the samples cannot certify it —
        with the largest supportable value in the message.

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.estimator import gain_at_budget
    >>> r = np.random.default_rng(0).normal(size=2000)
    >>> est = gain_at_budget(r, [0.125, 0.5])  # exact for N(0, 1): sqrt(2ε) = 0.5 and 1
    >>> est.gain.round(2)
    array([0.5 , 0.99])
    >>> gain_at_budget(r, 10.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: KL budget 10 nats cannot be estimated from these samples: the plug-in KL never exceeds 7.6009 nats ...
    """
    g = _group(rewards, prompt_ids)
    requested = as_kl_budgets(kl_budget)
    budgets = np.atleast_1d(requested)
    ceiling = float(np.mean(np.log(g.sizes / g.n_top)))
    betas = np.array([_solve_beta(g, float(eps), ceiling) for eps in budgets])
    gains = _per_prompt(g, betas)["gain"].mean(axis=0)
    est = BudgetEstimate(kl_budget=budgets, beta=betas, gain=gains, kl_ceiling=ceiling)
    return squeeze_fields(est, requested.ndim == 0, ("kl_budget", "beta", "gain"))


# --------------------------------------------------------------------------- bootstrap


@dataclass(frozen=True)
class BootstrapInterval:
    """Percentile bootstrap intervals at level ``level`` (arrays of shape ``(m,)``; scalars for a scalar β).

    ``method`` is ``"prompt"`` (prompts resampled with replacement; each prompt's own
    estimate is the unit) or ``"sample"`` (one prompt: its samples resampled).

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.estimator import bootstrap_frontier
    >>> r, ids = np.random.default_rng(0).normal(size=2000), np.repeat(np.arange(20), 100)
    >>> ci = bootstrap_frontier(r, 1.0, ids, n_boot=200, rng=np.random.default_rng(1))
    >>> ci.method, ci.level, bool(ci.gain_low < ci.gain_high)
    ('prompt', 0.95, True)
    """

    beta: NDArray[np.float64]
    level: float
    n_boot: int
    method: str
    kl_low: NDArray[np.float64]
    kl_high: NDArray[np.float64]
    gain_low: NDArray[np.float64]
    gain_high: NDArray[np.float64]
    reverse_kl_low: NDArray[np.float64]
    reverse_kl_high: NDArray[np.float64]


def _check_boot(n_boot: int, level: float, rng: np.random.Generator) -> None:
    if not isinstance(n_boot, int | np.integer) or n_boot < 2:
        raise ValueError(f"n_boot must be an integer >= 2 bootstrap replicates; got {n_boot!r}.")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95; got {level!r}.")
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy Generator, e.g. np.random.default_rng(0) (seeded, explicit).")


def _replicate_curves(
    g: _Groups, betas: NDArray[np.float64], n_boot: int, rng: np.random.Generator
) -> tuple[str, dict[str, NDArray[np.float64]]]:
    """Prompt-averaged KL, reverse KL and gain per bootstrap replicate, shape (B, m)."""
    n_prompts = g.sizes.size
    if n_prompts >= 2:
        per = _per_prompt(g, betas)
        counts = rng.multinomial(n_prompts, np.full(n_prompts, 1.0 / n_prompts), size=n_boot).astype(float)
        return "prompt", {k: counts @ per[k] / n_prompts for k in ("kl", "reverse_kl", "gain")}
    n = int(g.sizes[0])
    if n < 2:
        raise ValueError("bootstrap needs at least 2 samples (or 2 prompts).")
    idx = rng.integers(0, n, size=(n_boot, n))
    reps = _group(g.r[idx].ravel(), np.repeat(np.arange(n_boot), n))  # each replicate is a "prompt"
    per = _per_prompt(reps, betas)
    return "sample", {k: per[k] for k in ("kl", "reverse_kl", "gain")}


def bootstrap_frontier(
    rewards: ArrayLike,
    beta: ArrayLike,
    prompt_ids: ArrayLike | None = None,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    rng: np.random.Generator,
) -> BootstrapInterval:
    """Percentile bootstrap intervals for the estimated frontier at each β.

    With two or more prompts, prompts are resampled with replacement (the unit of
    independence: samples of one prompt share it); with one prompt its samples are
    resampled. Vectorised: one pass for all replicates. The interval is for the
    plug-in estimand and inherits its ``O(1/n)`` downward bias.

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.estimator import bootstrap_frontier, estimate_frontier
    >>> rng = np.random.default_rng(0)
    >>> r, ids = rng.normal(size=2000), np.repeat(np.arange(20), 100)
    >>> ci = bootstrap_frontier(r, 1.0, ids, n_boot=200, rng=np.random.default_rng(1))
    >>> gain = float(estimate_frontier(r, 1.0, ids).gain)
    >>> bool(ci.gain_low < gain < ci.gain_high), round(float(ci.gain_high - ci.gain_low), 2)
    (True, 0.2)
    """
    g = _group(rewards, prompt_ids)
    betas = _betas(beta)
    _check_boot(n_boot, level, rng)
    method, curves = _replicate_curves(g, betas, int(n_boot), rng)
    a = (1 - level) / 2
    q = {k: np.quantile(v, [a, 1 - a], axis=0) for k, v in curves.items()}
    interval = BootstrapInterval(
        beta=betas,
        level=float(level),
        n_boot=int(n_boot),
        method=method,
        kl_low=q["kl"][0],
        kl_high=q["kl"][1],
        gain_low=q["gain"][0],
        gain_high=q["gain"][1],
        reverse_kl_low=q["reverse_kl"][0],
        reverse_kl_high=q["reverse_kl"][1],
    )
    return squeeze_fields(interval, np.ndim(beta) == 0, BOOTSTRAP_FIELDS)


def bootstrap_gain_at_budget(
    rewards: ArrayLike,
    kl_budget: ArrayLike,
    prompt_ids: ArrayLike | None = None,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    rng: np.random.Generator,
    grid_size: int = 256,
) -> tuple[NDArray[np.float64] | float, NDArray[np.float64] | float]:
    """Percentile bootstrap interval ``(low, high)`` (each shape ``(K,)``, or floats for a scalar budget)
    for :func:`gain_at_budget`.

    Each replicate's gain at ``ε`` is interpolated along its own curve on a log grid of
    ``grid_size`` β values reaching from near its ceiling to ``KL ≈ 0``. A replicate
    whose ceiling is below ``ε`` gets its greedy gain — the exact constrained optimum
    of its empirical problem. Budgets the full sample cannot support raise as in
    :func:`gain_at_budget`.

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.estimator import bootstrap_gain_at_budget, gain_at_budget
    >>> rng = np.random.default_rng(0)
    >>> r, ids = rng.normal(size=2000), np.repeat(np.arange(20), 100)
    >>> low, high = bootstrap_gain_at_budget(r, 0.5, ids, n_boot=200, rng=np.random.default_rng(1))
    >>> bool(low < float(gain_at_budget(r, 0.5, ids).gain) < high), round(high - low, 2)
    (True, 0.09)
    """
    g = _group(rewards, prompt_ids)
    requested = as_kl_budgets(kl_budget)
    budgets = np.atleast_1d(requested)
    _check_boot(n_boot, level, rng)
    ceiling = float(np.mean(np.log(g.sizes / g.n_top)))
    for eps in budgets:
        if eps >= ceiling:
            _solve_beta(g, float(eps), ceiling)  # raises with the standard message
    sd = max(_pooled_sd(g), np.finfo(float).tiny)
    betas = np.concatenate([sd * np.logspace(-4, 4, grid_size), [np.inf]])
    _, curves = _replicate_curves(g, betas, int(n_boot), rng)
    kl, gain = curves["kl"], curves["gain"]  # (B, m): KL decreasing along the grid
    out = np.empty((int(n_boot), budgets.size))
    for b in range(int(n_boot)):
        out[b] = np.interp(budgets, kl[b, ::-1], gain[b, ::-1])
    a = (1 - level) / 2
    low, high = np.quantile(out, [a, 1 - a], axis=0)
    if requested.ndim == 0:
        return float(low[0]), float(high[0])
    return low, high
