r"""Interactive explorers for Colab/Jupyter, with a static small-multiples fallback.

Two pictures are easier to move than to read:

* :func:`frontier_explorer` — the Gibbs tilt ``π_β ∝ π0 e^{r/β}`` as ``β`` moves: its
  point on the KL–gain frontier and its distribution beside ``π0``;
* :func:`best_of_n_explorer` — best-of-N as ``N`` grows: its point below the frontier
  and its law ``π_N`` beside ``π0``.

Each draws a slider (``ipywidgets``) when the code runs in Colab or in a notebook opened
from a Jupyter server (JupyterLab, Notebook 7), and otherwise — in the HTML book build
and nbval (kernels started by nbclient with no frontend), in a script, or when ipywidgets
is not installed — one static figure with a column per slider value (small multiples),
so a reader of the HTML sees the same story. ``ALIGNLIMITS_STATIC_FIGURES=1`` forces the
static figure, ``=0`` the slider (e.g. in an editor's notebook view). Everything drawn
is computed by :mod:`alignlimits.tilting` and :mod:`alignlimits.bon`; ipywidgets is
imported only when a slider is drawn.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike, NDArray

from alignlimits import bon, plotting, tilting
from alignlimits._validation import as_betas, as_discrete_problem
from alignlimits.progress import has_frontend, in_kernel

__all__ = ["best_of_n_explorer", "explore", "frontier_explorer", "is_interactive"]

STATIC_ENV = "ALIGNLIMITS_STATIC_FIGURES"


def is_interactive() -> bool:
    """True when a slider can work: an IPython kernel with a live frontend and ipywidgets.

    The frontend is recognised by Colab's module or by ``JPY_SESSION_NAME``, which a
    Jupyter server sets for the kernels it starts; kernels started by nbclient (the book
    build, nbval) have neither. ``ALIGNLIMITS_STATIC_FIGURES`` = ``1`` / ``0`` overrides.
    """
    forced = os.environ.get(STATIC_ENV, "")
    if forced not in ("", "0", "1"):
        raise ValueError(f"{STATIC_ENV} must be 1 (static figures), 0 (sliders) or unset, got {forced!r}")
    if forced == "1":
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return in_kernel() and (forced == "0" or has_frontend())


def explore(
    draw: Callable[[Any, Sequence[Axes]], None],
    values: Sequence[Any],
    *,
    label: str,
    rows: int = 2,
    interactive: bool | None = None,
    static_count: int = 4,
) -> Figure | Any:
    """Show ``draw(value, axes)`` for ``value`` in ``values``: a slider, or small multiples.

    ``draw`` fills ``rows`` axes for one value. Interactive: an ``ipywidgets`` selection
    slider over ``values`` labelled ``label``, the axes stacked (returns the widget).
    Static: a figure as wide as the book's text column with one row per value, for
    ``static_count`` values spread evenly over ``values``, and that value's ``rows``
    axes side by side (returns the figure, already closed: it is displayed once, as the
    cell's value, in a notebook; shared y-limits per column).
    """
    values = list(values)
    if not values:
        raise ValueError("explore needs at least one value to show; pass a non-empty sequence")
    if static_count < 1:
        raise ValueError(f"static_count must be a positive integer, got {static_count}")
    if interactive is None:
        interactive = is_interactive()
    if interactive:
        import ipywidgets

        def update(value: Any) -> None:
            fig, axes = plt.subplots(rows, 1, figsize=(6.4, 3.0 * rows), squeeze=False)
            draw(value, list(axes[:, 0]))
            fig.tight_layout()
            plt.show()

        slider = ipywidgets.SelectionSlider(options=values, value=values[len(values) // 2], description=label)
        return ipywidgets.interactive(update, value=slider)

    picks = sorted(set(np.linspace(0, len(values) - 1, min(static_count, len(values))).round().astype(int)))
    # One row per value, so that every panel keeps half the column's width and its text
    # stays readable in the book (a row of four value-columns shrank it to 6 px).
    fig, axes = plotting.subplots(len(picks), rows, height=2.4 * len(picks), squeeze=False)
    for row, i in enumerate(picks):
        draw(values[i], list(axes[row, :]))
    for column in axes.T:
        lows, highs = zip(*(ax.get_ylim() for ax in column), strict=True)
        for ax in column:
            ax.set_ylim(min(lows), max(highs))
    # Closed, so that a notebook shows it once (as the returned value), not a second time
    # when the inline backend flushes open figures at the end of the cell.
    plt.close(fig)
    return fig


def _show(x: float) -> str:
    return f"{round(float(x), 3) + 0.0:.3f}"  # + 0.0 turns a rounded -0.0 into 0.0


def _bars(ax: Axes, p0: NDArray, policy: NDArray, r: NDArray, name: str, color: str) -> None:
    order = np.argsort(r, kind="stable")  # sorted by reward, so mass visibly moves right
    x = np.arange(len(r))
    ax.bar(x - 0.2, p0[order], width=0.4, color=plotting.COLORS["random"], label=r"$\pi_0$")
    ax.bar(x + 0.2, policy[order], width=0.4, color=color, label=name)
    ax.set_xticks(x, [f"{v:.2g}" for v in r[order]], fontsize=8, rotation=90 if len(r) > 6 else 0)
    ax.set_xlabel("responses, sorted by reward $r$")
    ax.set_ylabel("probability")
    ax.legend(loc="upper left")


def frontier_explorer(
    base_probs: ArrayLike,
    rewards: ArrayLike,
    betas: ArrayLike | None = None,
    *,
    interactive: bool | None = None,
) -> Figure | Any:
    """The tilt ``π_β`` as ``β`` moves: its point on the frontier (top) and ``π_β`` vs ``π0`` (bottom).

    ``betas`` (default 13 values log-spaced over [0.1, 30]) are the slider's stops.
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    stops = np.atleast_1d(as_betas(np.geomspace(0.1, 30.0, 13) if betas is None else betas))
    curve = tilting.frontier(p0, r, np.geomspace(stops.min() / 10, stops.max() * 10, 200))
    points = tilting.frontier(p0, r, stops)

    def draw(beta: float, axes: Sequence[Axes]) -> None:
        i = int(np.flatnonzero(stops == beta)[0])
        plotting.plot_frontier(axes[0], curve.kl, curve.gain)
        axes[0].plot(points.kl[i], points.gain[i], "o", color=plotting.COLORS["optimizer"], label=r"$\pi_\beta$")
        axes[0].set_title(f"β = {beta:.3g}: KL {_show(points.kl[i])}, gain {_show(points.gain[i])}")
        _bars(axes[1], p0, tilting.tilt(p0, r, beta), r, r"$\pi_\beta$", plotting.COLORS["optimizer"])

    return explore(draw, [float(b) for b in stops], label="β", interactive=interactive)


def best_of_n_explorer(
    base_probs: ArrayLike,
    rewards: ArrayLike,
    ns: ArrayLike | None = None,
    *,
    interactive: bool | None = None,
) -> Figure | Any:
    """Best-of-N as ``N`` grows: its point below the frontier (top) and ``π_N`` vs ``π0`` (bottom).

    ``ns`` (default 1, 2, 4, …, 256) are the slider's stops.
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    stops = np.atleast_1d(np.asarray(2 ** np.arange(9) if ns is None else ns))
    points = bon.curve(p0, r, stops)
    front = tilting.frontier(p0, r, np.geomspace(1e-3, 1e3, 300))

    def draw(n: int, axes: Sequence[Axes]) -> None:
        i = int(np.flatnonzero(points.n == n)[0])
        plotting.plot_frontier(axes[0], front.kl, front.gain)
        axes[0].plot(points.kl[: i + 1], points.gain[: i + 1], "o-", color=plotting.COLORS["best_of_n"],
                     label="best-of-N", lw=1)
        axes[0].set_xlim(0, max(points.kl.max(), 1e-3) * 1.1)
        axes[0].set_title(f"N = {n}: KL {_show(points.kl[i])}, gain {_show(points.gain[i])}")
        _bars(axes[1], p0, bon.law(p0, r, n), r, r"$\pi_N$", plotting.COLORS["best_of_n"])

    return explore(draw, [int(n) for n in points.n], label="N", interactive=interactive)
