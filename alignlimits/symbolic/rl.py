r"""Identities behind the RL chapter, derived with SymPy.

* :func:`shaped_reward_at_optimum` — at ``π_β = π0 e^{r/β}/Z`` the KL-shaped reward
  ``r − β log(π_β/π0)`` equals ``β log Z`` for every outcome: it is constant, so every
  group-relative (or baselined) advantage vanishes and ``π_β`` is a fixed point of
  PPO and GRPO with the KL penalty in the reward.
* :func:`kl_loss_gradients` — for a softmax policy ``π = softmax(θ)`` over ``k``
  outcomes and a reference ``q``, the expected gradients on policy of the KL
  estimators used as losses (``δ = log π/q``):
  ``E_π[∇ δ²/2] = ∇ KL(π‖q)``, ``E_π[∇(e^{−δ} − 1 + δ)] = ∇ KL(q‖π)`` and
  ``E_π[∇ δ] = 0``. (The sample itself is not differentiated: ``π`` in the expectation
  is held fixed, as when a loss is averaged over samples drawn from the policy.)
"""

from __future__ import annotations

import sympy as sp

__all__ = ["kl_loss_gradients", "shaped_reward_at_optimum"]


def shaped_reward_at_optimum() -> sp.Eq:
    r"""``r − β log(π_β/π0) = β log Z`` with ``π_β = π0 e^{r/β}/Z`` (one outcome; symbols positive).

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.rl import shaped_reward_at_optimum
    >>> eq = shaped_reward_at_optimum()
    >>> eq.rhs, sp.simplify(sp.expand_log(eq.lhs - eq.rhs, force=True))  # the same for every outcome
    (beta*log(Z), 0)
    """
    r = sp.Symbol("r", real=True)
    beta, pi0, z = sp.symbols("beta pi_0 Z", positive=True)
    pi_beta = pi0 * sp.exp(r / beta) / z
    shaped = r - beta * sp.log(pi_beta / pi0)
    return sp.Eq(shaped, beta * sp.log(z), evaluate=False)


def kl_loss_gradients(k: int = 2) -> dict[str, list[sp.Eq]]:
    r"""Expected on-policy gradients of k1, k2, k3 as losses, against the KL gradients.

    Returns ``{"k1": [...], "k2": [...], "k3": [...]}``, each a list over ``θ_j`` of
    ``sp.Eq(E_π[∂_{θ_j} estimator], target)`` with targets ``0``, ``∂_{θ_j} KL(π‖q)``
    and ``∂_{θ_j} KL(q‖π)``. The equations hold identically (``simplify(lhs − rhs) == 0``).

    Examples
    --------
    >>> import sympy as sp
    >>> from alignlimits.symbolic.rl import kl_loss_gradients
    >>> grads = kl_loss_gradients(2)
    >>> sorted(grads), len(grads["k2"])
    (['k1', 'k2', 'k3'], 2)
    >>> grads["k1"][0].rhs  # k1 as a loss has zero expected gradient
    0
    >>> all(sp.simplify(eq.lhs - eq.rhs) == 0 for eqs in grads.values() for eq in eqs)
    True
    """
    if k < 2:
        raise ValueError(f"need at least 2 outcomes; got k={k}.")
    theta = sp.symbols(f"theta1:{k + 1}", real=True)
    q = sp.symbols(f"q1:{k + 1}", positive=True)
    norm = sum(sp.exp(t) for t in theta)
    pi = [sp.exp(t) / norm for t in theta]
    log_pi = [t - sp.log(norm) for t in theta]
    # A normalised reference from positive weights, so no constraint between the symbols is needed.
    q_total = sum(q)
    qn = [qi / q_total for qi in q]
    delta = [lp - sp.log(qi) for lp, qi in zip(log_pi, qn, strict=True)]
    kl_forward_policy = sum(p * d for p, d in zip(pi, delta, strict=True))  # KL(π‖q)
    kl_reference = sum(qi * (sp.log(qi) - lp) for qi, lp in zip(qn, log_pi, strict=True))  # KL(q‖π)
    estimators = {"k1": delta, "k2": [d**2 / 2 for d in delta], "k3": [sp.exp(-d) - 1 + d for d in delta]}
    targets = {"k1": lambda t: sp.Integer(0), "k2": lambda t: sp.diff(kl_forward_policy, t),
               "k3": lambda t: sp.diff(kl_reference, t)}  # fmt: skip
    out: dict[str, list[sp.Eq]] = {}
    for name, values in estimators.items():
        out[name] = [
            sp.Eq(sum(p * sp.diff(v, t) for p, v in zip(pi, values, strict=True)), targets[name](t), evaluate=False)
            for t in theta
        ]
    return out
