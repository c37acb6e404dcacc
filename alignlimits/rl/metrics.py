r"""What a training step logs: the reward, the judge and the sequence KL of its rollout.

Every statistic is a mean with its standard error over the rollout's completions,
reduced through :func:`alignlimits.lm.kl.masked_sum` (the one masked reducer). The
sampled-token estimators (k1, k3) need only the gathered log-probs; the exact
per-position KL and the entropy need the whole vocabulary at every position, so
:func:`exact_kl_and_entropy` computes them a few rows at a time, in float64, without
ever holding a ``(B, T, V)`` float64 tensor — and the algorithms ask for them only
every ``metrics_every`` steps (:class:`~alignlimits.rl.training.OptimisationConfig`).
"""

from __future__ import annotations

import torch

from alignlimits.lm import kl as sequence_kl
from alignlimits.rl.losses import entropy_per_token
from alignlimits.rl.policies import PolicyOutput, Rollout

__all__ = ["check_rewards", "exact_kl_and_entropy", "rollout_metrics"]


def check_rewards(rewards: torch.Tensor, n: int) -> torch.Tensor:
    """The reward function's output as float64 ``(n,)``, refusing NaN/inf and wrong shapes."""
    r = torch.as_tensor(rewards).detach().to("cpu", torch.float64)
    if tuple(r.shape) != (n,):
        raise ValueError(f"reward_fn must return one reward per completion, shape ({n},); got {tuple(r.shape)}.")
    if not bool(torch.isfinite(r).all()):
        raise ValueError("reward_fn returned NaN or inf; fix the reward model (rewards must be finite).")
    return r


@torch.no_grad()
def exact_kl_and_entropy(
    policy_logprobs: torch.Tensor, reference_logprobs: torch.Tensor, *, rows_per_chunk: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``KL(π(·|h_t)‖π_ref(·|h_t))`` and ``H(π(·|h_t))`` at every position, float64 ``(B, T)`` on the CPU.

    The inputs are full-vocabulary log-probs ``(B, T, V)`` in any float precision; each
    chunk of ``rows_per_chunk`` rows is cast to float64 before the sums, so the result
    has float64 accumulation while only a ``(rows_per_chunk, T, V)`` float64 block exists.
    By default a chunk holds about 4 million values (32 MiB): a language model's batch is
    cut into a few rows at a time, a small vocabulary (the tabular policy) is done at once.
    """
    if policy_logprobs.shape != reference_logprobs.shape:
        raise ValueError(
            f"policy and reference log-probs must have the same shape; got {tuple(policy_logprobs.shape)} and "
            f"{tuple(reference_logprobs.shape)}."
        )
    if rows_per_chunk is None:
        per_row = max(1, int(policy_logprobs[0].numel())) if policy_logprobs.shape[0] else 1
        rows_per_chunk = max(1, (1 << 22) // per_row)
    if rows_per_chunk < 1:
        raise ValueError(f"rows_per_chunk must be >= 1; got {rows_per_chunk}.")
    kl, entropy = [], []
    for rows in torch.arange(policy_logprobs.shape[0]).split(rows_per_chunk):
        p = policy_logprobs[rows.to(policy_logprobs.device)].detach().double()
        q = reference_logprobs[rows.to(reference_logprobs.device)].detach().to(p.device).double()
        kl.append(sequence_kl.per_token_kl(p, q).cpu())
        entropy.append(entropy_per_token(p).cpu())
    return torch.cat(kl), torch.cat(entropy)


def rollout_metrics(
    rollout: Rollout,
    policy_token_logprobs: torch.Tensor,
    reference_token_logprobs: torch.Tensor,
    scores: torch.Tensor,
    judge_scores: torch.Tensor | None = None,
    *,
    full: tuple[PolicyOutput, PolicyOutput] | None = None,
) -> dict[str, float]:
    r"""Per-step statistics of a rollout sampled from the policy (means and standard errors).

    ``kl_k1`` and ``kl_k3`` are the sampled-token estimators of the sequence KL from the
    gathered ``(B, T)`` log-probs (:func:`alignlimits.lm.kl.sequence_kl`). With ``full =
    (policy_out, reference_out)``, the full-vocabulary outputs of both models on the
    rollout, the step also logs ``kl_exact`` — ``Σ_t KL(π(·|y_{<t})‖π_ref(·|y_{<t}))`` along
    each sample — and the policy's ``entropy`` (:func:`exact_kl_and_entropy`). All
    are sequence-level (summed over tokens).
    """
    mask = rollout.mask
    lp, lq = policy_token_logprobs.detach().cpu(), reference_token_logprobs.detach().cpu()
    exact = entropy = None
    if full is not None:
        exact, entropy = exact_kl_and_entropy(full[0].logprobs, full[1].logprobs)
    kls = sequence_kl.sequence_kl(lp, lq, mask, exact_per_token=exact)
    rew = sequence_kl.summarize(scores, "reward")
    out = {"reward": rew.mean, "reward_se": rew.stderr}
    if exact is not None:
        out.update(kl_exact=kls["exact"].mean, kl_exact_se=kls["exact"].stderr)
    out.update(kl_k1=kls["k1"].mean, kl_k1_se=kls["k1"].stderr, kl_k3=kls["k3"].mean, kl_k3_se=kls["k3"].stderr)
    if entropy is not None:
        out["entropy"] = sequence_kl.summarize(sequence_kl.masked_sum(entropy, mask), "entropy").mean
    out["length"] = float(rollout.lengths.double().mean())
    if judge_scores is not None:
        judge = sequence_kl.summarize(check_rewards(judge_scores, len(rollout)), "judge")
        out["judge"], out["judge_se"] = judge.mean, judge.stderr
    return out
