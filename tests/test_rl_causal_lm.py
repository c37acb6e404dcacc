"""The same GRPO and PPO code on a transformers causal LM (a tiny GPT-2 with random weights)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alignlimits.lm import models, sampling
from alignlimits.rl import grpo, ppo, training
from alignlimits.rl.policies import CausalLMPolicy, Rollout, token_logprobs

VOCAB, EOS, PAD = 8, 6, 7
PROMPTS = [[0, 1, 2], [3], [4, 5]]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def policy(value_head: bool = False, **kw) -> CausalLMPolicy:
    model = models.tiny_gpt2(
        seed=0, vocab_size=VOCAB, eos_token_id=EOS, pad_token_id=PAD, n_embd=16, n_layer=1, n_head=2, device="cpu"
    )
    return CausalLMPolicy(
        model,
        PROMPTS,
        temperature=1.0,
        max_new_tokens=6,
        eos_token_id=EOS,
        pad_token_id=PAD,
        value_head=value_head,
        **kw,
    )


def count_of_token_2(rollout: Rollout) -> torch.Tensor:
    hits = (rollout.completion_ids == 2) & rollout.mask
    return hits.sum(-1).double()


def test_forward_agrees_with_the_sampler() -> None:
    pol = policy()
    ro = pol.rollout(torch.tensor([0, 1, 2, 0, 1, 2]), seed=0, score=True)
    torch.testing.assert_close(ro.mask, ro.context.completion_mask)
    with torch.no_grad():
        lp = token_logprobs(pol(ro).logprobs, ro)
    torch.testing.assert_close(lp, ro.context.logprobs, rtol=0, atol=1e-5)
    # Padded rows: completions stop at EOS, pad (≠ EOS) after, masks from lengths.
    assert bool((ro.completion_ids[~ro.mask] == PAD).all())
    lengths = sampling.completion_lengths(ro.completion_ids, EOS)
    torch.testing.assert_close(ro.lengths, lengths)


@pytest.mark.parametrize("method", ["grpo", "ppo"])
def test_a_few_steps_run_and_log_finite_metrics(method: str) -> None:
    pol = policy(value_head=method == "ppo")
    ref = pol.frozen_copy()
    before = [p.detach().clone() for p in pol.model.parameters()]
    if method == "grpo":
        cfg = grpo.GRPOConfig(steps=3, groups=2, group_size=4, lr=1e-2, kl_loss_coef=0.1, micro_batches=2)
        algorithm = grpo.GRPO(pol, ref, count_of_token_2, cfg, judge_fn=count_of_token_2)
    else:
        cfg = ppo.PPOConfig(steps=3, batch_size=8, lr=1e-2, epochs=2, minibatches=2, micro_batches=2, kl_target=1.0)
        algorithm = ppo.PPO(pol, ref, count_of_token_2, cfg, judge_fn=count_of_token_2)
    history = training.train(algorithm, progress=False)
    assert len(history) == 3
    for h in history:
        assert all(np.isfinite(v) for v in h.values()), h
        assert h["judge"] == h["reward"]
    assert history[0]["kl_exact"] == pytest.approx(0.0, abs=1e-9)  # starts at the reference
    assert history[-1]["kl_exact"] > 0
    assert any((a - b.detach()).abs().max() > 0 for a, b in zip(before, pol.model.parameters(), strict=True))
    for a, b in zip(ref.model.parameters(), before, strict=True):  # the reference stayed frozen
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_trainable_predicate_freezes_the_rest() -> None:
    pol = policy(trainable=lambda name: name.startswith("transformer.h.0.mlp"))
    trainable = {n for n, p in pol.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("model.transformer.h.0.mlp") for n in trainable)
    with pytest.raises(ValueError, match="pad_token_id must differ"):
        CausalLMPolicy(pol.model, PROMPTS, temperature=1.0, max_new_tokens=4, eos_token_id=EOS, pad_token_id=EOS)


def test_resumed_run_on_a_transformer_equals_an_uninterrupted_one(tmp_path) -> None:
    def fresh() -> grpo.GRPO:
        pol = policy()
        cfg = grpo.GRPOConfig(steps=3, groups=2, group_size=2, lr=1e-2, kl_loss_coef=0.1, seed=4)
        return grpo.GRPO(pol, pol.frozen_copy(), count_of_token_2, cfg)

    full = fresh()
    full_history = training.train(full, progress=False)
    path = tmp_path / "run.pt"
    training.train(fresh(), checkpoint=path, checkpoint_every=1, stop_after=2, progress=False)
    resumed = fresh()
    assert training.train(resumed, checkpoint=path, progress=False) == full_history
    for a, b in zip(full.policy.parameters(), resumed.policy.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_rollout_without_scoring_samples_the_same_completions() -> None:
    pol = policy()
    rows = torch.tensor([0, 1, 2, 0, 1, 2])
    scored, plain = pol.rollout(rows, seed=5, score=True), pol.rollout(rows, seed=5)
    assert plain.context.logprobs is None and scored.context.logprobs is not None
    torch.testing.assert_close(plain.completion_ids, scored.completion_ids, rtol=0, atol=0)
    assert plain.select(torch.tensor([1, 2])).context.logprobs is None
