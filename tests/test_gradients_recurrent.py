"""gradbook.gradients.recurrent: gradients through time, the LSTM's paths, an LSTM's or GRU's gates, and dŷ/dx_t."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from gradbook.gradients import gradient_through_time, input_gradients, lstm_paths, recurrent_gates
from gradbook.models import recurrent_layer


# --- gradient_through_time ------------------------------------------------------------------------------------------

def test_gradient_through_time_matches_a_direct_jacobian():
    norms = gradient_through_time("simple_rnn", steps=6, units=3, input_dim=2, seed=4)
    layer = recurrent_layer("simple_rnn", 3, seed=4)
    x = tf.constant(np.random.default_rng(4).normal(size=(1, 6, 2)), dtype="float32")
    with tf.GradientTape() as tape:
        tape.watch(x)
        h = layer(x)
    jac = tape.jacobian(h, x).numpy()[0, :, 0]  # (units, steps, input_dim)
    np.testing.assert_allclose(norms, np.sqrt((jac ** 2).sum(axis=(0, 2))), rtol=1e-4)


def test_forget_bias_lengthens_the_lstm_memory():
    short = gradient_through_time("lstm", steps=30, units=8, forget_bias=0.0)
    long = gradient_through_time("lstm", steps=30, units=8, forget_bias=4.0)
    assert long[0] / long[-1] > 100 * short[0] / short[-1]


@pytest.mark.parametrize("kwargs, match", [
    ({"cell": "transformer"}, "cell must be one of"),
    ({"cell": "gru", "steps": 1}, "steps must be an integer >= 2"),
    ({"cell": "lstm", "input_dim": 0}, "input_dim must be an integer >= 1"),
])
def test_gradient_through_time_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gradient_through_time(**kwargs)


# --- lstm_paths ----------------------------------------------------------------------------------------------------

def _keras_lstm_state_jacobian(forget_bias):
    """J_2 = d(h_2, c_2)/d(h_1, c_1) of the layer lstm_paths(steps=2, units=3) builds, by TensorFlow's autodiff."""
    from gradbook.gradients.recurrent import _recurrent_at_init

    layer, x_one = _recurrent_at_init("lstm", 2, 3, 8, forget_bias, 0, "float32")
    cell, x = layer.cell, tf.constant(x_one, tf.float32)
    _, (h1, c1) = cell(x[:, 0], [tf.zeros((1, 3)), tf.zeros((1, 3))])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([h1, c1])
        _, (h2, c2) = cell(x[:, 1], [h1, c1])
    blocks = [[tape.jacobian(a, b).numpy()[0, :, 0, :] for b in (h1, c1)] for a in (h2, c2)]
    return np.block(blocks)


@pytest.mark.parametrize("forget_bias", [1.0, 3.0])
def test_lstm_paths_jacobian_matches_autodiff(forget_bias):
    """With two steps the full path is J_2 alone: its largest singular value must be TensorFlow's."""
    paths = lstm_paths(steps=2, units=3, forget_bias=forget_bias)
    expected = np.linalg.norm(_keras_lstm_state_jacobian(forget_bias), 2)
    assert paths["state_path"] == pytest.approx(expected, rel=1e-4)
    assert paths["step_gain"] == pytest.approx(expected, rel=1e-4)


def test_lstm_paths_cell_path_is_the_product_of_forget_gates():
    short, long = lstm_paths(steps=20, units=8, forget_bias=0.0), lstm_paths(steps=20, units=8, forget_bias=4.0)
    assert short["forget_gate"] < 0.6 < 0.95 < long["forget_gate"] < 1
    assert short["cell_path"] < long["cell_path"] < 1
    assert long["cell_path"] == pytest.approx(long["forget_gate"] ** 19, rel=0.5)  # 19 gates, each near the mean


def test_lstm_paths_rejects_bad_arguments():
    with pytest.raises(ValueError, match="steps must be an integer >= 2"):
        lstm_paths(steps=1)
    with pytest.raises(TypeError, match="forget_bias"):
        lstm_paths(forget_bias="3")


# --- recurrent_gates -------------------------------------------------------------------------------------------------

def _random_weights(layer, seed):
    """Replace every weight of a built layer by N(0, 0.5²) draws, biases included, so no gate sits at σ(0)."""
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(0, 0.5, size=w.shape).astype("float32") for w in layer.get_weights()])


@pytest.mark.parametrize("make", [
    lambda: keras.layers.LSTM(4, return_sequences=True, return_state=True),
    lambda: keras.layers.GRU(4, return_sequences=True, return_state=True),
    lambda: keras.layers.GRU(4, return_sequences=True, return_state=True, reset_after=False),
], ids=["lstm", "gru", "gru_reset_before"])
def test_recurrent_gates_reproduce_keras_states(make):
    """The NumPy equations give Keras' own hidden states at every step (and the LSTM's last cell state)."""
    x = np.random.default_rng(1).normal(size=(3, 7, 2)).astype("float32")
    layer = make()
    layer.build(x.shape)
    _random_weights(layer, 2)
    outputs = [o.numpy() for o in layer(x)]
    gates = recurrent_gates(layer, x)
    np.testing.assert_allclose(gates["h"], outputs[0], atol=2e-6)
    if isinstance(layer, keras.layers.LSTM):
        np.testing.assert_allclose(gates["c"][:, -1], outputs[2], atol=2e-6)
        np.testing.assert_allclose(gates["c"][:, 1:], gates["f"][:, 1:] * gates["c"][:, :-1]
                                   + gates["i"][:, 1:] * gates["c_tilde"][:, 1:], atol=1e-12)
    else:
        np.testing.assert_allclose(gates["h"][:, 1:], gates["z"][:, 1:] * gates["h"][:, :-1]
                                   + (1 - gates["z"][:, 1:]) * gates["h_tilde"][:, 1:], atol=1e-12)
    for key in ("i", "f", "o", "z", "r"):
        if key in gates:
            assert gates[key].min() > 0 and gates[key].max() < 1


def test_recurrent_gates_of_a_fresh_lstm_start_at_the_forget_bias():
    """Zero input and state: every gate is σ(its bias), and Keras' unit_forget_bias puts b_f = 1."""
    gates = recurrent_gates(keras.layers.LSTM(3), np.zeros((1, 2, 5), "float32"))
    np.testing.assert_allclose(gates["f"][0, 0], 1 / (1 + np.exp(-1.0)))
    np.testing.assert_allclose(gates["i"][0, 0], 0.5)


def test_recurrent_gates_reject_bad_arguments():
    x = np.zeros((2, 3, 4), "float32")
    with pytest.raises(TypeError, match="layer must be a keras.layers.LSTM or keras.layers.GRU"):
        recurrent_gates(keras.layers.SimpleRNN(2), x)
    with pytest.raises(ValueError, match=r"x must be a non-empty batch of sequences, shape \(n, T, features\)"):
        recurrent_gates(keras.layers.GRU(2), x[0])
    with pytest.raises(ValueError, match="layer must use Keras' default activations"):
        recurrent_gates(keras.layers.GRU(2, activation="relu"), x)
    built = keras.layers.LSTM(2)
    built.build((2, 3, 4))
    with pytest.raises(ValueError, match="x must have 4 features per step"):
        recurrent_gates(built, np.zeros((2, 3, 5)))
    with pytest.raises(TypeError, match="x must be an array of numbers"):
        recurrent_gates(built, "sequence")


# --- input_gradients -------------------------------------------------------------------------------------------------

def test_input_gradients_of_a_linear_recurrence_are_powers_of_its_weight():
    """h_T = Σ_t a^(T−t) x_t for a one-unit linear RNN with input weight 1, recurrent weight a and no bias."""
    model = keras.Sequential([keras.Input((6, 1)), keras.layers.SimpleRNN(
        1, activation="linear", kernel_initializer="ones", recurrent_initializer=keras.initializers.Constant(0.7))])
    grads = input_gradients(model, np.random.default_rng(0).normal(size=(2, 6, 1)))
    assert grads.dtype == np.float64 and grads.shape == (2, 6, 1)
    np.testing.assert_allclose(grads[:, :, 0], np.tile(0.7 ** np.arange(5, -1, -1), (2, 1)), rtol=1e-6)


def test_input_gradients_are_each_samples_own_jacobian():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5, 2)), keras.layers.LSTM(3), keras.layers.Dense(1)])
    x = tf.constant(np.random.default_rng(1).normal(size=(3, 5, 2)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = model(x)
    jacobian = tape.jacobian(y, x).numpy()[:, 0]  # (sample, sample', steps, features)
    expected = np.stack([jacobian[k, k] for k in range(3)])
    np.testing.assert_allclose(input_gradients(model, x.numpy()), expected, rtol=1e-5, atol=1e-7)
    assert np.abs(jacobian[0, 1]).max() == 0  # one sample's output does not depend on another's input


def test_input_gradients_reject_a_model_with_several_outputs():
    model = keras.Sequential([keras.Input((4, 2)), keras.layers.GRU(2)])
    with pytest.raises(ValueError, match="model must have one output value per sample"):
        input_gradients(model, np.zeros((1, 4, 2)))
    with pytest.raises(ValueError, match="x must be"):
        input_gradients(keras.Sequential([keras.Input((4, 2)), keras.layers.GRU(1)]), np.zeros((1, 4, 3)))
