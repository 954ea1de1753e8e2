"""gradbook.diagnostics.diagnose: diagnose() and its findings, its choice of mode, its report and its links."""
import re
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from gradbook.data import mnist_batch
from gradbook.diagnostics import (BOOK_SECTIONS, BOOK_URL, KINDS, THRESHOLDS, DiagnosticReport, Finding, diagnose,
                                  untouched_batch_norm)
from gradbook.gradients import kernel_layers
from gradbook.models import deep_mlp, seed_cnn

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def batch():
    """The issue's setting: 256 MNIST images (flattened) and their labels."""
    return mnist_batch(256)


@pytest.fixture(scope="module")
def images():
    """The same 256 images as (28, 28, 1) arrays, for the CNN."""
    return mnist_batch(256, flatten=False)


# --- diagnose: the three expectations ------------------------------------------------------------------

def test_20_layer_sigmoid_mlp_vanishes(batch):
    report = diagnose(deep_mlp(20), *batch)
    assert "vanishing" in report.kinds and "exploding" not in report.kinds
    finding = report.findings[report.kinds.index("vanishing")]
    assert finding.layers[0] == "dense_1"
    assert finding.evidence["first_last_ratio"] < THRESHOLDS["vanishing_ratio"]
    assert "sigmoid" in finding.cause and finding.link == BOOK_SECTIONS["vanishing"]


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


def test_subclassed_model_gets_gradient_findings_only(batch, deep_subclassed):
    report = diagnose(deep_subclassed(10, "sigmoid"), *batch)
    assert report.kinds == ["vanishing"]
    assert report.activations.empty and any("subclassed" in note for note in report.notes)
    assert "subclassed" in str(report)
    assert diagnose(deep_subclassed(3, "relu"), *batch).healthy


def _state(model):
    return [v.numpy().copy() for v in model.non_trainable_variables]


def _same_state(before, model):
    return len(before) == len(model.non_trainable_variables) and all(
        np.array_equal(a, v.numpy()) for a, v in zip(before, model.non_trainable_variables))


def test_training_mode_restores_batchnorm_statistics(batch):
    model = deep_mlp(3, 16, activation="relu", initializer="he_normal", batch_norm=True)
    before = _state(model)
    report = diagnose(model, *batch, training=True)
    assert report.training and report.healthy
    assert _same_state(before, model)


# --- the mode: training=None chooses ------------------------------------------------------------------------------

def test_untouched_batch_norm_finds_initial_statistics_only(batch):
    model = deep_mlp(2, 8, batch_norm=True)
    assert untouched_batch_norm(model) == ["bn_1", "bn_2"]
    model(batch[0][:16], training=True)  # one training-mode call moves the moving statistics
    assert untouched_batch_norm(model) == []
    assert untouched_batch_norm(deep_mlp(2, 8)) == []


def test_auto_mode_trains_untouched_batchnorm_and_says_why(batch):
    model = deep_mlp(3, 16, activation="relu", initializer="he_normal", batch_norm=True)
    report = diagnose(model, *batch)
    assert report.training and any("training mode (chosen by training=None)" in n and "bn_1" in n
                                   for n in report.notes)
    trained = deep_mlp(3, 16, activation="relu", initializer="he_normal", batch_norm=True)
    trained(batch[0], training=True)
    report = diagnose(trained, *batch)
    assert not report.training and any(n.startswith("inference mode (chosen by training=None") for n in report.notes)
    forced = diagnose(deep_mlp(3, 16, batch_norm=True), *batch, training=False)
    assert not forced.training and any("not the gradients training sees" in n for n in forced.notes)


def _keras_application(name):
    keras.utils.set_random_seed(0)
    return getattr(keras.applications, name)(input_shape=(32, 32, 3), weights=None, classes=10)


@pytest.fixture(scope="module")
def small_images():
    rng = np.random.default_rng(0)
    return rng.uniform(size=(64, 32, 32, 3)).astype("float32"), np.arange(64) % 10


def _wrong_cause(report):
    return [f for f in report.findings if f.kind == "vanishing" and "weights too small" in f.cause]


@pytest.mark.parametrize("name", ["MobileNet", "MobileNetV2", "MobileNetV3Small"])
def test_unseen_architectures_at_initialisation_get_no_wrong_cause(name, small_images):
    """Keras applications at initialisation (BatchNorm untouched, dropout, ReLU6/hard-swish): in inference mode their
    BN layers do nothing and the activations fade, which looks like "weights too small"; diagnose measures them in
    training mode instead, and restores every non-trainable variable."""
    model = _keras_application(name)
    before = _state(model)
    report = diagnose(model, *small_images)
    assert report.training and any("training mode (chosen" in n for n in report.notes)
    assert not _wrong_cause(report), report
    assert _same_state(before, model)
    assert _wrong_cause(diagnose(model, *small_images, training=False))  # the trap the auto mode avoids
    assert _same_state(before, model)


def test_a_nested_model_with_dropout_is_looked_into_and_restored(small_images):
    inner = _keras_application("MobileNet")  # it ends in Dropout, a Conv2D head and a softmax
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Rescaling(2.0, offset=-1.0), inner],
                             name="nested")
    assert any(isinstance(layer, keras.layers.Dropout) for layer in inner.layers)
    before = _state(model)  # BatchNorm statistics and dropout's random state
    report = diagnose(model, *small_images)
    assert report.training and not _wrong_cause(report), report
    assert "conv1_relu" in report.activations.index and "predictions" in report.activations.index
    assert list(report.gradients.index) == [layer.name for layer in kernel_layers(inner)]
    assert report.gradients.index[0] == "conv1" and report.gradients.index[-1] == "conv_preds"
    assert _same_state(before, model)


# --- the report ---------------------------------------------------------------------------------------------------

def test_report_text_html_and_findings_are_complete(batch):
    report = diagnose(deep_mlp(8, 32), *batch)
    assert isinstance(report, DiagnosticReport) and report.findings
    for finding in report.findings:
        assert isinstance(finding, Finding) and finding.kind in KINDS and finding.layers
        assert finding.evidence and all(isinstance(v, float) for v in finding.evidence.values())
        assert finding.cause and finding.remedy and finding.link in BOOK_SECTIONS.values()
    text, page = str(report), report._repr_html_()
    assert "[vanishing]" in text and "cause:" in text and "remedy:" in text and BOOK_SECTIONS["vanishing"] in text
    assert "dense_1" in text and "grad_norm" in text and "spread" in text
    assert page.count("<table") == 3 and f'href="{BOOK_SECTIONS["vanishing"]}"' in page
    assert all(f.link.startswith("https://") for f in report.findings)
    assert "1 finding" in repr(report)
    assert isinstance(report.gradients, pd.DataFrame) and report.gradients.index.name == "layer"
    with pytest.raises(ValueError, match="kind must be one of"):
        Finding("slow", ("a",), {}, "", "", "")


def test_book_url_is_the_pages_site_of_the_configured_repository():
    url = re.search(r"^repository:\s*\n\s+url:\s*https://github.com/([^/\s]+)/([^/\s]+)",
                    (ROOT / "_config.yml").read_text(), re.MULTILINE)
    assert url, "_config.yml has no GitHub repository url"
    owner, repo = url.groups()
    assert BOOK_URL == f"https://{owner.lower()}.github.io/{repo}/"


@pytest.mark.parametrize("key", sorted(BOOK_SECTIONS))
def test_book_links_are_absolute_and_point_at_sections_the_book_has(key):
    """Each link is BOOK_URL + a chapter page listed in _toc.yml + (optionally) '#' a label that chapter defines."""
    link = BOOK_SECTIONS[key]
    assert link.startswith(BOOK_URL), link
    page, _, label = link[len(BOOK_URL):].partition("#")
    assert page.endswith(".html"), link
    listed = re.findall(r"file:\s*([^\s#]+)", (ROOT / "_toc.yml").read_text())
    assert page[:-len(".html")] in listed, f"{page} is not a chapter in _toc.yml"
    source = next(p for p in (ROOT / (page[:-len(".html")] + ext) for ext in (".ipynb", ".md")) if p.exists())
    assert not label or f"({label})=" in source.read_text(), f"{source.name} has no label {label!r}"


# --- errors ---------------------------------------------------------------------------------------------------------

def test_diagnose_rejects_what_is_not_a_keras_model(batch):
    for thing in ("model", None, keras.layers.Dense(3), lambda x: x):
        with pytest.raises(TypeError, match="model must be a keras.Model"):
            diagnose(thing, *batch)


@pytest.mark.parametrize("change, match", [
    (lambda x, y: (x[:, :100], y), r"x must be a non-empty batch of shape \(N, 784\); got shape \(256, 100\)"),
    (lambda x, y: (x.reshape(-1, 28, 28), y), r"x must be a non-empty batch of shape \(N, 784\)"),
    (lambda x, y: (x, y[:10]), "y must hold as many samples as x, 256"),
    (lambda x, y: (x, np.eye(5)[y % 5]), r"y must have per-sample shape \(10,\).*got per-sample shape \(5,\)"),
    (lambda x, y: (x, y + 5), "got labels from 5 to 14"),
    (lambda x, y: (x, y + 0.5), "integer class labels"),
    (lambda x, y: (np.zeros((0, 784)), y[:0]), "non-empty batch"),
])
def test_diagnose_rejects_shape_mismatches(batch, change, match):
    with pytest.raises(ValueError, match=match):
        diagnose(deep_mlp(2, 8), *change(*batch))


def test_diagnose_rejects_bad_options_and_subclassed_shape_mismatch(batch, deep_subclassed):
    x, y = batch
    model = deep_mlp(2, 8)
    with pytest.raises(ValueError, match="loss must be a Keras loss"):
        diagnose(model, x, y, loss="not_a_loss")
    with pytest.raises(ValueError, match="thresholds key must be one of"):
        diagnose(model, x, y, thresholds={"vanish": 1.0})
    with pytest.raises(ValueError, match=r"thresholds\['dead_frac'\] must be a finite number > 0"):
        diagnose(model, x, y, thresholds={"dead_frac": -1})
    with pytest.raises(TypeError, match="thresholds must be a dict"):
        diagnose(model, x, y, thresholds=[("dead_frac", 0.1)])
    with pytest.raises(TypeError, match="training must be True, False or None"):
        diagnose(model, x, y, training="yes")
    with pytest.raises(TypeError, match="y must be the targets of x"):
        diagnose(model, x, None)
    subclassed = deep_subclassed(2, "relu")
    subclassed(x[:2])
    with pytest.raises(ValueError, match="x must be a batch that model 'deep_subclassed' can run on; got per-sample"):
        diagnose(subclassed, x[:, :100], y)
