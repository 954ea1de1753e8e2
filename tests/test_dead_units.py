import numpy as np
import pytest

from gradbook.dead_units import dead_unit_fraction
from gradbook.models import deep_mlp


def test_dead_units_counted_per_layer():
    model = deep_mlp(2, 4, "relu", input_dim=3, seed=0)
    w, b = model.get_layer("dense_1").get_weights()
    b[:] = [-100.0, -100.0, 0.0, 0.0]  # two units can never fire on inputs in [0, 1]
    w[:] = np.abs(w)
    model.get_layer("dense_1").set_weights([w, b])
    x = np.random.default_rng(0).uniform(size=(50, 3))
    frac = dead_unit_fraction(model, x)
    assert list(frac.index) == ["act_1", "act_2"] and frac.name == "dead_fraction"
    assert frac["act_1"] == 0.5


def test_leaky_relu_units_never_die():
    model = deep_mlp(3, 8, "leaky_relu", input_dim=3, seed=0)
    assert dead_unit_fraction(model, -np.ones((4, 3))).max() == 0.0


def test_dead_unit_fraction_rejects_bad_input():
    with pytest.raises(ValueError, match="model must be a keras.Model"):
        dead_unit_fraction("model", np.zeros((2, 3)))
    with pytest.raises(ValueError, match="non-empty batch"):
        dead_unit_fraction(deep_mlp(1, 2, input_dim=3), np.zeros(3))
