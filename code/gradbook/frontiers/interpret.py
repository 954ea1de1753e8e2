"""Gradient-based explanations of an image classifier: saliency maps, Grad-CAM, and a sanity check for both.

Both methods are the backward pass of the book turned around: instead of the gradient of the *loss* with respect to
the *weights*, they take the gradient of one *class score* with respect to the *input* (saliency,
Simonyan et al. 2014) or to a convolutional layer's *feature maps* (Grad-CAM, Selvaraju et al. 2017).

The class score is the **logit** of the class, the input of the last layer's softmax: the softmax saturates like a
sigmoid, so the gradient of a confident prediction's *probability* nearly vanishes (``score="probability"`` shows it).
The model must end in a ``Dense`` layer (its pre-activation is the logit) and be a chain of layers with an ``Input``,
like ``gradbook.models.seed_cnn``.

``randomize_layers`` and ``rank_correlation`` make the sanity check of Adebayo et al. (2018): an explanation that
barely changes when the weights are replaced by random ones explains the input, not the model.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from gradbook._keras import check_batch, check_model
from gradbook._validate import flag, numeric, one_of, type_error
from gradbook.repro import resolve_seed

SCORES = ("logit", "probability")


def _check_classifier(model: Any, x: Any) -> tuple[keras.Model, np.ndarray]:
    """The model (a functional or Sequential classifier ending in a Dense layer) and the batch, checked."""
    model = check_model(model, graph=True)
    if not isinstance(model.layers[-1], keras.layers.Dense):
        raise ValueError(f"model must end in a Dense layer (its pre-activation is the class logit); got "
                         f"{model.name!r}, whose last layer is a {type(model.layers[-1]).__name__}")
    return model, check_batch(model, x)[0]


def _check_classes(class_index: Any, n: int, num_classes: int) -> np.ndarray | None:
    if class_index is None:
        return None
    classes = np.asarray(class_index)
    allowed = f"None (the predicted class), one integer, or {n} integers"
    if not np.issubdtype(classes.dtype, np.integer):
        raise type_error("class_index", allowed, class_index)
    if classes.ndim == 0:
        classes = np.full(n, classes)
    if classes.shape != (n,):
        raise ValueError(f"class_index must be {allowed}; got {class_index!r}")
    if classes.min() < 0 or classes.max() >= num_classes:
        raise ValueError(f"class_index must lie in 0..{num_classes - 1}; got {class_index!r}")
    return classes.astype(np.int64)


def _conv_layer(model: keras.Model, layer_name: str | None) -> keras.layers.Layer:
    convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if not convs:
        raise ValueError(f"model must have a Conv2D layer for Grad-CAM; got {model.name!r}, which has none")
    if layer_name is None:
        layer_name = convs[-1]
    one_of("layer_name", layer_name, convs)
    return model.get_layer(layer_name)


def _scores_and_grads(model: keras.Model, x: np.ndarray, class_index: np.ndarray | None, score: str,
                      feature_layer: keras.layers.Layer | None) -> tuple[np.ndarray, np.ndarray, Any, Any]:
    """The chosen class of each image, its score's gradient w.r.t. ``x``, and the feature maps with their gradient."""
    last = model.layers[-1]
    outputs = [last.input] if feature_layer is None else [last.input, feature_layer.output]
    trunk = keras.Model(model.inputs[0], outputs)
    x = tf.constant(x)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        parts = trunk(x, training=False)
        features, maps = (parts, None) if feature_layer is None else parts
        logits = tf.matmul(features, last.kernel) + (last.bias if last.use_bias else 0.0)
        classes = tf.argmax(logits, axis=1) if class_index is None else tf.constant(class_index)
        values = logits if score == "logit" else tf.nn.softmax(logits)
        chosen = tf.gather(values, classes, batch_dims=1)
    grad_x = tape.gradient(chosen, x).numpy()
    grad_maps = None if maps is None else tape.gradient(chosen, maps)
    del tape
    return classes.numpy(), grad_x, maps, grad_maps


def saliency(model: keras.Model, x: Any, class_index: Any = None, *, score: str = "logit",
             absolute: bool = True) -> np.ndarray:
    """Simonyan et al.'s saliency map: how much each pixel changes the score of a class, ``|∂S_c / ∂x|``.

    One ``tf.GradientTape`` backward pass for the whole batch; for images with several channels the map takes the
    largest absolute value over the channels, as in the paper.

    Args:
        model: a trained classifier ending in a ``Dense`` layer (softmax or not), e.g. ``seed_cnn``.
        x: a batch of images, shaped like the model's input, e.g. ``(N, 28, 28, 1)``.
        class_index: whose score: ``None`` for each image's predicted class, one integer for all, or N integers.
        score: ``"logit"`` (the class logit, the standard choice) or ``"probability"`` (after the softmax).
        absolute: ``True`` for the magnitude ``|∂S_c/∂x|``; ``False`` keeps the sign (single-channel inputs only).

    Returns:
        The maps, shape ``(N, height, width)``, float32.

    Example:
        >>> from gradbook.models import seed_cnn
        >>> saliency(seed_cnn(), np.zeros((2, 28, 28, 1))).shape
        (2, 28, 28)
    """
    model, x = _check_classifier(model, x)
    one_of("score", score, SCORES)
    absolute = flag("absolute", absolute)
    if x.ndim != 4:
        raise ValueError(f"x must be a batch of images (N, height, width, channels); got shape {x.shape}")
    if not absolute and x.shape[-1] != 1:
        raise ValueError(f"absolute must be True for images with {x.shape[-1]} channels (the sign is per channel)")
    classes = _check_classes(class_index, len(x), model.layers[-1].units)
    _, grad_x, _, _ = _scores_and_grads(model, x, classes, score, None)
    return np.abs(grad_x).max(axis=-1) if absolute else grad_x[..., 0]


def grad_cam(model: keras.Model, x: Any, class_index: Any = None, *, layer_name: str | None = None,
             upsample: bool = True) -> np.ndarray:
    """Selvaraju et al.'s Grad-CAM: where, in a convolutional layer's feature maps, the evidence for a class lies.

    With ``A^k`` the k-th feature map of the layer and ``y^c`` the class logit, each map gets the weight
    ``α_k = mean over positions of ∂y^c/∂A^k`` and the map is ``ReLU(Σ_k α_k A^k)``: non-negative, zero where no
    feature votes for the class. Its resolution is the layer's (3 × 3 for ``seed_cnn``'s ``conv_3``); with
    ``upsample`` it is resized bilinearly to the input's height and width.

    Args:
        model: a trained classifier ending in a ``Dense`` layer, with at least one ``Conv2D`` layer.
        x: a batch of images, shaped like the model's input.
        class_index: ``None`` for each image's predicted class, one integer for all, or N integers.
        layer_name: the ``Conv2D`` layer to explain; ``None`` for the last one (the paper's choice).
        upsample: resize the maps to the input's size.

    Returns:
        The maps, shape ``(N, height, width)`` (the input's with ``upsample``, else the layer's), float32, >= 0.

    Example:
        >>> from gradbook.models import seed_cnn
        >>> grad_cam(seed_cnn(), np.zeros((2, 28, 28, 1)), layer_name="conv_2", upsample=False).shape
        (2, 11, 11)
    """
    model, x = _check_classifier(model, x)
    layer = _conv_layer(model, layer_name)
    upsample = flag("upsample", upsample)
    classes = _check_classes(class_index, len(x), model.layers[-1].units)
    _, _, maps, grad_maps = _scores_and_grads(model, x, classes, "logit", layer)
    weights = tf.reduce_mean(grad_maps, axis=(1, 2), keepdims=True)   # α_k: one weight per feature map
    cam = tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1))           # (N, h, w)
    if upsample:
        cam = tf.image.resize(cam[..., None], x.shape[1:3], method="bilinear")[..., 0]
        cam = tf.nn.relu(cam)  # bilinear weights are >= 0; this only removes rounding below zero
    return cam.numpy().astype(np.float32)


def predicted_classes(model: keras.Model, x: Any) -> np.ndarray:
    """The class each image is assigned (the arg-max of the model's output), as int64.

    Example:
        >>> from gradbook.models import seed_cnn
        >>> predicted_classes(seed_cnn(), np.zeros((3, 28, 28, 1))).shape
        (3,)
    """
    model, x = _check_classifier(model, x)
    return np.asarray(model(x, training=False)).argmax(axis=1).astype(np.int64)


def randomize_layers(model: keras.Model, layer_names: Sequence[str], *, seed: int = 0) -> keras.Model:
    """A copy of ``model`` whose named layers get fresh random weights (the others keep theirs).

    Each re-drawn kernel is Glorot-uniform, Keras' default and ``seed_cnn``'s, seeded with ``seed`` + its position in
    ``layer_names``; its bias is set to zero. Randomising the layers from the output down, one more at a time, is the
    *cascading randomisation* of Adebayo et al. (2018). ``model`` itself is not changed.

    Example:
        >>> from gradbook.models import seed_cnn
        >>> model = seed_cnn()
        >>> copy = randomize_layers(model, ["output"], seed=1)
        >>> bool(np.all(copy.get_layer("conv_1").kernel.numpy() == model.get_layer("conv_1").kernel.numpy()))
        True
    """
    model = check_model(model, graph=True)
    seed = resolve_seed(seed)
    with_kernel = [layer.name for layer in model.layers if getattr(layer, "kernel", None) is not None]
    allowed = f"a non-empty list of names from {with_kernel}"
    if isinstance(layer_names, str) or not isinstance(layer_names, Sequence):
        raise type_error("layer_names", allowed, layer_names)
    if not layer_names:
        raise ValueError(f"layer_names must be {allowed}; got {layer_names!r}")
    for name in layer_names:
        one_of("layer_names[...]", name, with_kernel)
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for k, name in enumerate(layer_names):
        layer = copy.get_layer(name)
        layer.kernel.assign(keras.initializers.GlorotUniform(seed=seed + k)(tuple(layer.kernel.shape)))
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(np.zeros(tuple(layer.bias.shape), dtype=np.float32))
    return copy


def rank_correlation(a: Any, b: Any) -> np.ndarray:
    """Spearman's rank correlation between maps ``a[i]`` and ``b[i]``, one value per pair (ties share their rank).

    1 means the two maps order the pixels identically, 0 unrelated orders; a constant map (all zero, as Grad-CAM
    gives when no feature votes for the class) has no order, and its pair gets ``nan``.

    Example:
        >>> rank_correlation(np.array([[1.0, 2.0, 3.0]]), np.array([[10.0, 20.0, 40.0]]))
        array([1.])
    """
    a, b = numeric("a", a).astype(np.float64), numeric("b", b).astype(np.float64)
    if a.shape != b.shape or a.ndim < 2 or len(a) == 0:
        raise ValueError(f"a and b must be batches of maps with the same shape (N, ...); got {a.shape} and {b.shape}")
    ranks = [np.array(pd.DataFrame(m.reshape(len(m), -1)).rank(axis=1), dtype=np.float64) for m in (a, b)]
    ra, rb = (r - r.mean(axis=1, keepdims=True) for r in ranks)
    denominator = np.sqrt((ra ** 2).sum(axis=1) * (rb ** 2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (ra * rb).sum(axis=1) / np.where(denominator > 0, denominator, 1.0), np.nan)
