"""Argument checks for gradbook's public functions: one rule, one wording.

Every public function checks its arguments here, at its boundary, instead of failing deep inside NumPy or TensorFlow.
The rule: an argument of the wrong *type* raises ``TypeError``; one of the right type with a wrong *value* raises
``ValueError``. Either way the message names the argument, says what is allowed and shows what was received::

    depth must be an integer >= 1; got 0
    depth must be an integer >= 1; got 2.5 (float)

``bool`` is not an integer here (``True`` is no depth), and NaN and ±inf are not finite numbers. Nothing here imports
TensorFlow: the NumPy-only modules (``theory``, ``backprop``) use it too.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np


def shown(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters: what an error message shows of the received value."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def type_error(name: str, allowed: str, value: Any) -> TypeError:
    """``TypeError("<name> must be <allowed>; got <value> (<its type>)")``, to raise."""
    return TypeError(f"{name} must be {allowed}; got {shown(value)} ({type(value).__name__})")


def value_error(name: str, allowed: str, value: Any) -> ValueError:
    """``ValueError("<name> must be <allowed>; got <value>")``, to raise."""
    return ValueError(f"{name} must be {allowed}; got {shown(value)}")


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


def _bounds(minimum: float | None, maximum: float | None, above: float | None, below: float | None) -> str:
    """``">= 1"``, ``"> 0"``, ``"in [0, 1)"``… for the message; ``""`` without bounds."""
    low = f"[{minimum:g}" if minimum is not None else f"({above:g}" if above is not None else None
    high = f"{maximum:g}]" if maximum is not None else f"{below:g})" if below is not None else None
    if low and high:
        return f"in {low}, {high}"
    if low:
        return f"{'>=' if minimum is not None else '>'} {low[1:]}"
    if high:
        return f"{'<=' if maximum is not None else '<'} {high[:-1]}"
    return ""


def integer(name: str, value: Any, minimum: int | None = 1, maximum: int | None = None) -> int:
    """``value`` as an ``int`` if it is an integer (not a bool) in ``[minimum, maximum]``.

    Example:
        >>> integer("depth", 3)
        3
        >>> integer("depth", 0)
        Traceback (most recent call last):
        ...
        ValueError: depth must be an integer >= 1; got 0
    """
    allowed = " ".join(filter(None, ("an integer", _bounds(minimum, maximum, None, None))))
    if not _is_int(value):
        raise type_error(name, allowed, value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise value_error(name, allowed, value)
    return int(value)


def number(name: str, value: Any, *, minimum: float | None = None, maximum: float | None = None,
           above: float | None = None, below: float | None = None) -> float:
    """``value`` as a ``float`` if it is a finite real number within the bounds (``minimum``/``maximum`` inclusive,
    ``above``/``below`` exclusive).

    Example:
        >>> number("momentum", 0.9, minimum=0, below=1)
        0.9
        >>> number("learning_rate", float("nan"), above=0)
        Traceback (most recent call last):
        ...
        ValueError: learning_rate must be a finite number > 0; got nan
    """
    allowed = " ".join(filter(None, ("a finite number", _bounds(minimum, maximum, above, below))))
    if not _is_real(value):
        raise type_error(name, allowed, value)
    if not math.isfinite(value) or (minimum is not None and value < minimum) or (above is not None and value <= above) \
            or (maximum is not None and value > maximum) or (below is not None and value >= below):
        raise value_error(name, allowed, value)
    return float(value)


def flag(name: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False`` (a bool, not 0 or 1).

    Example:
        >>> flag("residual", "yes")
        Traceback (most recent call last):
        ...
        TypeError: residual must be True or False; got 'yes' (str)
    """
    if not isinstance(value, (bool, np.bool_)):
        raise type_error(name, "True or False", value)
    return bool(value)


def one_of(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """``value`` if it is one of ``allowed``; a value of another type than all of them is a ``TypeError``.

    Example:
        >>> one_of("split", "valid", ("train", "test"))
        Traceback (most recent call last):
        ...
        ValueError: split must be one of 'train', 'test'; got 'valid'
    """
    allowed = tuple(allowed)
    listed = f"one of {', '.join(repr(a) for a in allowed)}"
    if not any(isinstance(value, type(a)) for a in allowed):
        raise type_error(name, listed, value)
    if value not in allowed:
        raise value_error(name, listed, value)
    return value


def instance(name: str, value: Any, types: type | tuple[type, ...], allowed: str) -> Any:
    """``value`` if it is an instance of ``types``; else ``TypeError("<name> must be <allowed>; got …")``.

    Example:
        >>> instance("params", 3, dict, "a dict")
        Traceback (most recent call last):
        ...
        TypeError: params must be a dict; got 3 (int)
    """
    if not isinstance(value, types):
        raise type_error(name, allowed, value)
    return value


def numeric(name: str, value: Any, allowed: str = "an array of numbers") -> np.ndarray:
    """``value`` as a NumPy array if it holds numbers (booleans count as 0 and 1).

    Example:
        >>> numeric("x", [[1, 2]]).shape
        (1, 2)
    """
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):  # ragged nesting
        raise type_error(name, allowed, value) from None
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise type_error(name, allowed, value)
    return array


def finite_array(name: str, value: Any) -> np.ndarray:
    """``value`` as a float64 array if it holds numbers, all of them finite.

    Example:
        >>> finite_array("w", [1.0, 2.0]).dtype
        dtype('float64')
    """
    array = numeric(name, value, "finite numbers").astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise value_error(name, "finite numbers", value)
    return array


def integers(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None, min_len: int = 1,
             distinct: bool = False, increasing: bool = False) -> tuple[int, ...]:
    """``value`` as a tuple of ints if it is a list (any iterable but a string or a mapping) of at least ``min_len``
    integers within ``[minimum, maximum]``, ``distinct`` or strictly ``increasing`` when asked.

    Example:
        >>> integers("digits", [5, 9], minimum=0, maximum=9, min_len=2, distinct=True)
        (5, 9)
        >>> integers("eval_at", [3, 1], minimum=1, increasing=True)
        Traceback (most recent call last):
        ...
        ValueError: eval_at must be a list of increasing integers >= 1; got [3, 1]
    """
    words = [f"at least {min_len}"] if min_len > 1 else []
    words += ["different"] if distinct else []
    words += ["increasing"] if increasing else []
    bounds = _bounds(minimum, maximum, None, None).replace("in [", "from ").replace(", ", " to ").rstrip("]")
    allowed = " ".join(["a list of", *words, "integers", bounds]).strip()
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise type_error(name, allowed, value)
    items = list(value.ravel()) if isinstance(value, np.ndarray) else list(value)
    if not all(_is_int(v) for v in items):
        raise type_error(name, allowed, value)
    ok = len(items) >= min_len and all((minimum is None or v >= minimum) and (maximum is None or v <= maximum)
                                       for v in items)
    ok = ok and not (distinct and len(set(items)) != len(items))
    ok = ok and not (increasing and any(b <= a for a, b in zip(items, items[1:])))
    if not ok:
        raise value_error(name, allowed, value)
    return tuple(int(v) for v in items)
