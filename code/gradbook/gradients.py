"""Measuring gradients: the norm of ∂L/∂W for every layer of a Keras model, and what the activations look like.

These functions take a model and a batch and return numbers (pandas objects); they never plot. Two of them are for
checking your own model: ``GradientMonitor``, a callback that records per-layer gradient norms while ``fit`` trains,
and ``diagnose``, one call that measures a model on a batch and reports vanishing or exploding gradients, saturated
or dead units and NaN/inf, with the evidence, the likely cause and the remedy.
"""
from __future__ import annotations

import html
import sys
import warnings
import logging
import weakref
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from gradbook._checks import one_of, positive_float, positive_int



class _NoRetracingNotice(logging.Filter):
    """gradbook compiles one function per measured model on purpose, so TensorFlow's "triggered tf.function
    retracing" notice (logged after five models) is expected, not a performance bug; let every other record pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


tf.get_logger().addFilter(_NoRetracingNotice())
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


def _saturated_frac(kind: str, a: np.ndarray) -> float:
    """Fraction of outputs where the activation is flat: sigmoid within 0.01 of 0 or 1 (σ′ < 0.01, under 4 % of its
    maximum ¼), tanh within 0.01 of ±1 (tanh′ < 0.02); 0 for activations that do not saturate this way."""
    if kind == "sigmoid":
        return float(np.mean((a < 0.01) | (a > 0.99)))
    if kind == "tanh":
        return float(np.mean(np.abs(a) > 0.99))
    return 0.0


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
        af = a[finite] if finite.any() else np.array([np.nan])
        rows.append({"layer": layer.name, "mean": af.mean(), "std": af.std(), "zero_frac": np.mean(a == 0),
                     "saturated_frac": _saturated_frac(kind, a), "nonfinite_frac": 1 - finite.mean()})
    return pd.DataFrame(rows).set_index("layer")


# ---------------------------------------------------------------------------------------------------------------------
# GradientMonitor: the training gradients themselves, recorded inside fit's compiled step.
# ---------------------------------------------------------------------------------------------------------------------

def _kernel_variable(layer: keras.layers.Layer) -> Any:
    """The variable behind ``layer.kernel`` (Dense and Conv return it directly; LoRA/quantised layers keep it in
    ``_kernel``)."""
    kernel = getattr(layer, "_kernel", None)
    return layer.kernel if kernel is None else kernel


class GradientMonitor(keras.callbacks.Callback):
    """Records every kernel's gradient norm ‖∂L/∂W‖ and update/weight ratio ‖ΔW‖/‖W‖ while ``fit`` trains.

    The numbers are the *training gradients themselves*: the monitor hooks the model's optimizer (``apply``), so the
    norms are computed inside ``fit``'s compiled step from the gradients the optimizer receives, then read once per
    batch. No extra forward or backward pass is run, which keeps the overhead to a few per cent (a fixed probe batch
    would cost one more forward and backward pass per recorded step: see ``benchmarks/bench_gradients.py``). When the
    monitor is not training, the hook does nothing.

    What it records is in ``history`` (gradient norms) and ``update_ratio`` (update/weight ratios), two
    ``pandas.DataFrame`` with one row per recorded step and one column per kernel layer.

    Attributes:
        layer_names: the kernel layers, input → output (the columns of ``history``).
        nonfinite_steps: the steps whose gradients or kernel weights held NaN or inf. Both are checked because
            kernels differ in how they propagate NaN: where an activation maps NaN to 0 (``max(x, 0)`` in some
            oneDNN kernels) the gradients after a diverged step can be finite while the weights are not.
        stop_reason: the message given when training was stopped, else ``None``.

    Args:
        every: record every ``every``-th step (steps 0, every, 2·every, …); steps with non-finite gradients or
            weights are always recorded.
        stop_on_nonfinite: stop training (``model.stop_training``) at the first step with a NaN or inf gradient
            or weight, with a message naming the step and the layers; otherwise say so once and keep training.

    With ``steps_per_execution > 1`` only the last recorded step of each execution is kept. Gradients come from
    ``fit``'s loss in training mode (dropout on, BatchNorm on batch statistics) — what the optimizer uses; with a
    ``LossScaleOptimizer`` (mixed precision) the unscaled gradients of the steps it applies are recorded.

    Example:
        >>> from gradbook.models import deep_mlp
        >>> import numpy as np
        >>> model = deep_mlp(2, 8)
        >>> model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> monitor = GradientMonitor(every=2)
        >>> _ = model.fit(np.zeros((32, 784)), np.zeros(32, int), batch_size=8, verbose=0, callbacks=[monitor])
        >>> monitor.history.shape
        (2, 3)
    """

    def __init__(self, every: int = 1, *, stop_on_nonfinite: bool = False) -> None:
        super().__init__()
        self._every = positive_int("every", every)
        if not isinstance(stop_on_nonfinite, bool):
            raise ValueError(f"stop_on_nonfinite must be True or False; got {stop_on_nonfinite!r}")
        self.stop_on_nonfinite = stop_on_nonfinite
        self.layer_names: list[str] = []
        self.nonfinite_steps: list[int] = []
        self.stop_reason: str | None = None
        self._hooked: tuple[Any, Any] | None = None  # (model, optimizer) the hook is installed on
        self._state: tuple[list[Any], tf.Variable, list[tf.Variable]] | None = None  # kernels and variables
        self._active = tf.Variable(False, trainable=False, name="gradient_monitor_active")
        self._reset()

    @property
    def every(self) -> int:
        """The monitor records every ``every``-th step; fixed when the monitor is made, since the training step is
        compiled with it."""
        return self._every

    def _reset(self) -> None:
        self._steps: list[int] = []
        self._norms: list[np.ndarray] = []
        self._ratios: list[np.ndarray] = []
        self._frames: tuple[pd.DataFrame, pd.DataFrame] | None = None
        self._last_step = -1  # the optimizer's step of the last record read
        self._offset = 0  # added to the optimizer's step: a recompiled model's new optimizer starts again at 0
        self.nonfinite_steps = []
        self.stop_reason = None

    def _frame(self, rows: list[np.ndarray]) -> pd.DataFrame:
        frame = pd.DataFrame(np.array(rows, dtype=np.float64).reshape(len(rows), len(self.layer_names)),
                             index=pd.Index(self._steps, name="step", dtype=np.int64),
                             columns=pd.Index(self.layer_names, name="layer"))
        return frame

    @property
    def history(self) -> pd.DataFrame:
        """The gradient norms ‖∂L/∂W‖ of the recorded steps.

        One row per recorded step (index ``step``: the optimizer's step, counted from 0 across ``fit`` calls and
        on after the model is compiled again), one column per kernel layer, input → output.
        """
        return self._tables()[0]

    @property
    def update_ratio(self) -> pd.DataFrame:
        """The update/weight ratios ‖W_after − W_before‖ / ‖W_before‖ of the recorded steps, shaped like ``history``
        (NaN where ‖W_before‖ = 0)."""
        return self._tables()[1]

    def _tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        if self._frames is None:
            self._frames = (self._frame(self._norms), self._frame(self._ratios))
        return self._frames

    def set_model(self, model: keras.Model) -> None:
        super().set_model(model)
        optimizer = getattr(model, "optimizer", None)
        if optimizer is None:  # evaluate/predict of an uncompiled model: nothing to hook
            return
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer: the unscaled gradients
        if self._hooked is not None and self._hooked[0] is model and self._hooked[1] is optimizer:
            return
        if self._hooked is None or self._hooked[0] is not model:
            self._reset()
            self._state = None
        elif self._steps:  # the same model with a new optimizer (compiled again): the numbering goes on
            self._offset = self._steps[-1] + 1
            self._last_step = -1
            self._state[1].assign(np.full(self._state[1].shape, np.nan))
        if model.built and not kernel_layers(model):
            raise ValueError(f"model {model.name!r} has no layer with a kernel (Dense, Conv…) to monitor")
        self._install(model, optimizer)

    def _prepare(self, model: keras.Model) -> tuple[list[Any], tf.Variable, list[tf.Variable]] | None:
        """The kernels and the monitor's variables, made once the model is built (a subclassed model is built only
        when ``fit`` first traces its training step, so this runs then, lifted out of the trace)."""
        if self._state is None:
            layers = kernel_layers(model)
            if not layers:
                return None
            kernels = [_kernel_variable(layer) for layer in layers]
            with tf.init_scope():
                # One variable the training step writes and the callback reads:
                # [step, 1 if every kernel weight is finite else 0, norms…, update ratios…].
                record = tf.Variable(np.full(2 + 2 * len(kernels), np.nan), dtype=tf.float64, trainable=False,
                                     name="gradient_record")
                before = [tf.Variable(tf.zeros(k.shape, k.dtype), trainable=False, name=f"before_{i}")
                          for i, k in enumerate(kernels)]
            self.layer_names = [layer.name for layer in layers]
            self._state = (kernels, record, before)
        return self._state

    def _install(self, model: keras.Model, optimizer: Any) -> None:
        active, every, original = self._active, self._every, optimizer.apply

        def hooked_apply(grads: Any, trainable_variables: Any = None) -> Any:
            if self._hooked is None or self._hooked[0] is not model:  # the monitor has moved on to another model
                return original(grads, trainable_variables)
            state = self._prepare(model)
            if state is None:
                return original(grads, trainable_variables)
            kernels, record, before = state
            grads = list(grads)
            variables = list(trainable_variables) if trainable_variables is not None else \
                list(getattr(optimizer, "_trainable_variables", []))
            position = {id(v): i for i, v in enumerate(variables)}
            kernel_grads = [grads[position[id(k)]] if id(k) in position else None for k in kernels]
            kernel_grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in kernel_grads]
            present = [g for g in kernel_grads if g is not None]
            step = tf.cast(optimizer.iterations, tf.int64)  # read before ``original`` increments it

            def weights_finite() -> tf.Tensor:  # the weights this step's gradient was computed with
                return tf.reduce_all(tf.stack([tf.reduce_all(tf.math.is_finite(k)) for k in kernels]))

            def due() -> tf.Tensor:  # a step to record, or one with NaN/inf (a sum that overflows only adds a row)
                total = tf.add_n([tf.reduce_sum(tf.cast(g, tf.float32)) for g in present]) if present else 0.0
                healthy = tf.logical_and(tf.math.is_finite(total), weights_finite())
                return tf.logical_or(tf.equal(step % every, 0), tf.logical_not(healthy))

            recording = tf.convert_to_tensor(active) if every == 1 else tf.cond(active, due, lambda: tf.constant(False))

            def snapshot() -> tf.Tensor:
                for keep, k in zip(before, kernels):
                    keep.assign(k)
                return tf.cast(weights_finite(), tf.float64)

            def write() -> tf.Tensor:
                norms = [tf.norm(tf.cast(g, tf.float64)) if g is not None else tf.constant(0.0, tf.float64)
                         for g in kernel_grads]
                ratios = []  # weights are O(1): float32 is enough here, unlike for gradients, which can overflow
                for keep, k in zip(before, kernels):
                    old = tf.norm(keep)
                    change = tf.norm(tf.convert_to_tensor(k) - keep)
                    ratios.append(tf.cast(tf.where(old > 0, change / tf.where(old > 0, old, 1.0), np.nan), tf.float64))
                record.assign(tf.concat([[tf.cast(step, tf.float64), finite_before], tf.stack(norms),
                                         tf.stack(ratios)], 0))
                return tf.constant(0)

            finite_before = tf.cond(recording, snapshot, lambda: tf.constant(1.0, tf.float64))
            result = original(grads, trainable_variables)
            tf.cond(recording, write, lambda: tf.constant(0))
            return result

        optimizer.apply = hooked_apply
        self._hooked = (model, optimizer)
        model.train_function = None  # fit traces its training step again, now with the hook
        if model.built:
            self._prepare(model)

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Switch the hook in the training step on."""
        self._active.assign(True)

    def on_train_end(self, logs: dict | None = None) -> None:
        """Switch the hook off: later ``fit`` calls without the monitor record nothing."""
        self._active.assign(False)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Read the step's record, if it is a recorded step, and act on NaN/inf gradients."""
        if self._state is None:
            return
        values = self._state[1].numpy()
        if np.isnan(values[0]) or int(values[0]) == self._last_step:
            return
        n = len(self.layer_names)
        self._last_step = int(values[0])
        step, weights_ok = self._offset + self._last_step, bool(values[1] == 1.0)
        norms, ratios = values[2:2 + n].copy(), values[2 + n:].copy()
        self._steps.append(step)
        self._norms.append(norms)
        self._ratios.append(ratios)
        self._frames = None
        if not (weights_ok and np.all(np.isfinite(norms))):
            self._nonfinite(step, norms)

    def _nonfinite(self, step: int, norms: np.ndarray) -> None:
        first = not self.nonfinite_steps
        self.nonfinite_steps.append(step)
        if not (first or self.stop_on_nonfinite):
            return
        bad = [name for name, v in zip(self.layer_names, norms) if not np.isfinite(v)]
        if bad:
            what = "NaN" if np.isnan(norms).any() else "inf"
            found = (f"non-finite gradient ({what}) at step {step} in {len(bad)} of {len(self.layer_names)} layers "
                     f"({_name_list(bad)})")
        else:
            found = f"non-finite weights (NaN or inf) at step {step}, though its gradients are finite"
        message = (f"GradientMonitor: {found}; the weights after this step are not usable. "
                   f"Likely cause: exploding gradients, a too-large learning rate or NaN in the data. Remedies: a "
                   f"lower learning rate, gradient clipping (e.g. clipnorm=1.0), He/Glorot initialisation. "
                   f"See {BOOK_SECTIONS['clipping']}")
        if self.stop_on_nonfinite:
            self.model.stop_training = True
            self.stop_reason = message + " — training stopped."
            print(self.stop_reason, file=sys.stderr)
        else:
            print(message + " — training continues (pass stop_on_nonfinite=True to stop).", file=sys.stderr)


# ---------------------------------------------------------------------------------------------------------------------
# diagnose: one call that measures a model on a batch and says what is wrong, why, and what to do.
# ---------------------------------------------------------------------------------------------------------------------

BOOK_SECTIONS: dict[str, str] = {
    "mechanism": "chapters/04_vanishing_exploding.html",
    "activations": "chapters/06a_activations_init.html#sec-activation-functions",
    "dead_units": "chapters/06a_activations_init.html#sec-dead-relus",
    "initialisation": "chapters/06a_activations_init.html#sec-initialisation",
    "normalisation": "chapters/06b_normalization_residual.html#sec-batch-norm",
    "residual": "chapters/06b_normalization_residual.html#sec-residual",
    "clipping": "chapters/06c_clipping_recurrent.html#sec-clipping",
}
"""Where the book explains each finding and its remedies (pages and section labels, relative to the book's root);
the only place these links are written."""

THRESHOLDS: dict[str, float] = {
    "vanishing_ratio": 1e-2,
    "exploding_ratio": 1e2,
    "grad_weight_ratio": 1e2,
    "saturated_frac": 0.5,
    "dead_frac": 0.5,
}
"""The rules behind ``diagnose``'s findings (override any of them with ``diagnose(..., thresholds={...})``):

- ``vanishing_ratio`` (1e-2): ‖∂L/∂W‖ of the first kernel layer over that of the last below it — two orders of
  magnitude: with one learning rate for all layers, the first learns a hundred times slower than the last; or the
  across-sample ``spread`` of the last hidden activation over the first's below it — the differences between inputs
  fade before they reach the output. Healthy networks at initialisation (ReLU + He, tanh + Glorot, the article's
  CNN) have both ratios between 0.1 and 10.
- ``exploding_ratio`` (1e2): the same two ratios above it — the gradient grows a hundredfold toward the input, or
  the activations toward the output.
- ``grad_weight_ratio`` (1e2): ‖∂L/∂W‖ / ‖W‖ of a layer above it — one SGD step at Keras' default learning rate 0.01
  would move the weights by more than their own norm (healthy networks start near 0.01–1).
- ``saturated_frac`` (0.5): more than half of a sigmoid/tanh layer's outputs within 0.01 of its bounds, where the
  derivative is below 4 % (sigmoid) or 2 % (tanh) of its maximum.
- ``dead_frac`` (0.5): more than half of a ReLU layer's units output exactly 0 for every sample of the batch, so they
  get no gradient at all.
"""

KINDS = ("vanishing", "exploding", "saturation", "dead_units", "nonfinite")
"""The kinds of finding, in the order ``diagnose`` reports them."""
_RELU_KINDS = ("relu", "relu6")  # exactly zero below 0: a unit can die
_PROBABILITY_OUTPUTS = ("softmax", "log_softmax")


@dataclass(frozen=True)
class Finding:
    """One problem ``diagnose`` found: what, where, the numbers that show it, why, what to do, and where to read more.

    Attributes:
        kind: one of ``"vanishing"``, ``"exploding"``, ``"saturation"``, ``"dead_units"``, ``"nonfinite"``.
        layers: the layers concerned, input → output.
        evidence: the measured numbers (and the thresholds they crossed), by name.
        cause: the likely cause.
        remedy: what to try.
        link: the book's section that explains it (relative to the book's root; see ``BOOK_SECTIONS``).

    Example:
        >>> f = Finding("vanishing", ("dense_1",), {"first_last_ratio": 1e-9}, "sigmoid", "ReLU + He", "ch4.html")
        >>> str(f).splitlines()[0]
        '[vanishing] dense_1'
    """

    kind: str
    layers: tuple[str, ...]
    evidence: dict[str, float]
    cause: str
    remedy: str
    link: str

    def __post_init__(self) -> None:
        one_of("kind", self.kind, KINDS)

    def evidence_text(self) -> str:
        """The evidence as one line: ``name value, name value, …``."""
        return ", ".join(f"{k} {_fmt(v)}" for k, v in self.evidence.items())

    def __str__(self) -> str:
        return (f"[{self.kind}] {_name_list(self.layers)}\n  evidence: {self.evidence_text()}\n"
                f"  cause:    {self.cause}\n  remedy:   {self.remedy}\n  see:      {self.link}")


@dataclass
class DiagnosticReport:
    """What ``diagnose`` measured on one batch, and its findings. ``str(report)`` is plain text; a notebook shows it
    as tables.

    Attributes:
        model_name: the model's name.
        samples: the batch size.
        loss: the batch loss.
        training: whether the model ran in training mode.
        gradients: per kernel layer (input → output): ``type``, ``grad_norm`` ‖∂L/∂W‖, ``weight_norm`` ‖W‖,
            ``grad_weight_ratio``, ``fan_in_var`` (fan-in × Var(W): 1 keeps a linear/tanh layer's scale, 2 a ReLU
            layer's — He), ``grad_nonfinite_frac``.
        activations: per activation (every layer with a nonlinearity whose output can be tapped): ``activation``,
            ``mean``, ``std``, ``spread`` (the std across samples, averaged over units: how much the layer's output
            differs from one input to another), ``zero_frac``, ``dead_frac`` (units zero on every sample),
            ``saturated_frac``, ``nonfinite_frac``. Empty when intermediate outputs cannot be reached (subclassed
            models).
        findings: the ``Finding`` list; empty for a healthy model.
        first_last_ratio: ‖∂L/∂W_first‖ / ‖∂L/∂W_last‖ (NaN when undefined).
        notes: what could not be measured, and why.

    Example:
        >>> from gradbook.models import deep_mlp
        >>> import numpy as np
        >>> x = np.random.default_rng(0).uniform(size=(64, 784))
        >>> report = diagnose(deep_mlp(3, 16, "relu", "he_normal"), x, np.arange(64) % 10)
        >>> report.healthy, list(report.gradients.index)
        (True, ['dense_1', 'dense_2', 'dense_3', 'logits'])
    """

    model_name: str
    samples: int
    loss: float
    training: bool
    gradients: pd.DataFrame
    activations: pd.DataFrame
    findings: list[Finding] = field(default_factory=list)
    first_last_ratio: float = float("nan")
    notes: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """True when there is no finding."""
        return not self.findings

    @property
    def kinds(self) -> list[str]:
        """The kinds of the findings, in order."""
        return [f.kind for f in self.findings]

    def _header(self) -> str:
        mode = "training" if self.training else "inference"
        return (f"Gradient diagnosis of {self.model_name!r} on {self.samples} samples ({mode} mode): loss "
                f"{_fmt(self.loss)}, first/last gradient ratio {_fmt(self.first_last_ratio)}")

    def __repr__(self) -> str:
        return f"<DiagnosticReport {self.model_name!r}: {len(self.findings)} finding(s) {self.kinds}>"

    def __str__(self) -> str:
        lines = [self._header(), ""]
        if self.findings:
            lines.append(f"{len(self.findings)} finding(s):")
            lines.extend(str(f) for f in self.findings)
        else:
            lines.append("No findings: gradients reach every layer at a usable scale; no saturation, no dead units, "
                         "all values finite.")
        lines.extend(f"note: {n}" for n in self.notes)
        lines += ["", "Gradients per kernel layer (input → output):", _table_text(self.gradients)]
        if len(self.activations):
            lines += ["", "Activations:", _table_text(self.activations)]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        parts = [f"<p><strong>{esc(self._header())}</strong></p>"]
        if self.findings:
            rows = "".join(
                f"<tr><td><strong>{esc(f.kind)}</strong></td><td>{esc(_name_list(f.layers))}</td>"
                f"<td>{esc(f.evidence_text())}</td><td>{esc(f.cause)}</td><td>{esc(f.remedy)}</td>"
                f"<td><a href=\"{esc(f.link)}\">{esc(f.link)}</a></td></tr>" for f in self.findings)
            parts.append("<table><thead><tr><th>finding</th><th>layers</th><th>evidence</th><th>likely cause</th>"
                         f"<th>remedy</th><th>read more</th></tr></thead><tbody>{rows}</tbody></table>")
        else:
            parts.append("<p>No findings: gradients reach every layer at a usable scale; no saturation, no dead "
                         "units, all values finite.</p>")
        parts.extend(f"<p><em>note: {esc(n)}</em></p>" for n in self.notes)
        parts.append("<p>Gradients per kernel layer (input → output)</p>")
        parts.append(self.gradients.to_html(float_format=_fmt, na_rep="nan"))
        if len(self.activations):
            parts.append("<p>Activations</p>")
            parts.append(self.activations.to_html(float_format=_fmt, na_rep="nan"))
        return "\n".join(parts)


def _fmt(value: Any) -> str:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(value)
    value = float(value)
    if not np.isfinite(value):
        return str(value)
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.3g}"
    return f"{value:.2e}"


def _name_list(names: Any, limit: int = 6) -> str:
    names = list(names)
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:3])}, …, {names[-1]} ({len(names)} layers)"


def _table_text(frame: pd.DataFrame) -> str:
    return frame.to_string(float_format=_fmt, na_rep="nan")


def _activation_kind(layer: keras.layers.Layer) -> str | None:
    """The nonlinearity a layer applies to its output (``"relu"``, ``"sigmoid"``…), or None for a linear layer."""
    for cls, kind in ((keras.layers.ReLU, "relu"), (keras.layers.LeakyReLU, "leaky_relu"), (keras.layers.ELU, "elu"),
                      (keras.layers.PReLU, "prelu"), (keras.layers.Softmax, "softmax")):
        if isinstance(layer, cls):
            return kind
    name = getattr(getattr(layer, "activation", None), "__name__", None)
    return None if name in (None, "linear") else name


def _tap_activations(model: keras.Model, x: np.ndarray, training: bool) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Statistics of every nonlinearity's output, the names of the model's output layers, and notes."""
    columns = ["activation", "mean", "std", "spread", "zero_frac", "dead_frac", "saturated_frac", "nonfinite_frac"]
    empty = pd.DataFrame(columns=columns, index=pd.Index([], name="layer"))
    try:
        inputs = model.inputs
        if len(inputs) != 1:
            return empty, [], [f"activations not measured: the model has {len(inputs)} inputs"]
    except (AttributeError, ValueError):
        return empty, [], [f"activation statistics unavailable: {model.name!r} is a subclassed model, whose "
                           "intermediate outputs cannot be tapped; the findings rest on the gradients alone "
                           "(vanishing, exploding, nonfinite)"]
    chosen, tensors, skipped = [], [], []
    for layer in model.layers:
        kind = _activation_kind(layer)
        if kind is None:
            continue
        try:
            tensors.append(layer.output)
            chosen.append((layer, kind))
        except (AttributeError, ValueError):  # a shared layer (several outputs) or an unconnected one
            skipped.append(layer.name)
    notes = [f"activations of shared or unconnected layers not measured: {_name_list(skipped)}"] if skipped else []
    if not chosen:
        return empty, [], notes
    outputs = keras.Model(inputs[0], tensors)(x, training=training)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    output_ids = {id(t) for t in tf.nest.flatten(model.outputs)}
    output_layers = [layer.name for (layer, _), t in zip(chosen, tensors) if id(t) in output_ids]
    rows = []
    for (layer, kind), out in zip(chosen, outputs):
        a = np.asarray(out, dtype=np.float64)
        finite = np.isfinite(a)
        af = a[finite] if finite.any() else np.array([np.nan])
        units = a.reshape(-1, a.shape[-1]) if a.ndim >= 2 else a.reshape(-1, 1)  # channels last
        per_sample = np.where(finite, a, np.nan).reshape(len(a), -1)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: their spread is NaN
            spread = float(np.nanmean(np.nanstd(per_sample, axis=0))) if finite.any() else np.nan
        rows.append({"layer": layer.name, "activation": kind, "mean": af.mean(), "std": af.std(), "spread": spread,
                     "zero_frac": float(np.mean(a == 0)), "dead_frac": float(np.mean(np.all(units == 0, axis=0))),
                     "saturated_frac": _saturated_frac(kind, a), "nonfinite_frac": float(1 - finite.mean())})
    return pd.DataFrame(rows, columns=["layer"] + columns).set_index("layer"), output_layers, notes


def _diagnose_loss(model: keras.Model, loss: Any, y: np.ndarray, pred: np.ndarray) -> Any:
    """The loss ``diagnose`` uses: ``loss`` if given, the compiled loss, else cross-entropy — on probabilities when
    every output row is non-negative and sums to 1 (a softmax output), on logits otherwise."""
    if loss is None:
        compiled = getattr(model, "loss", None)
        if compiled is not None:
            if isinstance(compiled, (dict, list, tuple)):
                raise ValueError("loss must be given for a model compiled with several losses")
            return keras.losses.get(compiled) if isinstance(compiled, str) else compiled
        probabilities = bool(pred.ndim == 2 and pred.shape[-1] > 1 and np.all(pred >= 0)
                             and np.allclose(pred.sum(axis=-1), 1.0, atol=1e-3))
        sparse = y.ndim == pred.ndim - 1
        cls = keras.losses.SparseCategoricalCrossentropy if sparse else keras.losses.CategoricalCrossentropy
        return cls(from_logits=not probabilities)
    try:
        resolved = keras.losses.get(loss) if isinstance(loss, str) else loss
    except ValueError as exc:
        raise ValueError(f"loss must be a Keras loss (an object or a name such as 'mse'); got {loss!r}") from exc
    if not callable(resolved):
        raise ValueError(f"loss must be a Keras loss (an object or a name such as 'mse'); got {loss!r}")
    return resolved


def _check_targets(y: np.ndarray, pred_shape: tuple[int, ...]) -> None:
    """``y`` must match the output's shape, or be integer class labels for it (one axis fewer)."""
    if len(y.shape) == len(pred_shape):
        if tuple(y.shape[1:]) != tuple(pred_shape[1:]):
            raise ValueError(f"y has per-sample shape {tuple(y.shape[1:])}, but the model outputs "
                             f"{tuple(pred_shape[1:])}")
        return
    if len(y.shape) != len(pred_shape) - 1 or tuple(y.shape[1:]) != tuple(pred_shape[1:-1]):
        raise ValueError(f"y has per-sample shape {tuple(y.shape[1:])}; the model outputs {tuple(pred_shape[1:])}, "
                         f"so y must have per-sample shape {tuple(pred_shape[1:])} or be class labels of shape "
                         f"{tuple(pred_shape[1:-1])}")
    classes = pred_shape[-1]
    if classes > 1:
        if not np.all(np.isfinite(y)) or not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError("y must hold integer class labels when it has one axis fewer than the model's output")
        if y.size and (y.min() < 0 or y.max() >= classes):
            raise ValueError(f"y holds labels from {int(y.min())} to {int(y.max())}, but the model outputs "
                             f"{classes} classes (labels 0 to {classes - 1})")


def diagnose(model: keras.Model, x: Any, y: Any, loss: Any = None, *, training: bool = False,
             thresholds: dict[str, float] | None = None) -> DiagnosticReport:
    """Measure a model's gradients and activations on one batch and say what is wrong: vanishing or exploding
    gradients, saturated or dead units, NaN/inf — with the evidence, the likely cause and the remedy.

    Use it at initialisation, before training, or at any point during training. It runs one forward and backward
    pass and changes nothing in the model (in training mode, BatchNorm's moving statistics are restored afterwards).
    The rules are in ``THRESHOLDS``; the findings link to the book's sections in ``BOOK_SECTIONS``.

    Works for Sequential, functional and subclassed models with one input, and Dense and convolutional layers (any
    layer with a ``kernel``; nested models are looked into, other nested layers are not). Activation statistics need
    the layers' outputs: they are measured for Sequential and functional models (every layer with a nonlinearity:
    ``activation=…``, ``Activation``, ``ReLU``…; units are the last axis, channels-last); a subclassed model's
    intermediate outputs cannot be tapped, so its findings rest on the gradients alone (vanishing, exploding,
    nonfinite), and ``report.notes`` says so. For a subclassed model, "first" and "last" layer follow the order in
    which its layers were created.

    Args:
        model: a Keras model (built, or buildable by calling it on ``x``).
        x: a batch of inputs (for dead units and saturation, ≥ 64 samples give reliable fractions).
        y: its targets: integer class labels, or arrays shaped like the model's output.
        loss: a Keras loss (object or name); default: the compiled loss, else cross-entropy — on probabilities when
            the model's outputs are non-negative rows summing to 1 (softmax), on logits otherwise.
        training: run the model in training mode (dropout on, BatchNorm on batch statistics), as ``fit`` does.
        thresholds: overrides of ``THRESHOLDS`` entries.

    Returns:
        A ``DiagnosticReport``: ``report.findings`` (empty when healthy), ``report.gradients``,
        ``report.activations``, ``str(report)`` as plain text, a table in a notebook.

    Raises:
        TypeError: ``model`` is not a Keras model.
        ValueError: ``x`` or ``y`` does not fit the model, or a bad ``loss`` or ``thresholds``.

    Example:
        >>> from gradbook.data import mnist_batch
        >>> from gradbook.models import deep_mlp
        >>> x, y = mnist_batch(256)
        >>> diagnose(deep_mlp(20, activation="sigmoid"), x, y).kinds
        ['vanishing']
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model; got {type(model).__name__}")
    if not isinstance(training, bool):
        raise ValueError(f"training must be True or False; got {training!r}")
    limits = dict(THRESHOLDS)
    for key, value in (thresholds or {}).items():
        one_of("thresholds key", key, THRESHOLDS)
        limits[key] = positive_float(f"thresholds[{key!r}]", value)
    x_arr = np.asarray(x)
    if x_arr.dtype == object or x_arr.ndim < 2 or len(x_arr) == 0:
        raise ValueError(f"x must be a non-empty batch (an array with a leading batch axis); got shape {x_arr.shape}")
    if not model.built:
        try:
            model(x_arr[:1].astype(np.float32))
        except (ValueError, TypeError, tf.errors.InvalidArgumentError) as exc:
            raise ValueError(f"x with per-sample shape {x_arr.shape[1:]} does not fit model {model.name!r}: "
                             f"{exc}") from exc
    x_arr, y_arr = _check_batch(model, x_arr, y)
    if y_arr is None:
        raise ValueError("y must be given: the targets of x")
    layers = kernel_layers(model)
    if not layers:
        raise ValueError(f"model {model.name!r} has no layer with a kernel (Dense, Conv…) to measure")
    kernels = [layer.kernel for layer in layers]
    saved = [v.numpy() for v in model.non_trainable_variables] if training else []
    try:
        with tf.GradientTape() as tape:
            try:
                pred = model(tf.constant(x_arr), training=training)
            except (ValueError, tf.errors.InvalidArgumentError) as exc:
                raise ValueError(f"x with per-sample shape {x_arr.shape[1:]} does not fit model {model.name!r}: "
                                 f"{exc}") from exc
            if isinstance(pred, (list, tuple, dict)):
                raise ValueError(f"model {model.name!r} has several outputs; diagnose needs a single-output model")
            pred_np = np.asarray(pred)
            _check_targets(y_arr, pred_np.shape)
            loss_fn = _diagnose_loss(model, loss, y_arr, pred_np)
            try:
                value = tf.reduce_mean(loss_fn(tf.constant(y_arr), pred))
            except (ValueError, tf.errors.InvalidArgumentError) as exc:
                raise ValueError(f"the loss cannot compare y with the model's output (pass loss=…, e.g. a sparse "
                                 f"loss for integer labels): {exc}") from exc
        grads = tape.gradient(value, kernels)
        activations, output_layers, notes = _tap_activations(model, x_arr, training)
    finally:
        for variable, old in zip(model.non_trainable_variables if training else [], saved):
            variable.assign(old)

    rows = []
    for layer, kernel, grad in zip(layers, kernels, grads):
        w = np.asarray(kernel, dtype=np.float64)
        g = np.zeros_like(w) if grad is None else np.asarray(tf.convert_to_tensor(grad), dtype=np.float64)
        w_norm, g_norm = float(np.linalg.norm(w)), float(np.linalg.norm(g))
        fan_in = int(np.prod(w.shape[:-1])) if w.ndim > 1 else 1
        rows.append({"layer": layer.name, "type": type(layer).__name__, "grad_norm": g_norm, "weight_norm": w_norm,
                     "grad_weight_ratio": g_norm / w_norm if w_norm > 0 else np.nan,
                     "fan_in_var": fan_in * float(np.var(w)) if np.all(np.isfinite(w)) else np.nan,
                     "grad_nonfinite_frac": float(1 - np.isfinite(g).mean()),
                     "weights_nonfinite": bool(not np.all(np.isfinite(w)))})
    gradients = pd.DataFrame(rows).set_index("layer")
    weights_bad = gradients.pop("weights_nonfinite")
    norms = gradients["grad_norm"]
    ratio = float("nan")
    if len(norms) >= 2 and np.isfinite(norms.iloc[[0, -1]]).all() and norms.iloc[-1] > 0:
        ratio = first_last_ratio(norms)
    elif len(norms) < 2:
        notes.append("one kernel layer only: no first/last gradient ratio")
    if len(x_arr) < 32 and len(activations):
        notes.append(f"only {len(x_arr)} samples: a unit may look dead or saturated by chance")
    report = DiagnosticReport(model_name=model.name, samples=len(x_arr), loss=float(value), training=training,
                              gradients=gradients, activations=activations, first_last_ratio=ratio, notes=notes)
    report.findings = _findings(report, limits, output_layers, weights_bad, x_arr)
    return report


def _findings(report: DiagnosticReport, limits: dict[str, float], output_layers: list[str], weights_bad: pd.Series,
              x: np.ndarray) -> list[Finding]:
    g, acts, ratio = report.gradients, report.activations, report.first_last_ratio
    findings = []
    kinds = set(acts["activation"]) if len(acts) else set()
    mean_gain = float(np.nanmedian(g["fan_in_var"])) if g["fan_in_var"].notna().any() else float("nan")

    # How much the hidden activations differ between samples, last over first (forward vanishing/exploding).
    hidden = acts[~acts.index.isin(output_layers) & ~acts["activation"].isin(_PROBABILITY_OUTPUTS)] \
        if len(acts) else acts
    spread = hidden["spread"][np.isfinite(hidden["spread"]) & (hidden["spread"] > 0)] if len(hidden) \
        else pd.Series(dtype=float)
    forward = float(spread.iloc[-1] / spread.iloc[0]) if len(spread) >= 2 else float("nan")

    norms = g["grad_norm"]
    finite = norms[np.isfinite(norms)]
    last = norms.iloc[-1]
    # Vanishing: the gradient fades toward the input, or the activations fade toward the output.
    grad_vanish = np.isfinite(ratio) and ratio < limits["vanishing_ratio"]
    fwd_vanish = np.isfinite(forward) and forward < limits["vanishing_ratio"]
    if grad_vanish or fwd_vanish:
        if grad_vanish:
            layers = tuple(finite.index[finite < limits["vanishing_ratio"] * last])
        else:
            layers = tuple(spread.index[spread < limits["vanishing_ratio"] * spread.iloc[0]])
        evidence = {"first_last_ratio": ratio}
        if grad_vanish and len(norms) > 2:
            evidence["per_layer_factor"] = float(ratio ** (1 / (len(norms) - 1)))
        if np.isfinite(forward):
            evidence["activation_spread_last_first"] = forward
        evidence["median_fan_in_var"] = mean_gain
        evidence["threshold"] = limits["vanishing_ratio"]
        saturating = sorted(kinds & {"sigmoid", "tanh"})
        if saturating:
            cause = (f"{' and '.join(saturating)} layers: each multiplies the backpropagated gradient by its "
                     "derivative (σ′ ≤ ¼, tanh′ ≤ 1 and far less when saturated), so over many layers the product "
                     "shrinks geometrically")
        elif fwd_vanish or mean_gain < 0.9 * (2.0 if kinds & set(_RELU_KINDS) else 1.0):
            cause = (f"weights too small for the depth (median fan-in × Var(W) = {_fmt(mean_gain)}; He "
                     "initialisation gives 2 for ReLU, Glorot about 1): each layer scales the signal by less than "
                     "one, in the forward and the backward pass")
        else:
            cause = ("a per-layer factor below one multiplied over the depth: saturating activations or weights "
                     "initialised too small")
        findings.append(Finding(
            "vanishing", layers, evidence, cause,
            "ReLU-family activations with He initialisation (Glorot for tanh); BatchNormalization; residual "
            "connections; or fewer layers", BOOK_SECTIONS["mechanism"]))

    # Exploding: the gradient grows toward the input, is huge next to the weights, or the activations blow up.
    gw = g["grad_weight_ratio"][np.isfinite(g["grad_weight_ratio"])]
    big = gw[gw > limits["grad_weight_ratio"]]
    grad_explode = np.isfinite(ratio) and ratio > limits["exploding_ratio"]
    fwd_explode = np.isfinite(forward) and forward > limits["exploding_ratio"]
    if grad_explode or len(big) or fwd_explode:
        concerned = set(big.index)
        if grad_explode:
            concerned |= set(finite.index[finite > limits["exploding_ratio"] * last])
        if fwd_explode:
            concerned |= set(spread.index[spread > limits["exploding_ratio"] * spread.iloc[0]])
        order = list(g.index) + [n for n in acts.index if n not in g.index]
        layers = tuple(n for n in order if n in concerned)
        evidence = {"first_last_ratio": ratio, "max_grad_weight_ratio": float(gw.max()) if len(gw) else np.nan}
        if np.isfinite(forward):
            evidence["activation_spread_last_first"] = forward
        evidence["median_fan_in_var"] = mean_gain
        evidence["threshold_ratio"] = limits["exploding_ratio"]
        evidence["threshold_grad_weight"] = limits["grad_weight_ratio"]
        cause = (f"weights too large for the depth (median fan-in × Var(W) = {_fmt(mean_gain)}; He initialisation "
                 "gives 2 for ReLU, Glorot about 1): each layer multiplies the signal by more than one, forward and "
                 "backward, so it grows geometrically — at initialisation, or when a too-large learning rate has "
                 "grown the weights")
        findings.append(Finding(
            "exploding", layers, evidence, cause,
            "He (ReLU) or Glorot (tanh, sigmoid) initialisation; a lower learning rate; gradient clipping "
            "(clipnorm=1.0); BatchNormalization", BOOK_SECTIONS["mechanism"]))

    if len(acts):
        saturated = acts[acts["saturated_frac"] > limits["saturated_frac"]]
        if len(saturated):
            findings.append(Finding(
                "saturation", tuple(saturated.index),
                {**{f"saturated_frac[{n}]": float(v) for n, v in saturated["saturated_frac"].items()},
                 "threshold": limits["saturated_frac"]},
                "pre-activations too large: sigmoid is flat beyond |z| ≈ 4.6 and tanh beyond |z| ≈ 2.6, where the "
                "derivative is almost 0 — weights initialised too large, inputs not scaled, or weights grown in "
                "training",
                "scale the inputs (to [0, 1] or standardised); Glorot initialisation; BatchNormalization before the "
                "activation; or a non-saturating activation (ReLU family)", BOOK_SECTIONS["activations"]))
        relu = acts[acts["activation"].isin(_RELU_KINDS)]
        dead = relu[relu["dead_frac"] > limits["dead_frac"]]
        if len(dead):
            findings.append(Finding(
                "dead_units", tuple(dead.index),
                {**{f"dead_frac[{n}]": float(v) for n, v in dead["dead_frac"].items()},
                 "threshold": limits["dead_frac"]},
                "ReLU units whose input is negative for every sample, so they output 0 and receive no gradient: "
                "large negative biases, a too-large learning rate that pushed them there, or a deep plain ReLU "
                "stack whose inputs have become alike",
                "Leaky ReLU, ELU or GELU; He initialisation with zero biases; a lower learning rate; "
                "BatchNormalization", BOOK_SECTIONS["dead_units"]))

    # Non-finite values anywhere: input, weights, activations, gradients, loss.
    bad_grads = list(g.index[g["grad_nonfinite_frac"] > 0])
    bad_acts = list(acts.index[acts["nonfinite_frac"] > 0]) if len(acts) else []
    bad_weights = list(weights_bad.index[weights_bad])
    input_bad = float(1 - np.isfinite(x).mean())
    if bad_grads or bad_acts or bad_weights or input_bad > 0 or not np.isfinite(report.loss):
        order = list(acts.index) + list(g.index)
        layers = tuple(dict.fromkeys(n for n in order if n in set(bad_grads + bad_acts + bad_weights)))
        evidence = {"loss": report.loss, "layers_nonfinite_gradients": len(bad_grads),
                    "layers_nonfinite_activations": len(bad_acts), "layers_nonfinite_weights": len(bad_weights),
                    "input_nonfinite_frac": input_bad}
        if input_bad > 0:
            cause = "the input batch holds NaN or inf values"
            remedy = "clean the data (check for missing values and divisions by zero in preprocessing)"
        elif bad_weights:
            cause = (f"the weights of {_name_list(bad_weights)} are already NaN/inf: an earlier update diverged "
                     "(exploding gradients or a too-large learning rate)")
            remedy = ("restart from a checkpoint or re-initialise; then a lower learning rate and gradient clipping "
                      "(clipnorm=1.0)")
        else:
            cause = ("values overflowed float32 (largest ≈ 3.4e38) — an exploding forward or backward pass — or an "
                     "operation undefined at its input (log 0, 0/0) in the loss or a custom layer")
            remedy = ("He/Glorot initialisation, a lower learning rate and gradient clipping (clipnorm=1.0); a "
                      "numerically stable loss (from_logits=True)")
        findings.append(Finding("nonfinite", layers, evidence, cause, remedy, BOOK_SECTIONS["clipping"]))
    return findings
