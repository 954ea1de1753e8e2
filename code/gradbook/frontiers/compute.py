"""What a model costs to run: multiply–adds layer by layer, and the throughput it reaches on this machine.

A multiply–add (MAC) is one ``w·a`` added to a running sum; a FLOP count is twice the MACs. Only ``Conv2D`` and
``Dense`` layers are counted: the bias additions, activations and pooling cost one operation per output value,
negligible next to the MACs of the layers that feed them. For one image:

- ``Conv2D``: ``H_out · W_out · C_out · (k_h · k_w · C_in)`` — every output value is a dot product over a
  ``k_h × k_w × C_in`` window, and the *same* kernel is reused at every one of the ``H_out · W_out`` positions;
- ``Dense``: ``n_in · n_out`` — every weight is used exactly once.

A training step costs about three forward passes (the backward pass computes two products per layer: the gradient
for the layer's input and the gradient for its weights), which is the factor ``measure_throughput`` uses.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from gradbook._keras import check_batch, check_model
from gradbook._validate import integer, one_of

MODES = ("inference", "training")
TRAINING_COST = 3  # forward + backward ≈ 3 forward passes


def conv2d_macs(out_height: int, out_width: int, out_channels: int, kernel_height: int, kernel_width: int,
                in_channels: int) -> int:
    """Multiply–adds of one ``Conv2D`` for one image: ``out_height · out_width · out_channels · k_h · k_w · in_channels``.

    Example:
        >>> conv2d_macs(26, 26, 32, 3, 3, 1)   # seed_cnn's conv_1
        194688
    """
    sizes = {"out_height": out_height, "out_width": out_width, "out_channels": out_channels,
             "kernel_height": kernel_height, "kernel_width": kernel_width, "in_channels": in_channels}
    values = [integer(name, value) for name, value in sizes.items()]
    return int(np.prod(values, dtype=np.int64))


def layer_flops(model: keras.Model) -> pd.DataFrame:
    """Cost of one image's forward pass, layer by layer: parameters, multiply–adds, FLOPs and output values.

    Columns: ``type``, ``output shape``, ``parameters``, ``macs`` (multiply–adds; 0 for layers without weights),
    ``flops`` (``2 · macs``), ``uses_per_weight`` (``macs`` divided by the number of kernel weights: how often each
    weight is used per image — the number of positions a convolution visits, 1 for a dense layer) and
    ``activations`` (values the layer outputs per image, what the forward pass stores for the backward pass).

    Example:
        >>> from gradbook.models import seed_cnn
        >>> int(layer_flops(seed_cnn()).loc["conv_1", "macs"])
        194688
    """
    model = check_model(model, graph=True)
    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):  # functional models list their input as a layer
            continue
        out_shape = tuple(layer.output.shape[1:])
        macs = 0
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            in_shape = tuple(layer.input.shape[1:])
        if isinstance(layer, keras.layers.Conv2D):
            if layer.data_format != "channels_last" or getattr(layer, "groups", 1) != 1:
                raise ValueError(f"model must have channels_last Conv2D layers without groups (the ones counted); got "
                                 f"layer {layer.name!r}")
            kh, kw = layer.kernel_size
            macs = conv2d_macs(out_shape[0], out_shape[1], out_shape[2], kh, kw, in_shape[-1])
        elif isinstance(layer, keras.layers.Dense):
            macs = int(np.prod(in_shape, dtype=np.int64)) * layer.units
        params = int(layer.count_params())
        rows.append({
            "layer": layer.name,
            "type": type(layer).__name__,
            "output shape": str(out_shape),
            "parameters": params,
            "macs": int(macs),
            "flops": 2 * int(macs),
            "uses_per_weight": macs / int(np.prod(layer.kernel.shape)) if macs else float("nan"),
            "activations": int(np.prod(out_shape, dtype=np.int64)),
        })
    return pd.DataFrame(rows).set_index("layer")


@dataclass
class Throughput:
    """What ``measure_throughput`` measured.

    Attributes:
        mode: ``"inference"`` (forward pass) or ``"training"`` (forward + backward, no weight update).
        batch_size: images per call.
        seconds: the wall time of each timed call, in order.
        flops_per_image: FLOPs of one image in this mode (``3 ×`` the forward pass for training).

    Example:
        >>> t = Throughput("inference", 64, [0.5, 0.2, 0.3], flops_per_image=1e6)
        >>> t.median_seconds, t.images_per_second, t.gflops_per_second
        (0.3, 213.33333333333334, 0.21333333333333335)
    """

    mode: str
    batch_size: int
    seconds: list[float] = field(default_factory=list)
    flops_per_image: float = 0.0

    @property
    def median_seconds(self) -> float:
        """The median time of one call (robust to the odd slow call on a shared machine)."""
        return float(statistics.median(self.seconds))

    @property
    def images_per_second(self) -> float:
        """Images processed per second, from the median call."""
        return self.batch_size / self.median_seconds

    @property
    def gflops_per_second(self) -> float:
        """The arithmetic rate achieved, in GFLOP/s (FLOPs per image × images per second / 10⁹)."""
        return self.flops_per_image * self.images_per_second / 1e9


def measure_throughput(model: keras.Model, x: Any, *, batch_size: int = 128, repeats: int = 5,
                       mode: str = "inference") -> Throughput:
    """Time ``repeats`` calls of the model on one batch and report the median, in images/s and achieved GFLOP/s.

    The call is a compiled ``tf.function`` (traced and run once before timing, so tracing is not measured).
    ``"training"`` times the forward pass, the loss and the gradient of every weight — the work of a training step
    without the optimizer's update. The numbers depend on the machine and on what else it is running.

    Args:
        model: a built Keras model.
        x: images; the first ``batch_size`` are used (fewer are repeated to fill the batch).
        batch_size: images per call, >= 1.
        repeats: timed calls, >= 1.
        mode: ``"inference"`` or ``"training"``.

    Example:
        >>> from gradbook.models import seed_cnn
        >>> result = measure_throughput(seed_cnn(), np.zeros((8, 28, 28, 1)), batch_size=8, repeats=2)
        >>> result.images_per_second > 0
        True
    """
    model = check_model(model, graph=True)
    batch_size = integer("batch_size", batch_size)
    repeats = integer("repeats", repeats)
    one_of("mode", mode, MODES)
    x, _ = check_batch(model, x)
    batch = tf.constant(np.resize(x, (batch_size,) + x.shape[1:]))
    forward_flops = float(layer_flops(model)["flops"].sum())

    if mode == "inference":
        @tf.function
        def call(inputs):
            return model(inputs, training=False)
    else:
        variables = model.trainable_variables

        @tf.function
        def call(inputs):
            with tf.GradientTape() as tape:
                outputs = model(inputs, training=True)
                loss = tf.reduce_mean(tf.square(tf.cast(outputs, tf.float32)))  # any scalar: the cost is the same
            return tape.gradient(loss, variables)

    _ = tf.nest.map_structure(lambda t: t.numpy(), call(batch))  # trace and warm up
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        _ = tf.nest.map_structure(lambda t: t.numpy(), call(batch))  # .numpy() waits for the result
        seconds.append(time.perf_counter() - start)
    cost = forward_flops * (TRAINING_COST if mode == "training" else 1)
    return Throughput(mode=mode, batch_size=batch_size, seconds=seconds, flops_per_image=cost)
