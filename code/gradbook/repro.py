"""Reproducibility: seeds, the settings that change the book's numbers, and the checks of its claims.

- ``set_seed`` / ``resolve_seed`` / ``rng``: every seed of the book goes through ``resolve_seed``, which adds
  ``$GRADBOOK_SEED_SHIFT`` (default 0), so the whole book can be re-run with other seeds (``make robustness``).
- ``environment``: the settings that change results (seed shift, MNIST source, oneDNN) and the versions in use.
- ``checks``: the context manager around every check cell of the book. Everywhere the book is built or tested a
  failed claim raises; in a reader's hosted kernel (Colab, Binder) or with ``GRADBOOK_CHECKS=warn`` it becomes a
  visible message instead: what the book claims, what this machine measured, and how this kernel differs from the
  one the book was built with.
"""
from __future__ import annotations

import ast
import linecache
import os
import platform
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import Any

import numpy as np

from gradbook._validate import integer

DEFAULT_SEED = 42
SEED_SHIFT_VAR = "GRADBOOK_SEED_SHIFT"
CHECKS_VAR = "GRADBOOK_CHECKS"
CHECK_MODES = ("strict", "warn")

BUILT_WITH: dict[str, str] = {
    "python": "3.11",
    "tensorflow": "2.21.0",
    "keras": "3.15.1",
    "numpy": "2.4.6",
    "device": "CPU",
    "oneDNN": "off",
    "mnist": "subset",
    "seed shift": "0",
}
"""What the published book was built and checked with (``tests/test_repro.py`` holds it to requirements.txt)."""


def seed_shift() -> int:
    """The offset ``$GRADBOOK_SEED_SHIFT`` adds to every seed of the book (0 when unset).

    Example:
        >>> seed_shift()
        0
    """
    raw = os.environ.get(SEED_SHIFT_VAR, "").strip()
    if not raw:
        return 0
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"the environment variable {SEED_SHIFT_VAR} must be an integer >= 0; got {raw!r}")
    return value


def resolve_seed(seed: int | None) -> int | None:
    """The seed actually used for ``seed``: ``seed + seed_shift()``; ``None`` (fresh randomness) stays ``None``.

    Every gradbook function that takes a seed passes it through here, so one environment variable re-runs the whole
    book with other weights, data orders and samples.

    Example:
        >>> resolve_seed(3), resolve_seed(None)
        (3, None)
    """
    if seed is None:
        return None
    return integer("seed", seed, minimum=0) + seed_shift()


def rng(seed: int) -> np.random.Generator:
    """A NumPy generator seeded with ``resolve_seed(seed)``: use it instead of ``np.random.default_rng(seed)``.

    Example:
        >>> float(rng(0).integers(10)) == float(np.random.default_rng(0).integers(10))
        True
    """
    return np.random.default_rng(resolve_seed(seed))


def set_seed(seed: int = DEFAULT_SEED, deterministic_ops: bool = True) -> int:
    """Seed Python, NumPy and TensorFlow/Keras with ``resolve_seed(seed)`` and (by default) make TensorFlow's ops
    deterministic; returns the seed used.

    Call it at the top of a notebook and before building each model whose numbers you quote: weights drawn after the
    call are the same on every run, on the same machine and library versions.

    Example:
        >>> set_seed(0)
        0
    """
    if not isinstance(deterministic_ops, bool):
        raise TypeError(f"deterministic_ops must be True or False; got {deterministic_ops!r}")
    seed = resolve_seed(integer("seed", seed, minimum=0))
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)  # seeds Python, NumPy and the TensorFlow backend together
    if deterministic_ops:
        tf.config.experimental.enable_op_determinism()
    return seed


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _device() -> str:
    """"GPU (<name>)" when TensorFlow is already imported and sees a GPU, else "CPU"."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return "CPU"
    try:
        gpus = tf.config.list_physical_devices("GPU")
    except Exception:  # an exotic build without this API: say nothing rather than fail a check's message
        return "CPU"
    return f"GPU ({len(gpus)})" if gpus else "CPU"


def environment() -> dict[str, str]:
    """The settings that change the book's numbers, and the versions in use, in the keys of ``BUILT_WITH``.

    Example:
        >>> sorted(environment()) == sorted(BUILT_WITH)
        True
    """
    from gradbook.data import resolve_source

    tensorflow = _version("tensorflow-cpu")
    if tensorflow == "not installed":
        tensorflow = _version("tensorflow")
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "")
    return {
        "python": ".".join(platform.python_version_tuple()[:2]),
        "tensorflow": tensorflow,
        "keras": _version("keras"),
        "numpy": _version("numpy"),
        "device": _device(),
        "oneDNN": {"0": "off", "1": "on"}.get(onednn, "TensorFlow's default"),
        "mnist": resolve_source(),
        "seed shift": str(seed_shift()),
    }


def hosted_session() -> str | None:
    """``"Colab"`` or ``"Binder"`` when this kernel runs there (a reader's session), else ``None``.

    Example:
        >>> hosted_session() is None      # the book's build and tests
        True
    """
    if "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ:
        return "Colab"
    if any(name in os.environ for name in ("BINDER_LAUNCH_HOST", "BINDER_REPO_URL", "BINDER_REQUEST")):
        return "Binder"
    return None


def checks_mode() -> str:
    """``"strict"`` (a failed claim raises) or ``"warn"`` (it is shown as a message): ``$GRADBOOK_CHECKS`` when set,
    else ``"warn"`` in a hosted reader session and ``"strict"`` everywhere else.

    Example:
        >>> checks_mode()
        'strict'
    """
    raw = os.environ.get(CHECKS_VAR, "").strip().lower()
    if raw:
        if raw not in CHECK_MODES:
            raise ValueError(f"the environment variable {CHECKS_VAR} must be one of 'strict', 'warn'; "
                             f"got {os.environ[CHECKS_VAR]!r}")
        return raw
    return "warn" if hosted_session() else "strict"


def _failed_assert(exc: AssertionError) -> str | None:
    """The source of the ``assert`` statement that raised ``exc``, when it can be found."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return None
    filename, line = tb.tb_frame.f_code.co_filename, tb.tb_lineno
    source = "".join(linecache.getlines(filename))
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert) and node.lineno <= line <= (node.end_lineno or node.lineno):
            return ast.get_source_segment(source, node)
    return None


def claim_report(exc: AssertionError) -> str:
    """What a failed check says: the claim, what was measured, and this kernel against the book's build.

    Example:
        >>> try:
        ...     assert 1 + 1 == 3, "1 + 1 = 2"
        ... except AssertionError as exc:
        ...     print(claim_report(exc).splitlines()[1])
        Measured here: 1 + 1 = 2
    """
    here = environment()
    statement = _failed_assert(exc) or "(the check's source is not available)"
    measured = str(exc) or "(the check gives no value)"
    differs = [f"{key} {here[key]} (book: {BUILT_WITH[key]})" for key in BUILT_WITH
               if not here[key].startswith(BUILT_WITH[key])]
    lines = [f"The book claims: {statement}", f"Measured here: {measured}",
             "Built and checked with: " + ", ".join(f"{k} {v}" for k, v in BUILT_WITH.items())]
    lines.append("This kernel differs in: " + "; ".join(differs) if differs else
                 "This kernel matches the book's build in all of these; the claim may depend on the processor.")
    return "\n".join(lines)


@contextmanager
def checks() -> Iterator[None]:
    """Run a notebook's check cell: ``with checks():`` around the ``assert`` statements that test its claims.

    In ``"strict"`` mode (``checks_mode()``: the book's build, its tests, any kernel that is not a hosted reader
    session) a failed ``assert`` raises an ``AssertionError`` that says what the book claims, what was measured and
    how this kernel differs from the book's build. In ``"warn"`` mode the same text is shown as a message and the
    notebook goes on; the statements after the failed one in the same block are skipped.

    Example:
        >>> with checks():
        ...     assert 0.1 + 0.2 > 0.3, "0.1 + 0.2 rounds up in float64"
    """
    try:
        yield
    except AssertionError as exc:
        report = claim_report(exc)
        if checks_mode() == "strict":
            raise AssertionError(report) from exc
        _show_warning(report)


def _show_warning(report: str) -> None:
    heading = ("A check of this notebook did not hold in this kernel. The book's numbers were computed on the build "
               "below; numbers near a claim's bound can move with versions, hardware or seeds. The notebook goes on.")
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover - IPython comes with every Jupyter kernel
        print(f"{heading}\n{report}", file=sys.stderr)
        return
    if get_ipython() is None:
        print(f"{heading}\n{report}", file=sys.stderr)
        return
    body = "\n".join(f"- {line}" for line in report.splitlines())
    display(Markdown(f"**⚠ {heading}**\n\n{body}"))

