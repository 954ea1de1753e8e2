"""gradbook's diagnostics: diagnose() and its findings, GradientMonitor, and the article's CNN (seed_cnn)."""
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from gradbook.data import mnist_batch
from gradbook.gradients import (BOOK_SECTIONS, KINDS, THRESHOLDS, DiagnosticReport, Finding, GradientMonitor,
                                diagnose, kernel_layers, layer_gradient_norms)
from gradbook.models import deep_mlp, seed_cnn

SPARSE_LOGITS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@pytest.fixture(scope="module")
def batch():
    """The issue's setting: 256 MNIST images (flattened) and their labels."""
    return mnist_batch(256)


@pytest.fixture(scope="module")
def images():
    """The same 256 images as (28, 28, 1) arrays, for the CNN."""
    return mnist_batch(256, flatten=False)


class DeepSubclassed(keras.Model):
    """A subclassed MLP: Keras cannot tap its intermediate outputs."""

    def __init__(self, depth, activation, width=32):
        super().__init__(name="deep_subclassed")
        self.hidden = [keras.layers.Dense(width, activation=activation) for _ in range(depth)]
        self.head = keras.layers.Dense(10)

    def call(self, x):
        for layer in self.hidden:
            x = layer(x)
        return self.head(x)


# --- seed_cnn: the article's model ------------------------------------------------------------------------------

def test_seed_cnn_is_the_articles_model_layer_for_layer():
    model = seed_cnn()
    assert [type(l).__name__ for l in model.layers] == [
        "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D", "Flatten", "Dense", "Dense"]
    assert [tuple(l.output.shape[1:]) for l in model.layers] == [
        (26, 26, 32), (13, 13, 32), (11, 11, 64), (5, 5, 64), (3, 3, 64), (576,), (64,), (10,)]
    assert model.input_shape == (None, 28, 28, 1)
    assert model.count_params() == 93_322
    assert [l.activation.__name__ for l in model.layers if hasattr(l, "activation")] == ["relu"] * 4 + ["softmax"]
    assert getattr(model, "optimizer", None) is None  # uncompiled
    with pytest.raises(ValueError, match="activation must be one of"):
        seed_cnn("swish")


# --- diagnose: the three expectations ------------------------------------------------------------------

def test_20_layer_sigmoid_mlp_vanishes(batch):
    report = diagnose(deep_mlp(20), *batch)
    assert "vanishing" in report.kinds and "exploding" not in report.kinds
    finding = report.findings[report.kinds.index("vanishing")]
    assert finding.layers[0] == "dense_1"
    assert finding.evidence["first_last_ratio"] < THRESHOLDS["vanishing_ratio"]
    assert "sigmoid" in finding.cause and finding.link == BOOK_SECTIONS["mechanism"]


def test_50_layer_relu_mlp_with_large_weights_explodes(batch):
    report = diagnose(deep_mlp(50, 64, activation="relu", initializer=0.3), *batch)
    assert "exploding" in report.kinds and "vanishing" not in report.kinds
    evidence = report.findings[report.kinds.index("exploding")].evidence
    assert evidence["max_grad_weight_ratio"] > 1e6  # ~1.7 per layer over 50 layers
    assert evidence["median_fan_in_var"] == pytest.approx(64 * 0.3 ** 2, rel=0.1)


def test_8_layer_relu_he_mlp_is_healthy(batch):
    report = diagnose(deep_mlp(8, activation="relu", initializer="he_normal"), *batch)
    assert report.healthy and report.findings == []
    assert 0.1 < report.first_last_ratio < 10
    assert "No findings" in str(report) and "No findings" in report._repr_html_()


# --- every other kind of finding ------------------------------------------------------------------------------

def test_large_tanh_weights_saturate(batch):
    report = diagnose(deep_mlp(2, 32, activation="tanh", initializer=1.0), *batch)
    finding = report.findings[report.kinds.index("saturation")]
    assert finding.layers[0] == "act_1"
    assert finding.evidence["saturated_frac[act_1]"] > THRESHOLDS["saturated_frac"]


def test_relu_units_pushed_negative_are_dead(batch):
    model = deep_mlp(2, 32, activation="relu", initializer="he_normal")
    bias = model.get_layer("dense_1").bias
    bias.assign(np.where(np.arange(32) < 24, -1e3, 0.0).astype("float32"))  # 24 of 32 units can never fire
    report = diagnose(model, *batch)
    finding = report.findings[report.kinds.index("dead_units")]
    assert finding.layers == ("act_1",) and finding.evidence["dead_frac[act_1]"] == 0.75
    assert report.activations.loc["act_1", "dead_frac"] == 0.75


def test_nan_in_the_input_is_nonfinite(batch):
    x, y = batch[0].copy(), batch[1]
    x[3, 5] = np.nan
    report = diagnose(deep_mlp(2, 16, activation="relu", initializer="he_normal"), x, y)
    assert report.kinds == ["nonfinite"]
    assert "input" in report.findings[0].cause and report.findings[0].evidence["input_nonfinite_frac"] > 0


def test_inf_weight_is_nonfinite_and_named(batch):
    model = deep_mlp(2, 16, activation="relu", initializer="he_normal")
    kernel = model.get_layer("dense_2").kernel
    kernel.assign(np.where(np.arange(kernel.shape[1]) == 0, np.inf, kernel.numpy()).astype("float32"))
    report = diagnose(model, *batch)
    finding = report.findings[report.kinds.index("nonfinite")]
    assert "dense_2" in finding.layers and "dense_2" in finding.cause
    assert finding.evidence["layers_nonfinite_weights"] == 1 and not np.isfinite(report.loss)


def test_thresholds_can_be_overridden(batch):
    model = deep_mlp(6, 32)
    assert "vanishing" in diagnose(model, *batch).kinds
    assert "vanishing" not in diagnose(model, *batch, thresholds={"vanishing_ratio": 1e-12}).kinds


# --- model kinds and layer types ------------------------------------------------------------------------------

def test_seed_cnn_is_healthy_and_its_sigmoid_variant_vanishes_at_conv_1(images):
    x, y = images[0][:128], images[1][:128]
    healthy = diagnose(seed_cnn(), x, y)
    assert healthy.healthy
    assert list(healthy.gradients.index) == ["conv_1", "conv_2", "conv_3", "dense_1", "output"]
    assert healthy.gradients.loc["conv_1", "type"] == "Conv2D"
    assert list(healthy.activations["activation"]) == ["relu"] * 4 + ["softmax"]
    assert healthy.loss == pytest.approx(np.log(10), rel=0.1)  # softmax output recognised: a probability loss
    sigmoid = diagnose(seed_cnn("sigmoid"), x, y)
    assert sigmoid.kinds == ["vanishing"] and sigmoid.findings[0].layers[0] == "conv_1"


def test_sequential_without_input_and_functional_models(batch):
    sequential = keras.Sequential([keras.layers.Dense(32, activation="sigmoid"), keras.layers.Dense(10)])
    report = diagnose(sequential, *batch)  # built by diagnose, on the batch
    assert list(report.activations.index) == [sequential.layers[0].name] and report.healthy
    inputs = keras.Input((784,))
    h = keras.layers.Dense(32, name="a")(inputs)
    h = keras.layers.Activation("relu", name="a_relu")(h)
    skip = keras.layers.Dense(32, name="b")(inputs)
    functional = keras.Model(inputs, keras.layers.Dense(10, name="out")(keras.layers.Add()([h, skip])))
    report = diagnose(functional, *batch)
    assert set(report.gradients.index) == {"a", "b", "out"} and list(report.activations.index) == ["a_relu"]


def test_subclassed_model_gets_gradient_findings_only(batch):
    report = diagnose(DeepSubclassed(10, "sigmoid"), *batch)
    assert report.kinds == ["vanishing"]
    assert report.activations.empty and any("subclassed" in note for note in report.notes)
    assert "subclassed" in str(report)
    assert diagnose(DeepSubclassed(3, "relu"), *batch).healthy


def test_training_mode_restores_batchnorm_statistics(batch):
    model = deep_mlp(3, 16, activation="relu", initializer="he_normal", batch_norm=True)
    before = [v.numpy().copy() for v in model.non_trainable_variables]
    report = diagnose(model, *batch, training=True)
    assert report.training and report.healthy
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(before, model.non_trainable_variables))


# --- the report ---------------------------------------------------------------------------------------------------

def test_report_text_html_and_findings_are_complete(batch):
    report = diagnose(deep_mlp(8, 32), *batch)
    assert isinstance(report, DiagnosticReport) and report.findings
    for finding in report.findings:
        assert isinstance(finding, Finding) and finding.kind in KINDS and finding.layers
        assert finding.evidence and all(isinstance(v, float) for v in finding.evidence.values())
        assert finding.cause and finding.remedy and finding.link in BOOK_SECTIONS.values()
    text, page = str(report), report._repr_html_()
    assert "[vanishing]" in text and "cause:" in text and "remedy:" in text and BOOK_SECTIONS["mechanism"] in text
    assert "dense_1" in text and "grad_norm" in text and "spread" in text
    assert page.count("<table") == 3 and f'href="{BOOK_SECTIONS["mechanism"]}"' in page
    assert "1 finding" in repr(report)
    assert isinstance(report.gradients, pd.DataFrame) and report.gradients.index.name == "layer"
    with pytest.raises(ValueError, match="kind must be one of"):
        Finding("slow", ("a",), {}, "", "", "")


def test_book_links_point_at_existing_sections():
    """Each link in BOOK_SECTIONS names a chapter page and, after '#', a label that chapter defines."""
    chapters = Path(__file__).resolve().parents[1] / "chapters"
    checked = 0
    for link in BOOK_SECTIONS.values():
        page, _, label = link.partition("#")
        assert page.startswith("chapters/") and page.endswith(".html"), link
        sources = [chapters / (Path(page).stem + ext) for ext in (".ipynb", ".md")]
        source = next((p for p in sources if p.exists()), None)
        if source is None:  # a chapter not written yet: nothing to check
            continue
        assert not label or f"({label})=" in source.read_text(), f"{source.name} has no label {label!r}"
        checked += 1
    if not checked:
        pytest.skip("none of the linked chapters exists yet")


# --- errors ---------------------------------------------------------------------------------------------------------

def test_diagnose_rejects_what_is_not_a_keras_model(batch):
    for thing in ("model", None, keras.layers.Dense(3), lambda x: x):
        with pytest.raises(TypeError, match="model must be a keras.Model"):
            diagnose(thing, *batch)


@pytest.mark.parametrize("change, match", [
    (lambda x, y: (x[:, :100], y), "per-sample shape"),
    (lambda x, y: (x.reshape(-1, 28, 28), y), "per-sample shape"),
    (lambda x, y: (x, y[:10]), "same number of samples"),
    (lambda x, y: (x, np.eye(5)[y % 5]), r"y has per-sample shape \(5,\)"),
    (lambda x, y: (x, y + 5), "labels from 5 to 14"),
    (lambda x, y: (x, y + 0.5), "integer class labels"),
    (lambda x, y: (np.zeros((0, 784)), y[:0]), "non-empty batch"),
])
def test_diagnose_rejects_shape_mismatches(batch, change, match):
    with pytest.raises(ValueError, match=match):
        diagnose(deep_mlp(2, 8), *change(*batch))


def test_diagnose_rejects_bad_options_and_subclassed_shape_mismatch(batch):
    x, y = batch
    model = deep_mlp(2, 8)
    with pytest.raises(ValueError, match="loss must be a Keras loss"):
        diagnose(model, x, y, loss="not_a_loss")
    with pytest.raises(ValueError, match="thresholds key must be one of"):
        diagnose(model, x, y, thresholds={"vanish": 1.0})
    with pytest.raises(ValueError, match=r"thresholds\['dead_frac'\] must be a finite number > 0"):
        diagnose(model, x, y, thresholds={"dead_frac": -1})
    with pytest.raises(ValueError, match="training must be True or False"):
        diagnose(model, x, y, training="yes")
    subclassed = DeepSubclassed(2, "relu")
    subclassed(x[:2])
    with pytest.raises(ValueError, match="does not fit model"):
        diagnose(subclassed, x[:, :100], y)


# --- GradientMonitor ----------------------------------------------------------------------------------------------

def _compiled_mlp(lr=0.01):
    model = deep_mlp(3, 16, activation="relu", initializer="he_normal")
    model.compile(optimizer=keras.optimizers.SGD(lr), loss=SPARSE_LOGITS)
    return model


def test_monitor_records_one_row_per_step_and_one_column_per_layer(batch):
    x, y = batch[0][:64], batch[1][:64]
    model, monitor = _compiled_mlp(), GradientMonitor()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[monitor])
    assert monitor.history.shape == (8, 4) and monitor.update_ratio.shape == (8, 4)
    assert list(monitor.history.index) == list(range(8)) and monitor.history.index.name == "step"
    assert list(monitor.history.columns) == [l.name for l in kernel_layers(model)]
    assert np.isfinite(monitor.history.values).all() and (monitor.history.values > 0).all()
    assert (monitor.update_ratio.values > 0).all() and (monitor.update_ratio.values < 0.1).all()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # without the monitor: nothing recorded
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[monitor])  # steps continue across fits
    assert list(monitor.history.index) == list(range(8)) + [12, 13]
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=SPARSE_LOGITS)  # a new optimizer counts from 0 again
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[monitor])
    assert list(monitor.history.index) == list(range(8)) + [12, 13, 14, 15]
    every = GradientMonitor(every=3)
    _compiled_mlp().fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[every])
    assert list(every.history.index) == [0, 3, 6] and every.every == 3


def test_monitor_matches_layer_gradient_norms_on_the_same_batch(batch):
    x, y = batch[0][:64], batch[1][:64]
    model, monitor = _compiled_mlp(lr=0.01), GradientMonitor()
    expected = layer_gradient_norms(model, x, y, loss=SPARSE_LOGITS)
    weights = np.array([np.linalg.norm(l.kernel.numpy()) for l in kernel_layers(model)])
    model.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0, callbacks=[monitor])
    np.testing.assert_allclose(monitor.history.iloc[0].values, expected.values, rtol=1e-5)
    # plain SGD: the step is 0.01 × the gradient, so the update/weight ratio is 0.01 ‖∂L/∂W‖ / ‖W‖
    np.testing.assert_allclose(monitor.update_ratio.iloc[0].values, 0.01 * expected.values / weights, rtol=1e-4)


def test_monitor_works_for_the_cnn_and_subclassed_models(images, batch):
    x, y = images[0][:64], keras.utils.to_categorical(images[1][:64], 10)
    cnn = seed_cnn()
    cnn.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    monitor = GradientMonitor(every=2)
    cnn.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[monitor])
    assert list(monitor.history.columns) == ["conv_1", "conv_2", "conv_3", "dense_1", "output"]
    assert list(monitor.history.index) == [0, 2]
    sub = DeepSubclassed(2, "relu")
    sub.compile(optimizer="adam", loss=SPARSE_LOGITS)
    monitor = GradientMonitor()
    sub.fit(batch[0][:32], batch[1][:32], batch_size=16, verbose=0, callbacks=[monitor])
    assert monitor.history.shape == (2, 3)


def test_monitor_stops_on_nan_with_a_clear_message(batch, capsys):
    x, y = batch[0][:64].copy(), batch[1][:64]
    x[40] = np.nan  # in the third batch of 16: step 2
    model, monitor = _compiled_mlp(), GradientMonitor(stop_on_nonfinite=True)
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, callbacks=[monitor])
    assert list(monitor.history.index) == [0, 1, 2] and monitor.nonfinite_steps == [2]
    assert len(history.history["loss"]) == 1 and model.stop_training
    assert "step 2" in monitor.stop_reason and "NaN" in monitor.stop_reason and "stopped" in monitor.stop_reason
    assert "dense_1" in capsys.readouterr().err


def test_monitor_without_stop_says_so_once_and_goes_on(batch, capsys):
    x, y = batch[0][:64].copy(), batch[1][:64]
    x[40] = np.nan
    monitor = GradientMonitor(every=10)
    _compiled_mlp().fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[monitor])
    assert list(monitor.history.index) == [0, 2, 3] and monitor.nonfinite_steps == [2, 3]  # NaN steps always kept
    assert monitor.stop_reason is None and capsys.readouterr().err.count("non-finite gradient") == 1


def test_monitor_rejects_bad_arguments():
    with pytest.raises(ValueError, match="every must be an integer >= 1"):
        GradientMonitor(every=0)
    with pytest.raises(ValueError, match="stop_on_nonfinite must be True or False"):
        GradientMonitor(stop_on_nonfinite="yes")
    assert GradientMonitor().history.empty


def test_monitor_history_feeds_the_plots(batch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gradbook.plots import plot_gradient_heatmap, plot_gradient_lines

    monitor = GradientMonitor()
    _compiled_mlp().fit(batch[0][:32], batch[1][:32], batch_size=16, verbose=0, callbacks=[monitor])
    fig, (left, right) = plt.subplots(1, 2)
    plot_gradient_heatmap(monitor.history, ax=left)
    plot_gradient_lines(monitor.history, ax=right)
    assert len(right.get_lines()) == 4
    plt.close(fig)
