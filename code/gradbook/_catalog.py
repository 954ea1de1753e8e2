"""The names the book's networks are built from, and what each initializer draws: shared by ``models`` (which builds
the networks with Keras) and ``theory`` (which predicts them in NumPy), so that the two can never disagree. NumPy only.
"""
from __future__ import annotations

from typing import Any

from gradbook._validate import number, one_of

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "selu", "linear")
INITIALIZERS = ("glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "lecun_normal", "orthogonal", "normal")


def initializer_spec(initializer: Any, weight_std: float | None = None) -> tuple[str, float | None]:
    """Check an initializer given by name (one of ``INITIALIZERS``) or as a float (the std of N(0, std²)).

    Returns ``("normal", std)`` for a float or for ``"normal"`` (which needs ``weight_std``), else ``(name, None)``.

    Example:
        >>> initializer_spec(0.3), initializer_spec("he_normal")
        (('normal', 0.3), ('he_normal', None))
    """
    if isinstance(initializer, (int, float)) and not isinstance(initializer, bool):
        return "normal", number("initializer", initializer, above=0)
    one_of("initializer", initializer, INITIALIZERS)
    if initializer != "normal":
        return initializer, None
    if weight_std is None:
        raise ValueError("weight_std must be given (a finite number > 0) when initializer='normal'; got None")
    return "normal", number("weight_std", weight_std, above=0)


def base_variance(name: str, fan_in: int, fan_out: int) -> float:
    """The variance of one weight a named Keras initializer draws for a ``(fan_in, fan_out)`` kernel (not
    ``"normal"``, whose variance is its std²). Glorot: 2 / (fan_in + fan_out); He: 2 / fan_in; LeCun: 1 / fan_in;
    orthogonal (gain 1): 1 / max(fan_in, fan_out).

    Example:
        >>> base_variance("he_normal", 256, 256) * 256
        2.0
    """
    if name.startswith("glorot"):
        return 2.0 / (fan_in + fan_out)
    if name.startswith("he"):
        return 2.0 / fan_in
    if name == "lecun_normal":
        return 1.0 / fan_in
    one_of("name", name, ("orthogonal",))  # orthonormal columns (fan_in >= fan_out) or rows, each of unit length
    return 1.0 / max(fan_in, fan_out)
