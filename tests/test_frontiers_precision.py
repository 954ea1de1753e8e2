"""gradbook.frontiers.precision: float16 rounding of gradients, activation gradients, dtype policies."""
import keras
import numpy as np
import pytest

from gradbook.frontiers.precision import (FLOAT16_MAX, FLOAT16_SUBNORMAL, FLOAT16_TINY, activation_gradients,
                                          dtype_policy, float16_rounding)
from gradbook.models import seed_cnn


def test_float16_rounding_counts_at_the_float16_limits():
    """The three limits are where float16_rounding's counts change: subnormal below FLOAT16_TINY, zero below half of
    FLOAT16_SUBNORMAL, inf above FLOAT16_MAX (beyond its rounding margin)."""
    assert float16_rounding([FLOAT16_TINY])["subnormal"] == 0
    assert float16_rounding([FLOAT16_TINY * 0.99])["subnormal"] == 1
    assert float16_rounding([FLOAT16_SUBNORMAL])[["underflow", "subnormal"]].tolist() == [0, 1]
    assert float16_rounding([FLOAT16_SUBNORMAL * 0.49])["underflow"] == 1
    assert float16_rounding([FLOAT16_MAX])["overflow"] == 0
    assert float16_rounding([FLOAT16_MAX * 1.01])["overflow"] == 1


def test_float16_rounding_counts_underflow_subnormals_and_overflow():
    values = np.array([1.0, 1e-3, 1e-5, 1e-9, 0.0, -1e-9])  # the zero is not counted
    unscaled = float16_rounding(values)
    assert unscaled["nonzero"] == 5
    assert unscaled["underflow"] == pytest.approx(2 / 5)   # ±1e-9 < 2**-25
    assert unscaled["subnormal"] == pytest.approx(1 / 5)   # 1e-5 < 2**-14
    assert unscaled["overflow"] == 0
    scaled = float16_rounding(values, loss_scale=2.0 ** 15)
    assert scaled["underflow"] == 0 and scaled["relative_error"] < unscaled["relative_error"]
    too_much = float16_rounding(values, loss_scale=1e5)
    assert too_much["overflow"] == pytest.approx(1 / 5) and too_much["relative_error"] == float("inf")


@pytest.mark.parametrize("kwargs, error, match", [
    ({"values": [1e-3], "loss_scale": 0}, ValueError, "loss_scale must be a finite number > 0"),
    ({"values": [np.inf]}, ValueError, "finite numbers"),
    ({"values": [0.0, 0.0]}, ValueError, "at least one non-zero"),
    ({"values": ["1e-3"]}, TypeError, "values must be an array of numbers"),
])
def test_float16_rounding_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        float16_rounding(**kwargs)


def test_dtype_policy_is_restored():
    before = keras.config.dtype_policy().name
    with dtype_policy("mixed_float16"):
        model = seed_cnn()
    assert keras.config.dtype_policy().name == before
    conv = model.get_layer("conv_1")
    assert conv.compute_dtype == "float16" and conv.variable_dtype == "float32"
    assert conv.kernel.dtype == "float32"
    with pytest.raises(ValueError, match="name must be one of"):
        with dtype_policy("half"):
            pass


def test_activation_gradients_match_the_output_layer_formula():
    model = seed_cnn()
    x = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    y = np.array([0, 1, 2, 3])
    grads = activation_gradients(model, x, y)
    assert list(grads) == ["conv_1", "pool_1", "conv_2", "pool_2", "conv_3", "flatten", "dense_1"]
    assert grads["conv_1"].shape == (4, 26, 26, 32) and grads["dense_1"].dtype == np.float32
    # ∂L/∂h for the input h of the softmax layer: W (p − onehot) / N
    p = np.asarray(model(x))
    onehot = np.eye(10)[y]
    w = model.get_layer("output").kernel.numpy()
    np.testing.assert_allclose(grads["dense_1"], (p - onehot) @ w.T / 4, rtol=1e-4, atol=1e-7)


def test_activation_gradients_errors():
    with pytest.raises(TypeError, match="model must be a built keras.Sequential"):
        activation_gradients("model", np.zeros((1, 28, 28, 1)), np.zeros(1, int))
    with pytest.raises(ValueError, match=r"y must hold class labels from 0 to 9"):
        activation_gradients(seed_cnn(), np.zeros((1, 28, 28, 1)), np.array([10]))
    with pytest.raises(TypeError, match="y must hold integer labels"):
        activation_gradients(seed_cnn(), np.zeros((1, 28, 28, 1)), np.array([1.0]))
    with pytest.raises(ValueError, match="y must hold one integer label per sample"):
        activation_gradients(seed_cnn(), np.zeros((1, 28, 28, 1)), np.array([[1]]))
