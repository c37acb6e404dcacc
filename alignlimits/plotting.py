"""One plotting style for the whole book, and the figures every part reuses.

Call :func:`apply_style` once per chapter (it only updates ``matplotlib.rcParams``);
the helpers draw on an ``Axes`` you pass in and return what they drew.
"""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from numpy.typing import ArrayLike

#: Colours by role, so a method has the same colour in every chapter (Okabe–Ito, colour-blind safe).
COLORS = {
    "frontier": "#000000",
    "sqrt_kl": "#999999",
    "best_of_n": "#0072B2",
    "ppo": "#D55E00",
    "grpo": "#009E73",
    "proxy": "#CC79A7",
    "random": "#56B4E9",
    "optimizer": "#E69F00",
    "estimate": "#0072B2",
}

STYLE: dict[str, Any] = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 2.0,
    "axes.prop_cycle": mpl.cycler(color=list(COLORS.values())[1:]),
}


def apply_style() -> None:
    """Set the book's matplotlib style (idempotent)."""
    mpl.rcParams.update(STYLE)


def label_kl_reward(ax: Axes, *, reward: str = "reward gain $\\Delta$") -> Axes:
    """Label ``ax`` as a KL–reward plane: x is ``KL(π‖π0)`` in nats."""
    ax.set_xlabel(r"$\mathrm{KL}(\pi\,\|\,\pi_0)$ (nats)")
    ax.set_ylabel(reward)
    ax.set_xlim(left=0)
    return ax


def plot_frontier(
    ax: Axes,
    kl: ArrayLike,
    gain: ArrayLike,
    *,
    label: str = r"optimal frontier $\pi_\beta$",
    **kwargs: Any,
) -> Line2D:
    """Draw a KL–gain curve sorted by KL (the frontier by default: black, solid)."""
    kl_arr = np.asarray(kl, dtype=float)
    gain_arr = np.asarray(gain, dtype=float)
    order = np.argsort(kl_arr)
    kwargs.setdefault("color", COLORS["frontier"])
    (line,) = ax.plot(kl_arr[order], gain_arr[order], label=label, **kwargs)
    label_kl_reward(ax)
    return line
