"""Measuring gradients: the norm of ∂L/∂W for every layer of a Keras model, and what the activations look like.

These functions take a model and a batch and return numbers (pandas objects); they neither train nor plot.
"""
from __future__ import annotations

import weakref
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

_COMPILED: "weakref.WeakKeyDictionary[keras.Model, dict]" = weakref.WeakKeyDictionary()


def _check_model(model: Any) -> keras.Model:
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model; got {type(model).__name__}")
    if not model.built:
        raise ValueError("model must be built (call it on a batch or give it an Input) before measuring gradients")
    return model


def _check_batch(model: keras.Model, x: Any, y: Any | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    x = np.asarray(x)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"x must be a non-empty batch with a leading batch axis; got shape {x.shape}")
    expected = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else None
    if expected is not None and any(e is not None and e != s for e, s in zip(expected, x.shape[1:])) \
            or (expected is not None and len(expected) != x.ndim - 1):
        raise ValueError(f"x has per-sample shape {x.shape[1:]}, but the model expects {expected}")
    if y is None:
        return x.astype(np.float32), None
    y = np.asarray(y)
    if len(y) != len(x):
        raise ValueError(f"x and y must hold the same number of samples; got {len(x)} and {len(y)}")
    if np.issubdtype(y.dtype, np.floating):
        y = y.astype(np.float32)  # targets in the model's precision
    return x.astype(np.float32), y


def kernel_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers that own a ``kernel`` (Dense, Conv…), in input → output order, nested models flattened.

    Example:
        >>> from gradbook.models import deep_mlp
        >>> [l.name for l in kernel_layers(deep_mlp(2))]
        ['dense_1', 'dense_2', 'logits']
    """
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.extend(kernel_layers(layer))
        elif getattr(layer, "kernel", None) is not None and layer.trainable:
            found.append(layer)
    return found


def _default_loss(model: keras.Model, y: np.ndarray) -> keras.losses.Loss:
    compiled = getattr(model, "loss", None)
    if compiled is not None:
        return keras.losses.get(compiled) if isinstance(compiled, str) else compiled
    if y.ndim == 1 or y.shape[-1] == 1:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return keras.losses.CategoricalCrossentropy(from_logits=True)


def _gradient_fn(model: keras.Model, loss: Any, key: Any, compiled: bool):
    kernels = [layer.kernel for layer in kernel_layers(model)]

    def norms(x, y):
        with tf.GradientTape() as tape:
            value = tf.reduce_mean(loss(y, model(x, training=False)))  # loss functions return one value per sample
        grads = tape.gradient(value, kernels)
        return tf.stack([tf.norm(g) if g is not None else tf.constant(0.0) for g in grads]), value

    if not compiled:
        return norms
    cache = _COMPILED.setdefault(model, {})
    if key not in cache:
        cache.clear()  # one compiled function per model: keep the latest loss only
        cache[key] = (loss, tf.function(norms, reduce_retracing=True))
    return cache[key][1]


def layer_gradient_norms(model: keras.Model, x: Any, y: Any, loss: Any = None, *, compiled: bool = True) -> pd.Series:
    """‖∂L/∂W‖ (Frobenius norm) of every kernel, input → output, from one forward and backward pass.

    Args:
        model: a built Keras model.
        x, y: a batch and its labels (integer labels or one-hot).
        loss: a Keras loss (object or name); default: the model's compiled loss, else cross-entropy from logits.
        compiled: run as one ``tf.function`` (fast, reused across calls on the same model) or eagerly.

    Returns:
        A ``pandas.Series`` of float norms indexed by layer name, named ``"grad_norm"``; ``.attrs["loss"]`` holds
        the batch loss.

    Example:
        >>> from gradbook.models import deep_mlp
        >>> import numpy as np
        >>> g = layer_gradient_norms(deep_mlp(3), np.zeros((4, 784)), np.zeros(4, int))
        >>> list(g.index)
        ['dense_1', 'dense_2', 'dense_3', 'logits']
    """
    model = _check_model(model)
    x, y = _check_batch(model, x, y)
    if y is None:
        raise ValueError("y must be given: the labels of x")
    key = ("default", y.ndim) if loss is None else (loss if isinstance(loss, str) else id(loss))
    try:
        loss = _default_loss(model, y) if loss is None else (keras.losses.get(loss) if isinstance(loss, str) else loss)
    except ValueError as exc:
        raise ValueError(f"loss must be a Keras loss (an object or a name such as 'mse'); got {loss!r}") from exc
    if not callable(loss):
        raise ValueError(f"loss must be a Keras loss (an object or a name such as 'mse'); got {loss!r}")
    names = [layer.name for layer in kernel_layers(model)]
    if not names:
        raise ValueError(f"model {model.name!r} has no layer with a kernel (Dense, Conv…) to measure")
    values, batch_loss = _gradient_fn(model, loss, key, compiled)(tf.constant(x), tf.constant(y))
    series = pd.Series(np.asarray(values, dtype=np.float64), index=names, name="grad_norm")
    series.index.name = "layer"
    series.attrs["loss"] = float(batch_loss)
    return series


def first_last_ratio(norms: pd.Series) -> float:
    """‖∂L/∂W_first‖ / ‖∂L/∂W_last‖ of a ``layer_gradient_norms`` result: ≪ 1 vanishing, ≫ 1 exploding.

    Example:
        >>> first_last_ratio(pd.Series([1e-6, 1e-3, 1.0]))
        1e-06
    """
    if len(norms) < 2:
        raise ValueError(f"norms must hold at least two layers; got {len(norms)}")
    return float(norms.iloc[0] / norms.iloc[-1])


def activation_stats(model: keras.Model, x: Any, layer_names: list[str] | None = None) -> pd.DataFrame:
    """Statistics of every activation layer's output on the batch ``x``, input → output.

    Columns: ``mean``, ``std``, ``zero_frac`` (exactly zero: dead ReLU units), ``saturated_frac`` (sigmoid outputs
    within 0.01 of 0 or 1, tanh within 0.01 of ±1), ``nonfinite_frac``.

    Args:
        model: a functional or Sequential Keras model.
        x: the batch.
        layer_names: which layers to read (default: every ``Activation`` layer and every layer with an activation).

    Example:
        >>> from gradbook.models import deep_mlp
        >>> import numpy as np
        >>> activation_stats(deep_mlp(2, activation="relu"), np.ones((4, 784))).index.tolist()
        ['act_1', 'act_2']
    """
    model = _check_model(model)
    x, _ = _check_batch(model, x)
    if layer_names is None:
        chosen = [l for l in model.layers if isinstance(l, keras.layers.Activation)]
    else:
        by_name = {l.name: l for l in model.layers}
        unknown = [n for n in layer_names if n not in by_name]
        if unknown:
            raise ValueError(f"layer_names has names the model lacks: {unknown}; it has {sorted(by_name)}")
        chosen = [by_name[n] for n in layer_names]
    if not chosen:
        raise ValueError(f"model {model.name!r} has no Activation layers; pass layer_names")
    probe = keras.Model(model.input, [l.output for l in chosen])
    outputs = probe(x, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    rows = []
    for layer, out in zip(chosen, outputs):
        a = np.asarray(out, dtype=np.float64)
        finite = np.isfinite(a)
        kind = getattr(getattr(layer, "activation", None), "__name__", "")
        if kind == "sigmoid":
            saturated = np.mean((a < 0.01) | (a > 0.99))
        elif kind == "tanh":
            saturated = np.mean(np.abs(a) > 0.99)
        else:
            saturated = 0.0
        af = a[finite] if finite.any() else np.array([np.nan])
        rows.append({"layer": layer.name, "mean": af.mean(), "std": af.std(), "zero_frac": np.mean(a == 0),
                     "saturated_frac": float(saturated), "nonfinite_frac": 1 - finite.mean()})
    return pd.DataFrame(rows).set_index("layer")
