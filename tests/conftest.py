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
