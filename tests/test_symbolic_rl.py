"""SymPy identities of the RL chapter: the shaped reward at the optimum, KL-loss gradients."""

from __future__ import annotations

import pytest
import sympy as sp

from alignlimits.symbolic import rl


def test_shaped_reward_is_constant_at_the_optimum() -> None:
    eq = rl.shaped_reward_at_optimum()
    assert sp.simplify(sp.expand_log(eq.lhs - eq.rhs, force=True)) == 0
    assert eq.rhs.free_symbols == {sp.Symbol("beta", positive=True), sp.Symbol("Z", positive=True)}  # no r


@pytest.mark.parametrize("k", [2, 3])
def test_kl_loss_gradients(k: int) -> None:
    grads = rl.kl_loss_gradients(k)
    for eqs in grads.values():
        for eq in eqs:
            assert sp.simplify(eq.lhs - eq.rhs) == 0
    # k3's expected gradient is not the gradient of KL(π‖q): check at a point where they differ.
    k2_target, k3_grad = grads["k2"][0].rhs, grads["k3"][0].lhs
    point = {s: sp.Rational(i + 1, 3) for i, s in enumerate(sorted(k3_grad.free_symbols, key=str))}
    assert abs(float((k3_grad - k2_target).subs(point))) > 1e-3


def test_kl_loss_gradients_validate() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        rl.kl_loss_gradients(1)
