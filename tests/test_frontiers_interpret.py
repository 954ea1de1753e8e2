"""gradbook.frontiers.interpret: saliency maps, Grad-CAM, randomised copies and rank correlation."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from gradbook.frontiers.interpret import grad_cam, predicted_classes, randomize_layers, rank_correlation, saliency
from gradbook.models import deep_mlp, seed_cnn


@pytest.fixture(scope="module")
def cnn():
    return seed_cnn(seed=0)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((3, 28, 28, 1)).astype("float32")


def test_saliency_is_the_input_gradient_of_the_logit(cnn, images):
    """Checked against a GradientTape written out by hand, for one fixed class."""
    maps = saliency(cnn, images, class_index=4, absolute=False)
    trunk = keras.Model(cnn.inputs[0], cnn.get_layer("dense_1").output)
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logit = tf.linalg.matvec(trunk(x), cnn.get_layer("output").kernel[:, 4]) + cnn.get_layer("output").bias[4]
    expected = tape.gradient(logit, x).numpy()[..., 0]
    assert maps.shape == (3, 28, 28)
    np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(saliency(cnn, images, class_index=4), np.abs(expected), rtol=1e-4, atol=1e-7)


def test_probability_saliency_is_smaller_by_the_softmax_slope(cnn, images):
    logit = saliency(cnn, images[:1])
    probability = saliency(cnn, images[:1], score="probability")
    p = float(np.max(cnn(images[:1])))
    ratio = np.linalg.norm(probability) / np.linalg.norm(logit)
    assert 0 < ratio <= 2 * p  # ∂p_c/∂x = p_c (∂z_c/∂x − Σ p_j ∂z_j/∂x): never larger than ~2 p_c ‖∂z/∂x‖ here


def test_grad_cam_shape_and_non_negativity(cnn, images):
    coarse = grad_cam(cnn, images, upsample=False)
    assert coarse.shape == (3, 3, 3)  # conv_3, the last Conv2D, is 3 x 3
    fine = grad_cam(cnn, images, layer_name="conv_2")
    assert fine.shape == (3, 28, 28) and fine.dtype == np.float32
    assert np.all(coarse >= 0) and np.all(fine >= 0)


def test_grad_cam_weights_feature_maps_by_their_mean_gradient(cnn, images):
    cam = grad_cam(cnn, images[:1], class_index=2, layer_name="conv_3", upsample=False)
    layers = cnn.layers
    x = tf.constant(images[:1])
    with tf.GradientTape() as tape:
        h = x
        for layer in layers[:5]:
            h = layer(h)
        maps = h
        tape.watch(maps)
        for layer in layers[5:7]:
            h = layer(h)
        logit = tf.linalg.matvec(h, layers[7].kernel[:, 2]) + layers[7].bias[2]
    alpha = tf.reduce_mean(tape.gradient(logit, maps), axis=(1, 2), keepdims=True)
    expected = tf.nn.relu(tf.reduce_sum(alpha * maps, axis=-1)).numpy()
    np.testing.assert_allclose(cam, expected, rtol=1e-4, atol=1e-6)


def test_predicted_classes(cnn, images):
    assert np.array_equal(predicted_classes(cnn, images), np.asarray(cnn(images)).argmax(axis=1))


def test_randomize_layers_changes_only_the_named_layers(cnn):
    copy = randomize_layers(cnn, ["output", "dense_1"], seed=100)
    for name in ("conv_1", "conv_2", "conv_3"):
        assert np.array_equal(copy.get_layer(name).kernel.numpy(), cnn.get_layer(name).kernel.numpy())
    for name in ("output", "dense_1"):
        assert not np.allclose(copy.get_layer(name).kernel.numpy(), cnn.get_layer(name).kernel.numpy())
        assert np.all(copy.get_layer(name).bias.numpy() == 0)
    again = randomize_layers(cnn, ["output", "dense_1"], seed=100)
    assert np.array_equal(again.get_layer("dense_1").kernel.numpy(), copy.get_layer("dense_1").kernel.numpy())


def test_rank_correlation():
    a = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]])
    b = np.array([[1.0, 4.0, 9.0, 16.0], [4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    r = rank_correlation(a, b)
    assert r[0] == pytest.approx(1.0) and r[1] == pytest.approx(-1.0) and np.isnan(r[2])
    assert rank_correlation([[1, 1, 2]], [[5, 5, 9]])[0] == pytest.approx(1.0)  # ties share their rank


@pytest.mark.parametrize("call, match", [
    (lambda m, x: saliency(m, x, score="softmax"), "score must be one of 'logit', 'probability'"),
    (lambda m, x: saliency(m, x[..., 0]), r"x must be a non-empty batch of shape \(N, 28, 28, 1\); got shape"),
    (lambda m, x: saliency(m, x, class_index=10), r"class_index must lie in 0..9"),
    (lambda m, x: saliency(m, x, class_index=[1, 2]), "class_index must be None"),
    (lambda m, x: grad_cam(m, x, layer_name="dense_1"), "layer_name must be one of 'conv_1', 'conv_2', 'conv_3'"),
    (lambda m, x: randomize_layers(m, ["pool_1"]), "layer_names"),
    (lambda m, x: randomize_layers(m, []), "layer_names must be a non-empty list"),
    (lambda m, x: rank_correlation(np.zeros((2, 3)), np.zeros((2, 4))), "same shape"),
])
def test_errors_name_the_argument(cnn, images, call, match):
    with pytest.raises(ValueError, match=match):
        call(cnn, images)


@pytest.mark.parametrize("call, match", [
    (lambda m, x: saliency("cnn", x), "model must be a keras.Model"),
    (lambda m, x: saliency(m, x, class_index=1.5), "class_index must be None"),
    (lambda m, x: saliency(m, x, absolute=1), "absolute must be True or False"),
    (lambda m, x: grad_cam(m, x, upsample="yes"), "upsample must be True or False"),
    (lambda m, x: randomize_layers(m, "output"), "layer_names must be a non-empty list"),
    (lambda m, x: rank_correlation(["a"], ["b"]), "a must be an array of numbers"),
])
def test_wrong_types_are_type_errors(cnn, images, call, match):
    with pytest.raises(TypeError, match=match):
        call(cnn, images)


def test_models_without_conv_or_dense_head_are_rejected():
    with pytest.raises(ValueError, match="model must have a Conv2D layer for Grad-CAM"):
        grad_cam(deep_mlp(2, 8), np.zeros((1, 784)))
    flat = keras.Sequential([keras.Input((4,)), keras.layers.Activation("relu")])
    with pytest.raises(ValueError, match="must end in a Dense layer"):
        saliency(flat, np.zeros((1, 4)))
