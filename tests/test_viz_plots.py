"""gradbook.viz.plots: the palette, the shared plots and what they draw (matplotlib's Agg backend, no display)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from gradbook.viz.plots import (ACTIVATION_COLORS, OKABE_ITO, color_for, gate_diagram,  # noqa: E402
                                plot_gradient_heatmap,
                                plot_gradient_lines, plot_layer_norms, plot_layer_norms_with_theory,
                                plot_loss_curves, use_book_style)

HISTORY = pd.DataFrame([[1e-3, 1.0], [2e-3, 0.5], [4e-3, 0.25]], index=pd.Index([0, 5, 10], name="step"),
                       columns=pd.Index(["dense_1", "logits"], name="layer"))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_colours_follow_the_activation_named_first():
    assert color_for("relu + He") == ACTIVATION_COLORS["relu"] == OKABE_ITO["blue"]
    assert color_for("leaky_relu") == ACTIVATION_COLORS["leaky_relu"]  # the longest matching name wins
    assert color_for("Leaky-ReLU, slope 0.2") == ACTIVATION_COLORS["leaky_relu"]
    assert color_for("no activation") is None
    with pytest.raises(TypeError, match="label must be a string; got 3"):
        color_for(3)
    use_book_style()
    assert matplotlib.rcParams["figure.facecolor"] == "white" and matplotlib.rcParams["axes.grid"]


def test_plot_layer_norms_draws_one_line_per_variant_on_a_log_axis():
    ax = plot_layer_norms({"sigmoid": np.logspace(-12, 0, 21), "relu": np.ones(21)}, title="t")
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["sigmoid", "relu"] and ax.get_yscale() == "log"
    assert lines[0].get_xdata().tolist() == list(range(1, 22)) and lines[0].get_color() == OKABE_ITO["vermillion"]


def test_theory_lines_are_dashed_in_the_measured_colour_and_gaps_stay_gaps():
    measured = {"relu": np.array([1.0, np.inf, 0.5])}
    ax = plot_layer_norms_with_theory(measured, {"relu": [1.0, 0.7, 0.5]})
    solid, dashed = ax.get_lines()
    assert np.isnan(solid.get_ydata()[1]) and dashed.get_linestyle() == "--"
    assert dashed.get_color() == solid.get_color()
    assert ax.get_legend_handles_labels()[1] == ["relu"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["relu", "mean-field theory"]
    with pytest.raises(ValueError, match=r"predicted must have only labels of measured, \['relu'\]; got also"):
        plot_layer_norms_with_theory(measured, {"tanh": [1.0]})


def test_plot_loss_curves_skips_non_finite_values_and_marks_chance():
    ax = plot_loss_curves({"relu": [2.0, np.nan, 1.0]}, chance=2.3, log=True)
    curve, chance = ax.get_lines()
    assert np.isnan(curve.get_ydata()[1]) and chance.get_ydata()[0] == 2.3 and ax.get_yscale() == "log"
    assert chance.get_label() == "chance (2.30)"
    with pytest.raises(ValueError, match="curves must hold at least one variant"):
        plot_loss_curves({})


def test_gradient_history_plots():
    fig, (left, right) = plt.subplots(1, 2)
    plot_gradient_heatmap(HISTORY, ax=left)
    image = left.get_images()[0]
    np.testing.assert_allclose(image.get_array(), np.log10(HISTORY.to_numpy().T))  # layers as rows, log10
    assert [t.get_text() for t in left.get_yticklabels()] == ["dense_1", "logits"]
    plot_gradient_lines(HISTORY, ax=right)
    assert [line.get_label() for line in right.get_lines()] == ["dense_1", "logits"]
    assert right.get_lines()[0].get_xdata().tolist() == [0, 5, 10]
    with pytest.raises(ValueError, match="history must hold at least one recorded step"):
        plot_gradient_lines(HISTORY.iloc[:0])
    with pytest.raises(TypeError, match="history must be a pandas.DataFrame"):
        plot_gradient_heatmap(HISTORY.to_numpy())


def test_gate_diagram_draws_each_cell_with_its_direct_path_and_checks_its_arguments():
    fig, (left, right) = plt.subplots(1, 2)
    assert gate_diagram("lstm", ax=left) is left and left.get_title() == "LSTM (Keras)"
    texts = {t.get_text() for t in left.texts}
    assert {"$f_t$", "$i_t$", "$o_t$", r"$\tilde c_t$", "$c_{t-1}$", "$c_t$", "$h_t$"} <= texts
    assert gate_diagram("gru", ax=right).get_title() == "GRU (Keras, reset_after=True)"
    assert {"$z_t$", "$r_t$", r"$\tilde h_t$", "$h_{t-1}$", "$h_t$"} <= {t.get_text() for t in right.texts}
    for ax in (left, right):  # the direct path is drawn thick and blue
        blue = matplotlib.colors.to_rgba(OKABE_ITO["blue"])
        assert sum(p.get_linewidth() == 3.0 and p.get_edgecolor() == blue for p in ax.patches) == 3, ax.patches
        assert not ax.axison
    assert gate_diagram("gru").figure is not fig  # without ax: a new figure
    with pytest.raises(ValueError, match="cell must be one of"):
        gate_diagram("rnn")
    with pytest.raises(TypeError, match="cell"):
        gate_diagram(1)
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        gate_diagram("lstm", ax="left")
