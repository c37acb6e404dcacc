"""Progress bars where someone watches them, and no library chatter in the book.

A progress bar helps in a terminal and in a live notebook. In a notebook executed with
no frontend — the book build, nbval, papermill — nobody watches it, and every bar is
stored in the cell's output between the printed lines, splitting one result into
several boxes on the page. So:

* :func:`tqdm` is ``tqdm.auto.tqdm`` whose ``disable`` defaults to ``not show_progress()``;
* :func:`show_progress` is False only in an IPython kernel with no frontend (the same
  test as :func:`alignlimits.widgets.is_interactive`); ``ALIGNLIMITS_PROGRESS=1`` / ``=0``
  forces bars on / off;
* :func:`quiet_hugging_face`, called when :mod:`alignlimits.lm` or
  :mod:`alignlimits.tasks` is imported, turns off the Hugging Face libraries' own bars
  ("Loading weights") where :func:`show_progress` is False, and drops one warning that
  is false for this package's sampling (see :class:`PaddedCompletionFilter`).

Terminal users keep every bar.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

__all__ = [
    "ENV_VAR",
    "PaddedCompletionFilter",
    "has_frontend",
    "in_kernel",
    "quiet_hugging_face",
    "show_progress",
    "tqdm",
]

#: Environment variable forcing progress bars on (``1``) or off (``0``).
ENV_VAR = "ALIGNLIMITS_PROGRESS"


def has_frontend() -> bool:
    """True when the code runs in Colab or in a kernel started by a Jupyter server.

    The frontend is recognised by Colab's module or by ``JPY_SESSION_NAME``, which a
    Jupyter server sets for the kernels it starts; kernels started by nbclient (the book
    build, nbval) have neither.
    """
    return "google.colab" in sys.modules or "JPY_SESSION_NAME" in os.environ


def in_kernel() -> bool:
    """True inside an IPython kernel (a notebook), False in a terminal, a script or pytest.

    Examples
    --------
    >>> in_kernel()  # a doctest runs in no kernel
    False
    """
    if "IPython" not in sys.modules:  # a kernel has imported it already: no import cost here
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def show_progress() -> bool:
    """Whether progress bars are worth drawing here: not in a notebook that nobody watches.

    Raises
    ------
    ValueError
        If ``ALIGNLIMITS_PROGRESS`` is set to anything but ``0`` or ``1``.

    Examples
    --------
    >>> import os
    >>> from alignlimits.progress import show_progress
    >>> show_progress()  # a doctest is not a notebook
    True
    >>> os.environ["ALIGNLIMITS_PROGRESS"] = "0"
    >>> show_progress()
    False
    >>> os.environ["ALIGNLIMITS_PROGRESS"] = "yes"
    >>> show_progress()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ALIGNLIMITS_PROGRESS must be 1 (bars), 0 (no bars) or unset, got 'yes'
    >>> del os.environ["ALIGNLIMITS_PROGRESS"]
    """
    forced = os.environ.get(ENV_VAR, "")
    if forced not in ("", "0", "1"):
        raise ValueError(f"{ENV_VAR} must be 1 (bars), 0 (no bars) or unset, got {forced!r}")
    if forced:
        return forced == "1"
    return not in_kernel() or has_frontend()


def tqdm(*args: Any, **kwargs: Any) -> Any:
    """``tqdm.auto.tqdm(*args, **kwargs)``, disabled by default where :func:`show_progress` is False."""
    from tqdm.auto import tqdm as auto_tqdm

    kwargs.setdefault("disable", not show_progress())
    return auto_tqdm(*args, **kwargs)


class PaddedCompletionFilter(logging.Filter):
    """Drop transformers' "passing in an ``attention_mask``" warning.

    :func:`alignlimits.lm.sampling.sample` passes the prompts' attention mask to
    ``generate``. Once a row has emitted EOS, ``generate`` feeds it the padding token;
    transformers then calls the model's decoding step without a mask (it drops the mask
    of unpadded prompts) and some architectures (GPT-2) warn on seeing the padding
    token. The tokens after EOS are discarded by their length mask, so the warning is
    false here — and it lands on the book's pages as a red box.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "We strongly recommend passing in an `attention_mask`" not in record.getMessage()


_FILTER = PaddedCompletionFilter()


def quiet_hugging_face() -> None:
    """Install :class:`PaddedCompletionFilter`; in a notebook nobody watches, turn off HF bars.

    Idempotent and cheap: it imports neither transformers nor huggingface_hub. The bars go
    through ``HF_HUB_DISABLE_PROGRESS_BARS`` (read when those libraries are imported; an
    existing value is kept) and, for libraries already imported, their own switches.
    """
    logger = logging.getLogger("transformers.modeling_utils")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    if show_progress():
        return
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
