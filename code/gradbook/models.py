"""Model builders used across the book: deep MLPs for the gradient experiments, and the article's CNN.

Every builder returns an *uncompiled* Keras model with named layers, so that the same model can be measured at
initialisation (``gradbook.gradients``) and compiled and trained as the chapter needs.
"""
from __future__ import annotations

from typing import Any

import keras
from keras import layers

from gradbook._checks import one_of, positive_float, positive_int
from gradbook.repro import resolve_seed

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "selu", "linear")
INITIALIZERS = ("glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "lecun_normal", "orthogonal", "normal")


def make_initializer(initializer: str | float | keras.initializers.Initializer, seed: int | None = None,
                     weight_std: float | None = None) -> keras.initializers.Initializer:
    """A Keras initializer from a name in ``INITIALIZERS``, a float (the std of a zero-mean normal) or an instance.

    ``"normal"`` needs ``weight_std``; the other names are Keras' own initializers, seeded with ``seed``.

    Example:
        >>> make_initializer(0.3).stddev
        0.3
    """
    if isinstance(initializer, keras.initializers.Initializer):
        return initializer
    if isinstance(initializer, (int, float)) and not isinstance(initializer, bool):
        return keras.initializers.RandomNormal(0.0, positive_float("initializer", initializer), seed=seed)
    one_of("initializer", initializer, INITIALIZERS)
    if initializer == "normal":
        if weight_std is None:
            raise ValueError("weight_std must be given (a finite number > 0) when initializer='normal'")
        return keras.initializers.RandomNormal(0.0, positive_float("weight_std", weight_std), seed=seed)
    return keras.initializers.get({"class_name": initializer, "config": {"seed": seed}})


def deep_mlp(
    depth: int,
    width: int = 256,
    activation: str = "sigmoid",
    initializer: str | float | keras.initializers.Initializer = "glorot_uniform",
    *,
    weight_std: float | None = None,
    batch_norm: bool = False,
    residual: bool = False,
    input_dim: int = 784,
    num_classes: int = 10,
    seed: int | None = 0,
    name: str | None = None,
) -> keras.Model:
    """A deep fully-connected network: ``depth`` hidden layers of ``width`` units, then ``num_classes`` logits.

    Hidden layers are named ``dense_1`` (next to the input) to ``dense_{depth}``; the output layer is ``logits``
    (linear: pair it with a loss ``from_logits=True``). With ``batch_norm=True`` each hidden layer is
    Dense → BatchNormalization → activation. With ``residual=True`` the first hidden layer projects the input to
    ``width`` and every further layer is a residual block ``h + Dense_out(φ(Dense_in(h)))`` whose ``Dense_out``
    (named ``dense_k_out``) starts at zero, so that each block is the identity at initialisation.

    Args:
        depth: number of hidden layers (or, with ``residual``, 1 + number of residual blocks), >= 1.
        width: units per hidden layer, >= 1.
        activation: one of ``ACTIVATIONS``.
        initializer: one of ``INITIALIZERS``, a float (std of N(0, std²)), or a Keras initializer.
        weight_std: the std for ``initializer="normal"``.
        batch_norm, residual: see above.
        input_dim, num_classes: sizes of the input vector and of the output.
        seed: seed of the initializers (each layer gets ``seed + its index``); ``None`` draws fresh weights.
        name: the model's name (default ``mlp_{depth}_{activation}``).

    Example:
        >>> model = deep_mlp(20, activation="sigmoid")
        >>> model.layers[1].name, model.layers[-1].name
        ('dense_1', 'logits')
    """
    depth = positive_int("depth", depth)
    width = positive_int("width", width)
    input_dim = positive_int("input_dim", input_dim)
    num_classes = positive_int("num_classes", num_classes)
    one_of("activation", activation, ACTIVATIONS)
    for flag, value in (("batch_norm", batch_norm), ("residual", residual)):
        if not isinstance(value, bool):
            raise ValueError(f"{flag} must be True or False; got {value!r}")
    if seed is not None:
        seed = positive_int("seed", seed, minimum=0)
    make_initializer(initializer, seed, weight_std)  # validate once, before building anything

    seed = resolve_seed(seed)

    def init(k: int) -> keras.initializers.Initializer:
        return make_initializer(initializer, None if seed is None else seed + k, weight_std)

    def act(h: Any, label: str) -> Any:
        return layers.Activation(activation, name=label)(h)

    inputs = keras.Input((input_dim,), name="pixels")
    h = inputs
    for k in range(1, depth + 1):
        if residual and k > 1:
            branch = layers.Dense(width, kernel_initializer=init(k), name=f"dense_{k}")(h)
            if batch_norm:
                branch = layers.BatchNormalization(name=f"bn_{k}")(branch)
            branch = act(branch, f"act_{k}")
            branch = layers.Dense(width, kernel_initializer="zeros", name=f"dense_{k}_out")(branch)
            h = layers.Add(name=f"add_{k}")([h, branch])
            continue
        h = layers.Dense(width, kernel_initializer=init(k), name=f"dense_{k}")(h)
        if batch_norm:
            h = layers.BatchNormalization(name=f"bn_{k}")(h)
        h = act(h, f"act_{k}")
    outputs = layers.Dense(num_classes, kernel_initializer=init(depth + 1), name="logits")(h)
    return keras.Model(inputs, outputs, name=name or f"mlp_{depth}_{activation}")


def seed_cnn(activation: str = "relu", *, extra_conv: int = 0, seed: int | None = 0,
             name: str = "seed_cnn") -> keras.Sequential:
    """The article's MNIST CNN, layer for layer (93 322 parameters), uncompiled.

    ``Input((28, 28, 1))`` → Conv2D 32 3×3 → MaxPool 2 → Conv2D 64 3×3 → MaxPool 2 → Conv2D 64 3×3 → Flatten →
    Dense 64 → Dense 10 softmax, with Keras' default initialisers (Glorot-uniform kernels, zero biases). The article
    compiles it with ``optimizer="rmsprop"``, ``loss="categorical_crossentropy"`` and trains it with batches of 64.
    Its output is a probability (softmax), not logits.

    Args:
        activation: the hidden layers' activation, one of ``ACTIVATIONS`` (the article's is ``"relu"``).
        extra_conv: a deeper variant: this many more Conv2D(64, 3×3, ``"same"`` padding) layers after ``conv_3``,
            named ``conv_extra_1``…; 0 (the default) is the article's network.
        seed: seed of the initializers (each layer gets ``seed + its index``); ``None`` draws fresh weights.
        name: the model's name.

    Example:
        >>> model = seed_cnn()
        >>> [layer.name for layer in model.layers][:3], model.count_params()
        (['conv_1', 'pool_1', 'conv_2'], 93322)
    """
    one_of("activation", activation, ACTIVATIONS)
    extra_conv = positive_int("extra_conv", extra_conv, minimum=0)
    seed = resolve_seed(seed)

    def init(k: int) -> keras.initializers.Initializer:
        return keras.initializers.GlorotUniform(seed=None if seed is None else seed + k)

    extra = [layers.Conv2D(64, (3, 3), padding="same", activation=activation, kernel_initializer=init(100 + k),
                           name=f"conv_extra_{k}") for k in range(1, extra_conv + 1)]
    return keras.Sequential([
        keras.Input((28, 28, 1), name="image"),
        layers.Conv2D(32, (3, 3), activation=activation, kernel_initializer=init(1), name="conv_1"),
        layers.MaxPooling2D((2, 2), name="pool_1"),
        layers.Conv2D(64, (3, 3), activation=activation, kernel_initializer=init(2), name="conv_2"),
        layers.MaxPooling2D((2, 2), name="pool_2"),
        layers.Conv2D(64, (3, 3), activation=activation, kernel_initializer=init(3), name="conv_3"),
        *extra,
        layers.Flatten(name="flatten"),
        layers.Dense(64, activation=activation, kernel_initializer=init(4), name="dense_1"),
        layers.Dense(10, activation="softmax", kernel_initializer=init(5), name="output"),
    ], name=name)


def init_residual_branches(model: keras.Model, initializer: str | float | keras.initializers.Initializer = "he_normal",
                           *, scale: float = 1.0, seed: int | None = 0) -> keras.Model:
    """Re-draw the last layer of every residual branch of a ``deep_mlp(..., residual=True)`` (``dense_k_out``,
    zero at construction) from ``initializer``, multiplied by ``scale``; returns the same model, changed in place.

    ``deep_mlp`` starts each branch at zero, so that each block is the identity; this function undoes that, for
    experiments that ask what the zero initialisation buys (``scale=1``) or try a small one instead (``scale < 1``).

    Args:
        model: a model built by ``deep_mlp(..., residual=True)`` with at least one residual block.
        initializer: one of ``INITIALIZERS``, a float (std of N(0, std²)), or a Keras initializer.
        scale: factor applied to the drawn weights, >= 0 (0 restores the zero initialisation).
        seed: seed of the draws (block ``k`` uses ``seed + 1000 + k``); ``None`` draws fresh weights.

    Example:
        >>> model = init_residual_branches(deep_mlp(3, 8, "relu", residual=True), scale=0.5)
        >>> bool(abs(model.get_layer("dense_2_out").kernel.numpy()).max() > 0)
        True
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a keras.Model; got {type(model).__name__}")
    scale = positive_float("scale", scale, allow_zero=True)
    seed = resolve_seed(seed)
    make_initializer(initializer, seed)  # validate before changing anything
    branches = [layer for layer in model.layers if layer.name.startswith("dense_") and layer.name.endswith("_out")]
    if not branches:
        raise ValueError(f"model {model.name!r} has no residual branch (a 'dense_k_out' layer): build it with "
                         "deep_mlp(..., residual=True) and depth >= 2")
    for layer in branches:
        k = int(layer.name.split("_")[1])
        draw = make_initializer(initializer, None if seed is None else seed + 1000 + k)
        layer.kernel.assign(draw(tuple(layer.kernel.shape)) * scale)
    return model
