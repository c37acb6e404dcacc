r"""Best-of-N, derived with SymPy: the law of the maximum, its KL, win rate and tie effects.

With ``N`` i.i.d. base rewards of CDF ``F`` and density ``f``:

* the maximum has CDF ``F^N`` and density ``N F^{N−1} f`` (:func:`max_density`);
* in the uniform variable ``u = F(r)`` the maximum has density ``g(u) = N u^{N−1}``,
  so for an atomless law ``KL(π_N‖π0) = ∫_0^1 g log g du = log N − (N−1)/N``
  (:func:`continuous_kl`) and the win rate over a base sample is
  ``∫_0^1 u g(u) du = N/(N+1)`` (:func:`continuous_win_rate`);
* an atom (a tied reward level) occupying ``[a, b]`` in the uniform variable receives
  ``b^N − a^N = ∫_a^b g``: best-of-N on a discrete base is ``g`` *averaged* over each
  atom (:func:`level_mass_is_average`), and Jensen's inequality for ``t log t`` turns
  that average into the bound ``KL ≤ log N − (N−1)/N``;
* binary rewards with success probability ``p``: the KL is
  ``kl(1 − (1−p)^N ‖ p)``, equal to ``log 2 − H(2^{−N}) < log 2`` for ``p = 1/2``
  (:func:`fair_coin_kl`) and tending to ``−log p`` as ``N → ∞`` (:func:`binary_kl_limit`).
"""

from __future__ import annotations

import sympy as sp

__all__ = [
    "binary_kl",
    "binary_kl_limit",
    "continuous_kl",
    "continuous_win_rate",
    "expected_max",
    "fair_coin_kl",
    "gaussian_fraction",
    "level_mass_is_average",
    "max_density",
    "uniform_density",
]

#: Symbols shared by the derivations: candidates ``N``, uniform variable ``u``, reward ``x``.
N = sp.Symbol("N", positive=True)
u = sp.Symbol("u", positive=True)
x = sp.Symbol("x", real=True)


def max_density() -> sp.Eq:
    r"""``d/dx F(x)^N = N F(x)^{N−1} f(x)``: the density of the maximum of ``N`` draws.

    Examples
    --------
    >>> from alignlimits.symbolic.bon import max_density
    >>> eq = max_density()
    >>> eq.rhs
    N*F(x)**(N - 1)*Derivative(F(x), x)
    >>> (eq.lhs - eq.rhs).simplify()
    0
    """
    cdf = sp.Function("F")
    lhs = sp.diff(cdf(x) ** N, x)
    rhs = N * cdf(x) ** (N - 1) * sp.Derivative(cdf(x), x)
    return sp.Eq(lhs, rhs, evaluate=False)


def uniform_density() -> sp.Expr:
    r"""``g(u) = N u^{N−1}``: the density of the winner's quantile ``u = F(r)`` (the derivative of ``u^N``).

    Examples
    --------
    >>> from alignlimits.symbolic.bon import uniform_density
    >>> uniform_density().simplify()
    N*u**(N - 1)
    """
    return sp.diff(u**N, u)


def continuous_kl() -> sp.Eq:
    r"""``∫_0^1 g log g du = log N − (N−1)/N`` with ``g = N u^{N−1}``.

    The KL is invariant under the change of variable ``u = F(r)``, and the base
    policy is uniform in ``u``, so this is ``KL(π_N‖π0)`` for every atomless law.

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.bon import N, continuous_kl
    >>> eq = continuous_kl()
    >>> sp.simplify(eq.lhs - eq.rhs), eq.rhs.subs(N, 2)
    (0, -1/2 + log(2))
    """
    g = uniform_density()
    integral = sp.integrate(g * sp.expand_log(sp.log(g), force=True), (u, 0, 1), conds="none")
    return sp.Eq(sp.simplify(integral), sp.log(N) - (N - 1) / N, evaluate=False)


def continuous_win_rate() -> sp.Eq:
    r"""``P(winner beats a base sample) = ∫_0^1 u · N u^{N−1} du = N/(N+1)``.

    Examples
    --------
    >>> from alignlimits.symbolic.bon import continuous_win_rate
    >>> continuous_win_rate().lhs
    N/(N + 1)
    """
    integral = sp.integrate(u * uniform_density(), (u, 0, 1), conds="none")
    return sp.Eq(sp.simplify(integral), N / (N + 1), evaluate=False)


def level_mass_is_average() -> sp.Eq:
    r"""``b^N − a^N = (b − a) · [average of N u^{N−1} over [a, b]]``.

    A reward atom spanning quantiles ``[a, b] = [F_{j−1}, F_j]`` gets best-of-N mass
    ``F_j^N − F_{j−1}^N``, so the density ratio ``π_N/π0`` on it is the *average* of
    ``g`` there. Since ``t ↦ t log t`` is convex, Jensen gives
    ``q_j · φ(avg g) ≤ ∫_a^b φ(g)``; summing over atoms, ``KL ≤ ∫_0^1 φ(g) = log N − (N−1)/N``,
    with equality iff ``g`` is constant on every atom, i.e. ``N = 1`` or no atoms.

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.bon import level_mass_is_average
    >>> eq = level_mass_is_average()
    >>> sp.simplify(eq.lhs - eq.rhs)
    0
    """
    a, b = sp.symbols("a b", positive=True)
    average = sp.integrate(uniform_density(), (u, a, b), conds="none") / (b - a)
    return sp.Eq(b**N - a**N, sp.simplify((b - a) * average), evaluate=False)


def binary_kl(p: sp.Expr | None = None) -> sp.Expr:
    r"""``KL(π_N‖π0)`` for rewards in {0, 1} with ``P(r = 1) = p``: ``kl(1 − (1−p)^N ‖ p)``.

    The winner fails only if all ``N`` candidates fail, so its success probability is
    ``s = 1 − (1−p)^N``; the KL is the Bernoulli divergence ``s log(s/p) + (1−s) log((1−s)/(1−p))``.

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.bon import N, binary_kl
    >>> binary_kl(sp.Rational(1, 2)).subs(N, 1)  # best-of-1 is the base
    0
    >>> round(float(binary_kl(sp.Rational(1, 2)).subs(N, 2)), 6)  # as alignlimits.bon.kl
    0.130812
    """
    p = sp.Symbol("p", positive=True) if p is None else sp.sympify(p)
    fail = (1 - p) ** N
    return fail * sp.log(fail / (1 - p)) + (1 - fail) * sp.log((1 - fail) / p)


def fair_coin_kl() -> sp.Eq:
    r"""For ``p = 1/2``: ``KL = log 2 − H(2^{−N})`` with ``H`` the binary entropy — below ``log 2`` for every N.

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.bon import fair_coin_kl
    >>> eq = fair_coin_kl()
    >>> sp.simplify(sp.expand_log(eq.lhs - eq.rhs, force=True))
    0
    """
    a = sp.Rational(1, 2) ** N
    entropy = -(a * sp.log(a) + (1 - a) * sp.log(1 - a))
    return sp.Eq(binary_kl(sp.Rational(1, 2)), sp.log(2) - entropy, evaluate=False)


def binary_kl_limit(p: sp.Expr) -> sp.Eq:
    r"""``lim_{N→∞} KL(π_N‖π0) = −log p`` for binary rewards (the greedy policy's KL), for a given ``p``.

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.bon import binary_kl_limit
    >>> binary_kl_limit(sp.Rational(1, 4)).lhs  # −log p: the greedy policy
    log(4)
    """
    p = sp.sympify(p)
    return sp.Eq(sp.limit(binary_kl(p), N, sp.oo), -sp.log(p), evaluate=False)


def expected_max(quantile: sp.Expr, n: int) -> sp.Expr:
    r"""``E[max of n] = ∫_0^1 Q(u) n u^{n−1} du`` for a quantile function ``Q(u)`` written in ``u``.

    ``Q = u`` (uniform) gives ``n/(n+1)``; ``Q = −log(1−u)`` (exponential) the harmonic
    number ``H_n``.

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.bon import expected_max, u
    >>> expected_max(u, 3)  # uniform: n/(n + 1)
    3/4
    >>> expected_max(-sp.log(1 - u), 3)  # exponential: the harmonic number H_3
    11/6
    """
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer; got {n!r}.")
    # Integrate in v = 1 − u (positive on the range), which keeps SymPy off the complex branch
    # of log(1 − u) that it otherwise picks for the exponential quantile.
    v = sp.Symbol("v", positive=True)
    integrand = (quantile * uniform_density().subs(N, int(n))).subs(u, 1 - v)
    return sp.simplify(sp.integrate(sp.expand_log(integrand, force=True), (v, 0, 1)))


def gaussian_fraction() -> sp.Expr:
    r"""Best-of-2 gain over the optimal gain at the same KL, for Gaussian rewards (σ cancels).

    Gain ``E[max of 2 standard normals] = ∫ x · d/dx Φ(x)^2 dx = 1/sqrt(π)``; the optimal
    gain at ``KL = log 2 − 1/2`` is ``sqrt(2 KL)`` (the Gaussian frontier ``Δ = σ sqrt(2 KL)``).
    (For ``n ≥ 3`` SymPy finds no closed form; use :func:`alignlimits.bon.continuous_expected_max`.)

    Examples
    --------
    >>> from alignlimits.symbolic.bon import gaussian_fraction
    >>> round(float(gaussian_fraction()), 4)  # best-of-2 earns about 91 % of the optimum
    0.9077
    """
    n = 2
    cdf = (1 + sp.erf(x / sp.sqrt(2))) / 2
    gain = sp.integrate(sp.expand(x * sp.diff(cdf**n, x)), (x, -sp.oo, sp.oo))
    kl = sp.log(n) - sp.Rational(n - 1, n)
    return sp.simplify(gain / sp.sqrt(2 * kl))
