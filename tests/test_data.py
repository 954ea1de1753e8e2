import os

import numpy as np
import pytest

import gradbook.data as data
from gradbook.data import adding_problem, load_mnist, mnist_batch, resolve_source, teacher_classification, to_float


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
    with pytest.raises(TypeError, match=r"source must be one of 'subset', 'keras', 'auto' or None; got 5 \(int\)"):
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
    with pytest.raises(ValueError, match="n must be an integer >= 1; got 0"):
        mnist_batch(0, source="subset")
    with pytest.raises(ValueError, match="n must be at most 1000 for the test split"):
        mnist_batch(1001, source="subset", split="test")
    with pytest.raises(ValueError, match="images must have shape"):
        to_float(np.zeros((3, 784)))
    with pytest.raises(ValueError, match="flatten and channels must not both be True"):
        to_float(np.zeros((3, 28, 28)), flatten=True, channels=True)
    with pytest.raises(TypeError, match="flatten must be True or False"):
        to_float(np.zeros((3, 28, 28)), flatten=1)
    with pytest.raises(ValueError, match="split must be one of"):
        mnist_batch(4, split="valid")


# --- teacher_classification ------------------------------------------------------------------------------------------

def test_teacher_data_shapes_types_and_determinism():
    x, y = teacher_classification(128, dim=6, num_classes=4, seed=3)
    assert x.shape == (128, 6) and x.dtype == np.float32
    assert y.shape == (128,) and y.dtype == np.int64 and set(np.unique(y)) <= set(range(4))
    x2, y2 = teacher_classification(128, dim=6, num_classes=4, seed=3)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert not np.array_equal(y, teacher_classification(128, dim=6, num_classes=4, seed=4)[1])


def test_teacher_labels_are_linearly_separable():
    """Least squares on one-hot targets recovers the teacher's argmax for almost every sample."""
    x, y = teacher_classification(2000, dim=8, num_classes=3, seed=0)
    w, *_ = np.linalg.lstsq(np.c_[x, np.ones(len(x))], np.eye(3)[y], rcond=None)
    assert np.mean(np.argmax(np.c_[x, np.ones(len(x))] @ w, 1) == y) > 0.85


def test_label_noise_changes_some_labels():
    _, clean = teacher_classification(1000, seed=1)
    _, noisy = teacher_classification(1000, seed=1, label_noise=0.5)
    assert 0.2 < np.mean(clean != noisy) < 0.6


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n": 0}, ValueError, "n must be an integer >= 1"),
    ({"num_classes": 1}, ValueError, "num_classes must be an integer >= 2"),
    ({"dim": 2.5}, TypeError, "dim must be an integer"),
    ({"seed": -1}, ValueError, "seed must be an integer >= 0"),
    ({"label_noise": 1.0}, ValueError, r"label_noise must be a finite number in \[0, 1\)"),
    ({"label_noise": -0.1}, ValueError, r"label_noise must be a finite number in \[0, 1\)"),
])
def test_teacher_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        teacher_classification(**kwargs)


# --- adding_problem --------------------------------------------------------------------------------------------------

def test_adding_problem_layout_markers_and_targets():
    x, y = adding_problem(500, steps=20, seed=3)
    assert x.shape == (500, 20, 2) and x.dtype == np.float32 and y.shape == (500,) and y.dtype == np.float32
    numbers, markers = x[..., 0], x[..., 1]
    assert numbers.min() >= 0 and numbers.max() < 1 and set(np.unique(markers)) == {0.0, 1.0}
    assert np.all(markers[:, :10].sum(axis=1) == 1) and np.all(markers[:, 10:].sum(axis=1) == 1)  # one per half
    np.testing.assert_allclose(y, (numbers * markers).sum(axis=1), rtol=1e-6)
    first = markers[:, :10].argmax(axis=1)
    assert set(first) == set(range(10))  # every step of the first half is used


def test_adding_problem_statistics_give_the_baselines():
    """Mean 1 and variance 1/6: always predicting 1 has a squared error of 1/6, the second number alone 1/12."""
    x, y = adding_problem(40_000, steps=10, seed=0)
    assert abs(y.mean() - 1) < 0.01 and abs(y.var() - 1 / 6) < 0.005
    second = (x[:, 5:, 0] * x[:, 5:, 1]).sum(axis=1)
    assert abs(np.mean((second + 0.5 - y) ** 2) - 1 / 12) < 0.003


def test_adding_problem_is_fixed_by_its_seed():
    a, b = adding_problem(8, seed=1), adding_problem(8, seed=1)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], adding_problem(8, seed=2)[1])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n": 0}, ValueError, "n must be an integer >= 1"),
    ({"steps": 7}, ValueError, "steps must be an even integer >= 2"),
    ({"steps": 0}, ValueError, "steps must be an integer >= 2"),
    ({"steps": 50.0}, TypeError, "steps must be an integer"),
    ({"seed": -1}, ValueError, "seed must be an integer >= 0"),
])
def test_adding_problem_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        adding_problem(**kwargs)
