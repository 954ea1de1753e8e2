"""Argument checks shared by gradbook's public functions.

Every public function validates its arguments here, at the boundary, so that a bad value raises a ``ValueError``
(or ``TypeError``) that names the argument and what is allowed, instead of failing deep inside TensorFlow.
"""
from __future__ import annotations

from collections.abc import Iterable
from numbers import Integral, Real
from typing import Any


def one_of(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``; else raise ``ValueError`` listing them."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(repr(a) for a in allowed)}; got {value!r}")
    return value


def positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` as an ``int`` if it is an integer >= ``minimum``; else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def positive_float(name: str, value: Any, allow_zero: bool = False) -> float:
    """Return ``value`` as a ``float`` if it is a finite number > 0 (or >= 0); else raise ``ValueError``."""
    ok = isinstance(value, Real) and not isinstance(value, bool) and value == value and abs(value) != float("inf")
    if not ok or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}; got {value!r}")
    return float(value)
