"""Per-layer measurements of a Keras model: the norm of ∂ℒ/∂W for every layer, what the activations look like, the
derivative along a line of inputs, and the same over a grid of networks (``layer_profiles``, for the explorers).
"""
from __future__ import annotations

import logging
import weakref
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from gradbook._keras import (check_batch, check_model, check_targets, inference_outputs, resolve_loss,
                             tap_activations)
from gradbook._validate import flag, instance, integer, number, numeric, type_error


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
