import os

import numpy as np
import pytest

import gradbook.data as data
from gradbook.data import load_mnist, mnist_batch, resolve_source, to_float


def test_subset_layout_matches_keras(subset):
    (xtr, ytr), (xte, yte) = subset
    assert xtr.shape == (4000, 28, 28) and xte.shape == (1000, 28, 28)
    assert xtr.dtype == np.uint8 and ytr.dtype == np.uint8 and xte.dtype == np.uint8 and yte.dtype == np.uint8
    assert ytr.shape == (4000,) and yte.shape == (1000,)
    assert xtr.max() == 255 and xtr.min() == 0
    assert set(np.unique(ytr)) == set(range(10)) == set(np.unique(yte))


def test_subset_split_is_stratified(subset):
    (_, ytr), (_, yte) = subset
    assert np.all(np.bincount(ytr, minlength=10) == 400)
    assert np.all(np.bincount(yte, minlength=10) == 100)


def test_subset_has_no_image_in_both_splits(subset):
    (xtr, _), (xte, _) = subset
    train = {img.tobytes() for img in xtr}
    assert not any(img.tobytes() in train for img in xte)
    assert len(train) == 4000  # and no duplicates inside train either


def test_subset_is_fixed_and_shuffled(subset):
    (xtr, ytr), _ = load_mnist("subset")
    assert np.array_equal(xtr, subset[0][0]) and np.array_equal(ytr, subset[0][1])
    assert len(set(ytr[:20].tolist())) > 3  # shuffled, not sorted by class
    xtr[0, 0, 0] = 7  # callers get copies: mutating one does not change the next load
    assert load_mnist("subset")[0][0][0, 0, 0] == subset[0][0][0, 0, 0]


def test_bad_source_names_allowed_values():
    with pytest.raises(ValueError, match=r"source must be one of 'subset', 'keras', 'auto'; got 'mnist'"):
        load_mnist("mnist")
    with pytest.raises(TypeError, match=r"source must be a string"):
        load_mnist(5)


def test_default_is_the_subset_even_where_keras_has_mnist(offline_keras, monkeypatch):
    """The book's data on every machine: a Keras cache does not change the default (a reader's numbers match)."""
    monkeypatch.delenv("GRADBOOK_MNIST", raising=False)
    path = data.keras_mnist_path()
    path.parent.mkdir(parents=True)
    np.savez(path, x_train=np.zeros((6, 28, 28), np.uint8), y_train=np.zeros(6, np.uint8),
             x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.zeros(2, np.uint8))
    assert resolve_source() == "subset"
    assert load_mnist()[0][0].shape == (4000, 28, 28)
    assert load_mnist("keras")[0][0].shape == (6, 28, 28)  # opt-in


def test_env_var_chooses_the_source(monkeypatch, subset):
    monkeypatch.setenv("GRADBOOK_MNIST", "subset")
    assert resolve_source() == "subset"
    (xtr, _), _ = load_mnist()
    assert xtr.shape == (4000, 28, 28)
    monkeypatch.setenv("GRADBOOK_MNIST", "keras")
    assert resolve_source() == "keras"
    assert resolve_source("subset") == "subset"  # an explicit source wins over the environment


def test_bad_env_var_is_a_value_error(monkeypatch):
    monkeypatch.setenv("GRADBOOK_MNIST", "cifar")
    with pytest.raises(ValueError, match="GRADBOOK_MNIST"):
        load_mnist()


def test_forced_keras_offline_fails_fast(offline_keras, monkeypatch):
    monkeypatch.delenv("GRADBOOK_MNIST", raising=False)
    with pytest.raises(RuntimeError, match="source='subset'"):
        load_mnist("keras")


def test_auto_falls_back_with_one_line_notice(offline_keras, monkeypatch, capsys):
    monkeypatch.delenv("GRADBOOK_MNIST", raising=False)
    (xtr, _), _ = load_mnist("auto")
    assert xtr.shape == (4000, 28, 28)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "subset" in err[0]


def test_auto_uses_keras_cache_when_present(offline_keras, monkeypatch, capsys):
    """A cached mnist.npz is used without any network, and its arrays come back unchanged."""
    monkeypatch.delenv("GRADBOOK_MNIST", raising=False)
    path = data.keras_mnist_path()
    path.parent.mkdir(parents=True)
    rng = np.random.default_rng(0)
    fake = {"x_train": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8), "y_train": np.arange(6, dtype=np.uint8),
            "x_test": rng.integers(0, 256, (2, 28, 28), dtype=np.uint8), "y_test": np.arange(2, dtype=np.uint8)}
    np.savez(path, **fake)
    (xtr, ytr), (xte, yte) = load_mnist("auto")
    assert np.array_equal(xtr, fake["x_train"]) and np.array_equal(yte, fake["y_test"])
    assert "Keras" in capsys.readouterr().err


def test_to_float_and_batch(subset):
    x = to_float(subset[0][0][:3], flatten=True)
    assert x.shape == (3, 784) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert to_float(subset[0][0][:3], channels=True).shape == (3, 28, 28, 1)
    xb, yb = mnist_batch(16, source="subset")
    assert xb.shape == (16, 784) and np.array_equal(yb, subset[0][1][:16])
    with pytest.raises(ValueError, match="n must be"):
        mnist_batch(0, source="subset")
    with pytest.raises(ValueError, match="images must have shape"):
        to_float(np.zeros((3, 784)))
    with pytest.raises(ValueError, match="split must be one of"):
        mnist_batch(4, split="valid")
