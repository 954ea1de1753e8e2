import numpy as np
import pytest

from gradbook.jacobian import autocorrelation, chain_singular_values, gradient_along_line
from gradbook.models import deep_mlp


def test_orthogonal_linear_chain_is_an_isometry_and_gaussian_is_not():
    assert np.allclose(chain_singular_values(30, 40, "orthogonal", seed=1), 1.0)
    s = chain_singular_values(30, 40, "gaussian", seed=1)
    assert s[0] > 1 and s[-1] < 1e-6 and np.all(np.diff(s) <= 0)


def test_one_linear_layer_matches_numpy():
    rng = np.random.default_rng(5)
    rng.normal(size=6)  # chain_singular_values draws the input first, then the weights
    w = rng.normal(size=(6, 6)) / np.sqrt(6)
    expected = np.linalg.svd(w, compute_uv=False)
    np.testing.assert_allclose(chain_singular_values(1, 6, "gaussian", seed=5), expected)


def test_relu_chain_has_dead_directions():
    assert chain_singular_values(40, 30, "gaussian", "relu", seed=0)[-1] < 1e-8


@pytest.mark.parametrize("kwargs, match", [
    ({"depth": 0}, "depth must be an integer >= 1"),
    ({"depth": 2, "init": "xavier"}, "init must be one of"),
    ({"depth": 2, "activation": "sigmoid"}, "activation must be one of"),
    ({"depth": 2, "gain": 0.0}, "gain must be a finite number > 0"),
])
def test_chain_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        chain_singular_values(**kwargs)


def test_gradient_along_line_of_a_linear_model_is_its_slope():
    model = deep_mlp(1, 1, "linear", input_dim=1, num_classes=1)
    model.get_layer("dense_1").set_weights([np.array([[2.0]]), np.array([0.5])])
    model.get_layer("logits").set_weights([np.array([[-3.0]]), np.array([1.0])])
    x, g = gradient_along_line(model, n=7, low=-1.0, high=1.0)
    assert x[0] == -1.0 and x[-1] == 1.0 and np.allclose(g, -6.0)


def test_gradient_along_line_rejects_bad_arguments():
    with pytest.raises(ValueError, match="one input to one output"):
        gradient_along_line(deep_mlp(1, 2, input_dim=2, num_classes=1))
    model = deep_mlp(1, 2, input_dim=1, num_classes=1)
    with pytest.raises(ValueError, match="low < high"):
        gradient_along_line(model, low=1.0, high=0.0)
    with pytest.raises(ValueError, match="n must be an integer >= 3"):
        gradient_along_line(model, n=2)
    with pytest.raises(ValueError, match="training must be True or False"):
        gradient_along_line(model, training=1)


def test_autocorrelation_of_smooth_and_noisy_sequences():
    assert autocorrelation(np.linspace(0, 1, 50) ** 2) > 0.99
    assert abs(autocorrelation(np.random.default_rng(0).normal(size=5000))) < 0.05
    assert autocorrelation(np.tile([1.0, -1.0], 20)) == pytest.approx(-1.0)


@pytest.mark.parametrize("values, lag, match", [
    (np.ones(10), 1, "must not be constant"),
    (np.arange(3.0), 1, "at least lag"),
    ([1.0, np.nan, 2.0, 3.0, 4.0], 1, "must be finite"),
    (np.arange(10.0), 0, "lag must be an integer >= 1"),
])
def test_autocorrelation_rejects_bad_input(values, lag, match):
    with pytest.raises(ValueError, match=match):
        autocorrelation(values, lag)
