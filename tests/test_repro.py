import numpy as np
import pytest

from gradbook.models import deep_mlp
from gradbook.repro import set_seed


def _draw():
    import tensorflow as tf

    return np.random.rand(3), tf.random.uniform((3,)).numpy(), deep_mlp(2, 8, seed=None).layers[1].kernel.numpy()


def test_set_seed_reproduces_numpy_tensorflow_and_keras_weights():
    set_seed(123)
    first = _draw()
    set_seed(123)
    second = _draw()
    for a, b in zip(first, second):
        assert np.array_equal(a, b)
    set_seed(124)
    third = _draw()
    assert not any(np.array_equal(a, b) for a, b in zip(first, third))


@pytest.mark.parametrize("bad", [-1, 1.5, "0", None, True])
def test_set_seed_rejects_non_integers(bad):
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        set_seed(bad)
