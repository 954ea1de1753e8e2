"""What theory predicts for a deep MLP at initialisation: the forward variance and the backward gain, layer by layer.

Mean-field theory (Poole et al. 2016, Schoenholz et al. 2017) treats every pre-activation of a wide random network as
Gaussian, ``z ~ N(0, q)``, and follows two numbers through the layers of ``gradbook.models.deep_mlp``:

- forward, the variance ``q^l`` of layer ``l``'s pre-activations::

      q^l = n_{l-1} Var(W^l) E[φ(z^{l-1})²]        (the input layer uses the input's mean square instead of E[φ²])

- backward, the mean square of ``δ^l = ∂ℒ/∂z^l``, which every layer multiplies by ``n_{l+1} Var(W^{l+1}) E[φ'(z^l)²]``.

For square hidden layers ``σ_w² = n Var(W)``, so the backward signal's norm changes per layer by the **gain**
``σ_w · sqrt(E[φ'(z)²])`` (the square, ``χ = σ_w² E[φ'(z)²]``, is Schoenholz et al.'s χ₁). A weight gradient is
``∂ℒ/∂W^l = δ^l a^{l-1}ᵀ``, so its norm is ``‖δ^l‖ ‖a^{l-1}‖``: the prediction for it multiplies both signals.

Everything here is NumPy: expectations over ``N(0, q)`` are closed forms for the piecewise-linear activations and
composite Gauss–Legendre quadrature for the others. Nothing here builds or runs a Keras network; importing it does
not import TensorFlow.

``chain_singular_values`` follows the whole input–output Jacobian instead of its average gain: the singular values of
a product of random matrices, which initialisation shapes (Saxe et al. 2014, dynamical isometry).
"""
from __future__ import annotations

import math
from contextlib import nullcontext
from functools import lru_cache
from collections.abc import Sequence
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd

from gradbook._catalog import ACTIVATIONS, INITIALIZERS, base_variance, initializer_spec
from gradbook._validate import integer, integers, number, one_of, type_error
from gradbook.repro import resolve_seed

try:  # installed with scikit-learn (a dependency of mlxtend); optional
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

CHAIN_INITS = ("gaussian", "orthogonal")
CHAIN_ACTIVATIONS = ("linear", "tanh", "relu")

LEAKY_SLOPE = 0.2  # Keras 3's default negative_slope for "leaky_relu"
_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805
_PIECEWISE_LINEAR = {"relu": 0.0, "leaky_relu": LEAKY_SLOPE, "linear": 1.0}  # slope for z < 0 (slope 1 for z > 0)


class Moments(NamedTuple):
    """Moments of an activation under ``z ~ N(0, q)``: ``E[φ(z)]``, ``E[φ(z)²]``, ``E[φ'(z)²]``.

    Example:
        >>> activation_moments("linear", 2.0)
        Moments(mean=0.0, second=2.0, slope_second=1.0)
    """

    mean: float
    second: float
    slope_second: float


def _erf(z: np.ndarray) -> np.ndarray:
    return np.frompyfunc(math.erf, 1, 1)(z).astype(float)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free form of 1 / (1 + e^-z)


def _elu_like(alpha: float, scale: float) -> tuple[Callable, Callable]:
    def f(z):
        return scale * np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))

    def df(z):
        return scale * np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0)))

    return f, df


def _gelu(z):
    return 0.5 * z * (1.0 + _erf(z / math.sqrt(2.0)))


def _gelu_slope(z):
    return 0.5 * (1.0 + _erf(z / math.sqrt(2.0))) + z * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


# φ and φ' for the activations without closed-form moments (Keras 3's definitions: gelu is the exact erf form).
_FUNCTIONS: dict[str, tuple[Callable, Callable]] = {
    "sigmoid": (_sigmoid, lambda z: _sigmoid(z) * (1.0 - _sigmoid(z))),
    "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
    "elu": _elu_like(1.0, 1.0),
    "selu": _elu_like(_SELU_ALPHA, _SELU_SCALE),
    "gelu": (_gelu, _gelu_slope),
}


@lru_cache(maxsize=None)
def _legendre(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(nodes)


def gaussian_expectation(f: Callable[[np.ndarray], np.ndarray], q: float) -> float:
    """``E[f(z)]`` for ``z ~ N(0, q)``, for ``f`` smooth on each side of 0 (a kink at 0 is allowed).

    Composite 8-point Gauss–Legendre on panels no wider than ``min(√q, 1) / 4`` over ``[-12√q, 12√q]``, split at 0.
    (Plain Gauss–Hermite would be shorter, but when ``q ≫ 1`` its nodes step over the narrow bump of a saturating
    derivative such as σ'(z), and it converges slowly across a kink.)

    Example:
        >>> round(gaussian_expectation(lambda z: z ** 2, 3.0), 12)
        3.0
    """
    if not callable(f):
        raise type_error("f", "a function of a NumPy array", f)
    q = number("q", q, minimum=0)
    if q == 0.0:
        return float(np.asarray(f(np.zeros(1)), dtype=float)[0])
    s = math.sqrt(q)
    half = 12.0 * s  # the Gaussian mass beyond 12 standard deviations is below 1e-32
    panels = int(min(math.ceil(half / (min(s, 1.0) / 4.0)), 4000))  # capped: for huge q, 0.3 % of the range each
    edges = np.linspace(0.0, half, panels + 1)
    x, w = _legendre(8)
    centre, width = (edges[1:] + edges[:-1]) / 2, (edges[1:] - edges[:-1]) / 2
    z = (centre[:, None] + width[:, None] * x).ravel()
    weights = (width[:, None] * w).ravel() * np.exp(-0.5 * z * z / q) / math.sqrt(2.0 * math.pi * q)
    return float(np.sum(weights * (np.asarray(f(z), float) + np.asarray(f(-z), float))))


def activation_moments(activation: str, q: float) -> Moments:
    """``E[φ(z)]``, ``E[φ(z)²]`` and ``E[φ'(z)²]`` for ``z ~ N(0, q)``: closed forms for relu, leaky_relu and linear.

    Example:
        >>> activation_moments("relu", 2.0)
        Moments(mean=0.5641895835477563, second=1.0, slope_second=0.5)
        >>> round(activation_moments("sigmoid", 0.0).slope_second, 4)   # σ'(0)² = (1/4)²
        0.0625
    """
    one_of("activation", activation, ACTIVATIONS)
    q = number("q", q, minimum=0)
    if activation in _PIECEWISE_LINEAR:  # φ(z) = z for z > 0, a·z for z < 0
        a = _PIECEWISE_LINEAR[activation]
        return Moments((1.0 - a) * math.sqrt(q / (2.0 * math.pi)), (1.0 + a * a) * q / 2.0, (1.0 + a * a) / 2.0)
    f, df = _FUNCTIONS[activation]
    return Moments(gaussian_expectation(f, q), gaussian_expectation(lambda z: f(z) ** 2, q),
                   gaussian_expectation(lambda z: df(z) ** 2, q))


def _second_moment(activation: str, q: float) -> float:
    """``E[φ(z)²]`` alone, for the fixed-point iteration (``activation_moments`` computes three expectations)."""
    if activation in _PIECEWISE_LINEAR:
        return (1.0 + _PIECEWISE_LINEAR[activation] ** 2) * q / 2.0
    f = _FUNCTIONS[activation][0]
    return gaussian_expectation(lambda z: f(z) ** 2, q)


def weight_variance(initializer: str | float, fan_in: int, fan_out: int, *, weight_std: float | None = None,
                    scale: float = 1.0) -> float:
    """The variance of one weight drawn by a Keras initializer for a ``(fan_in, fan_out)`` kernel, times ``scale²``.

    ``initializer`` is a name from ``INITIALIZERS`` (``"normal"`` needs ``weight_std``) or a float, the standard
    deviation of N(0, std²), exactly as in ``gradbook.models.deep_mlp``. Glorot: 2 / (fan_in + fan_out); He:
    2 / fan_in; LeCun: 1 / fan_in; orthogonal (gain 1): 1 / max(fan_in, fan_out). ``scale`` multiplies the weights.

    Example:
        >>> weight_variance("he_normal", 256, 256) * 256
        2.0
    """
    fan_in, fan_out = integer("fan_in", fan_in), integer("fan_out", fan_out)
    scale = number("scale", scale, above=0)
    name, std = initializer_spec(initializer, weight_std)
    base = std ** 2 if std is not None else base_variance(name, fan_in, fan_out)
    return base * scale ** 2


def mean_field(depth: int, width: int | Sequence[int] = 256, activation: str = "sigmoid",
               initializer: str | float = "glorot_uniform", *, weight_std: float | None = None, scale: float = 1.0,
               input_dim: int = 784, num_classes: int = 10, input_second_moment: float = 1.0) -> pd.DataFrame:
    """The mean-field prediction for ``deep_mlp(depth, width, activation, initializer)``, one row per hidden layer.

    ``width`` may also be a list of ``depth`` widths, one per hidden layer. A convolution with a k×k kernel and
    ``C_in`` → ``C_out`` channels has the fan-in ``k²C_in`` and (for Keras' initializers) the fan-out ``k²C_out``, so a
    stack of them follows the same forward recursion as dense layers of widths ``k²C_l`` after an input of size
    ``k²C_0`` — up to the zero padding at the borders, which the recursion ignores.

    Args:
        depth, activation, initializer, weight_std, input_dim, num_classes: as in ``deep_mlp``.
        width: units per hidden layer (as in ``deep_mlp``), or a list of ``depth`` such numbers.
        scale: a factor applied to every weight matrix (1 = the initializer as it is).
        input_second_moment: the mean of ``x²`` over the input's components (≈ 0.11 for MNIST scaled to [0, 1]).

    Returns:
        A DataFrame indexed ``dense_1 … dense_{depth}`` with columns ``q`` (pre-activation variance), ``act_mean``,
        ``act_std`` (of the activations ``φ(z)``), ``slope_second`` (``E[φ'(z)²]``), ``delta_rms`` (the rms of
        ``∂ℒ/∂z`` per unit, relative to the logits' gradient) and ``grad_norm`` (``‖∂ℒ/∂W‖``, relative to the last
        hidden layer, whose value is 1). Values can overflow to ``inf`` for absurd depths and scales.

    Example:
        >>> mf = mean_field(20, 256, "relu", "he_normal")
        >>> float(mf["grad_norm"].iloc[1])          # ReLU + He: every hidden layer the same
        1.0
    """
    depth = integer("depth", depth)
    if isinstance(width, (Sequence, np.ndarray)) and not isinstance(width, str):
        widths = list(integers("width", width, minimum=1))
        if len(widths) != depth:
            raise ValueError(f"width must be an integer >= 1 or a list of depth = {depth} of them; got {len(widths)} "
                             f"widths")
    else:
        widths = [integer("width", width)] * depth
    input_dim, num_classes = integer("input_dim", input_dim), integer("num_classes", num_classes)
    one_of("activation", activation, ACTIVATIONS)
    m_prev = number("input_second_moment", input_second_moment, above=0)
    sizes = [input_dim] + widths + [num_classes]
    var = [weight_variance(initializer, sizes[k], sizes[k + 1], weight_std=weight_std, scale=scale)
           for k in range(depth + 1)]  # var[k] belongs to the kernel (sizes[k], sizes[k+1]): dense_{k+1}, then logits
    rows, second = [], [m_prev]  # second[l] = E[a_l²], with a_0 = the input
    with np.errstate(over="ignore", invalid="ignore"):
        for layer in range(1, depth + 1):
            q = sizes[layer - 1] * var[layer - 1] * second[-1]
            mom = activation_moments(activation, q) if np.isfinite(q) else Moments(np.inf, np.inf, np.nan)
            second.append(mom.second)
            rows.append({"q": q, "act_mean": mom.mean, "act_std": math.sqrt(max(mom.second - mom.mean ** 2, 0.0)),
                         "slope_second": mom.slope_second})
        frame = pd.DataFrame(rows, index=pd.Index([f"dense_{k}" for k in range(1, depth + 1)], name="layer"))
        # Backward: E[(δ^l)²] = E[φ'(z^l)²] · n_{l+1} Var(W^{l+1}) · E[(δ^{l+1})²], starting from the logits (= 1).
        delta2 = np.empty(depth)
        below = 1.0
        for layer in range(depth, 0, -1):
            below = frame["slope_second"].iloc[layer - 1] * sizes[layer + 1] * var[layer] * below
            delta2[layer - 1] = below
        frame["delta_rms"] = np.sqrt(delta2)
        # ‖∂ℒ/∂W^l‖² = ‖a^{l-1}‖² ‖δ^l‖² = n_{l-1} E[(a^{l-1})²] · n_l E[(δ^l)²]
        grad = np.sqrt(np.array(sizes[:depth]) * np.array(second[:depth]) * np.array(widths) * delta2)
        frame["grad_norm"] = grad / grad[-1]
    return frame


def predicted_layer_norms(depth: int, width: int = 256, activation: str = "sigmoid",
                          initializer: str | float = "glorot_uniform", *, anchor: float = 1.0, **kwargs) -> pd.Series:
    """Predicted ``‖∂ℒ/∂W^l‖`` of the hidden layers ``dense_1 … dense_{depth}``, equal to ``anchor`` at the last one.

    Theory fixes the *shape* (how the norm changes from layer to layer), not the overall level, which depends on the
    loss and the batch: pass a measured value as ``anchor`` to overlay the prediction on
    ``gradbook.gradients.layer_gradient_norms``. ``kwargs`` go to ``mean_field``.

    Example:
        >>> p = predicted_layer_norms(20, 256, "sigmoid", "glorot_uniform", input_second_moment=0.11)
        >>> f"{p.iloc[0]:.0e}"
        '1e-12'
    """
    anchor = number("anchor", anchor, above=0)
    series = mean_field(depth, width, activation, initializer, **kwargs)["grad_norm"] * anchor
    series.name = "predicted_grad_norm"
    return series


def fixed_point_variance(activation: str, sigma_w2: float, q0: float = 1.0, *, max_iter: int = 1000,
                         rtol: float = 1e-10) -> float:
    """The pre-activation variance a deep stack of square layers settles at: iterate ``q ← σ_w² E[φ(z)²]``.

    Returns the last iterate when the map does not settle within ``max_iter`` steps (ReLU away from σ_w² = 2, tanh at
    σ_w² = 1, which approaches 0 only like 1/depth); it is capped to ``[1e-12, 1e12]``.

    Example:
        >>> round(fixed_point_variance("sigmoid", 1.0), 4)
        0.2647
    """
    one_of("activation", activation, ACTIVATIONS)
    sigma_w2 = number("sigma_w2", sigma_w2, above=0)
    q = number("q0", q0, above=0)
    max_iter = integer("max_iter", max_iter)
    rtol = number("rtol", rtol, minimum=0)
    for _ in range(max_iter):
        new = min(max(sigma_w2 * _second_moment(activation, q), 1e-12), 1e12)
        if abs(new - q) <= rtol * q:
            return new
        q = new
    return q


def per_layer_gain(activation: str, initializer: str | float = "glorot_uniform", width: int = 256, *,
                   weight_std: float | None = None, scale: float = 1.0, q: float | None = None) -> float:
    """The factor ``σ_w · sqrt(E[φ'(z)²])`` by which the backward signal's norm changes per square hidden layer.

    ``σ_w² = width · Var(W)``. The expectation is over ``z ~ N(0, q)``, by default at the forward fixed point
    ``fixed_point_variance`` (irrelevant for relu, leaky_relu and linear, whose E[φ'²] does not depend on q). Going
    from the output towards the input, a gradient norm is multiplied by this gain once per layer: below 1 it
    vanishes, above 1 it explodes, and a depth-L network's norms fall on a line of slope log10(gain) per layer.

    Example:
        >>> per_layer_gain("relu", "he_normal")
        1.0
        >>> round(per_layer_gain("sigmoid", "glorot_uniform"), 3)
        0.236
    """
    width = integer("width", width)
    one_of("activation", activation, ACTIVATIONS)
    sigma_w2 = width * weight_variance(initializer, width, width, weight_std=weight_std, scale=scale)
    q = fixed_point_variance(activation, sigma_w2) if q is None else number("q", q, minimum=0)
    return math.sqrt(sigma_w2 * activation_moments(activation, q).slope_second)


def _orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(n, n)))
    return q * np.sign(np.diag(r))  # the sign fix makes q Haar-distributed


def chain_singular_values(depth: int, width: int = 100, init: str = "gaussian", activation: str = "linear", *,
                          gain: float | None = None, seed: int = 0) -> np.ndarray:
    """Singular values of the input–output Jacobian ``J = D_L W_L ⋯ D_1 W_1`` of a random ``depth``-layer network.

    Each ``W^l`` is ``width × width``: Gaussian with variance ``gain² / width`` or ``gain`` times a random orthogonal
    matrix. ``D_l = diag(φ'(z^l))`` comes from a forward pass of one input ``x ~ N(0, I)`` (for ``"linear"``,
    ``D_l = I`` and ``J`` is the product of the matrices). The default ``gain`` keeps the signal's variance: 1 for
    linear and tanh, √2 for ReLU (He et al. 2015). Simulated in NumPy, float64.

    Args:
        depth: number of layers, >= 1.
        width: units per layer, >= 1.
        init: one of ``CHAIN_INITS``.
        activation: one of ``CHAIN_ACTIVATIONS``.
        gain: the weights' scale (see above), > 0.
        seed: seed of the weights and the input, >= 0.

    Returns:
        The ``width`` singular values, largest first (float64).

    Example:
        >>> s = chain_singular_values(50, 100, "orthogonal")
        >>> bool(np.allclose(s, 1.0))            # a product of orthogonal matrices is orthogonal
        True
    """
    depth = integer("depth", depth)
    width = integer("width", width)
    one_of("init", init, CHAIN_INITS)
    one_of("activation", activation, CHAIN_ACTIVATIONS)
    gain = (math.sqrt(2.0) if activation == "relu" else 1.0) if gain is None else number("gain", gain, above=0)
    rng = np.random.default_rng(resolve_seed(seed))
    h = rng.normal(size=width)
    jac = np.eye(width)
    # One BLAS thread: for matrices this small it is faster, and on a busy CPU OpenBLAS's spinning threads can make
    # this loop a hundred times slower.
    with threadpool_limits(1) if threadpool_limits is not None else nullcontext():
        for _ in range(depth):
            if init == "orthogonal":
                w = gain * _orthogonal(width, rng)
            else:
                w = gain * rng.normal(size=(width, width)) / np.sqrt(width)
            z = w @ h
            if activation == "tanh":
                h, slope = np.tanh(z), 1.0 - np.tanh(z) ** 2
            elif activation == "relu":
                h, slope = np.maximum(z, 0.0), (z > 0).astype(float)
            else:
                h, slope = z, np.ones(width)
            jac = (slope[:, None] * w) @ jac
        return np.linalg.svd(jac, compute_uv=False)
