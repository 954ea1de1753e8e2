import numpy as np
import pytest
from matplotlib.figure import Figure

pytest.importorskip("ipywidgets")

from gradbook.plots import plot_loss_curves  # noqa: E402
from gradbook.remedy_widgets import CliffExplorer, ForgetBiasExplorer, ShatteredGradientExplorer  # noqa: E402


def test_cliff_explorer_reacts_to_its_controls():
    explorer = CliffExplorer(iterations=10)
    assert isinstance(explorer.figure, Figure) and set(explorer.paths) == {"plain", "clipped"}
    explorer.controls["clip"].value = 1.0
    assert explorer.paths["clipped"]["step_norm"].max() <= 1.0 * explorer.settings()["learning_rate"] + 1e-12
    with pytest.raises(ValueError, match="clip must be between"):
        CliffExplorer(clip=1000.0)


def test_shattered_explorer_measures_both_networks():
    explorer = ShatteredGradientExplorer(depth=3, width=8)
    assert set(explorer.curves) == {"plain", "residual"} and len(explorer.x) == 256
    explorer.controls["branch_scale"].value = 0.0
    assert -1 <= explorer.correlations["residual"] <= 1
    with pytest.raises(ValueError, match="depth must be at most"):
        ShatteredGradientExplorer(depth=100)


def test_forget_bias_explorer():
    explorer = ForgetBiasExplorer(steps=8, units=4, reference_biases=(1.0,))
    assert list(explorer.curves) == ["SimpleRNN", "GRU", "LSTM, forget bias 1", "LSTM"]
    first = explorer.curves["LSTM"].copy()
    explorer.controls["forget_bias"].value = 5.0
    assert explorer.curves["LSTM"][0] > first[0]
    with pytest.raises(ValueError, match="forget_bias and reference_biases must be"):
        ForgetBiasExplorer(forget_bias=10.0)


def test_plot_loss_curves_skips_non_finite_values():
    ax = plot_loss_curves({"relu": [2.0, np.nan, 1.0]}, chance=2.3)
    assert len(ax.get_lines()) == 2
    with pytest.raises(ValueError, match="at least one"):
        plot_loss_curves({})
