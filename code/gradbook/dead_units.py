"""Dead units: ReLU units that output zero for every input of a batch, and so pass no gradient to their weights.

A unit whose pre-activation is negative for every input has ReLU slope 0 everywhere: no gradient reaches its
incoming weights, so nothing can revive it ("dying ReLU"). ``activation_stats`` in ``gradbook.gradients`` counts
zero *entries*; this module counts zero *units*.
"""
from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pandas as pd


def dead_unit_fraction(model: keras.Model, x: Any) -> pd.Series:
    """For every ``Activation`` layer (input → output), the fraction of its units that output exactly 0 on all of ``x``.

    Args:
        model: a functional or Sequential Keras model with ``Activation`` layers (as ``gradbook.models.deep_mlp``).
        x: a batch of inputs; the more inputs, the stricter "dead on all of them".

    Returns:
        A float ``pandas.Series`` indexed by layer name, named ``"dead_fraction"``.

    Example:
        >>> from gradbook.models import deep_mlp
        >>> model = deep_mlp(2, 8, "relu", input_dim=3)
        >>> dead_unit_fraction(model, np.zeros((4, 3))).tolist()   # zero input, zero bias: every unit outputs 0
        [1.0, 1.0]
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a keras.Model; got {type(model).__name__}")
    chosen = [layer for layer in model.layers if isinstance(layer, keras.layers.Activation)]
    if not chosen:
        raise ValueError(f"model {model.name!r} has no Activation layers")
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"x must be a non-empty batch with a leading batch axis; got shape {x.shape}")
    probe = keras.Model(model.input, [layer.output for layer in chosen])
    outputs = probe(x, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    fractions = [float(np.mean(np.all(np.asarray(out) == 0, axis=0))) for out in outputs]
    series = pd.Series(fractions, index=[layer.name for layer in chosen], name="dead_fraction")
    series.index.name = "layer"
    return series
