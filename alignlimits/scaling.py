r"""The functional forms of reward-model over-optimisation scaling laws, and their fits.

:cite:`gao2023scaling` (Gao, Schulman and Hilton, 2023) measure the *gold* reward
gain ``R`` of a policy optimised against a proxy reward model as a function of
``d = sqrt(KL(π‖π_init))`` (nats) and fit two forms, both with ``R(0) = 0``:

* best-of-N: ``R_bon(d) = d (α − β d)``, peaking at ``d* = α/(2β)`` with ``R* = α²/(4β)``
  when ``β > 0``;
* RL:        ``R_rl(d) = d (α − β log d)``, peaking at ``d* = exp(α/β − 1)`` with
  ``R* = β d*`` when ``β > 0``.

Both are linear in ``(α, β)``; :func:`fit_form` fits them by least squares with
:func:`scipy.optimize.curve_fit` and reports the residuals, so a reader sees *how well*
a form describes a curve, not only its parameters.

The optimal frontier has a small-KL expansion in ``d`` (:func:`frontier_bon_form`,
derived in :func:`alignlimits.symbolic.frontier.small_budget_expansion`):
``Δ*(d) = σ√2 d + κ3 d²/(3σ²) + O(d³)``, i.e. the best-of-N form with
``α = σ√2`` and ``β = −κ3/(3σ²)`` to second order. The RL form has an infinite slope at
``d = 0`` unless its ``β`` is 0, which no frontier has.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import OptimizeWarning, curve_fit

from alignlimits._validation import as_finite_array, check_same_shape

__all__ = ["FORMS", "FormFit", "bon_form", "fit_form", "form", "frontier_bon_form", "rl_form"]

#: The forms of Gao et al. (2023) known to :func:`form` and :func:`fit_form`.
FORMS = ("bon", "rl")


def _as_distances(d: ArrayLike) -> NDArray[np.float64]:
    arr = as_finite_array(d, "d", min_ndim=0)
    if (arr < 0).any():
        raise ValueError("d = sqrt(KL) must be >= 0; pass the square root of a KL in nats.")
    return arr


def bon_form(d: ArrayLike, alpha: float, beta: float) -> NDArray[np.float64]:
    r"""Gao et al.'s best-of-N form ``R(d) = d (α − β d)``, same shape as ``d`` (``d ≥ 0``).

    Examples
    --------
    >>> from alignlimits.scaling import bon_form
    >>> bon_form([0.0, 1.0, 2.0], 1.0, 0.25)  # d(α − βd), peak at d = α/(2β) = 2
    array([0.  , 0.75, 1.  ])
    """
    x = _as_distances(d)
    return x * (alpha - beta * x)


def rl_form(d: ArrayLike, alpha: float, beta: float) -> NDArray[np.float64]:
    r"""Gao et al.'s RL form ``R(d) = d (α − β log d)``, with ``R(0) = 0`` (the limit ``d log d → 0``).

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.scaling import rl_form
    >>> rl_form([0.0, 1.0, np.e], 1.0, 0.5).round(6)  # d(α − β log d), 0 at d = 0
    array([0.      , 1.      , 1.359141])
    """
    x = _as_distances(d)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x * (alpha - beta * np.log(x))
    return np.where(x > 0, out, 0.0)[()]  # [()]: a scalar d gives a scalar, as in bon_form


def form(name: str):
    """The form called ``name`` (``"bon"`` or ``"rl"``) as a function ``f(d, α, β)``.

    Examples
    --------
    >>> from alignlimits.scaling import bon_form, form
    >>> form("bon") is bon_form
    True
    >>> form("ppo")
    Traceback (most recent call last):
    ...
    ValueError: unknown form 'ppo'; choose one of bon, rl.
    """
    if name == "bon":
        return bon_form
    if name == "rl":
        return rl_form
    raise ValueError(f"unknown form {name!r}; choose one of {', '.join(FORMS)}.")


@dataclass(frozen=True)
class FormFit:
    r"""A least-squares fit of one form to points ``(d_i, R_i)``.

    Attributes
    ----------
    form : ``"bon"`` or ``"rl"``.
    alpha, beta : fitted parameters; ``alpha_se``, ``beta_se`` their standard errors,
        ``sqrt(diag(s² (X^T X)⁻¹))`` with ``s² = RSS/(n − 2)`` (the forms are linear in
        ``(α, β)``; 0 for a perfect fit). They treat the residuals as independent noise,
        which an exact curve's systematic misfit is not: read them as a scale, not a test.
    residuals : ``R_i − f(d_i)``, shape ``(n,)``.
    rms : root-mean-square residual; ``relative_rms`` is ``rms / max|R_i|``.
    max_abs : largest absolute residual.

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.scaling import fit_form, rl_form
    >>> d = np.linspace(0.1, 2.0, 10)
    >>> fit = fit_form(d**2, rl_form(d, 1.0, 0.5), "rl")
    >>> round(fit.alpha, 6), round(fit.beta, 6), [round(x, 6) for x in fit.peak]  # d* = e^{α/β − 1}, R* = β d*
    (1.0, 0.5, [2.718282, 1.359141])
    """

    form: str
    alpha: float
    beta: float
    alpha_se: float
    beta_se: float
    residuals: NDArray[np.float64]
    rms: float
    relative_rms: float
    max_abs: float

    def __call__(self, d: ArrayLike) -> NDArray[np.float64]:
        """The fitted curve at ``d``."""
        return form(self.form)(d, self.alpha, self.beta)

    @property
    def peak(self) -> tuple[float, float]:
        r"""``(d*, R*)`` of the fitted curve's maximum; ``(inf, inf)`` when ``β ≤ 0`` (no peak).

        best-of-N: ``d* = α/(2β)``, ``R* = α²/(4β)``; RL: ``d* = exp(α/β − 1)``, ``R* = β d*``.
        """
        if self.beta <= 0:
            return float("inf"), float("inf")
        if self.form == "bon":
            return self.alpha / (2 * self.beta), self.alpha**2 / (4 * self.beta)
        d_star = float(np.exp(self.alpha / self.beta - 1))
        return d_star, self.beta * d_star


def fit_form(kl: ArrayLike, gain: ArrayLike, name: str = "bon") -> FormFit:
    r"""Fit ``R = f(sqrt(KL))`` of :func:`form` ``name`` to gains measured at KLs (nats).

    Parameters
    ----------
    kl : array_like, shape (n,)
        ``KL(π‖π0) ≥ 0`` of each point, in nats (not its square root).
    gain : array_like, shape (n,)
        The reward gain ``E_π[r] − E_π0[r]`` at each point.
    name : ``"bon"`` (``d(α − βd)``) or ``"rl"`` (``d(α − β log d)``).

    Returns
    -------
    FormFit
        Parameters, standard errors and residuals. Needs at least three points with
        ``KL > 0`` (two parameters and one degree of freedom for the residuals).

    Examples
    --------
    >>> import numpy as np
    >>> from alignlimits.scaling import bon_form, fit_form
    >>> d = np.linspace(0.1, 2.0, 10)
    >>> fit = fit_form(d**2, bon_form(d, 1.0, 0.25), "bon")  # recovers the parameters of an exact curve
    >>> round(fit.alpha, 6), round(fit.beta, 6), bool(fit.rms < 1e-12)
    (1.0, 0.25, True)
    >>> [round(x, 6) for x in fit.peak], round(float(fit(2.0)), 6)
    ([2.0, 1.0], 1.0)
    """
    f = form(name)
    k = as_finite_array(kl, "kl")
    r = as_finite_array(gain, "gain")
    check_same_shape(k, r, "kl", "gain")
    if k.ndim != 1:
        raise ValueError(f"kl and gain must be 1-D (one entry per point); got shape {k.shape}.")
    if (k < 0).any():
        raise ValueError("kl must be >= 0 (nats).")
    if np.count_nonzero(k > 0) < 3:
        raise ValueError("need at least 3 points with KL > 0 to fit two parameters and measure the residuals.")
    d = np.sqrt(k)
    # Both forms are linear in (α, β): the least-squares solution is unique and curve_fit finds it
    # from any start; a start at the linear solution makes that immediate.
    basis = np.stack([d, -d * d if name == "bon" else -np.where(d > 0, d * np.log(np.where(d > 0, d, 1.0)), 0.0)], 1)
    start = np.linalg.lstsq(basis, r, rcond=None)[0]
    with warnings.catch_warnings():  # curve_fit warns when a perfect fit leaves no residual to scale by
        warnings.simplefilter("ignore", OptimizeWarning)
        params, _ = curve_fit(f, d, r, p0=start)
    residuals = r - f(d, *params)
    rms = float(np.sqrt(np.mean(residuals**2)))
    scale = float(np.max(np.abs(r)))
    # The model is linear, so the covariance is s² (X^T X)⁻¹ with s² = RSS/(n − 2) (0 for a perfect fit).
    dof = max(r.size - 2, 1)
    cov = float(residuals @ residuals) / dof * np.linalg.pinv(basis.T @ basis)
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    return FormFit(
        form=name,
        alpha=float(params[0]),
        beta=float(params[1]),
        alpha_se=float(se[0]),
        beta_se=float(se[1]),
        residuals=residuals,
        rms=rms,
        relative_rms=rms / scale if scale > 0 else float("nan"),
        max_abs=float(np.max(np.abs(residuals))),
    )


def frontier_bon_form(
    variance: ArrayLike, third_cumulant: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""The best-of-N form that agrees with the optimal frontier to second order in ``d = sqrt(KL)``.

    ``Δ*(d) = σ√2 d + κ3 d²/(3σ²) + O(d³)``, so ``α = sqrt(2 σ²)`` and ``β = −κ3/(3σ²)``
    (``σ² = variance`` and ``κ3 = third_cumulant`` of the reward under ``π0``; broadcasts).
    A right-skewed reward (``κ3 > 0``) gives ``β < 0``: the frontier curves *up* in ``d``.

    Examples
    --------
    >>> from alignlimits.scaling import frontier_bon_form
    >>> alpha, beta = frontier_bon_form(1.0, 2.0)  # σ² = 1, κ3 = 2 (right-skewed)
    >>> round(float(alpha), 6), round(float(beta), 6)  # sqrt(2) and −2/3: the frontier curves up
    (1.414214, -0.666667)
    """
    var = np.asarray(variance, dtype=np.float64)
    k3 = np.asarray(third_cumulant, dtype=np.float64)
    if np.isnan(var).any() or (var <= 0).any() or not np.isfinite(var).all():
        raise ValueError(f"variance must be finite and > 0; got {variance!r}.")
    if not np.isfinite(k3).all():
        raise ValueError(f"third_cumulant must be finite; got {third_cumulant!r}.")
    return np.sqrt(2 * var), -k3 / (3 * var)
