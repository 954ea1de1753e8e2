import keras
import numpy as np
import pytest

from gradbook.clipping import clipped_update


def test_the_three_clipping_arguments_on_a_known_gradient():
    g = [[300.0, 400.0]]
    np.testing.assert_allclose(clipped_update(g, 0.1)[0], [-30.0, -40.0])
    np.testing.assert_allclose(clipped_update(g, 0.1, clipnorm=1.0)[0], [-0.06, -0.08], rtol=1e-6)
    np.testing.assert_allclose(clipped_update(g, 0.1, clipvalue=1.0)[0], [-0.1, -0.1], rtol=1e-6)
    np.testing.assert_allclose(clipped_update(g, 0.1, global_clipnorm=1.0)[0], [-0.06, -0.08], rtol=1e-6)


def test_clipnorm_is_per_variable_and_global_clipnorm_is_joint():
    g = [[300.0, 400.0], [0.0, 5.0]]
    per = clipped_update(g, 1.0, clipnorm=1.0)
    joint = clipped_update(g, 1.0, global_clipnorm=1.0)
    assert [round(float(np.linalg.norm(u)), 5) for u in per] == [1.0, 1.0]
    assert np.sqrt(sum(float((u ** 2).sum()) for u in joint)) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(joint[1] / joint[0][1], np.array(g[1]) / g[0][1], rtol=1e-4)  # direction kept


def test_two_clip_arguments_are_refused_like_keras():
    with pytest.raises(ValueError, match="at most one of"):
        clipped_update([[1.0]], clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="Only one of"):
        keras.optimizers.SGD(0.1, clipnorm=1.0, clipvalue=1.0)


@pytest.mark.parametrize("args, kwargs, match", [
    (([[1.0]], 0.0), {}, "learning_rate must be a finite number > 0"),
    (([[1.0]],), {"clipnorm": 0.0}, "clipnorm must be a finite number > 0"),
    (([[1.0]],), {"clip": 1.0}, "clip arguments must be among"),
    (([],), {}, "non-empty list"),
    (([[np.inf]],), {}, "finite arrays"),
])
def test_clipped_update_rejects_bad_arguments(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        clipped_update(*args, **kwargs)
