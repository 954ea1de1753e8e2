"""Backpropagation in NumPy, written to be read beside chapters 2 and 3 of the book.

A fully-connected network of L layers in the book's notation, with **column vectors**: one example is a column, and a
batch of m examples is a matrix with m columns (so every formula reads the same for one example and for a batch).

    a^0 = x                          shape (n_0, m)      the input
    z^l = W^l a^{l-1} + b^l          shape (n_l, m)      W^l: (n_l, n_{l-1}),  b^l: (n_l, 1),  l = 1..L
    a^l = φ(z^l)                     l = 1..L-1          φ: the hidden activation (φ′ its derivative)
    a^L = z^L                        the output layer is linear; the loss reads z^L (softmax lives in the loss)
    δ^l = ∂ℒ/∂z^l                    shape (n_l, m)      ℒ: the loss, averaged over the batch

Training is four steps, one function each: ``forward`` (1), ``compute_loss`` (2), ``backward`` (3), ``update`` (4);
``train_step`` chains them and ``train`` loops over mini-batches. Layers are numbered from 1: ``params.W[l]`` is W^l,
``cache.a[0]`` is x. Keras stores the transpose (a kernel (n_{l-1}, n_l) for row vectors): ``W[l] = kernel.T``.

Everything is plain NumPy in float64 unless the caller passes float32 data; nothing here imports TensorFlow.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradbook._validate import instance, integer, number, one_of, type_error
from gradbook.repro import resolve_seed

ACTIVATIONS = ("sigmoid", "tanh", "relu", "linear")
LOSSES = ("cross_entropy", "mse")


@dataclass
class Params:
    """The parameters θ of the network: ``W[l]`` is W^l, shape (n_l, n_{l-1}); ``b[l]`` is b^l, shape (n_l, 1).

    Example:
        >>> params = Params({1: np.ones((3, 2))}, {1: np.zeros((3, 1))})
        >>> params.L, params.sizes
        (1, [2, 3])
    """

    W: dict[int, np.ndarray]
    b: dict[int, np.ndarray]

    @property
    def L(self) -> int:
        """The number of layers with weights (hidden layers + the output layer)."""
        return len(self.W)

    @property
    def sizes(self) -> list[int]:
        """``[n_0, n_1, ..., n_L]``: the width of every layer, input first."""
        return [self.W[1].shape[1]] + [self.W[l].shape[0] for l in range(1, self.L + 1)]


@dataclass
class Grads:
    """The gradient ∇_θ ℒ, shaped like ``Params``: ``dW[l]`` is ∂ℒ/∂W^l and ``db[l]`` is ∂ℒ/∂b^l.

    Example:
        >>> Grads({1: np.zeros((3, 2))}, {1: np.zeros((3, 1))}).dW[1].shape
        (3, 2)
    """

    dW: dict[int, np.ndarray]
    db: dict[int, np.ndarray]


@dataclass
class Cache:
    """What the forward pass remembers for the backward pass: ``z[l]`` for l = 1..L and ``a[l]`` for l = 0..L.

    Example:
        >>> sorted(forward(init_params([2, 3, 1]), np.ones((2, 4))).a)
        [0, 1, 2]
    """

    z: dict[int, np.ndarray]
    a: dict[int, np.ndarray]


# ---------------------------------------------------------------------------------------------------------------
# Argument checks (the boundary): a wrong shape fails here with a message, not as a broadcasting surprise later.

def _check_params(params: Any) -> Params:
    instance("params", params, Params, "a gradbook.backprop.Params (see init_params)")
    if not params.W or sorted(params.W) != list(range(1, len(params.W) + 1)) or sorted(params.b) != sorted(params.W):
        raise ValueError(f"params must hold W[l] and b[l] for l = 1..L; got W keys {sorted(params.W)}, "
                         f"b keys {sorted(params.b)}")
    for l in range(1, params.L + 1):
        instance(f"params.W[{l}]", params.W[l], np.ndarray, f"a 2-D array of shape (n_{l}, n_{l - 1})")
        if params.W[l].ndim != 2:
            raise ValueError(f"params.W[{l}] must be a 2-D array of shape (n_{l}, n_{l - 1}); "
                             f"got {np.shape(params.W[l])}")
    for l in range(1, params.L + 1):
        W, b = params.W[l], np.asarray(params.b[l])
        n_in = params.W[l - 1].shape[0] if l > 1 else W.shape[1]
        if W.shape[1] != n_in:
            raise ValueError(f"params.W[{l}] must have shape (n_{l}, n_{l - 1}) with n_{l - 1} = {n_in}; "
                             f"got {W.shape}")
        if b.shape != (W.shape[0], 1):
            raise ValueError(f"params.b[{l}] must have shape (n_{l}, 1) = {(W.shape[0], 1)}; got {b.shape}")
    return params


def _check_x(params: Params, x: Any, name: str = "x") -> np.ndarray:
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.number):
        raise TypeError(f"{name} must hold numbers; got dtype {x.dtype}")
    n_0 = params.sizes[0]
    if x.ndim != 2 or x.shape[0] != n_0 or x.shape[1] == 0:
        raise ValueError(f"{name} must have shape (n_0, m) = ({n_0}, m), one column per example, m >= 1; "
                         f"got {x.shape} (transpose a batch that has one row per example)")
    return x


def _check_y(y: Any, n_L: int, m: int, loss: str, name: str = "y") -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (n_L, m):
        raise ValueError(f"{name} must have shape (n_L, m) = ({n_L}, {m}), one column per example; got {y.shape}"
                         + (" (use one_hot(labels, num_classes) for class labels)" if y.ndim == 1 else ""))
    if loss == "cross_entropy" and (np.any(y < 0) or not np.allclose(y.sum(axis=0), 1.0)):
        raise ValueError(f"{name} must hold a probability distribution in every column for loss='cross_entropy' "
                         f"(non-negative, summing to 1; one_hot(labels, num_classes) gives one)")
    return y


def _check_z(z: Any, name: str) -> np.ndarray:
    z = np.asarray(z)
    if z.ndim != 2 or z.shape[1] == 0:
        raise ValueError(f"{name} must have shape (n, m), one column per example; got {z.shape}")
    return z


# ---------------------------------------------------------------------------------------------------------------
# Building blocks: parameters, activation functions, labels.

def init_params(sizes: Sequence[int], seed: int | None = 0, weight_std: float | None = None) -> Params:
    """Random weights W^l ~ N(0, s²) with s = 1/√n_{l-1} (or ``weight_std``), and zero biases b^l.

    Args:
        sizes: ``[n_0, n_1, ..., n_L]``, the width of every layer from the input to the output (at least two).
        seed: seed of the generator (``None``: fresh weights every call).
        weight_std: the standard deviation s of every weight, instead of 1/√n_{l-1}.

    Example:
        >>> params = init_params([784, 32, 10])
        >>> params.L, params.W[1].shape, params.b[2].shape
        (2, (32, 784), (10, 1))
    """
    allowed = "a sequence [n_0, n_1, ..., n_L] of at least two integers >= 1"
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise type_error("sizes", allowed, sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes must be {allowed}; got {sizes!r}")
    sizes = [integer(f"sizes[{i}]", n) for i, n in enumerate(sizes)]
    if weight_std is not None:
        weight_std = number("weight_std", weight_std, above=0)
    rng = np.random.default_rng(resolve_seed(seed))
    W, b = {}, {}
    for l in range(1, len(sizes)):
        s = weight_std if weight_std is not None else 1.0 / np.sqrt(sizes[l - 1])
        W[l] = rng.normal(0.0, s, size=(sizes[l], sizes[l - 1]))
        b[l] = np.zeros((sizes[l], 1))
    return Params(W, b)


def phi(z: np.ndarray, activation: str = "sigmoid") -> np.ndarray:
    """The activation φ(z), element by element: ``"sigmoid"`` (σ), ``"tanh"``, ``"relu"`` or ``"linear"``.

    Example:
        >>> phi(np.array([[0.0]]))
        array([[0.5]])
    """
    one_of("activation", activation, ACTIVATIONS)
    z = np.asarray(z)
    if activation == "sigmoid":  # 1 / (1 + e^{-z}) from e^{-|z|} <= 1: no overflow, and full precision near 0
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1.0, e) / (1.0 + e)
    if activation == "tanh":
        return np.tanh(z)
    if activation == "relu":
        return np.maximum(z, 0.0)
    return z.copy()


def phi_prime(z: np.ndarray, activation: str = "sigmoid") -> np.ndarray:
    """The derivative φ′(z), element by element (ReLU's is taken as 0 at z = 0).

    Example:
        >>> phi_prime(np.array([[0.0]]))  # the sigmoid's slope is largest at 0: 1/4
        array([[0.25]])
    """
    one_of("activation", activation, ACTIVATIONS)
    z = np.asarray(z)
    if activation == "sigmoid":  # σ(z) σ(-z) = σ(z) (1 - σ(z)), without cancellation where σ(z) is near 1
        e = np.exp(-np.abs(z))
        return e / (1.0 + e) ** 2
    if activation == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if activation == "relu":
        return (z > 0).astype(z.dtype if np.issubdtype(z.dtype, np.floating) else np.float64)
    return np.ones_like(z, dtype=z.dtype if np.issubdtype(z.dtype, np.floating) else np.float64)


def one_hot(labels: Any, num_classes: int = 10) -> np.ndarray:
    """Class labels 0..num_classes-1 as one-hot columns: shape (num_classes, m), column i has a 1 in row labels[i].

    Example:
        >>> one_hot([2, 0], num_classes=3)
        array([[0., 1.],
               [0., 0.],
               [1., 0.]])
    """
    num_classes = integer("num_classes", num_classes)
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be a 1-D array of integers; got dtype {labels.dtype}")
    if labels.ndim != 1:
        raise ValueError(f"labels must be a 1-D array of integers; got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}; got values from {labels.min()} to {labels.max()}")
    y = np.zeros((num_classes, labels.size))
    y[labels, np.arange(labels.size)] = 1.0
    return y


# ---------------------------------------------------------------------------------------------------------------
# Step 1: the forward pass.

def forward(params: Params, x: np.ndarray, activation: str = "sigmoid") -> Cache:
    """Step 1: z^l = W^l a^{l-1} + b^l and a^l = φ(z^l), from a^0 = x up to the
    linear output a^L = z^L.

    Args:
        params: the network's parameters (``init_params``).
        x: the input, shape (n_0, m): one column per example.
        activation: the hidden layers' φ, one of ``ACTIVATIONS``.

    Returns:
        A ``Cache`` with every z^l and a^l, which the backward pass needs.

    Example:
        >>> cache = forward(init_params([4, 3, 2]), np.ones((4, 5)))
        >>> cache.z[2].shape
        (2, 5)
    """
    params = _check_params(params)
    x = _check_x(params, x)
    one_of("activation", activation, ACTIVATIONS)
    L = params.L
    z, a = {}, {0: x}
    for l in range(1, L + 1):
        z[l] = params.W[l] @ a[l - 1] + params.b[l]
        a[l] = phi(z[l], activation) if l < L else z[l]
    return Cache(z, a)


# ---------------------------------------------------------------------------------------------------------------
# Step 2: the loss, and where the backward pass starts: δ^L = ∂ℒ/∂z^L.

def softmax(z: np.ndarray) -> np.ndarray:
    """p = softmax(z), column by column: p_k = e^{z_k} / Σ_j e^{z_j} (computed after subtracting each column's max).

    Example:
        >>> softmax(np.array([[0.0], [0.0]]))
        array([[0.5],
               [0.5]])
    """
    z = _check_z(z, "z")
    e = np.exp(z - z.max(axis=0, keepdims=True))  # the same p, and no overflow: the largest exponent is 0
    return e / e.sum(axis=0, keepdims=True)


def mse(y_hat: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error with the customary ½: ℒ = 1/(2m) Σ_i ‖ŷ_i − y_i‖² (summed over outputs, mean over examples).

    Example:
        >>> mse(np.array([[1.0, 3.0]]), np.array([[0.0, 0.0]]))  # (1 + 9) / (2 * 2)
        2.5
    """
    y_hat = _check_z(y_hat, "y_hat")
    y = _check_y(y, *y_hat.shape, loss="mse")
    m = y_hat.shape[1]
    return float(np.sum((y_hat - y) ** 2) / (2 * m))


def cross_entropy(z_L: np.ndarray, y: np.ndarray) -> float:
    """Softmax cross-entropy from the logits z^L:
    ℒ = −1/m Σ_i Σ_k y_ki log p_ki with p = softmax(z^L).

    Example:
        >>> round(cross_entropy(np.zeros((10, 1)), one_hot([3])), 4)  # uniform: ln 10
        2.3026
    """
    z_L = _check_z(z_L, "z_L")
    y = _check_y(y, *z_L.shape, loss="cross_entropy")
    m = z_L.shape[1]
    shifted = z_L - z_L.max(axis=0, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))  # log softmax
    return float(-np.sum(y * log_p) / m)


def compute_loss(z_L: np.ndarray, y: np.ndarray, loss: str = "cross_entropy") -> float:
    """Step 2: the loss of the network's output z^L against the targets y (``"cross_entropy"`` or ``"mse"``).

    Example:
        >>> compute_loss(np.array([[1.0, 3.0]]), np.array([[0.0, 0.0]]), loss="mse")
        2.5
    """
    one_of("loss", loss, LOSSES)
    return cross_entropy(z_L, y) if loss == "cross_entropy" else mse(z_L, y)


def output_delta(z_L: np.ndarray, y: np.ndarray,
                 loss: str = "cross_entropy") -> np.ndarray:
    """δ^L = ∂ℒ/∂z^L: (p − y)/m for softmax cross-entropy, (z^L − y)/m for MSE
    (chapter 3 derives both).

    The 1/m of the averaged loss lives here, so every later formula is the same for
    one example and for a batch.

    Example:
        >>> output_delta(np.zeros((2, 1)), np.array([[1.0], [0.0]]))  # p = (½, ½)
        array([[-0.5],
               [ 0.5]])
    """
    one_of("loss", loss, LOSSES)
    z_L = _check_z(z_L, "z_L")
    y = _check_y(y, *z_L.shape, loss=loss)
    m = z_L.shape[1]
    if loss == "cross_entropy":
        return (softmax(z_L) - y) / m
    return (z_L - y) / m


# ---------------------------------------------------------------------------------------------------------------
# Step 3: the backward pass.

def backward(params: Params, cache: Cache, y: np.ndarray, loss: str = "cross_entropy",
             activation: str = "sigmoid") -> Grads:
    """Step 3: δ^L from the loss, then δ^l = ((W^{l+1})^T δ^{l+1}) ⊙ φ′(z^l) down to
    l = 1, and from every δ^l the gradients ∂ℒ/∂W^l = δ^l (a^{l-1})^T and
    ∂ℒ/∂b^l = δ^l summed over the batch's columns.

    Args:
        params: the parameters the forward pass used.
        cache: what ``forward(params, x, activation)`` returned.
        y: the targets, shape (n_L, m) (``one_hot`` labels for cross-entropy).
        loss, activation: the same ones as the loss and the forward pass.

    Example:
        >>> params = init_params([4, 3, 2])
        >>> x, y = np.ones((4, 5)), one_hot(np.array([0, 1, 0, 1, 1]), 2)
        >>> grads = backward(params, forward(params, x), y)
        >>> grads.dW[1].shape == params.W[1].shape
        True
    """
    params = _check_params(params)
    one_of("loss", loss, LOSSES)
    one_of("activation", activation, ACTIVATIONS)
    instance("cache", cache, Cache, "the Cache that forward(params, x) returned")
    if sorted(cache.z) != list(range(1, params.L + 1)):
        raise ValueError("cache must be the Cache that forward(params, x) returned "
                         f"for these {params.L}-layer params")
    L, W = params.L, params.W
    delta = {L: output_delta(cache.z[L], y, loss)}
    for l in range(L - 1, 0, -1):
        delta[l] = (W[l + 1].T @ delta[l + 1]) * phi_prime(cache.z[l], activation)
    dW = {l: delta[l] @ cache.a[l - 1].T for l in range(1, L + 1)}
    db = {l: delta[l].sum(axis=1, keepdims=True) for l in range(1, L + 1)}
    return Grads(dW, db)


# ---------------------------------------------------------------------------------------------------------------
# Step 4: the update.

def update(params: Params, grads: Grads, eta: float) -> Params:
    """Step 4: one step of gradient descent, θ ← θ − η ∇_θ ℒ, for every W^l and b^l;
    returns new parameters.

    Example:
        >>> params = init_params([2, 1])
        >>> grads = Grads({1: np.ones((1, 2))}, {1: np.ones((1, 1))})
        >>> update(params, grads, eta=0.1).b[1]
        array([[-0.1]])
    """
    params = _check_params(params)
    eta = number("eta", eta, above=0)
    instance("grads", grads, Grads, "a Grads (see backward)")
    if any(grads.dW.get(l) is None or grads.dW[l].shape != params.W[l].shape
           or grads.db.get(l) is None or grads.db[l].shape != params.b[l].shape
           for l in range(1, params.L + 1)):
        raise ValueError("grads must be a Grads with dW[l], db[l] shaped like "
                         "params.W[l], params.b[l] (see backward)")
    W = {l: params.W[l] - eta * grads.dW[l] for l in range(1, params.L + 1)}
    b = {l: params.b[l] - eta * grads.db[l] for l in range(1, params.L + 1)}
    return Params(W, b)


# ---------------------------------------------------------------------------------------------------------------
# The four steps together, and a training loop.

def train_step(params: Params, x: np.ndarray, y: np.ndarray, eta: float,
               loss: str = "cross_entropy",
               activation: str = "sigmoid") -> tuple[Params, float]:
    """The four steps on one batch: forward, loss, backward, update. Returns the new
    parameters and the loss (measured before the update).

    Example:
        >>> params = init_params([4, 3, 2])
        >>> x, y = np.ones((4, 5)), one_hot(np.array([0, 1, 0, 1, 1]), 2)
        >>> new_params, batch_loss = train_step(params, x, y, eta=0.5)
    """
    cache = forward(params, x, activation)                      # step 1
    value = compute_loss(cache.z[params.L], y, loss)             # step 2
    grads = backward(params, cache, y, loss, activation)         # step 3
    return update(params, grads, eta), value                     # step 4


def train(params: Params, x: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int,
          eta: float, loss: str = "cross_entropy", activation: str = "sigmoid",
          seed: int = 0, x_test: np.ndarray | None = None,
          labels_test: np.ndarray | None = None) -> tuple[Params, dict]:
    """Mini-batch gradient descent: every epoch shuffles the m training columns and
    takes one ``train_step`` per batch of ``batch_size`` of them.

    Returns:
        The trained parameters and a history dict: ``"loss"`` (the loss on the
        whole training set before training and after every epoch: ``epochs + 1``
        values), ``"step_loss"`` (the loss of every batch, before its update), and,
        when ``x_test``/``labels_test`` are given, ``"test_accuracy"`` (before
        training and after every epoch).

    Example:
        >>> x = np.random.default_rng(0).normal(size=(2, 64))
        >>> y = one_hot((x[0] > 0).astype(int), 2)
        >>> _, h = train(init_params([2, 2]), x, y, epochs=3, batch_size=16, eta=1.0)
        >>> h["loss"][-1] < h["loss"][0]
        True
    """
    params = _check_params(params)
    x = _check_x(params, x)
    m = x.shape[1]
    y = _check_y(y, params.sizes[-1], m, one_of("loss", loss, LOSSES))
    epochs = integer("epochs", epochs)
    batch_size = integer("batch_size", batch_size)
    if (x_test is None) != (labels_test is None):
        raise ValueError("x_test and labels_test must be given together, or neither")
    if x_test is not None:
        x_test = _check_x(params, x_test, "x_test")
        labels_test = np.asarray(labels_test)
        if labels_test.shape != (x_test.shape[1],):
            raise ValueError("labels_test must have shape (m_test,) = "
                             f"({x_test.shape[1]},), one label per column of x_test; "
                             f"got {labels_test.shape}")
    rng = np.random.default_rng(resolve_seed(integer("seed", seed, minimum=0)))

    def full_loss(p: Params) -> float:
        return compute_loss(forward(p, x, activation).z[p.L], y, loss)

    history: dict[str, list[float]] = {"loss": [full_loss(params)], "step_loss": []}
    if x_test is not None:
        history["test_accuracy"] = [accuracy(params, x_test, labels_test, activation)]
    for _ in range(epochs):
        order = rng.permutation(m)
        for start in range(0, m, batch_size):
            batch = order[start:start + batch_size]
            params, value = train_step(params, x[:, batch], y[:, batch], eta, loss,
                                       activation)
            history["step_loss"].append(value)
        history["loss"].append(full_loss(params))
        if x_test is not None:
            history["test_accuracy"].append(
                accuracy(params, x_test, labels_test, activation))
    return params, history


def predict(params: Params, x: np.ndarray, activation: str = "sigmoid") -> np.ndarray:
    """The predicted class of every column of x: the index of its largest output z^L_k.

    Example:
        >>> predict(init_params([4, 3]), np.zeros((4, 2)))
        array([0, 0])
    """
    return np.argmax(forward(params, x, activation).z[params.L], axis=0)


def accuracy(params: Params, x: np.ndarray, labels: np.ndarray, activation: str = "sigmoid") -> float:
    """The fraction of columns of x whose predicted class equals ``labels`` (integers, shape (m,)).

    Example:
        >>> accuracy(init_params([4, 3]), np.zeros((4, 2)), np.array([0, 1]))
        0.5
    """
    labels = np.asarray(labels)
    predicted = predict(params, x, activation)
    if labels.shape != predicted.shape:
        raise ValueError(f"labels must have shape (m,) = {predicted.shape}, one label per column of x; "
                         f"got {labels.shape}")
    return float(np.mean(predicted == labels))


# ---------------------------------------------------------------------------------------------------------------
# Checking the gradient: finite differences, and the chain rule as a product of Jacobians.

def centred_difference(f: Callable[[np.ndarray], float], v: Any,
                       eps: float = 1e-6) -> np.ndarray:
    """∂f/∂v for a function f from an array v to a number, by centred differences,
    (f(v + ε e_i) − f(v − ε e_i)) / 2ε for one entry v_i at a time, in float64.

    Its error is absolute: about ``ε² |f‴| / 6`` (truncation) + ``u |f| / ε`` (rounding,
    with u = 2⁻⁵³ ≈ 1.1e-16); smallest near ε = 1e-5 when f and f‴ are of order one.

    Example:
        >>> centred_difference(lambda v: float(np.sum(v ** 2)), [1.0, -2.0]).round(6)
        array([ 2., -4.])
    """
    if not callable(f):
        raise type_error("f", "a function of one array that returns a number", f)
    eps = number("eps", eps, above=0)
    v = np.array(v, dtype=np.float64)  # a copy: the caller's array is never changed
    grad = np.zeros_like(v)
    for i in np.ndindex(v.shape):
        saved = v[i]
        v[i] = saved + eps
        plus = f(v)
        v[i] = saved - eps
        grad[i] = (plus - f(v)) / (2 * eps)
        v[i] = saved
    return grad


def numerical_gradient(params: Params, x: np.ndarray, y: np.ndarray,
                       loss: str = "cross_entropy", activation: str = "sigmoid",
                       eps: float = 1e-6) -> Grads:
    """∇_θ ℒ by centred differences, one parameter θ_i at a time:
    (ℒ(θ + ε e_i) − ℒ(θ − ε e_i)) / 2ε (``centred_difference``), in float64.

    Slow on purpose (two forward passes per parameter): the reference for ``backward``.

    Example:
        >>> params = init_params([3, 2])
        >>> numerical_gradient(params, np.ones((3, 1)), one_hot([1], 2)).dW[1].shape
        (2, 3)
    """
    params = _check_params(params)
    x = _check_x(params, x).astype(np.float64)  # and so every z^l and the loss
    one_of("loss", loss, LOSSES)
    one_of("activation", activation, ACTIVATIONS)
    _check_y(y, params.sizes[-1], x.shape[1], loss)

    def loss_at(W: dict, b: dict) -> float:
        return compute_loss(forward(Params(W, b), x, activation).z[params.L], y, loss)

    W, b = params.W, params.b
    return Grads({l: centred_difference(lambda w: loss_at({**W, l: w}, b), W[l], eps)
                  for l in W},
                 {l: centred_difference(lambda v: loss_at(W, {**b, l: v}), b[l], eps)
                  for l in b})


def relative_error(g: Grads | Any, h: Grads | Any) -> float:
    """‖g − h‖ / (‖g‖ + ‖h‖) over all entries of two gradients (``Grads``) or two arrays of the same shape: 0 when
    they are equal, 1 when they are opposite, of order one when they are unrelated.

    Example:
        >>> g = Grads({1: np.ones((1, 2))}, {1: np.ones((1, 1))})
        >>> relative_error(g, g), relative_error([1.0, 0.0], [-1.0, 0.0])
        (0.0, 1.0)
    """
    flat, shapes = [], []
    for name, value in (("g", g), ("h", h)):
        parts = [np.asarray(v) for l in sorted(value.dW) for v in (value.dW[l], value.db.get(l))] \
            if isinstance(value, Grads) else [np.asarray(value)]
        if not all(np.issubdtype(part.dtype, np.number) for part in parts):
            raise type_error(name, "a gradbook.backprop.Grads or an array of numbers", value)
        flat.append(np.concatenate([part.ravel() for part in parts]))
        shapes.append((isinstance(value, Grads), [part.shape for part in parts]))
    if shapes[0] != shapes[1]:
        raise ValueError("g and h must be two Grads with the same layers and shapes, or two arrays of the same "
                         f"shape; got {shapes[0][1]} and {shapes[1][1]}")
    denominator = np.linalg.norm(flat[0]) + np.linalg.norm(flat[1])
    return float(np.linalg.norm(flat[0] - flat[1]) / denominator) if denominator > 0 else 0.0


def gradient_check(params: Params, x: np.ndarray, y: np.ndarray, loss: str = "cross_entropy",
                   activation: str = "sigmoid", eps: float = 1e-6) -> float:
    """The relative error between backprop's gradient and centred finite differences, both in float64.

    A correct backward pass gives the finite difference's own error (about 1e-9 at the default ε for a loss of
    order one); a wrong one gives orders of magnitude more (a forgotten φ′ or transpose: 0.1 to 1).

    Example:
        >>> params = init_params([3, 4, 2])
        >>> gradient_check(params, np.ones((3, 2)), one_hot([0, 1], 2)) < 1e-7
        True
    """
    params = _check_params(params)
    x = _check_x(params, x).astype(np.float64)  # float64 x: float64 z^l, δ^l and gradients
    analytic = backward(params, forward(params, x, activation), y, loss, activation)
    return relative_error(analytic, numerical_gradient(params, x, y, loss, activation, eps))


def layer_jacobians(params: Params, x: np.ndarray,
                    activation: str = "sigmoid") -> dict[int, np.ndarray]:
    """The Jacobian J^l = ∂a^l/∂a^{l-1} = D^l W^l of every layer at one example x, with
    D^l = diag(φ′(z^l)); W^L at the linear output layer.

    Their product J^L J^{L-1} ... J^1 is the Jacobian ∂a^L/∂x of the whole network (the
    chain rule); chapter 4 studies how its size grows or shrinks with depth.

    Args:
        params: the network's parameters.
        x: one example, shape (n_0, 1) (or (n_0,)).
        activation: the hidden layers' φ.

    Example:
        >>> J = layer_jacobians(init_params([4, 3, 2]), np.ones((4, 1)))
        >>> J[1].shape, J[2].shape
        ((3, 4), (2, 3))
    """
    params = _check_params(params)
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[:, None]
    x = _check_x(params, x)
    if x.shape[1] != 1:
        raise ValueError("x must be one example, shape (n_0, 1) = "
                         f"({params.sizes[0]}, 1); got {x.shape}")
    cache = forward(params, x, activation)
    L = params.L
    # row j of W^l times φ′(z^l_j), for every j: D^l W^l
    J = {l: phi_prime(cache.z[l], activation) * params.W[l] for l in range(1, L)}
    return {**J, L: params.W[L].copy()}


def copy_params(params: Params) -> Params:
    """An independent copy of ``params`` (changing one does not change the other).

    Example:
        >>> p = init_params([2, 1]); q = copy_params(p); q.W[1][0, 0] = 5.0
        >>> bool(p.W[1][0, 0] == 5.0)
        False
    """
    return copy.deepcopy(_check_params(params))
