"""gradbook.viz.explorers: every explorer builds, measures the right thing and redraws on every change."""
import ipywidgets
import numpy as np
import pytest
from matplotlib.figure import Figure

import gradbook.viz.explorers as explorers
from gradbook.models import deep_mlp
from gradbook.viz.explorers import CliffExplorer, ForgetBiasExplorer, GradientExplorer, ShatteredGradientExplorer


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 1, (32, 784)).astype("float32"), rng.integers(0, 10, 32)


@pytest.fixture(scope="module")
def explorer(batch):
    return GradientExplorer(*batch, depth=4, width=16, activation="sigmoid")


def test_explorer_builds_its_default_view(explorer):
    assert isinstance(explorer.widget, ipywidgets.VBox)
    assert set(explorer.controls) == {"depth", "activation", "initializer", "scale"}
    assert isinstance(explorer.figure, Figure) and len(explorer.figure.axes) == 2
    assert list(explorer.norms.index) == ["dense_1", "dense_2", "dense_3", "dense_4"]
    assert list(explorer.stats.index) == ["act_1", "act_2", "act_3", "act_4"]
    grad_ax = explorer.figure.axes[0]
    assert len(grad_ax.get_lines()) == 2  # measured and theory
    np.testing.assert_allclose(grad_ax.get_lines()[1].get_ydata()[-1], explorer.norms.iloc[-1])  # anchored


def test_explorer_shows_the_spread_across_samples_and_theory_only_for_the_std(explorer):
    act_ax = explorer.figure.axes[1]
    solid = [line for line in act_ax.get_lines() if line.get_linestyle() == "-"]
    dashed = [line for line in act_ax.get_lines() if line.get_linestyle() == "--"]
    assert [line.get_label() for line in solid] == [f"{explorer.settings()['activation']}: spread across samples",
                                                    "size: std over units and samples"]
    np.testing.assert_allclose(solid[0].get_ydata(), explorer.stats["spread"].to_numpy())
    np.testing.assert_allclose(solid[1].get_ydata(), explorer.stats["std"].to_numpy())
    assert len(dashed) == 1  # mean-field theory predicts the std, not the spread
    np.testing.assert_allclose(dashed[0].get_ydata(), explorer.theory["act_std"].to_numpy())
    assert dashed[0].get_color() == solid[1].get_color()
    legend = [text.get_text() for text in act_ax.get_legend().get_texts()]
    assert legend[-1] == "mean-field theory of the std"


def test_explorer_measures_exactly_deep_mlp_times_scale(batch):
    from gradbook.gradients import layer_gradient_norms

    ex = GradientExplorer(*batch, depth=3, width=16, activation="tanh", initializer="he_normal", scale=2.0, seed=5)
    reference = deep_mlp(3, 16, activation="tanh", initializer="he_normal", seed=5)
    for layer in reference.layers:
        if getattr(layer, "kernel", None) is not None:
            layer.kernel.assign(layer.kernel.numpy() * 2.0)
    expected = layer_gradient_norms(reference, *batch)[ex.norms.index]
    np.testing.assert_allclose(ex.norms.values, expected.values, rtol=1e-5)


def test_every_control_updates_the_measurement_and_the_figure(explorer):
    changes = [("depth", 6), ("activation", "relu"), ("initializer", "he_normal"), ("scale", 0.5)]
    for name, value in changes:
        before_fig, before = explorer.figure, explorer.norms.copy()
        explorer.controls[name].value = value
        assert explorer.settings()[name] == value
        assert explorer.figure is not before_fig
        assert len(explorer.norms) != len(before) or not np.allclose(explorer.norms.values, before.values), name
    assert len(explorer.norms) == 6 and explorer.theory["slope_second"].iloc[0] == pytest.approx(0.5)  # relu


def test_explorer_survives_overflow(batch):
    x, y = batch
    ex = GradientExplorer(x * 1e37, y, depth=6, width=16, activation="relu", initializer="he_normal", scale=4.0)
    assert not np.isfinite(ex.norms.values).all()
    assert "not finite" in ex.figure._suptitle.get_text()


def test_explorers_show_the_figure_and_the_controls_in_ipython_only(explorer, monkeypatch):
    shown = []
    monkeypatch.setattr(explorers, "display", shown.append)
    monkeypatch.setattr(explorers, "get_ipython", lambda: None)
    explorer._ipython_display_()
    explorer.controls["scale"].value = 2.0  # re-measured and redrawn, but there is nowhere to show it
    assert shown == []
    monkeypatch.setattr(explorers, "get_ipython", lambda: object())
    explorer._ipython_display_()
    assert shown == [explorer.figure, explorer.widget]
    explorer.controls["scale"].value = 1.0  # a change replaces the figure in the output area
    assert shown[-1] is explorer.figure and len(shown) == 3


@pytest.mark.parametrize("kwargs, match", [
    ({"depth": 1}, r"depth must be an integer in \[2, 40\]"),
    ({"depth": 50}, r"depth must be an integer in \[2, 40\]; got 50"),
    ({"activation": "swish"}, "activation must be one of"),
    ({"initializer": "normal"}, "initializer must be one of 'glorot_uniform'"),
    ({"scale": 10.0}, r"scale must be a finite number in \[0.25, 4\]"),
    ({"width": 0}, "width must be an integer >= 1"),
])
def test_explorer_rejects_bad_arguments(batch, kwargs, match):
    with pytest.raises(ValueError, match=match):
        GradientExplorer(*batch, **kwargs)


def test_explorer_rejects_mismatched_batches(batch):
    x, y = batch
    with pytest.raises(ValueError, match="x must be a non-empty"):
        GradientExplorer(x, y[:3])
    with pytest.raises(TypeError, match="x must be an array of numbers"):
        GradientExplorer("x", y)


# --- the chapter 6 explorers ------------------------------------------------------------------------------------

def test_cliff_explorer_reacts_to_its_controls():
    explorer = CliffExplorer(iterations=10)
    assert isinstance(explorer.figure, Figure) and set(explorer.paths) == {"plain", "clipped"}
    assert len(explorer.paths["plain"]) == 11 and explorer.paths["plain"]["w"].iloc[0] == 8.75
    explorer.controls["clip"].value = 1.0
    assert explorer.paths["clipped"]["step_norm"].max() <= 1.0 * explorer.settings()["learning_rate"] + 1e-12
    with pytest.raises(ValueError, match=r"clip must be a finite number in \[0.1, 100\]"):
        CliffExplorer(clip=1000.0)


def test_shattered_explorer_measures_both_networks():
    explorer = ShatteredGradientExplorer(depth=12, width=16)
    assert set(explorer.curves) == {"plain", "residual"} and len(explorer.x) == 256
    full = explorer.correlations["residual"]
    assert explorer.correlations["plain"] < 0.2 < full  # the plain BN-ReLU net's gradient is shattered
    explorer.controls["branch_scale"].value = 0.0
    assert explorer.correlations["residual"] > max(0.9, full)  # zero branches: only the smooth stem is left
    with pytest.raises(ValueError, match=r"depth must be an integer in \[2, 48\]"):
        ShatteredGradientExplorer(depth=100)


def test_forget_bias_explorer():
    explorer = ForgetBiasExplorer(steps=8, units=4, reference_biases=(1.0,))
    assert list(explorer.curves) == ["SimpleRNN", "GRU", "LSTM, forget bias 1", "LSTM"]
    np.testing.assert_allclose(explorer.curves["LSTM"], explorer.curves["LSTM, forget bias 1"])  # same bias
    first = explorer.curves["LSTM"].copy()
    explorer.controls["forget_bias"].value = 5.0
    assert explorer.curves["LSTM"][0] > first[0]
    with pytest.raises(ValueError, match=r"forget_bias must be a finite number in \[-2, 6\]"):
        ForgetBiasExplorer(forget_bias=10.0)
    with pytest.raises(ValueError, match=r"reference_biases\[0\] must be a finite number in \[-2, 6\]"):
        ForgetBiasExplorer(reference_biases=(7.0,))
