"""What a language-model task is: prompts, a reward to optimise and a held-out judge.

Everything above the tasks (the frontier experiment, RL runs, the chapters) sees a task
only through :class:`Task`, looked up by name with :func:`alignlimits.tasks.get_task`:
adding a task is writing one class and registering it, never a new ``if task == ...``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

__all__ = ["Task", "TaskInputs"]


@dataclass(frozen=True)
class TaskInputs:
    """The first prompts of a task, in the task's fixed order.

    Attributes
    ----------
    prompt_ids : stable ids (stored in results; no third-party text is).
    requests : what the user asks, the content of the chat turn.
    references : reference answers (summaries), ``""`` where a task has none.
    """

    prompt_ids: list[str]
    requests: list[str]
    references: list[str]

    def __post_init__(self) -> None:
        if not len(self.prompt_ids) == len(self.requests) == len(self.references):
            raise ValueError(
                f"prompt_ids, requests and references must have one entry per prompt; got "
                f"{len(self.prompt_ids)}, {len(self.requests)} and {len(self.references)}."
            )

    def __len__(self) -> int:
        return len(self.prompt_ids)


@runtime_checkable
class Task(Protocol):
    """A task of the language-model lab.

    Attributes
    ----------
    name : the registry name (``"safety"``, ``"summarization"``).
    scoring_version : version of the reward and judge definitions; part of every
        experiment config, so results scored by an older definition are never mixed in.
    max_new_tokens : the completion length the experiments give this task.
    """

    name: str
    scoring_version: int
    max_new_tokens: int

    def inputs(self, n_prompts: int, *, max_document_words: int | None = None) -> TaskInputs:
        """The first ``n_prompts`` prompts (documents cut to ``max_document_words`` words where a task has them)."""
        ...

    def reward(self, requests: Sequence[str], references: Sequence[str], texts: Sequence[str]) -> NDArray[np.float64]:
        """The reward an optimiser sees, one float64 per completion in ``texts``."""
        ...

    def judge(self, requests: Sequence[str], references: Sequence[str], texts: Sequence[str]) -> NDArray[np.float64]:
        """The held-out judge (never optimised), one float64 per completion in ``texts``."""
        ...
