"""Chat-mode prompts: a user turn through the model's chat template, as token ids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["chat_prompts"]


def chat_prompts(tokenizer: Any, requests: Sequence[str]) -> list[list[int]]:
    """Token ids of each request as one user turn with the generation prompt (chat mode).

    Tokenizers without a chat template (the tiny GPT-2) get ``"User: …\\nAssistant:"``, so
    every model sees the request in the same role.
    """
    if isinstance(requests, str):
        raise TypeError("pass a list of requests, not a single string (wrap it: [request]).")
    out = []
    for text in requests:
        if getattr(tokenizer, "chat_template", None):
            ids = tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True
            )
            if isinstance(ids, dict) or hasattr(ids, "keys"):  # transformers 5 may return a BatchEncoding
                ids = ids["input_ids"]
            out.append([int(t) for t in ids])
        else:
            out.append(tokenizer(f"User: {text}\nAssistant:")["input_ids"])
    return out
