r"""Generic optimisers over the simplex: the frontier checked by brute force.

The theory says the largest reward gain of any policy with ``KL(π‖π0) ≤ ε`` is
``Δ*(ε)``, reached by a Gibbs tilt. This module does not assume it: it hands the
two problems to ``scipy.optimize`` (SLSQP) over *all* policies on the support of ``π0``,

* constrained: ``max_π E_π[r]``  s.t.  ``KL(π‖π0) ≤ ε``;
* penalised:   ``max_π E_π[r] − β KL(π‖π0)``,

parameterised by square roots ``π_i = u_i²`` with ``‖u‖ = 1`` (the simplex becomes a
sphere; every policy on the support is reachable, faces included), with exact
gradients ``∂E_π r/∂u = 2ur`` and ``∂KL/∂u = 2u(log(u²/π0) + 1)``. The solver starts
at the base policy and is never told the answer is a Gibbs tilt.

:func:`excess_over_frontier` measures how far any policies land from the frontier
(``≤ 0`` means on or below it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import OptimizeResult, minimize
from scipy.special import xlogy

from alignlimits import divergences, tilting
from alignlimits._validation import as_betas, as_discrete_problem, as_finite_array, as_probabilities

__all__ = [
    "PolicyResult",
    "constrained_curve",
    "excess_over_frontier",
    "frontier_gain_at",
    "maximize_penalized",
    "maximize_reward",
    "penalized_curve",
]


@dataclass(frozen=True)
class PolicyResult:
    """The policy a generic optimiser found, with its gain and KL.

    Attributes
    ----------
    policy : shape ``(k,)``, zero off the support of ``π0``.
    gain : ``E_π[r] − E_π0[r]``.
    kl : ``KL(π‖π0)`` in nats.
    objective : the value maximised (``E_π[r]`` or ``E_π[r] − β KL``).
    success, message, nit : from ``scipy.optimize.minimize``.

    Examples
    --------
    >>> import numpy as np
    >>> base, reward = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.0, 1.0, 2.0, 4.0])
    >>> from alignlimits.constrained import maximize_reward
    >>> res = maximize_reward(base, reward, 0.3)
    >>> res.success, res.policy.shape, round(res.kl, 5)
    (True, (4,), 0.3)
    """

    policy: NDArray[np.float64]
    gain: float
    kl: float
    objective: float
    success: bool
    message: str
    nit: int


class _SpherePolicy:
    """``π = u²`` on the support of ``π0`` with ``‖u‖ = 1``: the simplex as a sphere.

    Why not logits or ``π`` itself: in logits the optimum can sit at logits of any
    size and SLSQP's first steps overshoot into saturated softmax regions where
    every gradient vanishes; in ``π`` the KL gradient ``log(π/π0) + 1`` is ``−∞`` on
    the simplex's faces. With ``u = sqrt(π)`` the KL gradient
    ``2u (log(u²/π0) + 1)`` stays finite everywhere and the problem stays smooth.
    """

    def __init__(self, p0: NDArray, r: NDArray) -> None:
        self.support = p0 > 0
        self.log_p0 = np.log(p0[self.support])
        self.r = r[self.support]
        self.k = p0.size

    def policy(self, u: NDArray) -> NDArray:
        pi = u * u
        return pi / pi.sum()

    def mean_reward(self, u: NDArray) -> tuple[float, NDArray]:
        """``E_π r = Σ u² r`` and its gradient ``2 u r`` (on the sphere)."""
        return float((u * u) @ self.r), 2.0 * u * self.r

    def kl(self, u: NDArray) -> tuple[float, NDArray]:
        """``KL(u²‖π0) = Σ u² (log u² − log π0)`` and its gradient ``2u (log u² − log π0 + 1)``."""
        pi = u * u
        log_pi = np.log(np.maximum(pi, np.finfo(float).tiny))  # only ever multiplied by u² or u → 0
        return float(xlogy(pi, pi).sum() - pi @ self.log_p0), 2.0 * u * (log_pi - self.log_p0 + 1.0)

    def start(self, x0: ArrayLike | None) -> NDArray:
        if x0 is None:
            return np.exp(0.5 * self.log_p0)  # the base policy: KL = 0, never a point of the frontier
        pi0 = as_probabilities(x0, "x0")
        if pi0.shape != (self.k,):
            raise ValueError(f"x0 must be a starting policy of shape ({self.k},); got {pi0.shape}.")
        if (pi0[~self.support] > 0).any():
            raise ValueError("x0 puts mass where base_probs is 0 (infinite KL); start inside the support.")
        return np.sqrt(pi0[self.support])

    def result(self, res: OptimizeResult, p0: NDArray, r: NDArray, objective: float) -> PolicyResult:
        pi = np.zeros(self.k)
        pi[self.support] = self.policy(res.x)
        kl = float(divergences.kl(pi, p0))
        gain = float(pi @ r - p0 @ r)
        return PolicyResult(pi, gain, kl, objective, bool(res.success), str(res.message), int(res.nit))


_UNIT_NORM = {"type": "eq", "fun": lambda u: u @ u - 1.0, "jac": lambda u: 2.0 * u}


def maximize_reward(
    base_probs: ArrayLike,
    rewards: ArrayLike,
    kl_budget: float,
    *,
    x0: ArrayLike | None = None,
    tol: float = 1e-12,
    maxiter: int = 1000,
) -> PolicyResult:
    r"""``max_π E_π[r]`` subject to ``KL(π‖π0) ≤ ε``, by SLSQP over ``π = u²``, ``‖u‖ = 1``.

    Parameters
    ----------
    base_probs, rewards : array_like, shape (k,)
    kl_budget : float
        ``ε > 0`` in nats. Budgets at or above :func:`alignlimits.tilting.max_kl`
        make the constraint slack: the optimum is then the greedy policy (a face
        of the simplex, reachable here since ``u`` may have zeros).
    x0 : array_like, shape (k,), optional
        A starting policy inside the support of ``π0``; default ``π0`` itself, so
        the optimiser is never started on the frontier.
    tol, maxiter : passed to SLSQP (``ftol`` and ``maxiter``).

    Examples
    --------
    >>> import numpy as np
    >>> base, reward = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.0, 1.0, 2.0, 4.0])
    >>> from alignlimits import tilting
    >>> from alignlimits.constrained import maximize_reward
    >>> res = maximize_reward(base, reward, 0.3)  # SLSQP over all policies, not told the answer
    >>> round(res.gain, 5), round(tilting.max_gain(base, reward, 0.3), 5)  # it finds the frontier
    (1.05396, 1.05396)
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    eps = float(kl_budget)
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"kl_budget must be a finite number > 0 nats; got {kl_budget!r}.")
    result = _solve_constrained(p0, r, eps, 0.0, x0, tol, maxiter)
    if not result.success:
        # On the sphere Σu² = 1 holds only at convergence, so the reward's constant offset c
        # leaks into the objective as c(Σu² − 1) and decides where SLSQP may stall (r − 15
        # hit the iteration limit). A second run with the reward centred at its base mean
        # sees a different offset; keep it when it converges.
        centred = _solve_constrained(p0, r, eps, float(p0 @ r), x0, tol, maxiter)
        if centred.success:
            return centred
    return result


def _solve_constrained(
    p0: NDArray, r: NDArray, eps: float, offset: float, x0: ArrayLike | None, tol: float, maxiter: int
) -> PolicyResult:
    """One SLSQP run of :func:`maximize_reward` on the reward ``r − offset``."""
    model = _SpherePolicy(p0, r - offset)

    def neg_reward(u: NDArray) -> tuple[float, NDArray]:
        value, grad = model.mean_reward(u)
        return -value, -grad

    budget = {"type": "ineq", "fun": lambda u: eps - model.kl(u)[0], "jac": lambda u: -model.kl(u)[1]}
    res = minimize(neg_reward, model.start(x0), jac=True, method="SLSQP", constraints=[_UNIT_NORM, budget],
                   options={"ftol": tol, "maxiter": maxiter})
    pi = model.policy(res.x)
    return model.result(res, p0, r, float(pi @ model.r) + offset)


def maximize_penalized(
    base_probs: ArrayLike,
    rewards: ArrayLike,
    beta: float,
    *,
    x0: ArrayLike | None = None,
    tol: float = 1e-15,
    maxiter: int = 2000,
) -> PolicyResult:
    r"""``max_π E_π[r] − β KL(π‖π0)`` by SLSQP over ``π = u²``, ``‖u‖ = 1``.

    Stationarity on the sphere gives ``log(π/π0) = r/β + const`` — the Gibbs tilt,
    which the solver is not told. ``x0`` is a starting policy (default ``π0``);
    ``objective`` in the result is ``E_π r − β KL(π‖π0)``.

    Examples
    --------
    >>> import numpy as np
    >>> base, reward = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.0, 1.0, 2.0, 4.0])
    >>> from alignlimits import tilting
    >>> from alignlimits.constrained import maximize_penalized
    >>> res = maximize_penalized(base, reward, 1.0)
    >>> bool(np.abs(res.policy - tilting.tilt(base, reward, 1.0)).max() < 1e-6)  # the Gibbs tilt
    True
    >>> round(res.objective, 6), round(tilting.log_partition(base, reward, 1.0), 6)  # β log Z_β
    (2.0984, 2.0984)
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    b = float(as_betas(beta))
    if not np.isfinite(b):
        raise ValueError("beta must be finite: beta = inf is the base policy, nothing to optimise.")
    model = _SpherePolicy(p0, r)

    # In units of β (E_π r/β − KL) so the objective is O(1) whatever the scale of r.
    def neg_objective(u: NDArray) -> tuple[float, NDArray]:
        reward, d_reward = model.mean_reward(u)
        kl, d_kl = model.kl(u)
        return -(reward / b - kl), -(d_reward / b - d_kl)

    res = minimize(neg_objective, model.start(x0), jac=True, method="SLSQP", constraints=[_UNIT_NORM],
                   options={"ftol": tol, "maxiter": maxiter})
    pi = np.zeros(p0.size)
    pi[model.support] = model.policy(res.x)
    return model.result(res, p0, r, float(pi @ r - b * divergences.kl(pi, p0)))


def constrained_curve(base_probs: ArrayLike, rewards: ArrayLike, kl_budgets: ArrayLike) -> list[PolicyResult]:
    """:func:`maximize_reward` for each budget in ``kl_budgets`` (shape ``(n,)``).

    Examples
    --------
    >>> import numpy as np
    >>> base, reward = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.0, 1.0, 2.0, 4.0])
    >>> from alignlimits.constrained import constrained_curve
    >>> [round(res.gain, 4) for res in constrained_curve(base, reward, [0.1, 0.3])]
    [0.5863, 1.054]
    """
    budgets = as_finite_array(kl_budgets, "kl_budgets")
    return [maximize_reward(base_probs, rewards, float(e)) for e in budgets.ravel()]


def penalized_curve(base_probs: ArrayLike, rewards: ArrayLike, betas: ArrayLike) -> list[PolicyResult]:
    """:func:`maximize_penalized` for each β in ``betas`` (shape ``(n,)``).

    Examples
    --------
    >>> import numpy as np
    >>> base, reward = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.0, 1.0, 2.0, 4.0])
    >>> from alignlimits.constrained import penalized_curve
    >>> [round(res.gain, 4) for res in penalized_curve(base, reward, [0.5, 2.0])]
    [2.8034, 0.9841]
    """
    grid = np.atleast_1d(as_betas(betas))
    return [maximize_penalized(base_probs, rewards, float(b)) for b in grid]


def excess_over_frontier(
    policies: ArrayLike, base_probs: ArrayLike, rewards: ArrayLike
) -> NDArray[np.float64] | float:
    r"""``(E_π r − E_π0 r) − Δ*(KL(π‖π0))`` for each policy (rows of shape ``(n, k)`` → ``(n,)``).

    One policy of shape ``(k,)`` gives a float (the divergences' convention: the last
    axis is reduced).

    The frontier theorem says this is ``≤ 0`` for every policy, with equality
    exactly on the tilts ``π_β``. ``Δ*`` comes from :func:`frontier_gain_at`.
    Policies that put mass outside the support of ``π0`` have infinite KL and are
    rejected.

    Examples
    --------
    >>> import numpy as np
    >>> base, reward = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.0, 1.0, 2.0, 4.0])
    >>> from alignlimits import tilting
    >>> from alignlimits.constrained import excess_over_frontier
    >>> greedy_mix = 0.5 * base + 0.5 * np.eye(4)[3]  # half base, half the best outcome
    >>> excess = excess_over_frontier(np.stack([tilting.tilt(base, reward, 1.0), greedy_mix]), base, reward)
    >>> bool(abs(excess[0]) < 1e-9), round(float(excess[1]), 4)  # the tilt is on the frontier, the mix below
    (True, -0.1125)
    >>> round(excess_over_frontier(greedy_mix, base, reward), 4)  # one policy: a float
    -0.1125
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    pis = as_probabilities(np.atleast_2d(policies), "policies")
    if pis.ndim != 2 or pis.shape[1] != p0.size:
        raise ValueError(f"policies must have shape (n, {p0.size}); got {pis.shape}.")
    if (pis[:, p0 == 0] > 0).any():
        raise ValueError("a policy puts mass where base_probs is 0: its KL is infinite (no budget allows it).")
    kls = np.atleast_1d(divergences.kl(pis, np.broadcast_to(p0, pis.shape)))
    gains = pis @ r - float(p0 @ r)
    excess = gains - frontier_gain_at(p0, r, kls)
    return float(excess[0]) if np.ndim(policies) == 1 else excess


def frontier_gain_at(
    base_probs: ArrayLike, rewards: ArrayLike, kl_budgets: ArrayLike
) -> NDArray[np.float64] | float:
    r"""``Δ*(ε)`` for many budgets at once (shape of ``kl_budgets``; a float for a scalar), by vectorised bisection.

    Same value as :func:`alignlimits.tilting.max_gain`, which root-finds one budget
    at a time; here all budgets share each evaluation of the frontier. ``KL(π_β‖π0)``
    falls strictly in ``log β``, so bisection on ``log β`` over a bracket of
    ``log σ ± 60`` (β from ``1e-26 σ`` to ``1e26 σ``; budgets from about ``1e-53`` nats
    up to the greedy limit) converges to the last bit after 120 halvings. Budgets at or
    above :func:`alignlimits.tilting.max_kl` give the greedy gain; ``ε = 0`` gives 0.

    Examples
    --------
    >>> import numpy as np
    >>> base, reward = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.0, 1.0, 2.0, 4.0])
    >>> from alignlimits.constrained import frontier_gain_at
    >>> frontier_gain_at(base, reward, [0.0, 0.3, 5.0]).round(5)  # 5 nats > -log 0.1: greedy, 4 − 1.1
    array([0.     , 1.05396, 2.9    ])
    >>> round(frontier_gain_at(base, reward, 0.3), 5)
    1.05396
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    requested = as_finite_array(kl_budgets, "kl_budgets", min_ndim=0)
    budgets = requested.ravel()
    if (budgets < 0).any():
        raise ValueError(f"KL budgets must be >= 0 nats; got {budgets[budgets < 0][0]!r}.")
    ceiling, top = tilting.max_kl(p0, r), tilting.greedy_gain(p0, r)
    out = np.where(budgets >= ceiling, top, 0.0)
    inside = (budgets > 0) & (budgets < ceiling)
    if inside.any():
        eps = budgets[inside]
        sd = float(np.sqrt(p0 @ (r - p0 @ r) ** 2))
        lo = np.full(eps.size, np.log(sd) - 60.0)  # KL(lo) ≥ ε
        hi = np.full(eps.size, np.log(sd) + 60.0)  # KL(hi) ≤ ε
        for _ in range(120):
            mid = 0.5 * (lo + hi)
            above = tilting.frontier(p0, r, np.exp(mid)).kl > eps
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
        out[inside] = tilting.frontier(p0, r, np.exp(0.5 * (lo + hi))).gain
    return float(out[0]) if requested.ndim == 0 else out.reshape(requested.shape)
