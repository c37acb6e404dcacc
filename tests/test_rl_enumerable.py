"""GRPO and PPO on the enumerable model, where the optimum π_β and every KL are exact.

Convergence tolerance (stated in the chapter too): after 300 steps of 64 samples with a
KL-in-reward coefficient β, the exact (KL, reward) of the trained policy is within
0.01 + 2 % of KL(π_β‖π0) and 0.01 of E_{π_β}[r], and KL(π‖π_β) < 5e-3 nats.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alignlimits import tilting
from alignlimits.experiments import enumerable as enumerable_runs
from alignlimits.lm import enumerable as E
from alignlimits.lm import kl as lmkl
from alignlimits.rl import grpo, ppo, training
from alignlimits.rl.policies import TabularPolicy, sequence_reward

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def problem() -> tuple[E.EnumerableLM, np.ndarray]:
    lm = E.random_lm(3, 4, seed=1)  # 31 sequences, 15 prefixes
    return lm, E.random_reward(lm, np.random.default_rng(2))


def make(method: str, lm: E.EnumerableLM, rewards: np.ndarray, beta: float, seed: int, **overrides):
    if method == "ppo":
        policy = TabularPolicy(lm, value_head=True)
        cfg = dict(steps=300, batch_size=64, lr=0.05, lr_final_fraction=0.05, kl_reward_coef=beta, epochs=2,
                   vf_coef=0.5)
        cfg.update(overrides)
        return policy, ppo.PPO(policy, policy.frozen_copy(), sequence_reward(rewards), ppo.PPOConfig(seed=seed, **cfg))
    policy = TabularPolicy(lm)
    cfg = dict(steps=300, groups=4, group_size=16, lr=0.05, lr_final_fraction=0.05, kl_reward_coef=beta)
    cfg.update({"drgrpo": dict(scale_rewards=False, loss_aggregation="constant_length"),
                "grpo": dict(scale_rewards=True, loss_aggregation="sequence_mean")}[method])  # fmt: skip
    cfg.update(overrides)
    return policy, grpo.GRPO(policy, policy.frozen_copy(), sequence_reward(rewards), grpo.GRPOConfig(seed=seed, **cfg))


@pytest.mark.parametrize("method", ["ppo", "grpo", "drgrpo"])
@pytest.mark.parametrize("beta", [0.5, 2.0])
def test_converges_to_the_tilted_policy(problem, method: str, beta: float) -> None:
    lm, r = problem
    target = lm.tilt(r, beta)
    kl_star, reward_star = E.sequence_kl(target, lm), float(target.probs @ r)
    policy, algorithm = make(method, lm, r, beta, seed=0)
    history = training.train(algorithm, progress=False)
    trained = policy.to_enumerable()
    kl, reward = E.sequence_kl(trained, lm), float(trained.probs @ r)
    assert abs(kl - kl_star) <= 0.01 + 0.02 * kl_star
    assert abs(reward - reward_star) <= 0.01
    assert E.sequence_kl(trained, target) < 5e-3
    # It got there: the start was far away.
    assert E.sequence_kl(lm, target) > 20 * E.sequence_kl(trained, target)

    # Never above the exact frontier: exactly (a theorem) ...
    base = float(lm.probs @ r)
    assert reward - base <= tilting.max_gain(lm.probs, r, kl) + 1e-9
    # ... and the logged estimates of the last 50 steps are not meaningfully above it either.
    last = history[-50:]
    kl_hat = np.mean([h["kl_exact"] for h in last])
    gain_hat = np.mean([h["reward"] for h in last]) - base
    se = np.sqrt(np.mean([h["reward_se"] ** 2 for h in last]) / len(last)) + beta * np.sqrt(
        np.mean([h["kl_exact_se"] ** 2 for h in last]) / len(last)
    )
    assert gain_hat - tilting.max_gain(lm.probs, r, kl_hat) < 3 * se
    for h in history:
        assert all(np.isfinite(v) for v in h.values())


def test_grpo_with_a_per_token_k3_loss_stops_short_of_the_tilt(problem) -> None:
    """The GRPO paper's KL term (k3 per token in the loss) does not have π_β as its fixed point.

    Its expected gradient is that of the per-position KL(π_ref‖π) (see test_rl_losses), so
    the trained policy lands off π_β; a sequence-level k2 loss heads to it.
    """
    lm, r = problem
    beta = 0.5
    target = lm.tilt(r, beta)
    results = {}
    for estimator, level in (("k3", "token"), ("k2", "sequence")):
        policy, algorithm = make(
            "drgrpo", lm, r, beta, seed=0, kl_reward_coef=0.0, kl_loss_coef=beta, kl_estimator=estimator, kl_level=level
        )
        training.train(algorithm, progress=False)
        results[estimator] = E.sequence_kl(policy.to_enumerable(), target)
    assert results["k2"] < 0.02  # slower than KL in the reward (noisier gradient), but on its way to π_β
    assert results["k3"] > 10 * results["k2"]


@pytest.mark.parametrize("method", ["ppo", "grpo"])
@pytest.mark.parametrize("aggregation", ["token_mean", "sequence_mean"])
def test_gradient_accumulation_reproduces_the_full_batch(problem, method: str, aggregation: str) -> None:
    lm, r = problem
    params = []
    for micro in (1, 4):
        kw = dict(steps=3, micro_batches=micro, loss_aggregation=aggregation, minibatches=2)
        policy, algorithm = make(method, lm, r, 0.5, seed=3, **kw)
        training.train(algorithm, progress=False)
        params.append([p.detach().clone() for p in policy.parameters()])
    for a, b in zip(*params, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    assert (params[0][0] - torch.as_tensor(lm.next_logprobs)).abs().max() > 1e-3  # it did train


@pytest.mark.parametrize("method", ["ppo", "grpo"])
def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(problem, tmp_path, method: str) -> None:
    lm, r = problem
    extra = {"kl_target": 0.2, "kl_horizon": 200} if method == "ppo" else {}  # resume the adaptive β too
    full_policy, full = make(method, lm, r, 0.5, seed=5, steps=8, **extra)
    full_history = training.train(full, progress=False)

    path = tmp_path / "run.pt"
    _, first = make(method, lm, r, 0.5, seed=5, steps=8, **extra)
    training.train(first, checkpoint=path, checkpoint_every=2, stop_after=3, progress=False)
    resumed_policy, second = make(method, lm, r, 0.5, seed=5, steps=8, **extra)  # fresh objects, as in a new session
    resumed_history = training.train(second, checkpoint=path, checkpoint_every=2, progress=False)

    assert [h["step"] for h in resumed_history] == list(range(8))
    assert resumed_history == full_history
    for a, b in zip(full_policy.parameters(), resumed_policy.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    if method == "ppo":
        assert full_history[-1]["kl_coef"] != 0.5  # the controller moved, and was restored
    # A checkpoint written under another config is refused, not silently mixed.
    _, other = make(method, lm, r, 0.5, seed=6, steps=8, **extra)
    with pytest.raises(ValueError, match="different"):
        training.train(other, checkpoint=path, progress=False)


def test_same_seed_same_numbers_and_zero_kl_at_start(problem) -> None:
    lm, r = problem
    runs = []
    for _ in range(2):
        _, algorithm = make("grpo", lm, r, 0.5, seed=7, steps=3)
        runs.append(training.train(algorithm, progress=False))
    assert runs[0] == runs[1]
    first = runs[0][0]
    assert first["kl_exact"] == 0 and abs(first["kl_k1"]) < 1e-12 and abs(first["kl_k3"]) < 1e-12


def test_zero_variance_groups_give_no_update_and_no_nan(problem) -> None:
    lm, _ = problem
    policy, algorithm = make("grpo", lm, np.ones(lm.n_sequences), 0.5, seed=0, steps=2, kl_reward_coef=0.0)
    history = training.train(algorithm, progress=False)
    assert all(np.isfinite(v) for h in history for v in h.values())
    assert all(h["advantage_zero_groups"] == 1.0 for h in history)
    torch.testing.assert_close(policy.logits.detach(), torch.as_tensor(lm.next_logprobs), rtol=0, atol=0)


def test_rollouts_have_masks_from_lengths_and_a_distinct_pad(problem) -> None:
    lm, _ = problem
    policy = TabularPolicy(lm)
    ro = policy.rollout(torch.zeros(200, dtype=torch.long), seed=0)
    assert policy.pad_token_id not in (policy.eos_token_id, *range(lm.vocab_size))
    torch.testing.assert_close(ro.mask, lmkl.mask_from_lengths(ro.lengths, lm.max_len))
    assert bool((ro.completion_ids[~ro.mask] == policy.pad_token_id).all())
    assert bool((ro.completion_ids[ro.mask] < lm.vocab_size).all())
    # Sampling follows the policy: the empirical law of 200 draws is close to the exact one.
    counts = np.bincount(ro.context, minlength=lm.n_sequences)
    assert np.abs(counts / 200 - lm.probs).max() < 0.1


def test_nan_rewards_are_refused(problem) -> None:
    lm, _ = problem
    bad = np.zeros(lm.n_sequences)
    _, algorithm = make("grpo", lm, bad, 0.5, seed=0, steps=1)
    algorithm.reward_fn = lambda ro: torch.full((len(ro),), float("nan"), dtype=torch.float64)
    with pytest.raises(ValueError, match="NaN or inf"):
        algorithm.step(0)
    with pytest.raises(ValueError, match="NaN"):
        sequence_reward(np.full(lm.n_sequences, np.nan))


@pytest.mark.parametrize("method", enumerable_runs.METHODS)
def test_enumerable_runs_are_scored_exactly(problem, method: str) -> None:
    lm, r = problem
    res = enumerable_runs.run(method, lm, r, 1.0, seed=0, steps=20, record_every=5)
    steps, kls, rewards = res.trajectory
    assert steps.tolist() == [0, 5, 10, 15, 20]
    assert kls[0] == 0 and rewards[0] == pytest.approx(float(lm.probs @ r), rel=1e-12)
    assert kls[-1] == pytest.approx(res.kl) and rewards[-1] == pytest.approx(res.reward)
    assert 0 < res.fraction_of_limit <= 1 + 1e-9
    # Gibbs identity: the shortfall in the penalised objective is β·KL(π‖π_β).
    optimum = lm.tilt(r, 1.0)
    objective = res.reward - res.kl
    best = float(optimum.probs @ r) - E.sequence_kl(optimum, lm)
    assert best - objective == pytest.approx(res.objective_gap, rel=1e-8, abs=1e-12)
    # The cost in samples: drawn along the run, or once before fine-tuning (distillation).
    assert res.samples == (1024 if method == "distill" else 20 * 64) and len(res.history) == 20
    with pytest.raises(ValueError, match="method"):
        enumerable_runs.run("dpo", lm, r, 1.0, seed=0)
    with pytest.raises(ValueError, match="beta"):
        enumerable_runs.run(method, lm, r, 0.0, seed=0)
