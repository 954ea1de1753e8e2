"""gradbook.models.init_residual_branches (appended to models.py for chapter 6)."""
import numpy as np
import pytest

from gradbook.models import deep_mlp, init_residual_branches


def test_branches_are_redrawn_scaled_and_reproducible():
    a = init_residual_branches(deep_mlp(4, 16, "relu", residual=True, seed=0), scale=0.5, seed=1)
    b = init_residual_branches(deep_mlp(4, 16, "relu", residual=True, seed=0), scale=1.0, seed=1)
    wa, wb = a.get_layer("dense_3_out").kernel.numpy(), b.get_layer("dense_3_out").kernel.numpy()
    assert np.abs(wb).max() > 0 and np.allclose(wa, 0.5 * wb)
    assert not np.allclose(wb, b.get_layer("dense_2_out").kernel.numpy())
    assert np.all(init_residual_branches(a, scale=0.0).get_layer("dense_2_out").kernel.numpy() == 0)


def test_full_scale_branches_blow_up_the_forward_signal():
    x = np.random.default_rng(0).normal(size=(32, 784)).astype("float32")
    zero = deep_mlp(21, 32, "relu", "he_normal", residual=True, seed=0)
    full = init_residual_branches(deep_mlp(21, 32, "relu", "he_normal", residual=True, seed=0))
    assert np.std(full(x)) > 100 * np.std(zero(x))


def test_init_residual_branches_rejects_bad_arguments():
    with pytest.raises(ValueError, match="no residual branch"):
        init_residual_branches(deep_mlp(3, 4))
    with pytest.raises(ValueError, match="scale must be a finite number >= 0"):
        init_residual_branches(deep_mlp(3, 4, residual=True), scale=-1.0)
    with pytest.raises(ValueError, match="initializer must be one of"):
        init_residual_branches(deep_mlp(3, 4, residual=True), "xavier")
    with pytest.raises(ValueError, match="model must be a keras.Model"):
        init_residual_branches("model")
