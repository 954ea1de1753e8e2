import re
from pathlib import Path

import numpy as np
import pytest

from gradbook.models import deep_mlp
from gradbook.repro import (BUILT_WITH, checks, checks_mode, environment, hosted_session, resolve_seed, rng,
                            seed_shift, set_seed)

ROOT = Path(__file__).resolve().parents[1]


def _draw():
    import tensorflow as tf

    return np.random.rand(3), tf.random.uniform((3,)).numpy(), deep_mlp(2, 8, seed=None).layers[1].kernel.numpy()


def test_set_seed_reproduces_numpy_tensorflow_and_keras_weights():
    set_seed(123)
    first = _draw()
    set_seed(123)
    second = _draw()
    for a, b in zip(first, second):
        assert np.array_equal(a, b)
    set_seed(124)
    third = _draw()
    assert not any(np.array_equal(a, b) for a, b in zip(first, third))


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (1.5, TypeError), ("0", TypeError), (None, TypeError),
                                        (True, TypeError)])
def test_set_seed_rejects_non_integers(bad, error):
    with pytest.raises(error, match="seed must be an integer >= 0"):
        set_seed(bad)
    with pytest.raises(TypeError, match="deterministic_ops must be True or False"):
        set_seed(0, deterministic_ops=1)


def test_seed_shift_moves_every_seed(monkeypatch):
    monkeypatch.delenv("GRADBOOK_SEED_SHIFT", raising=False)
    base = deep_mlp(2, 8, seed=3).layers[1].kernel.numpy()
    assert seed_shift() == 0 and resolve_seed(3) == 3 and set_seed(3) == 3
    monkeypatch.setenv("GRADBOOK_SEED_SHIFT", "2")
    assert seed_shift() == 2 and resolve_seed(3) == 5 and resolve_seed(None) is None and set_seed(3) == 5
    shifted = deep_mlp(2, 8, seed=3).layers[1].kernel.numpy()
    assert not np.array_equal(base, shifted)
    assert np.array_equal(shifted, deep_mlp(2, 8, seed=3).layers[1].kernel.numpy())  # still reproducible
    assert rng(0).integers(1 << 30) == np.random.default_rng(2).integers(1 << 30)


@pytest.mark.parametrize("bad", ["-1", "two", "1.5"])
def test_bad_seed_shift_names_the_variable(monkeypatch, bad):
    monkeypatch.setenv("GRADBOOK_SEED_SHIFT", bad)
    with pytest.raises(ValueError, match="GRADBOOK_SEED_SHIFT must be an integer >= 0"):
        resolve_seed(0)


def _failing_check():
    measured = 0.947
    with checks():
        assert measured >= 0.95, f"test accuracy {measured:.3f}"
    return "went on"


def test_checks_are_strict_by_default_and_say_what_failed(monkeypatch):
    for name in ("GRADBOOK_CHECKS", "COLAB_RELEASE_TAG", "BINDER_LAUNCH_HOST", "BINDER_REPO_URL", "BINDER_REQUEST"):
        monkeypatch.delenv(name, raising=False)
    assert hosted_session() is None and checks_mode() == "strict"
    with pytest.raises(AssertionError) as failure:
        _failing_check()
    text = str(failure.value)
    assert "The book claims: assert measured >= 0.95" in text
    assert "Measured here: test accuracy 0.947" in text
    assert "Built and checked with: python 3.11, tensorflow 2.21.0" in text
    with checks():  # a claim that holds is silent
        assert 1 < 2


def test_checks_warn_in_a_hosted_session_and_go_on(monkeypatch, capsys):
    monkeypatch.delenv("GRADBOOK_CHECKS", raising=False)
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_20261101")
    assert hosted_session() == "Colab" and checks_mode() == "warn"
    assert _failing_check() == "went on"
    err = capsys.readouterr().err
    assert "did not hold in this kernel" in err and "Measured here: test accuracy 0.947" in err
    monkeypatch.setenv("GRADBOOK_CHECKS", "strict")  # an explicit setting wins, even on Colab
    with pytest.raises(AssertionError):
        _failing_check()


def test_checks_mode_from_the_environment(monkeypatch):
    monkeypatch.setenv("GRADBOOK_CHECKS", "warn")
    assert checks_mode() == "warn"
    monkeypatch.setenv("BINDER_LAUNCH_HOST", "https://mybinder.org/")
    assert hosted_session() == "Binder"
    monkeypatch.setenv("GRADBOOK_CHECKS", "loose")
    with pytest.raises(ValueError, match="GRADBOOK_CHECKS must be one of 'strict', 'warn'"):
        checks_mode()


def test_checks_let_other_errors_through():
    with pytest.raises(ZeroDivisionError):
        with checks():
            1 / 0


def test_built_with_matches_the_lock_and_this_environment():
    """BUILT_WITH (what a failed check compares against) is the pinned environment the book is built in."""
    lock = (ROOT / "requirements.txt").read_text()
    for package, key in (("tensorflow-cpu", "tensorflow"), ("keras", "keras"), ("numpy", "numpy")):
        assert re.search(rf"^{package}=={re.escape(BUILT_WITH[key])}$", lock, re.MULTILINE), (package, BUILT_WITH)
    here = environment()
    assert set(here) == set(BUILT_WITH)
    assert here["mnist"] == BUILT_WITH["mnist"] and here["seed shift"] in ("0", "1", "2")
