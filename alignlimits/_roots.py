"""Solving ``KL(π_β‖π0) = ε`` for β: one bracketing root finder for every frontier.

Every frontier in the package (exact discrete, toy laws, sample estimates) has a KL
that falls strictly as β grows. Parameterise β by a real ``u`` (``β = e^u``, or
``β = β_min + e^u`` when β has a lower limit) and the budget equation becomes the
root of a strictly decreasing function of ``u``. :func:`beta_for_budget` does that
for every caller (exact, toy-law and estimated frontiers), from the same start and
with the same lower limit; :func:`root_of_decreasing` is the bracketing solver beneath.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from scipy.optimize import brentq


class BudgetAtCeiling(ValueError):
    """The budget is below the KL ceiling but within rounding of it: only β → 0 reaches it."""


def root_of_decreasing(excess: Callable[[float], float], start: float, *, lowest: float) -> float:
    """The root ``u*`` of a strictly decreasing ``excess(u)``, to ~1e-15 relative.

    The bracket grows geometrically from ``[start − 1, start + 1]``, then Brent's
    method finishes. Raises :class:`BudgetAtCeiling` when ``excess`` is still ≤ 0 at
    ``u = lowest`` (for KL budgets: the budget is numerically the greedy ceiling).
    """
    lo, hi, step = start - 1.0, start + 1.0, 1.0
    while excess(lo) <= 0:
        step *= 2
        lo = max(lo - step, lowest)
        if lo == lowest and excess(lo) <= 0:
            raise BudgetAtCeiling("the budget is within rounding of the KL ceiling: no β > 0 is distinguishable")
    step = 1.0
    while excess(hi) >= 0:
        step *= 2
        hi += step
    return float(brentq(excess, lo, hi, xtol=1e-14, rtol=1e-15, maxiter=500))


#: How far below the reward scale β may go, in nats: ``β ≥ sd · e^{−700}``. There
#: ``r/β ≈ (r/sd) · e^{700}`` already nears the largest float64 (about e^{709.8}), and the
#: tilt is the greedy policy to every digit long before.
LOG_BETA_FLOOR_BELOW_SD = 700.0


def beta_for_budget(kl_at: Callable[[float], float], eps: float, sd: float, *, beta_min: float = 0.0) -> float:
    r"""The β with ``kl_at(β) = ε``, for a KL that falls strictly as β grows past ``beta_min``.

    β is parameterised as ``β = beta_min + e^u`` and :func:`root_of_decreasing` solves
    ``kl_at(beta_min + e^u) − ε = 0`` for ``u``, starting from the Gaussian guess
    ``β − beta_min ≈ sd / sqrt(2ε)`` (exact for Gaussian rewards, where
    ``KL(π_β‖π0) = sd²/(2β²)``) and never looking below ``e^u = sd · e^{−700}``.

    Parameters
    ----------
    kl_at : ``β ↦ KL(π_β‖π0)``, strictly decreasing on ``(beta_min, ∞)``.
    eps : the budget ε, finite and > 0 (callers answer ε = 0, β = ∞, themselves).
    sd : the reward's standard deviation under ``π0`` (sets the scale of β), finite and > 0.
    beta_min : the infimum of the admissible β (0 unless ``E e^{r/β}`` is infinite below it).

    Raises
    ------
    BudgetAtCeiling
        When even the smallest β looked at spends less than ε: the budget is at (or
        within rounding of) the KL ceiling. Callers turn it into their own message.
    ValueError
        For ε or sd not finite and > 0, or a negative or non-finite ``beta_min``.
    """
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a finite KL budget > 0 (answer eps = 0 with beta = inf); got {eps!r}.")
    if not (math.isfinite(sd) and sd > 0):
        raise ValueError(f"sd must be the reward's standard deviation, finite and > 0; got {sd!r}.")
    if not (math.isfinite(beta_min) and beta_min >= 0):
        raise ValueError(f"beta_min must be finite and >= 0; got {beta_min!r}.")

    def excess(u: float) -> float:
        return float(kl_at(beta_min + math.exp(u))) - eps

    start = math.log(sd / math.sqrt(2 * eps))
    u = root_of_decreasing(excess, start, lowest=math.log(sd) - LOG_BETA_FLOOR_BELOW_SD)
    return beta_min + math.exp(u)
