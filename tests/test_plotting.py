import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

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
