r"""Direct preference optimisation (DPO) from the Gibbs tilt, derived with SymPy.

Notation: base policy ``π0``, reward ``r``, KL factor ``β > 0``, optimum
``π_β = π0 e^{r/β}/Z`` and the Bradley–Terry preference law
``P(y ≻ y') = σ(r(y) − r(y'))`` with the logistic ``σ(z) = 1/(1 + e^{−z})``.

* :func:`reward_from_tilt` — solving the tilt for the reward gives
  ``r = β log(π_β/π0) + β log Z``: the optimal policy *is* a reward model, up to
  a constant that does not depend on the response.
* :func:`preference_from_policy` — substituted into Bradley–Terry the constant
  ``β log Z`` cancels: ``P(y1 ≻ y2) = σ(β log(π1/π01) − β log(π2/π02))``, a law
  written with policy probabilities alone.
* :func:`dpo_loss` — its negative log-likelihood for a winner ``w`` and loser ``l``,
  ``−log σ(β log(π_w/π0_w) − β log(π_l/π0_l))``, the DPO loss.
* :func:`two_response_optimum` — for two responses, the expected DPO loss under
  Bradley–Terry labels, as a function of the log-ratio difference ``z``, is stationary
  exactly at ``z = (r1 − r2)/β`` (the tilt), with positive curvature there.
* :func:`population_stationarity` — for ``k`` responses with a tabular log-ratio
  ``θ`` and pairs drawn from ``π0 ⊗ π0``, the gradient of the expected DPO loss vanishes
  at ``θ = r/β`` (i.e. at ``π_β``); each equation holds identically.

``σ`` is written out as ``1/(1 + e^{−z})`` so that ``sympy.simplify`` can decide the
identities. Tests check them with ``sympy.simplify(lhs − rhs) == 0``, never by string.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

__all__ = [
    "TwoResponseOptimum",
    "dpo_loss",
    "population_stationarity",
    "preference_from_policy",
    "reward_from_tilt",
    "sigmoid",
    "two_response_optimum",
]


def sigmoid(z: sp.Expr) -> sp.Expr:
    """The logistic function ``σ(z) = 1/(1 + e^{−z})`` as an explicit SymPy expression.

    Examples
    --------
    >>> sigmoid(sp.Integer(0))
    1/2
    """
    return 1 / (1 + sp.exp(-z))


def _symbols() -> tuple[sp.Symbol, sp.Symbol, sp.Symbol, sp.Symbol]:
    beta, pi, pi0, z = sp.symbols("beta pi_beta pi_0 Z", positive=True)
    return beta, pi, pi0, z


def reward_from_tilt() -> sp.Eq:
    r"""``r = β log(π_β/π0) + β log Z``, solved from ``π_β = π0 e^{r/β}/Z`` for ``r``.

    Examples
    --------
    >>> eq = reward_from_tilt()
    >>> eq.lhs
    r
    """
    beta, pi, pi0, z = _symbols()
    r = sp.Symbol("r", real=True)
    (solution,) = sp.solve(sp.Eq(pi, pi0 * sp.exp(r / beta) / z), r)
    form = beta * sp.log(pi / pi0) + beta * sp.log(z)  # the solution, written in the book's form
    assert sp.simplify(sp.expand_log(solution - form, force=True)) == 0
    return sp.Eq(r, form, evaluate=False)


def preference_from_policy() -> sp.Eq:
    r"""Bradley–Terry with the reward of :func:`reward_from_tilt`: ``Z`` cancels.

    Returns ``sp.Eq(σ(r1 − r2) with r_i = β log(π_i/π0_i) + β log Z, σ(β log(π1/π01) − β log(π2/π02)))``.
    The left-hand side holds the two rewards as ``sympy.UnevaluatedExpr`` (so ``Z`` is
    visible); ``(lhs − rhs).doit()`` simplifies to 0. The right-hand side is free of ``Z``.

    Examples
    --------
    >>> eq = preference_from_policy()
    >>> sp.simplify((eq.lhs - eq.rhs).doit())
    0
    >>> sp.Symbol("Z", positive=True) in eq.rhs.free_symbols
    False
    """
    beta, pi, pi0, z = _symbols()
    pi1, pi2, q1, q2 = sp.symbols("pi_1 pi_2 pi_01 pi_02", positive=True)
    reward = reward_from_tilt().rhs
    r1 = reward.subs({pi: pi1, pi0: q1})
    r2 = reward.subs({pi: pi2, pi0: q2})
    implicit = beta * sp.log(pi1 / q1) - beta * sp.log(pi2 / q2)
    assert z not in implicit.free_symbols
    # Each reward kept unevaluated, so the left-hand side shows Z before it cancels (``.doit()`` releases them).
    bradley_terry = sigmoid(sp.UnevaluatedExpr(r1) - sp.UnevaluatedExpr(r2))
    return sp.Eq(bradley_terry, sigmoid(implicit), evaluate=False)


def dpo_loss() -> sp.Expr:
    r"""The DPO loss ``−log σ(β log(π_w/π0_w) − β log(π_l/π0_l))`` for one labelled pair.

    It is the negative log-likelihood of the label under :func:`preference_from_policy`.

    Examples
    --------
    >>> sorted(str(s) for s in dpo_loss().free_symbols)
    ['beta', 'pi_0l', 'pi_0w', 'pi_l', 'pi_w']
    """
    beta = sp.Symbol("beta", positive=True)
    pw, pl, qw, ql = sp.symbols("pi_w pi_l pi_0w pi_0l", positive=True)
    return -sp.log(sigmoid(beta * sp.log(pw / qw) - beta * sp.log(pl / ql)))


@dataclass(frozen=True)
class TwoResponseOptimum:
    """The expected DPO loss for two responses and its stationary point.

    ``loss`` is a function of the log-ratio difference ``z = log(π1/π01) − log(π2/π02)``;
    ``stationary`` the solutions of ``d loss/dz = 0`` (one: ``(r1 − r2)/β``);
    ``curvature`` the second derivative at it (positive: a minimum).

    Examples
    --------
    >>> opt = two_response_optimum()
    >>> sp.simplify(sp.diff(opt.loss, opt.z).subs(opt.z, opt.stationary[0]))
    0
    """

    z: sp.Symbol
    r1: sp.Symbol
    r2: sp.Symbol
    beta: sp.Symbol
    loss: sp.Expr
    stationary: list[sp.Expr]
    curvature: sp.Expr


def two_response_optimum() -> TwoResponseOptimum:
    r"""Minimise ``E[loss] = −p log σ(βz) − (1 − p) log σ(−βz)`` with ``p = σ(r1 − r2)``.

    With probability ``p`` response 1 wins (loss ``−log σ(βz)``), otherwise response 2
    wins (loss ``−log σ(−βz)``). Solving ``d/dz = 0`` in ``t = e^{βz}`` gives one root,
    ``z = (r1 − r2)/β``: the log-ratio difference of the tilt.

    Examples
    --------
    >>> opt = two_response_optimum()
    >>> opt.stationary
    [(r_1 - r_2)/beta]
    """
    z, r1, r2 = sp.symbols("z r_1 r_2", real=True)
    beta = sp.Symbol("beta", positive=True)
    p = sigmoid(r1 - r2)
    loss = -p * sp.log(sigmoid(beta * z)) - (1 - p) * sp.log(sigmoid(-beta * z))
    # d/dz = β(σ(βz) − p): solve σ(βz) = p in t = e^{βz} > 0 (rational), then take the log.
    t = sp.Symbol("t", positive=True)
    derivative = sp.simplify(sp.diff(loss, z))
    in_t = sp.simplify(derivative.subs(sp.exp(beta * z), t).subs(sp.exp(-beta * z), 1 / t))
    roots_t = sp.solve(sp.numer(sp.together(in_t)), t)
    stationary = [sp.simplify(sp.expand_log(sp.log(root), force=True) / beta) for root in roots_t]
    curvature = sp.simplify(sp.diff(loss, z, 2).subs(z, stationary[0]))
    return TwoResponseOptimum(z, r1, r2, beta, loss, stationary, curvature)


def population_stationarity(k: int = 3) -> list[sp.Eq]:
    r"""``∂/∂θ_j E[DPO loss] = 0`` at ``θ = r/β``, for ``k`` responses (one equation per ``j``).

    Pairs ``(a, b)`` are drawn from ``π0 ⊗ π0`` with base masses ``q``; ``a`` is labelled
    the winner with probability ``σ(r_a − r_b)``. The tabular policy is
    ``π ∝ π0 e^{θ}``, so its log-ratio differences are ``θ_a − θ_b`` (the normaliser
    cancels) and the expected loss is

    ``L(θ) = Σ_{a,b} q_a q_b σ(r_a − r_b) (−log σ(β(θ_a − θ_b)))``.

    Returns ``[sp.Eq(∂L/∂θ_j at θ = r/β, 0) for j in 1..k]``; each ``lhs`` simplifies to 0.

    Examples
    --------
    >>> [sp.simplify(eq.lhs) for eq in population_stationarity(2)]
    [0, 0]
    """
    if k < 2:
        raise ValueError(f"need at least 2 responses; got k={k}.")
    theta = sp.symbols(f"theta1:{k + 1}", real=True)
    r = sp.symbols(f"r1:{k + 1}", real=True)
    q = sp.symbols(f"q1:{k + 1}", positive=True)
    beta = sp.Symbol("beta", positive=True)
    loss = sum(
        q[a] * q[b] * sigmoid(r[a] - r[b]) * -sp.log(sigmoid(beta * (theta[a] - theta[b])))
        for a in range(k)
        for b in range(k)
        if a != b
    )
    at_tilt = {theta[j]: r[j] / beta for j in range(k)}
    return [sp.Eq(sp.diff(loss, theta[j]).subs(at_tilt), 0, evaluate=False) for j in range(k)]
