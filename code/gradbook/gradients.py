"""Measuring gradients: the norm of ∂ℒ/∂W for every layer of a Keras model, what the activations look like, the
derivative along a line of inputs, how far back a recurrent layer's gradient reaches, what its gates do, how much a
model's output depends on each step of its input, and batch normalisation's forward and backward pass in NumPy.

These functions take a model (and a batch) and return numbers (pandas objects or arrays); they never plot. To check
your own model in one call, or while ``fit`` trains, see ``gradbook.diagnostics``.
"""
from __future__ import annotations

import logging
import weakref
from typing import Any, NamedTuple

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from gradbook._keras import (check_batch, check_model, check_targets, inference_outputs, resolve_loss,
                             tap_activations)
from gradbook._validate import finite_array, flag, instance, integer, number, numeric, type_error, value_error
from gradbook.models import recurrent_layer
from gradbook.repro import resolve_seed


class _NoRetracingNotice(logging.Filter):
    """gradbook compiles one function per measured model on purpose, so TensorFlow's "triggered tf.function
    retracing" notice (logged after five models) is expected, not a performance bug; let every other record pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


tf.get_logger().addFilter(_NoRetracingNotice())
_COMPILED: "weakref.WeakKeyDictionary[keras.Model, dict]" = weakref.WeakKeyDictionary()


def kernel_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers that own a ``kernel`` (Dense, Conv…), in input → output order, nested models flattened.

    Example:
        >>> from gradbook.models import deep_mlp
        >>> [l.name for l in kernel_layers(deep_mlp(2))]
        ['dense_1', 'dense_2', 'logits']
    """
    found = []
    for layer in check_model(model, built=False).layers:
        if isinstance(layer, keras.Model):
            found.extend(kernel_layers(layer))
        elif getattr(layer, "kernel", None) is not None and layer.trainable:
            found.append(layer)
    return found


def _measured_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """``kernel_layers(model)``; a ``ValueError`` when there is none to measure."""
    layers = kernel_layers(model)
    if not layers:
        raise ValueError(f"model must have a layer with a kernel (Dense, Conv…) to measure; got {model.name!r}, "
                         "which has none")
    return layers


def _gradient_fn(model: keras.Model, loss: Any, key: Any, compiled: bool):
    kernels = [layer.kernel for layer in kernel_layers(model)]

    def norms(x, y):
        with tf.GradientTape() as tape:
            value = tf.reduce_mean(loss(y, model(x, training=False)))  # loss functions return one value per sample
        grads = tape.gradient(value, kernels)
        # float64: a finite float32 gradient with entries above ~1e19 would overflow its own sum of squares
        return tf.stack([tf.norm(tf.cast(g, tf.float64)) if g is not None else tf.constant(0.0, tf.float64)
                         for g in grads]), value

    if not compiled:
        return norms
    cache = _COMPILED.setdefault(model, {})
    if key not in cache:
        cache.clear()  # one compiled function per model: keep the latest loss only
        cache[key] = (loss, tf.function(norms, reduce_retracing=True))
    return cache[key][1]


def layer_gradient_norms(model: keras.Model, x: Any, y: Any, loss: Any = None, *, compiled: bool = True) -> pd.Series:
    """‖∂ℒ/∂W‖ (Frobenius norm) of every kernel, input → output, from one forward and backward pass.

    Args:
        model: a built Keras model.
        x, y: a batch and its targets (integer labels, or arrays shaped like the model's output).
        loss: a Keras loss (object or name); default: the model's compiled loss, else cross-entropy — from
            probabilities when the model's outputs are softmax rows (non-negative, summing to 1), else from logits.
        compiled: run as one ``tf.function`` (fast, reused across calls on the same model) or eagerly.

    Returns:
        A ``pandas.Series`` of float norms indexed by layer name, named ``"grad_norm"``; ``.attrs["loss"]`` holds
        the batch loss.

    Example:
        >>> from gradbook.models import deep_mlp
        >>> g = layer_gradient_norms(deep_mlp(3), np.zeros((4, 784)), np.zeros(4, int))
        >>> list(g.index)
        ['dense_1', 'dense_2', 'dense_3', 'logits']
    """
    model = check_model(model)
    if y is None:
        raise type_error("y", "the targets of x (an array)", y)
    x, y = check_batch(model, x, y)
    compiled = flag("compiled", compiled)
    names = [layer.name for layer in _measured_layers(model)]
    if getattr(model, "outputs", None):
        check_targets(y, tuple(model.outputs[0].shape))
    loss, key = resolve_loss(model, loss, y, lambda: inference_outputs(model, x))
    values, batch_loss = _gradient_fn(model, loss, key, compiled)(tf.constant(x), tf.constant(y))
    series = pd.Series(np.asarray(values, dtype=np.float64), index=names, name="grad_norm")
    series.index.name = "layer"
    series.attrs["loss"] = float(batch_loss)
    return series


def first_last_ratio(norms: pd.Series) -> float:
    """‖∂ℒ/∂W_first‖ / ‖∂ℒ/∂W_last‖ of a ``layer_gradient_norms`` result: ≪ 1 vanishing, ≫ 1 exploding.

    Example:
        >>> first_last_ratio(pd.Series([1e-6, 1e-3, 1.0]))
        1e-06
    """
    instance("norms", norms, pd.Series, "a pandas.Series of norms (what layer_gradient_norms returns)")
    if len(norms) < 2:
        raise ValueError(f"norms must hold at least two layers; got {len(norms)}")
    return float(norms.iloc[0] / norms.iloc[-1])


def activation_stats(model: keras.Model, x: Any, layer_names: list[str] | None = None) -> pd.DataFrame:
    """Statistics of the output of every layer with an activation on the batch ``x``, input → output.

    The layers read are those with a nonlinearity: Dense/Conv with ``activation=…``, ``Activation``, ``ReLU``,
    ``LeakyReLU``, ``ELU``, ``PReLU``, ``Softmax``, in nested Sequential/functional models too. Units are the last
    axis (channels last). Columns:

    - ``mean``, ``std``: of all the layer's finite output values;
    - ``spread``: the std across samples, averaged over units — how much the layer's output differs between inputs;
    - ``zero_frac``: outputs exactly zero (ReLU's inactive side);
    - ``dead_frac``: units zero for every sample of the batch (dead ReLUs: they pass no gradient to their weights);
    - ``saturated_frac``: sigmoid outputs within 0.01 of 0 or 1, tanh within 0.01 of ±1;
    - ``nonfinite_frac``: NaN or inf.

    Args:
        model: a built functional or Sequential Keras model.
        x: the batch (the more samples, the stricter "zero for every sample").
        layer_names: read these layers instead (any layer, with or without an activation).

    Example:
        >>> from gradbook.models import deep_mlp, seed_cnn
        >>> activation_stats(deep_mlp(2, activation="relu"), np.ones((4, 784))).index.tolist()
        ['act_1', 'act_2']
        >>> activation_stats(seed_cnn(), np.zeros((2, 28, 28, 1)))["dead_frac"].tolist()   # zero input, zero biases
        [1.0, 1.0, 1.0, 1.0, 0.0]
    """
    model = check_model(model, graph=True)
    x, _ = check_batch(model, x)
    if layer_names is not None and (isinstance(layer_names, str)
                                    or not all(isinstance(n, str) for n in layer_names)):
        raise TypeError(f"layer_names must be a list of layer names; got {layer_names!r}")
    tap = tap_activations(model, x, layer_names=layer_names)
    unknown = [n for n in layer_names or () if n not in tap.names]
    if unknown:
        raise ValueError(f"layer_names must name layers of the model, {tap.names}; got unknown names {unknown}")
    if tap.stats.empty:
        raise ValueError(f"model must have a layer with an activation whose output can be read, or pass "
                         f"layer_names; got {model.name!r} ({'; '.join(tap.notes) or 'no such layer'})")
    return tap.stats.drop(columns="activation")


def gradient_along_line(model: keras.Model, n: int = 256, low: float = -2.0, high: float = 2.0, *,
                        training: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``dy/dx`` of a model with one input and one output, at ``n`` evenly spaced inputs from ``low`` to ``high``.

    The ``n`` inputs go through the model as one batch. With ``training=True`` BatchNormalization normalises with
    that batch's statistics (as in training, and as Balduzzi et al. 2017 measure the "shattered" gradient); the
    derivative is then that of ``Σ_i y_i`` with respect to ``x_i``, which differs from the per-sample ``dy_i/dx_i``
    only through the batch mean and variance, by O(1/n).

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
    model = check_model(model, graph=True)
    n = integer("n", n, minimum=3)
    low, high = number("low", low), number("high", high, above=low)
    training = flag("training", training)
    shape_in, shape_out = tuple(model.inputs[0].shape[1:]), tuple(model.outputs[0].shape[1:])
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
    lag = integer("lag", lag)
    values = numeric("values", values).astype(np.float64).ravel()
    if len(values) < lag + 3:
        raise ValueError(f"values must hold at least lag + 3 = {lag + 3} numbers; got {len(values)}")
    if not np.all(np.isfinite(values)):
        raise ValueError("values must be finite numbers; got NaN or inf")
    a, b = values[:-lag], values[lag:]
    if a.std() == 0 or b.std() == 0:
        raise ValueError("values must not be constant (the correlation is undefined); got a constant sequence")
    return float(np.corrcoef(a, b)[0, 1])


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


def layer_profiles(settings: Any, x: Any, y: Any, *, theory: bool = False, **common: Any) -> pd.DataFrame:
    """For every setting of a grid, a ``deep_mlp``'s per-layer gradient norm and forward signal at initialisation.

    Each setting is a dict of ``gradbook.models.deep_mlp`` arguments (``depth``, ``activation``, ``initializer`` …)
    merged over ``common``, plus optionally ``scale``: a factor for every weight matrix, as in
    ``gradbook.theory.mean_field``. The network is measured on the batch ``(x, y)``, eagerly (one forward and
    backward pass each, no tracing), as ``layer_gradient_norms`` and ``activation_stats`` measure it; consecutive
    settings that differ only in ``scale`` share one network, rescaled from its initial weights. The result feeds a kernel-free
    explorer (``gradbook.viz.vega``): one row per setting and hidden layer.

    Args:
        settings: a list of dicts of ``deep_mlp`` arguments, each with at least ``depth``, and optionally ``scale``.
        x, y: the batch and its labels.
        theory: also give mean-field theory's predictions (``gradbook.theory.mean_field``, for the batch's mean
            square): ``grad_norm_theory``, anchored at the measured last hidden layer, and ``std_theory``.
        **common: ``deep_mlp`` arguments shared by every setting (``width``, ``input_dim``, ``seed`` …).

    Returns:
        A DataFrame with the settings' keys as columns, then ``layer`` (1 = next to the input), ``grad_norm``
        (‖∂ℒ/∂W^l‖), ``spread`` (the std of layer l's activations across the samples, averaged over units) and
        ``std`` (of all its activations), and with ``theory=True`` the two predictions.

    Example:
        >>> import numpy as np
        >>> x, y = np.random.default_rng(0).uniform(size=(16, 8)), np.arange(16) % 10
        >>> grid = [{"depth": 2, "activation": a, "scale": s} for a in ("relu", "tanh") for s in (1.0, 2.0)]
        >>> profiles = layer_profiles(grid, x, y, width=4, input_dim=8, theory=True)
        >>> profiles.shape, list(profiles.columns[3:])
        ((8, 9), ['layer', 'grad_norm', 'spread', 'std', 'grad_norm_theory', 'std_theory'])
    """
    from gradbook.models import deep_mlp
    from gradbook.theory import mean_field

    if isinstance(settings, (dict, str)) or not hasattr(settings, "__iter__"):
        raise type_error("settings", "a list of dicts of deep_mlp arguments", settings)
    theory = flag("theory", theory)
    x_second = float(np.mean(numeric("x", x).astype(np.float64) ** 2)) if theory else None
    built: dict[str, tuple[Any, list[np.ndarray]]] = {}
    rows = []
    for setting in settings:
        instance("settings[...]", setting, dict, "a dict of deep_mlp arguments")
        arguments = {**common, **setting}
        scale = number("scale", arguments.pop("scale", 1.0), above=0)
        key = repr(sorted(arguments.items(), key=lambda item: item[0]))
        if key not in built:
            model = deep_mlp(**arguments)
            built = {key: (model, [layer.kernel.numpy() for layer in kernel_layers(model)])}  # one network at a time
        model, initial = built[key]
        for layer, kernel in zip(kernel_layers(model), initial):
            layer.kernel.assign(kernel * np.float32(scale))
        depth = int(arguments["depth"])
        if theory and (arguments.get("batch_norm") or arguments.get("residual")):
            raise ValueError("theory=True needs plain deep_mlp settings: mean-field theory here has no batch_norm or "
                             f"residual; got {setting}")
        hidden = [f"dense_{k}" for k in range(1, depth + 1)]
        norms = layer_gradient_norms(model, x, y, compiled=False)[hidden]
        stats = activation_stats(model, x).iloc[:depth]
        if theory:
            predicted = mean_field(depth, model.get_layer("dense_1").units, arguments.get("activation", "sigmoid"),
                                   arguments.get("initializer", "glorot_uniform"),
                                   weight_std=arguments.get("weight_std"), scale=scale,
                                   input_dim=int(model.inputs[0].shape[-1]),
                                   num_classes=int(model.outputs[0].shape[-1]), input_second_moment=x_second)
            grad_theory = predicted["grad_norm"].to_numpy() * float(norms.iloc[-1])
        for k in range(depth):
            row = {**setting, "layer": k + 1, "grad_norm": float(norms.iloc[k]),
                   "spread": float(stats["spread"].iloc[k]), "std": float(stats["std"].iloc[k])}
            if theory:
                row.update(grad_norm_theory=float(grad_theory[k]),
                           std_theory=float(predicted["act_std"].iloc[k]))
            rows.append(row)
    return pd.DataFrame(rows)


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
