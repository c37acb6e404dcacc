"""Interactive explorers: slider in a live kernel, small multiples elsewhere, numbers from the core."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from alignlimits import bon, plotting, tilting, widgets

BASE = np.array([0.5, 0.25, 0.15, 0.07, 0.03])
REWARD = np.array([0.0, 1.0, 2.0, 3.0, 5.0])


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_not_interactive_outside_a_kernel_or_when_forced(monkeypatch):
    monkeypatch.delenv(widgets.STATIC_ENV, raising=False)
    assert widgets.is_interactive() is False  # pytest is not a Jupyter kernel
    monkeypatch.setenv(widgets.STATIC_ENV, "0")
    assert widgets.is_interactive() is False  # forcing sliders still needs a kernel
    monkeypatch.setenv(widgets.STATIC_ENV, "yes")
    with pytest.raises(ValueError, match="must be 1"):
        widgets.is_interactive()


def test_notebook_shows_the_static_figure_once_and_colab_gets_a_slider(tmp_path, monkeypatch):
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend, as in the book build
    monkeypatch.delenv(widgets.STATIC_ENV, raising=False)
    import nbformat
    from nbclient import NotebookClient

    setup = "import numpy as np\nfrom alignlimits import widgets\nb, r = np.array([.5, .3, .2]), np.array([0, 1, 2.])\n"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(setup + "widgets.frontier_explorer(b, r)"),  # nbclient: no frontend
        # as under a Jupyter server, which sets JPY_SESSION_NAME for its kernels
        nbformat.v4.new_code_cell("import os\nos.environ['JPY_SESSION_NAME'] = 'x'\nwidgets.frontier_explorer(b, r)"),
    ]
    NotebookClient(nb, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    static, live = ([o.get("data", {}) for o in c.outputs] for c in nb.cells)
    assert len(static) == 1 and "image/png" in static[0]
    assert len(live) == 1 and "application/vnd.jupyter.widget-view+json" in live[0]


def test_frontier_static_small_multiples_show_the_tilt_points():
    betas = np.array([0.2, 0.5, 1.0, 3.0, 10.0])
    fig = widgets.frontier_explorer(BASE, REWARD, betas, interactive=False)
    assert isinstance(fig, Figure)
    axes = np.array(fig.axes).reshape(-1, 2).T  # one row per stop: frontier, then bars
    assert axes.shape == (2, 4)  # four of the five stops, spread evenly, ends included
    assert fig.get_size_inches()[0] <= plotting.COLUMN_WIDTH  # shown unscaled in the book
    shown = [0.2, 0.5, 3.0, 10.0]
    front = tilting.frontier(BASE, REWARD, np.array(shown))
    for col, beta in enumerate(shown):
        point = axes[0, col].lines[-1]
        assert np.allclose(point.get_xdata(), front.kl[col]) and np.allclose(point.get_ydata(), front.gain[col])
        heights = [p.get_height() for p in axes[1, col].patches][len(BASE):]  # second bar series: π_β
        assert np.allclose(heights, tilting.tilt(BASE, REWARD, beta))
        assert f"{beta:.3g}" in axes[0, col].get_title()


def test_best_of_n_static_points_are_the_exact_curve():
    ns = [1, 2, 4, 8]
    fig = widgets.best_of_n_explorer(BASE, REWARD, ns, interactive=False)
    axes = np.array(fig.axes).reshape(-1, 2).T
    exact = bon.curve(BASE, REWARD, ns)
    last = axes[0, -1].lines[-1]
    assert np.allclose(last.get_xdata(), exact.kl) and np.allclose(last.get_ydata(), exact.gain)
    heights = [p.get_height() for p in axes[1, -1].patches][len(BASE):]
    assert np.allclose(heights, bon.law(BASE, REWARD, 8))
    assert np.all(exact.gain <= tilting.max_gain(BASE, REWARD, exact.kl) + 1e-12)  # below the frontier


def test_interactive_returns_a_slider_over_the_values():
    w = widgets.frontier_explorer(BASE, REWARD, [0.5, 1.0, 2.0], interactive=True)
    assert isinstance(w, ipywidgets.interactive)
    slider = w.children[0]
    assert list(slider.options) == [0.5, 1.0, 2.0] and slider.value == 1.0
    w = widgets.best_of_n_explorer(BASE, REWARD, [1, 4, 16], interactive=True)
    assert list(w.children[0].options) == [1, 4, 16]


def test_bad_input_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="non-empty"):
        widgets.explore(lambda v, axes: None, [], label="x", interactive=False)
    with pytest.raises(ValueError):
        widgets.frontier_explorer(BASE, REWARD[:-1])
    with pytest.raises(ValueError):
        widgets.frontier_explorer(BASE, REWARD, [-1.0, 1.0])
    with pytest.raises(ValueError):
        widgets.frontier_explorer(np.array([[0.5, 0.5]]), np.array([[0.0, 1.0]]))
