r"""PPO for language models (Ziegler et al., 2019; Ouyang et al., 2022), written out.

One step:

1. sample ``batch_size`` completions from the current policy ``π_old``;
2. per-token rewards: ``−β_t · (ℓ_old − ℓ_ref)`` at every token (the k1 KL penalty in the
   reward) plus the score ``r(x, y)`` at the last real token; ``β_t`` is fixed or
   adapted towards a target KL (:class:`AdaptiveKLController`);
3. advantages and returns by GAE (:func:`gae`) from the value head's ``V(x, y_{<t})``,
   whitened over the batch's tokens when ``whiten_advantages``;
4. for ``epochs`` passes over the batch in ``minibatches`` (one optimiser step each,
   gradients accumulated over ``micro_batches``) minimise the clipped surrogate plus
   ``vf_coef`` times the clipped value loss, both token-mean
   (:func:`alignlimits.rl.losses.aggregate`).

With ``γ = 1`` the sum of the per-token rewards is ``r − β log π_old(y)/π_ref(y)``, so the
expected policy gradient is that of ``E_π[r] − β KL(π‖π_ref)`` and the fixed point is ``π_β``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from alignlimits.lm.kl import masked_sum
from alignlimits.rl.losses import BatchSizes, aggregate, clip_region, clipped_surrogate, whiten
from alignlimits.rl.metrics import check_rewards, rollout_metrics
from alignlimits.rl.policies import Rollout, prompt_widths, token_logprobs
from alignlimits.rl.training import (
    OptimisationConfig,
    exact_metrics_at,
    learning_rate,
    load_trainable_state,
    micro_batches,
    minibatches,
    step_rng,
    trainable_state,
)

__all__ = ["PPO", "AdaptiveKLController", "PPOConfig", "clipped_value_loss", "draw_prompts", "gae", "token_rewards"]


@dataclass(frozen=True)
class PPOConfig(OptimisationConfig):
    """Hyper-parameters of :class:`PPO` (defaults close to lm-human-preferences).

    The shared optimisation fields are :class:`~alignlimits.rl.training.OptimisationConfig`'s
    (PPO's defaults: 4 epochs, token-mean loss). ``kl_reward_coef`` is β of the penalty
    ``β (ℓ − ℓ_ref)`` in every token's reward — its fixed point is ``π_β`` — and the initial
    β when ``kl_target`` makes it adaptive (Ziegler et al., 2019).
    """

    epochs: int = 4
    loss_aggregation: str = "token_mean"
    batch_size: int = 64
    value_clip: float = 0.2
    vf_coef: float = 0.1
    gamma: float = 1.0
    lam: float = 0.95
    kl_reward_coef: float = 0.1
    kl_target: float | None = None  # adaptive coefficient (Ziegler et al.) when set
    kl_horizon: int = 10_000  # samples over which the adaptive coefficient moves (lm-human-preferences)
    whiten_advantages: bool = True

    #: Field names of results saved before the coefficient was named for where it acts.
    LEGACY_NAMES: ClassVar[dict[str, str]] = {"kl_coef": "kl_reward_coef"}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kl_reward_coef < 0 or (self.kl_target is not None and not self.kl_target > 0):
            raise ValueError("kl_reward_coef must be >= 0 and kl_target, when given, > 0.")
        if not (0 <= self.gamma <= 1 and 0 <= self.lam <= 1):
            raise ValueError(f"gamma and lam must lie in [0, 1]; got {self.gamma}, {self.lam}.")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {self.batch_size}.")

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> PPOConfig:
        """The config saved as ``fields`` (``asdict`` of a config, also under its older field names)."""
        return cls(**{cls.LEGACY_NAMES.get(k, k): v for k, v in fields.items()})


class AdaptiveKLController:
    r"""The adaptive KL coefficient of Ziegler et al. (2019).

    ``e = clip(KL/KL_target − 1, −0.2, 0.2)``, ``β ← β (1 + e · n/horizon)`` after a batch
    of ``n`` samples whose mean sequence KL is ``KL``. With ``target=None`` β stays fixed.
    """

    def __init__(self, init: float, target: float | None, horizon: int) -> None:
        self.value, self.target, self.horizon = float(init), target, int(horizon)

    def update(self, kl: float, n_samples: int) -> None:
        if self.target is None:
            return
        error = min(max(kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_samples / self.horizon


def token_rewards(scores: torch.Tensor, kl_per_token: torch.Tensor, mask: torch.Tensor, kl_coef: float) -> torch.Tensor:
    r"""``−β·k1_t`` at every real token plus the sequence score at the last real token; 0 at pads, (B, T)."""
    rewards = torch.where(mask, -kl_coef * kl_per_token, torch.zeros_like(kl_per_token))
    last = (mask.sum(-1) - 1).clamp(min=0)
    if bool((mask.sum(-1) == 0).any()):
        raise ValueError("a completion has length 0: there is no token to receive its score.")
    return rewards.scatter_add(1, last[:, None], scores[:, None].to(rewards.dtype))


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, *, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Generalised advantage estimation (Schulman et al., 2016) over right-padded completions.

    ``δ_t = r_t + γ V_{t+1} − V_t`` with ``V = 0`` after the last real token,
    ``A_t = δ_t + γλ A_{t+1}``; returns ``(advantages, returns = A + V)``, (B, T), 0 at pads.
    With ``γ = λ = 1``, ``A_t = Σ_{s≥t} r_s − V_t``.
    """
    values = torch.where(mask, values, torch.zeros_like(values))
    rewards = torch.where(mask, rewards, torch.zeros_like(rewards))
    width = rewards.shape[1]
    adv = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in range(width - 1, -1, -1):
        next_value = values[:, t + 1] if t + 1 < width else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = torch.where(mask[:, t], delta + gamma * lam * running, torch.zeros_like(running))
        adv[:, t] = running
    return adv, torch.where(mask, adv + values, torch.zeros_like(adv))


def clipped_value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, clip: float
) -> torch.Tensor:
    r"""``½ max((V − R)², (clip(V, V_old − c, V_old + c) − R)²)`` per token (as in lm-human-preferences)."""
    clipped = old_values + torch.clamp(values - old_values, -clip, clip)
    return 0.5 * torch.maximum((values - returns) ** 2, (clipped - returns) ** 2)


def draw_prompts(rng: np.random.Generator, config: PPOConfig, num_prompts: int) -> torch.Tensor:
    """The prompt of each of a step's ``batch_size`` rollouts, drawn uniformly with replacement, long ``(B,)``."""
    return torch.as_tensor(rng.integers(num_prompts, size=config.batch_size), dtype=torch.long)


class PPO:
    """PPO with a value head on a policy of :mod:`alignlimits.rl.policies` (built with ``value_head=True``).

    Parameters mirror :class:`alignlimits.rl.grpo.GRPO`; ``config`` is a :class:`PPOConfig`.
    """

    def __init__(
        self,
        policy: Any,
        reference: Any,
        reward_fn: Callable[[Rollout], torch.Tensor],
        config: PPOConfig,
        *,
        judge_fn: Callable[[Rollout], torch.Tensor] | None = None,
    ) -> None:
        if getattr(policy, "value", None) is None:
            raise ValueError("PPO needs a value head: build the policy with value_head=True.")
        self.policy, self.reference, self.reward_fn, self.config, self.judge_fn = (
            policy, reference, reward_fn, config, judge_fn,
        )  # fmt: skip
        self.steps = config.steps
        # The frozen leading blocks are computed once per rollout for the policy and the reference alike.
        self.shared_trunk = policy.shares_trunk_with(reference)
        self.kl_controller = AdaptiveKLController(config.kl_reward_coef, config.kl_target, config.kl_horizon)
        params = [p for p in policy.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=config.lr, eps=config.adam_eps)

    def step(self, step: int) -> dict[str, float]:
        """One PPO step: sample, score, shape per-token rewards, estimate advantages with GAE, update.

        The KL penalty goes into the rewards (``−β (ℓ_old − ℓ_ref)`` at every token, the
        score at the last), so the objective PPO climbs is ``E r − β KL`` and its fixed
        point is ``π_β``. Everything random derives from ``(seed, step)``
        (:func:`~alignlimits.rl.training.step_rng`). Returns the metrics of
        :func:`~alignlimits.rl.metrics.rollout_metrics` on the rollout *before* the update,
        the clipped fractions, the mean policy and value losses, and the β used.
        """
        cfg = self.config
        rng = step_rng(cfg.seed, step)
        prompt_index = draw_prompts(rng, cfg, self.policy.num_prompts)

        # 1-3. Rollout, per-token rewards, GAE: with the sampling policy, no gradient.
        with torch.no_grad():
            rollout = self.policy.rollout(prompt_index, seed=int(rng.integers(2**31)), capture_trunk=self.shared_trunk)
            trunk = self.policy.trunk(rollout) if self.shared_trunk else None
            widths = prompt_widths(rollout)  # micro-batches of similar widths carry less padding
            old_out, ref_out = self.policy(rollout, trunk), self.reference(rollout, trunk)
            old_lp, ref_lp = token_logprobs(old_out.logprobs, rollout), token_logprobs(ref_out.logprobs, rollout)
            mask = rollout.mask.to(old_lp.device)
            old_values = torch.where(mask, old_out.values, torch.zeros_like(old_out.values))
            scores = check_rewards(self.reward_fn(rollout), len(rollout))
            beta = self.kl_controller.value
            rewards = token_rewards(scores.to(old_lp.device), old_lp - ref_lp, mask, beta)
            advantages, returns = gae(rewards, old_values, mask, gamma=cfg.gamma, lam=cfg.lam)
            if cfg.whiten_advantages:  # over the real tokens only: pads must not shift the mean
                advantages = whiten(advantages, mask)
            judge = self.judge_fn(rollout) if self.judge_fn is not None else None
            full = (old_out, ref_out) if exact_metrics_at(step, cfg) else None
            metrics = rollout_metrics(rollout, old_lp, ref_lp, scores, judge, full=full)

        # 4. Policy and value updates.
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(cfg.lr, step, cfg.steps, cfg.lr_final_fraction)
        clipped_tokens = value_clipped = policy_loss = value_loss = 0.0
        for _ in range(cfg.epochs):
            for rows in minibatches(len(rollout), cfg.minibatches, rng):
                # Normalisers of the whole minibatch, so the micro-batches' gradients add up to its gradient.
                sizes = BatchSizes.of(rollout.mask[rows])
                self.optimizer.zero_grad(set_to_none=True)
                for micro in micro_batches(rows, cfg.micro_batches, widths):
                    sub = rollout.select(micro)
                    m = sub.mask.to(old_lp.device)
                    out = self.policy(sub, None if trunk is None else trunk[micro])
                    lp = token_logprobs(out.logprobs, sub)
                    pg = clipped_surrogate(
                        lp, old_lp[micro], advantages[micro], clip_low=cfg.clip_low, clip_high=cfg.clip_high
                    )
                    vf = clipped_value_loss(out.values, old_values[micro], returns[micro], cfg.value_clip)
                    pg_loss = aggregate(pg, m, cfg.loss_aggregation, sizes)
                    vf_loss = aggregate(vf, m, cfg.loss_aggregation, sizes)
                    (pg_loss + cfg.vf_coef * vf_loss).backward()
                    policy_loss += float(pg_loss.detach())
                    value_loss += float(vf_loss.detach())
                    in_clip = clip_region(
                        lp.detach(), old_lp[micro], advantages[micro], clip_low=cfg.clip_low, clip_high=cfg.clip_high
                    )
                    clipped_tokens += float(masked_sum(in_clip.double(), m).sum())
                    v_out = (out.values.detach() - old_values[micro]).abs() > cfg.value_clip
                    value_clipped += float(masked_sum(v_out.double(), m).sum())
                if cfg.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(self.optimizer.param_groups[0]["params"], cfg.max_grad_norm)
                self.optimizer.step()
        self.kl_controller.update(metrics["kl_k1"], len(rollout))
        n_tokens = int(rollout.mask.sum()) * cfg.epochs
        n_steps = cfg.epochs * cfg.minibatches
        metrics.update(
            clip_fraction=clipped_tokens / n_tokens,
            value_clip_fraction=value_clipped / n_tokens,
            policy_loss=policy_loss / n_steps,
            value_loss=value_loss / n_steps,
            kl_coef=beta,
        )
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {
            "policy": trainable_state(self.policy),
            "optimizer": self.optimizer.state_dict(),
            "kl_coef": self.kl_controller.value,
            "config": asdict(self.config),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["config"] != asdict(self.config):
            raise ValueError("the checkpoint was written with a different PPOConfig; use a new checkpoint path.")
        load_trainable_state(self.policy, state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.kl_controller.value = float(state["kl_coef"])
