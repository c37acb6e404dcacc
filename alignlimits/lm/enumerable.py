r"""A language model small enough to enumerate: every sequence, probability and KL is exact.

The model has a vocabulary of ``V`` tokens ``0 … V−1``, the last of which is the
end-of-sequence token ``EOS = V − 1``, and a maximum length ``L``. It is an explicit
autoregressive table: for every prefix ``h`` of fewer than ``L`` non-EOS tokens a
next-token distribution ``π(·|h)`` over the ``V`` tokens. A *complete sequence* is
either ``h`` followed by EOS (``|h| < L``) or ``L`` non-EOS tokens (truncated, as with
``max_new_tokens``), so there are

.. math::  S = Σ_{l=0}^{L−1} (V−1)^l + (V−1)^L

sequences (``V = 4, L = 5``: 364) with ``π(y) = Π_t π(y_t|y_{<t})`` summing to one.

Because the sequence law is an explicit vector, the exact tilted policy
``π_β ∝ π0 e^{r/β}`` (:mod:`alignlimits.tilting`), the exact best-of-N law
(:mod:`alignlimits.bon`) and every KL are available, and any sequence law can be turned
back into an autoregressive table (:meth:`EnumerableLM.from_sequence_logprobs`) whose
per-position conditionals give the exact per-position KL along sampled prefixes.
numpy only: this module imports without torch.

Sequences are identified by their index ``0 … S−1``; :attr:`EnumerableLM.tokens` holds
them as an ``(S, L)`` integer array padded with :data:`PAD` and
:attr:`EnumerableLM.lengths` their lengths (EOS counted as a token).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import log_softmax, logsumexp

from alignlimits import bon, tilting
from alignlimits._validation import as_finite_array
from alignlimits.divergences import kl_from_logprobs
from alignlimits.lm import kl as lmkl

__all__ = [
    "PAD",
    "EnumerableLM",
    "count_reward",
    "kl_estimates",
    "per_position_kl",
    "random_lm",
    "random_reward",
    "sequence_kl",
]

#: Padding value in :attr:`EnumerableLM.tokens` (never a token id; masks come from lengths).
PAD = -1


@dataclass(frozen=True)
class _Tree:
    """Index bookkeeping shared by every model with the same ``(V, L)``."""

    vocab_size: int
    max_len: int
    prefix_offset: NDArray[np.int64]  # (L+1,) first prefix index of each length
    tokens: NDArray[np.int64]  # (S, L) padded with PAD
    lengths: NDArray[np.int64]  # (S,)
    seq_prefix: NDArray[np.int64]  # (S, L) prefix index of y_{<t}, 0 at pads
    child_seq: NDArray[np.int64]  # (P, V) sequence index of prefix+v, or −1
    child_prefix: NDArray[np.int64]  # (P, V) prefix index of prefix+v, or −1
    prefix_len: NDArray[np.int64]  # (P,)

    @property
    def n_prefixes(self) -> int:
        return int(self.prefix_offset[-1])

    @property
    def n_sequences(self) -> int:
        return int(self.lengths.size)


def _build_tree(vocab_size: int, max_len: int) -> _Tree:
    b = vocab_size - 1  # non-EOS tokens
    eos = vocab_size - 1
    counts = [b**depth for depth in range(max_len)]
    prefix_offset = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    n_prefixes = int(prefix_offset[-1])
    prefix_len = np.repeat(np.arange(max_len), counts).astype(np.int64)

    def digits(num: int, length: int) -> list[int]:
        out = []
        for _ in range(length):
            out.append(num % b)
            num //= b
        return out[::-1]

    # Sequences: for each length l = 1..L the (l−1)-prefixes followed by EOS, then the
    # truncated length-L sequences. seq_offset[l] is the first index of EOS-length l.
    n_eos = sum(counts)
    n_trunc = b**max_len
    n_seq = n_eos + n_trunc
    tokens = np.full((n_seq, max_len), PAD, dtype=np.int64)
    lengths = np.zeros(n_seq, dtype=np.int64)
    seq_prefix = np.zeros((n_seq, max_len), dtype=np.int64)
    child_seq = np.full((n_prefixes, vocab_size), -1, dtype=np.int64)
    child_prefix = np.full((n_prefixes, vocab_size), -1, dtype=np.int64)

    def prefix_chain(toks: list[int]) -> list[int]:
        """Prefix index of y_{<t} for t = 0..len(toks)−1."""
        chain, num = [], 0
        for t in range(len(toks)):
            chain.append(int(prefix_offset[t]) + num)
            num = num * b + toks[t]
        return chain

    s = 0
    for depth in range(max_len):  # EOS after a prefix of this length
        for num in range(counts[depth]):
            body = digits(num, depth)
            toks = [*body, eos]
            tokens[s, : depth + 1] = toks
            lengths[s] = depth + 1
            seq_prefix[s, : depth + 1] = prefix_chain(toks)
            child_seq[prefix_offset[depth] + num, eos] = s
            s += 1
    for num in range(n_trunc):
        toks = digits(num, max_len)
        tokens[s] = toks
        lengths[s] = max_len
        seq_prefix[s] = prefix_chain(toks)
        child_seq[prefix_offset[max_len - 1] + num // b, num % b] = s
        s += 1
    for depth in range(max_len - 1):
        for num in range(counts[depth]):
            for v in range(b):
                child_prefix[prefix_offset[depth] + num, v] = prefix_offset[depth + 1] + num * b + v
    return _Tree(vocab_size, max_len, prefix_offset, tokens, lengths, seq_prefix, child_seq, child_prefix, prefix_len)


_TREES: dict[tuple[int, int], _Tree] = {}

#: Largest number of sequences a model may have (memory and time stay small).
MAX_SEQUENCES = 2_000_000


def _tree(vocab_size: int, max_len: int) -> _Tree:
    if int(vocab_size) != vocab_size or vocab_size < 2:
        raise ValueError(f"vocab_size must be an integer >= 2 (at least one token plus EOS); got {vocab_size!r}.")
    if int(max_len) != max_len or max_len < 1:
        raise ValueError(f"max_len must be an integer >= 1; got {max_len!r}.")
    vocab_size, max_len = int(vocab_size), int(max_len)
    n = sum((vocab_size - 1) ** depth for depth in range(max_len + 1))
    if n > MAX_SEQUENCES:
        raise ValueError(
            f"vocab_size={vocab_size}, max_len={max_len} gives {n} sequences, more than {MAX_SEQUENCES}; "
            "choose a smaller vocabulary or length (the point is to enumerate them)."
        )
    key = (vocab_size, max_len)
    if key not in _TREES:
        _TREES[key] = _build_tree(vocab_size, max_len)
    return _TREES[key]


class EnumerableLM:
    r"""An autoregressive table ``π(v|h)`` over every prefix ``h``, with its exact sequence law.

    Use :func:`random_lm` to build one, :meth:`tilt` and :meth:`best_of_n` to derive
    aligned policies from it.

    Parameters
    ----------
    next_logprobs : array_like, shape (P, V)
        ``log π(v|h)`` for each prefix index ``h`` (prefixes ordered by length, then as
        base-``(V−1)`` numbers) and token ``v``; each row normalised (``logsumexp = 0``).
    max_len : int
        ``L``, the largest number of tokens in a sequence (EOS included).
    """

    def __init__(self, next_logprobs: ArrayLike, max_len: int) -> None:
        table = np.asarray(next_logprobs, dtype=np.float64)
        if table.ndim != 2:
            raise ValueError(f"next_logprobs must have shape (n_prefixes, vocab_size); got {table.shape}.")
        tree = _tree(table.shape[1], max_len)
        if table.shape[0] != tree.n_prefixes:
            raise ValueError(
                f"next_logprobs has {table.shape[0]} rows but vocab_size={table.shape[1]}, max_len={max_len} "
                f"has {tree.n_prefixes} prefixes."
            )
        if np.isnan(table).any() or (table > 1e-12).any():
            raise ValueError("next_logprobs must be log-probabilities (no NaN, none above 0).")
        if not np.allclose(logsumexp(table, axis=1), 0.0, atol=1e-8):
            raise ValueError("each row of next_logprobs must be normalised: apply scipy.special.log_softmax.")
        self._tree = tree
        self.next_logprobs: NDArray[np.float64] = np.minimum(table, 0.0)

    # ------------------------------------------------------------------ shape
    @property
    def vocab_size(self) -> int:
        """``V`` (EOS included)."""
        return self._tree.vocab_size

    @property
    def eos(self) -> int:
        """The end-of-sequence token id, ``V − 1``."""
        return self._tree.vocab_size - 1

    @property
    def max_len(self) -> int:
        """``L``."""
        return self._tree.max_len

    @property
    def n_sequences(self) -> int:
        """``S``, the number of complete sequences."""
        return self._tree.n_sequences

    @property
    def tokens(self) -> NDArray[np.int64]:
        """All sequences, shape ``(S, L)``, padded with :data:`PAD`."""
        return self._tree.tokens

    @property
    def lengths(self) -> NDArray[np.int64]:
        """Sequence lengths ``(S,)`` (EOS counted)."""
        return self._tree.lengths

    def sequence(self, index: int) -> tuple[int, ...]:
        """The tokens of sequence ``index`` as a tuple."""
        return tuple(int(t) for t in self.tokens[index, : self.lengths[index]])

    # ------------------------------------------------------------------ sequence law
    @cached_property
    def log_probs(self) -> NDArray[np.float64]:
        r"""``log π(y) = Σ_t log π(y_t|y_{<t})`` for every sequence, shape ``(S,)``."""
        return lmkl.masked_sum(self.token_logprobs(np.arange(self.n_sequences)), self.mask(np.arange(self.n_sequences)))

    @property
    def probs(self) -> NDArray[np.float64]:
        """``π(y)`` for every sequence, shape ``(S,)``; sums to one."""
        return np.exp(self.log_probs)

    def mask(self, index: ArrayLike) -> NDArray[np.bool_]:
        """Real-token mask of the given sequences, shape ``(n, L)``, built from their lengths."""
        idx = self._index(index)
        return lmkl.mask_from_lengths(self.lengths[idx], self.max_len)

    def token_logprobs(self, index: ArrayLike) -> NDArray[np.float64]:
        r"""``log π(y_t|y_{<t})`` along the given sequences, shape ``(n, L)`` (0 at pads)."""
        idx = self._index(index)
        toks = self.tokens[idx]
        vals = self.next_logprobs[self._tree.seq_prefix[idx], np.where(toks == PAD, 0, toks)]
        return np.where(toks == PAD, 0.0, vals)

    def full_logprobs(self, index: ArrayLike) -> NDArray[np.float64]:
        r"""``log π(·|y_{<t})`` over the vocabulary along the given sequences, shape ``(n, L, V)``.

        Padded positions hold the first prefix's row; mask them with :meth:`mask`.
        """
        idx = self._index(index)
        return self.next_logprobs[self._tree.seq_prefix[idx]]

    def _index(self, index: ArrayLike) -> NDArray[np.int64]:
        idx = np.asarray(index)
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError("sequence indices must be a 1-D integer array.")
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_sequences):
            raise ValueError(f"sequence indices must lie in [0, {self.n_sequences}).")
        return idx

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, rng: np.random.Generator) -> NDArray[np.int64]:
        r"""Draw ``n`` sequences token by token from ``π(·|h)``; returns their indices ``(n,)``.

        Exact ancestral sampling (inverse CDF per step with ``rng``), the way a language
        model generates; the law of the returned indices is :attr:`probs`.
        """
        if not isinstance(rng, np.random.Generator):
            raise TypeError("rng must be a numpy Generator, e.g. np.random.default_rng(0).")
        if int(n) != n or n < 1:
            raise ValueError(f"n must be a positive integer; got {n!r}.")
        tree = self._tree
        prefix = np.zeros(int(n), dtype=np.int64)
        out = np.full(int(n), -1, dtype=np.int64)
        active = np.ones(int(n), dtype=bool)
        probs = np.exp(self.next_logprobs)
        cdf = np.cumsum(probs, axis=1)
        cdf[:, -1] = np.inf  # rounding can never push u past the last token
        for _ in range(self.max_len):
            rows = np.flatnonzero(active)
            if rows.size == 0:
                break
            u = rng.random(rows.size)
            tok = (u[:, None] >= cdf[prefix[rows]]).sum(axis=1)
            seq = tree.child_seq[prefix[rows], tok]
            done = seq >= 0
            out[rows[done]] = seq[done]
            active[rows[done]] = False
            prefix[rows[~done]] = tree.child_prefix[prefix[rows[~done]], tok[~done]]
        return out

    # ------------------------------------------------------------------ derived policies
    @classmethod
    def from_sequence_logprobs(cls, log_probs: ArrayLike, like: EnumerableLM) -> EnumerableLM:
        r"""The autoregressive table of an arbitrary sequence law over ``like``'s sequences.

        ``π(v|h) = M(h v)/M(h)`` with ``M(h) = Σ_{y ⊒ h} π(y)`` the mass of the sequences
        that start with ``h``, computed bottom-up in log space. Prefixes of mass zero get
        ``like``'s conditionals (they are never visited, so no expectation depends on them).
        """
        tree = like._tree
        lp = np.asarray(log_probs, dtype=np.float64)
        if lp.shape != (tree.n_sequences,):
            raise ValueError(f"log_probs must have shape ({tree.n_sequences},); got {lp.shape}.")
        if np.isnan(lp).any() or (lp > 1e-12).any() or abs(logsumexp(lp)) > 1e-8:
            raise ValueError("log_probs must be a normalised sequence law in log space (logsumexp = 0).")
        log_mass = np.full(tree.n_prefixes, -np.inf)
        table = np.empty((tree.n_prefixes, tree.vocab_size))
        for depth in range(tree.max_len - 1, -1, -1):
            rows = np.arange(tree.prefix_offset[depth], tree.prefix_offset[depth + 1])
            cs, cp = tree.child_seq[rows], tree.child_prefix[rows]
            child = np.where(cs >= 0, lp[np.maximum(cs, 0)], log_mass[np.maximum(cp, 0)])
            m = logsumexp(child, axis=1)
            log_mass[rows] = m
            ok = np.isfinite(m)
            with np.errstate(invalid="ignore"):
                table[rows] = np.where(ok[:, None], child - m[:, None], like.next_logprobs[rows])
        return cls(table, tree.max_len)

    def tilt(self, rewards: ArrayLike, beta: float) -> EnumerableLM:
        r"""The exact optimal policy ``π_β(y) ∝ π(y) e^{r(y)/β}`` as an autoregressive table."""
        r = _rewards(self, rewards)
        return EnumerableLM.from_sequence_logprobs(tilting.log_tilt(self.probs, r, float(beta)), self)

    def best_of_n(self, rewards: ArrayLike, n: int) -> EnumerableLM:
        r"""The exact best-of-N policy (ties split in proportion to ``π``, :func:`alignlimits.bon.law`)."""
        r = _rewards(self, rewards)
        return EnumerableLM.from_sequence_logprobs(bon.log_law(self.probs, r, int(n)), self)


def _rewards(lm: EnumerableLM, rewards: ArrayLike) -> NDArray[np.float64]:
    r = as_finite_array(rewards, "rewards")
    if r.shape != (lm.n_sequences,):
        raise ValueError(f"rewards must have one value per sequence, shape ({lm.n_sequences},); got {r.shape}.")
    return r


def random_lm(
    vocab_size: int = 4,
    max_len: int = 5,
    *,
    seed: int,
    scale: float = 1.0,
    eos_bias: float = 0.0,
) -> EnumerableLM:
    r"""A random autoregressive table: ``π(·|h) = softmax(z_h)``, ``z_h ∼ N(0, scale²)`` i.i.d.

    ``eos_bias`` is added to the EOS logit of every prefix (positive: shorter sequences).
    The same ``seed`` gives the same model.
    """
    tree = _tree(vocab_size, max_len)
    if not (np.isfinite(scale) and scale >= 0) or not np.isfinite(eos_bias):
        raise ValueError(f"scale must be finite and >= 0 and eos_bias finite; got {scale!r}, {eos_bias!r}.")
    rng = np.random.default_rng(seed)
    logits = scale * rng.standard_normal((tree.n_prefixes, tree.vocab_size))
    logits[:, -1] += eos_bias
    return EnumerableLM(log_softmax(logits, axis=1), max_len)


def count_reward(lm: EnumerableLM, token: int) -> NDArray[np.float64]:
    """``r(y)`` = number of occurrences of ``token`` in ``y``: integer rewards with many ties, shape ``(S,)``."""
    if not 0 <= token < lm.vocab_size:
        raise ValueError(f"token must be in [0, {lm.vocab_size}); got {token}.")
    return (lm.tokens == token).sum(axis=1).astype(np.float64)


def random_reward(lm: EnumerableLM, rng: np.random.Generator) -> NDArray[np.float64]:
    """Independent standard normal rewards per sequence (no ties), shape ``(S,)``."""
    return rng.standard_normal(lm.n_sequences)


def sequence_kl(policy: EnumerableLM, reference: EnumerableLM) -> float:
    r"""Exact ``KL(π‖π_ref) = Σ_y π(y) log π(y)/π_ref(y)`` over all sequences."""
    _same_space(policy, reference)
    return float(kl_from_logprobs(policy.log_probs, reference.log_probs))


def per_position_kl(policy: EnumerableLM, reference: EnumerableLM, index: ArrayLike) -> NDArray[np.float64]:
    r"""``Σ_t KL(π(·|y_{<t}) ‖ π_ref(·|y_{<t}))`` along each given sequence, shape ``(n,)``.

    Its expectation under ``y ∼ π`` is :func:`sequence_kl` (chain rule).
    """
    _same_space(policy, reference)
    return lmkl.per_position_kl(policy.full_logprobs(index), reference.full_logprobs(index), policy.mask(index))


def kl_estimates(policy: EnumerableLM, reference: EnumerableLM, index: ArrayLike) -> dict[str, lmkl.KLEstimate]:
    """Every estimator of :func:`alignlimits.lm.kl.sequence_kl` on sequences ``index`` sampled from ``policy``."""
    _same_space(policy, reference)
    mask = policy.mask(index)
    per_token = lmkl.per_token_kl(policy.full_logprobs(index), reference.full_logprobs(index))
    return lmkl.sequence_kl(
        policy.token_logprobs(index), reference.token_logprobs(index), mask, exact_per_token=per_token
    )


def _same_space(a: EnumerableLM, b: EnumerableLM) -> None:
    if (a.vocab_size, a.max_len) != (b.vocab_size, b.max_len):
        raise ValueError(
            f"policy and reference live on different sequence spaces: (V, L) = {(a.vocab_size, a.max_len)} "
            f"vs {(b.vocab_size, b.max_len)}."
        )
