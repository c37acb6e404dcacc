r"""GRPO: group-relative policy optimisation (Shao et al., 2024), written out.

One step:

1. sample ``groups`` prompts and ``group_size`` completions of each from the current
   policy (the "old" policy ``π_old``);
2. score them: ``R_i = r(x, y_i) − kl_reward_coef · log π_old(y_i)/π_ref(y_i)`` (the second
   term, off by default, puts the KL penalty in the reward as PPO does);
3. group-relative advantages :func:`group_advantages`:
   ``A_i = R_i − mean_group(R)``, divided by the group's standard deviation when
   ``scale_rewards`` (the GRPO paper) and not when ``scale_rewards=False`` (Dr. GRPO,
   Liu et al., 2025); a group whose rewards are all equal gets ``A = 0``;
4. for ``epochs`` passes over the batch in ``minibatches`` (one optimiser step each,
   gradients accumulated over ``micro_batches``), minimise per token
   ``−min(ρA, clip(ρ)A) + kl_loss_coef · k(ℓ, ℓ_ref)`` aggregated as ``loss_aggregation``
   (:func:`alignlimits.rl.losses.aggregate`), with ``k`` the KL estimator
   ``kl_estimator`` (the paper: k3 per token).

Setting ``kl_loss_coef = 0, kl_reward_coef = β, scale_rewards=False`` gives REINFORCE with a
group-mean baseline on the KL-shaped reward, whose fixed point is exactly ``π_β``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from alignlimits.lm.kl import k1_per_sequence, masked_sum
from alignlimits.rl.losses import (
    KL_ESTIMATORS,
    BatchSizes,
    aggregate,
    at_first_token,
    clip_region,
    clipped_surrogate,
    kl_penalty,
)
from alignlimits.rl.metrics import check_rewards, rollout_metrics
from alignlimits.rl.policies import Rollout, Trunk, prompt_widths, token_logprobs
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

__all__ = ["GRPO", "GRPOConfig", "draw_prompts", "group_advantages"]


@dataclass(frozen=True)
class GRPOConfig(OptimisationConfig):
    """Hyper-parameters of :class:`GRPO` (defaults: the GRPO paper's loss with Dr. GRPO's option off).

    The shared optimisation fields are :class:`~alignlimits.rl.training.OptimisationConfig`'s.
    GRPO has two KL coefficients, for the two places a penalty can go:

    * ``kl_loss_coef`` — β of the KL estimator ``kl_estimator`` added to the *loss*
      (per token or per sequence, ``kl_level``): the GRPO paper's choice, whose fixed
      point is not ``π_β``;
    * ``kl_reward_coef`` — β of the penalty ``β log π_old(y)/π_ref(y)`` subtracted from
      each completion's *reward* before the advantages, as PPO does: fixed point ``π_β``.
    """

    groups: int = 4  # prompts per step
    group_size: int = 8  # completions per prompt (G)
    kl_loss_coef: float = 0.0
    kl_estimator: str = "k3"
    kl_level: str = "token"  # "token": estimator per token, aggregated; "sequence": on log π(y)/π_ref(y)
    kl_reward_coef: float = 0.0
    scale_rewards: bool = True  # divide advantages by the group's std

    #: Field names of results saved before the two coefficients were named for where they act.
    LEGACY_NAMES: ClassVar[dict[str, str]] = {"kl_coef": "kl_loss_coef", "kl_in_reward": "kl_reward_coef"}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kl_estimator not in KL_ESTIMATORS:
            raise ValueError(f"kl_estimator must be one of {KL_ESTIMATORS}; got {self.kl_estimator!r}.")
        if self.kl_level not in ("token", "sequence"):
            raise ValueError(f"kl_level must be 'token' or 'sequence'; got {self.kl_level!r}.")
        if self.kl_loss_coef < 0 or self.kl_reward_coef < 0:
            raise ValueError("kl_loss_coef and kl_reward_coef must be >= 0 (0 turns the term off).")
        if self.group_size < 2:
            raise ValueError(f"group_size must be >= 2 (advantages are relative to the group); got {self.group_size}.")
        if self.groups < 1:
            raise ValueError(f"groups must be >= 1; got {self.groups}.")

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> GRPOConfig:
        """The config saved as ``fields`` (``asdict`` of a config, also under its older field names)."""
        return cls(**{cls.LEGACY_NAMES.get(k, k): v for k, v in fields.items()})


def group_advantages(rewards: torch.Tensor, group_size: int, *, scale: bool, eps: float = 1e-4) -> torch.Tensor:
    r"""``A_i = (R_i − mean_g R) / (std_g R + eps)`` (``scale``) or ``R_i − mean_g R``; rows grouped consecutively.

    ``rewards`` has shape ``(n_groups · group_size,)``, each group's rows contiguous.
    ``std`` is the unbiased sample standard deviation (as in TRL). A group whose rewards
    are all equal carries no signal: its advantages are exactly 0 (never NaN, and never
    rounding noise blown up by the division).
    """
    r = torch.as_tensor(rewards, dtype=torch.float64)
    if r.ndim != 1 or r.numel() == 0 or r.numel() % group_size:
        raise ValueError(
            f"rewards must be 1-D with a multiple of group_size={group_size} entries; got {tuple(r.shape)}."
        )
    if not bool(torch.isfinite(r).all()):
        raise ValueError("rewards contain NaN or inf.")
    g = r.view(-1, group_size)
    adv = g - g.mean(dim=1, keepdim=True)
    if scale:
        adv = adv / (g.std(dim=1, keepdim=True) + eps)
    constant = g.max(dim=1, keepdim=True).values == g.min(dim=1, keepdim=True).values
    return torch.where(constant, torch.zeros_like(adv), adv).reshape(-1)


def draw_prompts(rng: np.random.Generator, config: GRPOConfig, num_prompts: int) -> torch.Tensor:
    """The prompt of each of a step's rollouts: ``groups`` prompts drawn uniformly with replacement,
    each repeated ``group_size`` times (a group's rows are adjacent), long ``(groups·group_size,)``."""
    prompts = torch.as_tensor(rng.integers(num_prompts, size=config.groups), dtype=torch.long)
    return prompts.repeat_interleave(config.group_size)


class GRPO:
    """GRPO on a policy of :mod:`alignlimits.rl.policies` against its frozen reference.

    Parameters
    ----------
    policy : trained in place.
    reference : ``π_ref`` (``policy.frozen_copy()`` before training).
    reward_fn : ``rollout -> (B,)`` rewards (finite).
    config : :class:`GRPOConfig`.
    judge_fn : optional second scorer, logged only (e.g. a held-out judge).
    """

    def __init__(
        self,
        policy: Any,
        reference: Any,
        reward_fn: Callable[[Rollout], torch.Tensor],
        config: GRPOConfig,
        *,
        judge_fn: Callable[[Rollout], torch.Tensor] | None = None,
    ) -> None:
        self.policy, self.reference, self.reward_fn, self.config, self.judge_fn = (
            policy, reference, reward_fn, config, judge_fn,
        )  # fmt: skip
        self.steps = config.steps
        # The frozen leading blocks are computed once per rollout for the policy and the reference alike.
        self.shared_trunk = policy.shares_trunk_with(reference)
        params = [p for p in policy.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=config.lr, eps=config.adam_eps)

    def step(self, step: int) -> dict[str, float]:
        """One GRPO step: sample groups, score them, turn rewards into group advantages, update.

        Everything random in the step (its prompts, samples and minibatch order) comes
        from :func:`~alignlimits.rl.training.step_rng` of ``(seed, step)``, so a resumed
        run repeats an uninterrupted one exactly. Returns the step's metrics: those of
        :func:`~alignlimits.rl.metrics.rollout_metrics` on the rollout *before* the update
        (the exact KL and entropy every ``metrics_every`` steps), the clipped fraction of
        tokens, the mean loss, and the fraction of groups whose advantages are all zero.
        """
        cfg = self.config
        rng = step_rng(cfg.seed, step)
        prompt_index = draw_prompts(rng, cfg, self.policy.num_prompts)
        exact = exact_metrics_at(step, cfg)
        # With one pass over one minibatch, π_old *is* the policy being differentiated: its log-probs are the
        # detached ones of the loss's own forward (as TRL does), and a no-grad forward would only repeat them.
        # A KL penalty in the reward needs them before the advantages, and exact metrics need the whole
        # vocabulary: then the no-grad forward runs.
        reuse_current = cfg.epochs * cfg.minibatches == 1 and cfg.kl_reward_coef == 0 and not exact

        # 1-3. Rollout, rewards, advantages: all with the sampling policy, no gradient.
        with torch.no_grad():
            rollout = self.policy.rollout(prompt_index, seed=int(rng.integers(2**31)), capture_trunk=self.shared_trunk)
            trunk = self.policy.trunk(rollout) if self.shared_trunk else None
            widths = prompt_widths(rollout)  # micro-batches of similar widths carry less padding
            ref_out = self.reference(rollout, trunk)
            ref_lp = token_logprobs(ref_out.logprobs, rollout)
            old_out = None if reuse_current else self.policy(rollout, trunk)
            old_lp = None if old_out is None else token_logprobs(old_out.logprobs, rollout)
            scores = check_rewards(self.reward_fn(rollout), len(rollout))
            rewards = scores
            if cfg.kl_reward_coef > 0:  # the sequence's k1, log π_old(y)/π_ref(y): PPO's penalty, one per sequence
                rewards = scores - cfg.kl_reward_coef * k1_per_sequence(old_lp, ref_lp, rollout.mask).cpu()
            # One advantage per sequence, shared by all its tokens: GRPO has no value head to say which token helped.
            advantages = group_advantages(rewards, cfg.group_size, scale=cfg.scale_rewards)
            judge = self.judge_fn(rollout) if self.judge_fn is not None else None

        # 4. Policy updates.
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(cfg.lr, step, cfg.steps, cfg.lr_final_fraction)
        clipped_tokens, losses = 0.0, 0.0
        current_lp = torch.zeros_like(ref_lp)  # the pre-update log-probs, when the loss pass provides them
        for _ in range(cfg.epochs):
            for rows in minibatches(len(rollout), cfg.minibatches, rng):
                # Normalisers of the whole minibatch: each micro-batch's loss is its exact share of the
                # minibatch's, so accumulating the micro-batches' gradients gives the full gradient.
                sizes = BatchSizes.of(rollout.mask[rows])
                self.optimizer.zero_grad(set_to_none=True)
                for micro in micro_batches(rows, cfg.micro_batches, widths):
                    old = None if old_lp is None else old_lp[micro]
                    rows_trunk = None if trunk is None else trunk[micro]
                    loss, clipped, lp = self._loss(
                        rollout.select(micro), old, ref_lp[micro], advantages[micro], sizes, rows_trunk
                    )
                    loss.backward()
                    losses += float(loss.detach())
                    clipped_tokens += clipped
                    current_lp[micro] = lp.to(current_lp.device)
                if cfg.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(self.optimizer.param_groups[0]["params"], cfg.max_grad_norm)
                self.optimizer.step()
        policy_lp = current_lp if old_lp is None else old_lp
        full = (old_out, ref_out) if exact else None
        metrics = rollout_metrics(rollout, policy_lp, ref_lp, scores, judge, full=full)
        n_tokens = int(rollout.mask.sum()) * cfg.epochs
        metrics.update(clip_fraction=clipped_tokens / n_tokens, loss=losses / (cfg.epochs * cfg.minibatches))
        metrics["advantage_zero_groups"] = float((advantages.view(-1, cfg.group_size) == 0).all(dim=1).double().mean())
        return metrics

    def _loss(
        self,
        sub: Rollout,
        old_lp: torch.Tensor | None,
        ref_lp: torch.Tensor,
        adv: torch.Tensor,
        sizes: BatchSizes,
        trunk: Trunk | None = None,
    ) -> tuple[torch.Tensor, float, torch.Tensor]:
        """One micro-batch's share of the minibatch loss, its number of clipped tokens, and its detached log-probs.

        ``old_lp=None`` means ``π_old`` is the current policy (ratio exactly 1, see :meth:`step`).
        """
        cfg = self.config
        lp = token_logprobs(self.policy(sub, trunk).logprobs, sub)
        device = lp.device
        old_lp = lp.detach() if old_lp is None else old_lp.to(device)
        ref_lp, adv = ref_lp.to(device), adv.to(device)[:, None]
        mask = sub.mask.to(device)
        per_token = clipped_surrogate(lp, old_lp, adv, clip_low=cfg.clip_low, clip_high=cfg.clip_high)
        if cfg.kl_loss_coef > 0 and cfg.kl_level == "token":
            per_token = per_token + cfg.kl_loss_coef * kl_penalty(lp, ref_lp, cfg.kl_estimator)
        if cfg.kl_loss_coef > 0 and cfg.kl_level == "sequence":
            seq = kl_penalty(masked_sum(lp, mask), masked_sum(ref_lp, mask), cfg.kl_estimator)
            # Carried by the first token, so the aggregation weighs it as it weighs that sequence's surrogate.
            per_token = per_token + cfg.kl_loss_coef * at_first_token(seq, mask)
        loss = aggregate(per_token, mask, cfg.loss_aggregation, sizes)
        in_clip = clip_region(lp.detach(), old_lp, adv, clip_low=cfg.clip_low, clip_high=cfg.clip_high)
        return loss, float(masked_sum(in_clip.double(), mask).sum()), lp.detach()

    def state_dict(self) -> dict[str, Any]:
        return {
            "policy": trainable_state(self.policy),
            "optimizer": self.optimizer.state_dict(),
            "config": asdict(self.config),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["config"] != asdict(self.config):
            raise ValueError("the checkpoint was written with a different GRPOConfig; use a new checkpoint path.")
        load_trainable_state(self.policy, state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
