"""gradbook.frontiers.transfer: digit subsets, frozen features, the two few-shot learners and their curves."""
import keras
import numpy as np
import pytest

from gradbook.frontiers.transfer import classifier_head, digit_subset, few_shot_curves, frozen_features, scratch_cnn
from gradbook.models import seed_cnn


def test_digit_subset_relabels_in_the_given_order():
    labels = np.array([5, 9, 5, 1, 9, 9, 7])
    x, y = digit_subset(np.arange(7), labels, [9, 5])
    assert x.tolist() == [0, 1, 2, 4, 5] and y.tolist() == [1, 0, 1, 0, 0]
    x, y = digit_subset(np.arange(7), labels, [9, 5], per_class=2, seed=3)
    assert sorted(y.tolist()) == [0, 0, 1, 1] and set(labels[x]) == {5, 9}
    again, _ = digit_subset(np.arange(7), labels, [9, 5], per_class=2, seed=3)
    assert np.array_equal(x, again)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"digits": [5]}, ValueError, "at least 2 different integers"),
    ({"digits": [5, 5]}, ValueError, "at least 2 different integers"),
    ({"digits": [5, 10]}, ValueError, "at least 2 different integers from 0 to 9"),
    ({"digits": "59"}, TypeError, "digits must be a list"),
    ({"digits": [5, 9], "per_class": 4}, ValueError, "per_class must be at most 2"),
    ({"digits": [5, 9], "per_class": 0}, ValueError, "per_class must be an integer >= 1"),
])
def test_digit_subset_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        digit_subset(np.zeros(4), np.array([5, 9, 5, 9]), **kwargs)


def test_frozen_features_are_the_named_layers_output():
    base = seed_cnn()
    images = np.random.default_rng(0).random((2, 28, 28, 1)).astype("float32")
    expected = keras.Model(base.inputs[0], base.get_layer("dense_1").output)(images)
    np.testing.assert_allclose(frozen_features(base, images, layer_name="dense_1"), expected, rtol=1e-6)
    assert frozen_features(base, images).shape == (2, 576)
    with pytest.raises(ValueError, match="layer_name must be one of"):
        frozen_features(base, images, layer_name="conv_9")
    with pytest.raises(ValueError, match=r"x must be a non-empty batch of shape \(N, 28, 28, 1\)"):
        frozen_features(base, images[..., 0])


def test_the_two_learners_are_uncompiled_and_shaped_like_the_cnn():
    base = seed_cnn()
    head, scratch = classifier_head(576, 5), scratch_cnn(5)
    assert not head.compiled and not scratch.compiled
    assert head.count_params() == 576 * 64 + 64 + 64 * 5 + 5
    assert scratch.count_params() == 93_322 - (64 * 10 + 10) + (64 * 5 + 5)
    # the scratch network starts from seed_cnn(seed)'s convolutions
    assert np.array_equal(scratch.get_layer("conv_2").kernel.numpy(), base.get_layer("conv_2").kernel.numpy())
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2"):
        classifier_head(576, 1)


def test_few_shot_curves_learns_a_separable_task_without_touching_the_base():
    y = np.arange(12) % 3
    x = np.zeros((12, 28, 28, 1), "float32")  # class 0 black, class 1 white, class 2 noise
    x[y == 1] = 1.0
    x[y == 2] = np.random.default_rng(0).random((4, 28, 28, 1))
    base = seed_cnn()
    before = [w.copy() for w in base.get_weights()]
    curves = few_shot_curves(base, (x, y), (x, y), eval_at=[1, 10], batch_size=4)
    assert list(curves.index) == [1, 10] and list(curves.columns) == ["frozen", "scratch"]
    assert curves.loc[10, "frozen"] == 1.0 and curves.loc[10, "scratch"] == 1.0  # black, white, noise: told apart
    assert all(np.array_equal(a, b) for a, b in zip(before, base.get_weights()))
    again = few_shot_curves(base, (x, y), (x, y), eval_at=[1, 10], batch_size=4)
    assert again.equals(curves)  # seeded: the same weights, the same order


@pytest.mark.parametrize("kwargs, error, match", [
    ({"eval_at": [3, 1]}, ValueError, "eval_at must be a list of increasing integers >= 1"),
    ({"eval_at": 3}, TypeError, "eval_at must be a list of increasing integers"),
    ({"batch_size": 20}, ValueError, "batch_size must be at most the number of training examples, 6"),
])
def test_few_shot_curves_rejects_bad_arguments(kwargs, error, match):
    x, y = np.zeros((6, 28, 28, 1)), np.arange(6) % 2
    with pytest.raises(error, match=match):
        few_shot_curves(seed_cnn(), (x, y), (x, y), **kwargs)
    with pytest.raises(ValueError, match="train must be"):
        few_shot_curves(seed_cnn(), (x[..., 0], y), (x, y))
    with pytest.raises(TypeError, match="train labels must be integers"):
        few_shot_curves(seed_cnn(), (x, y * 1.0), (x, y))
