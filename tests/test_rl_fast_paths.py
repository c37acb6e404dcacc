"""The faster RL step (issue: at the speed of TRL) computes what the slower one did.

* full-vocabulary log-probs stay float32; the gathered values agree with a float64
  log-softmax of the same logits;
* the exact per-position KL and entropy, computed a few rows at a time in float64, equal
  the unchunked float64 computation;
* GRPO with one pass over one minibatch reuses the loss's own detached log-probs as
  ``log π_old`` instead of a no-grad forward: the same update;
* the exact KL is logged every ``metrics_every`` steps and at the last;
* a step runs on whatever device the policy is on (CUDA where present: ``-m gpu``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from alignlimits.lm import kl as sequence_kl
from alignlimits.lm import models
from alignlimits.rl import grpo, ppo
from alignlimits.rl.losses import entropy_per_token
from alignlimits.rl.metrics import exact_kl_and_entropy
from alignlimits.rl.policies import CausalLMPolicy, Rollout, token_logprobs
from alignlimits.rl.training import train

VOCAB, EOS, PAD = 8, 6, 7
PROMPTS = [[0, 1, 2], [3], [4, 5]]
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device")])]  # fmt: skip

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def policy(device: str = "cpu", value_head: bool = False) -> CausalLMPolicy:
    model = models.tiny_gpt2(seed=0, vocab_size=VOCAB, eos_token_id=EOS, pad_token_id=PAD, n_embd=16, n_layer=2,
                             n_head=2, device=device)  # fmt: skip
    return CausalLMPolicy(model, PROMPTS, temperature=0.7, max_new_tokens=6, eos_token_id=EOS, pad_token_id=PAD,
                          value_head=value_head)  # fmt: skip


def count_of_token_2(rollout: Rollout) -> torch.Tensor:
    return ((rollout.completion_ids == 2) & rollout.mask).sum(-1).double()


def test_float32_log_probs_gather_to_the_float64_values():
    pol = policy()
    ro = pol.rollout(torch.tensor([0, 1, 2, 0, 1, 2]), seed=3)
    with torch.no_grad():
        out = pol(ro)
        s = ro.context
        ids = torch.cat([s.prompt_ids, s.completion_ids], 1)
        mask = torch.cat([s.prompt_mask, s.completion_mask], 1)
        from alignlimits.lm.sampling import position_ids

        logits = pol.model(input_ids=ids, attention_mask=mask.long(), position_ids=position_ids(mask)).logits
        width = s.completion_ids.shape[1]
        reference64 = torch.log_softmax(logits[:, -(width + 1) : -1].double() / 0.7, -1)
    assert out.logprobs.dtype == torch.float32  # never a (B, T, V) float64 tensor
    lp = token_logprobs(out.logprobs, ro)
    assert lp.dtype == torch.float64
    torch.testing.assert_close(lp, token_logprobs(reference64, ro), rtol=0, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 7), st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_chunked_exact_kl_and_entropy_equal_the_whole_float64_computation(rows, chunk, seed):
    gen = torch.Generator().manual_seed(seed)
    p = torch.log_softmax(3 * torch.randn(rows, 5, 11, generator=gen), -1)
    q = torch.log_softmax(3 * torch.randn(rows, 5, 11, generator=gen), -1)
    kl, ent = exact_kl_and_entropy(p, q, rows_per_chunk=chunk)
    torch.testing.assert_close(kl, sequence_kl.per_token_kl(p.double(), q.double()), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ent, entropy_per_token(p.double()), rtol=1e-12, atol=1e-12)
    assert kl.dtype == ent.dtype == torch.float64 and bool((kl >= 0).all())
    with pytest.raises(ValueError, match="same shape"):
        exact_kl_and_entropy(p, q[:, :4])


def run_grpo(metrics_every: int, steps: int = 3, **overrides) -> tuple[list[dict], list[torch.Tensor]]:
    pol = policy()
    ref = pol.frozen_copy()
    cfg = grpo.GRPOConfig(steps=steps, groups=2, group_size=4, lr=5e-2, kl_loss_coef=0.1, seed=2,
                          metrics_every=metrics_every, **overrides)  # fmt: skip
    history = train(grpo.GRPO(pol, ref, count_of_token_2, cfg), progress=False)
    return history, [p.detach().clone() for p in pol.model.parameters()]


def test_reusing_the_current_log_probs_as_pi_old_gives_the_same_update():
    # metrics_every=1: every step runs the no-grad forward for π_old; metrics_every=2: step 1 reuses the loss's own.
    slow, slow_params = run_grpo(metrics_every=1)
    fast, fast_params = run_grpo(metrics_every=2)
    for a, b in zip(slow_params, fast_params, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    for a, b in zip(slow, fast, strict=True):  # the same samples, rewards and sampled-token KL estimates
        for key in ("reward", "kl_k1", "kl_k3", "loss", "clip_fraction"):
            assert a[key] == pytest.approx(b[key], abs=1e-6), key
    assert "kl_exact" in fast[0] and "kl_exact" not in fast[1] and "kl_exact" in fast[2]  # every 2nd and the last
    assert all("kl_exact" in h and h["kl_exact"] >= 0 for h in slow)


def test_the_old_policy_forward_runs_only_when_pi_old_differs_or_the_reward_needs_it():
    for overrides, needed in (({}, False), ({"epochs": 2}, True), ({"kl_reward_coef": 0.1, "kl_loss_coef": 0.0}, True)):
        cfg = grpo.GRPOConfig(steps=3, groups=2, group_size=4, lr=5e-2, seed=2, metrics_every=5, **overrides)
        pol = policy()
        ref = pol.frozen_copy()  # before the patch below, or the copy would count its own calls too
        calls = []
        original = pol.forward

        def counting(rollout, trunk=None, _original=original, _calls=calls):
            _calls.append(torch.is_grad_enabled())
            return _original(rollout, trunk)

        pol.forward = counting
        grpo.GRPO(pol, ref, count_of_token_2, cfg).step(1)  # step 1 of 3: not a metrics step
        assert (False in calls) == needed, overrides  # whether a no-grad forward of the policy for log π_old ran


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", ["grpo", "ppo"])
def test_a_step_runs_on_the_policys_device(device, method):
    pol = policy(device, value_head=method == "ppo")
    ref = pol.frozen_copy()
    if method == "grpo":
        algorithm = grpo.GRPO(pol, ref, count_of_token_2, grpo.GRPOConfig(steps=2, groups=2, group_size=2, lr=1e-2,
                                                                          kl_loss_coef=0.1, metrics_every=2))
    else:
        algorithm = ppo.PPO(pol, ref, count_of_token_2, ppo.PPOConfig(steps=2, batch_size=4, lr=1e-2, epochs=1))
    history = train(algorithm, progress=False)
    assert all(np.isfinite(v) for h in history for v in h.values())
    assert {p.device.type for p in pol.parameters()} == {device}
    state = algorithm.state_dict()["policy"]
    assert {v.device.type for v in state.values()} == {device}


def llama_policy(trainable_blocks: int = 1, value_head: bool = False) -> CausalLMPolicy:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=3,
                         num_attention_heads=2, num_key_value_heads=2, eos_token_id=EOS, pad_token_id=PAD,
                         bos_token_id=0)  # fmt: skip
    model = LlamaForCausalLM(config).eval()
    return CausalLMPolicy(model, PROMPTS, temperature=0.7, max_new_tokens=6, eos_token_id=EOS, pad_token_id=PAD,
                          value_head=value_head, trainable=models.last_blocks(model, trainable_blocks))  # fmt: skip


def test_the_shared_frozen_trunk_gives_the_whole_models_outputs():
    pol = llama_policy(trainable_blocks=1, value_head=True)
    ref = pol.frozen_copy()
    assert pol.trunk_depth == 2 and pol.shares_trunk_with(ref)
    ro = pol.rollout(torch.tensor([0, 1, 2, 1]), seed=5)
    trunk = pol.trunk(ro)
    width = ro.context.prompt_ids.shape[1] + ro.completion_ids.shape[1]
    assert trunk.depth == 2 and trunk.hidden.shape[:2] == (4, width)
    for model in (pol, ref):
        whole, split = model(ro), model(ro, trunk)
        torch.testing.assert_close(split.logprobs, whole.logprobs, rtol=0, atol=1e-6)
    torch.testing.assert_close(pol(ro, trunk).values, pol(ro).values, rtol=0, atol=1e-6)
    # Rows of the trunk serve the same rows of the rollout (the algorithms slice both for micro-batches).
    rows = torch.tensor([2, 0])
    torch.testing.assert_close(pol(ro.select(rows), trunk[rows]).logprobs, pol(ro.select(rows)).logprobs,
                               rtol=0, atol=1e-6)  # fmt: skip
    with pytest.raises(ValueError, match="trunk has shape"):
        pol(ro.select(rows), trunk)


def test_a_trunk_is_shared_only_when_it_is_the_same_and_frozen():
    pol = llama_policy(trainable_blocks=1)
    other = llama_policy(trainable_blocks=1)
    with torch.no_grad():
        next(other.model.base_model.layers[0].parameters()).add_(1.0)  # a different trunk
    assert not pol.shares_trunk_with(other)
    assert llama_policy(trainable_blocks=3).trunk_depth == 0  # every block trains: nothing frozen to share
    assert policy().trunk_depth == 0 and policy().trunk(policy().rollout(torch.tensor([0]), seed=0)) is None  # GPT-2


@pytest.mark.parametrize("method", ["grpo", "ppo"])
def test_a_step_with_the_shared_trunk_makes_the_same_update(method):
    results = []
    for share in (True, False):
        pol = llama_policy(trainable_blocks=1, value_head=method == "ppo")
        ref = pol.frozen_copy()
        if method == "grpo":
            algorithm = grpo.GRPO(pol, ref, count_of_token_2, grpo.GRPOConfig(steps=2, groups=2, group_size=4,
                                                                              lr=5e-2, kl_loss_coef=0.1, seed=1))
        else:
            algorithm = ppo.PPO(pol, ref, count_of_token_2, ppo.PPOConfig(steps=2, batch_size=4, lr=5e-2, seed=1))
        assert algorithm.shared_trunk
        algorithm.shared_trunk = share
        history = train(algorithm, progress=False)
        results.append((history, [p.detach().clone() for p in pol.parameters() if p.requires_grad]))
    (h_shared, p_shared), (h_whole, p_whole) = results
    # The shared run takes its trunk from the sampling pass (incremental decoding), the other computes it
    # whole: equal to float32 rounding, which two Adam steps carry into the parameters at ~1e-6.
    for a, b in zip(p_shared, p_whole, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    assert h_shared[-1]["kl_exact"] == pytest.approx(h_whole[-1]["kl_exact"], abs=1e-5)


def test_the_gpu_check_script_runs_its_comparison_on_the_cpu(capsys):
    # benchmarks/gpu_steps.py compares CUDA with the CPU; here both sides are the CPU, so the script's own
    # logic (build, train, re-score on the other device, compare) is exercised where no GPU exists.
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_steps.py"
    spec = importlib.util.spec_from_file_location("gpu_steps", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for method in ("grpo", "ppo"):
        module.check(method, None, devices=("cpu", "cpu"))
    out = capsys.readouterr().out
    assert "largest log-prob gap 0.00e+00, exact-KL gap 0.00e+00" in out


def test_bfloat16_autocast_keeps_the_normaliser_in_float32():
    pol = llama_policy(trainable_blocks=1)
    ro = pol.rollout(torch.tensor([0, 1, 2]), seed=1)
    with torch.no_grad():
        exact = pol(ro).logprobs
        pol.autocast_dtype = torch.bfloat16  # the CPU supports bf16 autocast too (slowly): the same code path
        low = pol(ro).logprobs
    assert low.dtype == torch.float32
    torch.testing.assert_close(low.exp().sum(-1), torch.ones(low.shape[:2]), rtol=0, atol=1e-5)  # normalised
    assert float((low - exact).abs().max()) < 0.1  # bf16 has ~3 significant digits


def test_bf16_runs_are_refused_on_the_cpu(tmp_path):
    from alignlimits.experiments import rl_runs

    config = rl_runs.run_config("safety", "grpo", 0.1, 1, "smoke", steps=1)
    with pytest.raises(ValueError, match="bf16 autocast is for a CUDA device"):
        rl_runs.build(config, device="cpu", bf16=True)


@pytest.mark.parametrize("group", [1, 4])  # distinct prompts (no shared prefill), and groups that share one
def test_the_trunk_captured_while_sampling_is_the_computed_trunk(group):
    pol = llama_policy(trainable_blocks=1, value_head=True)
    ref = pol.frozen_copy()
    index = torch.tensor([0, 1, 2]).repeat_interleave(group)
    captured = pol.rollout(index, seed=3, capture_trunk=True)
    plain = pol.rollout(index, seed=3)
    torch.testing.assert_close(captured.completion_ids, plain.completion_ids)  # capturing changes no sample
    assert plain.context.trunk is None and captured.context.trunk_depth == pol.trunk_depth
    kept, computed = pol.trunk(captured), pol.trunk(plain)
    assert kept.hidden is captured.context.trunk  # taken from the rollout, not computed again
    # Equal wherever an output depends on it: every position but the last generated token and the pads after it.
    prompt_width = captured.context.prompt_ids.shape[1]
    for row, n in enumerate(captured.lengths.tolist()):
        used = prompt_width + n - 1
        torch.testing.assert_close(kept.hidden[row, :used], computed.hidden[row, :used], rtol=0, atol=1e-5)
    for model in (pol, ref):
        a, b = model(captured, kept), model(plain)
        mask = captured.mask
        torch.testing.assert_close(a.logprobs[mask], b.logprobs[mask], rtol=0, atol=1e-5)
    torch.testing.assert_close(pol(captured, kept).values[mask], pol(plain).values[mask], rtol=0, atol=1e-5)
    rows = torch.tensor([2, 0])
    assert pol.trunk(captured.select(rows)).hidden.shape[0] == 2  # micro-batches slice the captured trunk


def test_capturing_a_block_the_model_lacks_is_refused():
    from alignlimits.lm import sampling

    pol = llama_policy(trainable_blocks=1)
    with pytest.raises(ValueError, match="names no block"):
        sampling.sample(pol.model, PROMPTS[:1], num_samples=1, temperature=1.0, max_new_tokens=2, eos_token_id=EOS,
                        pad_token_id=PAD, seed=0, capture_block=7)  # fmt: skip


def test_shared_left_padding_is_dropped_and_changes_no_output():
    pol = llama_policy(trainable_blocks=1, value_head=True)
    index = torch.tensor([1, 0, 2, 1])  # prompts of 1, 3 and 2 tokens: the short ones share two pad columns
    ro = pol.rollout(index, seed=2, capture_trunk=True)
    trunk = pol.trunk(ro)
    short = torch.tensor([0, 3])  # the one-token prompt twice: its micro-batch drops the pads
    whole = pol(ro, trunk)
    alone = pol(ro.select(short), trunk[short])
    mask = ro.mask[short]
    torch.testing.assert_close(alone.logprobs[mask], whole.logprobs[short][mask], rtol=0, atol=1e-5)
    torch.testing.assert_close(alone.values[mask], whole.values[short][mask], rtol=0, atol=1e-5)
    from alignlimits.rl.policies import prompt_widths
    from alignlimits.rl.training import micro_batches

    widths = prompt_widths(ro)
    assert widths.tolist() == [1, 3, 2, 1]
    chunks = list(micro_batches(torch.arange(4), 2, widths))
    assert [c.tolist() for c in chunks] == [[0, 3], [2, 1]]  # sorted by width, then split
