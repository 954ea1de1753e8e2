import numpy as np
import pytest

from gradbook.recurrent import cliff, descend_cliff, gradient_through_time, recurrent_layer


def test_cliff_gradient_matches_finite_differences():
    w, b, h = np.array([1.0, 4.0, 6.0]), np.array([-2.5, -1.0, 0.3]), 1e-6
    exact = cliff(w, b)
    dw = (cliff(w + h, b)["loss"] - cliff(w - h, b)["loss"]) / (2 * h)
    db = (cliff(w, b + h)["loss"] - cliff(w, b - h)["loss"]) / (2 * h)
    np.testing.assert_allclose(exact["dL_dw"], dw, rtol=1e-5)
    np.testing.assert_allclose(exact["dL_db"], db, rtol=1e-5)


def test_cliff_has_a_cliff():
    """Pascanu et al.'s setting: |dL/dw| peaks in the hundreds near w = 4.8 while its median over w is a few units."""
    c = cliff(np.linspace(0, 10, 2001), -2.5)
    g = c["dL_dw"].abs()
    assert g.max() > 100 and 4.5 < c["w"][g.idxmax()] < 5.1 and 1 < g.median() < 10


def test_descend_cliff_clips_every_step():
    path = descend_cliff(5.25, -1.75, learning_rate=0.1, iterations=30, clip=2.0)
    assert len(path) == 31 and path["step_norm"].max() <= 0.2 + 1e-12
    free = descend_cliff(5.25, -1.75, learning_rate=0.1, iterations=30)
    assert free["step_norm"].max() > 10  # the unclipped run is thrown off the cliff
    fixed = descend_cliff(3.0, -2.5, iterations=5, learn_bias=False)
    assert np.all(fixed["b"] == -2.5)


@pytest.mark.parametrize("kwargs, match", [
    ({"learning_rate": 0.0}, "learning_rate must be a finite number > 0"),
    ({"iterations": 0}, "iterations must be an integer >= 1"),
    ({"clip": -1.0}, "clip must be a finite number > 0"),
    ({"learn_bias": "no"}, "learn_bias must be True or False"),
])
def test_descend_cliff_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        descend_cliff(3.0, -2.5, **kwargs)


def test_cliff_rejects_bad_arguments():
    with pytest.raises(ValueError, match="w must be finite"):
        cliff(np.nan, 0.0)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        cliff(1.0, 0.0, steps=0)


def test_gradient_through_time_matches_a_direct_jacobian():
    import tensorflow as tf

    norms = gradient_through_time("simple_rnn", steps=6, units=3, input_dim=2, seed=4)
    layer = recurrent_layer("simple_rnn", 3, seed=4)
    x = tf.constant(np.random.default_rng(4).normal(size=(1, 6, 2)), dtype="float32")
    with tf.GradientTape() as tape:
        tape.watch(x)
        h = layer(x)
    jac = tape.jacobian(h, x).numpy()[0, :, 0]  # (units, steps, input_dim)
    np.testing.assert_allclose(norms, np.sqrt((jac ** 2).sum(axis=(0, 2))), rtol=1e-4)


def test_forget_bias_lengthens_the_lstm_memory():
    short = gradient_through_time("lstm", steps=30, units=8, forget_bias=0.0)
    long = gradient_through_time("lstm", steps=30, units=8, forget_bias=4.0)
    assert long[0] / long[-1] > 100 * short[0] / short[-1]


@pytest.mark.parametrize("kwargs, match", [
    ({"cell": "transformer"}, "cell must be one of"),
    ({"cell": "gru", "steps": 1}, "steps must be an integer >= 2"),
    ({"cell": "lstm", "dtype": "float16"}, "dtype must be one of"),
    ({"cell": "lstm", "forget_bias": float("inf")}, "forget_bias must be finite"),
])
def test_gradient_through_time_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gradient_through_time(**kwargs)
