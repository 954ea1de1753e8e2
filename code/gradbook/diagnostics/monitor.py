"""``GradientMonitor``: the per-layer gradient norms of the training gradients themselves, recorded while ``fit``
trains, and a clear message (or a stop) at the first NaN or inf."""
from __future__ import annotations

import sys
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from gradbook._validate import flag, integer
from gradbook.diagnostics.diagnose import BOOK_SECTIONS, _name_list
from gradbook.gradients.layers import _measured_layers, kernel_layers


def _kernel_variable(layer: keras.layers.Layer) -> Any:
    """The variable behind ``layer.kernel`` (Dense and Conv return it directly; LoRA/quantised layers keep it in
    ``_kernel``)."""
    kernel = getattr(layer, "_kernel", None)
    return layer.kernel if kernel is None else kernel


class GradientMonitor(keras.callbacks.Callback):
    """Records every kernel's gradient norm ‖∂ℒ/∂W‖ and update/weight ratio ‖ΔW‖/‖W‖ while ``fit`` trains.

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
        self._every = integer("every", every)
        self.stop_on_nonfinite = flag("stop_on_nonfinite", stop_on_nonfinite)
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
        """The gradient norms ‖∂ℒ/∂W‖ of the recorded steps.

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
        if model.built:
            _measured_layers(model)
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
