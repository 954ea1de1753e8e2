"""The input–output Jacobian of a deep network: its singular values (how initialisation shapes them, Saxe et al.
2014), and the derivative ∂y/∂x along a line of inputs (how it "shatters" with depth, Balduzzi et al. 2017).

``chain_singular_values`` simulates a random deep network in NumPy (float64, exact); ``gradient_along_line`` measures
a Keras model with ``tf.GradientTape``; ``autocorrelation`` summarises a sequence. Nothing here plots.
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import numpy as np

try:  # installed with scikit-learn (a dependency of mlxtend); optional
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

from gradbook._checks import one_of, positive_int
from gradbook.repro import resolve_seed

CHAIN_INITS = ("gaussian", "orthogonal")
CHAIN_ACTIVATIONS = ("linear", "tanh", "relu")


def _orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(n, n)))
    return q * np.sign(np.diag(r))  # the sign fix makes q Haar-distributed


def chain_singular_values(depth: int, width: int = 100, init: str = "gaussian", activation: str = "linear", *,
                          gain: float | None = None, seed: int = 0) -> np.ndarray:
    """Singular values of the input–output Jacobian ``J = D_L W_L ⋯ D_1 W_1`` of a random ``depth``-layer network.

    Each ``W_l`` is ``width × width``: Gaussian with variance ``gain² / width`` or ``gain`` times a random orthogonal
    matrix. ``D_l = diag(φ'(z_l))`` comes from a forward pass of one input ``x ~ N(0, I)`` (for ``"linear"``,
    ``D_l = I`` and ``J`` is the product of the matrices). The default ``gain`` keeps the signal's variance: 1 for
    linear and tanh, √2 for ReLU (He et al. 2015).

    Args:
        depth: number of layers, >= 1.
        width: units per layer, >= 1.
        init: one of ``CHAIN_INITS``.
        activation: one of ``CHAIN_ACTIVATIONS``.
        gain: the weights' scale (see above), > 0.
        seed: seed of the weights and the input, >= 0.

    Returns:
        The ``width`` singular values, largest first (float64).

    Example:
        >>> s = chain_singular_values(50, 100, "orthogonal")
        >>> bool(np.allclose(s, 1.0))            # a product of orthogonal matrices is orthogonal
        True
    """
    depth = positive_int("depth", depth)
    width = positive_int("width", width)
    one_of("init", init, CHAIN_INITS)
    one_of("activation", activation, CHAIN_ACTIVATIONS)
    seed = positive_int("seed", seed, minimum=0)
    if gain is None:
        gain = np.sqrt(2.0) if activation == "relu" else 1.0
    if not (isinstance(gain, (int, float)) and np.isfinite(gain) and gain > 0):
        raise ValueError(f"gain must be a finite number > 0 or None; got {gain!r}")
    rng = np.random.default_rng(resolve_seed(seed))
    h = rng.normal(size=width)
    jac = np.eye(width)
    # One BLAS thread: for matrices this small it is faster, and on a busy CPU OpenBLAS's spinning threads can make
    # this loop a hundred times slower.
    with threadpool_limits(1) if threadpool_limits is not None else nullcontext():
        return _chain(depth, width, init, activation, float(gain), rng, h, jac)


def _chain(depth: int, width: int, init: str, activation: str, gain: float, rng: np.random.Generator,
           h: np.ndarray, jac: np.ndarray) -> np.ndarray:
    for _ in range(depth):
        if init == "orthogonal":
            w = gain * _orthogonal(width, rng)
        else:
            w = gain * rng.normal(size=(width, width)) / np.sqrt(width)
        z = w @ h
        if activation == "tanh":
            h, slope = np.tanh(z), 1.0 - np.tanh(z) ** 2
        elif activation == "relu":
            h, slope = np.maximum(z, 0.0), (z > 0).astype(float)
        else:
            h, slope = z, np.ones(width)
        jac = (slope[:, None] * w) @ jac
    return np.linalg.svd(jac, compute_uv=False)


def gradient_along_line(model: Any, n: int = 256, low: float = -2.0, high: float = 2.0, *,
                        training: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``dy/dx`` of a model with one input and one output, at ``n`` evenly spaced inputs from ``low`` to ``high``.

    The ``n`` inputs go through the model as one batch. With ``training=True`` BatchNormalization normalises with
    that batch's statistics (as in training, and as Balduzzi et al. measure it); the derivative is then that of
    ``Σ_i y_i`` with respect to ``x_i``, which differs from the per-sample ``dy_i/dx_i`` only through the batch mean
    and variance, by O(1/n).

    Args:
        model: a Keras model mapping shape ``(batch, 1)`` to ``(batch, 1)``.
        n: number of points, >= 3.
        low, high: the ends of the line, ``low < high``.
        training: run the model in training mode.

    Returns:
        ``(x, dydx)``: two float64 arrays of length ``n``.

    Example:
        >>> from gradbook.models import deep_mlp
        >>> x, g = gradient_along_line(deep_mlp(2, 8, "relu", input_dim=1, num_classes=1), n=5)
        >>> x.tolist(), g.shape
        ([-2.0, -1.0, 0.0, 1.0, 2.0], (5,))
    """
    import tensorflow as tf

    n = positive_int("n", n, minimum=3)
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"low and high must be finite with low < high; got {low!r}, {high!r}")
    if not isinstance(training, bool):
        raise ValueError(f"training must be True or False; got {training!r}")
    shape_in = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else None
    shape_out = tuple(model.outputs[0].shape[1:]) if getattr(model, "outputs", None) else None
    if shape_in != (1,) or shape_out != (1,):
        raise ValueError(f"model must map one input to one output, shapes (1,) -> (1,); got {shape_in} -> {shape_out}")
    x = np.linspace(low, high, n)
    xt = tf.constant(x[:, None], dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = tf.reduce_sum(model(xt, training=training))
    return x, tape.gradient(y, xt).numpy()[:, 0].astype(np.float64)


def autocorrelation(values: Any, lag: int = 1) -> float:
    """The correlation between a sequence and itself shifted by ``lag``: near 1 for a smooth curve, near 0 for noise.

    Example:
        >>> round(autocorrelation(np.sin(np.linspace(0, 3, 100))), 2)
        1.0
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    lag = positive_int("lag", lag)
    if len(values) < lag + 3:
        raise ValueError(f"values must hold at least lag + 3 = {lag + 3} numbers; got {len(values)}")
    if not np.all(np.isfinite(values)):
        raise ValueError("values must be finite")
    a, b = values[:-lag], values[lag:]
    if a.std() == 0 or b.std() == 0:
        raise ValueError("values must not be constant: the correlation is undefined")
    return float(np.corrcoef(a, b)[0, 1])
