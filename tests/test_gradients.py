"""gradbook.gradients: per-layer gradient norms, activation statistics, dy/dx along a line, gradients through time,
recurrent gates, input gradients, batch normalisation's forward and backward pass."""
import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from gradbook.gradients import (BatchNormPass, activation_stats, autocorrelation, batch_norm_backward,
                                batch_norm_forward, first_last_ratio, gradient_along_line, gradient_through_time,
                                input_gradients, kernel_layers, layer_gradient_norms, layer_profiles, lstm_paths,
                                recurrent_gates)
from gradbook.models import deep_mlp, recurrent_layer, seed_cnn
from gradbook.theory import mean_field

RNG = np.random.default_rng(0)
X = RNG.uniform(size=(64, 784)).astype("float32")
Y = np.arange(64) % 10


# --- layer_gradient_norms ------------------------------------------------------------------------------------------

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
    norms = layer_gradient_norms(deep_mlp(10, 64, activation="sigmoid"), X[:32], Y[:32])
    assert list(norms.index) == [f"dense_{k}" for k in range(1, 11)] + ["logits"]
    assert first_last_ratio(norms) < 1e-4  # ten sigmoid layers: at most (1/4)^10 ≈ 1e-6 times the weight factors


def test_the_default_loss_is_the_compiled_one_else_cross_entropy_on_logits_or_probabilities():
    logits = deep_mlp(2, 8)
    by_hand = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(Y, logits(X))
    assert layer_gradient_norms(logits, X, Y).attrs["loss"] == pytest.approx(float(by_hand), rel=1e-6)
    # a softmax output (seed_cnn) is read as probabilities: at initialisation the loss is about ln 10
    cnn, images = seed_cnn(), RNG.uniform(size=(16, 28, 28, 1))
    loss = layer_gradient_norms(cnn, images, Y[:16]).attrs["loss"]
    assert loss == pytest.approx(float(keras.losses.sparse_categorical_crossentropy(Y[:16], cnn(images)).numpy()
                                       .mean()), rel=1e-5)
    assert loss == pytest.approx(np.log(10), rel=0.1)
    # the compiled loss wins, and compiling again with another loss is seen (no stale compiled function)
    logits.compile(loss="mse")
    onehot = np.eye(10)[Y].astype("float32")
    assert layer_gradient_norms(logits, X, onehot).attrs["loss"] == pytest.approx(
        float(np.mean((np.asarray(logits(X)) - onehot) ** 2)), rel=1e-5)
    logits.compile(loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    assert layer_gradient_norms(logits, X, onehot).attrs["loss"] == pytest.approx(float(by_hand), rel=1e-5)
    # integer labels with a last axis of 1, as Keras' sparse losses take them
    fresh = deep_mlp(2, 8)
    assert layer_gradient_norms(fresh, X, Y[:, None]).attrs["loss"] == pytest.approx(float(by_hand), rel=1e-6)


def test_choosing_the_default_loss_leaves_no_trace_in_the_model():
    """A model that always runs in training mode moves its BatchNorm statistics once per measurement, as one training
    step does — reading its outputs to choose the loss does not move them again."""
    from gradbook.training import in_training_mode

    measured, stepped = (deep_mlp(3, 8, batch_norm=True, seed=0) for _ in range(2))
    view = in_training_mode(measured)
    in_training_mode(stepped)  # the same dummy batch the view is built with
    layer_gradient_norms(view, X, Y, compiled=False)
    stepped(X, training=True)
    for a, b in zip(measured.non_trainable_variables, stepped.non_trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_layer_gradient_norms_is_float64_and_survives_a_float32_overflow():
    model = deep_mlp(1, 4, "linear", input_dim=4, num_classes=1)
    model.get_layer("dense_1").kernel.assign(np.full((4, 4), 1e-15, "float32"))
    model.get_layer("logits").kernel.assign(np.full((4, 1), 1e5, "float32"))
    # inputs 1e15: every entry of ∂L/∂W_1 is 2 · 1e15 · (2 · 1.6e6 / 2) · 1e5 = 3.2e26, finite in float32, but their
    # sum of squares (1.6e54) is not
    norms = layer_gradient_norms(model, np.full((2, 4), 1e15), np.zeros((2, 1)), loss="mse")
    assert norms.dtype == np.float64 and norms["dense_1"] == pytest.approx(4 * 3.2e26, rel=1e-4)


def test_layer_gradient_norms_rejects_bad_inputs():
    model = deep_mlp(2, 8)
    with pytest.raises(TypeError, match="model must be a keras.Model"):
        layer_gradient_norms("model", np.zeros((2, 784)), np.zeros(2))
    with pytest.raises(ValueError, match=r"x must be a non-empty batch of shape \(N, 784\); got shape \(2, 28, 28\)"):
        layer_gradient_norms(model, np.zeros((2, 28, 28)), np.zeros(2))
    with pytest.raises(ValueError, match="y must hold as many samples as x, 2; got shape"):
        layer_gradient_norms(model, np.zeros((2, 784)), np.zeros(3))
    with pytest.raises(TypeError, match="y must be the targets of x"):
        layer_gradient_norms(model, np.zeros((2, 784)), None)
    with pytest.raises(ValueError, match=r"y must hold class labels from 0 to 9 .*got labels from 0 to 10"):
        layer_gradient_norms(model, np.zeros((2, 784)), np.array([0, 10]))
    with pytest.raises(ValueError, match="loss must be a Keras loss"):
        layer_gradient_norms(model, np.zeros((2, 784)), np.zeros(2), loss="not_a_loss")
    with pytest.raises(TypeError, match="loss must be a Keras loss"):
        layer_gradient_norms(model, np.zeros((2, 784)), np.zeros(2), loss=3)
    with pytest.raises(ValueError, match="model must be built"):
        layer_gradient_norms(keras.Sequential([keras.layers.Dense(2)]), np.zeros((2, 3)), np.zeros(2))
    with pytest.raises(ValueError, match="must have a layer with a kernel"):
        layer_gradient_norms(keras.Sequential([keras.Input((3,)), keras.layers.Softmax()]), np.ones((2, 3)),
                             np.zeros(2))


def test_first_last_ratio():
    assert first_last_ratio(pd.Series([2.0, 5.0, 4.0])) == 0.5
    with pytest.raises(ValueError, match="at least two layers"):
        first_last_ratio(pd.Series([1.0]))
    with pytest.raises(TypeError, match="norms must be a pandas.Series"):
        first_last_ratio([1.0, 2.0])


def test_kernel_layers_flattens_nested_models_and_skips_frozen_layers():
    inner = deep_mlp(2, 4, input_dim=3, num_classes=2, name="inner")
    inner.get_layer("dense_2").trainable = False
    outer = keras.Sequential([keras.Input((3,)), inner, keras.layers.Dense(1, name="head")])
    assert [l.name for l in kernel_layers(outer)] == ["dense_1", "logits", "head"]


# --- activation_stats ----------------------------------------------------------------------------------------------

def test_activation_stats_sees_relu_zeros_and_sigmoid_range():
    relu = activation_stats(deep_mlp(3, 32, activation="relu"), X)
    assert list(relu.index) == ["act_1", "act_2", "act_3"]
    assert list(relu.columns) == ["mean", "std", "spread", "zero_frac", "dead_frac", "saturated_frac",
                                  "nonfinite_frac"]
    assert 0.2 < relu["zero_frac"].iloc[0] < 0.8  # about half of ReLU's inputs are negative
    sig = activation_stats(deep_mlp(3, 32, activation="sigmoid"), X)
    assert (sig["zero_frac"] == 0).all() and (sig["nonfinite_frac"] == 0).all() and (sig["dead_frac"] == 0).all()


def test_activation_stats_matches_the_outputs_by_hand():
    model = deep_mlp(2, 16, activation="tanh", initializer=3.0)
    stats = activation_stats(model, X)
    a = np.asarray(keras.Model(model.input, model.get_layer("act_2").output)(X), dtype=np.float64)
    row = stats.loc["act_2"]
    assert row["mean"] == pytest.approx(a.mean()) and row["std"] == pytest.approx(a.std())
    assert row["spread"] == pytest.approx(a.std(axis=0).mean())  # across samples, averaged over units
    assert row["saturated_frac"] == pytest.approx(np.mean(np.abs(a) > 0.99)) and row["saturated_frac"] > 0.3


def test_dead_frac_counts_units_zero_for_every_sample():
    model = deep_mlp(2, 4, "relu", input_dim=3, seed=0)
    w, b = model.get_layer("dense_1").get_weights()
    b[:] = [-100.0, -100.0, 0.0, 0.0]  # two units can never fire on inputs in [0, 1]
    model.get_layer("dense_1").set_weights([np.abs(w), b])
    stats = activation_stats(model, np.random.default_rng(0).uniform(size=(50, 3)))
    assert stats.loc["act_1", "dead_frac"] == 0.5 and stats.loc["act_1", "zero_frac"] == pytest.approx(0.5)
    assert activation_stats(deep_mlp(3, 8, "leaky_relu", input_dim=3), -np.ones((4, 3)))["dead_frac"].max() == 0


def test_activation_stats_reads_every_kind_of_activation_layer_and_nested_models():
    cnn = activation_stats(seed_cnn(), RNG.uniform(size=(8, 28, 28, 1)))
    assert list(cnn.index) == ["conv_1", "conv_2", "conv_3", "dense_1", "output"]
    assert cnn.loc["output", "mean"] == pytest.approx(0.1)  # softmax rows of 10 sum to 1
    def inner():
        return keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="d"), keras.layers.ReLU(name="r"),
                                 keras.layers.Dense(4, name="e"), keras.layers.LeakyReLU(name="lr"),
                                 keras.layers.Dense(4, name="f"), keras.layers.ELU(name="elu"),
                                 keras.layers.PReLU(name="pr")], name="inner")

    outer = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, activation="tanh", name="first"), inner(),
                              keras.layers.Dense(2, name="g"), keras.layers.Softmax(name="sm")])
    assert list(activation_stats(outer, np.ones((4, 3))).index) == ["first", "r", "lr", "elu", "pr", "sm"]
    assert list(activation_stats(outer, np.ones((4, 3)), layer_names=["g", "d"]).index) == ["d", "g"]
    first_nested = keras.Sequential([keras.Input((3,)), inner()])  # the nested model reads the outer input itself
    assert list(activation_stats(first_nested, np.ones((4, 3))).index) == ["r", "lr", "elu", "pr"]
    shared = inner()
    twice = keras.Sequential([keras.Input((3,)), shared, keras.layers.Dense(3), shared])  # one model called twice
    with pytest.raises(ValueError, match="nested model 'inner' not measured: it is subclassed, shared"):
        activation_stats(twice, np.ones((4, 3)))


def test_activation_stats_rejects_bad_inputs():
    with pytest.raises(ValueError, match=r"layer_names must name layers of the model.*\['nope'\]"):
        activation_stats(deep_mlp(2, 8), X, layer_names=["nope"])
    with pytest.raises(TypeError, match="layer_names must be a list of layer names"):
        activation_stats(deep_mlp(2, 8), X, layer_names="act_1")
    with pytest.raises(ValueError, match="model must have a layer with an activation"):
        activation_stats(deep_mlp(2, 8, activation="linear"), X)
    with pytest.raises(ValueError, match="x must be a non-empty batch of shape"):
        activation_stats(deep_mlp(1, 2, input_dim=3), np.zeros(3))
    with pytest.raises(ValueError, match="model must be a functional or Sequential model built with an Input"):
        activation_stats(keras.Sequential([keras.layers.Dense(2, activation="relu")]), np.zeros((2, 3)))


# --- gradient_along_line and autocorrelation ------------------------------------------------------------------------

def test_gradient_along_line_of_a_linear_model_is_its_slope():
    model = deep_mlp(1, 1, "linear", input_dim=1, num_classes=1)
    model.get_layer("dense_1").set_weights([np.array([[2.0]]), np.array([0.5])])
    model.get_layer("logits").set_weights([np.array([[-3.0]]), np.array([1.0])])
    x, g = gradient_along_line(model, n=7, low=-1.0, high=1.0)
    assert x[0] == -1.0 and x[-1] == 1.0 and np.allclose(g, -6.0)


def test_gradient_along_line_rejects_bad_arguments():
    with pytest.raises(ValueError, match="one input to one output"):
        gradient_along_line(deep_mlp(1, 2, input_dim=2, num_classes=1))
    model = deep_mlp(1, 2, input_dim=1, num_classes=1)
    with pytest.raises(ValueError, match="high must be a finite number > 1"):
        gradient_along_line(model, low=1.0, high=0.0)
    with pytest.raises(ValueError, match="n must be an integer >= 3"):
        gradient_along_line(model, n=2)
    with pytest.raises(TypeError, match="training must be True or False"):
        gradient_along_line(model, training=1)


def test_autocorrelation_of_smooth_and_noisy_sequences():
    assert autocorrelation(np.linspace(0, 1, 50) ** 2) > 0.99
    assert abs(autocorrelation(np.random.default_rng(0).normal(size=5000))) < 0.05
    assert autocorrelation(np.tile([1.0, -1.0], 20)) == pytest.approx(-1.0)


@pytest.mark.parametrize("values, lag, error, match", [
    (np.ones(10), 1, ValueError, "must not be constant"),
    (np.arange(3.0), 1, ValueError, "at least lag"),
    ([1.0, np.nan, 2.0, 3.0, 4.0], 1, ValueError, "must be finite"),
    (np.arange(10.0), 0, ValueError, "lag must be an integer >= 1"),
    (np.arange(10.0), 1.0, TypeError, "lag must be an integer >= 1"),
])
def test_autocorrelation_rejects_bad_input(values, lag, error, match):
    with pytest.raises(error, match=match):
        autocorrelation(values, lag)


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
    from gradbook.gradients import _recurrent_at_init

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


# --- layer_profiles --------------------------------------------------------------------------------------------------

def test_layer_profiles_are_the_measurements_of_each_setting():
    """Every row is what layer_gradient_norms and activation_stats give for that deep_mlp, layer by layer."""
    grid = [{"depth": 3, "activation": "relu", "initializer": "he_normal"}, {"depth": 2, "activation": "tanh"}]
    profiles = layer_profiles(grid, X[:32], Y[:32], width=16, seed=1)
    assert profiles.shape == (5, 7) and list(profiles.columns[-4:]) == ["layer", "grad_norm", "spread", "std"]
    for setting in grid:
        rows = profiles[(profiles.depth == setting["depth"]) & (profiles.activation == setting["activation"])]
        model = deep_mlp(width=16, seed=1, **setting)
        hidden = [f"dense_{k}" for k in range(1, setting["depth"] + 1)]
        np.testing.assert_allclose(rows.grad_norm, layer_gradient_norms(model, X[:32], Y[:32])[hidden], rtol=1e-5)
        np.testing.assert_allclose(rows.spread, activation_stats(model, X[:32])["spread"], rtol=1e-6)
        assert rows.layer.tolist() == list(range(1, setting["depth"] + 1))


def test_layer_profiles_rejects_a_setting_that_is_not_a_dict():
    with pytest.raises(TypeError, match="settings must be a list of dicts"):
        layer_profiles({"depth": 2}, X[:8], Y[:8])
    with pytest.raises(TypeError, match=r"settings\[...\] must be a dict"):
        layer_profiles([("depth", 2)], X[:8], Y[:8])


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

# --- batch_norm_forward / batch_norm_backward ----------------------------------------------------------------------

def _keras_bn(x, gamma, beta, mean, var, momentum=0.9):
    layer = keras.layers.BatchNormalization(momentum=momentum, dtype="float64")
    layer.build(x.shape)
    for variable, value in zip((layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance),
                               (gamma, beta, mean, var)):
        variable.assign(value)
    return layer


@pytest.mark.parametrize("shape", [(5, 4, 3, 2), (7, 3)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_forward_and_backward_match_keras_and_autodiff(shape, training):
    rng = np.random.default_rng(2)
    c = shape[-1]
    x = rng.normal(1.5, 2.0, size=shape)
    gamma, beta = rng.uniform(0.5, 2, c), rng.normal(size=c)
    mean, var = rng.normal(size=c), rng.uniform(0.5, 2, c)
    layer = _keras_bn(x, gamma, beta, mean, var)
    xt, dy = tf.constant(x), rng.normal(size=shape)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt, training=training)
        loss = tf.reduce_sum(y * dy)
    dx_tf, dgamma_tf, dbeta_tf = tape.gradient(loss, [xt, layer.gamma, layer.beta])
    bn = batch_norm_forward(x, gamma, beta, mean, var, training=training, momentum=0.9)
    assert np.allclose(bn.y, y.numpy(), atol=1e-10)
    assert np.allclose(bn.moving_mean, layer.moving_mean.numpy(), atol=1e-12)
    assert np.allclose(bn.moving_var, layer.moving_variance.numpy(), atol=1e-12)
    dx, dgamma, dbeta = batch_norm_backward(dy, bn, gamma)
    for mine, theirs in ((dx, dx_tf), (dgamma, dgamma_tf), (dbeta, dbeta_tf)):
        assert np.allclose(mine, theirs.numpy(), atol=1e-10)


def test_batch_norm_statistics_are_per_channel_over_batch_and_pixels():
    x = np.zeros((2, 2, 2, 2))
    x[..., 0] = np.arange(8).reshape(2, 2, 2)  # channel 0: 0..7, channel 1: all zero
    bn = batch_norm_forward(x, np.ones(2), np.zeros(2), np.zeros(2), np.ones(2), training=True, momentum=0.0)
    assert np.allclose(bn.moving_mean, [3.5, 0.0]) and np.allclose(bn.moving_var, [np.var(np.arange(8)), 0.0])
    assert np.allclose(bn.y[..., 0].mean(), 0) and np.allclose(bn.y[..., 1], 0)
    inference = batch_norm_forward(x, np.ones(2), np.zeros(2), [1.0, 0.0], [4.0, 1.0], training=False)
    assert np.allclose(inference.y[..., 0], (x[..., 0] - 1) / np.sqrt(4 + 1e-3))
    assert np.allclose(inference.moving_mean, [1.0, 0.0])  # inference leaves the running statistics alone


def test_batch_norm_backward_in_training_mode_is_blind_to_shifts_and_scales():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 4, 4, 3))
    bn = batch_norm_forward(x, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3), training=True, epsilon=1e-12)
    dx, _, _ = batch_norm_backward(np.ones_like(x) + 2 * bn.x_hat, bn, np.ones(3))
    assert np.allclose(dx, 0, atol=1e-9)  # a shift and a stretch of the output are undone by the batch statistics
    assert isinstance(bn, BatchNormPass) and bn.training


def test_batch_norm_rejects_bad_arguments():
    x, one, zero = np.ones((4, 3)), np.ones(3), np.zeros(3)
    with pytest.raises(ValueError, match=r"gamma must hold one number per channel, shape \(3,\); got shape \(2,\)"):
        batch_norm_forward(x, [1.0, 1.0], zero, zero, one, training=True)
    with pytest.raises(ValueError, match="x must be a non-empty batch with channels last"):
        batch_norm_forward(np.ones(3), one, zero, zero, one, training=True)
    with pytest.raises(TypeError, match="training must be True or False"):
        batch_norm_forward(x, one, zero, zero, one, training=1)
    with pytest.raises(ValueError, match="momentum must be a finite number in \\[0, 1\\]; got 1.5"):
        batch_norm_forward(x, one, zero, zero, one, training=True, momentum=1.5)
    with pytest.raises(ValueError, match="epsilon must be a finite number > 0; got 0"):
        batch_norm_forward(x, one, zero, zero, one, training=True, epsilon=0)
    with pytest.raises(ValueError, match="moving_var must be variances >= 0"):
        batch_norm_forward(x, one, zero, zero, -one, training=True)
    with pytest.raises(ValueError, match="x must be finite numbers"):
        batch_norm_forward(x * np.nan, one, zero, zero, one, training=True)
    bn = batch_norm_forward(x, one, zero, zero, one, training=True)
    with pytest.raises(TypeError, match="bn must be what batch_norm_forward returns"):
        batch_norm_backward(x, (x,), one)
    with pytest.raises(ValueError, match=r"dy must have the shape of the forward pass's output, \(4, 3\)"):
        batch_norm_backward(np.ones((4, 2)), bn, one)

def test_layer_profiles_scale_multiplies_the_initial_weights_and_theory_follows():
    """A setting's ``scale`` measures deep_mlp's network with every kernel multiplied by it; theory=True adds
    mean_field's prediction for that scale, the gradient norm anchored at the measured last hidden layer."""
    grid = [{"depth": 3, "activation": "tanh", "initializer": "lecun_normal", "scale": s} for s in (0.5, 2.0)]
    profiles = layer_profiles(grid, X[:32], Y[:32], width=16, seed=1, theory=True)
    for setting in grid:
        rows = profiles[profiles.scale == setting["scale"]]
        model = deep_mlp(3, 16, activation="tanh", initializer="lecun_normal", seed=1)
        for layer in kernel_layers(model):
            layer.kernel.assign(layer.kernel * setting["scale"])
        np.testing.assert_allclose(rows.grad_norm, layer_gradient_norms(model, X[:32], Y[:32])[:3], rtol=1e-5)
        stats = activation_stats(model, X[:32]).iloc[:3]
        np.testing.assert_allclose(rows["std"], stats["std"], rtol=1e-6)
        theory = mean_field(3, 16, "tanh", "lecun_normal", scale=setting["scale"], input_dim=X.shape[1],
                            input_second_moment=float(np.mean(X[:32].astype(np.float64) ** 2)))
        np.testing.assert_allclose(rows.std_theory, theory["act_std"], rtol=1e-12)
        np.testing.assert_allclose(rows.grad_norm_theory, theory["grad_norm"] * rows.grad_norm.iloc[-1], rtol=1e-12)
    # the larger scale gives larger activations, as theory says
    small, large = (profiles[profiles.scale == s] for s in (0.5, 2.0))
    assert (large["std"].to_numpy() > small["std"].to_numpy()).all()


def test_layer_profiles_rejects_bad_scale_and_theory_for_models_it_cannot_predict():
    with pytest.raises(ValueError, match="scale must be"):
        layer_profiles([{"depth": 2, "scale": 0.0}], X[:8], Y[:8], width=4)
    with pytest.raises(TypeError, match="theory must be"):
        layer_profiles([{"depth": 2}], X[:8], Y[:8], width=4, theory="yes")
    with pytest.raises(ValueError, match="theory=True needs plain deep_mlp settings"):
        layer_profiles([{"depth": 2, "batch_norm": True}], X[:8], Y[:8], width=4, theory=True)
