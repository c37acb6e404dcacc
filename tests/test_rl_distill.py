"""Distilling the tilted policy: weights, the exact landing point on the enumerable model, resumption."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from alignlimits import tilting
from alignlimits.experiments import enumerable as runs
from alignlimits.lm import enumerable as E
from alignlimits.rl import distill
from alignlimits.rl.training import train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-50, 50), min_size=1, max_size=12), st.floats(1e-3, 1e3), st.integers(1, 3))
def test_tilt_weights_are_a_softmax_within_each_prompt(rewards, beta, prompts) -> None:
    r = np.asarray(rewards)
    index = np.arange(r.size) % prompts
    w = distill.tilt_weights(r, beta, index)
    assert np.all(w >= 0) and np.all(np.isfinite(w))
    for p in np.unique(index):
        rows = index == p
        assert w[rows].sum() == pytest.approx(1.0, abs=1e-12)
        brute = np.exp((r[rows] - r[rows].max()) / beta)  # brute force, shifted
        np.testing.assert_allclose(w[rows], brute / brute.sum(), rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(distill.tilt_weights(r + 7.0, beta, index), w, rtol=1e-9, atol=1e-300)  # shift-free


def test_best_of_n_weights_pick_each_groups_winner() -> None:
    r = np.array([0.1, 0.5, 0.3, 0.2, 0.9, 0.0, 0.4])  # prompt 0: two groups of 2 and a leftover; prompt 1: one
    index = np.array([0, 0, 0, 0, 1, 1, 0])
    w = distill.best_of_n_weights(r, 2, index)
    assert w.tolist() == [0.0, 0.5, 0.5, 0.0, 1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="fewer than n"):
        distill.best_of_n_weights([1.0], 2)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: distill.tilt_weights([1.0, np.nan], 1.0), "finite"),
        (lambda: distill.tilt_weights([1.0], 0.0), "beta must be"),
        (lambda: distill.tilt_weights([1.0, 2.0], 1.0, [0]), "prompt_index"),
        (lambda: distill.best_of_n_weights([1.0, 2.0], 0), "positive integer"),
        (lambda: distill.DistillConfig(best_of=8, samples_per_prompt=4), "best_of"),
        (lambda: distill.DistillConfig(batch_size=0), "batch_size"),
    ],
)
def test_bad_inputs_get_one_line_errors(call, message) -> None:
    with pytest.raises(ValueError, match=message):
        call()


@pytest.fixture(scope="module")
def small():
    base = E.random_lm(3, 3, seed=4, scale=1.0)
    return base, E.random_reward(base, np.random.default_rng(4))


@pytest.mark.parametrize("best_of", [None, 4])
def test_distillation_lands_on_its_exact_prediction_and_under_the_frontier(small, best_of) -> None:
    base, r = small
    beta = 0.3
    policy, algorithm = runs.make_run("distill", base, r, beta, seed=3, samples_per_prompt=256, steps=1500,
                                      best_of=best_of)  # fmt: skip
    train(algorithm, progress=False)
    target = runs.distillation_target(algorithm, base)
    final = policy.to_enumerable()
    assert E.sequence_kl(target, final) < 0.02  # the loss's minimiser, reached
    kl_final, kl_target = E.sequence_kl(final, base), E.sequence_kl(target, base)
    reward_final, reward_target = final.probs @ r, target.probs @ r
    assert kl_final == pytest.approx(kl_target, abs=0.05) and reward_final == pytest.approx(reward_target, abs=0.02)
    assert kl_target <= np.log(256) + 1e-9  # at most n atoms
    for kl, reward in ((kl_final, reward_final), (kl_target, reward_target)):
        assert reward - base.probs @ r <= tilting.max_gain(base.probs, r, kl) + 1e-9  # never above the frontier


def test_many_samples_bring_distillation_to_pi_beta(small) -> None:
    base, r = small
    beta = 0.5
    _, algorithm = runs.make_run("distill", base, r, beta, seed=0, samples_per_prompt=200_000, sample_batch_size=50_000)
    algorithm.collect()
    target = runs.distillation_target(algorithm, base)
    assert E.sequence_kl(target, base.tilt(r, beta)) < 1e-3  # self-normalised importance sampling is consistent


def test_a_resumed_distillation_equals_an_uninterrupted_one(tmp_path, small) -> None:
    base, r = small
    runs_ = [runs.make_run("distill", base, r, 0.3, seed=1, samples_per_prompt=64, steps=6)[1] for _ in range(2)]
    train(runs_[0], progress=False)
    assert len(train(runs_[1], checkpoint=tmp_path / "c.pt", stop_after=2, progress=False)) == 2
    fresh = runs.make_run("distill", base, r, 0.3, seed=1, samples_per_prompt=64, steps=6)[1]
    history = train(fresh, checkpoint=tmp_path / "c.pt", progress=False)
    assert len(history) == 6
    torch.testing.assert_close(fresh.policy.logits, runs_[0].policy.logits)
    np.testing.assert_array_equal(fresh.weights, runs_[0].weights)


def test_enumerable_run_reports_the_sampling_pass_as_its_cost(small) -> None:
    base, r = small
    result = runs.run("distill", base, r, 0.3, seed=0, samples_per_prompt=128, steps=200)
    assert result.samples == 128 and result.kl >= 0 and np.isfinite(result.fraction_of_limit)
    assert result.fraction_of_limit <= 1 + 1e-9
