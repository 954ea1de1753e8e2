"""The book's networks: deep MLPs for the gradient experiments, the article's CNN (and the same CNN trained),
recurrent layers, and a table of any model's layers.

Every builder returns an *uncompiled* Keras model with named layers, so that the same model can be measured at
initialisation (``gradbook.gradients``) and compiled and trained as the chapter needs; ``trained_seed_cnn``, which
trains, returns its model compiled. ``ACTIVATIONS`` and ``INITIALIZERS`` are the names ``gradbook.theory`` predicts.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import keras
import numpy as np
import pandas as pd
from keras import layers

from gradbook._catalog import ACTIVATIONS, INITIALIZERS, initializer_spec
from gradbook._keras import check_model
from gradbook._validate import flag, instance, integer, integers, number, one_of
from gradbook.data import load_mnist, resolve_source, to_float
from gradbook.repro import resolve_seed, set_seed

CELLS = ("simple_rnn", "lstm", "gru")
_WEIGHTS: dict[tuple, list[np.ndarray]] = {}


def make_initializer(initializer: str | float | keras.initializers.Initializer, seed: int | None = None,
                     weight_std: float | None = None) -> keras.initializers.Initializer:
    """A Keras initializer from a name in ``INITIALIZERS``, a float (the std of a zero-mean normal) or an instance.

    ``"normal"`` needs ``weight_std``; the other names are Keras' own initializers, seeded with ``seed``.

    Example:
        >>> make_initializer(0.3).stddev
        0.3
    """
    if seed is not None:
        integer("seed", seed, minimum=0)
    if isinstance(initializer, keras.initializers.Initializer):
        return initializer
    name, std = initializer_spec(initializer, weight_std)
    if std is not None:
        return keras.initializers.RandomNormal(0.0, std, seed=seed)
    return keras.initializers.get({"class_name": name, "config": {"seed": seed}})


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
    depth = integer("depth", depth)
    width = integer("width", width)
    input_dim = integer("input_dim", input_dim)
    num_classes = integer("num_classes", num_classes)
    one_of("activation", activation, ACTIVATIONS)
    batch_norm, residual = flag("batch_norm", batch_norm), flag("residual", residual)
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
    extra_conv = integer("extra_conv", extra_conv, minimum=0)
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


def _stages(units: int) -> list[int]:
    """How many convs (or residual blocks) each stage gets: ``units`` spread over ``min(3, units)`` stages as evenly
    as possible, the extra ones going to the later (smaller, cheaper) stages."""
    count = min(3, units)
    return [units // count + (1 if s >= count - units % count else 0) for s in range(count)]


def conv_net(depth: int, *, residual: bool = False, batch_norm: bool = False, width: int = 16,
             initializer: str | float | keras.initializers.Initializer = "he_normal", seed: int | None = None,
             name: str | None = None) -> keras.Model:
    """A plain or residual ReLU CNN for 28×28×1 images with 10 logits: a stem conv, ``depth`` 3×3 convs in stages
    that halve the resolution, global average pooling and a dense head; uncompiled.

    ``depth`` counts the 3×3 convs after the stem; the stem, the 1×1 shortcuts and the dense head are not counted.
    The convs are spread over ``min(3, depth)`` stages (``min(3, depth // 2)`` with ``residual``) as evenly as
    possible, the extra ones in the later stages; stage ``s`` (from 1) has ``width · 2^(s−1)`` channels, and the first
    conv of every stage after the first has stride 2 (28×28 → 14×14 → 7×7). Every conv is 3×3 with ``"same"``
    padding and is followed by ReLU; all kernels, the head's included, are drawn from ``initializer`` (He's by
    default: fan-in ``3·3·C_in``).

    Layers, in order (``k`` numbers the 3×3 convs from 1 to ``depth``, the same in a plain and a residual network):

    - ``stem`` (3×3, ``width`` channels) → ``stem_bn`` → ``stem_act``;
    - plain: ``conv_k`` → ``bn_k`` → ``act_k`` for every ``k``;
    - ``residual=True``: block ``b`` holds ``conv_{2b−1}`` and ``conv_{2b}`` (He et al. 2016's basic block):
      ``conv_{2b−1}`` → ``bn_{2b−1}`` → ``act_{2b−1}`` → ``conv_{2b}`` → ``bn_{2b}``, plus the shortcut, then
      ``add_b`` → ``act_{2b}``. The shortcut is the identity, except in the first block of a stage after the first,
      where the shape changes: there it is a 1×1 convolution with stride 2, ``proj_b`` (→ ``proj_bn_b``);
    - ``pool`` (global average) → ``logits`` (10 units, linear: pair it with a loss ``from_logits=True``).

    The ``bn_*`` layers (BatchNormalization, after the conv and before the ReLU) exist only with ``batch_norm=True``;
    a conv followed by BN has no bias (BN's shift β replaces it). BN's moving averages use ``momentum=0.9`` (PyTorch's
    default, and He et al.'s) instead of Keras' 0.99, which needs thousands of steps to forget its initial statistics. Without BN the last conv of every residual branch,
    ``conv_{2b}``, starts at zero, as ``deep_mlp``'s branches do: each block then starts as the identity (or as its
    projection), where a branch at He's scale would double the signal's variance at every block. With BN every conv
    is drawn from ``initializer`` and BN sets each branch's scale, as in He et al.

    Args:
        depth: the number of 3×3 convs after the stem, >= 1; with ``residual``, an even number >= 2 (two per block).
        residual: group the convs into residual blocks.
        batch_norm: BatchNormalization after every conv, before its ReLU.
        width: the channels of the stem and of the first stage, >= 1 (doubled at each later stage).
        initializer: one of ``INITIALIZERS``, a float (std of N(0, std²)), or a Keras initializer.
        seed: seed of the initializers (each layer gets ``seed`` plus its own offset); ``None`` draws fresh weights.
        name: the model's name (default ``conv_{depth}``, with ``_res`` and ``_bn`` as they apply).

    Example:
        >>> model = conv_net(4, residual=True, width=4, seed=0)
        >>> model.output_shape, model.count_params(), [l.name for l in model.layers if l.name.startswith("proj")]
        ((None, 10), 1346, ['proj_2'])
    """
    depth = integer("depth", depth)
    residual, batch_norm = flag("residual", residual), flag("batch_norm", batch_norm)
    if residual and depth % 2:
        raise ValueError(f"depth must be an even integer >= 2 when residual=True (two 3×3 convs per block); got {depth}")
    width = integer("width", width)
    make_initializer(initializer, seed)  # validate once, before building anything
    if name is not None:
        instance("name", name, str, "a string")
    seed = resolve_seed(seed)

    def conv(h: Any, channels: int, label: str, offset: int, *, stride: int = 1, size: int = 3,
             zero: bool = False) -> Any:
        init = "zeros" if zero else make_initializer(initializer, None if seed is None else seed + offset)
        return layers.Conv2D(channels, size, strides=stride, padding="same", use_bias=not batch_norm,
                             kernel_initializer=init, name=label)(h)

    def norm(h: Any, label: str) -> Any:
        return layers.BatchNormalization(momentum=0.9, name=label)(h) if batch_norm else h

    inputs = keras.Input((28, 28, 1), name="image")
    h = layers.Activation("relu", name="stem_act")(norm(conv(inputs, width, "stem", 0), "stem_bn"))
    k = 0
    for s, units in enumerate(_stages(depth // 2 if residual else depth)):
        channels = width * 2 ** s
        for u in range(units):
            stride = 2 if s > 0 and u == 0 else 1
            if not residual:
                k += 1
                h = conv(h, channels, f"conv_{k}", k, stride=stride)
                h = layers.Activation("relu", name=f"act_{k}")(norm(h, f"bn_{k}"))
                continue
            b = k // 2 + 1
            branch = conv(h, channels, f"conv_{k + 1}", k + 1, stride=stride)
            branch = layers.Activation("relu", name=f"act_{k + 1}")(norm(branch, f"bn_{k + 1}"))
            branch = norm(conv(branch, channels, f"conv_{k + 2}", k + 2, zero=not batch_norm), f"bn_{k + 2}")
            shortcut = h
            if stride != 1 or h.shape[-1] != channels:
                shortcut = norm(conv(h, channels, f"proj_{b}", 1000 + b, stride=stride, size=1), f"proj_bn_{b}")
            h = layers.Activation("relu", name=f"act_{k + 2}")(layers.Add(name=f"add_{b}")([shortcut, branch]))
            k += 2
    h = layers.GlobalAveragePooling2D(name="pool")(h)
    outputs = layers.Dense(10, kernel_initializer=make_initializer(
        initializer, None if seed is None else seed + depth + 1), name="logits")(h)
    default = f"conv_{depth}" + ("_res" if residual else "") + ("_bn" if batch_norm else "")
    return keras.Model(inputs, outputs, name=name or default)


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
    model = check_model(model)
    scale = number("scale", scale, minimum=0)
    seed = resolve_seed(seed)
    make_initializer(initializer, seed)  # validate before changing anything
    branches = [layer for layer in model.layers if layer.name.startswith("dense_") and layer.name.endswith("_out")]
    if not branches:
        raise ValueError(f"model must have a residual branch (a 'dense_k_out' layer: deep_mlp(..., residual=True) with "
                         f"depth >= 2); got {model.name!r}, which has none")
    for layer in branches:
        k = int(layer.name.split("_")[1])
        draw = make_initializer(initializer, None if seed is None else seed + 1000 + k)
        layer.kernel.assign(draw(tuple(layer.kernel.shape)) * scale)
    return model


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def layer_table(model: keras.Model) -> pd.DataFrame:
    """One row per layer: type, output shape, parameters, and for image models the receptive field.

    The receptive field ``rf`` is the side of the input patch one output unit can see, and ``jump`` the distance in
    input pixels between neighbouring output units. For a convolution or pooling layer with kernel ``k`` and stride
    ``s`` they grow as ``rf ← rf + (k − 1)·jump`` and ``jump ← jump·s`` (``"valid"`` padding or ``"same"`` alike);
    after ``Flatten`` every unit sees the whole image.

    Example:
        >>> int(layer_table(seed_cnn()).loc["conv_3", "rf"])
        18
    """
    model = check_model(model, graph=True)
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


def _compiled_seed_cnn(seed: int) -> keras.Sequential:
    model = seed_cnn(seed=seed)
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def trained_seed_cnn(digits: Iterable[int] | None = None, *, epochs: int = 3, seed: int = 0,
                     source: str | None = None, batch_size: int = 64) -> keras.Sequential:
    """``seed_cnn`` trained the article's way on the MNIST training images; returned **compiled** (RMSprop,
    categorical cross-entropy, accuracy), ready to evaluate or to train further.

    Calls ``gradbook.repro.set_seed(seed)`` first (the weights and the batch order follow from it), then
    ``model.fit(images, one_hot_labels, epochs=epochs, batch_size=batch_size)`` on ``gradbook.data.load_mnist``'s
    images. The network keeps its 10 outputs and the labels their digit values even when ``digits`` restricts the
    training images. The weights are kept in memory: a second call with the same arguments returns a fresh copy in a
    fraction of a second instead of training again.

    Args:
        digits: train only on images of these digits (e.g. ``range(5)``); ``None`` for all ten.
        epochs: passes over the training images, >= 1 (the article uses 5; 3 suffices on the offline subset).
        seed: seed of the initial weights and of the batch order, >= 0.
        source: ``load_mnist``'s source (``None``: ``$GRADBOOK_MNIST``, else the subset).
        batch_size: images per step, >= 1.

    Returns:
        The trained, compiled model (a fresh copy with the kept weights when the same arguments were trained before).

    Example:
        >>> model = trained_seed_cnn(digits=[0, 1], epochs=1)
        >>> model.count_params(), model.layers[-1].units, model.loss
        (93322, 10, 'categorical_crossentropy')
    """
    epochs = integer("epochs", epochs)
    seed = integer("seed", seed, minimum=0)
    batch_size = integer("batch_size", batch_size)
    source = resolve_source(source)
    if digits is not None:
        digits = tuple(sorted(set(integers("digits", digits, minimum=0, maximum=9))))
    key = (digits, epochs, resolve_seed(seed), source, batch_size)
    if key in _WEIGHTS:
        model = _compiled_seed_cnn(seed)
        model.set_weights(_WEIGHTS[key])
        return model

    (x, y), _ = load_mnist(source, verbose=False)
    if digits is not None:
        keep = np.isin(y, digits)
        x, y = x[keep], y[keep]
    set_seed(seed)
    model = _compiled_seed_cnn(seed)
    model.fit(to_float(x, channels=True), keras.utils.to_categorical(y, 10), epochs=epochs, batch_size=batch_size,
              verbose=0)
    _WEIGHTS[key] = model.get_weights()
    return model


def recurrent_layer(cell: str, units: int = 64, *, forget_bias: float = 1.0, seed: int = 0,
                    dtype: str = "float32") -> keras.layers.Layer:
    """A Keras ``SimpleRNN``, ``LSTM`` or ``GRU`` layer (``cell``: one of ``CELLS``) with Keras' default initialisers,
    seeded; unbuilt. ``forget_bias`` is the LSTM forget gate's bias that ``gradbook.gradients.gradient_through_time``
    sets once the layer is built (Keras' default, ``unit_forget_bias=True``, is 1).

    Example:
        >>> recurrent_layer("lstm", 4, forget_bias=3.0).__class__.__name__
        'LSTM'
    """
    one_of("cell", cell, CELLS)
    units = integer("units", units)
    number("forget_bias", forget_bias)
    seed = resolve_seed(integer("seed", seed, minimum=0))
    one_of("dtype", dtype, ("float32", "float64"))
    inits = {"kernel_initializer": keras.initializers.GlorotUniform(seed=seed),
             "recurrent_initializer": keras.initializers.Orthogonal(seed=seed + 1)}
    if cell == "simple_rnn":
        return keras.layers.SimpleRNN(units, dtype=dtype, **inits)
    if cell == "gru":
        return keras.layers.GRU(units, dtype=dtype, **inits)
    return keras.layers.LSTM(units, dtype=dtype, **inits)
