r"""The KL–reward frontier, derived with SymPy: the Jeffreys identity and closed forms.

Two levels of generality:

* **a discrete base** with ``k`` outcomes (weights ``q_i > 0``, rewards ``r_i``):
  the tilt ``π_β(i) = q_i e^{r_i/β}/Z_β`` is written out and the gain, both KL
  divergences and the Jeffreys divergence are computed from their definitions;
* **any reward law**, through its cumulant function ``Λ(λ) = log E_π0 e^{λr}``
  (an undefined SymPy ``Function``) with ``λ = 1/β``:

  - gain ``Δ = Λ'(λ) − Λ'(0)``,
  - ``KL(π_β‖π0) = λΛ'(λ) − Λ(λ)``,
  - ``KL(π0‖π_β) = Λ(λ) − λΛ'(0)``,
  - Jeffreys identity ``Δ = β (KL + reverse KL)``,
  - budget form ``Δ*(ε) = β_ε (ε + KL(π0‖π_{β_ε}))``,
  - slope ``dΔ/dKL = β`` and curvature ``d²Δ/dKL² = dβ/dKL = −β³/Var_{π_β}(r) < 0``.

Closed forms (:func:`closed_form`) for the Gaussian, Bernoulli, exponential, uniform
and categorical reward laws are *derived* from their cumulant functions by
differentiation, not typed in. Every function returns SymPy expressions or
``sp.Eq``; check an equation with :func:`residual` (``simplify(lhs − rhs)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp

__all__ = [
    "LAWS",
    "ClosedForm",
    "CumulantFrontier",
    "DiscreteFrontier",
    "budget_form",
    "closed_form",
    "cumulant_form_equations",
    "cumulant_frontier",
    "cumulant_jeffreys_identity",
    "discrete_frontier",
    "frontier_curvature",
    "frontier_monotonicity",
    "frontier_slope",
    "jeffreys_identity",
    "residual",
    "shift_invariance",
    "small_budget_expansion",
]

#: The reward laws :func:`closed_form` knows.
LAWS = ("gaussian", "bernoulli", "exponential", "uniform", "categorical")

beta = sp.Symbol("beta", positive=True)
lam = sp.Symbol("lambda", positive=True)
eps = sp.Symbol("epsilon", positive=True)


def residual(eq: sp.Eq) -> sp.Expr:
    """``lhs − rhs`` simplified after expanding logarithms (every symbol here is positive or real).

    Examples
    --------
    >>> from alignlimits.symbolic.frontier import jeffreys_identity, residual
    >>> residual(jeffreys_identity(2))
    0
    """
    diff = sp.expand_log(eq.lhs - eq.rhs, force=True)
    out = sp.simplify(diff)
    return out if out == 0 else sp.simplify(sp.expand(sp.powsimp(out, force=True)))


# --------------------------------------------------------------------------------------
# A discrete base distribution, from the definitions.


@dataclass(frozen=True)
class DiscreteFrontier:
    """Symbols and frontier quantities for a base with ``k`` outcomes.

    ``q`` are unnormalised positive weights (``π0 = q / Σq``), so no constraint ties
    the symbols together. ``tilt`` is ``π_β`` written out; ``gain``, ``kl``,
    ``reverse_kl`` and ``jeffreys`` follow from their definitions.

    Examples
    --------
    >>> from alignlimits.symbolic.frontier import discrete_frontier
    >>> d = discrete_frontier(2)
    >>> d.q, d.r, d.base
    ((q1, q2), (r1, r2), (q1/(q1 + q2), q2/(q1 + q2)))
    """

    q: tuple[sp.Symbol, ...]
    r: tuple[sp.Symbol, ...]
    beta: sp.Symbol
    base: tuple[sp.Expr, ...]
    tilt: tuple[sp.Expr, ...]
    partition: sp.Expr
    gain: sp.Expr
    kl: sp.Expr
    reverse_kl: sp.Expr
    jeffreys: sp.Expr


@lru_cache(maxsize=8)
def discrete_frontier(k: int = 3) -> DiscreteFrontier:
    """Build the tilt of a ``k``-outcome base and its gain and divergences from definitions.

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.frontier import discrete_frontier
    >>> d = discrete_frontier(2)
    >>> values = {d.q[0]: 1, d.q[1]: 1, d.r[0]: 0, d.r[1]: 1, d.beta: 1}
    >>> round(float(d.gain.subs(values)), 6)  # as alignlimits.tilting.frontier([0.5, 0.5], [0, 1], 1)
    0.231059
    """
    if not isinstance(k, int) or k < 2:
        raise ValueError(f"need an integer k >= 2 outcomes (one outcome has no frontier); got k={k!r}.")
    q = sp.symbols(f"q1:{k + 1}", positive=True)
    r = sp.symbols(f"r1:{k + 1}", real=True)
    total = sum(q)
    base = tuple(qi / total for qi in q)
    z = sum(p0 * sp.exp(ri / beta) for p0, ri in zip(base, r, strict=True))
    tilt = tuple(p0 * sp.exp(ri / beta) / z for p0, ri in zip(base, r, strict=True))
    gain = sum(pi * ri for pi, ri in zip(tilt, r, strict=True)) - sum(p0 * ri for p0, ri in zip(base, r, strict=True))
    kl = sum(pi * sp.log(pi / p0) for pi, p0 in zip(tilt, base, strict=True))
    reverse_kl = sum(p0 * sp.log(p0 / pi) for pi, p0 in zip(tilt, base, strict=True))
    return DiscreteFrontier(q, r, beta, base, tilt, z, gain, kl, reverse_kl, kl + reverse_kl)


def jeffreys_identity(k: int = 3) -> sp.Eq:
    r"""``Δ(β) = β · J(π_β, π0)`` for a ``k``-outcome base, from the definitions.

    Examples
    --------
    >>> from alignlimits.symbolic.frontier import jeffreys_identity, residual
    >>> residual(jeffreys_identity(2))  # Δ(β) = β J(π_β, π0)
    0
    """
    d = discrete_frontier(k)
    return sp.Eq(d.gain, d.beta * d.jeffreys, evaluate=False)


def cumulant_form_equations(k: int = 3) -> list[sp.Eq]:
    r"""The discrete gain, KL and reverse KL equal their cumulant forms.

    With ``Λ(λ) = log Σ_i π0(i) e^{λ r_i}`` and ``λ = 1/β`` the three equations are
    ``gain = Λ'(λ) − Λ'(0)``, ``KL = λΛ'(λ) − Λ(λ)``, ``reverse KL = Λ(λ) − λΛ'(0)``.

    Examples
    --------
    >>> from alignlimits.symbolic.frontier import cumulant_form_equations, residual
    >>> [residual(eq) for eq in cumulant_form_equations(2)]
    [0, 0, 0]
    """
    d = discrete_frontier(k)
    cumulant = sp.log(sum(p0 * sp.exp(lam * ri) for p0, ri in zip(d.base, d.r, strict=True)))
    d1 = sp.diff(cumulant, lam)
    d1_at0 = d1.subs(lam, 0)
    to_beta = {lam: 1 / beta}
    return [
        sp.Eq(d.gain, (d1 - d1_at0).subs(to_beta), evaluate=False),
        sp.Eq(d.kl, (lam * d1 - cumulant).subs(to_beta), evaluate=False),
        sp.Eq(d.reverse_kl, (cumulant - lam * d1_at0).subs(to_beta), evaluate=False),
    ]


# --------------------------------------------------------------------------------------
# Any reward law, through its cumulant function.


@dataclass(frozen=True)
class CumulantFrontier:
    """Frontier quantities as functions of ``λ = 1/β`` for a generic cumulant ``Λ``.

    Examples
    --------
    >>> from alignlimits.symbolic.frontier import cumulant_frontier
    >>> c = cumulant_frontier()
    >>> c.kl
    lambda*Derivative(Lambda(lambda), lambda) - Lambda(lambda)
    """

    lam: sp.Symbol
    cumulant: sp.Function
    gain: sp.Expr
    kl: sp.Expr
    reverse_kl: sp.Expr
    base_mean: sp.Expr


def _cumulant_quantities(cumulant_expr: sp.Expr, d1: sp.Expr, base_mean: sp.Expr) -> tuple[sp.Expr, ...]:
    gain = d1 - base_mean
    kl = lam * d1 - cumulant_expr
    reverse_kl = cumulant_expr - lam * base_mean
    return gain, kl, reverse_kl


def cumulant_frontier() -> CumulantFrontier:
    r"""``Δ = Λ'(λ) − Λ'(0)``, ``KL = λΛ'(λ) − Λ(λ)``, ``KL(π0‖π_β) = Λ(λ) − λΛ'(0)``.

    ``Λ`` is an undefined function, so everything derived from these expressions
    holds for every reward law with a finite cumulant function at ``λ``.
    Why these are right: ``log(π_λ/π0) = λr − Λ(λ)`` and ``E_{π_λ}[r] = Λ'(λ)``;
    :func:`cumulant_form_equations` checks them against a discrete base.

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.frontier import cumulant_frontier
    >>> c = cumulant_frontier()
    >>> s = sp.Symbol("sigma", positive=True)
    >>> gaussian = lambda e: e.replace(c.cumulant, sp.Lambda(c.lam, s**2 * c.lam**2 / 2)).doit()
    >>> gaussian(c.gain), gaussian(c.kl)  # σ²/β and σ²/(2β²)
    (lambda*sigma**2, lambda**2*sigma**2/2)
    """
    big_lambda = sp.Function("Lambda")
    d1 = sp.diff(big_lambda(lam), lam)
    base_mean = sp.Subs(d1, lam, 0)
    gain, kl, reverse_kl = _cumulant_quantities(big_lambda(lam), d1, base_mean)
    return CumulantFrontier(lam, big_lambda, gain, kl, reverse_kl, base_mean)


def cumulant_jeffreys_identity() -> sp.Eq:
    r"""``Λ'(λ) − Λ'(0) = (1/λ)·(KL + reverse KL)``: the Jeffreys identity for every law.

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.frontier import cumulant_jeffreys_identity
    >>> eq = cumulant_jeffreys_identity()
    >>> sp.simplify(eq.lhs - eq.rhs)
    0
    """
    c = cumulant_frontier()
    return sp.Eq(c.gain, (c.kl + c.reverse_kl) / c.lam, evaluate=False)


def budget_form() -> sp.Eq:
    r"""``Δ*(ε) = β_ε (ε + KL(π0‖π_{β_ε}))`` where ``ε = KL(π_{β_ε}‖π0)``.

    The budget ``ε`` is replaced by the KL it equals, so the equation is an identity
    in ``λ_ε = 1/β_ε``.

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.frontier import budget_form
    >>> eq = budget_form()
    >>> sp.simplify(eq.lhs - eq.rhs)
    0
    """
    c = cumulant_frontier()
    rhs = (eps + c.reverse_kl) / c.lam
    return sp.Eq(c.gain, rhs.subs(eps, c.kl), evaluate=False)


def frontier_slope() -> sp.Eq:
    r"""``dΔ/dKL = (dΔ/dλ)/(dKL/dλ) = 1/λ = β`` along the frontier (``Λ'' > 0``).

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.frontier import frontier_slope
    >>> eq = frontier_slope()
    >>> sp.simplify(eq.lhs - eq.rhs), eq.rhs  # dΔ/dKL = 1/λ = β
    (0, 1/lambda)
    """
    c = cumulant_frontier()
    slope = sp.diff(c.gain, c.lam) / sp.diff(c.kl, c.lam)
    return sp.Eq(slope, 1 / c.lam, evaluate=False)


def frontier_monotonicity() -> tuple[sp.Eq, sp.Eq]:
    r"""``dΔ/dλ = Λ''(λ)`` and ``dKL/dλ = λΛ''(λ)``.

    ``Λ''(λ) = Var_{π_λ}(r) > 0`` for a non-constant reward, so both the gain and the
    KL grow strictly as β falls (λ rises): the frontier is increasing.

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.frontier import frontier_monotonicity
    >>> [sp.simplify(eq.lhs - eq.rhs) for eq in frontier_monotonicity()]
    [0, 0]
    """
    c = cumulant_frontier()
    second = sp.diff(c.cumulant(c.lam), c.lam, 2)
    return (
        sp.Eq(sp.diff(c.gain, c.lam), second, evaluate=False),
        sp.Eq(sp.diff(c.kl, c.lam), c.lam * second, evaluate=False),
    )


def frontier_curvature() -> sp.Eq:
    r"""``d²Δ/dKL² = dβ/dKL = −1/(λ³ Λ''(λ)) = −β³ / Var_{π_β}(r)``: the frontier is concave.

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.frontier import frontier_curvature
    >>> eq = frontier_curvature()
    >>> sp.simplify(eq.lhs - eq.rhs)
    0
    """
    c = cumulant_frontier()
    slope = sp.diff(c.gain, c.lam) / sp.diff(c.kl, c.lam)
    curvature = sp.diff(slope, c.lam) / sp.diff(c.kl, c.lam)
    second = sp.diff(c.cumulant(c.lam), c.lam, 2)
    return sp.Eq(curvature, -1 / (c.lam**3 * second), evaluate=False)


def shift_invariance() -> list[sp.Eq]:
    r"""Adding a constant ``c`` to the reward (``Λ → Λ + cλ``) changes no frontier quantity.

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.frontier import shift_invariance
    >>> [sp.simplify(eq.lhs - eq.rhs) for eq in shift_invariance()]
    [0, 0, 0]
    """
    c = cumulant_frontier()
    shift = sp.Symbol("c", real=True)
    shifted = c.cumulant(c.lam) + shift * c.lam
    d1 = sp.diff(shifted, c.lam)
    gain, kl, reverse_kl = _cumulant_quantities(shifted, d1, sp.Subs(d1, c.lam, 0).doit())
    return [
        sp.Eq(gain.doit(), c.gain.doit(), evaluate=False),
        sp.Eq(kl, c.kl, evaluate=False),
        sp.Eq(reverse_kl.doit(), c.reverse_kl.doit(), evaluate=False),
    ]


def small_budget_expansion() -> tuple[sp.Eq, tuple[sp.Symbol, ...]]:
    r"""``Δ*(ε)`` for small budgets from the first four cumulants ``κ1..κ4`` of the reward.

    Writes ``Λ(λ) = κ1λ + κ2λ²/2 + κ3λ³/6 + κ4λ⁴/24 + O(λ⁵)``, solves ``KL(λ) = ε``
    for ``λ`` as a series in ``s = sqrt(ε)`` order by order (the positive root), and
    substitutes into the gain:

    ``Δ*(ε) = σ sqrt(2ε) + κ3 ε/(3σ²) + sqrt(2)(3κ2κ4 − 4κ3²) ε^{3/2}/(36 κ2^{5/2}) + O(ε²)``

    with ``σ² = κ2``. Skewness (``κ3``) decides whether ``σ·sqrt(2ε)`` under- or
    overstates the frontier at small budgets; for symmetric laws kurtosis does.
    Returns the equation (``lhs`` the symbol ``Delta_star``) and ``(κ1, κ2, κ3, κ4)``.

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.frontier import eps, small_budget_expansion
    >>> eq, (k1, k2, k3, k4) = small_budget_expansion()
    >>> s = sp.Symbol("sigma", positive=True)
    >>> sp.simplify(eq.rhs.subs({k2: s**2, k3: 0, k4: 0}))  # Gaussian: the √KL law, exactly
    sqrt(2)*sqrt(epsilon)*sigma
    """
    kappa1, kappa3, kappa4 = sp.symbols("kappa1 kappa3 kappa4", real=True)
    kappa2 = sp.Symbol("kappa2", positive=True)
    root_eps = sp.Symbol("s", positive=True)
    cumulant = kappa1 * lam + kappa2 * lam**2 / 2 + kappa3 * lam**3 / 6 + kappa4 * lam**4 / 24
    d1 = sp.diff(cumulant, lam)
    gain, kl, _ = _cumulant_quantities(cumulant, d1, kappa1)
    coeffs = sp.symbols("c1:4")
    lam_series = sum(c * root_eps ** (n + 1) for n, c in enumerate(coeffs))
    kl_series = sp.expand(sp.series(kl.subs(lam, lam_series) - root_eps**2, root_eps, 0, 5).removeO())
    solved: dict[sp.Symbol, sp.Expr] = {}
    for order, coeff in zip((2, 3, 4), coeffs, strict=True):
        roots = sp.solve(kl_series.coeff(root_eps, order).subs(solved), coeff)
        if order == 2:  # c1² κ2/2 = 1: keep λ > 0
            roots = [r for r in roots if r.is_positive]
        (solved[coeff],) = roots
    gain_series = sp.expand(sp.series(gain.subs(lam, lam_series).subs(solved), root_eps, 0, 4).removeO())
    expansion = sum(sp.simplify(gain_series.coeff(root_eps, n)) * eps ** sp.Rational(n, 2) for n in (1, 2, 3))
    return sp.Eq(sp.Symbol("Delta_star"), expansion, evaluate=False), (kappa1, kappa2, kappa3, kappa4)


# --------------------------------------------------------------------------------------
# Closed forms per reward law, derived from the cumulant function.


@dataclass(frozen=True)
class ClosedForm:
    r"""The frontier of one reward law as functions of β.

    Attributes
    ----------
    law : the law's name (one of :data:`LAWS`).
    params : the law's parameter symbols, in the order its constructor takes them.
    cumulant : ``Λ(λ)`` with ``λ = 1/β`` already substituted (an expression in β).
    base_mean, variance : ``Λ'(0)`` and ``Λ''(0)``.
    gain, kl, reverse_kl : frontier quantities as expressions in β and ``params``.
    gain_at_kl : ``Δ*(ε)`` as an expression in ``epsilon`` where an elementary or
        Lambert-W inverse exists, else ``None``.
    condition : where the expressions hold (e.g. ``β > 1/θ``), ``sp.true`` if always.

    Examples
    --------
    >>> from alignlimits.symbolic.frontier import closed_form
    >>> form = closed_form("gaussian")
    >>> form.params, form.gain, form.kl
    ((mu, sigma), sigma**2/beta, sigma**2/(2*beta**2))
    >>> float(form.numeric("gain")(2.0, 0.0, 2.0))  # β = 2, μ = 0, σ = 2
    2.0
    """

    law: str
    params: tuple[sp.Symbol, ...]
    cumulant: sp.Expr
    base_mean: sp.Expr
    variance: sp.Expr
    gain: sp.Expr
    kl: sp.Expr
    reverse_kl: sp.Expr
    gain_at_kl: sp.Expr | None
    condition: sp.Basic

    def numeric(self, name: str):
        """``lambdify`` a quantity (``"gain"``, ``"kl"``, ...) as ``f(beta, *params)`` (numpy)."""
        expr = getattr(self, name)
        if expr is None:
            raise ValueError(f"the {self.law} law has no closed form for {name}.")
        first = eps if name == "gain_at_kl" else beta
        fn = sp.lambdify((first, *self.params), expr, modules=["numpy", "scipy"])
        # scipy's lambertw returns complex numbers; on the branch used here they are real.
        return lambda *args: np.real(fn(*args))


_WIDTH = sp.Symbol("w", positive=True)  # the uniform law's b − a, positive so limits are fast


def _law_cumulant(law: str, k: int) -> tuple[tuple[sp.Symbol, ...], sp.Expr, sp.Basic]:
    if law == "gaussian":
        mu, sigma = sp.Symbol("mu", real=True), sp.Symbol("sigma", positive=True)
        return (mu, sigma), mu * lam + sigma**2 * lam**2 / 2, sp.true
    if law == "bernoulli":
        p = sp.Symbol("p", positive=True)
        return (p,), sp.log(1 - p + p * sp.exp(lam)), sp.true
    if law == "exponential":
        rate = sp.Symbol("theta", positive=True)
        # E e^{λr} = θ/(θ−λ), finite only for λ < θ, i.e. β > 1/θ.
        return (rate,), sp.log(rate) - sp.log(rate - lam), sp.StrictGreaterThan(beta, 1 / rate)
    if law == "uniform":
        a, b = sp.Symbol("a", real=True), sp.Symbol("b", real=True)
        # E e^{λr} = (e^{λb} − e^{λa}) / (λ(b − a)), written with the width w = b − a > 0
        # (replaced by b − a once the limits at λ = 0 are taken).
        w = _WIDTH
        return (a, b), lam * a + sp.log((sp.exp(lam * w) - 1) / (lam * w)), sp.StrictGreaterThan(b, a)
    if law == "categorical":
        if not isinstance(k, int) or k < 2:
            raise ValueError(f"a categorical law needs an integer k >= 2 outcomes; got k={k!r}.")
        values = sp.symbols(f"v1:{k + 1}", real=True)
        weights = sp.symbols(f"w1:{k + 1}", positive=True)
        mgf = sum(wi * sp.exp(lam * vi) for wi, vi in zip(weights, values, strict=True)) / sum(weights)
        return (*values, *weights), sp.log(mgf), sp.true
    raise ValueError(f"unknown reward law {law!r}; choose one of {', '.join(LAWS)}.")


@lru_cache(maxsize=16)
def closed_form(law: str, k: int = 3) -> ClosedForm:
    r"""Derive the closed-form frontier of ``law`` from its cumulant function.

    ``gain = Λ'(λ) − Λ'(0)``, ``KL = λΛ'(λ) − Λ(λ)``, ``reverse KL = Λ(λ) − λΛ'(0)``
    with ``λ = 1/β``; ``Λ'(0)`` and ``Λ''(0)`` are limits (the uniform law's ``Λ`` is
    0/0 at ``λ = 0``). ``Δ*(ε)`` is found by solving ``KL = ε`` for λ:

    * Gaussian: ``λ_ε = sqrt(2ε)/σ``, so ``Δ* = σ sqrt(2ε)``;
    * exponential: the mean ratio ``t = θ/(θ−λ)`` solves ``t − 1 − log t = ε``,
      ``t = −W_{−1}(−e^{−1−ε})`` (the branch with ``t > 1``), ``Δ* = (t − 1)/θ``;
    * Bernoulli, uniform, categorical: ``KL = ε`` has no closed-form root (``None``).

    ``k`` is the number of outcomes of the categorical law (ignored otherwise).

    Examples
    --------
    >>> from alignlimits.symbolic.frontier import closed_form
    >>> closed_form("gaussian").gain_at_kl
    sqrt(2)*sqrt(epsilon)*sigma
    >>> closed_form("exponential").condition
    beta > 1/theta
    >>> closed_form("bernoulli").gain_at_kl is None  # KL = ε has no closed-form root
    True
    """
    params, cumulant, condition = _law_cumulant(law, k)
    d1 = sp.diff(cumulant, lam)
    d2 = sp.diff(cumulant, lam, 2)
    base_mean = sp.simplify(sp.limit(d1, lam, 0, "+"))
    variance = sp.simplify(sp.limit(d2, lam, 0, "+"))
    gain, kl, reverse_kl = _cumulant_quantities(cumulant, d1, base_mean)
    to_beta = {lam: 1 / beta}
    if law == "uniform":
        a, b = params
        to_beta[_WIDTH] = b - a
        base_mean, variance = (sp.factor(e.subs(_WIDTH, b - a)) for e in (base_mean, variance))
    # simplify() only where it is quick and helps; the sums of exponentials are left as derived.
    tidy = sp.simplify if law in ("gaussian", "bernoulli", "exponential") else (lambda e: e)
    gain, kl, reverse_kl = (tidy(e.subs(to_beta)) for e in (gain, kl, reverse_kl))
    gain_at_kl = None
    if law == "gaussian":
        kl_lam = kl.subs(beta, 1 / lam)
        (root,) = [s for s in sp.solve(sp.Eq(kl_lam, eps), lam) if s.is_positive is not False]
        gain_at_kl = sp.simplify(gain.subs(beta, 1 / root))
    elif law == "exponential":
        (rate,) = params
        ratio = -sp.LambertW(-sp.exp(-1 - eps), -1)  # t = θ/(θ − λ) > 1
        gain_at_kl = (ratio - 1) / rate
    return ClosedForm(law, params, cumulant.subs(to_beta), base_mean, variance, gain, kl, reverse_kl, gain_at_kl,
                      condition)
