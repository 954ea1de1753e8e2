"""gradbook: the code behind *Deep Gradients*, a book on vanishing and exploding gradients.

Modules, by what they do:

- ``data``: MNIST in Keras' layout, online or offline (``load_mnist``); ``synthetic``: teacher-generated data.
- ``repro``: one seed for Python, NumPy and TensorFlow (``set_seed``).
- ``models``: the book's networks (``deep_mlp``, ``seed_cnn``); ``architecture``: shapes, parameters, receptive fields.
- ``backprop``: a fully-connected network and its gradients in NumPy, one function per step.
- ``gradients``: per-layer gradient norms, activation statistics, ``GradientMonitor`` and ``diagnose``.
- ``theory``: the mean-field prediction of per-layer gains and gradient norms.
- ``training``, ``jacobian``, ``dead_units``, ``clipping``, ``recurrent``: the remedies chapter's experiments.
- ``interpret``, ``compute``, ``precision``, ``transfer``, ``pretrained``: the frontiers chapter's experiments.
- ``plots``, ``widgets``, ``remedy_widgets``: figures and explorers (imported by notebooks only).
"""
import os

# TensorFlow's C++ log would land in every rendered page: start-up notes, and with op determinism on (set_seed) an
# "E0000 ... NodeDef mentions attribute use_unbounded_threadpool" line per fit() that is harmless but logged at ERROR
# level, so only level 3 silences it. Python exceptions are unaffected; set the variable yourself to see the log.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
