"""gradbook.widgets: the explorer builds, measures the right network and redraws on every change, with no display."""
import ipywidgets
import numpy as np
import pytest
from matplotlib.figure import Figure

from gradbook.models import deep_mlp
from gradbook.widgets import GradientExplorer


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


def test_explorer_displays_without_a_frontend(explorer):
    explorer._ipython_display_()  # outside IPython: nothing to show, nothing raised


@pytest.mark.parametrize("kwargs, match", [
    ({"depth": 1}, "depth must be an integer >= 2"),
    ({"depth": 50}, "depth must be at most max_depth=40"),
    ({"activation": "swish"}, "activation must be one of"),
    ({"initializer": "normal"}, "initializer must be one of 'glorot_uniform'"),
    ({"scale": 10.0}, "scale must be between 0.25 and 4"),
    ({"width": 0}, "width must be an integer >= 1"),
])
def test_explorer_rejects_bad_arguments(batch, kwargs, match):
    with pytest.raises(ValueError, match=match):
        GradientExplorer(*batch, **kwargs)


def test_explorer_rejects_mismatched_batches(batch):
    x, y = batch
    with pytest.raises(ValueError, match="x must be a non-empty"):
        GradientExplorer(x, y[:3])
