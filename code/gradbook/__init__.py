"""gradbook: the code behind *Deep Gradients*, a book on vanishing and exploding gradients.

Modules, by what they do:

- ``data``: MNIST in Keras' layout, online or offline (``load_mnist``); ``synthetic``: teacher-generated data.
- ``repro``: seeds (``set_seed``, shifted by ``GRADBOOK_SEED_SHIFT``), the settings that change results, and the
  ``checks`` context manager of the book's check cells.
- ``models``: the book's networks (``deep_mlp``, ``seed_cnn``); ``architecture``: shapes, parameters, receptive fields.
- ``backprop``: a fully-connected network and its gradients in NumPy, one function per step.
- ``gradients``: per-layer gradient norms, activation statistics, ``GradientMonitor`` and ``diagnose``.
- ``theory``: the mean-field prediction of per-layer gains and gradient norms.
- ``training``, ``jacobian``, ``dead_units``, ``clipping``, ``recurrent``: the remedies chapter's experiments.
- ``interpret``, ``compute``, ``precision``, ``transfer``, ``pretrained``: the frontiers chapter's experiments.
- ``plots``, ``widgets``, ``remedy_widgets``: figures and explorers (imported by notebooks only).
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
