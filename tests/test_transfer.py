"""gradbook.transfer (digit subsets, frozen features, few-shot learners) and gradbook.pretrained."""
import numpy as np
import pytest

from gradbook.models import seed_cnn
from gradbook.transfer import classifier_head, digit_subset, few_shot_curves, frozen_features, scratch_cnn


def test_digit_subset_relabels_in_the_given_order():
    labels = np.array([5, 9, 5, 1, 9, 9, 7])
    x, y = digit_subset(np.arange(7), labels, [9, 5])
    assert x.tolist() == [0, 1, 2, 4, 5] and y.tolist() == [1, 0, 1, 0, 0]
    x, y = digit_subset(np.arange(7), labels, [9, 5], per_class=2, seed=3)
    assert sorted(y.tolist()) == [0, 0, 1, 1] and set(labels[x]) == {5, 9}
    again, _ = digit_subset(np.arange(7), labels, [9, 5], per_class=2, seed=3)
    assert np.array_equal(x, again)


@pytest.mark.parametrize("kwargs, match", [
    ({"digits": [5]}, "at least two different digits"),
    ({"digits": [5, 5]}, "at least two different digits"),
    ({"digits": [5, 10]}, "at least two different digits 0-9"),
    ({"digits": [5, 9], "per_class": 4}, "per_class must be at most 2"),
    ({"digits": [5, 9], "per_class": 0}, "per_class must be an integer >= 1"),
])
def test_digit_subset_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        digit_subset(np.zeros(4), np.array([5, 9, 5, 9]), **kwargs)


def test_frozen_features_and_the_two_learners_have_the_cnns_shapes():
    base = seed_cnn()
    assert frozen_features(base, np.zeros((2, 28, 28, 1))).shape == (2, 576)
    assert frozen_features(base, np.zeros((2, 28, 28, 1)), layer_name="dense_1").shape == (2, 64)
    with pytest.raises(ValueError, match="layer_name must be one of"):
        frozen_features(base, np.zeros((1, 28, 28, 1)), layer_name="conv_9")
    head, scratch = classifier_head(576, 5), scratch_cnn(5)
    assert head.count_params() == 576 * 64 + 64 + 64 * 5 + 5
    assert scratch.count_params() == 93_322 - (64 * 10 + 10) + (64 * 5 + 5)
    # the scratch network starts from seed_cnn(seed)'s convolutions
    assert np.array_equal(scratch.get_layer("conv_2").kernel.numpy(), base.get_layer("conv_2").kernel.numpy())


def test_few_shot_curves_trains_both_learners_without_touching_the_base():
    rng = np.random.default_rng(0)
    x, y = rng.random((12, 28, 28, 1)).astype("float32"), np.arange(12) % 3
    base = seed_cnn()
    before = [w.copy() for w in base.get_weights()]
    curves = few_shot_curves(base, (x, y), (x, y), eval_at=[1, 3], batch_size=4)
    assert list(curves.index) == [1, 3] and list(curves.columns) == ["frozen", "scratch"]
    assert ((curves >= 0) & (curves <= 1)).all().all()
    assert all(np.array_equal(a, b) for a, b in zip(before, base.get_weights()))
    with pytest.raises(ValueError, match="eval_at must be a non-empty list of increasing epochs"):
        few_shot_curves(base, (x, y), (x, y), eval_at=[3, 1])
    with pytest.raises(ValueError, match="train must be"):
        few_shot_curves(base, (x[..., 0], y), (x, y))


def test_trained_seed_cnn_is_kept_and_copied(monkeypatch):
    import gradbook.pretrained as pretrained

    monkeypatch.setattr(pretrained, "_WEIGHTS", {})
    first = pretrained.trained_seed_cnn(digits=[0, 1], epochs=1, source="subset")
    second = pretrained.trained_seed_cnn(digits=[1, 0], epochs=1, source="subset")  # same set: no retraining
    assert first is not second and len(pretrained._WEIGHTS) == 1
    assert all(np.array_equal(a, b) for a, b in zip(first.get_weights(), second.get_weights()))
    x = np.zeros((1, 28, 28, 1), "float32")
    assert second.evaluate(x, np.eye(10)[[0]], verbose=0)  # compiled, with its loss and accuracy
    with pytest.raises(ValueError, match="digits must be None or a non-empty list of digits 0-9"):
        pretrained.trained_seed_cnn(digits=[3, 12])
    with pytest.raises(ValueError, match="source must be one of"):
        pretrained.trained_seed_cnn(source="web")
