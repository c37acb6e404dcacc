r"""What a training step logs: the reward, the judge and the sequence KL of its rollout.

Every statistic is a mean with its standard error over the rollout's completions,
reduced through :func:`alignlimits.lm.kl.masked_sum` (the one masked reducer).
"""

from __future__ import annotations

import torch

from alignlimits.lm import kl as sequence_kl
from alignlimits.rl.losses import entropy_per_token
from alignlimits.rl.policies import PolicyOutput, Rollout, token_logprobs

__all__ = ["check_rewards", "rollout_metrics"]


def check_rewards(rewards: torch.Tensor, n: int) -> torch.Tensor:
    """The reward function's output as float64 ``(n,)``, refusing NaN/inf and wrong shapes."""
    r = torch.as_tensor(rewards).detach().to("cpu", torch.float64)
    if tuple(r.shape) != (n,):
        raise ValueError(f"reward_fn must return one reward per completion, shape ({n},); got {tuple(r.shape)}.")
    if not bool(torch.isfinite(r).all()):
        raise ValueError("reward_fn returned NaN or inf; fix the reward model (rewards must be finite).")
    return r


def rollout_metrics(
    rollout: Rollout,
    policy_out: PolicyOutput,
    reference_out: PolicyOutput,
    scores: torch.Tensor,
    judge_scores: torch.Tensor | None = None,
) -> dict[str, float]:
    r"""Per-step statistics of a rollout sampled from the policy (means and standard errors).

    ``kl_exact`` is ``Σ_t KL(π(·|y_{<t})‖π_ref(·|y_{<t}))`` along each sample (full
    vocabulary), ``kl_k1`` and ``kl_k3`` the sampled-token estimators
    (:func:`alignlimits.lm.kl.sequence_kl`); all are sequence-level (summed over tokens).
    """
    mask = rollout.mask
    lp = token_logprobs(policy_out.logprobs, rollout).detach().cpu()
    lq = token_logprobs(reference_out.logprobs, rollout).detach().cpu()
    exact = sequence_kl.per_token_kl(policy_out.logprobs.detach(), reference_out.logprobs.detach()).cpu()
    kls = sequence_kl.sequence_kl(lp, lq, mask, exact_per_token=exact)
    entropy = sequence_kl.masked_sum(entropy_per_token(policy_out.logprobs.detach().cpu()), mask)
    ent = sequence_kl.summarize(entropy, "entropy")
    rew = sequence_kl.summarize(scores, "reward")
    out = {
        "reward": rew.mean,
        "reward_se": rew.stderr,
        "kl_exact": kls["exact"].mean,
        "kl_exact_se": kls["exact"].stderr,
        "kl_k1": kls["k1"].mean,
        "kl_k1_se": kls["k1"].stderr,
        "kl_k3": kls["k3"].mean,
        "kl_k3_se": kls["k3"].stderr,
        "entropy": ent.mean,
        "length": float(rollout.lengths.double().mean()),
    }
    if judge_scores is not None:
        judge = sequence_kl.summarize(check_rewards(judge_scores, len(rollout)), "judge")
        out["judge"], out["judge_se"] = judge.mean, judge.stderr
    return out
