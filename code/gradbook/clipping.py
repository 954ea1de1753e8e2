"""What Keras' gradient clipping does to one update: ``clipnorm``, ``clipvalue`` and ``global_clipnorm``, measured.

``clipped_update`` hands a gradient you choose to a Keras optimizer and returns the step it takes, so the three
clipping arguments can be compared on numbers you can check by hand.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gradbook._checks import positive_float

CLIP_ARGUMENTS = ("clipnorm", "clipvalue", "global_clipnorm")


def clipped_update(gradients: Sequence[Any], learning_rate: float = 0.1, **clip: float) -> list[np.ndarray]:
    """The update ``Δθ = θ_new − θ_old`` that one step of Keras' plain SGD takes for the given ``gradients``.

    One variable per gradient (all starting at zero); ``clip`` is at most one of ``CLIP_ARGUMENTS``, passed to
    ``keras.optimizers.SGD`` exactly as a model would pass it. Keras itself raises ``ValueError`` when two are
    given; so does this function, before building anything.

    Args:
        gradients: one array-like per variable.
        learning_rate: SGD's step size, > 0.
        **clip: ``clipnorm=…`` (each variable's gradient rescaled to norm <= value), ``clipvalue=…`` (each
            component clipped to [−value, value]) or ``global_clipnorm=…`` (all gradients rescaled together so that
            their joint norm is <= value).

    Returns:
        One float64 array per variable: the update.

    Example:
        >>> [u.round(3).tolist() for u in clipped_update([[300.0, 400.0]], 0.1, clipnorm=1.0)]
        [[-0.06, -0.08]]
    """
    import keras

    learning_rate = positive_float("learning_rate", learning_rate)
    unknown = sorted(set(clip) - set(CLIP_ARGUMENTS))
    if unknown:
        raise ValueError(f"clip arguments must be among {', '.join(CLIP_ARGUMENTS)}; got {unknown}")
    if len(clip) > 1:
        raise ValueError(f"at most one of {', '.join(CLIP_ARGUMENTS)} may be given (Keras allows one); got "
                         f"{sorted(clip)}")
    clip = {name: positive_float(name, value) for name, value in clip.items()}
    grads = [np.asarray(g, dtype=np.float32) for g in gradients]
    if not grads or any(g.size == 0 or not np.all(np.isfinite(g)) for g in grads):
        raise ValueError("gradients must be a non-empty list of non-empty, finite arrays")
    variables = [keras.Variable(np.zeros_like(g), name=f"theta_{i}") for i, g in enumerate(grads)]
    optimizer = keras.optimizers.SGD(learning_rate, **clip)
    optimizer.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads], variables))
    return [np.asarray(v.numpy(), dtype=np.float64) for v in variables]
