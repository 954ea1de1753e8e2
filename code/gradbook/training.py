"""Training, and what it does to gradients: the book's training loop, the training-mode view of a model, one update
of Keras' gradient clipping, and Pascanu et al.'s recurrent "cliff".

- ``train``: a short, seeded loop that records what the book needs: the loss of every step and every epoch, the
  gradient norm of every layer at every step, and whether (and when) the run diverged. ``keras.Model.fit`` would
  train the same way; this loop exists because the chapters quote numbers that ``fit`` does not report (per-layer
  gradients *in training mode*, the step at which a run blows up) and because a compiled step function of our own
  starts faster than ``fit`` on a small CPU. It is gradbook's only hand-written training loop.
- ``in_training_mode``: a model that always runs as in training (BatchNormalization on the batch's statistics).
- ``clipped_update``: the step Keras' SGD takes for a gradient you choose, under ``clipnorm``, ``clipvalue`` or
  ``global_clipnorm``.
- ``cliff`` and ``descend_cliff``: the loss and exact gradient of a one-unit recurrent network (NumPy, float64), and
  gradient descent on it with and without clipping.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from gradbook._keras import check_batch, check_model
from gradbook._validate import finite_array, flag, integer, number, one_of, type_error
from gradbook.gradients import kernel_layers
from gradbook.repro import resolve_seed

CLIP_ARGUMENTS = ("clipnorm", "clipvalue", "global_clipnorm")
LOSSES = ("cross_entropy", "mse")
OPTIMIZERS = ("sgd", "adam")


@dataclass
class TrainingHistory:
    """What ``train`` measured.

    Attributes:
        initial_loss: mean loss on all of ``x`` before the first step (inference mode).
        loss: mean training loss of each epoch (as Keras reports it); ``nan`` for epochs after a divergence.
        step_loss: the loss of every step, in order.
        grad_norms: ``‖∂ℒ/∂W‖`` of every kernel (columns, input → output) at every step (rows), in training mode,
            in float64 (a finite float32 gradient can overflow its own sum of squares).
        final_loss: mean loss on all of ``x`` after training (inference mode); ``nan`` after a divergence.
        diverged_at: the first step whose loss or gradient was not finite, or ``None``.

    Example:
        >>> history = TrainingHistory(2.3, loss=[2.0, 1.5], diverged_at=None)
        >>> history.diverged, history.loss[-1]
        (False, 1.5)
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
        """‖∂ℒ/∂W_1‖ / ‖∂ℒ/∂W_last‖ at ``step`` (the last *hidden* layer unless ``hidden_only=False``).

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


def _regression_targets(model: keras.Model, y: np.ndarray) -> np.ndarray:
    """``y`` as float32, shaped like the model's output (a missing last axis of 1 added), for the squared error."""
    if not np.issubdtype(y.dtype, np.number):
        raise type_error("y", "an array of numbers", y)
    y = y.astype(np.float32)
    shape = tuple(model.outputs[0].shape[1:]) if getattr(model, "outputs", None) else None
    if shape is not None and shape[-1:] == (1,) and y.shape[1:] == shape[:-1]:
        y = y[..., None]
    if shape is not None and (len(y.shape[1:]) != len(shape)
                              or any(s is not None and s != t for s, t in zip(shape, y.shape[1:]))):
        raise ValueError(f"y must have per-sample shape {shape}, the model's output, for loss='mse'; got per-sample "
                         f"shape {y.shape[1:]}")
    return y


def train(model: keras.Model, x: Any, y: Any, *, epochs: int = 5, batch_size: int = 64,
          learning_rate: float = 0.01, momentum: float = 0.9, clipnorm: float | None = None,
          seed: int = 0, compiled: bool = True, loss: str = "cross_entropy",
          optimizer: str = "sgd") -> TrainingHistory:
    """Train ``model`` with SGD + momentum (or Adam) on cross-entropy (or the squared error), and record the loss and
    the per-layer gradients.

    The batches are drawn from a permutation seeded by ``seed`` (the same order for every model); the last batch of
    an epoch is smaller when ``batch_size`` does not divide ``len(x)``. A step whose loss or gradient is not finite
    is recorded but not applied, and the run stops at the end of that epoch.

    Args:
        model: a built Keras model; with ``loss="cross_entropy"`` its output is logits (as
            ``gradbook.models.deep_mlp``'s).
        x, y: inputs and targets: integer labels for ``"cross_entropy"``, numbers shaped like the model's output
            (or with its last axis of 1 left out) for ``"mse"``.
        epochs: passes over the data, >= 1.
        batch_size: samples per step, >= 1.
        learning_rate: the optimizer's step size, > 0.
        momentum: SGD's momentum, in [0, 1) (Adam keeps its own defaults).
        clipnorm: when given, Keras' ``clipnorm`` (each variable's gradient rescaled to norm <= clipnorm), > 0.
        seed: seed of the batch order, >= 0.
        compiled: run each epoch as one ``tf.function`` (fast after a few seconds of tracing) or eagerly (no
            tracing: cheaper for a handful of steps).
        loss: ``"cross_entropy"`` (from logits, on integer labels) or ``"mse"`` (the mean squared error).
        optimizer: ``"sgd"`` (with ``momentum``) or ``"adam"`` (Kingma & Ba, Keras' default betas).

    Returns:
        A ``TrainingHistory``.

    Example:
        >>> from gradbook.models import deep_mlp
        >>> from gradbook.data import teacher_classification
        >>> x, y = teacher_classification(256, dim=8)
        >>> history = train(deep_mlp(2, 16, "relu", "he_normal", input_dim=8), x, y, epochs=2)
        >>> len(history.loss), history.diverged
        (2, False)
    """
    model = check_model(model)
    x, y = check_batch(model, x, y)
    one_of("loss", loss, LOSSES)
    one_of("optimizer", optimizer, OPTIMIZERS)
    y = y.astype(np.int64) if loss == "cross_entropy" else _regression_targets(model, y)
    epochs = integer("epochs", epochs)
    batch_size = integer("batch_size", batch_size)
    learning_rate = number("learning_rate", learning_rate, above=0)
    momentum = number("momentum", momentum, minimum=0, below=1)
    if clipnorm is not None:
        clipnorm = number("clipnorm", clipnorm, above=0)
    seed = integer("seed", seed, minimum=0)
    compiled = flag("compiled", compiled)

    if loss == "cross_entropy":
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    else:
        loss_fn = keras.losses.MeanSquaredError(reduction=None)
    if optimizer == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate, momentum=momentum, clipnorm=clipnorm)
    else:
        optimizer = keras.optimizers.Adam(learning_rate, clipnorm=clipnorm)
    variables = model.trainable_variables
    kernels = kernel_layers(model)
    kernel_ids = {id(layer.kernel) for layer in kernels}
    where = [i for i, v in enumerate(variables) if id(v) in kernel_ids]
    x_all, y_all = tf.constant(x), tf.constant(y)
    n_steps = -(-len(x) // batch_size)

    def epoch(order):
        """One pass over the data in the given order: every step's loss and kernel-gradient norms."""
        losses = tf.TensorArray(tf.float32, size=n_steps)
        norms = tf.TensorArray(tf.float64, size=n_steps)
        for i in tf.range(n_steps):
            idx = order[i * batch_size:(i + 1) * batch_size]
            with tf.GradientTape() as tape:
                value = tf.reduce_mean(loss_fn(tf.gather(y_all, idx), model(tf.gather(x_all, idx), training=True)))
            grads = tape.gradient(value, variables)
            # float64, as layer_gradient_norms: a finite float32 gradient can overflow its own sum of squares
            g = tf.stack([tf.norm(tf.cast(grads[j], tf.float64)) for j in where])
            if tf.math.is_finite(value) & tf.reduce_all(tf.math.is_finite(g)):
                optimizer.apply_gradients(zip(grads, variables))  # a non-finite step is never applied
            losses = losses.write(i, value)
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
    model = check_model(model, graph=True)
    view = _TrainingModeView(model)
    view(keras.ops.zeros((2,) + tuple(model.inputs[0].shape[1:])))  # build the view; BN sees one dummy batch
    view.inputs = model.inputs  # lets gradbook.gradients check the batch shape
    return view


def clipped_update(gradients: Sequence[Any], learning_rate: float = 0.1, **clip: float) -> list[np.ndarray]:
    """The update ``Δθ = θ_new − θ_old`` that one step of Keras' plain SGD takes for the given ``gradients``.

    One variable per gradient (all starting at zero); ``clip`` is at most one of ``CLIP_ARGUMENTS``, passed to
    ``keras.optimizers.SGD`` exactly as a model would pass it. Keras itself raises ``ValueError`` when two are
    given; so does this function, before building anything.

    Args:
        gradients: one array-like per variable.
        learning_rate: SGD's step size, > 0.
        **clip: ``clipnorm=…`` (each variable's gradient rescaled to norm <= value), ``clipvalue=…`` (each
            component clipped to [−value, value]) or ``global_clipnorm=…`` (all gradients rescaled together so that
            their joint norm is <= value).

    Returns:
        One float64 array per variable: the update.

    Example:
        >>> [u.round(3).tolist() for u in clipped_update([[300.0, 400.0]], 0.1, clipnorm=1.0)]
        [[-0.06, -0.08]]
    """
    learning_rate = number("learning_rate", learning_rate, above=0)
    unknown = sorted(set(clip) - set(CLIP_ARGUMENTS))
    if unknown:
        raise TypeError(f"clip arguments must be among {', '.join(CLIP_ARGUMENTS)}; got {unknown}")
    if len(clip) > 1:
        raise ValueError(f"clip arguments must be at most one of {', '.join(CLIP_ARGUMENTS)} (Keras allows one); "
                         f"got {sorted(clip)}")
    clip = {name: number(name, value, above=0) for name, value in clip.items()}
    if isinstance(gradients, (str, bytes)) or not isinstance(gradients, Sequence):
        raise type_error("gradients", "a list of arrays, one per variable", gradients)
    grads = [finite_array(f"gradients[{i}]", g).astype(np.float32) for i, g in enumerate(gradients)]
    if not grads or any(g.size == 0 for g in grads):
        raise ValueError(f"gradients must be a non-empty list of non-empty arrays; got {gradients!r}")
    variables = [keras.Variable(np.zeros_like(g), name=f"theta_{i}") for i, g in enumerate(grads)]
    optimizer = keras.optimizers.SGD(learning_rate, **clip)
    optimizer.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads], variables))
    return [np.asarray(v.numpy(), dtype=np.float64) for v in variables]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


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
    w, b = np.broadcast_arrays(finite_array("w", w), finite_array("b", b))
    w, b = w.ravel().astype(np.float64), b.ravel().astype(np.float64)
    x0, target = number("x0", x0), number("target", target)
    steps = integer("steps", steps)
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

    Each iteration computes ``g = (∂ℒ/∂w, ∂ℒ/∂b)`` and, when ``clip`` is given and ``‖g‖ > clip``, rescales it to
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
    w, b = number("w0", w0), number("b0", b0)
    learning_rate = number("learning_rate", learning_rate, above=0)
    iterations = integer("iterations", iterations)
    if clip is not None:
        clip = number("clip", clip, above=0)
    learn_bias = flag("learn_bias", learn_bias)
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
