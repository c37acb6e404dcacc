r"""Summarization task: document → one-line summary, a ROUGE-L reward and an embedding judge.

**Pairs.** Human-written (document, one-line summary) pairs from PEP 257 docstrings of
installed modules (:func:`alignlimits.tasks.data.docstring_pairs`): the body of a
docstring is the document, its first line the reference summary. The model is asked
in chat mode to summarize the document in one sentence (:func:`instruction`).

**Reward** (what an optimiser sees), in ``[0, 1]``:

.. math::  r(y) = \mathrm{ROUGE\text{-}L}_{F_1}(y, y^\star)\; \ell(y),\qquad
           \ell(y) = \min\bigl(1,\ (L_\mathrm{max}/|y|)^{2}\bigr)

with ``y*`` the reference summary, ``|y|`` the number of words of ``y`` and
``L_max = 2|y*| + 5``: ROUGE-L (longest common subsequence of stemmed words, the
``rouge-score`` package) rewards word overlap; the length penalty stops a completion from
collecting overlap by being long. ROUGE-L ties often (many completions share no
subsequence with a short reference), so the reward is discrete-ish: use the tie-aware
best-of-N law.

**Judge** (held out), in ``[-1, 1]``: cosine similarity between the MiniLM embeddings of
``y`` and ``y*`` times the same kind of length penalty with a looser ``L_max = 3|y*| + 10``
— meaning, not word overlap. The empty completion scores 0 under both.

:data:`TASK` is this task behind the :class:`~alignlimits.tasks.base.Task` protocol.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from alignlimits.tasks import data, embeddings
from alignlimits.tasks.base import TaskInputs

__all__ = ["TASK", "SummarizationTask", "instruction", "judge", "length_penalty", "reward", "rouge_l"]

def instruction(document: str) -> str:
    """The user turn asking for a one-sentence summary of ``document``."""
    return f"Summarize the following text in one short sentence.\n\n{document}"


def _pair(texts: Sequence[str], references: Sequence[str]) -> tuple[list[str], list[str]]:
    if isinstance(texts, str) or isinstance(references, str):
        raise TypeError("pass lists of texts and references, not single strings (wrap them: [text]).")
    texts, references = [str(t) for t in texts], [str(r) for r in references]
    if len(texts) != len(references):
        raise ValueError(f"texts and references must have the same length; got {len(texts)} and {len(references)}.")
    if any(not r.strip() for r in references):
        raise ValueError("a reference summary is empty; every pair needs a non-empty reference.")
    return texts, references


def length_penalty(texts: Sequence[str], max_words: ArrayLike) -> NDArray[np.float64]:
    r"""``min(1, (L_max/|y|)²)`` per text (1 for the empty text); ``max_words`` per text."""
    words = np.array([len(str(t).split()) for t in texts], dtype=np.float64)
    limit = np.asarray(max_words, dtype=np.float64)
    with np.errstate(divide="ignore"):
        ratio = np.where(words > 0, limit / np.maximum(words, 1.0), np.inf)
    return np.minimum(1.0, ratio**2)


@functools.lru_cache(maxsize=1)
def _scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(texts: Sequence[str], references: Sequence[str]) -> NDArray[np.float64]:
    """ROUGE-L F1 of each text against its reference (stemmed words), shape ``(n,)``."""
    texts, references = _pair(texts, references)
    scorer = _scorer()
    return np.array([scorer.score(r, t)["rougeL"].fmeasure for t, r in zip(texts, references, strict=True)])


def _ref_words(references: list[str]) -> NDArray[np.float64]:
    return np.array([len(r.split()) for r in references], dtype=np.float64)


def reward(texts: Sequence[str], references: Sequence[str]) -> NDArray[np.float64]:
    """ROUGE-L F1 × length penalty with ``L_max = 2|y*| + 5``, shape ``(n,)``, in ``[0, 1]``."""
    texts, references = _pair(texts, references)
    return rouge_l(texts, references) * length_penalty(texts, 2 * _ref_words(references) + 5)


def judge(texts: Sequence[str], references: Sequence[str]) -> NDArray[np.float64]:
    """Embedding cosine × length penalty with ``L_max = 3|y*| + 10``, shape ``(n,)``; 0 for empty text."""
    texts, references = _pair(texts, references)
    sims = embeddings.embedder().similarity(texts, references)
    sims = np.where([t.strip() == "" for t in texts], 0.0, sims)
    return sims * length_penalty(texts, 3 * _ref_words(references) + 10)


class SummarizationTask:
    """The summarization task behind the :class:`~alignlimits.tasks.base.Task` protocol.

    Prompts are :func:`instruction` applied to the documents of
    :func:`alignlimits.tasks.data.docstring_pairs` (in its fixed order); the reference is
    each document's own summary line.
    """

    name = "summarization"
    scoring_version = 2  # the version both tasks moved to together (see alignlimits.tasks.safety)
    max_new_tokens = 32  # a one-line summary with room to spare

    def inputs(self, n_prompts: int, *, max_document_words: int | None = None) -> TaskInputs:
        """The first ``n_prompts`` documents, each cut to ``max_document_words`` words when given."""
        pairs = data.docstring_pairs()
        if not 1 <= n_prompts <= len(pairs):
            raise ValueError(f"n_prompts must lie in 1..{len(pairs)} (the docstring pairs available); got {n_prompts}.")
        pairs = pairs[:n_prompts]
        docs = [" ".join(p.document.split()[:max_document_words]) if max_document_words else p.document for p in pairs]
        return TaskInputs([p.source for p in pairs], [instruction(d) for d in docs], [p.summary for p in pairs])

    def reward(self, requests: Sequence[str], references: Sequence[str], texts: Sequence[str]) -> NDArray[np.float64]:
        """:func:`reward` of ``texts`` against ``references`` (requests are not used)."""
        return reward(texts, references)

    def judge(self, requests: Sequence[str], references: Sequence[str], texts: Sequence[str]) -> NDArray[np.float64]:
        """:func:`judge` of ``texts`` against ``references``."""
        return judge(texts, references)


#: The summarization task (registered as ``"summarization"`` in :func:`alignlimits.tasks.get_task`).
TASK = SummarizationTask()
