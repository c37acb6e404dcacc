"""RL loss pieces, checked exactly: surrogate vs REINFORCE, clipping, KL-penalty gradients, aggregation, GAE."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from alignlimits.lm import enumerable as E
from alignlimits.lm import kl as lmkl
from alignlimits.rl import grpo, losses, metrics, ppo, training
from alignlimits.rl.policies import TabularPolicy, token_logprobs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def perturbed_policy(vocab_size: int, max_len: int, seed: int) -> tuple[TabularPolicy, TabularPolicy]:
    """A tabular policy moved away from its reference (so every KL and gradient is non-trivial)."""
    lm = E.random_lm(vocab_size, max_len, seed=seed)
    policy = TabularPolicy(lm)
    reference = policy.frozen_copy()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        policy.logits.add_(torch.randn(policy.logits.shape, generator=gen, dtype=torch.float64))
    return policy, reference


def all_sequences(policy: TabularPolicy, reference: TabularPolicy):
    """Every sequence: per-token log-probs (with gradient), reference log-probs, mask, exact weights π(y)."""
    ro = policy.rollout_of(np.arange(policy.reference_lm.n_sequences))
    lp = token_logprobs(policy(ro).logprobs, ro)
    lq = token_logprobs(reference(ro).logprobs, ro)
    seq_lp, seq_lq = lmkl.masked_sum(lp, ro.mask), lmkl.masked_sum(lq, ro.mask)
    return ro, lp, lq, seq_lp, seq_lq, seq_lp.exp().detach()


def grad(loss: torch.Tensor, policy: TabularPolicy) -> torch.Tensor:
    (g,) = torch.autograd.grad(loss, policy.logits, retain_graph=True)
    return g


# ---------------------------------------------------------------------------- surrogate and clipping


def test_surrogate_gradient_at_ratio_one_is_reinforce() -> None:
    policy, _ = perturbed_policy(4, 4, seed=1)
    ro = policy.rollout(torch.zeros(32, dtype=torch.long), seed=3)
    lp = token_logprobs(policy(ro).logprobs, ro)
    adv = torch.as_tensor(np.random.default_rng(0).standard_normal((32, 1)))
    sizes = losses.BatchSizes.of(ro.mask)
    for how in losses.AGGREGATIONS:
        surrogate = losses.clipped_surrogate(lp, lp.detach(), adv, clip_low=0.2, clip_high=0.28)
        reinforce = -adv * lp
        g_s = grad(losses.aggregate(surrogate, ro.mask, how, sizes), policy)
        g_r = grad(losses.aggregate(reinforce, ro.mask, how, sizes), policy)
        assert g_r.abs().max() > 1e-3
        torch.testing.assert_close(g_s, g_r, rtol=0, atol=1e-14)
    # Away from ratio 1 the surrogate's gradient is the importance-weighted one, not REINFORCE's.
    old = (lp + 0.1 * torch.randn(lp.shape, generator=torch.Generator().manual_seed(0), dtype=lp.dtype)).detach()
    g_off = grad(
        losses.aggregate(
            losses.clipped_surrogate(lp, old, adv, clip_low=10, clip_high=10), ro.mask, "token_mean", sizes
        ),
        policy,
    )
    g_r = grad(losses.aggregate(-adv * lp, ro.mask, "token_mean", sizes), policy)
    assert not torch.allclose(g_off, g_r, atol=1e-6)


@settings(max_examples=200, deadline=None)
@given(
    log_ratio=st.floats(-1.0, 1.0),
    advantage=st.floats(-5.0, 5.0).filter(lambda a: abs(a) > 1e-6),
    clip_low=st.floats(0.05, 0.5),
    clip_high=st.floats(0.05, 0.5),
)
def test_clipping_activates_exactly_outside_its_interval(log_ratio, advantage, clip_low, clip_high) -> None:
    ratio = math.exp(log_ratio)
    # Stay off the kinks themselves, where the subgradient is a convention.
    if min(abs(ratio - (1 + clip_high)), abs(ratio - (1 - clip_low))) < 1e-9:
        return
    lp = torch.tensor([log_ratio], dtype=torch.float64, requires_grad=True)
    old = torch.zeros(1, dtype=torch.float64)
    adv = torch.tensor([advantage], dtype=torch.float64)
    (g,) = torch.autograd.grad(losses.clipped_surrogate(lp, old, adv, clip_low=clip_low, clip_high=clip_high).sum(), lp)
    region = losses.clip_region(lp.detach(), old, adv, clip_low=clip_low, clip_high=clip_high)
    outside = (advantage > 0 and ratio > 1 + clip_high) or (advantage < 0 and ratio < 1 - clip_low)
    assert bool(region) == outside
    if outside:
        assert float(g) == 0.0
    else:
        assert float(g) == pytest.approx(-advantage * ratio, rel=1e-12)


def test_clipping_at_the_edges() -> None:
    eps = 0.2
    adv = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=torch.float64)
    ratios = torch.tensor(
        [(1 + eps) * (1 - 1e-9), (1 + eps) * (1 + 1e-9), (1 - eps) * (1 + 1e-9), (1 - eps) * (1 - 1e-9)],
        dtype=torch.float64,
    )
    lp = ratios.log().requires_grad_(True)
    old = torch.zeros(4, dtype=torch.float64)
    (g,) = torch.autograd.grad(losses.clipped_surrogate(lp, old, adv, clip_low=eps, clip_high=eps).sum(), lp)
    assert losses.clip_region(lp.detach(), old, adv, clip_low=eps, clip_high=eps).tolist() == [False, True, False, True]
    assert g[1] == 0 and g[3] == 0 and g[0] != 0 and g[2] != 0
    with pytest.raises(ValueError, match="clip_low"):
        losses.clipped_surrogate(lp, old, adv, clip_low=0.0, clip_high=0.2)


# ---------------------------------------------------------------------------- KL penalties as losses


def test_k2_as_loss_gives_the_kl_gradient_and_k3_does_not() -> None:
    """Exact expectations over every sequence: E_π[∇k2] = ∇KL(π‖π_ref); E_π[∇k3] = ∇KL(π_ref‖π)."""
    policy, reference = perturbed_policy(3, 4, seed=2)
    _, _, _, seq_lp, seq_lq, w = all_sequences(policy, reference)
    exact_kl = (seq_lp.exp() * (seq_lp - seq_lq)).sum()
    forward_kl = (seq_lq.exp() * (seq_lq - seq_lp)).sum()
    g_kl, g_forward = grad(exact_kl, policy), grad(forward_kl, policy)
    g = {k: grad((w * losses.kl_penalty(seq_lp, seq_lq, k)).sum(), policy) for k in losses.KL_ESTIMATORS}
    torch.testing.assert_close(g["k2"], g_kl, rtol=0, atol=1e-12)
    torch.testing.assert_close(g["k3"], g_forward, rtol=0, atol=1e-12)
    assert (g["k3"] - g_kl).abs().max() > 1e-2  # k3-as-loss does not follow the KL's gradient
    torch.testing.assert_close(g["k1"], torch.zeros_like(g_kl), rtol=0, atol=1e-12)  # E[∇ log π] = 0
    # k3 is an unbiased *value* of the KL all the same.
    k3_value = (w * losses.kl_penalty(seq_lp, seq_lq, "k3")).sum()
    assert float(k3_value.detach()) == pytest.approx(float(exact_kl.detach()), rel=1e-10)


def test_per_token_k2_misses_the_prefix_term() -> None:
    """Per token, E[Σ_t ∇k2_t] is the per-position KL's gradient with the prefixes held fixed.

    It equals ∇KL(π‖π_ref) for one-token completions and not for longer ones.
    """
    for max_len, equal in ((1, True), (4, False)):
        policy, reference = perturbed_policy(4, max_len, seed=3)
        ro, lp, lq, seq_lp, seq_lq, w = all_sequences(policy, reference)
        g_kl = grad((seq_lp.exp() * (seq_lp - seq_lq)).sum(), policy)
        per_token_k2 = lmkl.masked_sum(losses.kl_penalty(lp, lq, "k2"), ro.mask)
        g_tok = grad((w * per_token_k2).sum(), policy)
        fixed_prefix_kl = lmkl.per_position_kl(policy(ro).logprobs, reference(ro).logprobs, ro.mask)
        torch.testing.assert_close(g_tok, grad((w * fixed_prefix_kl).sum(), policy), rtol=0, atol=1e-12)
        assert torch.allclose(g_tok, g_kl, atol=1e-12) is equal


def test_kl_penalty_rejects_unknown_estimator() -> None:
    with pytest.raises(ValueError, match="k1"):
        losses.kl_penalty(torch.zeros(2), torch.zeros(2), "k4")


# ---------------------------------------------------------------------------- aggregation


def test_aggregations_agree_when_lengths_are_equal() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    full = torch.ones(6, 5, dtype=torch.bool)
    values = [float(losses.aggregate(x, full, h, losses.BatchSizes.of(full))) for h in losses.AGGREGATIONS]
    assert values == pytest.approx([values[0]] * 3, rel=1e-14)
    # Equal lengths below the maximum: per-sequence and per-token means agree; the constant
    # normaliser differs from them by exactly length/max_len.
    short = lmkl.mask_from_lengths(torch.full((6,), 3), 5)
    s = {h: float(losses.aggregate(x, short, h, losses.BatchSizes.of(short))) for h in losses.AGGREGATIONS}
    assert s["sequence_mean"] == pytest.approx(s["token_mean"], rel=1e-14)
    assert s["constant_length"] == pytest.approx(s["token_mean"] * 3 / 5, rel=1e-14)
    # Unequal lengths: the variants are different losses.
    ragged = lmkl.mask_from_lengths(torch.tensor([1, 2, 3, 4, 5, 5]), 5)
    r = {h: float(losses.aggregate(x, ragged, h, losses.BatchSizes.of(ragged))) for h in losses.AGGREGATIONS}
    assert len({round(v, 12) for v in r.values()}) == 3


def test_aggregation_ignores_whatever_padding_holds() -> None:
    mask = lmkl.mask_from_lengths(torch.tensor([2, 4]), 4)
    x = torch.tensor([[1.0, 2.0, math.nan, -math.inf], [1.0, 1.0, 1.0, 1.0]], dtype=torch.float64)
    for h in losses.AGGREGATIONS:
        assert math.isfinite(float(losses.aggregate(x, mask, h, losses.BatchSizes.of(mask))))
    assert float(losses.aggregate(x, mask, "token_mean", losses.BatchSizes.of(mask))) == pytest.approx(7 / 6)
    with pytest.raises(ValueError, match="one of"):
        losses.aggregate(x, mask, "mean", losses.BatchSizes.of(mask))


def test_micro_batch_shares_sum_to_the_full_batch_loss() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(8, 6, generator=gen, dtype=torch.float64)
    mask = lmkl.mask_from_lengths(torch.tensor([1, 6, 3, 2, 6, 5, 4, 1]), 6)
    sizes = losses.BatchSizes.of(mask)
    for h in losses.AGGREGATIONS:
        full = losses.aggregate(x, mask, h, sizes)
        parts = sum(losses.aggregate(x[i], mask[i], h, sizes) for i in training.micro_batches(torch.arange(8), 4))
        assert float(parts) == pytest.approx(float(full), rel=1e-14)


# ---------------------------------------------------------------------------- advantages


def test_group_advantages() -> None:
    r = torch.tensor([1.0, 2.0, 3.0, 0.5, 0.5, 0.5, 0.1 + 0.2, 0.3, 0.3000000000000001], dtype=torch.float64)
    for scale in (True, False):
        a = grpo.group_advantages(r, 3, scale=scale)
        assert bool(torch.isfinite(a).all())
        assert a[3:6].tolist() == [0.0, 0.0, 0.0]  # zero-variance group: exactly zero, no NaN
        assert float(a[:3].sum()) == pytest.approx(0.0, abs=1e-12)
    torch.testing.assert_close(
        grpo.group_advantages(r[:3], 3, scale=False), torch.tensor([-1.0, 0, 1], dtype=torch.float64)
    )
    torch.testing.assert_close(
        grpo.group_advantages(r[:3], 3, scale=True, eps=0.0), torch.tensor([-1.0, 0, 1], dtype=torch.float64)
    )
    # Rounding-level spread is not blown up into ±1 advantages.
    assert grpo.group_advantages(r[6:], 3, scale=True).abs().max() < 1e-10
    with pytest.raises(ValueError, match="multiple of group_size"):
        grpo.group_advantages(r[:4], 3, scale=True)
    with pytest.raises(ValueError, match="NaN"):
        grpo.group_advantages(torch.tensor([1.0, math.nan]), 2, scale=True)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-10, 10), min_size=4, max_size=4), st.floats(-5, 5), st.floats(0.1, 5))
def test_group_advantages_invariant_to_shift_and_scale(values, shift, scale) -> None:
    r = torch.tensor(values, dtype=torch.float64)
    a = grpo.group_advantages(r, 4, scale=True, eps=0.0)
    b = grpo.group_advantages(scale * r + shift, 4, scale=True, eps=0.0)
    if float(r.max() - r.min()) > 1e-6:
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_gae_matches_the_definition() -> None:
    gen = torch.Generator().manual_seed(2)
    lengths = torch.tensor([1, 3, 5, 4])
    mask = lmkl.mask_from_lengths(lengths, 5)
    rewards, values = (
        torch.randn(4, 5, generator=gen, dtype=torch.float64),
        torch.randn(4, 5, generator=gen, dtype=torch.float64),
    )
    gamma, lam = 0.9, 0.8
    adv, ret = ppo.gae(rewards, values, mask, gamma=gamma, lam=lam)
    for i, n in enumerate(lengths.tolist()):
        v = [*values[i, :n].tolist(), 0.0]
        deltas = [rewards[i, t] + gamma * v[t + 1] - v[t] for t in range(n)]
        for t in range(n):
            expected = sum((gamma * lam) ** (s - t) * deltas[s] for s in range(t, n))
            assert float(adv[i, t]) == pytest.approx(float(expected), rel=1e-12, abs=1e-12)
        assert (adv[i, n:] == 0).all() and (ret[i, n:] == 0).all()
    torch.testing.assert_close(ret, torch.where(mask, adv + values, torch.zeros_like(adv)))
    # γ = λ = 1: the advantage is the reward-to-go minus the value.
    a1, _ = ppo.gae(rewards, values, mask, gamma=1.0, lam=1.0)
    to_go = torch.where(mask, rewards, 0).flip(-1).cumsum(-1).flip(-1)
    torch.testing.assert_close(a1, torch.where(mask, to_go - values, 0))


def test_token_rewards_put_the_score_on_the_last_token() -> None:
    mask = lmkl.mask_from_lengths(torch.tensor([2, 3]), 4)
    k1 = torch.ones(2, 4, dtype=torch.float64)
    r = ppo.token_rewards(torch.tensor([5.0, 7.0], dtype=torch.float64), k1, mask, 0.5)
    torch.testing.assert_close(r, torch.tensor([[-0.5, 4.5, 0, 0], [-0.5, -0.5, 6.5, 0]], dtype=torch.float64))
    # Summed, they are the KL-shaped sequence reward r − β·k1.
    torch.testing.assert_close(lmkl.masked_sum(r, mask), torch.tensor([4.0, 5.5], dtype=torch.float64))


def test_whiten_and_value_loss() -> None:
    mask = lmkl.mask_from_lengths(torch.tensor([2, 3]), 3)
    x = torch.tensor([[1.0, 2.0, 99.0], [3.0, 4.0, 5.0]], dtype=torch.float64)
    w = losses.whiten(x, mask)
    assert float(losses.masked_mean(w, mask)) == pytest.approx(0.0, abs=1e-12)
    assert float(losses.masked_mean(w**2, mask)) == pytest.approx(1.0, rel=1e-6)
    assert w[0, 2] == 0
    v, old, ret = torch.tensor([1.0, 1.0]), torch.tensor([0.0, 0.0]), torch.tensor([1.0, 3.0])
    # Clipped at old ± 0.2: the pessimistic (larger) of the two squared errors.
    torch.testing.assert_close(ppo.clipped_value_loss(v, old, ret, 0.2), torch.tensor([0.5 * 0.8**2, 0.5 * 2.8**2]))


def test_adaptive_kl_controller_moves_towards_the_target() -> None:
    c = ppo.AdaptiveKLController(0.1, target=1.0, horizon=100)
    c.update(10.0, 10)  # far above target: error clipped at +0.2
    assert c.value == pytest.approx(0.1 * 1.02)
    c.update(0.5, 10)  # below target: error clipped at −0.2
    assert c.value == pytest.approx(0.1 * 1.02 * 0.98)
    c.update(1.1, 100)  # within ±20 %: proportional
    assert c.value == pytest.approx(0.1 * 1.02 * 0.98 * 1.1)
    fixed = ppo.AdaptiveKLController(0.1, target=None, horizon=100)
    fixed.update(10.0, 10)
    assert fixed.value == 0.1


def test_metrics_and_configs_validate() -> None:
    with pytest.raises(ValueError, match="one reward per completion"):
        metrics.check_rewards(torch.zeros(3), 4)
    with pytest.raises(ValueError, match="NaN or inf"):
        metrics.check_rewards(torch.tensor([0.0, math.inf]), 2)
    with pytest.raises(ValueError, match="loss_aggregation"):
        grpo.GRPOConfig(loss_aggregation="mean")
    with pytest.raises(ValueError, match="group_size"):
        grpo.GRPOConfig(group_size=1)
    with pytest.raises(ValueError, match="kl_estimator"):
        grpo.GRPOConfig(kl_estimator="k5")
    with pytest.raises(ValueError, match="gamma"):
        ppo.PPOConfig(lam=1.5)
    with pytest.raises(ValueError, match="value head"):
        lm = E.random_lm(3, 2, seed=0)
        policy = TabularPolicy(lm)
        ppo.PPO(policy, policy.frozen_copy(), lambda ro: torch.zeros(len(ro)), ppo.PPOConfig())
    with pytest.raises(ValueError, match="equal minibatches"):
        training.minibatches(10, 3, np.random.default_rng(0))
