r"""From a frontier results file to curves: the estimated frontier and best-of-N, scored by reward and judge.

Input: the ``(P, n)`` arrays of rewards ``r`` and judge scores ``j`` of ``n`` base samples
for each of ``P`` prompts (:mod:`alignlimits.experiments`). The policy is always selected
by the **reward**; each curve is then *evaluated* twice — by the reward (what was
optimised) and by the judge (held out).

* **Frontier** (Gibbs tilt by the reward, estimated by self-normalised weights
  ``w̃ = softmax(r/β)`` per prompt, :func:`alignlimits.estimator.estimate_frontier`):
  KL ``= log n − H(w̃)``, reward gain ``Σ w̃ r − r̄`` and judge gain ``Σ w̃ j − j̄``,
  averaged over prompts.
* **Best-of-N** for ``N ≤ n`` from the same samples: the reward of the best of ``N``
  by the unbiased order-statistic estimator (:func:`alignlimits.bon.expected_max_unbiased`),
  the judge score of that same selection by the same weights applied to the judge
  scores ordered by reward (tied rewards share their judge mean: best-of-N breaks ties
  uniformly), and the plug-in tie-aware KL (:func:`alignlimits.bon.estimate`).
* **Bands**: percentile bootstrap over prompts (prompts resampled with replacement; the
  samples of a prompt stay together), for every curve at once.

Everything is numpy; float64; exponentials only inside ``scipy.special.softmax``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import softmax

from alignlimits import bon, estimator
from alignlimits._validation import as_betas, as_finite_array, squeeze_fields

__all__ = [
    "LabCurves",
    "SampleSizeShares",
    "bon_fraction_of_limit",
    "bon_gain_at",
    "bon_shares_at_ratio",
    "bon_sizes",
    "lab_curves",
    "limit_at",
]


@dataclass(frozen=True)
class LabCurves:
    """Frontier and best-of-N curves, reward-selected, evaluated by reward and by judge.

    Attributes (``m`` values of β, ``k`` values of N; ``*_band`` arrays have shape ``(2, ·)``:
    lower and upper percentile bootstrap limits over prompts)
    ----------
    beta, kl, gain_reward, gain_judge : the frontier, shape ``(m,)`` (scalars for a scalar β).
    reliable : estimator diagnostics per β (ESS and PSIS k̂), shape ``(m,)``.
    kl_ceiling : the largest estimable KL, ``mean log(n/ties at the top) ≤ log n``.
    n, bon_kl, bon_gain_reward, bon_gain_judge : best-of-N, shape ``(k,)``.
    base_reward, base_judge : the base policy's mean reward and judge score.
    n_prompts, n_samples : the shape of the data.

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.lab import lab_curves
    >>> rng = np.random.default_rng(0)
    >>> rewards = rng.normal(size=(8, 16))  # 8 prompts × 16 samples
    >>> judge = rewards + rng.normal(size=(8, 16))  # a held-out judge that agrees in part
    >>> curves = lab_curves(rewards, judge, [0.5, 1.0, 2.0], (1, 2, 4), n_boot=50, rng=np.random.default_rng(1))
    >>> curves.n_prompts, curves.n_samples, curves.bands["kl"].shape
    (8, 16, (2, 3))
    >>> round(curves.kl_ceiling, 4)  # log 16: no ties at the top
    2.7726
    """

    beta: NDArray[np.float64]
    kl: NDArray[np.float64]
    gain_reward: NDArray[np.float64]
    gain_judge: NDArray[np.float64]
    reliable: NDArray[np.bool_]
    kl_ceiling: float
    n: NDArray[np.int64]
    bon_kl: NDArray[np.float64]
    bon_gain_reward: NDArray[np.float64]
    bon_gain_judge: NDArray[np.float64]
    base_reward: float
    base_judge: float
    n_prompts: int
    n_samples: int
    bands: dict[str, NDArray[np.float64]] = field(repr=False)


def bon_sizes(n_samples: int, largest: int = 32) -> list[int]:
    """Best-of-N sizes to estimate from ``n_samples`` samples per prompt: 1, 2, 4, … up to ``n_samples/2``.

    Beyond ``N = n/2`` the unbiased estimator draws most of a prompt's samples at once and
    best-of-N can appear above the plug-in frontier of the same samples (chapter
    *The frontier and best-of-N on safety and summarization*).

    Examples
    --------
    >>> from alignlimits.lab import bon_sizes
    >>> bon_sizes(16)  # up to n/2
    [1, 2, 4, 8]
    >>> bon_sizes(256, largest=64)
    [1, 2, 4, 8, 16, 32, 64]
    """
    if not (isinstance(n_samples, int | np.integer) and n_samples >= 2):
        raise ValueError(f"need at least 2 samples per prompt; got {n_samples!r}.")
    return [2**k for k in range(int(np.log2(largest)) + 1) if 2**k <= n_samples // 2]


def _judge_of_selection(r: NDArray, j: NDArray, n: int) -> float:
    """Unbiased E[j of the best-of-N by r] from one prompt's samples (ties share their judge mean)."""
    order = np.argsort(r, kind="stable")
    r_sorted, j_sorted = r[order], j[order]
    _, start, counts = np.unique(r_sorted, return_index=True, return_counts=True)
    j_tied = np.repeat(np.add.reduceat(j_sorted, start) / counts, counts)
    return float(bon.unbiased_max_weights(r.size, n) @ j_tied)


def lab_curves(
    rewards: ArrayLike,
    judge: ArrayLike,
    beta: ArrayLike,
    ns: ArrayLike = (1, 2, 4, 8, 16, 32),
    *,
    n_boot: int = 200,
    level: float = 0.9,
    rng: np.random.Generator,
    bias_correction: bool = False,
) -> LabCurves:
    r"""Frontier and best-of-N curves from ``(P, n)`` reward and judge arrays (see the module docstring).

    Parameters
    ----------
    rewards, judge : array_like, shape (P, n)
        Scores of ``n`` base samples for each of ``P`` prompts (same sample at the same index).
    beta : float or array_like, shape (m,)
        KL penalty factors ``> 0`` of the tilt (``inf`` = the base policy). A scalar β
        gives scalar frontier fields (and frontier bands of shape ``(2,)``).
    ns : array_like of int, shape (k,)
        Best-of-N sizes, ``1 ≤ N ≤ n``.
    n_boot, level : bootstrap replicates over prompts and the band's coverage.
    rng : numpy Generator for the bootstrap.
    bias_correction : subtract the first-order bias of the frontier's reward gain and KL
        (:func:`alignlimits.estimator.estimate_frontier`): the plug-in frontier is biased low
        at every budget, so every share of it is biased up; the corrected curve is a second,
        less biased view (the judge's curve and best-of-N are unchanged).

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.lab import lab_curves
    >>> rng = np.random.default_rng(0)
    >>> rewards = rng.normal(size=(8, 16))  # 8 prompts × 16 samples
    >>> judge = rewards + rng.normal(size=(8, 16))  # a held-out judge that agrees in part
    >>> curves = lab_curves(rewards, judge, [0.5, 1.0, 2.0], (1, 2, 4), n_boot=50, rng=np.random.default_rng(1))
    >>> curves.kl.round(3), curves.gain_reward.round(3)  # the frontier, selected by the reward
    (array([0.878, 0.327, 0.095]), array([1.088, 0.705, 0.391]))
    >>> curves.gain_judge.round(3)  # ... and scored by the judge
    array([1.109, 0.698, 0.379])
    >>> curves.bon_kl.round(3), curves.bon_gain_reward[1:].round(3)  # best-of-1, 2, 4 (best-of-1 gains 0)
    (array([0.   , 0.191, 0.633]), array([0.545, 0.977]))
    """
    r = as_finite_array(rewards, "rewards")
    j = as_finite_array(judge, "judge")
    if r.ndim != 2 or r.shape != j.shape:
        raise ValueError(f"rewards and judge must both have shape (P, n); got {r.shape} and {j.shape}.")
    n_prompts, n_samples = r.shape
    if n_samples < 2:
        raise ValueError(f"need at least 2 samples per prompt; got {n_samples}.")
    ns_arr = np.atleast_1d(np.asarray(ns))
    if ns_arr.size == 0 or np.any(ns_arr != np.round(ns_arr)) or ns_arr.min() < 1 or ns_arr.max() > n_samples:
        raise ValueError(f"every N must be an integer in 1..{n_samples} (samples per prompt); got {ns_arr.tolist()}.")
    ns_arr = ns_arr.astype(np.int64)
    if not (isinstance(n_boot, int) and n_boot >= 2):
        raise ValueError(f"n_boot must be an integer >= 2; got {n_boot!r}.")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1); got {level!r}.")

    ids = np.repeat(np.arange(n_prompts), n_samples)
    scalar = as_betas(beta).ndim == 0
    fr = estimator.estimate_frontier(r.ravel(), np.atleast_1d(beta), ids, bias_correction=bias_correction)
    betas = fr.beta
    # Judge gain under the reward tilt, per prompt: Σ softmax(r/β) j − mean j.
    with np.errstate(divide="ignore"):
        scaled = r[:, None, :] / betas[None, :, None]  # β = inf gives 0: uniform weights
    weights = softmax(scaled, axis=-1)
    per = {
        "kl": fr.per_prompt["kl"],
        "gain_reward": fr.per_prompt["gain"],
        "gain_judge": np.einsum("pmn,pn->pm", weights, j) - j.mean(axis=1, keepdims=True),
        "bon_kl": np.array([[bon.estimate(r[p], int(n)).kl for n in ns_arr] for p in range(n_prompts)]),
        "bon_gain_reward": np.stack([bon.expected_max_unbiased(r, int(n)) for n in ns_arr], axis=1)
        - r.mean(axis=1, keepdims=True),
        "bon_gain_judge": np.array(
            [[_judge_of_selection(r[p], j[p], int(n)) for n in ns_arr] for p in range(n_prompts)]
        )
        - j.mean(axis=1, keepdims=True),
    }
    means = {k: v.mean(axis=0) for k, v in per.items()}
    picks = rng.integers(0, n_prompts, size=(n_boot, n_prompts))
    a = (1 - level) / 2
    bands = {k: np.quantile(v[picks].mean(axis=1), [a, 1 - a], axis=0) for k, v in per.items()}
    curves = LabCurves(
        beta=betas,
        kl=means["kl"],
        gain_reward=means["gain_reward"],
        gain_judge=means["gain_judge"],
        reliable=fr.reliable,
        kl_ceiling=fr.kl_ceiling,
        n=ns_arr,
        bon_kl=means["bon_kl"],
        bon_gain_reward=means["bon_gain_reward"],
        bon_gain_judge=means["bon_gain_judge"],
        base_reward=float(r.mean()),
        base_judge=float(j.mean()),
        n_prompts=int(n_prompts),
        n_samples=int(n_samples),
        bands=bands,
    )
    if not scalar:
        return curves
    frontier_bands = {k: v[:, 0] if k in ("kl", "gain_reward", "gain_judge") else v for k, v in bands.items()}
    squeezed = squeeze_fields(curves, True, ("beta", "kl", "gain_reward", "gain_judge", "reliable"))
    return dataclasses.replace(squeezed, bands=frontier_bands)


def limit_at(
    curves: LabCurves, kl: ArrayLike, which: str = "gain_reward", *, curve: ArrayLike | None = None
) -> NDArray[np.float64] | float:
    """The estimated frontier's gain at the given KLs, by linear interpolation along the curve.

    ``which`` names the curve (``"gain_reward"`` or ``"gain_judge"``); ``curve`` overrides it
    with any array of shape ``(m,)`` along the same β grid (e.g. a band edge,
    ``curves.bands["gain_reward"][1]``). Every curve starts at the base policy, gain 0 at
    KL 0. KLs beyond the β grid's largest KL or the estimable ceiling
    (``curves.kl_ceiling``) have no estimate and give NaN (no extrapolation); negative or
    non-finite KLs are refused.

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.lab import lab_curves
    >>> rng = np.random.default_rng(0)
    >>> rewards = rng.normal(size=(8, 16))  # 8 prompts × 16 samples
    >>> judge = rewards + rng.normal(size=(8, 16))  # a held-out judge that agrees in part
    >>> curves = lab_curves(rewards, judge, [0.5, 1.0, 2.0], (1, 2, 4), n_boot=50, rng=np.random.default_rng(1))
    >>> from alignlimits.lab import limit_at
    >>> round(limit_at(curves, 0.2), 4)
    0.5327
    >>> limit_at(curves, [0.0, 0.2, 5.0]).round(4)  # nothing beyond the grid's largest KL
    array([0.    , 0.5327,    nan])
    """
    x = as_finite_array(kl, "kl", min_ndim=0)
    if np.any(x < 0):
        raise ValueError("a KL divergence is >= 0; got a negative value.")
    y = np.asarray(getattr(curves, which) if curve is None else curve, dtype=np.float64)
    kl_curve = np.asarray(curves.kl)
    if y.shape != kl_curve.shape:
        raise ValueError(f"curve must have the frontier's shape {kl_curve.shape}; got {y.shape}.")
    kl_curve, y = np.atleast_1d(kl_curve), np.atleast_1d(y)  # a one-β frontier is a curve of one point
    order = np.argsort(kl_curve, kind="stable")
    # Every gain curve starts at (0, 0), the base policy (β = ∞); beyond the β grid's largest KL,
    # or the estimable ceiling, there is no estimate (no extrapolation).
    kl_sorted, y_sorted = np.concatenate([[0.0], kl_curve[order]]), np.concatenate([[0.0], y[order]])
    inside = x <= min(kl_sorted[-1], curves.kl_ceiling)
    out = np.where(inside, np.interp(x, kl_sorted, y_sorted), np.nan)
    return out if out.ndim else float(out)


def bon_gain_at(curves: LabCurves, kl: ArrayLike) -> NDArray[np.float64] | float:
    """Best-of-N's reward gain at the given KLs, by linear interpolation between its ``N``.

    Beyond the largest ``N``'s KL the gain is held at that ``N``'s: a conservative stand-in
    for a policy that spends more KL (a larger ``N`` gains more), unlike :func:`limit_at`,
    which has no estimate there. Negative or non-finite KLs are refused.

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.lab import lab_curves
    >>> rng = np.random.default_rng(0)
    >>> rewards = rng.normal(size=(8, 16))  # 8 prompts × 16 samples
    >>> judge = rewards + rng.normal(size=(8, 16))  # a held-out judge that agrees in part
    >>> curves = lab_curves(rewards, judge, [0.5, 1.0, 2.0], (1, 2, 4), n_boot=50, rng=np.random.default_rng(1))
    >>> from alignlimits.lab import bon_gain_at
    >>> round(bon_gain_at(curves, 0.2), 4)
    0.553
    >>> round(bon_gain_at(curves, 10.0), 4)  # held at the largest N's gain
    0.9765
    """
    x = as_finite_array(kl, "kl", min_ndim=0)
    if np.any(x < 0):
        raise ValueError("a KL divergence is >= 0; got a negative value.")
    out = np.interp(x, curves.bon_kl, curves.bon_gain_reward)
    return out if out.ndim else float(out)


def bon_fraction_of_limit(curves: LabCurves) -> NDArray[np.float64]:
    """Best-of-N's reward gain as a share of the estimated frontier's gain at the same KL, shape ``(k,)``.

    ``bon_gain_reward / limit_at(curves, bon_kl)``; NaN for ``N = 1`` (0/0), where the
    limit is 0 (every reward of the prompts tied) and beyond the estimable ceiling.

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.lab import lab_curves
    >>> rng = np.random.default_rng(0)
    >>> rewards = rng.normal(size=(8, 16))  # 8 prompts × 16 samples
    >>> judge = rewards + rng.normal(size=(8, 16))  # a held-out judge that agrees in part
    >>> curves = lab_curves(rewards, judge, [0.5, 1.0, 2.0], (1, 2, 4), n_boot=50, rng=np.random.default_rng(1))
    >>> from alignlimits.lab import bon_fraction_of_limit
    >>> bon_fraction_of_limit(curves).round(3)  # NaN for N = 1 (0/0)
    array([  nan, 1.045, 1.064])
    """
    limit = limit_at(curves, curves.bon_kl)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((curves.n > 1) & (limit > 1e-12), curves.bon_gain_reward / limit, np.nan)


@dataclass(frozen=True)
class SampleSizeShares:
    """Best-of-N's share of the estimated limit when ``n`` samples per prompt are available, at ``N = ratio · n``.

    Arrays of shape ``(k,)``, one entry per sample size: ``n``, ``N``, the mean ``share`` over
    ``draws`` random subsets of ``n`` samples per prompt, and its standard error ``se`` (NaN
    for one draw, or when every subset is the whole sample).

    Examples
    --------
    >>> import numpy as np
    >>> out = SampleSizeShares(np.array([32]), np.array([4]), np.array([0.9]), np.array([0.01]), 0.125)
    >>> out.N / out.n
    array([0.125])
    """

    n: NDArray[np.int64]
    N: NDArray[np.int64]
    share: NDArray[np.float64]
    se: NDArray[np.float64]
    ratio: float


def bon_shares_at_ratio(
    rewards: ArrayLike,
    ratio: float,
    ns: ArrayLike,
    beta: ArrayLike,
    *,
    draws: int = 8,
    rng: np.random.Generator,
) -> SampleSizeShares:
    r"""Best-of-N's share of the plug-in limit at a fixed ``N/n``, as the sample size ``n`` grows.

    Both the frontier and best-of-N are estimated from the same ``n`` samples per prompt.
    The plug-in frontier is biased low by about ``e^{2 KL}/n`` and best-of-N's KL grows with
    ``N``, so a share that *rises with N at fixed n* can be a sample-size effect. Holding
    ``N/n`` fixed removes it: if the share is flat in ``n`` there, its rise with ``N`` says
    nothing about best-of-N approaching the limit. For each ``n`` in ``ns`` this draws
    ``draws`` random subsets of ``n`` of the ``(P, n_total)`` rewards per prompt (without
    replacement), and computes :func:`bon_fraction_of_limit` at ``N = round(ratio · n)`` on
    each.

    Examples
    --------
    >>> import numpy as np
    >>> rewards = np.random.default_rng(0).normal(size=(16, 64))
    >>> shares = bon_shares_at_ratio(rewards, 0.125, [32, 64], np.geomspace(0.2, 5, 40), draws=2,
    ...                              rng=np.random.default_rng(1))
    >>> shares.N.tolist(), bool(np.all(shares.share > 0.5))
    ([4, 8], True)
    """
    r = as_finite_array(rewards, "rewards")
    if r.ndim != 2:
        raise ValueError(f"rewards must have shape (P, n); got {r.shape}.")
    sizes = np.atleast_1d(np.asarray(ns))
    if sizes.size == 0 or np.any(sizes != np.round(sizes)) or sizes.min() < 2 or sizes.max() > r.shape[1]:
        raise ValueError(f"every n must be an integer in 2..{r.shape[1]} (samples per prompt); got {sizes.tolist()}.")
    if not (np.isfinite(ratio) and 0 < ratio <= 1):
        raise ValueError(f"ratio = N/n must be in (0, 1]; got {ratio!r}.")
    sizes = sizes.astype(np.int64)
    big = np.round(ratio * sizes).astype(np.int64)
    if big.min() < 2:
        raise ValueError(f"N = ratio · n must be at least 2 for every n; got N = {big.tolist()}.")
    if not (isinstance(draws, int) and draws >= 1):
        raise ValueError(f"draws must be a positive integer; got {draws!r}.")
    shares, errors = [], []
    zeros = np.zeros_like(r)
    for n, N in zip(sizes, big, strict=True):
        per_draw = []
        for _ in range(draws if n < r.shape[1] else 1):  # the whole sample is one subset
            cols = np.argsort(rng.random(r.shape), axis=1)[:, :n]
            sub = np.take_along_axis(r, cols, axis=1)
            # No bands are needed here: the smallest bootstrap lab_curves allows.
            curves = lab_curves(sub, zeros[:, :n], beta, (int(N),), n_boot=2, rng=rng)
            per_draw.append(float(bon_fraction_of_limit(curves)[0]))
        values = np.asarray(per_draw)
        shares.append(values.mean())
        errors.append(values.std(ddof=1) / np.sqrt(values.size) if values.size > 1 else np.nan)
    return SampleSizeShares(sizes, big, np.asarray(shares), np.asarray(errors), float(ratio))
