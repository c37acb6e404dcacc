r"""Cancellation-free KL sums from log-ratios: the kernel under every divergence of the numeric core.

For a distribution ``w`` and a second one ``v = w e^ℓ`` (both summing to one), adding
``Σ (w − v) = 0`` to the textbook sums makes every term non-negative:

* ``KL(v‖w) =  Σ v ℓ = Σ w φ(ℓ)``,  ``φ(ℓ) = ℓ e^ℓ − e^ℓ + 1 ≥ 0``;
* ``KL(w‖v) = −Σ w ℓ = Σ w ψ(ℓ)``,  ``ψ(ℓ) = e^ℓ − 1 − ℓ ≥ 0``.

A sum of non-negative terms has no cancellation, so it keeps the relative precision of
its terms however small the total (``KL ≈ 1e-300``, from base masses of ``1e-300``, or
``≈ Var/(2β²) = 1e-16`` at ``β = 1e8``), and can never come out negative. The
textbook sums ``Σ v ℓ`` mix signs: at ``β = 1e8`` they lose half their digits and at
base masses of ``1e-300`` all of them (tests/test_extreme_numerics.py).

A common error ``δ`` in every ``ℓ`` (a rounded log-normaliser) moves the sums only by a
relative ``δ``: ``Σ w φ'(ℓ) = Σ v ℓ`` and ``Σ w ψ'(ℓ) = Σ (v − w) = 0``.

Near ``ℓ = 0`` both ``φ`` and ``ψ`` are ``O(ℓ²)`` differences of ``O(ℓ)`` terms, so
``ψ`` comes from its Taylor series there and ``φ = ℓ·expm1(ℓ) − ψ`` (two terms of the
same sign, ``≈ ℓ²`` and ``≈ ℓ²/2``). Away from 0 the closed forms are used with the
second distribution's mass ``v`` given directly, so ``e^ℓ`` is never formed (``ℓ``
reaches ``−log w ≈ 745`` for the smallest masses and ``−1e11`` for ``β = 1e-8``).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

__all__ = ["forward_terms", "psi", "reverse_terms"]

#: Taylor coefficients of ψ(ℓ)/ℓ² = Σ_{n≥2} ℓ^{n−2}/n!, highest power first (for np.polyval).
#: Up to n = 19 the truncation error on |ℓ| ≤ 1 is below 1/20! ≈ 4e-19 (ψ(−1) ≈ 0.37).
_PSI_SERIES = tuple(1.0 / math.factorial(n) for n in range(19, 1, -1))


def psi(ell: NDArray[np.float64], expm1_ell: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
    """``ψ(ℓ) = e^ℓ − 1 − ℓ ≥ 0`` to full relative precision (``ψ(−inf) = inf``).

    ``expm1_ell``, when the caller knows ``e^ℓ − 1`` more accurately than ``expm1(ℓ)``
    (e.g. ``u`` for ``ℓ = log1p(u)``), is used for ``|ℓ| ≥ 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits._kl_terms import psi
    >>> psi(np.array([1e-10, 1.0, -2.0]))  # 1e-20/2, e − 2, e^-2 + 1
    array([5.00000000e-21, 7.18281828e-01, 1.13533528e+00])
    """
    ell = np.asarray(ell, dtype=np.float64)
    small = np.abs(ell) < 1.0
    series = _psi_series(np.where(small, ell, 0.0))
    with np.errstate(over="ignore", invalid="ignore"):
        em1 = np.expm1(ell) if expm1_ell is None else np.asarray(expm1_ell, dtype=np.float64)
        direct = em1 - ell
    return np.where(small, series, direct)


def _psi_series(ell: NDArray[np.float64]) -> NDArray[np.float64]:
    """``ψ(ℓ)`` by its Taylor series, for ``|ℓ| ≤ 1`` (Horner's rule in place: these arrays can be large)."""
    out = np.full_like(ell, _PSI_SERIES[0])
    for c in _PSI_SERIES[1:]:
        out *= ell
        out += c
    out *= ell * ell
    return out


def forward_terms(w: NDArray[np.float64], v: NDArray[np.float64], ell: NDArray[np.float64]) -> NDArray[np.float64]:
    """The terms ``w φ(ℓ) = v ℓ − v + w ≥ 0`` of ``KL(v‖w)``, with ``v = w e^ℓ``.

    ``ℓ = −inf`` (``v = 0``) gives ``w``; entries with ``w = v = 0`` must have ``ℓ = 0``
    (they give 0). Broadcasts.

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits._kl_terms import forward_terms
    >>> w, v = np.array([0.5, 0.5]), np.array([0.9, 0.1])
    >>> round(float(forward_terms(w, v, np.log(v / w)).sum()), 6)  # KL([0.9, 0.1] ‖ [0.5, 0.5])
    0.368064
    """
    w, v, ell = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (w, v, ell)))
    small = np.abs(ell) <= 1.0
    ls = np.where(small, ell, 0.0)
    near = w * (ls * np.expm1(ls) - _psi_series(ls))
    # v ℓ with ℓ = −inf only where v = 0: that product is 0 (0 log 0).
    with np.errstate(invalid="ignore"):
        far = w - v + np.where(v > 0, v * ell, 0.0)
    return np.where(small, near, far)


def reverse_terms(w: NDArray[np.float64], v: NDArray[np.float64], ell: NDArray[np.float64]) -> NDArray[np.float64]:
    """The terms ``w ψ(ℓ) = v − w − w ℓ ≥ 0`` of ``KL(w‖v)``, with ``v = w e^ℓ``.

    ``ℓ = −inf`` where ``w > 0`` gives ``inf`` (``w`` puts mass where ``v`` has none);
    entries with ``w = v = 0`` must have ``ℓ = 0`` (they give 0). Broadcasts.

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits._kl_terms import reverse_terms
    >>> w, v = np.array([0.5, 0.5]), np.array([0.9, 0.1])
    >>> round(float(reverse_terms(w, v, np.log(v / w)).sum()), 6)  # KL([0.5, 0.5] ‖ [0.9, 0.1])
    0.510826
    """
    w, v, ell = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (w, v, ell)))
    small = np.abs(ell) <= 1.0
    ls = np.where(small, ell, 0.0)
    near = w * _psi_series(ls)
    with np.errstate(invalid="ignore"):
        far = v - w - np.where(w > 0, w * ell, 0.0)
    return np.where(small, near, far)
