"""Synthetic data whose answer is known: a classification task labelled by a random linear *teacher*.

MNIST is the book's running example, but a task that a one-layer network solves exactly separates two questions that
MNIST mixes: *can* the architecture represent the answer (here: every architecture can), and can gradient descent
*find* it (the question of vanishing and exploding gradients). When a 30-layer network fails on teacher data, depth
made the optimisation hard, not the task.
"""
from __future__ import annotations

import numpy as np

from gradbook._checks import positive_float, positive_int
from gradbook.repro import resolve_seed


def teacher_classification(n: int = 4096, dim: int = 64, num_classes: int = 10, *, seed: int = 0,
                           label_noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``x ~ N(0, I_dim)`` and labels ``y = argmax(x @ W)`` of a random linear teacher ``W ~ N(0, 1/dim)``.

    The classes are linearly separable (a single Dense layer can reach zero error), and with ``num_classes``
    equiprobable directions they are roughly balanced. ``label_noise`` replaces that fraction of the labels by
    uniformly drawn ones.

    Args:
        n: number of samples, >= 1.
        dim: input dimension, >= 1.
        num_classes: number of classes, >= 2.
        seed: seed of the generator (the data depend on nothing else), >= 0.
        label_noise: fraction of labels redrawn at random, in [0, 1).

    Returns:
        ``(x, y)``: float32 array of shape ``(n, dim)`` and int64 labels of shape ``(n,)``.

    Example:
        >>> x, y = teacher_classification(8, dim=4, num_classes=3)
        >>> x.shape, x.dtype, y.shape, int(y.max()) < 3
        ((8, 4), dtype('float32'), (8,), True)
    """
    n = positive_int("n", n)
    dim = positive_int("dim", dim)
    num_classes = positive_int("num_classes", num_classes, minimum=2)
    seed = positive_int("seed", seed, minimum=0)
    label_noise = positive_float("label_noise", label_noise, allow_zero=True)
    if label_noise >= 1:
        raise ValueError(f"label_noise must be in [0, 1); got {label_noise!r}")
    rng = np.random.default_rng(resolve_seed(seed))
    teacher = rng.normal(0.0, 1.0 / np.sqrt(dim), size=(dim, num_classes))
    x = rng.normal(size=(n, dim))
    y = np.argmax(x @ teacher, axis=1)
    if label_noise > 0:
        flip = rng.random(n) < label_noise
        y[flip] = rng.integers(0, num_classes, size=int(flip.sum()))
    return x.astype(np.float32), y.astype(np.int64)
