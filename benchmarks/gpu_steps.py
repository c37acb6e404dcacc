"""One GRPO and one PPO step on a GPU, checked against the CPU (run by benchmarks/gpu_check.sh).

The tiny model is built from its config (no weight files): a Llama-style model, like
SmolLM2, with random weights from a seed. For each algorithm the script prints the step's
wall time on each device and checks that the teacher-forced log-probs and the exact
per-position KL of the same rollout agree between CUDA and the CPU to float32 rounding.
SmolLM2 is used as well where its weights are present (``--smollm2``).
"""

from __future__ import annotations

import argparse
import time

import torch

from alignlimits.lm import models
from alignlimits.rl import grpo, ppo
from alignlimits.rl.metrics import exact_kl_and_entropy
from alignlimits.rl.policies import CausalLMPolicy, token_logprobs
from alignlimits.rl.training import train

EOS, PAD = 1, 2


def tiny_llama(device: str) -> tuple[object, list[list[int]]]:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=4, eos_token_id=EOS, pad_token_id=PAD,
                         bos_token_id=0)  # fmt: skip
    model = LlamaForCausalLM(config).eval().to(device)
    prompts = [[0, 5, 6, 7], [0, 9], [0, 11, 12]]
    return model, prompts


def vowel_like(rollout) -> torch.Tensor:  # a cheap reward: the fraction of even token ids
    ids = rollout.completion_ids
    return (((ids % 2) == 0) & rollout.mask).sum(-1).double() / rollout.lengths.double()


def policy_on(device: str, value_head: bool, model_name: str | None) -> CausalLMPolicy:
    if model_name is None:
        model, prompts = tiny_llama(device)
        eos, pad = EOS, PAD
    else:
        model, tok = models.load_model(model_name, device=device, progress=False)
        prompts = [tok(t)["input_ids"] for t in ("Say hello.", "Name a colour.", "Count to three.")]
        eos, pad = tok.eos_token_id, tok.pad_token_id
    return CausalLMPolicy(model, prompts, temperature=0.7, max_new_tokens=16, eos_token_id=eos, pad_token_id=pad,
                          value_head=value_head, trainable=models.last_blocks(model, 2))  # fmt: skip


def check(method: str, model_name: str | None, devices: tuple[str, str] = ("cpu", "cuda")) -> None:
    """Time one step on each of ``devices`` and compare the second's log-probs and exact KL with the first's."""
    timings, outputs = {}, {}
    for device in devices:
        pol = policy_on(device, method == "ppo", model_name)
        ref = pol.frozen_copy()
        if method == "grpo":
            cfg = grpo.GRPOConfig(steps=2, groups=2, group_size=4, lr=1e-3, kl_loss_coef=0.04, seed=0)
            algorithm = grpo.GRPO(pol, ref, vowel_like, cfg)
        else:
            algorithm = ppo.PPO(pol, ref, vowel_like, ppo.PPOConfig(steps=2, batch_size=8, lr=1e-3, seed=0))
        train(algorithm, progress=False)  # warm-up and correctness: every metric finite (train checks)
        start = time.perf_counter()
        algorithm.step(1)
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        timings[device] = time.perf_counter() - start
        rollout = pol.rollout(torch.tensor([0, 1, 2, 0]), seed=3)  # sampled on this device
        outputs[device] = (pol, ref, rollout)
    # the same rollout (sampled on the first device) scored on both
    cpu_pol, cpu_ref, rollout = outputs[devices[0]]
    gpu_pol, gpu_ref, _ = outputs[devices[1]]
    gpu_pol.load_state_dict(cpu_pol.state_dict())
    gpu_ref.load_state_dict(cpu_ref.state_dict())
    with torch.no_grad():
        a, b = cpu_pol(rollout), gpu_pol(rollout)
        lp_cpu, lp_gpu = token_logprobs(a.logprobs, rollout), token_logprobs(b.logprobs, rollout).cpu()
        kl_cpu, _ = exact_kl_and_entropy(a.logprobs, cpu_ref(rollout).logprobs)
        kl_gpu, _ = exact_kl_and_entropy(b.logprobs, gpu_ref(rollout).logprobs)
    lp_gap, kl_gap = float((lp_cpu - lp_gpu).abs().max()), float((kl_cpu - kl_gpu).abs().max())
    name = model_name or "tiny llama"
    other = torch.cuda.get_device_name(devices[1]) if torch.device(devices[1]).type == "cuda" else devices[1]
    print(f"{method} on {name}: step {timings[devices[0]]:.3f} s on {devices[0]}, {timings[devices[1]]:.3f} s on "
          f"{other}; largest log-prob gap {lp_gap:.2e}, exact-KL gap {kl_gap:.2e}")
    assert lp_gap < 1e-3 and kl_gap < 1e-3, (method, lp_gap, kl_gap)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smollm2", action="store_true", help="also SmolLM2-135M-Instruct (needs its weights)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run this on a machine with a GPU (the CPU path is tested by make test).")
    for method in ("grpo", "ppo"):
        check(method, None)
        if args.smollm2:
            check(method, "smollm2-135m-instruct")


if __name__ == "__main__":
    main()
