import numpy as np
import pytest

from gradbook.synthetic import teacher_classification


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


@pytest.mark.parametrize("kwargs, match", [
    ({"n": 0}, "n must be an integer >= 1"),
    ({"num_classes": 1}, "num_classes must be an integer >= 2"),
    ({"dim": 2.5}, "dim must be an integer"),
    ({"seed": -1}, "seed must be an integer >= 0"),
    ({"label_noise": 1.0}, r"label_noise must be in \[0, 1\)"),
    ({"label_noise": -0.1}, "label_noise must be a finite number >= 0"),
])
def test_teacher_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        teacher_classification(**kwargs)
