r"""The exact Gibbs tilt of a discrete base distribution and its KL–reward frontier.

For a base distribution ``π0`` over ``k`` outcomes with rewards ``r`` and a KL penalty
factor ``β > 0`` the optimum of ``E_π[r] − β KL(π‖π0)`` is the Gibbs tilt

.. math::  π_β(i) = π0(i)\, e^{r_i/β} / Z_β,\qquad Z_β = Σ_i π0(i) e^{r_i/β}.

Along the frontier ``β ↦ π_β``:

* ``KL(π_β‖π0)      = E_{π_β}[r]/β − log Z_β``
* ``KL(π0‖π_β)      = log Z_β − E_{π0}[r]/β``           (reverse KL)
* ``gain Δ(β)       = E_{π_β}[r] − E_{π0}[r] = β · J(π_β, π0)``  (Jeffreys identity)
* ``dΔ/dKL          = β``

Every quantity is computed in log space from the log-ratio ``log(π_β/π0)``, so
``e^{r/β}`` is never formed, and the divergences and gain as sums of non-negative terms:
β from 1e-8 to 1e8 (and ``β = inf``, the base policy) and base masses down to 1e-300
give values with full relative precision that are never negative (see ``_tilt``;
property-tested against mpmath in ``tests/test_extreme_numerics.py``).

All functions take plain arrays: ``base_probs`` and ``rewards`` of shape ``(k,)`` and
``beta`` a scalar or a 1-D grid of shape ``(m,)``. As in scipy, a scalar β (or KL
budget) gives scalar results and a grid gives arrays of shape ``(m,)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from alignlimits._kl_terms import forward_terms, reverse_terms
from alignlimits._roots import BudgetAtCeiling, beta_for_budget
from alignlimits._validation import (
    as_betas,
    as_discrete_problem,
    as_kl_budgets,
    as_probabilities,
    check_same_shape,
    squeeze_fields,
)

__all__ = [
    "Frontier",
    "beta_for_kl",
    "frontier",
    "greedy_gain",
    "log_partition",
    "log_tilt",
    "max_gain",
    "max_kl",
    "penalized_objective",
    "tilt",
]


#: The fields of :class:`Frontier` that hold one value per β.
FRONTIER_FIELDS = ("beta", "kl", "reverse_kl", "gain", "jeffreys")

#: Size of the (β, outcome) blocks the frontier is computed in (see ``frontier``).
_BLOCK_ELEMENTS = 1 << 15


@dataclass(frozen=True)
class Frontier:
    """Points ``π_β`` of the optimal KL–reward frontier, one per β.

    Every field but ``base_mean`` has shape ``(m,)`` for a grid of ``m`` values of β
    and is a scalar (``np.float64``) for a scalar β.

    Attributes
    ----------
    beta : KL penalty factors.
    kl : ``KL(π_β‖π0)``, the budget the policy spends.
    reverse_kl : ``KL(π0‖π_β)``.
    gain : ``E_{π_β}[r] − E_{π0}[r]``, the optimal reward gain.
    jeffreys : ``KL + reverse KL``; equals ``gain / β``.
    base_mean : ``E_{π0}[r]`` (a float).

    Examples
    --------
    >>> from alignlimits.tilting import frontier
    >>> f = frontier([0.5, 0.5], [0.0, 1.0], 1.0)
    >>> round(float(f.gain), 6), round(float(f.kl), 6), f.base_mean
    (0.231059, 0.110944, 0.5)
    >>> round(float(f.expected_reward), 6)  # base_mean + gain = e/(1 + e)
    0.731059
    >>> frontier([0.5, 0.5], [0.0, 1.0], [0.5, 2.0]).gain.round(6)  # a grid gives arrays
    array([0.380797, 0.122459])
    """

    beta: NDArray[np.float64]
    kl: NDArray[np.float64]
    reverse_kl: NDArray[np.float64]
    gain: NDArray[np.float64]
    jeffreys: NDArray[np.float64]
    base_mean: float

    @property
    def expected_reward(self) -> NDArray[np.float64]:
        """``E_{π_β}[r] = base_mean + gain``."""
        return self.base_mean + self.gain

    def as_dict(self) -> dict[str, list[float] | float]:
        """Plain lists per column (floats for a scalar β), e.g. for ``json.dumps`` or ``pandas.DataFrame``."""
        return {c: np.asarray(getattr(self, c)).tolist() for c in FRONTIER_FIELDS}


@dataclass(frozen=True)
class _Tilt:
    """The tilt at a block of β (see ``_tilt``): rows are β, columns outcomes."""

    weights: NDArray  # π0 normalised, shape (k,)
    log_ratio: NDArray  # ℓ = log(π_β/π0) on the support, 0 off it, shape (m, k)
    log_pi: NDArray  # log π_β (−inf off the support), shape (m, k)
    log_z: NDArray  # log Z_β = log E_π0 e^{r/β}, shape (m,)
    beta_log_ratio: NDArray  # β·ℓ, formed without β·(r/β), shape (m, k)


def _tilt(p0: NDArray, r: NDArray, betas: NDArray) -> _Tilt:
    """The Gibbs tilt at each β, in forms that keep full relative precision from β = 1e-8 to 1e8 and β = inf.

    Everything is measured from the *mode* ``m`` of ``π_β`` (the largest ``log π0 + r/β``):
    ``x_i = (r_i − r_m)/β`` and ``L = log Σ π0 e^x``, so ``ℓ = x − L`` and
    ``log Z = r_m/β + L``; nothing overflows and e^{r/β} is never formed.

    * ``log π_β(i) = (log π0_i − log π0_m + x_i) − log1p(W)`` with
      ``W = Σ_{j≠m} e^{log π0_j − log π0_m + x_j} ≤ k``: two terms of one sign, so the
      log-probabilities keep their relative precision even as ``π_β(m) → 1``.
    * ``L`` has two exact forms: ``log π0_m + log1p(W)``, and
      ``log1p(Σ π0 expm1(x))``, whose error scales with ``|x|`` — it keeps ``L`` (and
      so KL ≈ 1e-16 at β = 1e8, or ≈ 1e-296 when only a mass of 1e-300 moves) to
      full relative precision where ``π_β ≈ π0``. The second is used when
      ``Σ π0 e^x ≥ 1/2`` (no cancellation in ``1 + Σ π0 expm1(x)``); otherwise
      ``π_β(m) > 2 π0_m`` and the tilt is far from ``π0`` (KL ≥ 0.19/k), where the first is exact enough.

    The divergences then come from :mod:`alignlimits._kl_terms` as sums of non-negative
    terms, which a common error in ``L`` moves only by a relative amount.
    """
    support = p0 > 0
    w = p0 / p0.sum()  # normalised: the sums are 1 only to rounding (or to 1e-8, as accepted)
    with np.errstate(divide="ignore"):
        log_w = np.log(w)
    r_s = np.where(support, r, 0.0)  # off-support rewards never matter
    r_top = float(r_s[support].max())
    finite = np.isfinite(betas)
    rows = np.arange(betas.size)
    # Division, not multiplication by 1/β: r/β stays finite for every representable β.
    with np.errstate(over="ignore"):
        score = np.where(support, log_w + (r_s - r_top)[None, :] / betas[:, None], -np.inf)
        mode = np.argmax(score, axis=1)
        x = np.where(support, (r_s[None, :] - r_s[mode][:, None]) / betas[:, None], 0.0)
    log_wm = log_w[mode]
    log_rel = np.where(support, log_w[None, :] - log_wm[:, None] + x, -np.inf)  # log(π_β(i)/π_β(m))
    log_rel[rows, mode] = -np.inf
    log1p_w = np.log1p(np.exp(log_rel).sum(axis=1))
    log_pi = log_rel - log1p_w[:, None]
    log_pi[rows, mode] = -log1p_w
    l_far = log_wm + log1p_w
    # Σ π0 expm1(x); where e^x would overflow (x > 700 needs π0 < e^-700) the term is π0 e^x − π0.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        huge = x > 700.0
        excess = np.where(huge, np.exp(log_w + np.where(huge, x, 0.0)) - w, w * np.expm1(np.minimum(x, 700.0)))
        l_near = np.log1p(excess.sum(axis=1))
    log_norm = np.where(l_far >= -np.log(2.0), l_near, l_far)
    log_norm[~finite] = 0.0  # β = inf: the base policy, exactly
    log_ratio = np.where(support, x - log_norm[:, None], 0.0)
    with np.errstate(invalid="ignore"):
        beta_log_ratio = np.where(
            finite[:, None] & support, (r_s[None, :] - r_s[mode][:, None]) - betas[:, None] * log_norm[:, None], 0.0
        )
    log_pi[~finite] = log_w
    with np.errstate(over="ignore"):
        log_z = np.where(finite, r_s[mode] / betas, 0.0) + log_norm
    return _Tilt(weights=w, log_ratio=log_ratio, log_pi=log_pi, log_z=log_z, beta_log_ratio=beta_log_ratio)


def log_tilt(base_probs: ArrayLike, rewards: ArrayLike, beta: ArrayLike) -> NDArray[np.float64]:
    r"""Log-probabilities of the Gibbs tilt, ``log π_β = log π0 + r/β − log Z_β``.

    Returns shape ``(k,)`` for a scalar ``beta`` and ``(m, k)`` for a grid of ``m``.
    Outcomes with ``π0 = 0`` get ``-inf``.

    Examples
    --------
    >>> from alignlimits.tilting import log_tilt
    >>> log_tilt([0.5, 0.5], [0.0, 1.0], 1.0).round(6)  # log(1/(1+e)), log(e/(1+e))
    array([-1.313262, -0.313262])
    >>> log_tilt([0.5, 0.5], [0.0, 1.0], [1.0, 2.0]).shape
    (2, 2)
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    betas = as_betas(beta)
    log_pi = _tilt(p0, r, np.atleast_1d(betas)).log_pi
    return log_pi[0] if betas.ndim == 0 else log_pi


def tilt(base_probs: ArrayLike, rewards: ArrayLike, beta: ArrayLike) -> NDArray[np.float64]:
    r"""The Gibbs tilt ``π_β = π0 e^{r/β} / Z_β`` (a softmax of ``log π0 + r/β``).

    Shapes as in :func:`log_tilt`; each row sums to one.

    Examples
    --------
    >>> from alignlimits.tilting import tilt
    >>> tilt([0.5, 0.5], [0.0, 1.0], 1.0).round(6)  # softmax of (0, 1)
    array([0.268941, 0.731059])
    >>> tilt([0.5, 0.5], [0.0, 1.0], float("inf")).round(6)  # beta = inf: the base policy
    array([0.5, 0.5])
    """
    return np.exp(log_tilt(base_probs, rewards, beta))


def log_partition(base_probs: ArrayLike, rewards: ArrayLike, beta: ArrayLike) -> NDArray[np.float64] | float:
    r"""``log Z_β = log Σ_i π0(i) e^{r_i/β}`` — the optimal value is ``β log Z_β``.

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.tilting import log_partition
    >>> round(log_partition([0.5, 0.5], [0.0, 1.0], 1.0), 6)  # log((1 + e)/2)
    0.620115
    >>> round(log_partition([0.5, 0.5], [0.0, 1000.0], 1e-3), 3)  # e^{1e6} never formed
    999999.307
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    betas = as_betas(beta)
    out = _tilt(p0, r, np.atleast_1d(betas)).log_z
    return float(out[0]) if betas.ndim == 0 else out


def frontier(base_probs: ArrayLike, rewards: ArrayLike, beta: ArrayLike) -> Frontier:
    r"""The exact frontier point ``(KL, reverse KL, gain, Jeffreys)`` of ``π_β`` for each β.

    With the log-ratio ``ℓ_i = log(π_β(i)/π0(i)) = r_i/β − log Z_β``:

    * ``KL(π_β‖π0) = Σ_i π_β(i) ℓ_i``
    * ``KL(π0‖π_β) = −Σ_i π0(i) ℓ_i``
    * ``gain = Σ_i π_β(i) (r_i − E_{π0}[r])``
    * ``Jeffreys = KL + reverse KL`` (``= gain/β`` by the Jeffreys identity).

    Parameters
    ----------
    base_probs : array_like, shape (k,)
        The base distribution ``π0`` (zeros allowed).
    rewards : array_like, shape (k,)
        Finite rewards.
    beta : float or array_like, shape (m,)
        KL penalty factors, ``> 0``; ``inf`` gives the base policy.

    Returns
    -------
    Frontier
        Arrays of shape ``(m,)``; scalars for a scalar β.

    Examples
    --------
    >>> from alignlimits.tilting import frontier
    >>> f = frontier([0.5, 0.5], [0.0, 1.0], 1.0)  # a scalar beta gives scalar fields
    >>> round(float(f.gain), 6), round(float(f.kl), 6), round(float(f.reverse_kl), 6)
    (0.231059, 0.110944, 0.120115)
    >>> round(float(f.gain - f.beta * f.jeffreys), 12)  # the Jeffreys identity
    0.0
    >>> frontier([0.5, 0.5], [0.0, 1.0], [0.5, 1.0, 2.0]).kl.round(6)  # a grid gives arrays
    array([0.327813, 0.110944, 0.0303  ])
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    beta_in = as_betas(beta)
    betas = np.atleast_1d(beta_in)
    base_mean = float(p0 @ np.where(p0 > 0, r, 0.0) / p0.sum())
    kl_fwd, kl_rev, gain = (np.empty(betas.size) for _ in range(3))
    # Blocks of β keep the (block, k) temporaries cache-sized: one pass over a huge
    # (m, k) array is slower than a loop over β.
    block = max(1, _BLOCK_ELEMENTS // p0.size)
    for lo in range(0, betas.size, block):
        rows = slice(lo, lo + block)
        t = _tilt(p0, r, betas[rows])
        w, ell, pi = t.weights[None, :], t.log_ratio, np.exp(t.log_pi)
        # Sums of non-negative terms (alignlimits._kl_terms): no cancellation, never negative,
        # full relative precision at β = 1e8 (KL ≈ 1e-16) and for masses of 1e-300.
        kl_fwd[rows] = forward_terms(w, pi, ell).sum(axis=1)
        kl_rev[rows] = reverse_terms(w, pi, ell).sum(axis=1)
        # gain = β·J = Σ (π_β − π0)·βℓ, each term ≥ 0 (π_β − π0 has the sign of ℓ); π_β − π0 = π0·expm1(ℓ)
        # near ℓ = 0, and βℓ is formed without β·(r/β), so β → 0 and β = 1e8 both stay exact.
        moved = np.where(np.abs(ell) <= 1.0, w * np.expm1(np.clip(ell, -1.0, 1.0)), pi - w)
        gain[rows] = (moved * t.beta_log_ratio).sum(axis=1)
    front = Frontier(
        beta=betas,
        kl=kl_fwd,
        reverse_kl=kl_rev,
        gain=gain,
        jeffreys=kl_fwd + kl_rev,
        base_mean=base_mean,
    )
    return squeeze_fields(front, beta_in.ndim == 0, FRONTIER_FIELDS)


def max_kl(base_probs: ArrayLike, rewards: ArrayLike) -> float:
    r"""The supremum of ``KL(π_β‖π0)`` over β: ``−log π0(r = r_top)``, reached only as β → 0.

    ``r_top`` is the largest reward on the support of ``π0``; tied maximisers pool
    their mass. Budgets at or above this value are spent by the greedy policy.

    Examples
    --------
    >>> from alignlimits.tilting import max_kl
    >>> round(max_kl([0.5, 0.5], [0.0, 1.0]), 6)  # -log 0.5
    0.693147
    >>> round(max_kl([0.25, 0.25, 0.5], [1.0, 1.0, 0.0]), 6)  # tied maximisers pool their mass
    0.693147
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    support = p0 > 0
    top = support & (r == r[support].max())
    # −log(π0(top)/Σπ0) as log1p(rest/top): exact when the top mass is 1 − 1e-300 (it rounds to 1).
    return float(np.log1p(p0[~top].sum() / p0[top].sum()))


def greedy_gain(base_probs: ArrayLike, rewards: ArrayLike) -> float:
    r"""The largest possible gain, ``max_{π0>0} r − E_{π0}[r]`` (the β → 0 limit).

    Examples
    --------
    >>> from alignlimits.tilting import greedy_gain
    >>> greedy_gain([0.5, 0.5], [0.0, 1.0])  # 1 - 0.5
    0.5
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    support = p0 > 0
    # Σ π0 (r_top − r) / Σ π0: non-negative terms, so a tiny gain (a top outcome of mass 1 − 1e-300) stays exact.
    return float(p0[support] @ (r[support].max() - r[support]) / p0.sum())


def beta_for_kl(base_probs: ArrayLike, rewards: ArrayLike, kl_budget: ArrayLike) -> NDArray[np.float64] | float:
    r"""The β whose tilt spends exactly the budget: solve ``KL(π_β‖π0) = ε`` for β.

    ``β ↦ KL(π_β‖π0)`` is strictly decreasing from :func:`max_kl` (β → 0) to 0
    (β → ∞) when the reward is not constant on the support, so the root is unique.
    It is found by Brent's method in ``log β`` (relative tolerance ~1e-15).

    Parameters
    ----------
    kl_budget : float or array_like, shape (n,)
        Budgets ``ε ≥ 0`` in nats; ``ε = 0`` returns ``inf``.

    Raises
    ------
    ValueError
        If a budget is negative, NaN, or not below :func:`max_kl` (no β > 0 reaches
        it; use :func:`max_gain` for the constrained optimum, which is then greedy).

    Examples
    --------
    >>> from alignlimits.tilting import beta_for_kl, frontier
    >>> beta = beta_for_kl([0.5, 0.5], [0.0, 1.0], 0.1)
    >>> round(beta, 6), round(float(frontier([0.5, 0.5], [0.0, 1.0], beta).kl), 12)
    (1.059947, 0.1)
    >>> beta_for_kl([0.5, 0.5], [0.0, 1.0], 0.0)  # no budget: the base policy
    inf
    >>> beta_for_kl([0.5, 0.5], [0.0, 1.0], 1.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: KL budget 1 is unreachable: every tilted policy has KL(π_β‖π0) < 0.693147 = −log π0(argmax r), ...
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    budgets = as_kl_budgets(kl_budget, allow_inf=True)
    ceiling = max_kl(p0, r)
    # Solved in units of the reward spread (see max_gain); β scales with the rewards.
    scale, unit_rewards = _unit_rewards(p0, r)
    out = np.array([scale * _solve_beta(p0, unit_rewards, float(eps), ceiling) for eps in np.ravel(budgets)])
    return float(out[0]) if budgets.ndim == 0 else out


def max_gain(base_probs: ArrayLike, rewards: ArrayLike, kl_budget: ArrayLike) -> NDArray[np.float64] | float:
    r"""The largest gain any policy achieves with ``KL(π‖π0) ≤ ε``: ``Δ*(ε)``.

    ``Δ*(ε) = gain(β_ε)`` with ``β_ε`` from :func:`beta_for_kl`, which by the
    Jeffreys identity equals ``β_ε (ε + KL(π0‖π_{β_ε}))``. Budgets at or above
    :func:`max_kl` leave the constraint slack and give :func:`greedy_gain`.

    Examples
    --------
    >>> from alignlimits.tilting import max_gain
    >>> round(max_gain([0.5, 0.5], [0.0, 1.0], 0.1), 6)
    0.219795
    >>> max_gain([0.5, 0.5], [0.0, 1.0], [0.0, 1.0])  # no budget; a budget past the ceiling is greedy
    array([0. , 0.5])
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    budgets = as_kl_budgets(kl_budget, allow_inf=True)
    ceiling = max_kl(p0, r)
    top = greedy_gain(p0, r)
    # Solved in units of the reward spread, where β is of order 1 however small the spread (a spread
    # of 4.5e-300 next to a mass of 1e-49 put the β it needs below the smallest float, and the
    # solver's scale, the reward sd, underflowed to 0).
    scale, unit_rewards = _unit_rewards(p0, r)
    gains = []
    for eps in np.ravel(budgets):
        if eps >= ceiling:
            gains.append(top)
        elif eps == 0:
            gains.append(0.0)
        else:
            try:
                beta = _solve_beta(p0, unit_rewards, float(eps), ceiling)
                gains.append(scale * float(frontier(p0, unit_rewards, beta).gain))
            except BudgetAtCeiling:
                gains.append(top)  # the tilt is numerically the greedy policy
    out = np.array(gains)
    return float(out[0]) if budgets.ndim == 0 else out


def penalized_objective(policy: ArrayLike, base_probs: ArrayLike, rewards: ArrayLike, beta: float) -> float:
    r"""``E_π[r] − β KL(π‖π0)`` for an arbitrary policy ``π`` (shape ``(k,)``).

    By the Gibbs variational identity this equals ``β log Z_β − β KL(π‖π_β)``, so
    it is maximised by ``π_β`` alone. Returns ``-inf`` if ``π`` leaves the support of ``π0``.

    Examples
    --------
    >>> from alignlimits.tilting import penalized_objective, tilt
    >>> base, reward = [0.5, 0.5], [0.0, 1.0]
    >>> round(penalized_objective(tilt(base, reward, 1.0), base, reward, 1.0), 6)  # beta log Z
    0.620115
    >>> round(penalized_objective(base, base, reward, 1.0), 6)  # the base policy scores less
    0.5
    """
    from alignlimits.divergences import kl  # local: keeps the import graph acyclic and light

    p0, r = as_discrete_problem(base_probs, rewards)
    pi = as_probabilities(policy, "policy")
    check_same_shape(pi, p0, "policy", "base_probs")
    b = float(as_betas(beta))
    if not np.isfinite(b):
        raise ValueError("beta must be finite here: the objective is −inf·KL for beta = inf.")
    return float(pi @ r - b * kl(pi, p0))


def _unit_rewards(p0: NDArray, r: NDArray) -> tuple[float, NDArray]:
    """``(s, (r − r_top)/s)`` with ``s`` the reward spread on the support (1 for constant rewards).

    The frontier of ``(r, β)`` is that of ``((r − c)/s, β/s)`` with the gain scaled by ``s``;
    differences from an actual reward are exact for nearby rewards (Sterbenz).
    """
    support = p0 > 0
    shifted = np.where(support, r - r[support].max(), 0.0)
    spread = float(-shifted.min())
    scale = spread if spread > 0 else 1.0
    return scale, shifted / scale


def _solve_beta(p0: NDArray, r: NDArray, eps: float, ceiling: float) -> float:
    if eps == 0:
        return float("inf")
    if ceiling == 0:
        raise ValueError(
            "the reward is constant on the support of base_probs: every policy with "
            "finite KL has the same reward, so no β spends a positive budget."
        )
    if eps >= ceiling:
        raise ValueError(
            f"KL budget {eps:.6g} is unreachable: every tilted policy has "
            f"KL(π_β‖π0) < {ceiling:.6g} = −log π0(argmax r), the greedy limit β → 0. "
            "Choose a smaller budget, or use max_gain() for the (greedy) constrained optimum."
        )

    centred = r - p0 @ r
    scale = float(np.max(np.abs(centred)))  # > 0 here; scaling first keeps tiny spreads from underflowing
    sd = scale * float(np.sqrt(p0 @ (centred / scale) ** 2))
    try:
        return beta_for_budget(lambda beta: float(frontier(p0, r, beta).kl), eps, sd)
    except BudgetAtCeiling:
        raise BudgetAtCeiling(
            f"KL budget {eps:.17g} is within rounding of the ceiling {ceiling:.17g}: "
            "no β > 0 is distinguishable from the greedy policy."
        ) from None
