"""gradbook._validate: one rule (wrong type → TypeError, wrong value → ValueError) and one wording for every check."""
import math

import numpy as np
import pytest

from gradbook import _validate as v


@pytest.mark.parametrize("value, expected", [(3, 3), (np.int64(7), 7), (1, 1)])
def test_integer_accepts_integers_of_any_kind(value, expected):
    result = v.integer("depth", value)
    assert result == expected and type(result) is int


@pytest.mark.parametrize("value, error, message", [
    (0, ValueError, "depth must be an integer >= 1; got 0"),
    (-3, ValueError, "depth must be an integer >= 1; got -3"),
    (2.5, TypeError, "depth must be an integer >= 1; got 2.5 (float)"),
    (2.0, TypeError, "depth must be an integer >= 1; got 2.0 (float)"),
    ("3", TypeError, "depth must be an integer >= 1; got '3' (str)"),
    (True, TypeError, "depth must be an integer >= 1; got True (bool)"),
    (np.bool_(True), TypeError, "depth must be an integer >= 1; got"),
    (None, TypeError, "depth must be an integer >= 1; got None (NoneType)"),
])
def test_integer_rejects_with_the_rule_and_the_wording(value, error, message):
    with pytest.raises(error) as raised:
        v.integer("depth", value)
    assert str(raised.value).startswith(message)


def test_integer_bounds_are_inclusive_and_spelled_out():
    assert v.integer("n", 0, minimum=0) == 0 and v.integer("n", 40, minimum=2, maximum=40) == 40
    with pytest.raises(ValueError, match=r"^depth must be an integer in \[2, 40\]; got 41$"):
        v.integer("depth", 41, minimum=2, maximum=40)
    with pytest.raises(ValueError, match=r"^k must be an integer <= 3; got 4$"):
        v.integer("k", 4, minimum=None, maximum=3)


@pytest.mark.parametrize("kwargs, value, message", [
    ({"above": 0}, 0.0, "learning_rate must be a finite number > 0; got 0.0"),
    ({"minimum": 0}, -1e-9, "learning_rate must be a finite number >= 0; got -1e-09"),
    ({"minimum": 0, "below": 1}, 1.0, r"learning_rate must be a finite number in \[0, 1\); got 1.0"),
    ({"above": 0, "maximum": 4}, 4.5, r"learning_rate must be a finite number in \(0, 4\]; got 4.5"),
    ({}, float("nan"), "learning_rate must be a finite number; got nan"),
    ({"above": 0}, float("inf"), "learning_rate must be a finite number > 0; got inf"),
    ({"above": 0}, -math.inf, "learning_rate must be a finite number > 0; got -inf"),
])
def test_number_rejects_bad_values_and_non_finite_numbers(kwargs, value, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        v.number("learning_rate", value, **kwargs)


@pytest.mark.parametrize("value", ["0.1", None, True, [0.1], np.array(0.1)])
def test_number_rejects_non_numbers_as_type_errors(value):
    with pytest.raises(TypeError, match="learning_rate must be a finite number > 0; got"):
        v.number("learning_rate", value, above=0)


def test_number_returns_a_float_and_keeps_the_value():
    assert v.number("x", 3) == 3.0 and type(v.number("x", np.float32(0.5))) is float
    assert v.number("x", 0.0, minimum=0) == 0.0 and v.number("x", 1.0, maximum=1) == 1.0


def test_flag_accepts_only_booleans():
    assert v.flag("residual", True) is True and v.flag("residual", np.bool_(False)) is False
    for value in (1, 0, "yes", None):
        with pytest.raises(TypeError, match="^residual must be True or False; got"):
            v.flag("residual", value)


def test_one_of_tells_a_wrong_value_from_a_wrong_type():
    assert v.one_of("split", "test", ("train", "test")) == "test"
    with pytest.raises(ValueError, match=r"^split must be one of 'train', 'test'; got 'valid'$"):
        v.one_of("split", "valid", ("train", "test"))
    with pytest.raises(TypeError, match=r"^split must be one of 'train', 'test'; got 3 \(int\)$"):
        v.one_of("split", 3, ("train", "test"))


def test_instance_names_the_expected_type():
    assert v.instance("params", {}, dict, "a dict") == {}
    with pytest.raises(TypeError, match=r"^params must be a dict; got \[\] \(list\)$"):
        v.instance("params", [], dict, "a dict")


def test_numeric_and_finite_array():
    assert v.numeric("x", [[1, 2]]).shape == (1, 2)
    with pytest.raises(TypeError, match="x must be an array of numbers; got 'abc'"):
        v.numeric("x", "abc")
    with pytest.raises(TypeError, match="x must be an array of numbers"):
        v.numeric("x", [[1, 2], [3]])  # ragged
    assert v.finite_array("w", [1, 2]).dtype == np.float64
    with pytest.raises(ValueError, match=r"^w must be finite numbers; got \[1.0, nan\]$"):
        v.finite_array("w", [1.0, np.nan])
    with pytest.raises(TypeError, match="w must be finite numbers"):
        v.finite_array("w", ["a"])


def test_integers_checks_the_container_the_items_and_the_constraints():
    assert v.integers("digits", range(3), minimum=0, maximum=9) == (0, 1, 2)
    assert v.integers("digits", np.array([4, 2]), minimum=0, maximum=9) == (4, 2)
    with pytest.raises(TypeError, match=r"^digits must be a list of integers from 0 to 9; got '12' \(str\)$"):
        v.integers("digits", "12", minimum=0, maximum=9)
    with pytest.raises(TypeError, match="digits must be a list of integers"):
        v.integers("digits", [1, 2.5], minimum=0, maximum=9)
    with pytest.raises(ValueError, match=r"^digits must be a list of at least 2 different integers from 0 to 9; "
                                         r"got \[5, 5\]$"):
        v.integers("digits", [5, 5], minimum=0, maximum=9, min_len=2, distinct=True)
    with pytest.raises(ValueError, match="from 0 to 9; got"):
        v.integers("digits", [3, 12], minimum=0, maximum=9)
    with pytest.raises(ValueError, match=r"^eval_at must be a list of increasing integers >= 1; got \[\]$"):
        v.integers("eval_at", [], minimum=1, increasing=True)


def test_a_long_received_value_is_cut():
    with pytest.raises(ValueError) as raised:
        v.one_of("name", "x" * 500, ("a",))
    assert len(str(raised.value)) < 150 and str(raised.value).endswith("...")
