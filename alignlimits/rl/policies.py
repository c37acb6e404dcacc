r"""Policies the RL algorithms train: a tabular policy on the enumerable model and a causal-LM adapter.

Both expose the same three things, so :mod:`alignlimits.rl.grpo` and
:mod:`alignlimits.rl.ppo` run unchanged on either:

* ``rollout(prompt_index, seed) -> Rollout`` — sample one completion per entry of
  ``prompt_index`` (no gradient), with a mask built from lengths;
* ``forward(rollout) -> PolicyOutput`` — teacher-forced ``log π(·|x, y_{<t})`` over the
  whole vocabulary at every completion position, shape ``(B, T, V)``, with gradient
  (float64 for the tabular policy; float32 for a language model, whose vocabulary is
  large: :func:`token_logprobs` gathers the sampled tokens' values and only then casts
  them to float64), and the value head's ``V(x, y_{<t})`` ``(B, T)`` when the policy has one;
* ``frozen_copy()`` — the reference ``π_ref``: the same policy, detached and frozen.

:class:`TabularPolicy` holds one trainable logit vector per prefix of an
:class:`~alignlimits.lm.enumerable.EnumerableLM`, initialised at the reference table,
so every quantity of a run (the policy's exact sequence law, reward and KL) can be
computed exactly with :meth:`TabularPolicy.to_enumerable`. :class:`CausalLMPolicy` wraps
a transformers causal LM (e.g. :func:`alignlimits.lm.models.tiny_gpt2`) sampled at a
temperature ``T`` with :func:`alignlimits.lm.sampling.sample`.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import nn

from alignlimits._validation import as_finite_array
from alignlimits.lm import enumerable, sampling
from alignlimits.lm import kl as sequence_kl

__all__ = [
    "CausalLMPolicy",
    "PolicyOutput",
    "Rollout",
    "TabularPolicy",
    "Trunk",
    "prompt_widths",
    "sequence_reward",
    "token_logprobs",
]


@dataclass
class Rollout:
    """``B`` sampled completions and what a policy needs to score them again.

    Attributes
    ----------
    completion_ids : (B, T) long; pad id after each completion's length (pad ≠ EOS).
    mask : (B, T) bool, True on real completion tokens (EOS included), from ``lengths``.
    lengths : (B,) long.
    prompt_index : (B,) long, which prompt each row answers (rows of a group share it).
    context : policy-specific data for re-scoring — the sequence indices ``(B,)`` of a
        :class:`TabularPolicy`, the :class:`~alignlimits.lm.sampling.Samples` of a
        :class:`CausalLMPolicy`.
    """

    completion_ids: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor
    prompt_index: torch.Tensor
    context: Any

    def __len__(self) -> int:
        return int(self.lengths.shape[0])

    def select(self, rows: torch.Tensor) -> Rollout:
        """The rows ``rows`` (a 1-D long tensor of indices)."""
        ctx = self.context.select(rows) if hasattr(self.context, "select") else self.context[rows.numpy()]
        return Rollout(self.completion_ids[rows], self.mask[rows], self.lengths[rows], self.prompt_index[rows], ctx)


@dataclass(frozen=True)
class Trunk:
    """The hidden states after a model's first ``depth`` (frozen) blocks, ``(B, P + T, H)``, one row per rollout row."""

    hidden: torch.Tensor
    depth: int

    def __getitem__(self, rows: torch.Tensor) -> Trunk:
        """The trunk of the given rows (the algorithms slice it with the rollout's micro-batches)."""
        return Trunk(self.hidden[rows.to(self.hidden.device)], self.depth)


@dataclass
class PolicyOutput:
    """``logprobs`` (B, T, V) ``log π(·|x, y_{<t})`` (float64 tabular, float32 language model);
    ``values`` (B, T) float64 or None."""

    logprobs: torch.Tensor
    values: torch.Tensor | None


def prompt_widths(rollout: Rollout) -> torch.Tensor | None:
    """The number of real prompt tokens of each row, ``(B,)`` long, or None for a policy without prompts (a table).

    Sorting micro-batches by it (:func:`~alignlimits.rl.training.micro_batches`) puts rows of
    similar width together, so :meth:`CausalLMPolicy.forward` can drop the left padding they share.
    """
    mask = getattr(rollout.context, "prompt_mask", None)
    return None if mask is None else mask.sum(dim=1).long()


def token_logprobs(logprobs: torch.Tensor, rollout: Rollout) -> torch.Tensor:
    """``log π(y_t|x, y_{<t})`` of the sampled tokens, float64 (B, T); 0 at pads (the pad id is never gathered).

    Gathered first, cast after: a language model's ``(B, T, V)`` log-probs stay float32 and
    only the ``(B, T)`` values the losses and estimators use become float64.
    """
    ids = torch.where(rollout.mask, rollout.completion_ids, torch.zeros_like(rollout.completion_ids))
    picked = logprobs.gather(-1, ids.to(logprobs.device).unsqueeze(-1)).squeeze(-1).double()
    return torch.where(rollout.mask.to(picked.device), picked, torch.zeros_like(picked))


# ---------------------------------------------------------------------------- tabular


class TabularPolicy(nn.Module):
    r"""Trainable next-token logits ``z_h`` for every prefix ``h`` of an enumerable model.

    ``π_θ(v|h) = softmax(z_h)_v``, initialised at ``z_h = log π_ref(·|h)`` so the policy
    starts equal to the reference. Parameters are float64, so exact comparisons with
    :mod:`alignlimits.tilting` are limited by optimisation, not rounding.

    Parameters
    ----------
    reference : the enumerable model ``π_ref`` (one "prompt": the empty context).
    value_head : also hold a trainable value ``V(h)`` per prefix (initialised at 0), for PPO.
    """

    def __init__(self, reference: enumerable.EnumerableLM, *, value_head: bool = False) -> None:
        super().__init__()
        self.reference_lm = reference
        self.logits = nn.Parameter(torch.tensor(reference.next_logprobs, dtype=torch.float64))
        self.value = (
            nn.Parameter(torch.zeros(reference.next_logprobs.shape[0], dtype=torch.float64)) if value_head else None
        )
        tree = reference._tree
        self.register_buffer("_seq_prefix", torch.as_tensor(tree.seq_prefix), persistent=False)
        tokens = np.where(tree.tokens == enumerable.PAD, self.pad_token_id, tree.tokens)
        self.register_buffer("_tokens", torch.as_tensor(tokens), persistent=False)
        self.register_buffer("_lengths", torch.as_tensor(tree.lengths), persistent=False)

    num_prompts = 1

    @property
    def vocab_size(self) -> int:
        return self.reference_lm.vocab_size

    @property
    def eos_token_id(self) -> int:
        return self.reference_lm.eos

    @property
    def pad_token_id(self) -> int:
        """``V``: outside the vocabulary, so never confused with EOS (masks come from lengths anyway)."""
        return self.reference_lm.vocab_size

    @property
    def max_new_tokens(self) -> int:
        return self.reference_lm.max_len

    def to_enumerable(self) -> enumerable.EnumerableLM:
        """The current policy as an :class:`~alignlimits.lm.enumerable.EnumerableLM` (exact law, KL, reward)."""
        table = torch.log_softmax(self.logits.detach(), dim=-1).cpu().numpy()
        return enumerable.EnumerableLM(table, self.reference_lm.max_len)

    def rollout_of(self, sequence_index: ArrayLike, prompt_index: torch.Tensor | None = None) -> Rollout:
        """The rollout made of the given sequences (e.g. all of them, for exact expectations)."""
        idx = torch.as_tensor(np.asarray(sequence_index), dtype=torch.long)
        lengths = self._lengths[idx]
        mask = sequence_kl.mask_from_lengths(lengths, self.max_new_tokens)
        prompts = torch.zeros_like(idx) if prompt_index is None else prompt_index
        return Rollout(self._tokens[idx], mask, lengths, prompts, idx.numpy())

    @torch.no_grad()
    def rollout(self, prompt_index: torch.Tensor, seed: int, *, capture_trunk: bool = False) -> Rollout:
        """One exact ancestral sample of the current policy per row (numpy generator from ``seed``;
        ``capture_trunk`` is accepted for the algorithms' sake: a table has no trunk)."""
        idx = self.to_enumerable().sample(int(prompt_index.shape[0]), np.random.default_rng(seed))
        return self.rollout_of(idx, prompt_index)

    def trunk(self, rollout: Rollout) -> None:
        """A table has no shared frozen computation: always None (see :meth:`CausalLMPolicy.trunk`)."""
        return None

    def shares_trunk_with(self, other: nn.Module) -> bool:
        return False

    def forward(self, rollout: Rollout, trunk: Trunk | None = None) -> PolicyOutput:
        prefixes = self._seq_prefix[torch.as_tensor(rollout.context, dtype=torch.long)]  # (B, T)
        logprobs = torch.log_softmax(self.logits, dim=-1)[prefixes]
        values = self.value[prefixes] if self.value is not None else None
        return PolicyOutput(logprobs, values)

    def frozen_copy(self) -> TabularPolicy:
        ref = copy.deepcopy(self)
        ref.requires_grad_(False)
        return ref


def sequence_reward(rewards: ArrayLike) -> Callable[[Rollout], torch.Tensor]:
    """Reward function of a :class:`TabularPolicy` rollout from one reward per sequence, shape ``(S,)``."""
    r = torch.as_tensor(as_finite_array(rewards, "rewards"), dtype=torch.float64)

    def reward_fn(rollout: Rollout) -> torch.Tensor:
        return r[torch.as_tensor(rollout.context, dtype=torch.long)]

    return reward_fn


# ---------------------------------------------------------------------------- causal LM


class CausalLMPolicy(nn.Module):
    r"""A transformers causal LM as a policy: ``π(v|x, h) = softmax(logits/T)_v`` over prompts ``x``.

    The full-vocabulary log-probs of :meth:`forward` are ``(B, T, V)`` float32 (the
    model's own precision; :func:`token_logprobs` casts the gathered values to float64),
    computed only at the completion positions.

    Parameters
    ----------
    model : a causal LM (kept in eval mode: dropout off, as in RLHF practice).
    prompts : token-id lists (apply a chat template first for chat models).
    temperature, max_new_tokens, eos_token_id, pad_token_id : the sampling law
        (:func:`alignlimits.lm.sampling.sample`); log-probs use the same temperature.
    value_head : add a linear value head on the last hidden state (zero-initialised), for PPO.
    trainable : optional predicate on parameter names; parameters it rejects are frozen
        (e.g. train only the last blocks). The value head is always trainable.
    autocast_dtype : run the model's forward passes under ``torch.autocast`` with this
        dtype (e.g. ``torch.bfloat16`` on a GPU); the log-softmax over the vocabulary and
        everything after it stay float32/float64. None (default): the model's own precision.
    """

    def __init__(
        self,
        model: Any,
        prompts: Sequence[Sequence[int]],
        *,
        temperature: float,
        max_new_tokens: int,
        eos_token_id: int,
        pad_token_id: int,
        value_head: bool = False,
        trainable: Callable[[str], bool] | None = None,
        autocast_dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.autocast_dtype = autocast_dtype
        if len(prompts) == 0:
            raise ValueError("prompts is empty; pass at least one prompt (a list of token ids).")
        sampling.generation_config(  # validates temperature, length and pad ≠ eos
            temperature=temperature, max_new_tokens=max_new_tokens, eos_token_id=eos_token_id, pad_token_id=pad_token_id
        )
        self.model = model.eval()
        self.prompts = [list(map(int, p)) for p in prompts]
        self.temperature = float(temperature)
        self.max_new_tokens = int(max_new_tokens)
        self.eos_token_id, self.pad_token_id = int(eos_token_id), int(pad_token_id)
        if trainable is not None:
            for name, p in self.model.named_parameters():
                p.requires_grad_(bool(trainable(name)))
        hidden = model.config.hidden_size if hasattr(model.config, "hidden_size") else model.config.n_embd
        self.value = nn.Linear(hidden, 1) if value_head else None
        if self.value is not None:
            nn.init.zeros_(self.value.weight)
            nn.init.zeros_(self.value.bias)
            self.value.to(next(model.parameters()).device)

    @property
    def num_prompts(self) -> int:
        return len(self.prompts)

    @property
    def vocab_size(self) -> int:
        return int(self.model.config.vocab_size)

    @torch.no_grad()
    def rollout(
        self, prompt_index: torch.Tensor, seed: int, *, score: bool = False, capture_trunk: bool = False
    ) -> Rollout:
        """Sample one completion per row; ``score=True`` also keeps the sampler's teacher-forced
        log-probs in ``context.logprobs`` (the algorithms recompute them with :meth:`forward`).

        ``capture_trunk=True`` keeps the frozen trunk's hidden states as the sampling pass computes
        them, so that :meth:`trunk` returns them instead of running the frozen blocks again.
        """
        depth = self.trunk_depth if capture_trunk else 0
        samples = sampling.sample(
            self.model,
            [self.prompts[int(i)] for i in prompt_index],
            num_samples=1,
            temperature=self.temperature,
            max_new_tokens=self.max_new_tokens,
            eos_token_id=self.eos_token_id,
            pad_token_id=self.pad_token_id,
            seed=seed,
            score=score,
            capture_block=depth - 1 if depth > 0 else None,
        )
        samples.prompt_index = prompt_index.clone()
        return Rollout(samples.completion_ids, samples.completion_mask, samples.lengths, prompt_index.clone(), samples)

    # ------------------------------------------------------------------ the frozen trunk
    #
    # When only the last blocks train, the policy and its frozen copy (the reference) compute the same
    # activations up to the first trainable block. trunk() computes them once, without gradient; forward()
    # then runs only the blocks above it, for the policy and for the reference alike. This works for models
    # whose blocks take the hidden state as it comes out of the block below (Llama-style: SmolLM2); GPT-2 adds
    # position embeddings to its input, so it always runs whole.

    def _blocks(self) -> tuple[nn.Module, str] | None:
        base = self.model.base_model
        if isinstance(getattr(base, "layers", None), nn.ModuleList) and not hasattr(base, "wpe"):
            return base, "layers"
        return None

    @property
    def trunk_depth(self) -> int:
        """How many leading blocks (and the embeddings) are frozen and can be shared; 0 when none can."""
        found = self._blocks()
        if found is None:
            return 0
        base, name = found
        if any(p.requires_grad for p in base.get_input_embeddings().parameters()):
            return 0
        depth = 0
        for block in getattr(base, name):
            if any(p.requires_grad for p in block.parameters()):
                break
            depth += 1
        return depth if depth < len(getattr(base, name)) else 0  # everything frozen: nothing to train above it

    def shares_trunk_with(self, other: nn.Module) -> bool:
        """Whether ``other`` (e.g. :meth:`frozen_copy`) has exactly this policy's frozen trunk, weights included."""
        depth = self.trunk_depth
        if depth == 0 or not isinstance(other, CausalLMPolicy) or other._blocks() is None:
            return False
        mine, theirs = self._trunk_parameters(depth), other._trunk_parameters(depth)
        if any(p.requires_grad for p in other._trunk_parameters(depth, detach=False)):
            return False  # the other's trunk could change under training
        return len(mine) == len(theirs) and all(a.shape == b.shape and torch.equal(a, b) for a, b in zip(mine, theirs,
                                                                                                         strict=True))

    def _trunk_parameters(self, depth: int, *, detach: bool = True) -> list[torch.Tensor]:
        base, name = self._blocks()  # type: ignore[misc]
        params = list(base.get_input_embeddings().parameters())
        for block in list(getattr(base, name))[:depth]:
            params += list(block.parameters())
        return [p.detach() for p in params] if detach else params

    @contextlib.contextmanager
    def _only_blocks(self, start: int, stop: int | None) -> Iterator[None]:
        base, name = self._blocks()  # type: ignore[misc]
        blocks = getattr(base, name)
        setattr(base, name, nn.ModuleList(list(blocks)[start:stop]))
        try:
            yield
        finally:
            setattr(base, name, blocks)

    def _inputs(self, rollout: Rollout) -> tuple[torch.Tensor, torch.Tensor, int]:
        s = rollout.context
        device = next(self.model.parameters()).device
        ids = torch.cat([s.prompt_ids, s.completion_ids], dim=1).to(device)
        mask = torch.cat([s.prompt_mask.bool(), s.completion_mask.bool()], dim=1).to(device)
        return ids, mask, int(s.completion_ids.shape[1])

    @torch.no_grad()
    def trunk(self, rollout: Rollout) -> Trunk | None:
        """The hidden states after the frozen leading blocks, or None when nothing is shared.

        Taken from the rollout when its sampling pass captured them (:meth:`rollout` with
        ``capture_trunk=True``), computed otherwise.
        """
        depth = self.trunk_depth
        if depth == 0:
            return None
        captured = getattr(rollout.context, "trunk", None)
        if captured is not None and rollout.context.trunk_depth == depth:
            return Trunk(captured, depth)
        ids, mask, _ = self._inputs(rollout)
        base, name = self._blocks()  # type: ignore[misc]
        captured: list[torch.Tensor] = []
        last = getattr(base, name)[depth - 1]
        hook = last.register_forward_hook(
            lambda _module, _inputs, out: captured.append(out[0] if isinstance(out, tuple) else out)
        )
        try:
            with self._only_blocks(0, depth), self._autocast(ids.device):
                base(input_ids=ids, attention_mask=mask.long(), position_ids=sampling.position_ids(mask),
                     use_cache=False)  # fmt: skip
        finally:
            hook.remove()
        return Trunk(captured[-1], depth)

    def forward(self, rollout: Rollout, trunk: Trunk | None = None) -> PolicyOutput:
        """Teacher-forced log-probs (and values) of the rollout; ``trunk`` (from :meth:`trunk`) skips the frozen blocks.

        ``trunk`` must come from a policy whose frozen trunk equals this one's
        (:meth:`shares_trunk_with`); its rows are the rollout's.
        """
        ids, mask, width = self._inputs(rollout)
        if trunk is not None and trunk.hidden.shape[:2] != ids.shape:
            shapes = f"{tuple(trunk.hidden.shape)}; the rollout needs {tuple(ids.shape)} + (H,)"
            raise ValueError(f"trunk has shape {shapes}.")
        # Left padding every row shares changes no output (attention and positions skip pads): drop it. A
        # micro-batch of short prompts then no longer pays for the longest prompt of its rollout.
        real = mask.any(dim=0).nonzero()
        start = int(real[0]) if real.numel() else 0
        if start:
            ids, mask = ids[:, start:], mask[:, start:]
            trunk = None if trunk is None else Trunk(trunk.hidden[:, start:], trunk.depth)
        with self._autocast(ids.device):
            return self._forward(rollout, trunk, ids, mask, width)

    def _autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.autocast_dtype)

    def _forward(
        self, rollout: Rollout, trunk: Trunk | None, ids: torch.Tensor, mask: torch.Tensor, width: int
    ) -> PolicyOutput:
        base = self.model.base_model
        args = dict(attention_mask=mask.long(), position_ids=sampling.position_ids(mask), use_cache=False)
        if trunk is None:
            hidden = base(input_ids=ids, **args).last_hidden_state
        else:
            with self._only_blocks(trunk.depth, None):  # the blocks above the trunk's producer's frozen ones
                hidden = base(inputs_embeds=trunk.hidden, **args).last_hidden_state
        # The output at position i predicts token i + 1: the output layer runs only at the width positions before
        # each completion token (a long prompt never meets the (P + T) x V output layer).
        hidden = hidden[:, -(width + 1) : -1, :]
        # float32 over the vocabulary: a (B, T, V) float64 copy would cost twice the memory and time for
        # nothing, since only the gathered values (cast to float64 by token_logprobs) enter the losses.
        logits = self.model.get_output_embeddings()(hidden).float() / self.temperature
        values = self.value(hidden).squeeze(-1).double() if self.value is not None else None
        with torch.autocast(device_type=logits.device.type, enabled=False):  # the normaliser in float32, always
            return PolicyOutput(torch.log_softmax(logits.float(), dim=-1), values)

    def frozen_copy(self) -> CausalLMPolicy:
        ref = copy.deepcopy(self)
        ref.requires_grad_(False)
        return ref
