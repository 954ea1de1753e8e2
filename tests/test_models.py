"""gradbook.models: the book's networks (deep_mlp, conv_net, seed_cnn, trained_seed_cnn, recurrent_layer) and
layer_table."""
import keras
import numpy as np
import pytest

import gradbook.models as models
from gradbook.models import (conv_net, deep_mlp, init_residual_branches, layer_table, make_initializer,
                             recurrent_layer, seed_cnn, trained_seed_cnn)

# --- deep_mlp ------------------------------------------------------------------------------------------------------


def test_deep_mlp_names_and_shapes():
    model = deep_mlp(4, width=16, activation="tanh")
    assert [l.name for l in model.layers if getattr(l, "kernel", None) is not None] == [
        "dense_1", "dense_2", "dense_3", "dense_4", "logits"]
    assert model.output_shape == (None, 10) and model.input_shape == (None, 784)
    assert model.get_layer("act_1").activation.__name__ == "tanh"
    assert not model.compiled


def test_deep_mlp_is_seeded():
    a, b = deep_mlp(2, 8, seed=3), deep_mlp(2, 8, seed=3)
    assert np.array_equal(a.get_layer("dense_2").kernel.numpy(), b.get_layer("dense_2").kernel.numpy())
    assert not np.array_equal(a.get_layer("dense_1").kernel.numpy(), a.get_layer("dense_2").kernel.numpy())


def test_deep_mlp_normal_initializer_has_the_asked_std():
    w = deep_mlp(1, 512, initializer=0.3, input_dim=512).get_layer("dense_1").kernel.numpy()
    assert abs(w.std() - 0.3) < 0.01
    same = make_initializer("normal", seed=1, weight_std=0.3)((512, 512))
    assert np.array_equal(np.asarray(same), np.asarray(make_initializer(0.3, seed=1)((512, 512))))


def test_deep_mlp_residual_blocks_start_as_identity():
    model = deep_mlp(3, 8, activation="relu", initializer="he_normal", residual=True, batch_norm=True)
    assert np.all(model.get_layer("dense_2_out").kernel.numpy() == 0)
    x = np.random.default_rng(0).normal(size=(4, 784)).astype("float32")
    stem = keras.Model(model.input, model.get_layer("act_1").output)(x)
    last = keras.Model(model.input, model.get_layer("add_3").output)(x)
    assert np.allclose(stem, last)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"depth": 0}, ValueError, "depth must be an integer >= 1"),
    ({"depth": 2, "activation": "swish"}, ValueError, "activation must be one of"),
    ({"depth": 2, "initializer": "xavier"}, ValueError, "initializer must be one of"),
    ({"depth": 2, "initializer": "normal"}, ValueError, "weight_std must be given"),
    ({"depth": 2, "initializer": -0.1}, ValueError, "initializer must be a finite number > 0"),
    ({"depth": 2, "initializer": None}, TypeError, "initializer must be one of"),
    ({"depth": 2, "width": 2.5}, TypeError, "width must be an integer"),
    ({"depth": 2, "batch_norm": "yes"}, TypeError, "batch_norm must be True or False"),
    ({"depth": 2, "seed": -1}, ValueError, "seed must be an integer >= 0"),
])
def test_deep_mlp_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        deep_mlp(**kwargs)


# --- init_residual_branches ---------------------------------------------------------------------------------------

def test_branches_are_redrawn_scaled_and_reproducible():
    a = init_residual_branches(deep_mlp(4, 16, "relu", residual=True, seed=0), scale=0.5, seed=1)
    b = init_residual_branches(deep_mlp(4, 16, "relu", residual=True, seed=0), scale=1.0, seed=1)
    wa, wb = a.get_layer("dense_3_out").kernel.numpy(), b.get_layer("dense_3_out").kernel.numpy()
    assert np.abs(wb).max() > 0 and np.allclose(wa, 0.5 * wb)
    assert not np.allclose(wb, b.get_layer("dense_2_out").kernel.numpy())
    assert np.all(init_residual_branches(a, scale=0.0).get_layer("dense_2_out").kernel.numpy() == 0)


def test_full_scale_branches_blow_up_the_forward_signal():
    x = np.random.default_rng(0).normal(size=(32, 784)).astype("float32")
    zero = deep_mlp(21, 32, "relu", "he_normal", residual=True, seed=0)
    full = init_residual_branches(deep_mlp(21, 32, "relu", "he_normal", residual=True, seed=0))
    assert np.std(full(x)) > 100 * np.std(zero(x))


def test_init_residual_branches_rejects_bad_arguments():
    with pytest.raises(ValueError, match="model must have a residual branch"):
        init_residual_branches(deep_mlp(3, 4))
    with pytest.raises(ValueError, match="scale must be a finite number >= 0"):
        init_residual_branches(deep_mlp(3, 4, residual=True), scale=-1.0)
    with pytest.raises(ValueError, match="initializer must be one of"):
        init_residual_branches(deep_mlp(3, 4, residual=True), "xavier")
    with pytest.raises(TypeError, match="model must be a keras.Model"):
        init_residual_branches("model")


# --- conv_net ------------------------------------------------------------------------------------------------------

def _kernels(model):
    return {l.name: l for l in model.layers if getattr(l, "kernel", None) is not None}


def test_conv_net_plain_shapes_names_and_parameters_by_hand():
    model = conv_net(2, width=4, seed=0)
    # stem 3·3·1·4 + 4 = 40; conv_1 (stage 1, 4 → 4) 3·3·4·4 + 4 = 148; conv_2 (stage 2, 4 → 8, stride 2)
    # 3·3·4·8 + 8 = 296; logits 8·10 + 10 = 90
    assert [l.name for l in model.layers] == ["image", "stem", "stem_act", "conv_1", "act_1", "conv_2", "act_2",
                                              "pool", "logits"]
    assert [l.count_params() for l in model.layers if l.count_params()] == [40, 148, 296, 90]
    assert model.count_params() == 574
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    assert model.get_layer("conv_2").output.shape[1:] == (14, 14, 8) and model.get_layer("conv_2").strides == (2, 2)
    assert model.get_layer("logits").activation.__name__ == "linear" and not model.compiled


def test_conv_net_stages_halve_the_resolution_and_double_the_width():
    model = conv_net(8, width=8, seed=0)  # 8 convs over 3 stages: 2, 3, 3 (the extra ones in the later stages)
    shapes = {name: tuple(layer.output.shape[1:]) for name, layer in _kernels(model).items()}
    assert [shapes[f"conv_{k}"] for k in range(1, 9)] == [(28, 28, 8)] * 2 + [(14, 14, 16)] * 3 + [(7, 7, 32)] * 3
    assert [k for k in range(1, 9) if model.get_layer(f"conv_{k}").strides == (2, 2)] == [3, 6]
    assert all(model.get_layer(f"conv_{k}").kernel_size == (3, 3) for k in range(1, 9))
    assert model.get_layer("stem").kernel_size == (3, 3) and shapes["stem"] == (28, 28, 8)
    assert [tuple(conv_net(d, width=2).get_layer(f"conv_{d}").output.shape[1:]) for d in (1, 2, 3)] == [
        (28, 28, 2), (14, 14, 4), (7, 7, 8)]


def test_conv_net_residual_parameters_by_hand_and_projections_where_the_shape_changes():
    model = conv_net(4, residual=True, width=4, seed=0)
    # block 1 (stage 1): conv_1, conv_2 4 → 4: 148 each, identity shortcut; block 2 (stage 2, stride 2): conv_3
    # 4 → 8: 296, conv_4 8 → 8: 3·3·8·8 + 8 = 584, proj_2 1·1·4·8 + 8 = 40; stem 40; logits 8·10 + 10 = 90
    assert model.count_params() == 40 + 148 + 148 + 296 + 584 + 40 + 90 == 1346
    assert model.get_layer("proj_2").kernel_size == (1, 1) and model.get_layer("proj_2").strides == (2, 2)
    deep = conv_net(12, residual=True, width=4, seed=0)  # 6 blocks over 3 stages, 2 each: projections in 3 and 5
    assert sorted(n for n in _kernels(deep) if n.startswith("proj")) == ["proj_3", "proj_5"]
    for b in range(1, 7):
        add = deep.get_layer(f"add_{b}")
        inputs = [t.shape[1:] for t in add.input]
        changes = tuple(deep.get_layer(f"conv_{2 * b - 1}").input.shape[1:]) != tuple(inputs[0])
        assert (f"proj_{b}" in _kernels(deep)) == changes, b
    # the add sums the shortcut and the branch's second conv; act_{2b} follows the add
    assert deep.get_layer("act_4").input is deep.get_layer("add_2").output
    assert [t.shape[1:] for t in deep.get_layer("add_3").input] == [(14, 14, 8), (14, 14, 8)]


def test_conv_net_layer_names_are_stable_and_shared_by_plain_and_residual_networks():
    plain, res = conv_net(6, width=4), conv_net(6, residual=True, width=4)
    convs = ["stem"] + [f"conv_{k}" for k in range(1, 7)]
    assert [n for n in _kernels(plain)] == convs + ["logits"]
    assert [n for n in _kernels(res) if not n.startswith("proj")] == convs + ["logits"]
    assert [l.name for l in res.layers if isinstance(l, keras.layers.Add)] == ["add_1", "add_2", "add_3"]
    assert conv_net(6, width=4).name == "conv_6" and conv_net(6, residual=True, batch_norm=True).name == "conv_6_res_bn"
    assert conv_net(2, name="mine").name == "mine"


def test_conv_net_batch_norm_sits_between_each_conv_and_its_relu():
    model = conv_net(4, batch_norm=True, width=4, seed=0)
    for conv, bn, act in [("stem", "stem_bn", "stem_act")] + [(f"conv_{k}", f"bn_{k}", f"act_{k}") for k in (1, 2, 3, 4)]:
        assert model.get_layer(bn).input is model.get_layer(conv).output
        assert model.get_layer(act).input is model.get_layer(bn).output
        assert isinstance(model.get_layer(bn), keras.layers.BatchNormalization)
        assert not model.get_layer(conv).use_bias  # BN's β replaces the bias
    assert model.get_layer("bn_1").momentum == 0.9
    # 4 convs over 3 stages: 1, 1, 2. No biases; BN has 4 numbers per channel (γ, β, moving mean and variance):
    # stem 3·3·1·4 + 16, conv_1 3·3·4·4 + 16, conv_2 (4 → 8) 3·3·4·8 + 32, conv_3 (8 → 16) 3·3·8·16 + 64,
    # conv_4 (16 → 16) 3·3·16·16 + 64, logits 16·10 + 10
    assert model.count_params() == 36 + 16 + 144 + 16 + 288 + 32 + 1152 + 64 + 2304 + 64 + 170 == 4286
    assert not any(isinstance(l, keras.layers.BatchNormalization) for l in conv_net(4, width=4).layers)


def test_conv_net_residual_batch_norm_follows_he_et_al():
    model = conv_net(4, residual=True, batch_norm=True, width=4, seed=0)
    assert model.get_layer("add_2").input[0] is model.get_layer("proj_bn_2").output  # conv → BN on the projection
    assert model.get_layer("add_2").input[1] is model.get_layer("bn_4").output  # the branch ends in BN, no ReLU
    assert model.get_layer("act_4").input is model.get_layer("add_2").output  # ReLU after the addition
    assert model.get_layer("add_1").input[0] is model.get_layer("stem_act").output  # identity shortcut
    assert np.abs(model.get_layer("conv_4").kernel.numpy()).max() > 0  # with BN the branch is drawn, not zero


def test_conv_net_residual_blocks_without_bn_start_as_the_identity():
    model = conv_net(2, residual=True, width=4, seed=0)
    assert np.all(model.get_layer("conv_2").kernel.numpy() == 0)
    x = np.random.default_rng(0).uniform(size=(3, 28, 28, 1)).astype("float32")
    stem = keras.Model(model.input, model.get_layer("stem_act").output)(x)
    block = keras.Model(model.input, model.get_layer("act_2").output)(x)
    assert np.allclose(stem, block)


def test_conv_net_uses_he_initialisation_with_fan_in_k2_c_in_and_is_seeded():
    model = conv_net(3, width=32, seed=0)
    w = model.get_layer("conv_3").kernel.numpy()  # stage 3: 3·3·64 → 128, fan-in 576
    assert abs(w.std() * np.sqrt(3 * 3 * 64) - np.sqrt(2)) < 0.05
    assert np.array_equal(w, conv_net(3, width=32, seed=0).get_layer("conv_3").kernel.numpy())
    assert not np.array_equal(w, conv_net(3, width=32, seed=1).get_layer("conv_3").kernel.numpy())
    small = conv_net(1, width=32, initializer=0.01, seed=0).get_layer("conv_1").kernel.numpy()
    assert abs(small.std() - 0.01) < 0.001


@pytest.mark.parametrize("kwargs, error, match", [
    ({"depth": 0}, ValueError, "depth must be an integer >= 1; got 0"),
    ({"depth": 2.0}, TypeError, "depth must be an integer >= 1; got 2.0"),
    ({"depth": 5, "residual": True}, ValueError,
     r"depth must be an even integer >= 2 when residual=True \(two 3×3 convs per block\); got 5"),
    ({"depth": 4, "residual": 1}, TypeError, "residual must be True or False; got 1"),
    ({"depth": 4, "batch_norm": "yes"}, TypeError, "batch_norm must be True or False"),
    ({"depth": 4, "width": 0}, ValueError, "width must be an integer >= 1; got 0"),
    ({"depth": 4, "initializer": "xavier"}, ValueError, "initializer must be one of"),
    ({"depth": 4, "seed": -1}, ValueError, "seed must be an integer >= 0; got -1"),
    ({"depth": 4, "name": 3}, TypeError, "name must be a string; got 3"),
])
def test_conv_net_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        conv_net(**kwargs)


# --- seed_cnn ------------------------------------------------------------------------------------------------------

def test_seed_cnn_is_the_articles_model_layer_for_layer():
    model = seed_cnn()
    assert [type(l).__name__ for l in model.layers] == [
        "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D", "Flatten", "Dense", "Dense"]
    assert [tuple(l.output.shape[1:]) for l in model.layers] == [
        (26, 26, 32), (13, 13, 32), (11, 11, 64), (5, 5, 64), (3, 3, 64), (576,), (64,), (10,)]
    assert model.input_shape == (None, 28, 28, 1)
    assert model.count_params() == 93_322
    assert [l.activation.__name__ for l in model.layers if hasattr(l, "activation")] == ["relu"] * 4 + ["softmax"]
    assert not model.compiled
    deeper = seed_cnn(extra_conv=2)
    assert [l.name for l in deeper.layers][5:7] == ["conv_extra_1", "conv_extra_2"]
    with pytest.raises(ValueError, match="activation must be one of"):
        seed_cnn("swish")
    with pytest.raises(ValueError, match="extra_conv must be an integer >= 0"):
        seed_cnn(extra_conv=-1)


# --- layer_table ---------------------------------------------------------------------------------------------------

def test_seed_cnn_table_shapes_params_and_receptive_fields():
    table = layer_table(seed_cnn())
    assert table["parameters"].sum() == 93_322
    assert table.loc["conv_1", "output shape"] == "(26, 26, 32)"
    assert table.loc["pool_2", "output shape"] == "(5, 5, 64)"
    assert table.loc["conv_3", "output shape"] == "(3, 3, 64)"
    # rf grows 3 → 4 → 8 → 10 → 18 (by hand: rf += (k - 1) * jump; jump *= stride)
    assert table["rf"].tolist()[:5] == [3, 4, 8, 10, 18]
    assert table.loc["dense_1", "rf"] == 28


def test_mlp_table_has_no_receptive_field():
    table = layer_table(deep_mlp(2, 8))
    assert "rf" not in table.columns and table["parameters"].sum() == 784 * 8 + 8 + 8 * 8 + 8 + 8 * 10 + 10


def test_layer_table_rejects_non_models_and_models_without_input():
    with pytest.raises(TypeError, match="model must be a keras.Model"):
        layer_table("seed_cnn")
    with pytest.raises(ValueError, match="model must be a functional or Sequential model built with an Input"):
        layer_table(keras.Sequential([keras.layers.Dense(2)]))


# --- trained_seed_cnn -----------------------------------------------------------------------------------------------

def test_trained_seed_cnn_is_trained_compiled_kept_and_copied(monkeypatch, subset):
    monkeypatch.setattr(models, "_WEIGHTS", {})
    first = trained_seed_cnn(digits=[0, 1], epochs=1, source="subset")
    second = trained_seed_cnn(digits=[1, 0], epochs=1, source="subset")  # same set: no retraining
    assert first is not second and len(models._WEIGHTS) == 1
    assert all(np.array_equal(a, b) for a, b in zip(first.get_weights(), second.get_weights()))
    # compiled the article's way: evaluate reports categorical cross-entropy and accuracy, and it has learned 0 vs 1
    (_, _), (x_test, y_test) = subset
    keep = y_test < 2
    x, labels = x_test[keep][..., None].astype("float32") / 255, y_test[keep]
    loss, accuracy = second.evaluate(x, np.eye(10)[labels], verbose=0)
    p = np.asarray(second(x))
    assert loss == pytest.approx(float(np.mean(-np.log(p[np.arange(len(x)), labels]))), rel=1e-4)
    assert accuracy == pytest.approx(float(np.mean(p.argmax(axis=1) == labels))) and accuracy > 0.95


@pytest.mark.parametrize("kwargs, error, match", [
    ({"digits": [3, 12]}, ValueError, "digits must be a list of integers from 0 to 9"),
    ({"digits": 3}, TypeError, "digits must be a list of integers"),
    ({"source": "web"}, ValueError, "source must be one of"),
    ({"epochs": 0}, ValueError, "epochs must be an integer >= 1"),
])
def test_trained_seed_cnn_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        trained_seed_cnn(**kwargs)


# --- recurrent_layer -----------------------------------------------------------------------------------------------

def test_recurrent_layer_cells_are_seeded():
    a, b = recurrent_layer("gru", 4, seed=2), recurrent_layer("gru", 4, seed=2)
    x = np.ones((1, 3, 2), "float32")
    assert isinstance(a, keras.layers.GRU) and np.array_equal(np.asarray(a(x)), np.asarray(b(x)))
    assert isinstance(recurrent_layer("simple_rnn", 4), keras.layers.SimpleRNN)
    assert recurrent_layer("lstm", 4, dtype="float64").dtype == "float64"


@pytest.mark.parametrize("kwargs, error, match", [
    ({"cell": "transformer"}, ValueError, "cell must be one of"),
    ({"cell": "lstm", "dtype": "float16"}, ValueError, "dtype must be one of"),
    ({"cell": "lstm", "forget_bias": float("inf")}, ValueError, "forget_bias must be a finite number"),
    ({"cell": "lstm", "units": 0}, ValueError, "units must be an integer >= 1"),
])
def test_recurrent_layer_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        recurrent_layer(**kwargs)
