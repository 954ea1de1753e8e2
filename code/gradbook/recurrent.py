"""Gradients through time: Pascanu et al.'s one-unit recurrent "cliff", and how far back a recurrent layer's
gradient reaches (SimpleRNN, LSTM, GRU).

The cliff is pure NumPy in float64, exact and vectorised over a grid of weights; the layers are Keras' own, measured
with ``tf.GradientTape``. Nothing here plots.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from gradbook._checks import one_of, positive_float, positive_int
from gradbook.repro import resolve_seed

CELLS = ("simple_rnn", "lstm", "gru")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _finite(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite numbers; got {value!r}")
    return arr


def cliff(w: Any, b: Any, *, x0: float = 0.5, steps: int = 50, target: float = 0.7) -> pd.DataFrame:
    """Loss and exact gradient of Pascanu et al.'s one-unit network ``x_t = w·σ(x_{t−1}) + b`` after ``steps`` steps.

    The loss is ``L = (x_T − target)²``. The derivatives are propagated forward with the state (forward-mode
    differentiation, exact in float64): ``∂x_t/∂w = σ(x_{t−1}) + w·σ'(x_{t−1})·∂x_{t−1}/∂w`` and
    ``∂x_t/∂b = 1 + w·σ'(x_{t−1})·∂x_{t−1}/∂b``. ``w`` and ``b`` broadcast against each other, so a grid of weights
    is one call.

    Args:
        w, b: the recurrent weight and the bias (numbers or arrays that broadcast).
        x0: the initial state.
        steps: the number of steps T, >= 1.
        target: the desired final state.

    Returns:
        A DataFrame with one row per (broadcast) pair: ``w``, ``b``, ``x_T``, ``loss``, ``dL_dw``, ``dL_db``.

    Example:
        >>> row = cliff(1.0, 0.0, steps=1, x0=0.0).iloc[0]   # x_1 = σ(0) = 0.5, L = (0.5 − 0.7)²
        >>> tuple(round(float(row[k]), 3) for k in ("x_T", "loss", "dL_dw"))
        (0.5, 0.04, -0.2)
    """
    w, b = np.broadcast_arrays(_finite("w", w), _finite("b", b))
    w, b = w.ravel().astype(np.float64), b.ravel().astype(np.float64)
    x0 = float(_finite("x0", x0))
    target = float(_finite("target", target))
    steps = positive_int("steps", steps)
    x = np.full_like(w, x0)
    dx_dw, dx_db = np.zeros_like(w), np.zeros_like(w)
    for _ in range(steps):
        s = _sigmoid(x)
        slope = w * s * (1.0 - s)
        dx_dw = s + slope * dx_dw
        dx_db = 1.0 + slope * dx_db
        x = w * s + b
    err = x - target
    return pd.DataFrame({"w": w, "b": b, "x_T": x, "loss": err ** 2, "dL_dw": 2 * err * dx_dw,
                         "dL_db": 2 * err * dx_db})


def descend_cliff(w0: float, b0: float, *, learning_rate: float = 0.05, iterations: int = 200,
                  clip: float | None = None, learn_bias: bool = True, x0: float = 0.5, steps: int = 50,
                  target: float = 0.7) -> pd.DataFrame:
    """Gradient descent on ``(w, b)`` of ``cliff``, optionally with Pascanu et al.'s norm clipping.

    Each iteration computes ``g = (∂L/∂w, ∂L/∂b)`` and, when ``clip`` is given and ``‖g‖ > clip``, rescales it to
    ``clip · g/‖g‖`` before the step ``(w, b) ← (w, b) − learning_rate · g``. The direction is kept; only the length
    of a step is bounded.

    Args:
        w0, b0: the starting point.
        learning_rate: the step size, > 0.
        iterations: number of steps, >= 1.
        clip: the clipping threshold, > 0, or ``None`` for plain gradient descent.
        learn_bias: train ``b`` too (``False``: ``b`` stays at ``b0`` and only ``w`` moves, a 1-D problem).
        x0, steps, target: as in ``cliff``.

    Returns:
        A DataFrame with one row per iteration (0 = the start): ``w``, ``b``, ``loss``, ``grad_norm`` (before
        clipping), ``step_norm`` (the length of the step taken from that point).

    Example:
        >>> path = descend_cliff(3.0, -2.5, iterations=5, clip=1.0)
        >>> len(path), bool(path["step_norm"].max() <= 0.05 + 1e-12)
        (6, True)
    """
    w, b = float(_finite("w0", w0)), float(_finite("b0", b0))
    learning_rate = positive_float("learning_rate", learning_rate)
    iterations = positive_int("iterations", iterations)
    if clip is not None:
        clip = positive_float("clip", clip)
    if not isinstance(learn_bias, bool):
        raise ValueError(f"learn_bias must be True or False; got {learn_bias!r}")
    rows = []
    for _ in range(iterations + 1):
        r = cliff(w, b, x0=x0, steps=steps, target=target).iloc[0]
        g = np.array([r["dL_dw"], r["dL_db"] if learn_bias else 0.0])
        norm = float(np.linalg.norm(g))
        if clip is not None and norm > clip:
            g = g * (clip / norm)
        step = learning_rate * g
        rows.append({"w": w, "b": b, "loss": float(r["loss"]), "grad_norm": norm,
                     "step_norm": float(np.linalg.norm(step))})
        w, b = w - float(step[0]), b - float(step[1])
    frame = pd.DataFrame(rows)
    frame.index.name = "iteration"
    return frame


def recurrent_layer(cell: str, units: int = 64, *, forget_bias: float = 1.0, seed: int = 0,
                    dtype: str = "float32") -> Any:
    """A Keras ``SimpleRNN``, ``LSTM`` or ``GRU`` layer with Keras' default initialisers, seeded; for the LSTM, the
    forget gate's bias set to ``forget_bias`` (Keras' default, ``unit_forget_bias=True``, is 1).

    Example:
        >>> recurrent_layer("lstm", 4, forget_bias=3.0).__class__.__name__
        'LSTM'
    """
    import keras

    one_of("cell", cell, CELLS)
    units = positive_int("units", units)
    forget_bias = float(_finite("forget_bias", forget_bias))
    seed = positive_int("seed", seed, minimum=0)
    one_of("dtype", dtype, ("float32", "float64"))
    seed = resolve_seed(seed)
    inits = {"kernel_initializer": keras.initializers.GlorotUniform(seed=seed),
             "recurrent_initializer": keras.initializers.Orthogonal(seed=seed + 1)}
    if cell == "simple_rnn":
        return keras.layers.SimpleRNN(units, dtype=dtype, **inits)
    if cell == "gru":
        return keras.layers.GRU(units, dtype=dtype, **inits)
    return keras.layers.LSTM(units, dtype=dtype, **inits)


def gradient_through_time(cell: str, steps: int = 100, units: int = 64, *, input_dim: int = 8,
                          forget_bias: float = 1.0, seed: int = 0, dtype: str = "float32") -> np.ndarray:
    """‖∂h_T/∂x_t‖ (Frobenius norm of the Jacobian of the final state w.r.t. the input at step t), t = 1…T, for a
    freshly initialised recurrent layer reading a random N(0, 1) sequence.

    All ``units`` rows of the Jacobian come from one backward pass: the sequence is copied ``units`` times into a
    batch, and copy ``i`` back-propagates only its own unit ``i``.

    Args:
        cell: one of ``CELLS``.
        steps: sequence length T, >= 2.
        units: state size, >= 1.
        input_dim: features per step, >= 1.
        forget_bias: the LSTM's forget-gate bias (ignored by the other cells).
        seed: seed of the weights and of the input sequence, >= 0.
        dtype: ``"float32"`` (Keras' default) or ``"float64"``.

    Returns:
        A float64 array of length T; entry ``t − 1`` is ‖∂h_T/∂x_t‖ (the last entry is the most recent input).

    Example:
        >>> g = gradient_through_time("simple_rnn", steps=10, units=4)
        >>> g.shape, bool(g[0] < g[-1])
        ((10,), True)
    """
    import tensorflow as tf

    steps = positive_int("steps", steps, minimum=2)
    units = positive_int("units", units)
    input_dim = positive_int("input_dim", input_dim)
    layer = recurrent_layer(cell, units, forget_bias=forget_bias, seed=seed, dtype=dtype)
    x_one = np.random.default_rng(resolve_seed(seed)).normal(size=(1, steps, input_dim))
    x = tf.constant(np.repeat(x_one, units, axis=0), dtype=dtype)
    layer.build(x.shape)
    if cell == "lstm":
        bias = layer.cell.bias.numpy()
        bias[units:2 * units] = forget_bias  # Keras' LSTM bias is [input, forget, candidate, output] gates
        layer.cell.bias.assign(bias)
    with tf.GradientTape() as tape:
        tape.watch(x)
        h = layer(x)
        picked = tf.reduce_sum(tf.linalg.diag_part(h))  # copy i contributes its own unit i
    jac = tape.gradient(picked, x).numpy().astype(np.float64)  # (units, steps, input_dim): row i of ∂h_T/∂x_t
    return np.sqrt(np.sum(jac ** 2, axis=(0, 2)))
