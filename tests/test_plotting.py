import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from alignlimits import plotting


def test_apply_style_sets_rcparams():
    plotting.apply_style()
    assert matplotlib.rcParams["axes.spines.top"] is False
    assert matplotlib.rcParams["axes.grid"] is True


def test_plot_frontier_sorts_by_kl_and_labels_axes():
    fig, ax = plt.subplots()
    line = plotting.plot_frontier(ax, [0.3, 0.1, 0.2], [3.0, 1.0, 2.0])
    np.testing.assert_array_equal(line.get_xdata(), [0.1, 0.2, 0.3])
    np.testing.assert_array_equal(line.get_ydata(), [1.0, 2.0, 3.0])
    assert "KL" in ax.get_xlabel()
    assert line.get_color() == plotting.COLORS["frontier"]
    plt.close(fig)


def test_subplots_fit_the_column_and_refuse_wider_figures():
    fig, axes = plotting.subplots(2, 2)
    assert tuple(fig.get_size_inches()) == (plotting.COLUMN_WIDTH, 2 * plotting.ROW_HEIGHT)
    assert axes.shape == (2, 2) and fig.get_layout_engine() is not None
    plt.close(fig)
    with pytest.raises(ValueError, match="wider than the text column"):
        plotting.subplots(1, 3, width=12)


def test_legend_below_sits_under_every_panel_with_each_label_once():
    plotting.apply_style()
    fig, (left, right) = plotting.subplots(1, 2)
    left.plot([0, 1], [0, 1], label="frontier")
    right.plot([0, 1], [1, 0], label="best-of-N")
    right.plot([0, 1], [0.5, 0.5], label="frontier")
    legend = plotting.legend_below(fig)
    assert [t.get_text() for t in legend.get_texts()] == ["frontier", "best-of-N"]
    fig.canvas.draw()
    box = legend.get_window_extent()
    assert all(box.y1 <= ax.get_window_extent().y0 for ax in (left, right))  # below the data, not on it
    plt.close(fig)
    fig, _ = plotting.subplots()
    with pytest.raises(ValueError, match="no labelled artists"):
        plotting.legend_below(fig)
    plt.close(fig)


def test_notebook_figures_are_svg_without_a_date(tmp_path, monkeypatch):
    monkeypatch.delenv("MPLBACKEND", raising=False)
    import nbformat
    from nbclient import NotebookClient

    code = (
        "import matplotlib.pyplot as plt\nfrom alignlimits import plotting\n"
        "plotting.apply_style()\nplt.plot([0, 1])\nplt.show()"
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code)]
    NotebookClient(nb, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    data = nb.cells[0].outputs[0]["data"]
    assert "image/svg+xml" in data and "image/png" not in data
    assert "<dc:date>" not in data["image/svg+xml"]  # the same figure gives the same file
