r"""The KL-regularised objective on the probability simplex, derived with SymPy.

For ``k`` outcomes with base probabilities ``q_i > 0``, rewards ``r_i`` and ``β > 0``:

* the Lagrangian ``L(p, λ) = Σ p_i r_i − β Σ p_i log(p_i/q_i) − λ (Σ p_i − 1)``;
* its stationary point ``p_i = q_i e^{r_i/β} / Σ_j q_j e^{r_j/β}`` (the Gibbs tilt);
* its Hessian ``diag(−β/p_i)``, negative definite: the stationary point is the maximum;
* the Gibbs variational identity
  ``E_p[r] − β KL(p‖q) = β log Z_β − β KL(p‖π_β)`` for every ``p`` on the simplex.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

__all__ = [
    "GibbsOptimum",
    "SimplexProblem",
    "gibbs_optimum",
    "gibbs_tilt_expressions",
    "gibbs_variational_identity",
    "identity_residual",
    "partition_function",
    "simplex_problem",
]


@dataclass(frozen=True)
class SimplexProblem:
    """Symbols and the Lagrangian of ``max_p Σ p r − β KL(p‖q)`` s.t. ``Σ p = 1``.

    Examples
    --------
    >>> from alignlimits.symbolic.objective import simplex_problem
    >>> prob = simplex_problem(2)
    >>> prob.p, prob.beta
    ((p1, p2), beta)
    >>> prob.objective
    -beta*(p1*log(p1/q1) + p2*log(p2/q2)) + p1*r1 + p2*r2
    """

    p: tuple[sp.Symbol, ...]
    q: tuple[sp.Symbol, ...]
    r: tuple[sp.Symbol, ...]
    beta: sp.Symbol
    lam: sp.Symbol
    objective: sp.Expr
    lagrangian: sp.Expr


def simplex_problem(k: int) -> SimplexProblem:
    """Build the symbols (all positive except rewards, which are real) and the Lagrangian.

    Examples
    --------
    >>> from alignlimits.symbolic.objective import simplex_problem
    >>> simplex_problem(2).lagrangian
    -beta*(p1*log(p1/q1) + p2*log(p2/q2)) - lambda*(p1 + p2 - 1) + p1*r1 + p2*r2
    >>> simplex_problem(1)
    Traceback (most recent call last):
    ...
    ValueError: need at least 2 outcomes for a non-trivial simplex; got k=1.
    """
    if k < 2:
        raise ValueError(f"need at least 2 outcomes for a non-trivial simplex; got k={k}.")
    p = sp.symbols(f"p1:{k + 1}", positive=True)
    q = sp.symbols(f"q1:{k + 1}", positive=True)
    r = sp.symbols(f"r1:{k + 1}", real=True)
    beta = sp.Symbol("beta", positive=True)
    lam = sp.Symbol("lambda", real=True)
    objective = sum(pi * ri for pi, ri in zip(p, r, strict=True)) - beta * sum(
        pi * sp.log(pi / qi) for pi, qi in zip(p, q, strict=True)
    )
    lagrangian = objective - lam * (sum(p) - 1)
    return SimplexProblem(p, q, r, beta, lam, objective, lagrangian)


@dataclass(frozen=True)
class GibbsOptimum:
    """The solved first-order conditions.

    ``stationary`` maps each ``p_i`` to its solution as a function of λ;
    ``multiplier`` is the λ that normalises it; ``policy`` is the resulting optimum
    (a tuple of expressions, one per outcome); ``hessian`` is ``∂²L/∂p∂p``.

    Examples
    --------
    >>> from alignlimits.symbolic.objective import gibbs_optimum
    >>> opt = gibbs_optimum(2)
    >>> opt.hessian.tolist()  # diag(−β/p_i): negative definite, so the stationary point is the maximum
    [[-beta/p1, 0], [0, -beta/p2]]
    """

    problem: SimplexProblem
    stationary: dict[sp.Symbol, sp.Expr]
    multiplier: sp.Expr
    policy: tuple[sp.Expr, ...]
    hessian: sp.Matrix


def gibbs_optimum(k: int = 3) -> GibbsOptimum:
    """Solve ``∂L/∂p_i = 0`` and ``Σ p_i = 1`` symbolically for ``k`` outcomes.

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.objective import gibbs_optimum, gibbs_tilt_expressions
    >>> opt = gibbs_optimum(2)
    >>> tilt, _ = gibbs_tilt_expressions(2)
    >>> [sp.simplify(a - b) for a, b in zip(opt.policy, tilt)]  # the solution is the Gibbs tilt
    [0, 0]
    """
    prob = simplex_problem(k)
    stationary = {}
    for pi in prob.p:
        (sol,) = sp.solve(sp.diff(prob.lagrangian, pi), pi)
        stationary[pi] = sol
    (lam_star,) = sp.solve(sp.Eq(sum(stationary.values()), 1), prob.lam)
    policy = tuple(sp.simplify(stationary[pi].subs(prob.lam, lam_star)) for pi in prob.p)
    hessian = sp.hessian(prob.lagrangian, prob.p)
    return GibbsOptimum(prob, stationary, lam_star, policy, hessian)


def partition_function(prob: SimplexProblem) -> sp.Expr:
    """The normaliser ``Z_β = Σ_i q_i e^{r_i/β}`` of the Gibbs tilt, in ``prob``'s symbols.

    Examples
    --------
    >>> from alignlimits.symbolic.objective import partition_function, simplex_problem
    >>> partition_function(simplex_problem(2))
    q1*exp(r1/beta) + q2*exp(r2/beta)
    """
    return sum(qi * sp.exp(ri / prob.beta) for qi, ri in zip(prob.q, prob.r, strict=True))


def gibbs_tilt_expressions(k: int = 3) -> tuple[tuple[sp.Expr, ...], SimplexProblem]:
    """The Gibbs tilt written directly, ``q_i e^{r_i/β} / Σ_j q_j e^{r_j/β}``.

    Examples
    --------
    >>> from alignlimits.symbolic.objective import gibbs_tilt_expressions
    >>> tilt, prob = gibbs_tilt_expressions(2)
    >>> tilt[0]
    q1*exp(r1/beta)/(q1*exp(r1/beta) + q2*exp(r2/beta))
    """
    prob = simplex_problem(k)
    z = partition_function(prob)
    return tuple(qi * sp.exp(ri / prob.beta) / z for qi, ri in zip(prob.q, prob.r, strict=True)), prob


def gibbs_variational_identity(k: int = 3) -> sp.Eq:
    r"""``E_p[r] − β KL(p‖q) = β log Z_β − β KL(p‖π_β)`` with ``p`` on the simplex.

    The last coordinate is eliminated as ``p_k = 1 − Σ_{i<k} p_i``, so the identity
    holds as an algebraic fact about the remaining free variables.

    Examples
    --------
    >>> from alignlimits.symbolic.objective import gibbs_variational_identity, identity_residual
    >>> identity_residual(gibbs_variational_identity(2))  # holds for every p on the simplex
    0
    """
    tilt, prob = gibbs_tilt_expressions(k)
    p_last = 1 - sum(prob.p[:-1])
    p = (*prob.p[:-1], p_last)
    z = partition_function(prob)
    lhs = sum(pi * ri for pi, ri in zip(p, prob.r, strict=True)) - prob.beta * sum(
        pi * sp.log(pi / qi) for pi, qi in zip(p, prob.q, strict=True)
    )
    rhs = prob.beta * sp.log(z) - prob.beta * sum(pi * sp.log(pi / ti) for pi, ti in zip(p, tilt, strict=True))
    return sp.Eq(lhs, rhs, evaluate=False)


def identity_residual(eq: sp.Eq) -> sp.Expr:
    """``lhs − rhs`` simplified after expanding logarithms (all symbols are positive).

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.objective import identity_residual
    >>> x, y = sp.symbols("x y", positive=True)
    >>> identity_residual(sp.Eq(sp.log(x * y), sp.log(x) + sp.log(y)))
    0
    """
    return sp.simplify(sp.expand_log(eq.lhs - eq.rhs, force=True))
