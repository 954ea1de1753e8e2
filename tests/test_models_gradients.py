import keras
import numpy as np
import pandas as pd
import pytest

from gradbook.gradients import activation_stats, first_last_ratio, kernel_layers, layer_gradient_norms
from gradbook.models import deep_mlp


def test_deep_mlp_names_and_shapes():
    model = deep_mlp(4, width=16, activation="tanh")
    assert [l.name for l in kernel_layers(model)] == ["dense_1", "dense_2", "dense_3", "dense_4", "logits"]
    assert model.output_shape == (None, 10) and model.input_shape == (None, 784)
    assert model.get_layer("act_1").activation.__name__ == "tanh"


def test_deep_mlp_is_seeded():
    a, b = deep_mlp(2, 8, seed=3), deep_mlp(2, 8, seed=3)
    assert np.array_equal(a.get_layer("dense_2").kernel.numpy(), b.get_layer("dense_2").kernel.numpy())
    assert not np.array_equal(a.get_layer("dense_1").kernel.numpy(), a.get_layer("dense_2").kernel.numpy())


def test_deep_mlp_normal_initializer_has_the_asked_std():
    w = deep_mlp(1, 512, initializer=0.3, input_dim=512).get_layer("dense_1").kernel.numpy()
    assert abs(w.std() - 0.3) < 0.01


def test_deep_mlp_residual_blocks_start_as_identity():
    model = deep_mlp(3, 8, activation="relu", initializer="he_normal", residual=True, batch_norm=True)
    assert np.all(model.get_layer("dense_2_out").kernel.numpy() == 0)
    x = np.random.default_rng(0).normal(size=(4, 784)).astype("float32")
    stem = keras.Model(model.input, model.get_layer("act_1").output)(x)
    last = keras.Model(model.input, model.get_layer("add_3").output)(x)
    assert np.allclose(stem, last)


@pytest.mark.parametrize("kwargs, match", [
    ({"depth": 0}, "depth must be an integer >= 1"),
    ({"depth": 2, "activation": "swish"}, "activation must be one of"),
    ({"depth": 2, "initializer": "xavier"}, "initializer must be one of"),
    ({"depth": 2, "initializer": "normal"}, "weight_std must be given"),
    ({"depth": 2, "initializer": -0.1}, "initializer must be a finite number > 0"),
    ({"depth": 2, "width": 2.5}, "width must be an integer"),
    ({"depth": 2, "batch_norm": "yes"}, "batch_norm must be True or False"),
])
def test_deep_mlp_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        deep_mlp(**kwargs)


def test_layer_gradient_norms_matches_a_hand_computed_case():
    """A 3 → 2 → 1 linear network with MSE: the gradients written out with the chain rule by hand."""
    model = deep_mlp(1, width=2, activation="linear", input_dim=3, num_classes=1)
    rng = np.random.default_rng(1)
    w1, b1, w2, b2 = rng.normal(size=(3, 2)), rng.normal(size=2), rng.normal(size=(2, 1)), rng.normal(size=1)
    model.get_layer("dense_1").set_weights([w1, b1])
    model.get_layer("logits").set_weights([w2, b2])
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 1))
    h = x @ w1 + b1
    g = 2 * (h @ w2 + b2 - y) / len(x)  # ∂L/∂ŷ for L = mean((ŷ - y)²)
    expected = [np.linalg.norm(x.T @ (g @ w2.T)), np.linalg.norm(h.T @ g)]
    for compiled in (True, False):
        got = layer_gradient_norms(model, x, y, loss="mse", compiled=compiled)
        assert list(got.index) == ["dense_1", "logits"]
        np.testing.assert_allclose(got.values, expected, rtol=1e-5)
        assert got.attrs["loss"] == pytest.approx(np.mean((h @ w2 + b2 - y) ** 2), rel=1e-5)


def test_layer_gradient_norms_orders_input_to_output_and_vanishes_for_sigmoid():
    x = np.random.default_rng(0).uniform(size=(32, 784)).astype("float32")
    y = np.arange(32) % 10
    norms = layer_gradient_norms(deep_mlp(10, 64, activation="sigmoid"), x, y)
    assert list(norms.index) == [f"dense_{k}" for k in range(1, 11)] + ["logits"]
    assert first_last_ratio(norms) < 1e-4  # ten sigmoid layers: at most (1/4)^10 ≈ 1e-6 times the weight factors


def test_layer_gradient_norms_rejects_bad_inputs():
    model = deep_mlp(2, 8)
    with pytest.raises(TypeError, match="keras.Model"):
        layer_gradient_norms("model", np.zeros((2, 784)), np.zeros(2))
    with pytest.raises(ValueError, match="per-sample shape"):
        layer_gradient_norms(model, np.zeros((2, 28, 28)), np.zeros(2))
    with pytest.raises(ValueError, match="same number of samples"):
        layer_gradient_norms(model, np.zeros((2, 784)), np.zeros(3))
    with pytest.raises(ValueError, match="loss must be a Keras loss"):
        layer_gradient_norms(model, np.zeros((2, 784)), np.zeros(2), loss="not_a_loss")
    with pytest.raises(ValueError, match="at least two layers"):
        first_last_ratio(pd.Series([1.0]))


def test_activation_stats_sees_relu_zeros_and_sigmoid_range():
    x = np.random.default_rng(0).uniform(size=(64, 784)).astype("float32")
    relu = activation_stats(deep_mlp(3, 32, activation="relu"), x)
    assert list(relu.index) == ["act_1", "act_2", "act_3"]
    assert 0.2 < relu["zero_frac"].iloc[0] < 0.8  # about half of ReLU's inputs are negative
    sig = activation_stats(deep_mlp(3, 32, activation="sigmoid"), x)
    assert (sig["zero_frac"] == 0).all() and (sig["nonfinite_frac"] == 0).all()
    with pytest.raises(ValueError, match="layer_names has names"):
        activation_stats(deep_mlp(2, 8), x, layer_names=["nope"])
