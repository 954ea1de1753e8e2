"""Low-precision arithmetic and gradients: what float16 does to small gradients, and why loss scaling exists.

float16 has a 5-bit exponent: its largest value is 65 504, its smallest *normal* value 2⁻¹⁴ ≈ 6.1e-5, and below that
come the *subnormal* numbers, with fewer and fewer significant bits, down to 2⁻²⁴ ≈ 6.0e-8; below half of that, a
value rounds to zero. Gradients that vanish, or that are simply small because a batch mean divides them by the batch size, fall into
that range. Mixed-precision training (Micikevicius et al. 2018) multiplies the loss by a *loss scale* S before the
backward pass, so every gradient is S times larger while it is stored in float16, and divides by S again in float32
before the update.

``activation_gradients`` measures the gradients that flow between layers (the quantities a float16 backward pass
stores), ``float16_rounding`` says what rounding them to float16 would do, and ``dtype_policy`` builds a model under
a Keras dtype policy such as ``"mixed_float16"`` without changing the global one for good.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from gradbook._keras import check_batch, check_model, check_targets
from gradbook._validate import instance, numeric, number, one_of

FLOAT16 = np.finfo(np.float16)
FLOAT16_MAX = float(FLOAT16.max)                        # 65504
FLOAT16_TINY = float(FLOAT16.tiny)                      # 2**-14 ≈ 6.1e-5, the smallest normal number
FLOAT16_SUBNORMAL = float(FLOAT16.smallest_subnormal)  # 2**-24 ≈ 6.0e-8, the smallest number above zero
POLICIES = ("float32", "mixed_float16", "mixed_bfloat16", "float16", "bfloat16")


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[str]:
    """Build models under Keras' dtype policy ``name`` inside the ``with`` block; the previous policy comes back after.

    Under ``"mixed_float16"`` every layer *computes* in float16 and keeps its *variables* (the weights the
    optimizer updates) in float32.

    Example:
        >>> from gradbook.models import seed_cnn
        >>> with dtype_policy("mixed_float16"):
        ...     model = seed_cnn()
        >>> model.get_layer("conv_1").compute_dtype, model.get_layer("conv_1").variable_dtype
        ('float16', 'float32')
    """
    one_of("name", name, POLICIES)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield name
    finally:
        keras.config.set_dtype_policy(previous)


def activation_gradients(model: keras.Model, x: Any, y: Any) -> dict[str, np.ndarray]:
    """The gradient of the mean cross-entropy loss w.r.t. every hidden layer's output, ``∂ℒ/∂a^l``, in float32.

    These are the values that backpropagation passes from layer to layer (one per activation, per image) and that a
    float16 backward pass would store in float16. The model must be a ``keras.Sequential`` ending in a softmax (like
    ``seed_cnn``); the loss is ``−mean log p_y`` computed from its probabilities. The last layer is left out.

    Args:
        model: a built ``keras.Sequential`` whose output is a probability distribution.
        x: a batch of inputs.
        y: their integer labels.

    Returns:
        ``{layer name: gradient array shaped like the layer's output for the batch}``, input side first.

    Example:
        >>> from gradbook.models import seed_cnn
        >>> grads = activation_gradients(seed_cnn(), np.zeros((4, 28, 28, 1)), np.arange(4))
        >>> list(grads)[:2], grads["conv_1"].shape
        (['conv_1', 'pool_1'], (4, 26, 26, 32))
    """
    instance("model", model, keras.Sequential, "a built keras.Sequential")
    model = check_model(model, graph=True)
    x, y = check_batch(model, x, y)
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"y must hold integer labels; got dtype {y.dtype}")
    output_shape = tuple(model.outputs[0].shape)
    if y.ndim != len(output_shape) - 1:
        raise ValueError(f"y must hold one integer label per sample, shape ({len(x)},); got shape {y.shape}")
    check_targets(y, output_shape)
    outputs = []
    with tf.GradientTape() as tape:
        h = tf.constant(x)
        for layer in model.layers:
            h = layer(h, training=False)
            tape.watch(h)
            outputs.append(h)
        p = tf.gather(tf.cast(h, tf.float32), tf.constant(y.astype(np.int64)), batch_dims=1)
        loss = -tf.reduce_mean(tf.math.log(tf.maximum(p, 1e-12)))
    grads = tape.gradient(loss, outputs[:-1])
    return {layer.name: np.asarray(g, dtype=np.float32) for layer, g in zip(model.layers[:-1], grads)}


def float16_rounding(values: Any, loss_scale: float = 1.0) -> pd.Series:
    """What storing ``loss_scale · values`` in float16 does to the values that are not zero.

    Returns the fractions of the non-zero values that become exactly 0 (``underflow``: below about 2⁻²⁵ after
    scaling), that become subnormal (``subnormal``: nonzero but below 2⁻¹⁴, stored with fewer significant bits),
    and that overflow to ±inf (``overflow``: above 65 504), with ``nonzero``, how many values were not zero, and
    ``relative_error``, the norm of the error made by the round trip (scale, round, unscale in float32) relative to
    the norm of the values (``inf`` after an overflow).

    Example:
        >>> float(float16_rounding(np.array([1e-3, 1e-6, 1e-9]))["underflow"])   # 1e-9 < 2**-25 becomes 0
        0.3333333333333333
    """
    loss_scale = number("loss_scale", loss_scale, above=0)
    values = numeric("values", values).astype(np.float64).ravel()
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"values must be a non-empty array of finite numbers; got {values.size} values, "
                         f"{int(np.sum(~np.isfinite(values)))} of them NaN or inf")
    nonzero = values[values != 0]
    if nonzero.size == 0:
        raise ValueError("values must hold at least one non-zero number; got only zeros")
    with np.errstate(over="ignore"):
        rounded = (nonzero * loss_scale).astype(np.float16)
    magnitude = np.abs(rounded.astype(np.float64))
    overflow = np.isinf(magnitude)
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.linalg.norm(rounded.astype(np.float64) / loss_scale - nonzero) / np.linalg.norm(nonzero)
    return pd.Series({
        "nonzero": int(nonzero.size),
        "underflow": float(np.mean(magnitude == 0)),
        "subnormal": float(np.mean((magnitude > 0) & (magnitude < FLOAT16_TINY))),
        "overflow": float(np.mean(overflow)),
        "relative_error": float("inf") if overflow.any() else float(error),
    })
