import keras
import numpy as np
import pytest

from gradbook.gradients import first_last_ratio, layer_gradient_norms
from gradbook.models import deep_mlp
from gradbook.synthetic import teacher_classification
from gradbook.training import TrainingHistory, in_training_mode, train


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


def test_clipnorm_bounds_each_step(data):
    x, y = data
    model = deep_mlp(1, 8, "relu", input_dim=8, num_classes=3, seed=0)
    before = [w.copy() for w in model.get_weights()]
    train(model, x[:64], y[:64], epochs=1, batch_size=64, learning_rate=1.0, momentum=0.0, clipnorm=0.01)
    for b, a in zip(before, model.get_weights()):
        assert np.linalg.norm(a - b) <= 0.01 + 1e-6


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": 0}, "epochs must be an integer >= 1"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1"),
    ({"learning_rate": 0}, "learning_rate must be a finite number > 0"),
    ({"momentum": 1.0}, r"momentum must be in \[0, 1\)"),
    ({"clipnorm": -1.0}, "clipnorm must be a finite number > 0"),
    ({"compiled": "yes"}, "compiled must be True or False"),
])
def test_train_rejects_bad_arguments(data, kwargs, match):
    x, y = data
    with pytest.raises(ValueError, match=match):
        train(deep_mlp(1, 4, input_dim=8, num_classes=3), x, y, **kwargs)


def test_train_rejects_bad_data(data):
    x, y = data
    with pytest.raises(ValueError, match="model must be a keras.Model"):
        train("model", x, y)
    with pytest.raises(ValueError, match="same length"):
        train(deep_mlp(1, 4, input_dim=8, num_classes=3), x, y[:-1])


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
    with pytest.raises(ValueError, match="model must be a keras.Model"):
        in_training_mode(object())
    with pytest.raises(ValueError, match="built functional or Sequential"):
        in_training_mode(keras.Sequential([keras.layers.Dense(2)]))
