"""A short, seeded training loop that records what the book needs: the loss of every step and every epoch, the
gradient norm of every layer at every step, and whether (and when) the run diverged.

``keras.Model.fit`` would train the same way; this loop exists because the chapters quote numbers that ``fit`` does
not report (per-layer gradients *in training mode*, the step at which a run blows up) and because a compiled step
function of our own starts faster than ``fit`` on a small CPU.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from gradbook._checks import positive_float, positive_int
from gradbook.gradients import kernel_layers
from gradbook.repro import resolve_seed


@dataclass
class TrainingHistory:
    """What ``train`` measured.

    Attributes:
        initial_loss: mean loss on all of ``x`` before the first step (inference mode).
        loss: mean training loss of each epoch (as Keras reports it); ``nan`` for epochs after a divergence.
        step_loss: the loss of every step, in order.
        grad_norms: ``‖∂L/∂W‖`` of every kernel (columns, input → output) at every step (rows), in training mode.
        final_loss: mean loss on all of ``x`` after training (inference mode); ``nan`` after a divergence.
        diverged_at: the first step whose loss or gradient was not finite, or ``None``.
    """

    initial_loss: float
    loss: list[float] = field(default_factory=list)
    step_loss: np.ndarray = field(default_factory=lambda: np.zeros(0))
    grad_norms: pd.DataFrame = field(default_factory=pd.DataFrame)
    final_loss: float = float("nan")
    diverged_at: int | None = None

    @property
    def diverged(self) -> bool:
        """Whether a step produced a non-finite loss or gradient."""
        return self.diverged_at is not None

    def first_last_ratio(self, step: int = 0, hidden_only: bool = True) -> float:
        """‖∂L/∂W_1‖ / ‖∂L/∂W_last‖ at ``step`` (the last *hidden* layer unless ``hidden_only=False``).

        Example:
            >>> norms = pd.DataFrame([[1e-3, 0.1, 1.0]], columns=["dense_1", "dense_2", "logits"])
            >>> TrainingHistory(2.3, grad_norms=norms).first_last_ratio(0)
            0.01
        """
        row = self.grad_norms.iloc[step]
        if hidden_only and "logits" in row.index:
            row = row.drop("logits")
        return float(row.iloc[0] / row.iloc[-1])


def _mean_loss(model: keras.Model, loss_fn: Any, x: np.ndarray, y: np.ndarray, batch: int = 4096) -> float:
    total = 0.0
    for start in range(0, len(x), batch):
        logits = model(x[start:start + batch], training=False)
        total += float(tf.reduce_sum(loss_fn(y[start:start + batch], logits)))
    return total / len(x)


def train(model: keras.Model, x: Any, y: Any, *, epochs: int = 5, batch_size: int = 64,
          learning_rate: float = 0.01, momentum: float = 0.9, clipnorm: float | None = None,
          seed: int = 0, compiled: bool = True) -> TrainingHistory:
    """Train ``model`` (logits out) with SGD + momentum on cross-entropy, and record loss and per-layer gradients.

    The batches are drawn from a permutation seeded by ``seed`` (the same order for every model); the last batch of
    an epoch is smaller when ``batch_size`` does not divide ``len(x)``. A step whose loss or gradient is not finite
    is recorded but not applied, and the run stops at the end of that epoch.

    Args:
        model: a built Keras model whose output is logits (as ``gradbook.models.deep_mlp``'s).
        x, y: inputs and integer labels.
        epochs: passes over the data, >= 1.
        batch_size: samples per step, >= 1.
        learning_rate: SGD's step size, > 0.
        momentum: SGD's momentum, in [0, 1).
        clipnorm: when given, Keras' ``clipnorm`` (each variable's gradient rescaled to norm <= clipnorm), > 0.
        seed: seed of the batch order, >= 0.
        compiled: run each epoch as one ``tf.function`` (fast after a few seconds of tracing) or eagerly (no
            tracing: cheaper for a handful of steps).

    Returns:
        A ``TrainingHistory``.

    Example:
        >>> from gradbook.models import deep_mlp
        >>> from gradbook.synthetic import teacher_classification
        >>> x, y = teacher_classification(256, dim=8)
        >>> history = train(deep_mlp(2, 16, "relu", "he_normal", input_dim=8), x, y, epochs=2)
        >>> len(history.loss), history.diverged
        (2, False)
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a keras.Model; got {type(model).__name__}")
    epochs = positive_int("epochs", epochs)
    batch_size = positive_int("batch_size", batch_size)
    learning_rate = positive_float("learning_rate", learning_rate)
    momentum = positive_float("momentum", momentum, allow_zero=True)
    if momentum >= 1:
        raise ValueError(f"momentum must be in [0, 1); got {momentum!r}")
    if clipnorm is not None:
        clipnorm = positive_float("clipnorm", clipnorm)
    seed = positive_int("seed", seed, minimum=0)
    if not isinstance(compiled, bool):
        raise ValueError(f"compiled must be True or False; got {compiled!r}")
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    if x.ndim < 2 or len(x) == 0 or len(x) != len(y):
        raise ValueError(f"x must be a non-empty batch and y its labels, with the same length; got shapes "
                         f"{x.shape} and {y.shape}")
    y = y.astype(np.int64)

    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    optimizer = keras.optimizers.SGD(learning_rate, momentum=momentum, clipnorm=clipnorm)
    variables = model.trainable_variables
    kernels = kernel_layers(model)
    kernel_ids = {id(layer.kernel) for layer in kernels}
    where = [i for i, v in enumerate(variables) if id(v) in kernel_ids]
    x_all, y_all = tf.constant(x), tf.constant(y)
    n_steps = -(-len(x) // batch_size)

    def epoch(order):
        """One pass over the data in the given order: every step's loss and kernel-gradient norms."""
        losses = tf.TensorArray(tf.float32, size=n_steps)
        norms = tf.TensorArray(tf.float32, size=n_steps)
        for i in tf.range(n_steps):
            idx = order[i * batch_size:(i + 1) * batch_size]
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(loss_fn(tf.gather(y_all, idx), model(tf.gather(x_all, idx), training=True)))
            grads = tape.gradient(loss, variables)
            g = tf.stack([tf.norm(grads[j]) for j in where])
            if tf.math.is_finite(loss) & tf.reduce_all(tf.math.is_finite(g)):
                optimizer.apply_gradients(zip(grads, variables))  # a non-finite step is never applied
            losses = losses.write(i, loss)
            norms = norms.write(i, g)
        return losses.stack(), norms.stack()

    if compiled:
        epoch = tf.function(epoch)  # the whole epoch is one graph: no Python between steps
    optimizer.build(variables)  # before tracing: creating its slots inside the first call would trace twice
    history = TrainingHistory(initial_loss=_mean_loss(model, loss_fn, x, y))
    rng = np.random.default_rng(resolve_seed(seed))
    steps, norms = [], []
    for _ in range(epochs):
        if history.diverged:
            history.loss.append(float("nan"))
            continue
        epoch_loss, epoch_norms = epoch(tf.constant(rng.permutation(len(x))))
        epoch_loss = np.asarray(epoch_loss, dtype=np.float64)
        epoch_norms = np.asarray(epoch_norms, dtype=np.float64)
        bad = np.flatnonzero(~(np.isfinite(epoch_loss) & np.all(np.isfinite(epoch_norms), axis=1)))
        if bad.size:
            history.diverged_at = len(steps) + int(bad[0])
            epoch_loss, epoch_norms = epoch_loss[:bad[0] + 1], epoch_norms[:bad[0] + 1]
        steps.extend(epoch_loss)
        norms.extend(epoch_norms)
        history.loss.append(float("nan") if history.diverged else float(np.mean(epoch_loss)))
    history.step_loss = np.asarray(steps, dtype=np.float64)
    history.grad_norms = pd.DataFrame(norms, columns=[layer.name for layer in kernels])
    history.grad_norms.index.name = "step"
    history.final_loss = float("nan") if history.diverged else _mean_loss(model, loss_fn, x, y)
    return history


class _TrainingModeView(keras.Model):
    def __init__(self, model: keras.Model) -> None:
        super().__init__(name=f"{model.name}_training_mode")
        self.inner = model

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        return self.inner(inputs, training=True)


def in_training_mode(model: keras.Model) -> keras.Model:
    """A view of ``model`` that always runs as in training (BatchNormalization normalises with the batch's own
    statistics), sharing its layers and weights; measure it with ``gradbook.gradients`` like any model.

    ``layer_gradient_norms`` runs models in inference mode, where an untrained BatchNormalization layer divides by
    its initial moving variance, 1, and does nothing: the gradients of a BN network *as it trains* need this view.
    Calling the view updates BN's moving statistics, exactly as a training step would.

    Example:
        >>> from gradbook.models import deep_mlp
        >>> from gradbook.gradients import layer_gradient_norms
        >>> import numpy as np
        >>> view = in_training_mode(deep_mlp(3, 8, batch_norm=True))
        >>> list(layer_gradient_norms(view, np.ones((4, 784)), np.zeros(4, int)).index)
        ['dense_1', 'dense_2', 'dense_3', 'logits']
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a keras.Model; got {type(model).__name__}")
    if not model.built or not getattr(model, "inputs", None):
        raise ValueError("model must be a built functional or Sequential model (with an Input)")
    view = _TrainingModeView(model)
    view(keras.ops.zeros((2,) + tuple(model.inputs[0].shape[1:])))  # build the view; BN sees one dummy batch
    view.inputs = model.inputs  # lets gradbook.gradients check the batch shape
    return view
