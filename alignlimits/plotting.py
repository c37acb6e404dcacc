"""One plotting style for the whole book, and the figures every part reuses.

Call :func:`apply_style` once per chapter: it updates ``matplotlib.rcParams`` and, in a
notebook, makes figures display as SVG, so they stay sharp at any zoom. Make figures
with :func:`subplots`, which sizes them to the book's text column: a figure no wider
than the column is shown at its natural size, so the font sizes below are the sizes a
reader sees (a 13-inch figure squeezed into the column shrinks its 9-point legend to
about 6 pixels). Put legends that would cover data under the axes with
:func:`legend_below`. The helpers draw on an ``Axes`` you pass in and return what they
drew.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from numpy.typing import ArrayLike

from alignlimits.progress import in_kernel

__all__ = [
    "COLORS",
    "COLUMN_WIDTH",
    "ROW_HEIGHT",
    "SERIES",
    "STYLE",
    "apply_style",
    "label_kl_reward",
    "legend_below",
    "plot_frontier",
    "subplots",
]

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

#: Distinct colours for series without a role (reward laws, error models), in order: the
#: Okabe–Ito palette, colour-blind safe, each colour once. Also matplotlib's colour cycle.
SERIES = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999")

#: Width in inches of a figure that fills the book's text column (about 700 px; an SVG
#: inch is 96 px), so that it is shown unscaled and its fonts at their set sizes.
COLUMN_WIDTH = 7.0

#: Height in inches of one row of panels made by :func:`subplots`.
ROW_HEIGHT = 3.2

#: The rcParams :func:`apply_style` sets. Font sizes are in points at the figure's
#: natural size (1 pt = 4/3 px in the browser): 9-point legends read as 12 px.
STYLE: dict[str, Any] = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 110,
    "figure.facecolor": "white",  # opaque: readable on the theme's dark background too
    "savefig.facecolor": "white",
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "svg.hashsalt": "alignlimits",  # the same SVG from the same figure, build after build
    "font.size": 10,
    "axes.titlesize": 10.5,
    "figure.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 2.0,
    "axes.prop_cycle": mpl.cycler(color=list(SERIES)),
}


def _display_svg() -> bool:
    """Make an IPython kernel display figures as SVG (and PDF, for the book's PDF); False outside one."""
    if not in_kernel():
        return False
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    # SVG for the web pages; PDF too, which the book's PDF (Sphinx's LaTeX builder) embeds as vector
    # graphics (it cannot use SVG, and the HTML build ignores PDF outputs). No creation date in the
    # SVG, so an unchanged figure is byte-for-byte unchanged.
    set_matplotlib_formats("svg", "pdf", metadata={"Date": None})
    return True


def apply_style() -> None:
    """Set the book's matplotlib style, and SVG figures when run in a notebook (idempotent)."""
    mpl.rcParams.update(STYLE)
    _display_svg()


def subplots(
    nrows: int = 1,
    ncols: int = 1,
    *,
    height: float | None = None,
    width: float = COLUMN_WIDTH,
    **kwargs: Any,
) -> tuple[Figure, Any]:
    """``plt.subplots`` sized to the text column, with constrained layout.

    ``height`` defaults to :data:`ROW_HEIGHT` per row; ``width`` to :data:`COLUMN_WIDTH`
    (pass a smaller one for a single small panel). Other keywords go to
    ``plt.subplots``. Returns ``(figure, axes)`` as ``plt.subplots`` does.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from alignlimits.plotting import subplots, COLUMN_WIDTH
    >>> fig, axes = subplots(1, 2)
    >>> fig.get_size_inches().tolist() == [COLUMN_WIDTH, 3.2]
    True
    >>> subplots(1, 2, width=12)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: width=12 inches is wider than the text column (7.0); ...
    """
    if not 0 < width <= COLUMN_WIDTH:
        raise ValueError(
            f"width={width} inches is wider than the text column ({COLUMN_WIDTH}); "
            "a wider figure is shrunk to fit and its text with it — use more rows instead."
        )
    kwargs.setdefault("layout", "constrained")
    height = ROW_HEIGHT * nrows if height is None else height
    return plt.subplots(nrows, ncols, figsize=(width, height), **kwargs)


def legend_below(
    fig: Figure,
    axes: Axes | Sequence[Axes] | None = None,
    *,
    ncols: int | None = None,
    **kwargs: Any,
) -> Legend:
    """One legend for ``fig`` under its axes, outside every panel's data.

    Collects the labelled artists of ``axes`` (default: all of the figure's axes), once
    per label, and places the legend below the panels (the figure needs constrained
    layout, as :func:`subplots` gives it). ``ncols`` defaults to up to three columns.
    """
    if axes is None:
        axes = fig.axes
    elif isinstance(axes, Axes):
        axes = [axes]
    handles: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if not handles:
        raise ValueError("no labelled artists to put in a legend")
    ncols = min(3, len(handles)) if ncols is None else ncols
    return fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=ncols, **kwargs)


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
