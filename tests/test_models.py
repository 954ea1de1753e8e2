"""gradbook.models: the book's networks (deep_mlp, seed_cnn, trained_seed_cnn, recurrent_layer) and layer_table."""
import keras
import numpy as np
import pytest

import gradbook.models as models
from gradbook.models import (deep_mlp, init_residual_branches, layer_table, make_initializer, recurrent_layer,
                             seed_cnn, trained_seed_cnn)

# --- deep_mlp ------------------------------------------------------------------------------------------------------


def test_deep_mlp_names_and_shapes():
    model = deep_mlp(4, width=16, activation="tanh")
    assert [l.name for l in model.layers if getattr(l, "kernel", None) is not None] == [
        "dense_1", "dense_2", "dense_3", "dense_4", "logits"]
    assert model.output_shape == (None, 10) and model.input_shape == (None, 784)
    assert model.get_layer("act_1").activation.__name__ == "tanh"
    assert not model.compiled


def test_deep_mlp_is_seeded():
    a, b = deep_mlp(2, 8, seed=3), deep_mlp(2, 8, seed=3)
    assert np.array_equal(a.get_layer("dense_2").kernel.numpy(), b.get_layer("dense_2").kernel.numpy())
    assert not np.array_equal(a.get_layer("dense_1").kernel.numpy(), a.get_layer("dense_2").kernel.numpy())


def test_deep_mlp_normal_initializer_has_the_asked_std():
    w = deep_mlp(1, 512, initializer=0.3, input_dim=512).get_layer("dense_1").kernel.numpy()
    assert abs(w.std() - 0.3) < 0.01
    same = make_initializer("normal", seed=1, weight_std=0.3)((512, 512))
    assert np.array_equal(np.asarray(same), np.asarray(make_initializer(0.3, seed=1)((512, 512))))


def test_deep_mlp_residual_blocks_start_as_identity():
    model = deep_mlp(3, 8, activation="relu", initializer="he_normal", residual=True, batch_norm=True)
    assert np.all(model.get_layer("dense_2_out").kernel.numpy() == 0)
    x = np.random.default_rng(0).normal(size=(4, 784)).astype("float32")
    stem = keras.Model(model.input, model.get_layer("act_1").output)(x)
    last = keras.Model(model.input, model.get_layer("add_3").output)(x)
    assert np.allclose(stem, last)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"depth": 0}, ValueError, "depth must be an integer >= 1"),
    ({"depth": 2, "activation": "swish"}, ValueError, "activation must be one of"),
    ({"depth": 2, "initializer": "xavier"}, ValueError, "initializer must be one of"),
    ({"depth": 2, "initializer": "normal"}, ValueError, "weight_std must be given"),
    ({"depth": 2, "initializer": -0.1}, ValueError, "initializer must be a finite number > 0"),
    ({"depth": 2, "initializer": None}, TypeError, "initializer must be one of"),
    ({"depth": 2, "width": 2.5}, TypeError, "width must be an integer"),
    ({"depth": 2, "batch_norm": "yes"}, TypeError, "batch_norm must be True or False"),
    ({"depth": 2, "seed": -1}, ValueError, "seed must be an integer >= 0"),
])
def test_deep_mlp_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        deep_mlp(**kwargs)


# --- init_residual_branches ---------------------------------------------------------------------------------------

def test_branches_are_redrawn_scaled_and_reproducible():
    a = init_residual_branches(deep_mlp(4, 16, "relu", residual=True, seed=0), scale=0.5, seed=1)
    b = init_residual_branches(deep_mlp(4, 16, "relu", residual=True, seed=0), scale=1.0, seed=1)
    wa, wb = a.get_layer("dense_3_out").kernel.numpy(), b.get_layer("dense_3_out").kernel.numpy()
    assert np.abs(wb).max() > 0 and np.allclose(wa, 0.5 * wb)
    assert not np.allclose(wb, b.get_layer("dense_2_out").kernel.numpy())
    assert np.all(init_residual_branches(a, scale=0.0).get_layer("dense_2_out").kernel.numpy() == 0)


def test_full_scale_branches_blow_up_the_forward_signal():
    x = np.random.default_rng(0).normal(size=(32, 784)).astype("float32")
    zero = deep_mlp(21, 32, "relu", "he_normal", residual=True, seed=0)
    full = init_residual_branches(deep_mlp(21, 32, "relu", "he_normal", residual=True, seed=0))
    assert np.std(full(x)) > 100 * np.std(zero(x))


def test_init_residual_branches_rejects_bad_arguments():
    with pytest.raises(ValueError, match="model must have a residual branch"):
        init_residual_branches(deep_mlp(3, 4))
    with pytest.raises(ValueError, match="scale must be a finite number >= 0"):
        init_residual_branches(deep_mlp(3, 4, residual=True), scale=-1.0)
    with pytest.raises(ValueError, match="initializer must be one of"):
        init_residual_branches(deep_mlp(3, 4, residual=True), "xavier")
    with pytest.raises(TypeError, match="model must be a keras.Model"):
        init_residual_branches("model")


# --- seed_cnn ------------------------------------------------------------------------------------------------------

def test_seed_cnn_is_the_articles_model_layer_for_layer():
    model = seed_cnn()
    assert [type(l).__name__ for l in model.layers] == [
        "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D", "Flatten", "Dense", "Dense"]
    assert [tuple(l.output.shape[1:]) for l in model.layers] == [
        (26, 26, 32), (13, 13, 32), (11, 11, 64), (5, 5, 64), (3, 3, 64), (576,), (64,), (10,)]
    assert model.input_shape == (None, 28, 28, 1)
    assert model.count_params() == 93_322
    assert [l.activation.__name__ for l in model.layers if hasattr(l, "activation")] == ["relu"] * 4 + ["softmax"]
    assert not model.compiled
    deeper = seed_cnn(extra_conv=2)
    assert [l.name for l in deeper.layers][5:7] == ["conv_extra_1", "conv_extra_2"]
    with pytest.raises(ValueError, match="activation must be one of"):
        seed_cnn("swish")
    with pytest.raises(ValueError, match="extra_conv must be an integer >= 0"):
        seed_cnn(extra_conv=-1)


# --- layer_table ---------------------------------------------------------------------------------------------------

def test_seed_cnn_table_shapes_params_and_receptive_fields():
    table = layer_table(seed_cnn())
    assert table["parameters"].sum() == 93_322
    assert table.loc["conv_1", "output shape"] == "(26, 26, 32)"
    assert table.loc["pool_2", "output shape"] == "(5, 5, 64)"
    assert table.loc["conv_3", "output shape"] == "(3, 3, 64)"
    # rf grows 3 → 4 → 8 → 10 → 18 (by hand: rf += (k - 1) * jump; jump *= stride)
    assert table["rf"].tolist()[:5] == [3, 4, 8, 10, 18]
    assert table.loc["dense_1", "rf"] == 28


def test_mlp_table_has_no_receptive_field():
    table = layer_table(deep_mlp(2, 8))
    assert "rf" not in table.columns and table["parameters"].sum() == 784 * 8 + 8 + 8 * 8 + 8 + 8 * 10 + 10


def test_layer_table_rejects_non_models_and_models_without_input():
    with pytest.raises(TypeError, match="model must be a keras.Model"):
        layer_table("seed_cnn")
    with pytest.raises(ValueError, match="model must be a functional or Sequential model built with an Input"):
        layer_table(keras.Sequential([keras.layers.Dense(2)]))


# --- trained_seed_cnn -----------------------------------------------------------------------------------------------

def test_trained_seed_cnn_is_trained_compiled_kept_and_copied(monkeypatch, subset):
    monkeypatch.setattr(models, "_WEIGHTS", {})
    first = trained_seed_cnn(digits=[0, 1], epochs=1, source="subset")
    second = trained_seed_cnn(digits=[1, 0], epochs=1, source="subset")  # same set: no retraining
    assert first is not second and len(models._WEIGHTS) == 1
    assert all(np.array_equal(a, b) for a, b in zip(first.get_weights(), second.get_weights()))
    # compiled the article's way: evaluate reports categorical cross-entropy and accuracy, and it has learned 0 vs 1
    (_, _), (x_test, y_test) = subset
    keep = y_test < 2
    x, labels = x_test[keep][..., None].astype("float32") / 255, y_test[keep]
    loss, accuracy = second.evaluate(x, np.eye(10)[labels], verbose=0)
    p = np.asarray(second(x))
    assert loss == pytest.approx(float(np.mean(-np.log(p[np.arange(len(x)), labels]))), rel=1e-4)
    assert accuracy == pytest.approx(float(np.mean(p.argmax(axis=1) == labels))) and accuracy > 0.95


@pytest.mark.parametrize("kwargs, error, match", [
    ({"digits": [3, 12]}, ValueError, "digits must be a list of integers from 0 to 9"),
    ({"digits": 3}, TypeError, "digits must be a list of integers"),
    ({"source": "web"}, ValueError, "source must be one of"),
    ({"epochs": 0}, ValueError, "epochs must be an integer >= 1"),
])
def test_trained_seed_cnn_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        trained_seed_cnn(**kwargs)


# --- recurrent_layer -----------------------------------------------------------------------------------------------

def test_recurrent_layer_cells_are_seeded():
    a, b = recurrent_layer("gru", 4, seed=2), recurrent_layer("gru", 4, seed=2)
    x = np.ones((1, 3, 2), "float32")
    assert isinstance(a, keras.layers.GRU) and np.array_equal(np.asarray(a(x)), np.asarray(b(x)))
    assert isinstance(recurrent_layer("simple_rnn", 4), keras.layers.SimpleRNN)
    assert recurrent_layer("lstm", 4, dtype="float64").dtype == "float64"


@pytest.mark.parametrize("kwargs, error, match", [
    ({"cell": "transformer"}, ValueError, "cell must be one of"),
    ({"cell": "lstm", "dtype": "float16"}, ValueError, "dtype must be one of"),
    ({"cell": "lstm", "forget_bias": float("inf")}, ValueError, "forget_bias must be a finite number"),
    ({"cell": "lstm", "units": 0}, ValueError, "units must be an integer >= 1"),
])
def test_recurrent_layer_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        recurrent_layer(**kwargs)
