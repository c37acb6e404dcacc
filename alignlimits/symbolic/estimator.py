r"""The covariance form of the frontier and the bias of its sample estimator, with SymPy.

For a base law ``π0`` (``k`` outcomes with probabilities ``q_i`` and rewards ``r_i``)
and ``β > 0`` let ``π_β ∝ q e^{r/β}``. Everything on the frontier is a ratio of
base-model expectations of ``e^{r/β}``:

* gain ``Δ(β) = E_{π_β}[r] − E_{π0}[r] = Cov_{π0}(r, e^{r/β}) / E_{π0}[e^{r/β}]``;
* ``KL(π_β‖π0) = E_{π0}[r e^{r/β}] / (β E_{π0}[e^{r/β}]) − log E_{π0}[e^{r/β}]``;
* ``KL(π0‖π_β) = log E_{π0}[e^{r/β}] − E_{π0}[r]/β``.

Replacing ``π0`` by the empirical law of ``n`` samples (``q_i = 1/n``) gives the
estimator of :mod:`alignlimits.estimator`, whose KL is ``log n − H(w̃)``.

The first-order (delta-method) bias of that estimator, for a reward law given by its
cumulant generating function ``K(t) = log E_{π0} e^{t r}`` and ``λ = 1/β``: with
``A = r e^{λr}``, ``B = e^{λr}``, ``a = E A``, ``b = E B``,

* ``n · bias(gain) ≈ a Var B / b³ − Cov(A, B) / b²``  (ratio-estimator bias),
* ``n · bias(KL)   ≈ λ · n · bias(gain) + Var B / (2 b²)``,
* ``n · bias(reverse KL) ≈ −Var B / (2 b²)``,

where ``Var B / b² = e^{K(2λ) − 2K(λ)} − 1 = χ²(π_β‖π0)``. For Gaussian rewards
``n · bias(gain) ≈ −Δ e^{2 KL}``: the relative bias is ``−e^{2ε}/n`` at budget ``ε``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

__all__ = [
    "BiasTerms",
    "bernoulli_cgf",
    "covariance_form",
    "first_order_bias",
    "gaussian_cgf",
    "kl_from_base_expectations",
    "plug_in_kl_entropy",
    "reverse_kl_from_base_expectations",
]


def _discrete(k: int) -> tuple[tuple[sp.Symbol, ...], tuple[sp.Symbol, ...], sp.Symbol]:
    if k < 2:
        raise ValueError(f"need at least 2 outcomes; got k={k}.")
    q = sp.symbols(f"q1:{k + 1}", positive=True)
    r = sp.symbols(f"r1:{k + 1}", real=True)
    beta = sp.Symbol("beta", positive=True)
    return q, r, beta


def _base_expectation(q: tuple[sp.Symbol, ...], values: list[sp.Expr]) -> sp.Expr:
    # q is normalised by dividing by Σq, so no constraint on the symbols is needed
    return sum(qi * v for qi, v in zip(q, values, strict=True)) / sum(q)


def _tilt(q: tuple[sp.Symbol, ...], r: tuple[sp.Symbol, ...], beta: sp.Symbol) -> list[sp.Expr]:
    z = sum(qi * sp.exp(ri / beta) for qi, ri in zip(q, r, strict=True))
    return [qi * sp.exp(ri / beta) / z for qi, ri in zip(q, r, strict=True)]


def covariance_form(k: int = 3) -> sp.Eq:
    r"""``E_{π_β}[r] − E_{π0}[r] = Cov_{π0}(r, e^{r/β}) / E_{π0}[e^{r/β}]`` for ``k`` outcomes.

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.estimator import covariance_form
    >>> eq = covariance_form(2)
    >>> sp.simplify(eq.lhs - eq.rhs)
    0
    """
    q, r, beta = _discrete(k)
    p = _tilt(q, r, beta)
    gain = sum(pi * ri for pi, ri in zip(p, r, strict=True)) - _base_expectation(q, list(r))
    e = [sp.exp(ri / beta) for ri in r]
    mean_r, mean_e = _base_expectation(q, list(r)), _base_expectation(q, e)
    cov = _base_expectation(q, [ri * ei for ri, ei in zip(r, e, strict=True)]) - mean_r * mean_e
    return sp.Eq(gain, cov / mean_e, evaluate=False)


def kl_from_base_expectations(k: int = 3) -> sp.Eq:
    r"""``KL(π_β‖π0) = E_{π0}[r e^{r/β}]/(β E_{π0}[e^{r/β}]) − log E_{π0}[e^{r/β}]``.

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.estimator import kl_from_base_expectations
    >>> eq = kl_from_base_expectations(2)
    >>> sp.simplify(sp.expand_log(eq.lhs - eq.rhs, force=True))
    0
    """
    q, r, beta = _discrete(k)
    p = _tilt(q, r, beta)
    qn = [qi / sum(q) for qi in q]
    kl = sum(pi * sp.log(pi / qi) for pi, qi in zip(p, qn, strict=True))
    e = [sp.exp(ri / beta) for ri in r]
    mean_e = _base_expectation(q, e)
    mean_re = _base_expectation(q, [ri * ei for ri, ei in zip(r, e, strict=True)])
    return sp.Eq(kl, mean_re / (beta * mean_e) - sp.log(mean_e), evaluate=False)


def reverse_kl_from_base_expectations(k: int = 3) -> sp.Eq:
    r"""``KL(π0‖π_β) = log E_{π0}[e^{r/β}] − E_{π0}[r]/β``.

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.estimator import reverse_kl_from_base_expectations
    >>> eq = reverse_kl_from_base_expectations(2)
    >>> sp.simplify(sp.expand_log(eq.lhs - eq.rhs, force=True))
    0
    """
    q, r, beta = _discrete(k)
    p = _tilt(q, r, beta)
    qn = [qi / sum(q) for qi in q]
    rkl = sum(qi * sp.log(qi / pi) for pi, qi in zip(p, qn, strict=True))
    e = [sp.exp(ri / beta) for ri in r]
    return sp.Eq(rkl, sp.log(_base_expectation(q, e)) - _base_expectation(q, list(r)) / beta, evaluate=False)


def plug_in_kl_entropy(n: int = 4) -> sp.Eq:
    r"""On ``n`` equally likely samples: ``Σ w̃ log(n w̃) = log n − H(w̃)`` with ``w̃ = softmax(r/β)``.

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.estimator import plug_in_kl_entropy
    >>> eq = plug_in_kl_entropy(3)
    >>> sp.simplify(sp.expand_log(eq.lhs - eq.rhs, force=True))
    0
    """
    _, r, beta = _discrete(n)
    z = sum(sp.exp(ri / beta) for ri in r)
    w = [sp.exp(ri / beta) / z for ri in r]
    kl = sum(wi * sp.log(n * wi) for wi in w)
    entropy = -sum(wi * sp.log(wi) for wi in w)
    return sp.Eq(kl, sp.log(n) - entropy, evaluate=False)


def gaussian_cgf() -> tuple[sp.Expr, sp.Symbol, dict[str, sp.Symbol]]:
    """``K(t) = μ t + σ² t²/2``, the variable ``t`` and the parameters ``{"mu", "sigma"}``.

    Examples
    --------
    >>> from alignlimits.symbolic.estimator import gaussian_cgf
    >>> cgf, t, params = gaussian_cgf()
    >>> cgf, sorted(params)
    (mu*t + sigma**2*t**2/2, ['mu', 'sigma'])
    """
    t = sp.Symbol("t", real=True)
    mu = sp.Symbol("mu", real=True)
    sigma = sp.Symbol("sigma", positive=True)
    return mu * t + sigma**2 * t**2 / 2, t, {"mu": mu, "sigma": sigma}


def bernoulli_cgf() -> tuple[sp.Expr, sp.Symbol, dict[str, sp.Symbol]]:
    """``K(t) = log(1 − p + p e^t)`` (rewards 0/1), ``t`` and ``{"p"}``.

    Examples
    --------
    >>> from alignlimits.symbolic.estimator import bernoulli_cgf
    >>> cgf, t, params = bernoulli_cgf()
    >>> cgf
    log(p*exp(t) - p + 1)
    """
    t = sp.Symbol("t", real=True)
    p = sp.Symbol("p", positive=True)
    return sp.log(1 - p + p * sp.exp(t)), t, {"p": p}


@dataclass(frozen=True)
class BiasTerms:
    """``n ×`` the first-order bias of the plug-in estimates at ``λ = 1/β`` (SymPy expressions).

    ``chi2`` is ``χ²(π_β‖π0) = Var B / b²``; ``gain``, ``kl``, ``reverse_kl`` are the
    true values, for reference.

    Examples
    --------
    >>> from alignlimits.symbolic.estimator import first_order_bias, gaussian_cgf
    >>> cgf, t, _ = gaussian_cgf()
    >>> terms = first_order_bias(cgf, t)
    >>> terms.reverse_kl_bias  # −χ²/2
    1/2 - exp(lambda**2*sigma**2)/2
    """

    lam: sp.Symbol
    gain_bias: sp.Expr
    kl_bias: sp.Expr
    reverse_kl_bias: sp.Expr
    chi2: sp.Expr
    gain: sp.Expr
    kl: sp.Expr
    reverse_kl: sp.Expr


def first_order_bias(cgf: sp.Expr, t: sp.Symbol) -> BiasTerms:
    r"""Delta-method ``n · bias`` of the plug-in gain, KL and reverse KL for a reward law with CGF ``K(t)``.

    Moments come from the moment generating function ``M = e^{K}``:
    ``E[r^j e^{sr}] = M^{(j)}(s)``, so ``a = M'(λ)``, ``b = M(λ)``, ``E B² = M(2λ)``,
    ``E AB = M'(2λ)``.

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.estimator import first_order_bias, gaussian_cgf
    >>> cgf, t, p = gaussian_cgf()
    >>> terms = first_order_bias(cgf, t)
    >>> terms.gain, terms.chi2  # gain σ²λ; χ²(π_β‖π0) = e^{σ²λ²} − 1
    (lambda*sigma**2, exp(lambda**2*sigma**2) - 1)
    >>> terms.gain_bias  # n × bias: negative, the plug-in gain is too small
    -lambda*sigma**2*exp(lambda**2*sigma**2)
    """
    lam = sp.Symbol("lambda", positive=True)
    mgf = sp.exp(cgf)
    d1 = sp.diff(mgf, t)
    a, b = d1.subs(t, lam), mgf.subs(t, lam)
    e_bb, e_ab = mgf.subs(t, 2 * lam), d1.subs(t, 2 * lam)
    var_b = e_bb - b**2
    cov_ab = e_ab - a * b
    gain_bias = sp.simplify(a * var_b / b**3 - cov_ab / b**2)
    chi2 = sp.simplify(var_b / b**2)
    k_lam, dk_lam, dk0 = cgf.subs(t, lam), sp.diff(cgf, t).subs(t, lam), sp.diff(cgf, t).subs(t, 0)
    return BiasTerms(
        lam=lam,
        gain_bias=gain_bias,
        kl_bias=sp.simplify(lam * gain_bias + chi2 / 2),
        reverse_kl_bias=sp.simplify(-chi2 / 2),
        chi2=chi2,
        gain=sp.simplify(dk_lam - dk0),
        kl=sp.simplify(lam * dk_lam - k_lam),
        reverse_kl=sp.simplify(k_lam - lam * dk0),
    )
