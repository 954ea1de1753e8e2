"""gradbook.theory: expectations, known gains, agreement with a real network, random Jacobians, argument checks."""
import math

import numpy as np
import pytest

from gradbook import models
from gradbook.theory import (activation_moments, chain_singular_values, fixed_point_variance, gaussian_expectation,
                             mean_field, per_layer_gain, predicted_layer_norms, weight_variance)


@pytest.mark.parametrize("q", [1e-6, 0.3, 1.0, 17.0, 2500.0])
def test_gaussian_expectation_of_polynomials_and_kinks(q):
    assert gaussian_expectation(lambda z: np.ones_like(z), q) == pytest.approx(1.0, rel=1e-12)
    assert gaussian_expectation(lambda z: z ** 2, q) == pytest.approx(q, rel=1e-10)
    assert gaussian_expectation(lambda z: z ** 4, q) == pytest.approx(3 * q ** 2, rel=1e-10)
    # a kink at 0 is integrated exactly: E[relu(z)²] = q/2, E[relu(z)] = sqrt(q / 2π)
    assert gaussian_expectation(lambda z: np.maximum(z, 0) ** 2, q) == pytest.approx(q / 2, rel=1e-10)
    assert gaussian_expectation(lambda z: np.maximum(z, 0), q) == pytest.approx(math.sqrt(q / (2 * math.pi)), rel=1e-10)


def test_gaussian_expectation_at_zero_variance_is_the_value_at_zero():
    assert gaussian_expectation(np.cos, 0.0) == 1.0


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "elu", "selu", "gelu", "leaky_relu"])
@pytest.mark.parametrize("q", [0.05, 1.0, 30.0])
def test_moments_agree_with_monte_carlo(activation, q):
    import keras

    z = np.random.default_rng(0).normal(0.0, math.sqrt(q), 400_000).astype(np.float64)
    import tensorflow as tf

    zt = tf.constant(z)
    with tf.GradientTape() as tape:
        tape.watch(zt)
        phi = keras.activations.get(activation)(zt)  # Keras' own definitions, not ours
    slope = tape.gradient(phi, zt).numpy()
    phi = phi.numpy()
    got = activation_moments(activation, q)
    for mine, sample, name in [(got.mean, phi, "mean"), (got.second, phi ** 2, "second"),
                               (got.slope_second, slope ** 2, "slope_second")]:
        err = 5 * sample.std() / math.sqrt(len(sample)) + 1e-9  # five standard errors
        assert abs(mine - sample.mean()) < err, (activation, q, name, mine, sample.mean())


def test_known_moments():
    assert activation_moments("sigmoid", 0.0).slope_second == pytest.approx(1 / 16)  # σ'(0) = 1/4
    assert activation_moments("tanh", 0.0).slope_second == pytest.approx(1.0)
    assert activation_moments("relu", 3.0) == (pytest.approx(math.sqrt(3 / (2 * math.pi))), 1.5, 0.5)
    assert activation_moments("linear", 3.0) == (0.0, 3.0, 1.0)
    assert activation_moments("leaky_relu", 1.0).slope_second == pytest.approx((1 + 0.2 ** 2) / 2)
    # the sigmoid's derivative is at most 1/4 and shrinks as the inputs spread: saturation
    slopes = [activation_moments("sigmoid", q).slope_second for q in (0.01, 1, 10, 100)]
    assert all(a > b for a, b in zip(slopes, slopes[1:])) and slopes[0] < 1 / 16


@pytest.mark.parametrize("initializer, expected", [
    ("glorot_uniform", 2 / (784 + 256)), ("glorot_normal", 2 / (784 + 256)), ("he_normal", 2 / 784),
    ("he_uniform", 2 / 784), ("lecun_normal", 1 / 784), ("orthogonal", 1 / 784), (0.05, 0.05 ** 2),
])
def test_weight_variance(initializer, expected):
    assert weight_variance(initializer, 784, 256) == pytest.approx(expected)
    assert weight_variance(initializer, 784, 256, scale=3.0) == pytest.approx(9 * expected)
    assert weight_variance("normal", 10, 10, weight_std=0.2) == pytest.approx(0.04)


def test_weight_variance_matches_the_keras_initializers():
    """theory predicts exactly what models builds: every initializer models accepts, drawn by Keras."""
    for name in models.INITIALIZERS:
        for shape in [(300, 200), (200, 300)]:
            w = np.asarray(models.make_initializer(name, seed=1, weight_std=0.05)(shape))
            expected = weight_variance(name, *shape, weight_std=0.05)
            assert w.var() == pytest.approx(expected, rel=0.03), (name, shape)
    w = np.asarray(models.make_initializer(0.2, seed=1)((300, 200)))
    assert w.var() == pytest.approx(weight_variance(0.2, 300, 200), rel=0.03)


def test_known_gains():
    # He + ReLU and a linear net with orthogonal (or Glorot, square) weights pass the signal through unchanged
    assert per_layer_gain("relu", "he_normal") == pytest.approx(1.0)
    assert per_layer_gain("linear", "orthogonal", 100) == pytest.approx(1.0)
    assert per_layer_gain("linear", "glorot_uniform", 100) == pytest.approx(1.0)
    # ReLU + Glorot: half of the units pass nothing back, σ_w = 1: gain sqrt(1/2)
    assert per_layer_gain("relu", "glorot_uniform") == pytest.approx(math.sqrt(0.5))
    # tanh at q = 0 is linear: the gain is σ_w; the weight scale multiplies the gain of a ReLU net
    assert per_layer_gain("tanh", "he_normal", q=0.0) == pytest.approx(math.sqrt(2))
    assert per_layer_gain("relu", "he_normal", scale=1.25) == pytest.approx(1.25)
    # sigmoid at Glorot: σ_w = 1 and sqrt(E[σ'(z)²]) just under σ'(0) = 1/4 at the fixed point q* ≈ 0.265
    q_star = fixed_point_variance("sigmoid", 1.0)
    assert q_star == pytest.approx(activation_moments("sigmoid", q_star).second, rel=1e-8)
    assert 0.26 < q_star < 0.27
    assert per_layer_gain("sigmoid", "glorot_uniform") == pytest.approx(0.2361, abs=5e-4)


def test_mean_field_shapes_and_the_linear_orthogonal_net():
    mf = mean_field(6, 32, "linear", "orthogonal", input_dim=32, num_classes=32)
    assert list(mf.index) == [f"dense_{k}" for k in range(1, 7)]
    assert list(mf.columns) == ["q", "act_mean", "act_std", "slope_second", "delta_rms", "grad_norm"]
    np.testing.assert_allclose(mf["grad_norm"], 1.0)
    np.testing.assert_allclose(mf["q"], 1.0)


def test_relu_glorot_halves_the_variance_but_keeps_weight_gradients_level():
    mf = mean_field(10, 256, "relu", "glorot_uniform")
    np.testing.assert_allclose(mf["q"].values[2:] / mf["q"].values[1:-1], 0.5)
    np.testing.assert_allclose(mf["grad_norm"].values[1:], 1.0)  # forward halving × backward halving cancel


def test_predicted_layer_norms_are_anchored_and_named_like_deep_mlp():
    p = predicted_layer_norms(5, 64, "sigmoid", "glorot_uniform", anchor=0.7)
    assert list(p.index) == [f"dense_{k}" for k in range(1, 6)] and p.iloc[-1] == pytest.approx(0.7)
    assert np.all(np.diff(np.log(p.values[1:])) > 0)  # vanishing towards the input (dense_1 sees the raw input)


def test_prediction_matches_a_real_sigmoid_network():
    from gradbook.gradients import layer_gradient_norms

    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1, (128, 784)).astype("float32"), rng.integers(0, 10, 128)
    model = models.deep_mlp(8, 128, activation="sigmoid", seed=0)
    measured = layer_gradient_norms(model, x, y)[[f"dense_{k}" for k in range(1, 9)]]
    factor = float(np.exp(np.mean(np.diff(np.log(measured.values[1:])))))  # per layer, going up
    assert 1 / factor == pytest.approx(per_layer_gain("sigmoid", "glorot_uniform", 128), rel=0.1)


def test_orthogonal_linear_chain_is_an_isometry_and_gaussian_is_not():
    assert np.allclose(chain_singular_values(30, 40, "orthogonal", seed=1), 1.0)
    s = chain_singular_values(30, 40, "gaussian", seed=1)
    assert s[0] > 1 and s[-1] < 1e-6 and np.all(np.diff(s) <= 0)


def test_one_linear_layer_matches_numpy():
    rng = np.random.default_rng(5)
    rng.normal(size=6)  # chain_singular_values draws the input first, then the weights
    w = rng.normal(size=(6, 6)) / np.sqrt(6)
    expected = np.linalg.svd(w, compute_uv=False)
    np.testing.assert_allclose(chain_singular_values(1, 6, "gaussian", seed=5), expected)


def test_relu_chain_has_dead_directions():
    assert chain_singular_values(40, 30, "gaussian", "relu", seed=0)[-1] < 1e-8


@pytest.mark.parametrize("call, error, match", [
    (lambda: chain_singular_values(0), ValueError, "depth must be an integer >= 1"),
    (lambda: chain_singular_values(2, init="xavier"), ValueError, "init must be one of"),
    (lambda: chain_singular_values(2, activation="sigmoid"), ValueError, "activation must be one of"),
    (lambda: chain_singular_values(2, gain=0.0), ValueError, "gain must be a finite number > 0"),
    (lambda: chain_singular_values(2, gain="1"), TypeError, "gain must be a finite number > 0"),
])
def test_chain_rejects_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("call, match", [
    (lambda: activation_moments("swish", 1.0), "activation must be one of 'sigmoid'"),
    (lambda: activation_moments("relu", -1.0), "q must be a finite number >= 0"),
    (lambda: weight_variance("xavier", 4, 4), "initializer must be one of"),
    (lambda: weight_variance("normal", 4, 4), "weight_std must be given"),
    (lambda: weight_variance(-0.1, 4, 4), "initializer must be a finite number > 0"),
    (lambda: weight_variance("he_normal", 0, 4), "fan_in must be an integer >= 1"),
    (lambda: weight_variance("he_normal", 4, 4, scale=0), "scale must be a finite number > 0"),
    (lambda: mean_field(0), "depth must be an integer >= 1"),
    (lambda: mean_field(3, input_second_moment=float("nan")), "input_second_moment must be a finite number"),
    (lambda: predicted_layer_norms(3, anchor=0.0), "anchor must be a finite number > 0"),
    (lambda: per_layer_gain("tanh", "he_normal", q=-2.0), "q must be a finite number >= 0"),
    (lambda: fixed_point_variance("relu", 0.0), "sigma_w2 must be a finite number > 0"),
])
def test_bad_arguments_raise_value_errors_naming_them(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("call, match", [
    (lambda: mean_field(3, width=2.5), "width must be an integer"),
    (lambda: activation_moments(3, 1.0), "activation must be one of"),
    (lambda: weight_variance(None, 4, 4), "initializer must be one of"),
    (lambda: per_layer_gain("relu", q="0"), "q must be a finite number >= 0"),
])
def test_wrong_types_raise_type_errors_naming_them(call, match):
    with pytest.raises(TypeError, match=match):
        call()


def test_mean_field_takes_one_width_per_layer():
    same = mean_field(5, 64, "relu", "glorot_uniform", input_dim=9)
    assert np.allclose(mean_field(5, [64] * 5, "relu", "glorot_uniform", input_dim=9), same)
    assert np.allclose(mean_field(5, np.array([64] * 5), "relu", "glorot_uniform", input_dim=9), same)
    # a conv stack: 3×3 kernels, channels 1 → 16 → 16 → 32 (fan-in and fan-out k²C): Glorot's n·Var(W) is
    # 2·144/(144 + 144) = 1 between equal widths and 2·144/(144 + 288) = 2/3 where the channels double
    conv = mean_field(3, [9 * 16, 9 * 16, 9 * 32], "relu", "glorot_uniform", input_dim=9, input_second_moment=0.1)
    q = conv["q"].to_numpy()
    assert q[0] == pytest.approx(9 * 2 / (9 + 144) * 0.1)
    assert q[1] / q[0] == pytest.approx(0.5) and q[2] / q[1] == pytest.approx(2 / 3 * 0.5)
    he = mean_field(3, [9 * 16, 9 * 16, 9 * 32], "relu", "he_normal", input_dim=9)["q"].to_numpy()
    assert np.allclose(he[1:] / he[:-1], 1.0)  # He: fan-in · Var(W) = 2 whatever the widths
    with pytest.raises(ValueError, match="width must be an integer >= 1 or a list of depth = 3 of them; got 2 widths"):
        mean_field(3, [16, 16], "relu")
    with pytest.raises(ValueError, match="width must be a list of integers >= 1"):
        mean_field(2, [16, 0], "relu")
