"""Keras plumbing shared by the modules that measure models: the one model check, the one batch check, the one
activation tap and the one loss resolver.

- ``check_model`` / ``check_batch`` / ``check_targets``: what every public function taking a model and a batch runs
  first, so that a wrong argument fails with the same message everywhere (``gradbook._validate``'s rule: wrong type →
  ``TypeError``, wrong value → ``ValueError``).
- ``tap_activations``: the output of every layer with a nonlinearity — Dense/Conv with ``activation=…``,
  ``Activation``, ``ReLU``, ``LeakyReLU``, ``ELU``, ``PReLU``, ``Softmax`` — of a Sequential or functional model, with
  nested Sequential/functional models looked into, summarised per layer (``ACTIVATION_COLUMNS``).
- ``resolve_loss``: the loss to differentiate — the one given, else the compiled one, else cross-entropy: on
  probabilities when the model's outputs are non-negative rows summing to 1 (a softmax), on logits otherwise.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from gradbook._validate import instance, numeric, type_error, value_error

ACTIVATION_COLUMNS = ("mean", "std", "spread", "zero_frac", "dead_frac", "saturated_frac", "nonfinite_frac")
_LAYER_KINDS = ((keras.layers.ReLU, "relu"), (keras.layers.LeakyReLU, "leaky_relu"), (keras.layers.ELU, "elu"),
                (keras.layers.PReLU, "prelu"), (keras.layers.Softmax, "softmax"))


# --- models and batches --------------------------------------------------------------------------------------------

def graph_inputs(model: Any) -> list[Any] | None:
    """The symbolic inputs of a functional or Sequential model built with an Input; None for other models."""
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):  # a subclassed model has no symbolic inputs and outputs
        return None
    return list(inputs) if inputs and outputs else None


def check_model(model: Any, *, built: bool = True, graph: bool = False) -> keras.Model:
    """``model`` if it is a ``keras.Model`` (else ``TypeError``) that is ``built``, or with ``graph`` a functional or
    Sequential model built with an Input, whose layers' outputs can be read (else ``ValueError``)."""
    instance("model", model, keras.Model, "a keras.Model")
    if graph and graph_inputs(model) is None:
        raise value_error("model", "a functional or Sequential model built with an Input (keras.Input)", model)
    if built and not model.built:
        raise value_error("model", "built (call it on a batch, or start it with keras.Input)", model)
    return model


def input_shape(model: keras.Model) -> tuple[int | None, ...] | None:
    """The per-sample shape of the model's (first) input, when the model knows it (a graph model, or a view given its
    ``inputs``, as ``gradbook.training.in_training_mode``'s)."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    return tuple(inputs[0].shape[1:]) if inputs else None


def check_batch(model: keras.Model, x: Any, y: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
    """``x`` as float32 if it is a non-empty batch that fits the model's input, and ``y`` (when given) with one target
    per sample (floating targets as float32)."""
    x = numeric("x", x)
    expected = input_shape(model)
    if expected is None:
        allowed = "a non-empty batch with a leading batch axis, shape (N, ...)"
        fits = x.ndim >= 2
    else:
        allowed = f"a non-empty batch of shape (N, {', '.join('?' if e is None else str(e) for e in expected)})"
        fits = x.ndim == len(expected) + 1 and all(e is None or e == s for e, s in zip(expected, x.shape[1:]))
    if not fits or len(x) == 0:
        raise ValueError(f"x must be {allowed}; got shape {x.shape}")
    if y is None:
        return x.astype(np.float32), None
    y = numeric("y", y)
    if y.ndim == 0 or len(y) != len(x):
        raise ValueError(f"y must hold as many samples as x, {len(x)}; got shape {y.shape}")
    return x.astype(np.float32), (y.astype(np.float32) if np.issubdtype(y.dtype, np.floating) else y)


def _labels_with_unit_axis(y_shape: tuple[int, ...], output_shape: tuple[int | None, ...]) -> bool:
    return len(y_shape) == len(output_shape) >= 2 and y_shape[-1] == 1 and output_shape[-1] not in (None, 1)


def check_targets(y: np.ndarray, output_shape: tuple[int | None, ...]) -> None:
    """``y`` must be shaped like the model's output, or be integer class labels for it (one axis fewer, or a last axis
    of 1, as Keras' sparse losses accept them)."""
    if _labels_with_unit_axis(y.shape, output_shape):
        y = y[..., 0]
    shape, wanted = tuple(y.shape[1:]), tuple(output_shape[1:])
    if len(y.shape) == len(output_shape):
        if any(o is not None and o != s for o, s in zip(wanted, shape)):
            raise ValueError(f"y must have per-sample shape {wanted}, the model's output, or be its class labels; "
                             f"got per-sample shape {shape}")
        return
    if len(y.shape) != len(output_shape) - 1 or any(o is not None and o != s for o, s in zip(wanted[:-1], shape)):
        raise ValueError(f"y must have per-sample shape {wanted}, the model's output, or be class labels of shape "
                         f"{wanted[:-1]}; got per-sample shape {shape}")
    classes = output_shape[-1]
    if classes is not None and classes > 1:
        if not np.all(np.isfinite(y)) or not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError("y must hold integer class labels when it has one axis fewer than the model's output")
        if y.size and (y.min() < 0 or y.max() >= classes):
            raise ValueError(f"y must hold class labels from 0 to {classes - 1} (the model has {classes} outputs); "
                             f"got labels from {int(y.min())} to {int(y.max())}")


@contextmanager
def kept_state(model: keras.Model, keep: bool = True) -> Iterator[None]:
    """Restore every non-trainable variable of ``model`` (BatchNorm's moving statistics, dropout's random state) on
    leaving the block, so that running the model in training mode leaves no trace; does nothing unless ``keep``."""
    variables = list(model.non_trainable_variables) if keep else []
    saved = [v.numpy() for v in variables]
    try:
        yield
    finally:
        for variable, value in zip(variables, saved):
            variable.assign(value)


def inference_outputs(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """The model's output on ``x`` in inference mode, leaving no trace (a model that always runs as in training,
    like ``gradbook.training.in_training_mode``'s view, would otherwise move its BatchNorm statistics)."""
    with kept_state(model):
        return np.asarray(model(x, training=False))


def all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer of the model, nested models' layers included (depth first, in the order the models list them)."""
    found = []
    for layer in model.layers:
        found.append(layer)
        if isinstance(layer, keras.Model):
            found.extend(all_layers(layer))
    return found


# --- the activation tap --------------------------------------------------------------------------------------------

def activation_kind(layer: keras.layers.Layer) -> str | None:
    """The nonlinearity a layer applies to its output (``"relu"``, ``"sigmoid"``…), or None for a linear layer."""
    for cls, kind in _LAYER_KINDS:
        if isinstance(layer, cls):
            return kind
    name = getattr(getattr(layer, "activation", None), "__name__", None)
    return None if name in (None, "linear") else name


def _saturated_frac(kind: str, a: np.ndarray) -> float:
    """Fraction of outputs where the activation is flat: sigmoid within 0.01 of 0 or 1 (σ′ < 0.01, under 4 % of its
    maximum ¼), tanh within 0.01 of ±1 (tanh′ < 0.02); 0 for activations that do not saturate this way."""
    if kind == "sigmoid":
        return float(np.mean((a < 0.01) | (a > 0.99)))
    if kind == "tanh":
        return float(np.mean(np.abs(a) > 0.99))
    return 0.0


def layer_stats(kind: str, output: Any) -> dict[str, Any]:
    """One row of ``tap_activations``: ``activation`` and ``ACTIVATION_COLUMNS`` of one layer's output on a batch
    (units are the last axis, channels last)."""
    a = np.asarray(output, dtype=np.float64)
    finite = np.isfinite(a)
    af = a[finite] if finite.any() else np.array([np.nan])
    units = a.reshape(-1, a.shape[-1]) if a.ndim >= 2 else a.reshape(-1, 1)
    per_sample = np.where(finite, a, np.nan).reshape(len(a), -1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: their spread is NaN
        spread = float(np.nanmean(np.nanstd(per_sample, axis=0))) if finite.any() else np.nan
    return {"activation": kind, "mean": af.mean(), "std": af.std(), "spread": spread, "zero_frac": np.mean(a == 0),
            "dead_frac": float(np.mean(np.all(units == 0, axis=0))), "saturated_frac": _saturated_frac(kind, a),
            "nonfinite_frac": 1 - finite.mean()}


@dataclass
class ActivationTap:
    """What ``tap_activations`` read: ``stats`` (index ``layer``, columns ``activation`` and ``ACTIVATION_COLUMNS``,
    input → output), the tapped layers that are model outputs, what could not be read (``notes``), and ``names``:
    every layer the tap could have read."""

    stats: pd.DataFrame
    output_layers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


def _plan(model: keras.Model, wanted: Callable[[Any], bool], tap: ActivationTap) -> list[tuple]:
    """``(layer, tensor, is_output)`` per tapped layer and ``(nested_model, its input tensor, is_output)`` per nested
    model, in the model's layer order."""
    outputs = {id(t) for t in tf.nest.flatten(model.outputs)}
    entries = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            nodes = getattr(layer, "_inbound_nodes", [])  # the nested model's calls: one, in this model's graph
            inner = graph_inputs(layer)
            if inner is None or len(inner) != 1 or len(nodes) != 1 or len(nodes[0].input_tensors) != 1:
                tap.notes.append(f"layers inside the nested model {layer.name!r} not measured: it is subclassed, "
                                 "shared or has several inputs")
                continue
            entries.append((layer, nodes[0].input_tensors[0], id(nodes[0].output_tensors[0]) in outputs))
            continue
        tap.names.append(layer.name)
        if not wanted(layer):
            continue
        try:
            tensor = layer.output
        except (AttributeError, ValueError):  # a shared layer (several outputs) or an unconnected one
            tap.notes.append(f"the output of the shared or unconnected layer {layer.name!r} not measured")
            continue
        entries.append((layer, tensor, id(tensor) in outputs))
    return entries


def _read(model: keras.Model, x: Any, training: bool, wanted: Callable[[Any], bool], tap: ActivationTap,
          is_output: bool, rows: list[dict]) -> None:
    entries = _plan(model, wanted, tap)
    if not entries:
        return
    values = keras.Model(model.inputs[0], [tensor for _, tensor, _ in entries])(x, training=training)
    values = values if isinstance(values, (list, tuple)) else [values]
    for (layer, _, output), value in zip(entries, values):
        if isinstance(layer, keras.Model):
            _read(layer, value, training, wanted, tap, is_output and output, rows)
            continue
        rows.append({"layer": layer.name, **layer_stats(activation_kind(layer) or "linear", value)})
        if is_output and output:
            tap.output_layers.append(layer.name)


def tap_activations(model: keras.Model, x: np.ndarray, *, training: bool = False,
                    layer_names: list[str] | None = None) -> ActivationTap:
    """Statistics of the output of every layer with a nonlinearity (or of the layers named in ``layer_names``) on the
    batch ``x``, input → output; a model whose intermediate outputs cannot be tapped gets an empty table and a note."""
    columns = ["activation", *ACTIVATION_COLUMNS]
    tap = ActivationTap(pd.DataFrame(columns=columns, index=pd.Index([], name="layer")))
    inputs = graph_inputs(model)
    if inputs is None:
        tap.notes.append(f"activation statistics unavailable: {model.name!r} is a subclassed model, whose "
                         "intermediate outputs cannot be tapped")
        return tap
    if len(inputs) != 1:
        tap.notes.append(f"activations not measured: the model has {len(inputs)} inputs")
        return tap
    names = None if layer_names is None else set(layer_names)
    rows: list[dict] = []
    _read(model, x, training, lambda layer: activation_kind(layer) is not None if names is None
          else layer.name in names, tap, True, rows)
    if rows:
        tap.stats = pd.DataFrame(rows, columns=["layer", *columns]).set_index("layer")
    return tap


# --- the loss ----------------------------------------------------------------------------------------------------

def _looks_like_probabilities(outputs: np.ndarray) -> bool:
    return bool(outputs.ndim == 2 and outputs.shape[-1] > 1 and np.all(outputs >= 0)
                and np.allclose(outputs.sum(axis=-1), 1.0, atol=1e-3))


def resolve_loss(model: keras.Model, loss: Any, y: np.ndarray,
                 outputs: Callable[[], np.ndarray]) -> tuple[Callable[..., Any], Hashable]:
    """The loss to differentiate and a key naming it (for caching compiled functions).

    ``loss`` when given (a Keras loss object, function or name); else the model's compiled loss; else cross-entropy —
    sparse for integer labels (one axis fewer than the output) — from probabilities when ``outputs()`` (the model's
    output on the batch, only computed here) are non-negative rows summing to 1 (softmax), from logits otherwise.
    """
    allowed = "a Keras loss (an object, a function or a name such as 'mse')"
    if loss is not None:
        if isinstance(loss, str):
            try:
                return keras.losses.get(loss), ("name", loss)
            except ValueError:
                raise value_error("loss", allowed, loss) from None
        if not callable(loss):
            raise type_error("loss", allowed, loss)
        return loss, ("object", id(loss))
    compiled = getattr(model, "loss", None)
    if compiled is not None:
        if isinstance(compiled, (dict, list, tuple)):
            raise ValueError("loss must be given for a model compiled with several losses; got None")
        if isinstance(compiled, str):
            return keras.losses.get(compiled), ("compiled", compiled)
        return compiled, ("compiled", id(compiled))
    pred = np.asarray(outputs())
    probabilities = _looks_like_probabilities(pred)
    sparse = y.ndim == pred.ndim - 1 or _labels_with_unit_axis(y.shape, pred.shape)
    cls = keras.losses.SparseCategoricalCrossentropy if sparse else keras.losses.CategoricalCrossentropy
    return cls(from_logits=not probabilities), ("crossentropy", sparse, probabilities)
