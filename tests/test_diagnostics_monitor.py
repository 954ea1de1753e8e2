"""gradbook.diagnostics.monitor: GradientMonitor records the training gradients themselves while fit trains."""
import keras
import numpy as np
import pytest

from gradbook.data import mnist_batch
from gradbook.diagnostics import BOOK_SECTIONS, GradientMonitor
from gradbook.gradients import kernel_layers, layer_gradient_norms
from gradbook.models import deep_mlp, seed_cnn

SPARSE_LOGITS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@pytest.fixture(scope="module")
def batch():
    return mnist_batch(256)


@pytest.fixture(scope="module")
def images():
    return mnist_batch(256, flatten=False)


def _compiled_mlp(lr=0.01):
    model = deep_mlp(3, 16, activation="relu", initializer="he_normal")
    model.compile(optimizer=keras.optimizers.SGD(lr), loss=SPARSE_LOGITS)
    return model


def test_monitor_records_one_row_per_step_and_one_column_per_layer(batch):
    x, y = batch[0][:64], batch[1][:64]
    model, monitor = _compiled_mlp(), GradientMonitor()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[monitor])
    assert monitor.history.shape == (8, 4) and monitor.update_ratio.shape == (8, 4)
    assert list(monitor.history.index) == list(range(8)) and monitor.history.index.name == "step"
    assert list(monitor.history.columns) == [l.name for l in kernel_layers(model)]
    assert np.isfinite(monitor.history.values).all() and (monitor.history.values > 0).all()
    assert (monitor.update_ratio.values > 0).all() and (monitor.update_ratio.values < 0.1).all()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # without the monitor: nothing recorded
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[monitor])  # steps continue across fits
    assert list(monitor.history.index) == list(range(8)) + [12, 13]
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=SPARSE_LOGITS)  # a new optimizer counts from 0 again
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[monitor])
    assert list(monitor.history.index) == list(range(8)) + [12, 13, 14, 15]
    every = GradientMonitor(every=3)
    _compiled_mlp().fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[every])
    assert list(every.history.index) == [0, 3, 6] and every.every == 3


def test_monitor_matches_layer_gradient_norms_on_the_same_batch(batch):
    x, y = batch[0][:64], batch[1][:64]
    model, monitor = _compiled_mlp(lr=0.01), GradientMonitor()
    expected = layer_gradient_norms(model, x, y, loss=SPARSE_LOGITS)
    weights = np.array([np.linalg.norm(l.kernel.numpy()) for l in kernel_layers(model)])
    model.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0, callbacks=[monitor])
    np.testing.assert_allclose(monitor.history.iloc[0].values, expected.values, rtol=1e-5)
    # plain SGD: the step is 0.01 × the gradient, so the update/weight ratio is 0.01 ‖∂L/∂W‖ / ‖W‖
    np.testing.assert_allclose(monitor.update_ratio.iloc[0].values, 0.01 * expected.values / weights, rtol=1e-4)


def test_monitor_works_for_the_cnn_and_subclassed_models(images, batch, deep_subclassed):
    x, y = images[0][:64], keras.utils.to_categorical(images[1][:64], 10)
    cnn = seed_cnn()
    cnn.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    monitor = GradientMonitor(every=2)
    cnn.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[monitor])
    assert list(monitor.history.columns) == ["conv_1", "conv_2", "conv_3", "dense_1", "output"]
    assert list(monitor.history.index) == [0, 2]
    sub = deep_subclassed(2, "relu")
    sub.compile(optimizer="adam", loss=SPARSE_LOGITS)
    monitor = GradientMonitor()
    sub.fit(batch[0][:32], batch[1][:32], batch_size=16, verbose=0, callbacks=[monitor])
    assert monitor.history.shape == (2, 3)


def test_monitor_stops_on_nan_with_a_clear_message(batch, capsys):
    x, y = batch[0][:64].copy(), batch[1][:64]
    x[40] = np.nan  # in the third batch of 16: step 2
    model, monitor = _compiled_mlp(), GradientMonitor(stop_on_nonfinite=True)
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, callbacks=[monitor])
    assert list(monitor.history.index) == [0, 1, 2] and monitor.nonfinite_steps == [2]
    assert len(history.history["loss"]) == 1 and model.stop_training
    assert "step 2" in monitor.stop_reason and "NaN" in monitor.stop_reason and "stopped" in monitor.stop_reason
    assert BOOK_SECTIONS["clipping"] in monitor.stop_reason
    assert "dense_1" in capsys.readouterr().err


def test_monitor_without_stop_says_so_once_and_goes_on(batch, capsys):
    x, y = batch[0][:64].copy(), batch[1][:64]
    x[40] = np.nan
    monitor = GradientMonitor(every=10)
    _compiled_mlp().fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[monitor])
    assert list(monitor.history.index) == [0, 2, 3] and monitor.nonfinite_steps == [2, 3]  # NaN steps always kept
    assert monitor.stop_reason is None and capsys.readouterr().err.count("non-finite gradient") == 1


def test_monitor_rejects_bad_arguments():
    with pytest.raises(ValueError, match="every must be an integer >= 1"):
        GradientMonitor(every=0)
    with pytest.raises(TypeError, match="stop_on_nonfinite must be True or False"):
        GradientMonitor(stop_on_nonfinite="yes")
    assert GradientMonitor().history.empty
    model = keras.Sequential([keras.Input((3,)), keras.layers.Softmax()])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="model must have a layer with a kernel"):
        model.fit(np.ones((4, 3)), np.ones((4, 3)), verbose=0, callbacks=[GradientMonitor()])
