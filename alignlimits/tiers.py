"""Compute tiers: how much work a chapter, test or experiment does.

The tier is read from the environment variable ``ALIGNLIMITS_TIER`` here and nowhere
else:

* ``smoke``   — CI and nbval: seconds per chapter, every code path exercised;
* ``default`` — the book build and Colab on a CPU: minutes per chapter (the book's
  chapter-status page lists them);
* ``full``    — the real small-language-model runs (background jobs, results committed).
"""

from __future__ import annotations

import os
from typing import TypeVar

__all__ = ["DEFAULT_TIER", "ENV_VAR", "TIERS", "by_tier", "current_tier"]

T = TypeVar("T")

ENV_VAR = "ALIGNLIMITS_TIER"
TIERS = ("smoke", "default", "full")
DEFAULT_TIER = "default"


def current_tier() -> str:
    """Return the active tier, ``ALIGNLIMITS_TIER`` or ``"default"`` when unset.

    Raises
    ------
    ValueError
        If the variable holds anything other than ``smoke``, ``default`` or ``full``.

    Examples
    --------
    >>> import os
    >>> from alignlimits.tiers import current_tier
    >>> saved = os.environ.pop("ALIGNLIMITS_TIER", None)
    >>> current_tier()
    'default'
    >>> os.environ["ALIGNLIMITS_TIER"] = " Smoke "  # case and spaces do not matter
    >>> current_tier()
    'smoke'
    >>> os.environ["ALIGNLIMITS_TIER"] = "fast"
    >>> current_tier()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ALIGNLIMITS_TIER='fast' is not a tier; set it to one of smoke, default, full ...
    >>> _ = os.environ.pop("ALIGNLIMITS_TIER") if saved is None else os.environ.update(ALIGNLIMITS_TIER=saved)
    """
    tier = os.environ.get(ENV_VAR, "").strip().lower() or DEFAULT_TIER
    if tier not in TIERS:
        raise ValueError(
            f"{ENV_VAR}={os.environ[ENV_VAR]!r} is not a tier; "
            f"set it to one of {', '.join(TIERS)} (or unset it for {DEFAULT_TIER!r})."
        )
    return tier


def by_tier(smoke: T, default: T, full: T, *, tier: str | None = None) -> T:
    """Pick the value for the active tier (or for ``tier`` when given).

    Examples
    --------
    >>> from alignlimits.tiers import by_tier
    >>> by_tier(smoke=200, default=20_000, full=200_000, tier="smoke")
    200
    >>> by_tier(smoke=200, default=20_000, full=200_000, tier="full")
    200000
    """
    tier = current_tier() if tier is None else tier
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; expected one of {', '.join(TIERS)}.")
    return {"smoke": smoke, "default": default, "full": full}[tier]
