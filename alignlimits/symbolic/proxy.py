r"""Proxy rewards and ensembles, derived with SymPy (Part 5 of the book).

Notation: base ``q`` over ``k`` outcomes, true reward ``r``, error ``e``, proxy
``r̂ = r + e``, ``π_β ∝ q e^{r/β}`` and ``π̂_β ∝ q e^{r̂/β}``.

* :func:`loss_identity` — ``[E_{π_β} r − β KL(π_β‖q)] − [E_{π̂_β} r − β KL(π̂_β‖q)] = β KL(π̂_β‖π_β)``;
* :func:`loss_scale_derivative` — for ``r̂_t = r + t e``:
  ``d/dt β KL(π̂_t‖π_β) = t Var_{π̂_t}(e)/β``, so the loss is
  ``(1/β) ∫_0^1 t Var_{π̂_t}(e) dt`` and grows with the error scale;
* :func:`gaussian_tilt_shift` — tilting ``N(μ, Σ)`` by ``e^{a^T x/β}`` gives ``N(μ + Σa/β, Σ)``;
* :func:`gaussian_proxy_loss` — for jointly Gaussian ``(r, e)`` (any correlation) the loss
  is exactly ``s²/(2β)``;
* :func:`gaussian_matched_gap` — the gap at matched KL ``(σ/β)(sqrt(σ² + s²) − σ)``
  (independent errors) and its correlated generalisation;
* :func:`gaussian_gain_fraction` — at matched KL the proxy policy earns the fraction
  ``corr(r, r̂)`` of the optimal gain (Gaussian ``(r, e)``);
* :func:`ensemble_error_variance` — ``Var((1/m) Σ_j e_j) = s²(ρ + (1 − ρ)/m)``;
* :func:`ensemble_matched_gap` — the gap with an ``m``-member mean and its floor as ``m → ∞``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

__all__ = [
    "GaussianSymbols",
    "ensemble_error_variance",
    "ensemble_matched_gap",
    "gaussian_gain_fraction",
    "gaussian_matched_gap",
    "gaussian_matched_gap_correlated",
    "gaussian_proxy_loss",
    "gaussian_symbols",
    "gaussian_tilt_shift",
    "loss_identity",
    "loss_scale_derivative",
    "residual",
]


def residual(eq: sp.Eq) -> sp.Expr:
    """``lhs − rhs`` simplified after expanding logarithms (symbols are positive or real).

    Examples
    --------
    >>> from alignlimits.symbolic.proxy import loss_identity, residual
    >>> residual(loss_identity(2))
    0
    """
    return sp.simplify(sp.expand_log(eq.lhs - eq.rhs, force=True))


def _discrete_symbols(k: int) -> tuple[tuple[sp.Symbol, ...], tuple[sp.Symbol, ...], tuple[sp.Symbol, ...], sp.Symbol]:
    if k < 2:
        raise ValueError(f"need at least 2 outcomes; got k={k}.")
    q = sp.symbols(f"q1:{k + 1}", positive=True)
    r = sp.symbols(f"r1:{k + 1}", real=True)
    e = sp.symbols(f"e1:{k + 1}", real=True)
    beta = sp.Symbol("beta", positive=True)
    return q, r, e, beta


def _tilt(q, rewards, beta) -> tuple[list[sp.Expr], sp.Expr]:
    z = sum(qi * sp.exp(ri / beta) for qi, ri in zip(q, rewards, strict=True))
    return [qi * sp.exp(ri / beta) / z for qi, ri in zip(q, rewards, strict=True)], z


def _kl(p, q) -> sp.Expr:
    return sum(pi * sp.log(pi / qi) for pi, qi in zip(p, q, strict=True))


def loss_identity(k: int = 3) -> sp.Eq:
    r"""The loss of the proxy policy in the true objective equals ``β KL(π̂_β‖π_β)``.

    ``lhs = [E_{π_β} r − β KL(π_β‖q)] − [E_{π̂_β} r − β KL(π̂_β‖q)]`` and
    ``rhs = β KL(π̂_β‖π_β)`` for ``k`` outcomes with symbolic ``q, r, e, β``.

    Examples
    --------
    >>> from alignlimits.symbolic.proxy import loss_identity, residual
    >>> eq = loss_identity(2)
    >>> residual(eq)  # the loss in the true objective is β KL(π̂_β‖π_β)
    0
    """
    q, r, e, beta = _discrete_symbols(k)
    pi, _ = _tilt(q, r, beta)
    pi_hat, _ = _tilt(q, [ri + ei for ri, ei in zip(r, e, strict=True)], beta)

    def objective(p):
        return sum(pi_i * ri for pi_i, ri in zip(p, r, strict=True)) - beta * _kl(p, q)

    return sp.Eq(objective(pi) - objective(pi_hat), beta * _kl(pi_hat, pi), evaluate=False)


def loss_scale_derivative(k: int = 2) -> tuple[sp.Eq, sp.Symbol]:
    r"""``d/dt [β KL(π̂_t‖π_β)] = t Var_{π̂_t}(e)/β`` for the proxy ``r + t e``.

    Returns the equation and the scale symbol ``t``. Because the right side is
    ``≥ 0`` for ``t ≥ 0`` the loss is non-decreasing in the error scale, and
    integrating from 0 to 1 gives ``loss = (1/β) ∫_0^1 t Var_{π̂_t}(e) dt``.

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.proxy import loss_scale_derivative
    >>> eq, t = loss_scale_derivative(2)
    >>> sp.simplify(eq.lhs - eq.rhs)
    0
    """
    q, r, e, beta = _discrete_symbols(k)
    t = sp.Symbol("t", nonnegative=True)
    pi, _ = _tilt(q, r, beta)
    pi_t, _ = _tilt(q, [ri + t * ei for ri, ei in zip(r, e, strict=True)], beta)
    loss = beta * _kl(pi_t, pi)
    mean_e = sum(p * ei for p, ei in zip(pi_t, e, strict=True))
    var_e = sum(p * ei**2 for p, ei in zip(pi_t, e, strict=True)) - mean_e**2
    return sp.Eq(sp.diff(loss, t), t * var_e / beta, evaluate=False), t


@dataclass(frozen=True)
class GaussianSymbols:
    """Symbols for the Gaussian model: ``Var r = σ²``, ``Var e = s²``, ``Corr(r, e) = ρ``.

    Examples
    --------
    >>> from alignlimits.symbolic.proxy import gaussian_symbols
    >>> g = gaussian_symbols()
    >>> g.covariance.tolist()
    [[sigma**2, rho*s*sigma], [rho*s*sigma, s**2]]
    """

    sigma: sp.Symbol
    s: sp.Symbol
    rho: sp.Symbol
    beta: sp.Symbol
    m: sp.Symbol
    covariance: sp.Matrix


def gaussian_symbols() -> GaussianSymbols:
    """``σ, s, β > 0``, ``ρ ∈ (−1, 1)`` (real) and the covariance ``[[σ², ρσs], [ρσs, s²]]`` of ``(r, e)``.

    Examples
    --------
    >>> from alignlimits.symbolic.proxy import gaussian_symbols
    >>> g = gaussian_symbols()
    >>> g.sigma.is_positive, g.rho.is_real, g.m.is_integer
    (True, True, True)
    """
    sigma, s, beta = sp.symbols("sigma s beta", positive=True)
    rho = sp.Symbol("rho", real=True)
    m = sp.Symbol("m", positive=True, integer=True)
    cov = sp.Matrix([[sigma**2, rho * sigma * s], [rho * sigma * s, s**2]])
    return GaussianSymbols(sigma, s, rho, beta, m, cov)


def gaussian_tilt_shift() -> sp.Expr:
    r"""Gradient in ``x`` of ``[log N(x; μ, Σ) + a^T x/β] − log N(x; μ + Σa/β, Σ)`` (should be 0).

    A zero gradient means the two log-densities differ by a constant, so the tilt of
    a Gaussian by ``e^{a^T x/β}`` is the Gaussian shifted by ``Σa/β`` with the same
    covariance. Returns the 2-vector (a ``Matrix``) after simplification.

    Examples
    --------
    >>> from alignlimits.symbolic.proxy import gaussian_tilt_shift
    >>> gaussian_tilt_shift().tolist()  # zero gradient: the tilt of a Gaussian is a shifted Gaussian
    [[0], [0]]
    """
    g = gaussian_symbols()
    x = sp.Matrix(sp.symbols("x1 x2", real=True))
    mu = sp.Matrix(sp.symbols("mu1 mu2", real=True))
    a = sp.Matrix(sp.symbols("a1 a2", real=True))
    prec = g.covariance.inv()

    def log_density(mean):
        d = x - mean
        return -(d.T * prec * d)[0, 0] / 2

    diff = log_density(mu) + (a.T * x)[0, 0] / g.beta - log_density(mu + g.covariance * a / g.beta)
    return sp.simplify(sp.Matrix([sp.diff(diff, xi) for xi in x]))


def _gaussian_kl_same_cov(delta: sp.Matrix, cov: sp.Matrix) -> sp.Expr:
    """KL between Gaussians with one covariance and means ``delta`` apart: ``δ^T Σ⁻¹δ/2``."""
    return (delta.T * cov.inv() * delta)[0, 0] / 2


def gaussian_proxy_loss() -> sp.Eq:
    r"""``β KL(π̂_β‖π_β) = s²/(2β)`` for jointly Gaussian ``(r, e)`` with any correlation ρ.

    ``π_β`` tilts by ``r/β = (1, 0)·x/β`` and ``π̂_β`` by ``(1, 1)·x/β``, so their means
    are ``Σ(1,0)/β`` and ``Σ(1,1)/β`` (:func:`gaussian_tilt_shift`), ``δ = Σ(0,1)/β``
    and ``δ^T Σ⁻¹δ = (0,1)Σ(0,1)/β² = s²/β²``.

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.proxy import gaussian_proxy_loss
    >>> eq = gaussian_proxy_loss()
    >>> eq.rhs, sp.simplify(eq.lhs - eq.rhs)  # s²/(2β), whatever the correlation
    (s**2/(2*beta), 0)
    """
    g = gaussian_symbols()
    delta = g.covariance * sp.Matrix([0, 1]) / g.beta
    loss = g.beta * _gaussian_kl_same_cov(delta, g.covariance)
    return sp.Eq(loss, g.s**2 / (2 * g.beta), evaluate=False)


def gaussian_matched_gap_correlated() -> tuple[sp.Expr, dict[str, sp.Expr]]:
    r"""The gap at matched KL for jointly Gaussian ``(r, e)`` with correlation ρ.

    Returns ``(gap, parts)`` with ``parts`` holding ``kl = KL(π̂_β‖π0)``,
    ``true_gain = E_{π̂_β} r − E r`` and ``matched = sqrt(2σ² kl)`` (the Gaussian
    frontier). ``gap = (σ/β)(sqrt(σ² + 2ρσs + s²) − σ − ρs) ≥ 0``.

    Examples
    --------
    >>> from alignlimits.symbolic.proxy import gaussian_matched_gap_correlated
    >>> gap, parts = gaussian_matched_gap_correlated()
    >>> parts["true_gain"]
    sigma*(rho*s + sigma)/beta
    """
    g = gaussian_symbols()
    one_one = sp.Matrix([1, 1])
    shift = g.covariance * one_one / g.beta  # mean of (r, e) under π̂_β
    kl = sp.factor(sp.simplify(_gaussian_kl_same_cov(shift, g.covariance)))
    true_gain = sp.simplify(shift[0])
    matched = sp.sqrt(2 * g.sigma**2 * kl)
    parts = {"kl": kl, "true_gain": true_gain, "matched": matched}
    return matched - true_gain, parts


def gaussian_matched_gap() -> sp.Eq:
    r"""Independent Gaussian ``r`` and ``e``: ``gap = (σ/β)(sqrt(σ² + s²) − σ)``.

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.proxy import gaussian_matched_gap
    >>> eq = gaussian_matched_gap()
    >>> sp.simplify(eq.lhs - eq.rhs)
    0
    """
    g = gaussian_symbols()
    gap, _ = gaussian_matched_gap_correlated()
    return sp.Eq(gap.subs(g.rho, 0), (g.sigma / g.beta) * (sp.sqrt(g.sigma**2 + g.s**2) - g.sigma), evaluate=False)


def gaussian_gain_fraction() -> sp.Eq:
    r"""At matched KL the proxy policy earns ``true_gain/matched = corr(r, r̂)`` of the optimal gain.

    For Gaussian ``(r, e)`` with correlation ρ this is
    ``(σ + ρs)/sqrt(σ² + 2ρσs + s²)``, the correlation of ``r`` with ``r̂ = r + e``;
    it does not depend on β (nor on the budget).

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.proxy import gaussian_gain_fraction
    >>> eq = gaussian_gain_fraction()
    >>> sp.simplify(eq.lhs - eq.rhs)  # corr(r, r + e), whatever β
    0
    """
    g = gaussian_symbols()
    _, parts = gaussian_matched_gap_correlated()
    corr = (g.covariance[0, 0] + g.covariance[0, 1]) / (
        g.sigma * sp.sqrt(g.covariance[0, 0] + 2 * g.covariance[0, 1] + g.covariance[1, 1])
    )
    return sp.Eq(parts["true_gain"] / parts["matched"], corr, evaluate=False)


def ensemble_error_variance(m: int | None = None) -> sp.Eq:
    r"""``Var((1/m) Σ_j e_j) = s²(ρ + (1 − ρ)/m)`` for pairwise correlation ρ.

    With ``m`` an integer the covariance matrix ``s²((1 − ρ)I + ρ11^T)`` is built and
    ``1^T Σ1/m²`` computed; with ``m=None`` the same count is done symbolically:
    ``m`` diagonal terms ``s²`` and ``m(m − 1)`` off-diagonal terms ``ρs²``.

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.proxy import ensemble_error_variance
    >>> eq = ensemble_error_variance(3)
    >>> sp.simplify(eq.lhs - eq.rhs), eq.rhs
    (0, s**2*(2*rho/3 + 1/3))
    """
    g = gaussian_symbols()
    if m is None:
        size = g.m
        derived = (size * g.s**2 + size * (size - 1) * g.rho * g.s**2) / size**2
    else:
        if not isinstance(m, int) or m < 1:
            raise ValueError(f"m must be a positive integer number of members (or None); got {m!r}.")
        size = sp.Integer(m)
        cov = g.s**2 * ((1 - g.rho) * sp.eye(m) + g.rho * sp.ones(m, m))
        ones = sp.ones(m, 1)
        derived = (ones.T * cov * ones)[0, 0] / size**2
    return sp.Eq(derived, g.s**2 * (g.rho + (1 - g.rho) / size), evaluate=False)


def ensemble_matched_gap() -> tuple[sp.Expr, sp.Expr]:
    r"""Gap at matched KL of the mean of ``m`` members (Gaussian errors, correlation ρ), and its floor.

    The mean ensemble is ``r + ē`` with ``Var ē = s²(ρ + (1 − ρ)/m)`` and ``ē``
    independent of ``r``, so the independent-error gap applies with that variance.
    Returns ``(gap(m), floor)``, ``floor = lim_{m→∞} gap(m) = (σ/β)(sqrt(σ² + ρs²) − σ)``.

    Examples
    --------
    >>> from alignlimits.symbolic.proxy import ensemble_matched_gap
    >>> gap, floor = ensemble_matched_gap()
    >>> floor  # averaging removes all but the shared error ρ s²
    sigma*(-sigma + sqrt(rho*s**2 + sigma**2))/beta
    """
    g = gaussian_symbols()
    var_mean = ensemble_error_variance().rhs
    gap = (g.sigma / g.beta) * (sp.sqrt(g.sigma**2 + var_mean) - g.sigma)
    floor = sp.limit(gap, g.m, sp.oo)
    return gap, floor
