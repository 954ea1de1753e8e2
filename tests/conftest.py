"""Shared fixtures for gradbook's unit tests."""

import pytest

import gradbook  # noqa: F401  (sets TensorFlow's log level before TensorFlow is imported)


@pytest.fixture(scope="session")
def subset():
    """The offline MNIST subset, loaded once."""
    from gradbook.data import load_mnist

    return load_mnist("subset")


@pytest.fixture
def offline_keras(monkeypatch, tmp_path):
    """A Keras home without MNIST and a network that cannot be reached."""
    import gradbook.data as data

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(data, "_reachable", lambda url, timeout=3.0: False)
    return tmp_path


@pytest.fixture
def deep_subclassed():
    """A subclassed MLP builder, ``deep_subclassed(depth, activation, width=32)``: Keras cannot tap its intermediate
    outputs."""
    import keras

    class DeepSubclassed(keras.Model):
        def __init__(self, depth, activation, width=32):
            super().__init__(name="deep_subclassed")
            self.hidden = [keras.layers.Dense(width, activation=activation) for _ in range(depth)]
            self.head = keras.layers.Dense(10)

        def call(self, x):
            for layer in self.hidden:
                x = layer(x)
            return self.head(x)

    return DeepSubclassed
