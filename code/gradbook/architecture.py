"""Reading a Keras model's architecture: output shapes, parameter counts and receptive fields, layer by layer."""
from __future__ import annotations

import keras
import pandas as pd


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def layer_table(model: keras.Model) -> pd.DataFrame:
    """One row per layer: type, output shape, parameters, and for image models the receptive field.

    The receptive field ``rf`` is the side of the input patch one output unit can see, and ``jump`` the distance in
    input pixels between neighbouring output units. For a convolution or pooling layer with kernel ``k`` and stride
    ``s`` they grow as ``rf ← rf + (k − 1)·jump`` and ``jump ← jump·s`` (``"valid"`` padding or ``"same"`` alike);
    after ``Flatten`` every unit sees the whole image.

    Example:
        >>> from gradbook.models import seed_cnn
        >>> int(layer_table(seed_cnn()).loc["conv_3", "rf"])
        18
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model; got {type(model).__name__}")
    if not model.built:
        raise ValueError("model must be built (give it an Input) before reading its layers")
    input_shape = tuple(model.inputs[0].shape[1:])
    image = len(input_shape) == 3
    rf, jump, whole = 1, 1, False
    rows = []
    for layer in model.layers:
        if image and isinstance(layer, (keras.layers.Conv2D, keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
            kernel = _pair(layer.kernel_size if hasattr(layer, "kernel_size") else layer.pool_size)[0]
            stride = _pair(layer.strides)[0]
            rf, jump = rf + (kernel - 1) * jump, jump * stride
        elif isinstance(layer, (keras.layers.Flatten, keras.layers.GlobalAveragePooling2D, keras.layers.Dense)):
            whole = True
        rows.append({
            "layer": layer.name,
            "type": type(layer).__name__,
            "output shape": str(tuple(layer.output.shape[1:])),
            "parameters": int(layer.count_params()),
            "rf": (input_shape[0] if whole else rf) if image else None,
            "jump": (None if whole else jump) if image else None,
        })
    table = pd.DataFrame(rows).set_index("layer")
    if not image:
        table = table.drop(columns=["rf", "jump"])
    return table
