"""gradbook: the code behind *Deep Gradients*, a book on vanishing and exploding gradients.

Ten modules, by what they do (the chapters that use them in brackets):

- ``data``: MNIST in Keras' layout, online or offline (``load_mnist``), ``teacher_classification``, a task whose
  answer is known, and ``adding_problem``, a task that needs a long memory [1–6].
- ``models``: the book's networks (``deep_mlp``, ``seed_cnn``, ``trained_seed_cnn``, ``conv_net``,
  ``recurrent_layer``) and ``layer_table`` [1–7].
- ``gradients``: measuring — per-layer gradient norms, activation statistics, ``dy/dx`` along a line
  (``gradients.layers``); gradients through time, recurrent gates, ``dŷ/dx_t`` (``gradients.recurrent``);
  BatchNorm's forward and backward pass in NumPy (``gradients.normalization``) [1, 4–6].
- ``diagnostics``: checking your own model — ``diagnose`` and the ``GradientMonitor`` callback [5, 6, 8].
- ``theory``: the mean-field prediction of per-layer gains and gradient norms, and random Jacobians (NumPy) [4, 9].
- ``backprop``: a fully-connected network and its gradients in NumPy, one function per step [2, 3].
- ``training``: the book's training loop (SGD or Adam, cross-entropy or squared error), the training-mode view,
  gradient clipping, the recurrent cliff [6].
- ``frontiers``: the frontiers chapter's experiments — ``interpret``, ``compute``, ``precision``, ``transfer`` [7].
- ``viz``: figures (``viz.plots``), live explorers (``viz.explorers``) and kernel-free ones (``viz.vega``); imported
  by notebooks only.
- ``repro``: seeds (``set_seed``, shifted by ``GRADBOOK_SEED_SHIFT``), the settings that change results, and the
  ``checks`` context manager of the book's check cells [all].

The names most readers need are importable from here: ``from gradbook import diagnose, GradientMonitor,
layer_gradient_norms, activation_stats, deep_mlp, seed_cnn, load_mnist, set_seed``. They are imported on first use,
so ``import gradbook`` (and ``gradbook.theory``, ``gradbook.backprop``) does not import TensorFlow.
"""
import os
import sys

# TensorFlow's C++ log would land in every rendered page: start-up notes, and with op determinism on (set_seed) an
# "E0000 ... NodeDef mentions attribute use_unbounded_threadpool" line per fit() that is harmless but logged at ERROR
# level, so only level 3 silences it. Python exceptions are unaffected; set the variable yourself to see the log.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The same numerics on every x86 CPU, as far as TensorFlow allows: its oneDNN kernels choose code paths by processor
# (AVX-512, AMX, bf16) and some of them turn NaN into 0 (max(x, 0)); with oneDNN off TensorFlow uses its Eigen kernels,
# which behave alike on every x86-64 processor and propagate NaN as IEEE arithmetic does. Rounding in the last bits
# can still differ between processors, which is why the book bounds its claims by their spread over seeds. It must be
# set before TensorFlow is imported (notebooks import gradbook first); set the variable yourself to choose otherwise.
if "TF_ENABLE_ONEDNN_OPTS" not in os.environ:
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
    if "tensorflow" in sys.modules:
        import warnings

        warnings.warn("gradbook was imported after TensorFlow, so TF_ENABLE_ONEDNN_OPTS=0 comes too late to take "
                      "effect; import gradbook first to get the book's numerics", RuntimeWarning, stacklevel=2)

__version__ = "0.1.0"

_EXPORTS = {
    "diagnose": "gradbook.diagnostics",
    "GradientMonitor": "gradbook.diagnostics",
    "layer_gradient_norms": "gradbook.gradients",
    "activation_stats": "gradbook.gradients",
    "deep_mlp": "gradbook.models",
    "seed_cnn": "gradbook.models",
    "load_mnist": "gradbook.data",
    "set_seed": "gradbook.repro",
}
_MODULES = ("data", "models", "gradients", "diagnostics", "theory", "backprop", "training", "frontiers", "viz", "repro")
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    """Import a curated name (or a module) on first use (PEP 562)."""
    import importlib

    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(f"gradbook.{name}")
    else:
        raise AttributeError(f"module 'gradbook' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | set(_MODULES))
