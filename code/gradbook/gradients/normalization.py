"""Batch normalisation's forward and backward pass written out in NumPy (float64), for dense and convolutional
layers alike: statistics per channel over every other axis.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from gradbook._validate import finite_array, flag, instance, number, value_error


class BatchNormPass(NamedTuple):
    """What ``batch_norm_forward`` computed: the output ``y``, the moving statistics after the pass, and what
    ``batch_norm_backward`` needs — the normalised input ``x_hat``, ``inv_std`` = 1/√(σ² + ε) per channel, and the mode.

    Example:
        >>> bn = batch_norm_forward(np.ones((2, 3)), np.ones(3), np.zeros(3), np.zeros(3), np.ones(3), training=True)
        >>> bn.y.shape, bn.training
        ((2, 3), True)
    """

    y: np.ndarray
    moving_mean: np.ndarray
    moving_var: np.ndarray
    x_hat: np.ndarray
    inv_std: np.ndarray
    training: bool


def _channels(name: str, value: Any, channels: int) -> np.ndarray:
    array = finite_array(name, value)
    if array.shape != (channels,):
        raise ValueError(f"{name} must hold one number per channel, shape ({channels},); got shape {array.shape}")
    return array


def batch_norm_forward(x: Any, gamma: Any, beta: Any, moving_mean: Any, moving_var: Any, *, training: bool,
                       momentum: float = 0.9, epsilon: float = 1e-3) -> BatchNormPass:
    """Batch normalisation of a channels-last array, in float64: statistics per channel over every other axis —
    ``(N, H, W)`` for images, ``N`` for a dense layer's units.

    In training mode the layer uses the batch's mean μ and (biased) variance σ², and moves the running statistics
    toward them: ``moving ← momentum · moving + (1 − momentum) · batch``. In inference mode it uses the running
    statistics and leaves them as they are. Either way ``y = γ · (x − μ) / √(σ² + ε) + β``, as
    ``keras.layers.BatchNormalization`` computes it (``epsilon`` 1e-3 is Keras' default; its ``momentum`` is 0.99).

    Args:
        x: the input, shape ``(N, ..., C)``, at least two axes.
        gamma, beta: the learned scale and shift, one per channel.
        moving_mean, moving_var: the running statistics before this pass, one per channel (``moving_var`` >= 0).
        training: use the batch's statistics (and update the running ones) or the running ones.
        momentum: in [0, 1].
        epsilon: added to the variance, > 0.

    Example:
        >>> x = np.array([[[[1.0], [3.0]]]])                 # one image, 1×2 pixels, one channel
        >>> bn = batch_norm_forward(x, [1.0], [0.0], [0.0], [1.0], training=True, epsilon=1e-9)
        >>> bn.y.ravel().round(6).tolist(), bn.moving_mean.round(6).tolist(), bn.moving_var.round(6).tolist()
        ([-1.0, 1.0], [0.2], [1.0])
    """
    x = finite_array("x", x)
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty batch with channels last, shape (N, ..., C); got shape {x.shape}")
    channels = x.shape[-1]
    gamma, beta = _channels("gamma", gamma, channels), _channels("beta", beta, channels)
    moving_mean, moving_var = _channels("moving_mean", moving_mean, channels), _channels("moving_var", moving_var,
                                                                                          channels)
    if np.any(moving_var < 0):
        raise value_error("moving_var", "variances >= 0", moving_var)
    training = flag("training", training)
    momentum = number("momentum", momentum, minimum=0, maximum=1)
    epsilon = number("epsilon", epsilon, above=0)
    axes = tuple(range(x.ndim - 1))
    if training:
        mean, var = x.mean(axis=axes), x.var(axis=axes)  # σ² divides by m (biased), as Keras does
        new_mean = momentum * moving_mean + (1 - momentum) * mean
        new_var = momentum * moving_var + (1 - momentum) * var
    else:
        mean, var, new_mean, new_var = moving_mean, moving_var, moving_mean, moving_var
    inv_std = 1.0 / np.sqrt(var + epsilon)
    x_hat = (x - mean) * inv_std
    return BatchNormPass(gamma * x_hat + beta, new_mean, new_var, x_hat, inv_std, training)


def batch_norm_backward(dy: Any, bn: BatchNormPass, gamma: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(∂ℒ/∂x, ∂ℒ/∂γ, ∂ℒ/∂β)`` of a ``batch_norm_forward`` pass, given ``dy = ∂ℒ/∂y``.

    With ``m`` values per channel and means ``⟨·⟩`` over them (the axes the statistics were taken over)::

        ∂ℒ/∂β = Σ dy        ∂ℒ/∂γ = Σ dy · x̂
        training:   ∂ℒ/∂x = γ / √(σ² + ε) · (dy − ⟨dy⟩ − x̂ ⟨dy · x̂⟩)
        inference:  ∂ℒ/∂x = γ / √(σ² + ε) · dy

    In training mode the two subtracted terms are the gradient through the batch mean and the batch variance: every
    example's output depends on every other example of the batch.

    Example:
        >>> x = np.random.default_rng(0).normal(size=(8, 3))
        >>> bn = batch_norm_forward(x, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3), training=True)
        >>> dx, dgamma, dbeta = batch_norm_backward(np.ones((8, 3)), bn, np.ones(3))
        >>> bool(np.allclose(dx, 0)), dbeta.tolist()     # a shift of every output: nothing reaches x
        (True, [8.0, 8.0, 8.0])
    """
    instance("bn", bn, BatchNormPass, "what batch_norm_forward returns (a BatchNormPass)")
    dy = finite_array("dy", dy)
    if dy.shape != bn.x_hat.shape:
        raise ValueError(f"dy must have the shape of the forward pass's output, {bn.x_hat.shape}; got {dy.shape}")
    gamma = _channels("gamma", gamma, bn.x_hat.shape[-1])
    axes = tuple(range(dy.ndim - 1))
    dbeta, dgamma = dy.sum(axis=axes), (dy * bn.x_hat).sum(axis=axes)
    if not bn.training:
        return gamma * bn.inv_std * dy, dgamma, dbeta
    dx = gamma * bn.inv_std * (dy - dy.mean(axis=axes) - bn.x_hat * (dy * bn.x_hat).mean(axis=axes))
    return dx, dgamma, dbeta
