"""gradbook.training: the training loop, the training-mode view, one clipped update, the recurrent cliff."""
import keras
import numpy as np
import pytest

from gradbook.data import teacher_classification
from gradbook.gradients import first_last_ratio, layer_gradient_norms
from gradbook.models import deep_mlp
from gradbook.training import TrainingHistory, clipped_update, cliff, descend_cliff, in_training_mode, train


@pytest.fixture(scope="module")
def data():
    return teacher_classification(256, dim=8, num_classes=3, seed=0)


def test_train_records_losses_and_gradients(data):
    x, y = data
    model = deep_mlp(2, 16, "relu", "he_normal", input_dim=8, num_classes=3)
    history = train(model, x, y, epochs=3, batch_size=64, learning_rate=0.05)
    assert isinstance(history, TrainingHistory) and not history.diverged
    assert len(history.loss) == 3 and len(history.step_loss) == 12
    assert list(history.grad_norms.columns) == ["dense_1", "dense_2", "logits"] and len(history.grad_norms) == 12
    assert history.loss[-1] < history.loss[0] and history.final_loss < history.initial_loss
    assert history.first_last_ratio(0) == pytest.approx(history.grad_norms.iloc[0, 0] / history.grad_norms.iloc[0, 1])


def test_train_is_reproducible_and_compiled_matches_eager(data):
    x, y = data
    runs = []
    for compiled in (True, True, False):
        model = deep_mlp(2, 8, "tanh", input_dim=8, num_classes=3, seed=1)
        runs.append(train(model, x, y, epochs=1, batch_size=100, compiled=compiled, seed=2).step_loss)
    assert np.array_equal(runs[0], runs[1])
    np.testing.assert_allclose(runs[0], runs[2], rtol=1e-4)
    assert len(runs[0]) == 3  # 100 + 100 + 56


def test_train_stops_on_divergence_and_never_applies_a_bad_step(data):
    x, y = data
    model = deep_mlp(3, 16, "relu", 5.0, input_dim=8, num_classes=3)  # weights N(0, 25): the logits overflow
    history = train(model, x, y, epochs=3, batch_size=64, learning_rate=1.0)
    assert history.diverged and history.diverged_at is not None
    assert np.isnan(history.loss[-1]) and np.isnan(history.final_loss)
    assert len(history.step_loss) == history.diverged_at + 1


def test_gradient_norms_are_float64_so_a_finite_gradient_is_not_taken_for_a_divergence():
    model = deep_mlp(1, 4, "linear", input_dim=4, num_classes=2)
    model.get_layer("dense_1").kernel.assign(np.full((4, 4), 1e-15, "float32"))
    model.get_layer("logits").kernel.assign(np.tile([[1e5, -1e5]], (4, 1)).astype("float32"))
    # ∂L/∂W_1 = x^T (δ W_2^T) with x = 1e15 and |δ| = 1/2: entries 1e20, finite, whose squares overflow float32
    history = train(model, np.full((2, 4), 1e15), np.array([0, 1]), epochs=1, batch_size=2, learning_rate=1e-30,
                    momentum=0.0)
    assert (history.grad_norms.dtypes == np.float64).all()
    assert not history.diverged and history.grad_norms.loc[0, "dense_1"] == pytest.approx(4e20, rel=1e-3)


def test_clipnorm_bounds_each_step(data):
    x, y = data
    model = deep_mlp(1, 8, "relu", input_dim=8, num_classes=3, seed=0)
    before = [w.copy() for w in model.get_weights()]
    train(model, x[:64], y[:64], epochs=1, batch_size=64, learning_rate=1.0, momentum=0.0, clipnorm=0.01)
    for b, a in zip(before, model.get_weights()):
        assert np.linalg.norm(a - b) <= 0.01 + 1e-6


def test_train_fits_a_regression_with_adam_on_the_squared_error():
    """loss="mse" takes float targets (a missing last axis of 1 added) and reports the mean squared error."""
    x = np.random.default_rng(0).normal(size=(256, 3)).astype("float32")
    y = x @ np.array([1.0, -2.0, 0.5], "float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, kernel_initializer="zeros")])
    history = train(model, x, y, epochs=20, batch_size=32, learning_rate=0.05, loss="mse", optimizer="adam")
    assert history.initial_loss == pytest.approx(float(np.mean(y ** 2)), rel=1e-5)  # the zero model's error
    assert history.final_loss < 1e-3 < history.initial_loss and not history.diverged
    np.testing.assert_allclose(model.layers[0].kernel.numpy()[:, 0], [1.0, -2.0, 0.5], atol=0.05)
    assert list(history.grad_norms.columns) == [model.layers[0].name]


def test_train_rejects_regression_targets_of_the_wrong_shape():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match=r"y must have per-sample shape \(1,\)"):
        train(model, np.zeros((4, 3)), np.zeros((4, 2)), loss="mse")
    with pytest.raises(TypeError, match="y must be an array of numbers"):
        train(model, np.zeros((4, 3)), np.array(["a", "b", "c", "d"]), loss="mse")


@pytest.mark.parametrize("kwargs, error, match", [
    ({"loss": "hinge"}, ValueError, "loss must be one of 'cross_entropy', 'mse'"),
    ({"optimizer": "rmsprop"}, ValueError, "optimizer must be one of 'sgd', 'adam'"),
    ({"loss": 2}, TypeError, "loss must be one of 'cross_entropy', 'mse'; got 2"),
    ({"optimizer": None}, TypeError, "optimizer must be one of 'sgd', 'adam'; got None"),
    ({"epochs": 0}, ValueError, "epochs must be an integer >= 1"),
    ({"batch_size": 0}, ValueError, "batch_size must be an integer >= 1"),
    ({"learning_rate": 0}, ValueError, "learning_rate must be a finite number > 0"),
    ({"momentum": 1.0}, ValueError, r"momentum must be a finite number in \[0, 1\)"),
    ({"clipnorm": -1.0}, ValueError, "clipnorm must be a finite number > 0"),
    ({"compiled": "yes"}, TypeError, "compiled must be True or False"),
    ({"seed": 1.5}, TypeError, "seed must be an integer >= 0"),
])
def test_train_rejects_bad_arguments(data, kwargs, error, match):
    x, y = data
    with pytest.raises(error, match=match):
        train(deep_mlp(1, 4, input_dim=8, num_classes=3), x, y, **kwargs)


def test_train_rejects_bad_data(data):
    x, y = data
    with pytest.raises(TypeError, match="model must be a keras.Model"):
        train("model", x, y)
    with pytest.raises(ValueError, match="y must hold as many samples as x"):
        train(deep_mlp(1, 4, input_dim=8, num_classes=3), x, y[:-1])
    with pytest.raises(ValueError, match=r"x must be a non-empty batch of shape \(N, 9\)"):
        train(deep_mlp(1, 4, input_dim=9, num_classes=3), x, y)


def test_in_training_mode_uses_batch_statistics():
    model = deep_mlp(6, 32, "sigmoid", batch_norm=True, input_dim=8, seed=0)
    x = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    y = np.arange(64) % 10
    inference = layer_gradient_norms(model, x, y, compiled=False)
    training = layer_gradient_norms(in_training_mode(model), x, y, compiled=False)
    assert list(training.index) == list(inference.index)
    assert not np.allclose(training.values, inference.values)
    assert first_last_ratio(training.drop("logits")) > 10 * first_last_ratio(inference.drop("logits"))


def test_in_training_mode_rejects_non_models():
    with pytest.raises(TypeError, match="model must be a keras.Model"):
        in_training_mode(object())
    with pytest.raises(ValueError, match="model must be a functional or Sequential model built with an Input"):
        in_training_mode(keras.Sequential([keras.layers.Dense(2)]))


# --- clipped_update ------------------------------------------------------------------------------------------------

def test_the_three_clipping_arguments_on_a_known_gradient():
    g = [[300.0, 400.0]]
    np.testing.assert_allclose(clipped_update(g, 0.1)[0], [-30.0, -40.0])
    np.testing.assert_allclose(clipped_update(g, 0.1, clipnorm=1.0)[0], [-0.06, -0.08], rtol=1e-6)
    np.testing.assert_allclose(clipped_update(g, 0.1, clipvalue=1.0)[0], [-0.1, -0.1], rtol=1e-6)
    np.testing.assert_allclose(clipped_update(g, 0.1, global_clipnorm=1.0)[0], [-0.06, -0.08], rtol=1e-6)


def test_clipnorm_is_per_variable_and_global_clipnorm_is_joint():
    g = [[300.0, 400.0], [0.0, 5.0]]
    per = clipped_update(g, 1.0, clipnorm=1.0)
    joint = clipped_update(g, 1.0, global_clipnorm=1.0)
    assert [round(float(np.linalg.norm(u)), 5) for u in per] == [1.0, 1.0]
    assert np.sqrt(sum(float((u ** 2).sum()) for u in joint)) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(joint[1] / joint[0][1], np.array(g[1]) / g[0][1], rtol=1e-4)  # direction kept


def test_two_clip_arguments_are_refused_like_keras():
    with pytest.raises(ValueError, match="at most one of"):
        clipped_update([[1.0]], clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="Only one of"):
        keras.optimizers.SGD(0.1, clipnorm=1.0, clipvalue=1.0)


@pytest.mark.parametrize("args, kwargs, error, match", [
    (([[1.0]], 0.0), {}, ValueError, "learning_rate must be a finite number > 0"),
    (([[1.0]],), {"clipnorm": 0.0}, ValueError, "clipnorm must be a finite number > 0"),
    (([[1.0]],), {"clip": 1.0}, TypeError, "clip arguments must be among"),
    (([],), {}, ValueError, "non-empty list"),
    (([[np.inf]],), {}, ValueError, r"gradients\[0\] must be finite numbers"),
    (("grad",), {}, TypeError, "gradients must be a list of arrays"),
])
def test_clipped_update_rejects_bad_arguments(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        clipped_update(*args, **kwargs)


# --- cliff and descend_cliff ---------------------------------------------------------------------------------------

def test_cliff_gradient_matches_finite_differences():
    w, b, h = np.array([1.0, 4.0, 6.0]), np.array([-2.5, -1.0, 0.3]), 1e-6
    exact = cliff(w, b)
    dw = (cliff(w + h, b)["loss"] - cliff(w - h, b)["loss"]) / (2 * h)
    db = (cliff(w, b + h)["loss"] - cliff(w, b - h)["loss"]) / (2 * h)
    np.testing.assert_allclose(exact["dL_dw"], dw, rtol=1e-5)
    np.testing.assert_allclose(exact["dL_db"], db, rtol=1e-5)


def test_cliff_has_a_cliff():
    """Pascanu et al.'s setting: |dL/dw| peaks in the hundreds near w = 4.8 while its median over w is a few units."""
    c = cliff(np.linspace(0, 10, 2001), -2.5)
    g = c["dL_dw"].abs()
    assert g.max() > 100 and 4.5 < c["w"][g.idxmax()] < 5.1 and 1 < g.median() < 10


def test_descend_cliff_clips_every_step():
    path = descend_cliff(5.25, -1.75, learning_rate=0.1, iterations=30, clip=2.0)
    assert len(path) == 31 and path["step_norm"].max() <= 0.2 + 1e-12
    free = descend_cliff(5.25, -1.75, learning_rate=0.1, iterations=30)
    assert free["step_norm"].max() > 10  # the unclipped run is thrown off the cliff
    fixed = descend_cliff(3.0, -2.5, iterations=5, learn_bias=False)
    assert np.all(fixed["b"] == -2.5)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"learning_rate": 0.0}, ValueError, "learning_rate must be a finite number > 0"),
    ({"iterations": 0}, ValueError, "iterations must be an integer >= 1"),
    ({"clip": -1.0}, ValueError, "clip must be a finite number > 0"),
    ({"learn_bias": "no"}, TypeError, "learn_bias must be True or False"),
])
def test_descend_cliff_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        descend_cliff(3.0, -2.5, **kwargs)


def test_cliff_rejects_bad_arguments():
    with pytest.raises(ValueError, match="w must be finite numbers"):
        cliff(np.nan, 0.0)
    with pytest.raises(TypeError, match="b must be finite numbers"):
        cliff(1.0, "zero")
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        cliff(1.0, 0.0, steps=0)
