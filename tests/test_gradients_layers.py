"""gradbook.gradients.layers: per-layer gradient norms, activation statistics, dy/dx along a line, autocorrelation,
and the per-layer profiles of a grid of networks."""
import keras
import numpy as np
import pandas as pd
import pytest

from gradbook.gradients import (activation_stats, autocorrelation, first_last_ratio, gradient_along_line,
                                kernel_layers, layer_gradient_norms, layer_profiles)
from gradbook.models import deep_mlp, seed_cnn
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
