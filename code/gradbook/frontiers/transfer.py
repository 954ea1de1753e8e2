"""Transfer learning in miniature: features learned on some digits, reused to learn other digits from few examples.

The set-up of Yosinski et al. (2014), shrunk to MNIST: a *base* network is trained on task A (digits 0–4); task B
(digits 5–9) is then learned from only a few labelled examples per class, either

- **frozen features**: the base network's convolutional layers, unchanged, feed a new classifier head (``Dense 64`` →
  ``Dense k`` softmax, the top of ``seed_cnn``), and only the head is trained; or
- **from scratch**: the same architecture, every layer freshly initialised and trained,

with the same examples, the same optimizer (RMSprop, as the article), the same epochs and batch size. Since the frozen
layers never change, the head is trained on their outputs computed once (``frozen_features``): the same training,
without running the convolutions again at every step. The builders (``classifier_head``, ``scratch_cnn``) return
uncompiled models; ``few_shot_curves`` compiles and trains them with Keras' ``fit``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import pandas as pd
from keras import layers

from gradbook._keras import check_batch, check_model
from gradbook._validate import integer, integers, numeric, one_of, type_error
from gradbook.models import seed_cnn
from gradbook.repro import resolve_seed, set_seed


def digit_subset(images: Any, labels: Any, digits: Sequence[int], *, per_class: int | None = None,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The images of some digits, relabelled ``0 .. len(digits) - 1`` in the order given, optionally few per class.

    Args:
        images: images, first axis the examples.
        labels: their digit labels 0-9.
        digits: the digits to keep; ``digits[i]`` gets the new label ``i``.
        per_class: keep this many images of each digit, drawn at random (``None``: all of them).
        seed: seed of the draw, >= 0.

    Returns:
        ``(images, new_labels)``; with ``per_class`` the examples are shuffled.

    Example:
        >>> x, y = digit_subset(np.zeros((6, 2)), np.array([5, 6, 5, 1, 6, 5]), [5, 6], per_class=2)
        >>> x.shape, sorted(y.tolist())
        ((4, 2), [0, 0, 1, 1])
    """
    digits = integers("digits", digits, minimum=0, maximum=9, min_len=2, distinct=True)
    images, labels = numeric("images", images), numeric("labels", labels)
    if labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"labels must be one digit per image, shape ({len(images)},); got shape {labels.shape}")
    seed = integer("seed", seed, minimum=0)
    if per_class is None:
        keep = np.flatnonzero(np.isin(labels, digits))
    else:
        per_class = integer("per_class", per_class)
        rng = np.random.default_rng(resolve_seed(seed))
        chosen = []
        for d in digits:
            where = np.flatnonzero(labels == d)
            if len(where) < per_class:
                raise ValueError(f"per_class must be at most {len(where)}, the number of images of digit {d}; "
                                 f"got {per_class}")
            chosen.append(rng.choice(where, per_class, replace=False))
        keep = rng.permutation(np.concatenate(chosen))
    relabel = np.full(10, -1, dtype=np.int64)
    relabel[list(digits)] = np.arange(len(digits))
    return images[keep], relabel[labels[keep].astype(np.int64)]


def frozen_features(model: keras.Model, images: Any, *, layer_name: str = "flatten") -> np.ndarray:
    """The output of ``model``'s layer ``layer_name`` for ``images``: the features a frozen trunk hands to a new head.

    Example:
        >>> from gradbook.models import seed_cnn
        >>> frozen_features(seed_cnn(), np.zeros((2, 28, 28, 1))).shape
        (2, 576)
    """
    model = check_model(model, graph=True)
    one_of("layer_name", layer_name, [layer.name for layer in model.layers])
    x, _ = check_batch(model, images)
    trunk = keras.Model(model.inputs[0], model.get_layer(layer_name).output)
    return _predict(trunk, x)


def _predict(model: keras.Model, x: np.ndarray, chunk: int = 512) -> np.ndarray:
    # Eager calls in chunks: for a few hundred images this is faster than Model.predict, which builds a tf.data
    # pipeline and traces a function on every new model.
    return np.concatenate([np.asarray(model(x[i:i + chunk], training=False)) for i in range(0, len(x), chunk)])


def classifier_head(input_dim: int, num_classes: int, *, seed: int = 0) -> keras.Model:
    """``seed_cnn``'s top on its own: ``Dense 64`` ReLU → ``Dense num_classes`` softmax, uncompiled.

    Example:
        >>> head = classifier_head(576, 5)
        >>> head.count_params(), head.compiled
        (37253, False)
    """
    input_dim = integer("input_dim", input_dim)
    num_classes = integer("num_classes", num_classes, minimum=2)
    seed = resolve_seed(seed)
    model = keras.Sequential([
        keras.Input((input_dim,), name="features"),
        layers.Dense(64, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(seed + 4),
                     name="dense_1"),
        layers.Dense(num_classes, activation="softmax", kernel_initializer=keras.initializers.GlorotUniform(seed + 5),
                     name="output"),
    ], name="head")
    return model


def scratch_cnn(num_classes: int, *, seed: int = 0) -> keras.Sequential:
    """``seed_cnn``'s architecture with ``num_classes`` outputs, freshly initialised, uncompiled.

    Example:
        >>> scratch_cnn(5).layers[-1].units
        5
    """
    num_classes = integer("num_classes", num_classes, minimum=2)
    seed = integer("seed", seed, minimum=0)
    body = seed_cnn(seed=seed).layers[:-1]  # conv_1 ... dense_1, initialised as seed_cnn(seed=seed)'s
    seed = resolve_seed(seed)
    model = keras.Sequential([keras.Input((28, 28, 1), name="image"), *body,
                              layers.Dense(num_classes, activation="softmax",
                                           kernel_initializer=keras.initializers.GlorotUniform(seed + 5),
                                           name="output")], name="scratch_cnn")
    return model


def few_shot_curves(base: keras.Model, train: tuple[Any, Any], test: tuple[Any, Any], *,
                    eval_at: Sequence[int] = (1, 2, 5, 10, 30), batch_size: int = 10, seed: int = 0,
                    layer_name: str = "flatten") -> pd.DataFrame:
    """Learn a new task from a few examples with ``base``'s frozen features and from scratch, and test both as they go.

    Both learners see the same examples in the same seeded order, in batches of ``batch_size``, with the article's
    RMSprop and cross-entropy, for ``max(eval_at)`` epochs; each is seeded with ``gradbook.repro.set_seed(seed)``
    before it is built. After each epoch listed in ``eval_at`` both are tested on ``test``.

    Every step uses a full batch: when ``batch_size`` does not divide the number of examples, the examples left over
    after the last full batch sit out that epoch (a different few each epoch). With a handful of examples, a final
    batch of one or two would otherwise make RMSprop — which takes steps of about the same size whatever the
    gradient's magnitude — take a full-sized step in a direction set by one or two images.

    Args:
        base: the network trained on the other task; its layers up to ``layer_name`` are reused, frozen.
        train: ``(images, labels)`` of the new task, images ``(N, 28, 28, 1)`` in [0, 1], labels ``0 .. k-1``.
        test: the same for held-out images.
        eval_at: the epochs after which to test, increasing, each >= 1.
        batch_size: examples per step, >= 1.
        seed: seed of the new weights and of the batch order, >= 0.
        layer_name: the last frozen layer of ``base``; its output, flattened, is the new head's input (``"flatten"``:
            all three convolutions; ``"pool_2"``: the first two; ``"dense_1"``: everything but the output layer).

    Returns:
        One row per epoch in ``eval_at`` (index ``epoch``), columns ``frozen`` and ``scratch``: test accuracies.

    Example:
        >>> from gradbook.models import seed_cnn
        >>> x, y = np.random.default_rng(0).random((10, 28, 28, 1)), np.arange(10) % 2
        >>> few_shot_curves(seed_cnn(), (x, y), (x, y), eval_at=[1, 2]).shape
        (2, 2)
    """
    base = check_model(base, graph=True)
    (x_train, y_train), (x_test, y_test), epochs, num_classes = _check_task(train, test, eval_at, batch_size)
    seed = integer("seed", seed, minimum=0)
    f_train, f_test = (frozen_features(base, x, layer_name=layer_name) for x in (x_train, x_test))
    f_train, f_test = f_train.reshape(len(f_train), -1), f_test.reshape(len(f_test), -1)
    set_seed(seed)
    head = classifier_head(f_train.shape[1], num_classes, seed=seed)
    set_seed(seed)
    scratch = scratch_cnn(num_classes, seed=seed)
    curves = {}
    for name, model, inputs, held_out in (("frozen", head, f_train, f_test), ("scratch", scratch, x_train, x_test)):
        curves[name] = _train_and_test(model, (inputs, y_train), (held_out, y_test), epochs, batch_size, seed)
    return pd.DataFrame(curves, index=pd.Index(epochs, name="epoch"))


def _check_task(train: tuple[Any, Any], test: tuple[Any, Any], eval_at: Any,
                batch_size: Any) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], list[int], int]:
    """few_shot_curves' argument checks: the two data sets, the epochs to test at, the number of classes."""
    batch_size = integer("batch_size", batch_size)
    epochs = list(integers("eval_at", eval_at, minimum=1, increasing=True))
    data = []
    for name, pair in (("train", train), ("test", test)):
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise type_error(name, "a pair (images, labels)", pair)
        x, y = numeric(f"{name} images", pair[0]).astype(np.float32), numeric(f"{name} labels", pair[1])
        if x.ndim != 4 or x.shape[1:] != (28, 28, 1) or y.shape != (len(x),) or len(x) == 0:
            raise ValueError(f"{name} must be (images of shape (N, 28, 28, 1), N labels); got {x.shape}, {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            raise TypeError(f"{name} labels must be integers 0 .. k-1 (digit_subset relabels digits); got {y.dtype}")
        if y.min() < 0:
            raise ValueError(f"{name} labels must be integers 0 .. k-1 (digit_subset relabels digits); got {y.min()}")
        data.append((x, y.astype(np.int64)))
    if batch_size > len(data[0][0]):
        raise ValueError(f"batch_size must be at most the number of training examples, {len(data[0][0])}; "
                         f"got {batch_size}")
    num_classes = int(max(data[0][1].max(), data[1][1].max())) + 1
    if num_classes < 2:
        raise ValueError("labels must be 0 .. k-1 with k >= 2 (digit_subset relabels digits)")
    return data[0], data[1], epochs, num_classes


def _train_and_test(model: keras.Model, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                    eval_at: list[int], batch_size: int, seed: int) -> list[float]:
    """Compile ``model`` the article's way (RMSprop, sparse cross-entropy) and ``fit`` it on full batches in a seeded
    random order; its test accuracy after each ``eval_at`` epoch.

    The order is drawn here, one permutation per epoch, and ``fit`` runs without shuffling on the examples so
    arranged: one ``fit`` call covers all the epochs up to the next test.
    """
    (x, y), (x_test, y_test) = train, test
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", jit_compile=False)
    rng = np.random.default_rng(resolve_seed(seed))
    full = len(x) - len(x) % batch_size  # full batches only: see few_shot_curves
    accuracies, done = [], 0
    for epoch in eval_at:
        order = np.concatenate([rng.permutation(len(x))[:full] for _ in range(done, epoch)])
        model.fit(x[order], y[order], batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        accuracies.append(float(np.mean(_predict(model, x_test).argmax(axis=1) == y_test)))
        done = epoch
    return accuracies
