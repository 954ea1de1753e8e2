"""Gradients through time: how far back a recurrent layer's gradient reaches at initialisation, what an LSTM's or a
GRU's gates do (their equations in NumPy, checked against Keras), and how much a model's output depends on each step of
its input.
"""
from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from gradbook._keras import check_batch, check_model
from gradbook._validate import instance, integer, numeric
from gradbook.models import recurrent_layer
from gradbook.repro import resolve_seed


def gradient_through_time(cell: str, steps: int = 100, units: int = 64, *, input_dim: int = 8,
                          forget_bias: float = 1.0, seed: int = 0, dtype: str = "float32") -> np.ndarray:
    """‖∂h_T/∂x_t‖ (Frobenius norm of the Jacobian of the final state w.r.t. the input at step t), t = 1…T, for a
    freshly initialised recurrent layer (``gradbook.models.recurrent_layer``) reading a random N(0, 1) sequence.

    All ``units`` rows of the Jacobian come from one backward pass: the sequence is copied ``units`` times into a
    batch, and copy ``i`` back-propagates only its own unit ``i``.

    Args:
        cell: one of ``gradbook.models.CELLS``.
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
    layer, x_one = _recurrent_at_init(cell, steps, units, input_dim, forget_bias, seed, dtype)
    units = layer.units
    x = tf.constant(np.repeat(x_one, units, axis=0), dtype=dtype)
    with tf.GradientTape() as tape:
        tape.watch(x)
        h = layer(x)
        picked = tf.reduce_sum(tf.linalg.diag_part(h))  # copy i contributes its own unit i
    jac = tape.gradient(picked, x).numpy().astype(np.float64)  # (units, steps, input_dim): row i of ∂h_T/∂x_t
    return np.sqrt(np.sum(jac ** 2, axis=(0, 2)))


def _recurrent_at_init(cell: str, steps: Any, units: Any, input_dim: Any, forget_bias: Any, seed: Any,
                       dtype: str) -> tuple[keras.layers.Layer, np.ndarray]:
    """A built ``recurrent_layer`` (the LSTM's forget bias set) and the random ``(1, steps, input_dim)`` sequence it
    reads, both from ``seed``."""
    steps = integer("steps", steps, minimum=2)
    input_dim = integer("input_dim", input_dim)
    layer = recurrent_layer(cell, units, forget_bias=forget_bias, seed=seed, dtype=dtype)
    x_one = np.random.default_rng(resolve_seed(seed)).normal(size=(1, steps, input_dim))
    layer.build((layer.units, steps, input_dim))
    if cell == "lstm":
        bias = layer.cell.bias.numpy()
        bias[layer.units:2 * layer.units] = forget_bias  # Keras' LSTM bias is [input, forget, candidate, output] gates
        layer.cell.bias.assign(bias)
    return layer, x_one


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _lstm_gates(x_t: np.ndarray, h: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray,
                bias: np.ndarray) -> tuple[np.ndarray, ...]:
    """Keras' LSTM gates at one step: ``i, f, c̃, o``, from the input, the previous ``h`` and the layer's weights (the
    columns of ``kernel``, ``recurrent`` and ``bias`` are in Keras' order: input, forget, candidate, output)."""
    n = recurrent.shape[0]
    a = x_t @ kernel + h @ recurrent + bias
    return _sigmoid(a[..., :n]), _sigmoid(a[..., n:2 * n]), np.tanh(a[..., 2 * n:3 * n]), _sigmoid(a[..., 3 * n:])


def lstm_paths(steps: int = 100, units: int = 64, *, input_dim: int = 8, forget_bias: float = 1.0,
               seed: int = 0) -> pd.Series:
    """How the state of a freshly initialised LSTM reaches across ``steps``: along the cell alone, and in full.

    The layer and the sequence are ``gradient_through_time("lstm", ...)``'s. Running Keras' LSTM equations in float64
    (gates ``i, f, o = σ(·)``, candidate ``g = tanh(·)``, ``c_t = f ⊙ c_{t−1} + i ⊙ g``, ``h_t = o ⊙ tanh(c_t)``), it
    forms each step's Jacobian ``J_t = ∂(h_t, c_t) / ∂(h_{t−1}, c_{t−1})``. The cell's direct path multiplies the
    state by ``diag(f_t)`` alone; the full Jacobian adds the paths through ``h_{t−1}``, the gates and the candidate.

    Returns:
        A ``pandas.Series``: ``forget_gate`` (mean of ``f_t`` over steps and units), ``cell_path`` (median over units of
        ``∏ f_t`` for t = 2…T: the direct path from step 1 to step T), ``state_path`` (the largest singular value of
        ``J_T ⋯ J_2``: every path) and ``step_gain`` (the median over steps of ``J_t``'s largest singular value).

    Example:
        >>> p = lstm_paths(steps=10, units=4, forget_bias=3.0)
        >>> bool(0.8 < p["forget_gate"] < 1.0 and p["cell_path"] < 1.0)
        True
    """
    layer, x_one = _recurrent_at_init("lstm", steps, units, input_dim, forget_bias, seed, "float32")
    n = layer.units
    kernel, recurrent = (np.asarray(v, dtype=np.float64) for v in (layer.cell.kernel, layer.cell.recurrent_kernel))
    bias = np.asarray(layer.cell.bias, dtype=np.float64)
    h, c = np.zeros(n), np.zeros(n)
    forget, product, gains = [], np.eye(2 * n), []
    for t, x_t in enumerate(x_one[0]):
        i, f, g, o = _lstm_gates(x_t, h, kernel, recurrent, bias)
        c_new = f * c + i * g
        tanh_c = np.tanh(c_new)
        u_i, u_f, u_g, u_o = (recurrent[:, k * n:(k + 1) * n].T for k in range(4))  # ∂z_gate/∂h_{t−1}
        dc_dh = (c * f * (1 - f))[:, None] * u_f + (g * i * (1 - i))[:, None] * u_i + (i * (1 - g ** 2))[:, None] * u_g
        dh_dc_new = o * (1 - tanh_c ** 2)
        dh_dh = (tanh_c * o * (1 - o))[:, None] * u_o + dh_dc_new[:, None] * dc_dh
        jacobian = np.block([[dh_dh, np.diag(dh_dc_new * f)], [dc_dh, np.diag(f)]])
        if t > 0:
            product = jacobian @ product
            forget.append(f)
            gains.append(np.linalg.norm(jacobian, 2))
        h, c = o * tanh_c, c_new
    forget = np.array(forget)
    return pd.Series({"forget_gate": float(forget.mean()), "cell_path": float(np.median(np.prod(forget, axis=0))),
                      "state_path": float(np.linalg.norm(product, 2)), "step_gain": float(np.median(gains))},
                     name=f"lstm_paths(forget_bias={forget_bias:g})")


def recurrent_gates(layer: keras.layers.Layer, x: Any) -> dict[str, np.ndarray]:
    """Every gate and state of a Keras ``LSTM`` or ``GRU`` layer at every step of the batch ``x``, in float64.

    The layer's equations are run in NumPy from its weights, exactly as Keras runs them (inference: no dropout), with
    the sigmoid ``σ`` and ``tanh`` its defaults. The LSTM (columns of ``kernel``, ``recurrent_kernel`` and ``bias`` in
    the order i, f, c̃, o)::

        i_t = σ(x_t W_i + h_{t−1} U_i + b_i)     f_t = σ(x_t W_f + h_{t−1} U_f + b_f)
        c̃_t = tanh(x_t W_c + h_{t−1} U_c + b_c)  o_t = σ(x_t W_o + h_{t−1} U_o + b_o)
        c_t = f_t ⊙ c_{t−1} + i_t ⊙ c̃_t          h_t = o_t ⊙ tanh(c_t)

    The GRU (columns in the order z, r, h̃; with ``reset_after=True``, Keras' default, the bias has a row for the
    input and one for the recurrent product, and the reset gate multiplies ``h_{t−1} U_h + b'_h``, after the
    product; with ``reset_after=False`` it multiplies ``h_{t−1}`` before it)::

        z_t = σ(x_t W_z + b_z + h_{t−1} U_z + b'_z)     r_t = σ(x_t W_r + b_r + h_{t−1} U_r + b'_r)
        h̃_t = tanh(x_t W_h + b_h + r_t ⊙ (h_{t−1} U_h + b'_h))
        h_t = z_t ⊙ h_{t−1} + (1 − z_t) ⊙ h̃_t

    Args:
        layer: a built ``keras.layers.LSTM`` or ``keras.layers.GRU`` with its default activations.
        x: the layer's input, shape ``(n, T, features)``.

    Returns:
        A dict of float64 arrays of shape ``(n, T, units)``: ``i, f, c_tilde, o, c, h`` for an LSTM,
        ``z, r, h_tilde, h`` for a GRU. ``h[:, -1]`` is the layer's output (``h`` all of it with
        ``return_sequences=True``).

    Example:
        >>> layer = keras.layers.GRU(3)
        >>> x = np.zeros((2, 5, 4), "float32")
        >>> gates = recurrent_gates(layer, x)    # builds the layer on x
        >>> sorted(gates), gates["z"].shape, float(gates["z"][0, 0, 0])   # zero input, zero state, zero bias
        (['h', 'h_tilde', 'r', 'z'], (2, 5, 3), 0.5)
    """
    instance("layer", layer, (keras.layers.LSTM, keras.layers.GRU), "a keras.layers.LSTM or keras.layers.GRU layer")
    x = numeric("x", x)
    if x.ndim != 3 or 0 in x.shape:
        raise ValueError(f"x must be a non-empty batch of sequences, shape (n, T, features); got shape {x.shape}")
    if not layer.built:
        layer.build(x.shape)
    cell = layer.cell
    if cell.kernel.shape[0] != x.shape[-1]:
        raise ValueError(f"x must have {cell.kernel.shape[0]} features per step, the layer's input; got {x.shape[-1]}")
    names = (getattr(cell.activation, "__name__", ""), getattr(cell.recurrent_activation, "__name__", ""))
    if names != ("tanh", "sigmoid"):
        raise ValueError(f"layer must use Keras' default activations, tanh and sigmoid; got {names[0]} and {names[1]}")
    x = x.astype(np.float64)
    kernel, recurrent = (np.asarray(v, dtype=np.float64) for v in (cell.kernel, cell.recurrent_kernel))
    n, units = len(x), recurrent.shape[0]
    bias = np.asarray(cell.bias, dtype=np.float64) if cell.use_bias else np.zeros((2, 3 * units) if isinstance(
        layer, keras.layers.GRU) and cell.reset_after else recurrent.shape[1])
    h = np.zeros((n, units))
    rows: dict[str, list[np.ndarray]] = {}
    if isinstance(layer, keras.layers.LSTM):
        c = np.zeros((n, units))
        for x_t in np.moveaxis(x, 1, 0):
            i, f, c_tilde, o = _lstm_gates(x_t, h, kernel, recurrent, bias)
            c = f * c + i * c_tilde
            h = o * np.tanh(c)
            for key, value in zip(("i", "f", "c_tilde", "o", "c", "h"), (i, f, c_tilde, o, c, h)):
                rows.setdefault(key, []).append(value)
    else:
        b_in, b_rec = (bias[0], bias[1]) if cell.reset_after else (bias, np.zeros_like(bias))
        for x_t in np.moveaxis(x, 1, 0):
            a_x = x_t @ kernel + b_in
            a_h = h @ recurrent[:, :2 * units] + b_rec[:2 * units]
            z = _sigmoid(a_x[:, :units] + a_h[:, :units])
            r = _sigmoid(a_x[:, units:2 * units] + a_h[:, units:])
            if cell.reset_after:
                h_tilde = np.tanh(a_x[:, 2 * units:] + r * (h @ recurrent[:, 2 * units:] + b_rec[2 * units:]))
            else:
                h_tilde = np.tanh(a_x[:, 2 * units:] + (r * h) @ recurrent[:, 2 * units:])
            h = z * h + (1 - z) * h_tilde
            for key, value in zip(("z", "r", "h_tilde", "h"), (z, r, h_tilde, h)):
                rows.setdefault(key, []).append(value)
    return {key: np.stack(values, axis=1) for key, values in rows.items()}


def input_gradients(model: keras.Model, x: Any) -> np.ndarray:
    """``∂ŷ/∂x``: how much a model's one output per sample moves with each input value, for every sample, time step
    and feature of the batch ``x`` (inference mode, one backward pass).

    For a loss of the output alone, ``∂ℒ/∂x_t = (∂ℒ/∂ŷ) · ∂ŷ/∂x_t``: the first factor is the same for every step of a
    sequence, so ``∂ŷ/∂x_t`` is what decides how far back the loss's gradient reaches — and, unlike ``∂ℒ/∂x_t``, it
    does not vanish when the prediction becomes exact.

    Args:
        model: a built Keras model with one output value per sample (output shape ``(n,)`` or ``(n, 1)``).
        x: a batch of the model's inputs.

    Returns:
        A float64 array shaped like ``x``.

    Example:
        >>> model = keras.Sequential([keras.Input((3, 1)), keras.layers.SimpleRNN(1, activation="linear",
        ...     kernel_initializer="ones", recurrent_initializer=keras.initializers.Constant(0.5))])
        >>> input_gradients(model, np.ones((1, 3, 1)))[0, :, 0].tolist()   # h_3 = x_3 + 0.5 x_2 + 0.25 x_1
        [0.25, 0.5, 1.0]
    """
    model = check_model(model)
    x, _ = check_batch(model, x)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = model(xt, training=False)
        if y.shape[1:] not in ((), (1,)):
            raise ValueError(f"model must have one output value per sample, shape (n,) or (n, 1); got output shape "
                             f"{tuple(y.shape)}")
        total = tf.reduce_sum(y)  # samples are independent: the gradient of the sum is each sample's own
    return tape.gradient(total, xt).numpy().astype(np.float64)
