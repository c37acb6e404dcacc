r"""Sampling from a causal LM exactly as ``π`` says, and teacher-forced log-probs of the samples.

The base policy of the lab is the model at a temperature ``T``:
``π(v|h) = softmax(logits(h)/T)_v`` with no truncation. Three things make samples follow
that law and log-probs describe it:

* **A complete, explicit generation config** (:func:`generation_config`): sampling on,
  ``top_k = 0``, ``top_p = 1``, ``min_p = 0``, no repetition penalties, no forced or
  suppressed tokens. A model's own ``generation_config`` fills every field a caller leaves
  unset (``None``) — a checkpoint shipping ``top_k = 50`` or ``suppress_tokens`` silently
  changes ``π``, and some fields (suppressed tokens, bad words, sequence bias) have no
  "off" value to set — so :func:`sample` also swaps the model's config for an empty one
  while generating. The tests show that the explicit config alone is not enough.
* **Left padding with explicit masks and position ids**: prompts of different lengths
  are padded on the left with a pad token distinct from EOS; attention masks are built
  from lengths and ``position_ids = cumsum(mask) − 1``, so a padded prompt is seen
  exactly as the unpadded one.
* **Log-probs at the sampling temperature**: :func:`sample` scores each sampled token
  with ``log_softmax(logits / T)`` from the logits ``generate`` itself sampled from (its
  raw ``output_logits``, before any processor: the temperature is applied here, once), so
  scoring costs no second forward pass. :func:`token_logprobs` computes the same numbers
  by teacher forcing (a forward over prompt + completion); it is the reference the tests
  compare the sampler against, and what scores completions the sampler did not draw.
* **One prefill per prompt**: the ``num_samples`` rows of a prompt share its KV cache. A
  forward over the distinct prompts of a batch (all but their last token) fills a cache
  that is then copied along the batch axis to every row; ``generate`` continues from it,
  feeding the last prompt token. The samples follow the same law as without sharing
  (``share_prefill=False``), and for the same seed they are the same samples up to
  float32 rounding of the prompt's keys and values (the random draws are the same).

A completion's length counts its tokens up to and including the first EOS (or
``max_new_tokens`` when there is none); its mask comes from that length, never from
token values. Randomness comes from an explicit seed: generation runs inside
``torch.random.fork_rng`` so the global RNG state is neither used nor changed.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from alignlimits.lm import kl as sequence_kl

__all__ = [
    "Samples",
    "completion_lengths",
    "generation_config",
    "kl_to_reference",
    "left_pad",
    "position_ids",
    "sample",
    "token_logprobs",
]


def generation_config(*, temperature: float, max_new_tokens: int, eos_token_id: int, pad_token_id: int) -> Any:
    r"""A ``GenerationConfig`` that samples from ``softmax(logits/T)`` and nothing else.

    Every field that can change the sampling law is set explicitly (no truncation,
    penalties, forced, suppressed or biased tokens, minimum lengths, beams, stop strings).
    """
    from transformers import GenerationConfig

    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0; got {temperature!r}.")
    if int(max_new_tokens) != max_new_tokens or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a positive integer; got {max_new_tokens!r}.")
    if eos_token_id == pad_token_id:
        raise ValueError("pad_token_id must differ from eos_token_id: masks come from lengths, not token values.")
    return GenerationConfig(
        do_sample=True,
        num_beams=1,
        num_return_sequences=1,
        temperature=float(temperature),
        top_k=0,
        top_p=1.0,
        min_p=0.0,
        typical_p=1.0,
        epsilon_cutoff=0.0,
        eta_cutoff=0.0,
        repetition_penalty=1.0,
        encoder_repetition_penalty=1.0,
        no_repeat_ngram_size=0,
        encoder_no_repeat_ngram_size=0,
        length_penalty=1.0,
        min_new_tokens=0,
        max_new_tokens=int(max_new_tokens),
        renormalize_logits=False,
        remove_invalid_values=False,
        eos_token_id=int(eos_token_id),
        pad_token_id=int(pad_token_id),
        use_cache=True,
        output_scores=False,
        return_dict_in_generate=False,
    )


@contextlib.contextmanager
def _own_generation_config(model: Any) -> Iterator[None]:
    """Replace the model's generation_config by an empty one, so none of its values leak in."""
    from transformers import GenerationConfig

    saved = model.generation_config
    model.generation_config = GenerationConfig()
    try:
        yield
    finally:
        model.generation_config = saved


def left_pad(prompts: Sequence[Sequence[int]], pad_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad token-id lists: ``(ids, mask)`` of shape ``(B, P)``, mask built from lengths."""
    if len(prompts) == 0:
        raise ValueError("prompts is empty; pass at least one prompt (a list of token ids).")
    lengths = torch.tensor([len(p) for p in prompts], dtype=torch.long)
    if int(lengths.min()) < 1:
        raise ValueError("every prompt needs at least one token (e.g. BOS or a chat-template prefix).")
    width = int(lengths.max())
    ids = torch.full((len(prompts), width), int(pad_token_id), dtype=torch.long)
    for i, p in enumerate(prompts):
        try:
            ids[i, width - len(p) :] = torch.as_tensor([int(t) for t in p], dtype=torch.long)
        except (TypeError, ValueError):
            raise TypeError(
                f"prompt {i} is not a list of token ids; tokenize it first, e.g. tokenizer(text)['input_ids']."
            ) from None
    mask = torch.flip(sequence_kl.mask_from_lengths(lengths, width), dims=[1])
    return ids, mask


def position_ids(mask: torch.Tensor) -> torch.Tensor:
    """``cumsum(mask) − 1`` along the sequence, 0 at left padding: real tokens count from 0."""
    pos = mask.long().cumsum(-1) - 1
    return pos.clamp(min=0)


def completion_lengths(completion_ids: torch.Tensor, eos_token_id: int) -> torch.Tensor:
    """Tokens up to and including the first EOS, or the full width without EOS; shape ``(B,)``."""
    width = completion_ids.shape[1]
    is_eos = completion_ids == eos_token_id
    first = torch.where(
        is_eos.any(dim=1), is_eos.int().argmax(dim=1) + 1, torch.full_like(is_eos[:, 0], width, dtype=torch.long)
    )
    return first.long()


@dataclass
class Samples:
    """Completions sampled from a model, with everything needed to score them.

    Attributes
    ----------
    prompt_ids, prompt_mask : (B, P) left-padded prompts and their real-token mask.
    completion_ids : (B, T) completions, right-padded with the pad id (``T = max_new_tokens``).
    completion_mask : (B, T) True for real completion tokens (EOS included), from ``lengths``.
    lengths : (B,) completion lengths.
    prompt_index : (B,) which prompt each row answers (index into the prompt list).
    logprobs : (B, T) float64 ``log π(y_t|y_{<t})`` at ``temperature`` (0 at pads); None when
        sampled without scoring. Computed in float32 from the sampling pass's logits and cast
        after gathering: they equal the teacher-forced :func:`token_logprobs` to float32 rounding.
    temperature : the sampling temperature.
    trunk : (B, P + T, H) the hidden states after block ``trunk_depth − 1`` along the prompt and
        completion, captured while sampling (``sample(..., capture_block=trunk_depth − 1)``), or
        None. The positions after the last generated token are zeros: under causal attention
        they influence no output a completion token's log-prob depends on.
    trunk_depth : the number of blocks below :attr:`trunk` (0 without one).
    """

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    completion_ids: torch.Tensor
    completion_mask: torch.Tensor
    lengths: torch.Tensor
    prompt_index: torch.Tensor
    logprobs: torch.Tensor | None
    temperature: float
    trunk: torch.Tensor | None = None
    trunk_depth: int = 0

    def __len__(self) -> int:
        return int(self.lengths.shape[0])

    def select(self, rows: torch.Tensor | slice) -> Samples:
        """The subset of rows (e.g. one prompt's samples)."""
        return Samples(
            self.prompt_ids[rows],
            self.prompt_mask[rows],
            self.completion_ids[rows],
            self.completion_mask[rows],
            self.lengths[rows],
            self.prompt_index[rows],
            None if self.logprobs is None else self.logprobs[rows],
            self.temperature,
            None if self.trunk is None else self.trunk[rows.to(self.trunk.device) if torch.is_tensor(rows) else rows],
            self.trunk_depth,
        )

    def texts(self, tokenizer: Any) -> list[str]:
        """Decoded completions (real tokens only, special tokens skipped)."""
        return [
            tokenizer.decode(ids[:n].tolist(), skip_special_tokens=True)
            for ids, n in zip(self.completion_ids, self.lengths.tolist(), strict=True)
        ]


def _device(model: Any) -> torch.device:
    return next(model.parameters()).device


def _cache_kwarg(model: Any) -> str:
    """The name under which this transformers version passes a KV cache (``cache`` since 5.2x)."""
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _shared_prefill(
    model: Any, ids: torch.Tensor, mask: torch.Tensor, keys: Sequence[tuple[int, ...]], capture_block: int | None = None
) -> tuple[Any, torch.Tensor, torch.Tensor | None] | None:
    """A KV cache of every row's prompt but its last token: each distinct prompt prefilled once, on its real
    tokens only, the caches left-padded to the batch's width and copied to the rows holding that prompt.

    ``ids``, ``mask`` are the batch's left-padded prompts (on the model's device); ``keys``
    identify each row's prompt. Left padding makes a batched prefill compute every prompt at
    the longest one's width (summarization prompts vary from tens to hundreds of tokens);
    prefilling each distinct prompt alone computes only its real tokens, once, however many
    rows share it. Pads get zero keys and values, which the attention mask hides. Returns
    ``(cache, owners, hidden)`` — ``owners`` the distinct prompt each row took, ``hidden`` the
    output of block ``capture_block`` along the prefilled positions, ``(U, width, H)``, left-padded
    with zeros (None without ``capture_block``) — or None when nothing is saved (one distinct
    prompt per row and no padding, or a one-token-wide batch) or the model's cache cannot be
    assembled and resumed this way.
    """
    width = ids.shape[1] - 1
    if width < 1:
        return None
    first: dict[tuple[int, ...], int] = {}  # prompt -> the first row holding it
    for row, k in enumerate(keys):
        first.setdefault(k, row)
    real = mask[:, :width].bool()
    if len(first) == len(keys) and bool(real.all()):
        return None  # no duplicate and no pad: a batched prefill wastes nothing
    slot = {k: u for u, k in enumerate(first)}
    owners = torch.tensor([slot[k] for k in keys], dtype=torch.long, device=ids.device)
    kwargs: dict[str, Any] = {"use_cache": True}
    if "logits_to_keep" in inspect.signature(model.forward).parameters:
        kwargs["logits_to_keep"] = 1  # the prefill's logits are never used: skip the output layer
    layers_kv: list[list[tuple[torch.Tensor, torch.Tensor] | None]] = []
    hidden: torch.Tensor | None = None
    for u, row in enumerate(first.values()):
        tokens = ids[row, :width][real[row]]
        if tokens.numel() == 0:
            layers_kv.append([])  # a one-token prompt: nothing before its last token
            continue
        positions = torch.arange(tokens.numel(), device=ids.device)[None]
        with _capture(model, capture_block) as captured:
            out = model(input_ids=tokens[None], attention_mask=torch.ones_like(tokens)[None], position_ids=positions,
                        **kwargs)  # fmt: skip
        cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
        found = getattr(cache, "layers", None)
        if not found or not all(hasattr(layer, "keys") and hasattr(layer, "values") for layer in found):
            return None  # not a key/value cache this function knows how to assemble
        layers_kv.append([(layer.keys, layer.values) for layer in found])
        if capture_block is not None:
            if hidden is None:
                hidden = captured[0].new_zeros((len(first), width, captured[0].shape[-1]))
            hidden[u, width - tokens.numel() :] = captured[0][0]
    template = next((kv for kv in layers_kv if kv), None)
    if template is None:
        return None
    assembled = []
    for layer, (k0, v0) in enumerate(template):
        k_all = k0.new_zeros((len(first), k0.shape[1], width, k0.shape[3]))
        v_all = v0.new_zeros((len(first), v0.shape[1], width, v0.shape[3]))
        for u, kv in enumerate(layers_kv):
            if kv:
                n = kv[layer][0].shape[2]
                k_all[u, :, width - n :] = kv[layer][0][0]
                v_all[u, :, width - n :] = kv[layer][1][0]
        assembled.append((k_all[owners], v_all[owners]))  # copy to every row
    from transformers import DynamicCache

    cache = DynamicCache(ddp_cache_data=assembled, config=model.config)
    if capture_block is not None and hidden is None:  # every prompt one token wide
        hidden = ids.new_zeros((len(first), width, model.config.hidden_size), dtype=torch.float32)
    return cache, owners, hidden


@contextlib.contextmanager
def _capture(model: Any, block: int | None) -> Iterator[list[torch.Tensor]]:
    """Collect the output of ``model``'s block ``block`` at every forward inside the block (nothing if None)."""
    captured: list[torch.Tensor] = []
    if block is None:
        yield captured
        return
    layers = getattr(model.base_model, "layers", None)
    if not isinstance(layers, torch.nn.ModuleList) or not 0 <= block < len(layers):
        raise ValueError(f"capture_block={block} names no block of this model (Llama-style models only).")
    hook = layers[block].register_forward_hook(
        lambda _module, _inputs, out: captured.append((out[0] if isinstance(out, tuple) else out).detach())
    )
    try:
        yield captured
    finally:
        hook.remove()


def _assemble_trunk(parts: list[torch.Tensor], rows: int, width: int, prompt_width: int) -> torch.Tensor:
    """The captured hidden states of one batch as ``(rows, width, H)``, positions in order, zeros after the last."""
    hidden = torch.cat(parts, dim=1)
    if hidden.shape[0] != rows or not prompt_width <= hidden.shape[1] <= width:
        raise RuntimeError(f"captured hidden states of shape {tuple(hidden.shape)} do not line up with the batch.")
    out = hidden.new_zeros((rows, width, hidden.shape[-1]))
    out[:, : hidden.shape[1]] = hidden
    return out


def _sampled_logprobs(logits: Sequence[torch.Tensor], new: torch.Tensor, temperature: float) -> torch.Tensor:
    r"""``log softmax(logits/T)`` of each sampled token, float32 gathered then cast to float64, ``(B, steps)``.

    ``logits`` are ``generate``'s raw per-step logits (``output_logits``: before the
    temperature warper), so ``T`` is applied here, once, by the same float32 division the
    warper does. Only a ``(B, V)`` block is processed at a time; nothing of size
    ``(B, T, V)`` is ever float64.
    """
    out = torch.empty(new.shape, dtype=torch.float64, device=new.device)
    for t, step in enumerate(logits[: new.shape[1]]):
        scaled = step.float() / temperature
        picked = scaled.gather(-1, new[:, t : t + 1]).squeeze(-1) - torch.logsumexp(scaled, dim=-1)
        out[:, t] = picked.double()
    return out


def sample(
    model: Any,
    prompts: Sequence[Sequence[int]],
    *,
    num_samples: int,
    temperature: float,
    max_new_tokens: int,
    eos_token_id: int,
    pad_token_id: int,
    seed: int,
    batch_size: int = 64,
    score_batch_size: int = 8,
    progress: bool = False,
    score: bool = True,
    share_prefill: bool = True,
    teacher_forced: bool = False,
    capture_block: int | None = None,
) -> Samples:
    r"""Draw ``num_samples`` completions per prompt from ``softmax(logits/T)``.

    Parameters
    ----------
    model : a transformers causal LM (in eval mode).
    prompts : list of token-id lists (apply a chat template first for chat models).
    num_samples : completions per prompt; rows are grouped by prompt.
    temperature, max_new_tokens, eos_token_id, pad_token_id : see :func:`generation_config`.
    seed : seeds every batch (via ``numpy.random.SeedSequence(seed).spawn``), so the
        same seed and batch size give the same samples.
    batch_size : rows generated at once. With ``score=True`` the sampling pass keeps its
        float32 logits, ``batch_size × max_new_tokens × V`` of them, until the batch is scored.
    score_batch_size : rows scored at once when ``teacher_forced`` (holds a float64
        ``(score_batch_size, T, V)`` block: keep it small for large vocabularies).
    score : return the log-probs of the samples; callers that score the samples themselves
        anyway (the RL algorithms) pass False.
    share_prefill : rows of a batch with the same prompt share one prefill (one forward
        over the distinct prompts, its KV cache copied to their rows). Same law as False;
        for the same seed, the same samples up to float32 rounding of the cache.
    teacher_forced : score by a second, teacher-forced pass (:func:`token_logprobs`) instead
        of from the sampling pass's logits (the slower path before shared scoring; same
        numbers to float32 rounding).
    capture_block : keep the hidden states after this block (0-based) at every position, as
        the samples' ``trunk`` (Llama-style models): the frozen trunk of a policy whose
        blocks up to it do not train, computed by the sampling pass itself instead of again
        by the trainer. Equal to a teacher-forced pass's to float32 rounding.

    Returns
    -------
    Samples
        With ``logprobs`` of the sampled tokens at ``temperature`` (``None`` when ``score=False``).
    """
    if int(num_samples) != num_samples or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer; got {num_samples!r}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}.")
    config = generation_config(
        temperature=temperature, max_new_tokens=max_new_tokens, eos_token_id=eos_token_id, pad_token_id=pad_token_id
    )
    own_scores = score and not teacher_forced
    # Raw logits (before the temperature warper), kept per step; only asked for when used.
    config.output_logits = own_scores
    config.return_dict_in_generate = own_scores
    rows = [i for i in range(len(prompts)) for _ in range(int(num_samples))]
    if not rows:
        raise ValueError("prompts is empty; pass at least one prompt.")
    prompt_ids, prompt_mask = left_pad([prompts[i] for i in rows], pad_token_id)
    # Rows share a prefill when their prompts are equal (not only when they have the same
    # index: callers such as GRPO pass a prompt once per row).
    keys = [tuple(int(t) for t in prompts[i]) for i in rows] if share_prefill else []
    device = _device(model)
    starts = list(range(0, len(rows), batch_size))
    seeds = np.random.SeedSequence(seed).spawn(len(starts))
    pieces, scored, trunks = [], [], []
    for start, ss in zip(tqdm(starts, desc="sampling", disable=not progress), seeds, strict=True):
        ids = prompt_ids[start : start + batch_size].to(device)
        mask = prompt_mask[start : start + batch_size].to(device)
        fork_devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=fork_devices), _own_generation_config(model), torch.no_grad():
            torch.manual_seed(int(ss.generate_state(1)[0]))
            shared = (
                _shared_prefill(model, ids, mask, keys[start : start + batch_size], capture_block)
                if share_prefill
                else None
            )
            cache, owners, prefilled = shared if shared is not None else (None, None, None)
            extra = {} if cache is None else {_cache_kwarg(model): cache}
            with _capture(model, capture_block) as captured:
                out = model.generate(
                    input_ids=ids,
                    attention_mask=mask.long(),
                    position_ids=position_ids(mask),
                    generation_config=config,
                    **extra,
                )
            if capture_block is not None:
                width = prompt_ids.shape[1] + int(max_new_tokens)
                parts = ([prefilled[owners]] if prefilled is not None else []) + captured
                trunks.append(_assemble_trunk(parts, ids.shape[0], width, ids.shape[1]))
                del captured
            sequences = out.sequences if own_scores else out
            new = sequences[:, ids.shape[1] :]
            if own_scores:
                part = torch.zeros((new.shape[0], int(max_new_tokens)), dtype=torch.float64)
                part[:, : new.shape[1]] = _sampled_logprobs(out.logits, new, float(temperature)).cpu()
                scored.append(part)
            del out, cache  # the per-step logits and the cache are the batch's largest tensors
        padded = torch.full((new.shape[0], int(max_new_tokens)), int(pad_token_id), dtype=torch.long)
        padded[:, : new.shape[1]] = new.cpu()
        pieces.append(padded)
    completion_ids = torch.cat(pieces)
    lengths = completion_lengths(completion_ids, eos_token_id)
    completion_mask = sequence_kl.mask_from_lengths(lengths, int(max_new_tokens))
    # Tokens after EOS are padding whatever generate wrote there.
    completion_ids = torch.where(completion_mask, completion_ids, torch.full_like(completion_ids, int(pad_token_id)))
    logprobs = None
    if own_scores:
        logprobs = torch.where(completion_mask, torch.cat(scored), torch.zeros((), dtype=torch.float64))
    elif score:
        logprobs = token_logprobs(
            model,
            prompt_ids,
            prompt_mask,
            completion_ids,
            completion_mask,
            temperature=temperature,
            batch_size=score_batch_size,
        )
    return Samples(
        prompt_ids=prompt_ids,
        prompt_mask=prompt_mask,
        completion_ids=completion_ids,
        completion_mask=completion_mask,
        lengths=lengths,
        prompt_index=torch.tensor(rows, dtype=torch.long),
        logprobs=logprobs,
        temperature=float(temperature),
        trunk=torch.cat(trunks) if trunks else None,
        trunk_depth=0 if capture_block is None else capture_block + 1,
    )


def _log_softmax_rows(
    model: Any,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    temperature: float,
) -> torch.Tensor:
    """``log_softmax(logits/T)`` in float64 at the positions predicting each completion token, (b, T, V)."""
    device = _device(model)
    ids = torch.cat([prompt_ids, completion_ids], dim=1).to(device)
    mask = torch.cat([prompt_mask.bool(), completion_mask.bool()], dim=1).to(device)
    width = completion_ids.shape[1]
    # Only the last width + 1 positions are needed (the logit at position i predicts token
    # i + 1): logits_to_keep spares a (b, P + T, V) tensor for long prompts.
    logits = model(
        input_ids=ids, attention_mask=mask.long(), position_ids=position_ids(mask), logits_to_keep=width + 1
    ).logits
    scores = logits[:, -(width + 1) : -1, :].double() / temperature
    return torch.log_softmax(scores, dim=-1)


def _check_batch(
    prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, completion_ids: torch.Tensor, completion_mask: torch.Tensor
) -> None:
    if prompt_ids.shape != prompt_mask.shape or completion_ids.shape != completion_mask.shape:
        raise ValueError("ids and masks must have the same shapes (prompt (B, P), completion (B, T)).")
    if prompt_ids.shape[0] != completion_ids.shape[0]:
        raise ValueError(
            f"prompt and completion batch sizes differ: {prompt_ids.shape[0]} vs {completion_ids.shape[0]}."
        )
    if not bool(prompt_mask.bool()[:, -1].all()):
        raise ValueError("prompts must be left-padded: the last prompt position must be a real token in every row.")


def token_logprobs(
    model: Any,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    *,
    temperature: float,
    batch_size: int = 8,
) -> torch.Tensor:
    r"""Teacher-forced ``log π(y_t|x, y_{<t})`` with ``π = softmax(logits/T)``, float64, shape ``(B, T)``.

    Prompts left-padded (``prompt_mask`` False on the padding), completions right-padded
    (``completion_mask`` False after the length). Padded positions hold 0.
    """
    _check_batch(prompt_ids, prompt_mask, completion_ids, completion_mask)
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0; got {temperature!r}.")
    out = []
    with torch.no_grad():
        for s in range(0, prompt_ids.shape[0], batch_size):
            sl = slice(s, s + batch_size)
            logp = _log_softmax_rows(
                model, prompt_ids[sl], prompt_mask[sl], completion_ids[sl], completion_mask[sl], temperature
            )
            tok = completion_ids[sl].to(logp.device)
            picked = logp.gather(-1, tok.unsqueeze(-1)).squeeze(-1).cpu()
            out.append(torch.where(completion_mask[sl].bool(), picked, torch.zeros_like(picked)))
    return torch.cat(out)


def kl_to_reference(
    policy: Any, reference: Any, samples: Samples, *, batch_size: int = 8
) -> dict[str, sequence_kl.KLEstimate]:
    r"""Sequence-level ``KL(π‖π_ref)`` from samples of the policy: exact per position, k1 and k3.

    Both models are run teacher-forced on the samples at ``samples.temperature`` (the
    reference at the same temperature, as in the base policy's definition). The exact
    per-position KL over the full vocabulary is computed ``batch_size`` rows at a time,
    so only a ``(batch_size, T, V)`` float64 block is ever held.

    Returns the dictionary of :func:`alignlimits.lm.kl.sequence_kl`.
    """
    t = samples.temperature
    args = (samples.prompt_ids, samples.prompt_mask, samples.completion_ids, samples.completion_mask)
    per_token, lp_pol, lp_ref = [], [], []
    with torch.no_grad():
        for s in range(0, len(samples), batch_size):
            sl = slice(s, s + batch_size)
            part = [a[sl] for a in args]
            a = _log_softmax_rows(policy, *part, t)
            b = _log_softmax_rows(reference, *part, t).to(a.device)
            tok = part[2].to(a.device).unsqueeze(-1)
            per_token.append(sequence_kl.per_token_kl(a, b).cpu())
            lp_pol.append(a.gather(-1, tok).squeeze(-1).cpu())
            lp_ref.append(b.gather(-1, tok).squeeze(-1).cpu())
    mask = samples.completion_mask
    return sequence_kl.sequence_kl(torch.cat(lp_pol), torch.cat(lp_ref), mask, exact_per_token=torch.cat(per_token))
