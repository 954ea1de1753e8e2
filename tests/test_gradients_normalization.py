"""gradbook.gradients.normalization: batch normalisation's forward and backward pass in NumPy, against Keras."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from gradbook.gradients import BatchNormPass, batch_norm_backward, batch_norm_forward


# --- batch_norm_forward / batch_norm_backward ----------------------------------------------------------------------

def _keras_bn(x, gamma, beta, mean, var, momentum=0.9):
    layer = keras.layers.BatchNormalization(momentum=momentum, dtype="float64")
    layer.build(x.shape)
    for variable, value in zip((layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance),
                               (gamma, beta, mean, var)):
        variable.assign(value)
    return layer


@pytest.mark.parametrize("shape", [(5, 4, 3, 2), (7, 3)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_forward_and_backward_match_keras_and_autodiff(shape, training):
    rng = np.random.default_rng(2)
    c = shape[-1]
    x = rng.normal(1.5, 2.0, size=shape)
    gamma, beta = rng.uniform(0.5, 2, c), rng.normal(size=c)
    mean, var = rng.normal(size=c), rng.uniform(0.5, 2, c)
    layer = _keras_bn(x, gamma, beta, mean, var)
    xt, dy = tf.constant(x), rng.normal(size=shape)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt, training=training)
        loss = tf.reduce_sum(y * dy)
    dx_tf, dgamma_tf, dbeta_tf = tape.gradient(loss, [xt, layer.gamma, layer.beta])
    bn = batch_norm_forward(x, gamma, beta, mean, var, training=training, momentum=0.9)
    assert np.allclose(bn.y, y.numpy(), atol=1e-10)
    assert np.allclose(bn.moving_mean, layer.moving_mean.numpy(), atol=1e-12)
    assert np.allclose(bn.moving_var, layer.moving_variance.numpy(), atol=1e-12)
    dx, dgamma, dbeta = batch_norm_backward(dy, bn, gamma)
    for mine, theirs in ((dx, dx_tf), (dgamma, dgamma_tf), (dbeta, dbeta_tf)):
        assert np.allclose(mine, theirs.numpy(), atol=1e-10)


def test_batch_norm_statistics_are_per_channel_over_batch_and_pixels():
    x = np.zeros((2, 2, 2, 2))
    x[..., 0] = np.arange(8).reshape(2, 2, 2)  # channel 0: 0..7, channel 1: all zero
    bn = batch_norm_forward(x, np.ones(2), np.zeros(2), np.zeros(2), np.ones(2), training=True, momentum=0.0)
    assert np.allclose(bn.moving_mean, [3.5, 0.0]) and np.allclose(bn.moving_var, [np.var(np.arange(8)), 0.0])
    assert np.allclose(bn.y[..., 0].mean(), 0) and np.allclose(bn.y[..., 1], 0)
    inference = batch_norm_forward(x, np.ones(2), np.zeros(2), [1.0, 0.0], [4.0, 1.0], training=False)
    assert np.allclose(inference.y[..., 0], (x[..., 0] - 1) / np.sqrt(4 + 1e-3))
    assert np.allclose(inference.moving_mean, [1.0, 0.0])  # inference leaves the running statistics alone


def test_batch_norm_backward_in_training_mode_is_blind_to_shifts_and_scales():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 4, 4, 3))
    bn = batch_norm_forward(x, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3), training=True, epsilon=1e-12)
    dx, _, _ = batch_norm_backward(np.ones_like(x) + 2 * bn.x_hat, bn, np.ones(3))
    assert np.allclose(dx, 0, atol=1e-9)  # a shift and a stretch of the output are undone by the batch statistics
    assert isinstance(bn, BatchNormPass) and bn.training


def test_batch_norm_rejects_bad_arguments():
    x, one, zero = np.ones((4, 3)), np.ones(3), np.zeros(3)
    with pytest.raises(ValueError, match=r"gamma must hold one number per channel, shape \(3,\); got shape \(2,\)"):
        batch_norm_forward(x, [1.0, 1.0], zero, zero, one, training=True)
    with pytest.raises(ValueError, match="x must be a non-empty batch with channels last"):
        batch_norm_forward(np.ones(3), one, zero, zero, one, training=True)
    with pytest.raises(TypeError, match="training must be True or False"):
        batch_norm_forward(x, one, zero, zero, one, training=1)
    with pytest.raises(ValueError, match="momentum must be a finite number in \\[0, 1\\]; got 1.5"):
        batch_norm_forward(x, one, zero, zero, one, training=True, momentum=1.5)
    with pytest.raises(ValueError, match="epsilon must be a finite number > 0; got 0"):
        batch_norm_forward(x, one, zero, zero, one, training=True, epsilon=0)
    with pytest.raises(ValueError, match="moving_var must be variances >= 0"):
        batch_norm_forward(x, one, zero, zero, -one, training=True)
    with pytest.raises(ValueError, match="x must be finite numbers"):
        batch_norm_forward(x * np.nan, one, zero, zero, one, training=True)
    bn = batch_norm_forward(x, one, zero, zero, one, training=True)
    with pytest.raises(TypeError, match="bn must be what batch_norm_forward returns"):
        batch_norm_backward(x, (x,), one)
    with pytest.raises(ValueError, match=r"dy must have the shape of the forward pass's output, \(4, 3\)"):
        batch_norm_backward(np.ones((4, 2)), bn, one)
