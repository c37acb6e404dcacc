"""Solving ``KL(π_β‖π0) = ε`` for β: one bracketing root finder for every frontier.

Every frontier in the package (exact discrete, toy laws, sample estimates) has a KL
that falls strictly as β grows. Parameterise β by a real ``u`` (``β = e^u``, or
``β = β_min + e^u`` when β has a lower limit) and the budget equation becomes the
root of a strictly decreasing function of ``u``.
"""

from __future__ import annotations

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
