"""gradbook: the code behind *Deep Gradients*, a book on vanishing and exploding gradients.

Modules, by what they do:

- ``gradbook.data``: MNIST in Keras' layout, online or offline (``load_mnist``).
- ``gradbook.repro``: one seed for Python, NumPy and TensorFlow (``set_seed``).
- ``gradbook.models``: the book's models (``deep_mlp``).
- ``gradbook.gradients``: per-layer gradient norms and activation statistics.
- ``gradbook.plots``: the book's figures (imported by notebooks only).
"""
import os

# TensorFlow's C++ start-up chatter (oneDNN, CPU features) would land in every rendered page; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
