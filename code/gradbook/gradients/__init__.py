"""Measuring gradients. These functions take a model (and a batch) and return numbers (pandas objects or arrays);
they never plot. To check your own model in one call, or while ``fit`` trains, see ``gradbook.diagnostics``.

- ``gradbook.gradients.layers``: the norm of ∂ℒ/∂W for every layer, what the activations look like, the derivative
  along a line of inputs, and a grid of networks' per-layer profiles;
- ``gradbook.gradients.recurrent``: how far back a recurrent layer's gradient reaches, an LSTM's or GRU's gates, and
  how much a model's output depends on each step of its input;
- ``gradbook.gradients.normalization``: batch normalisation's forward and backward pass in NumPy.

Everything public is imported here: ``from gradbook.gradients import layer_gradient_norms`` is all a reader needs.
"""
from gradbook.gradients.layers import (activation_stats, autocorrelation, first_last_ratio, gradient_along_line,
                                       kernel_layers, layer_gradient_norms, layer_profiles)
from gradbook.gradients.normalization import BatchNormPass, batch_norm_backward, batch_norm_forward
from gradbook.gradients.recurrent import gradient_through_time, input_gradients, lstm_paths, recurrent_gates

__all__ = ["BatchNormPass", "activation_stats", "autocorrelation", "batch_norm_backward", "batch_norm_forward",
           "first_last_ratio", "gradient_along_line", "gradient_through_time", "input_gradients", "kernel_layers",
           "layer_gradient_norms", "layer_profiles", "lstm_paths", "recurrent_gates"]
