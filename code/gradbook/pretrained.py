"""The book's trained models, trained on demand (seeded) and kept for the rest of the session.

``trained_seed_cnn`` trains the article's CNN exactly as the article does — RMSprop, categorical cross-entropy,
batches of 64 — on MNIST from ``gradbook.data.load_mnist``, so that chapters that need *a trained* network (to explain
it, time it or transfer from it) get the same one. The weights are kept in memory: a second call with the same
arguments returns a fresh copy in a fraction of a second instead of training again.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import keras
import numpy as np

from gradbook._checks import positive_int
from gradbook.data import load_mnist, resolve_source, to_float
from gradbook.models import seed_cnn
from gradbook.repro import resolve_seed, set_seed

_WEIGHTS: dict[tuple, list[np.ndarray]] = {}


def _check_digits(digits: Any) -> tuple[int, ...] | None:
    """``None``, or the distinct digits as a sorted tuple; ``ValueError`` unless they are integers 0-9."""
    if digits is None:
        return None
    try:
        values = np.asarray([] if isinstance(digits, (str, bytes)) else list(digits)).ravel()
    except TypeError:  # not iterable: a single number, say
        values = np.asarray([])
    if values.size == 0 or not np.issubdtype(values.dtype, np.integer) or values.min() < 0 or values.max() > 9:
        raise ValueError(f"digits must be None or a non-empty list of digits 0-9; got {digits!r}")
    return tuple(sorted({int(d) for d in values}))


def _compiled(seed: int) -> keras.Sequential:
    model = seed_cnn(seed=seed)
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def trained_seed_cnn(digits: Iterable[int] | None = None, *, epochs: int = 3, seed: int = 0,
                     source: str | None = None, batch_size: int = 64) -> keras.Sequential:
    """``seed_cnn`` trained the article's way on the MNIST training images, compiled and ready to evaluate.

    Calls ``gradbook.repro.set_seed(seed)`` first (the weights and the batch order follow from it), then
    ``model.fit(images, one_hot_labels, epochs=epochs, batch_size=batch_size)``. The network keeps its 10 outputs
    and the labels their digit values even when ``digits`` restricts the training images.

    Args:
        digits: train only on images of these digits (e.g. ``range(5)``); ``None`` for all ten.
        epochs: passes over the training images, >= 1 (the article uses 5; 3 suffices on the offline subset).
        seed: seed of the initial weights and of the batch order, >= 0.
        source: ``load_mnist``'s source (``None``: ``$GRADBOOK_MNIST``, else the subset).
        batch_size: images per step, >= 1.

    Returns:
        The trained model (a fresh copy with the kept weights when the same arguments were trained before).

    Example:
        >>> model = trained_seed_cnn(digits=[0, 1], epochs=1)
        >>> model.count_params(), model.layers[-1].units
        (93322, 10)
    """
    epochs = positive_int("epochs", epochs)
    seed = positive_int("seed", seed, minimum=0)
    batch_size = positive_int("batch_size", batch_size)
    source = resolve_source(source)
    digits = _check_digits(digits)
    key = (digits, epochs, resolve_seed(seed), source, batch_size)
    if key in _WEIGHTS:
        model = _compiled(seed)
        model.set_weights(_WEIGHTS[key])
        return model

    (x, y), _ = load_mnist(source, verbose=False)
    if digits is not None:
        keep = np.isin(y, digits)
        x, y = x[keep], y[keep]
    set_seed(seed)
    model = _compiled(seed)
    model.fit(to_float(x, channels=True), keras.utils.to_categorical(y, 10), epochs=epochs, batch_size=batch_size,
              verbose=0)
    _WEIGHTS[key] = model.get_weights()
    return model
