"""gradbook.backprop: the NumPy network of chapters 2 and 3 — its gradients, its arguments, its training loop."""
import numpy as np
import pytest

from gradbook import backprop as bp


def _problem(sizes, m, loss, seed):
    """Random parameters, inputs and targets for a network of the given sizes (float64)."""
    rng = np.random.default_rng(seed)
    params = bp.init_params(sizes, seed=seed)
    for l in range(1, params.L + 1):  # non-zero biases, so that their gradients are checked too
        params.b[l] = rng.normal(0.0, 0.5, size=params.b[l].shape)
    x = rng.normal(size=(sizes[0], m))
    y = bp.one_hot(rng.integers(0, sizes[-1], m), sizes[-1]) if loss == "cross_entropy" \
        else rng.normal(size=(sizes[-1], m))
    return params, x, y


# ---------------------------------------------------------------------------------------------------------------
# The gradient is right.

@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("loss", bp.LOSSES)
@pytest.mark.parametrize("activation", bp.ACTIVATIONS)
def test_gradient_check_on_random_shapes(seed, loss, activation):
    rng = np.random.default_rng(100 + seed)
    depth = int(rng.integers(1, 5))                                  # 1 to 4 layers with weights
    sizes = [int(n) for n in rng.integers(1, 7, size=depth + 1)]     # widths 1..6, usually all different
    sizes[-1] = max(sizes[-1], 2) if loss == "cross_entropy" else sizes[-1]
    m = int(rng.integers(1, 6))
    params, x, y = _problem(sizes, m, loss, seed)
    assert bp.gradient_check(params, x, y, loss=loss, activation=activation) < 1e-7, (sizes, m)


def test_gradient_check_detects_a_wrong_gradient():
    params, x, y = _problem([4, 5, 3], 6, "cross_entropy", 0)
    good = bp.backward(params, bp.forward(params, x), y)
    bad = bp.Grads({1: good.dW[1] * 4.0, 2: good.dW[2]}, dict(good.db))
    numeric = bp.numerical_gradient(params, x, y)
    assert bp.relative_error(good, numeric) < 1e-7
    assert bp.relative_error(bad, numeric) > 0.1


def test_numerical_gradient_of_float32_params_is_computed_in_float64():
    params, x, y = _problem([4, 5, 3], 6, "cross_entropy", 0)
    p32 = bp.Params({l: w.astype(np.float32) for l, w in params.W.items()},
                    {l: b.astype(np.float32) for l, b in params.b.items()})
    numeric = bp.numerical_gradient(p32, x, y)                      # a step of 1e-6 is not lost in float32
    assert numeric.dW[1].dtype == np.float64 and not any(w.dtype == np.float64 for w in p32.W.values())
    assert bp.relative_error(bp.backward(p32, bp.forward(p32, x), y), numeric) < 1e-7


def test_centred_difference_error_has_the_predicted_scale():
    """Truncation ε² f‴/6 for large ε, rounding of order u/ε for small ε (f = exp at 0.5: f = f' = f‴)."""
    f, x0 = (lambda v: float(np.exp(v[0]))), np.array([0.5])
    exact = np.exp(0.5)
    for eps in (1e-2, 1e-3):                                         # truncation: ε² e^0.5 / 6 to within 1%
        error = bp.centred_difference(f, x0, eps)[0] - exact
        assert error == pytest.approx(eps ** 2 * exact / 6, rel=1e-2)
    u = np.finfo(np.float64).eps / 2
    for eps in (1e-10, 1e-11, 1e-12):                                # rounding: at most a few u f / ε
        assert abs(bp.centred_difference(f, x0, eps)[0] - exact) < 4 * u * exact / eps
    v = np.array([[1.0, 2.0]])
    bp.centred_difference(lambda w: float(w.sum()), v)
    assert np.array_equal(v, [[1.0, 2.0]])                           # the caller's array is left alone


def test_relative_error_of_arrays_and_of_grads():
    assert bp.relative_error(np.ones(3), np.ones(3)) == 0.0
    assert bp.relative_error([1.0, 0.0], [0.0, 1.0]) == pytest.approx(1 / np.sqrt(2))  # unrelated: order one
    assert bp.relative_error(np.zeros((2, 2)), np.zeros((2, 2))) == 0.0
    g = bp.Grads({1: np.ones((2, 3))}, {1: np.ones((2, 1))})
    assert bp.relative_error(g, bp.Grads({1: -np.ones((2, 3))}, {1: -np.ones((2, 1))})) == 1.0
    with pytest.raises(ValueError, match="g and h must be two Grads with the same layers and shapes"):
        bp.relative_error(g, bp.Grads({1: np.ones((3, 2))}, {1: np.ones((3, 1))}))
    with pytest.raises(ValueError, match="or two arrays of the same shape"):
        bp.relative_error(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="g and h must be"):
        bp.relative_error(g, np.ones(8))                             # a Grads is not compared with an array
    with pytest.raises(TypeError, match="h must be a gradbook.backprop.Grads or an array of numbers"):
        bp.relative_error(np.ones(3), ["a", "b", "c"])


def test_backward_matches_tensorflow_in_float64():
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    for loss in bp.LOSSES:
        params, x, y = _problem([7, 5, 6, 4], 9, loss, 3)
        model = keras.Sequential([keras.Input((7,), dtype="float64")]
                                 + [keras.layers.Dense(n, activation="sigmoid" if l < 3 else None, dtype="float64")
                                    for l, n in enumerate([5, 6, 4], start=1)])
        for l, layer in enumerate(model.layers, start=1):
            layer.set_weights([params.W[l].T, params.b[l].ravel()])
        with tf.GradientTape() as tape:
            z = model(x.T)
            if loss == "cross_entropy":
                value = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(y.T, z))
            else:
                value = tf.reduce_sum((z - y.T) ** 2) / (2 * x.shape[1])   # the book's MSE, with its ½
        g = tape.gradient(value, model.trainable_variables)
        ours_cache = bp.forward(params, x)
        assert float(value) == pytest.approx(bp.compute_loss(ours_cache.z[3], y, loss), rel=1e-12)
        theirs = bp.Grads({l: g[2 * l - 2].numpy().T for l in (1, 2, 3)},
                          {l: g[2 * l - 1].numpy()[:, None] for l in (1, 2, 3)})
        assert bp.relative_error(bp.backward(params, ours_cache, y, loss), theirs) < 1e-12


def test_layer_jacobians_multiply_to_the_network_jacobian():
    params, _, _ = _problem([4, 3, 5, 2], 1, "mse", 1)
    x = np.random.default_rng(1).normal(size=(4, 1))
    J = bp.layer_jacobians(params, x, "tanh")
    assert [J[l].shape for l in (1, 2, 3)] == [(3, 4), (5, 3), (2, 5)]
    product = J[3] @ J[2] @ J[1]
    eps, numeric = 1e-6, np.zeros((2, 4))
    for k in range(4):
        e = np.zeros((4, 1))
        e[k] = eps
        plus, minus = bp.forward(params, x + e, "tanh").z[3], bp.forward(params, x - e, "tanh").z[3]
        numeric[:, k] = (plus - minus)[:, 0] / (2 * eps)
    np.testing.assert_allclose(product, numeric, rtol=1e-6, atol=1e-9)
    assert np.array_equal(bp.layer_jacobians(params, x[:, 0], "tanh")[1], J[1])  # a 1-D example is accepted too


# ---------------------------------------------------------------------------------------------------------------
# The building blocks.

def test_init_params_shapes_scale_and_seed():
    params = bp.init_params([300, 200, 10], seed=5)
    assert params.L == 2 and params.sizes == [300, 200, 10]
    assert params.W[1].shape == (200, 300) and params.b[1].shape == (200, 1) and params.W[2].shape == (10, 200)
    assert not np.any(params.b[1]) and params.W[1].dtype == np.float64
    assert abs(params.W[1].std() * np.sqrt(300) - 1) < 0.02          # std 1/√n_{l-1}
    assert np.array_equal(params.W[2], bp.init_params([300, 200, 10], seed=5).W[2])
    assert not np.array_equal(params.W[1], bp.init_params([300, 200, 10], seed=6).W[1])
    assert abs(bp.init_params([300, 200], weight_std=0.3).W[1].std() - 0.3) < 0.01


def test_activations_and_their_derivatives():
    z = np.linspace(-4, 4, 81)[None, :]
    for activation in bp.ACTIVATIONS:
        h = 1e-6
        numeric = (bp.phi(z + h, activation) - bp.phi(z - h, activation)) / (2 * h)
        away_from_kink = np.abs(z) > 1e-3
        np.testing.assert_allclose(bp.phi_prime(z, activation)[away_from_kink], numeric[away_from_kink], atol=1e-8)
    assert bp.phi_prime(z).max() == pytest.approx(0.25)            # the sigmoid's slope is at most 1/4
    big = np.array([[-1000.0, 1000.0]])
    with np.errstate(over="raise", invalid="raise"):                 # no overflow for large |z|
        np.testing.assert_array_equal(bp.phi(big), [[0.0, 1.0]])
        np.testing.assert_array_equal(bp.phi_prime(big), [[0.0, 0.0]])
    far = np.array([[-30.0, 30.0]])                                  # full relative precision in the tails
    np.testing.assert_allclose(bp.phi(far)[0, 0], 1 / (1 + np.exp(30.0)), rtol=1e-15)
    np.testing.assert_allclose(bp.phi_prime(far), np.exp(-30.0) / (1 + np.exp(-30.0)) ** 2, rtol=1e-15)


def test_softmax_and_cross_entropy_are_stable_and_correct():
    z = np.array([[1000.0, 0.0], [1001.0, 0.0], [999.0, 0.0]])
    p = bp.softmax(z)
    assert np.all(np.isfinite(p)) and np.allclose(p.sum(axis=0), 1)
    np.testing.assert_allclose(bp.softmax(z + 7.0), p)             # invariant to shifting every logit
    y = bp.one_hot([1, 2], 3)
    expected = -(np.log(p[1, 0]) + np.log(p[2, 1])) / 2
    assert bp.cross_entropy(z, y) == pytest.approx(expected, rel=1e-12)
    assert bp.cross_entropy(np.zeros((10, 4)), bp.one_hot([0, 1, 2, 3], 10)) == pytest.approx(np.log(10))


def test_output_delta_is_p_minus_y_over_m_and_sums_to_zero():
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(5, 8)), bp.one_hot(rng.integers(0, 5, 8), 5)
    delta = bp.output_delta(z, y)
    np.testing.assert_allclose(delta, (bp.softmax(z) - y) / 8)
    np.testing.assert_allclose(delta.sum(axis=0), 0, atol=1e-15)
    np.testing.assert_allclose(bp.output_delta(z, z + 1.0, loss="mse"), -np.ones((5, 8)) / 8)
    assert bp.mse(np.array([[1.0, 3.0]]), np.zeros((1, 2))) == 2.5


def test_gradients_of_a_batch_are_the_mean_of_the_examples_gradients():
    params, x, y = _problem([3, 4, 2], 5, "cross_entropy", 2)
    batch = bp.backward(params, bp.forward(params, x), y)
    singles = [bp.backward(params, bp.forward(params, x[:, [i]]), y[:, [i]]) for i in range(5)]
    for l in (1, 2):
        np.testing.assert_allclose(batch.dW[l], np.mean([g.dW[l] for g in singles], axis=0))
        np.testing.assert_allclose(batch.db[l], np.mean([g.db[l] for g in singles], axis=0))


def test_float32_inputs_give_float64_gradients():
    params, x, y = _problem([3, 4, 2], 5, "cross_entropy", 2)
    g32 = bp.backward(params, bp.forward(params, x.astype(np.float32)), y)
    assert g32.dW[1].dtype == np.float64


# ---------------------------------------------------------------------------------------------------------------
# Update and training.

def test_update_is_one_gradient_descent_step_and_leaves_params_alone():
    params, x, y = _problem([3, 4, 2], 5, "cross_entropy", 4)
    before = bp.copy_params(params)
    grads = bp.backward(params, bp.forward(params, x), y)
    new = bp.update(params, grads, eta=0.1)
    for l in (1, 2):
        np.testing.assert_array_equal(params.W[l], before.W[l])      # pure: the old parameters are unchanged
        np.testing.assert_allclose(new.W[l], params.W[l] - 0.1 * grads.dW[l])
        np.testing.assert_allclose(new.b[l], params.b[l] - 0.1 * grads.db[l])


def test_a_small_step_lowers_the_loss_by_eta_times_the_squared_gradient():
    params, x, y = _problem([6, 5, 3], 20, "cross_entropy", 7)
    grads = bp.backward(params, bp.forward(params, x), y)
    sq = sum(np.sum(grads.dW[l] ** 2) + np.sum(grads.db[l] ** 2) for l in (1, 2))
    new, before = bp.train_step(params, x, y, eta=1e-4)
    after = bp.compute_loss(bp.forward(new, x).z[2], y)
    assert (before - after) / (1e-4 * sq) == pytest.approx(1.0, abs=1e-3)


def test_train_learns_a_separable_problem_and_reports_history():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 200))
    labels = (x[0] + x[1] > 0).astype(np.int64)
    params, history = bp.train(bp.init_params([2, 8, 2]), x, bp.one_hot(labels, 2), epochs=20, batch_size=20,
                               eta=1.0, x_test=x, labels_test=labels)
    assert len(history["loss"]) == 21 and len(history["step_loss"]) == 20 * 10
    assert len(history["test_accuracy"]) == 21
    assert history["loss"][-1] < 0.3 * history["loss"][0]
    assert bp.accuracy(params, x, labels) > 0.95 and history["test_accuracy"][-1] == bp.accuracy(params, x, labels)
    again = bp.train(bp.init_params([2, 8, 2]), x, bp.one_hot(labels, 2), epochs=20, batch_size=20, eta=1.0)[1]
    assert again["loss"] == history["loss"]                           # seeded: the same run twice


def test_learning_rate_threshold_on_a_quadratic():
    """Linear regression with MSE: gradient descent converges for η < 2/λ_max of X̃X̃ᵀ/m and diverges above it."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 100)) * np.array([[3.0], [1.0]])
    y = np.array([[1.0, 2.0]]) @ x + 0.5
    x_tilde = np.vstack([x, np.ones((1, 100))])
    lam_max = np.linalg.eigvalsh(x_tilde @ x_tilde.T / 100).max()

    def final_loss(eta):
        params = bp.init_params([2, 1], seed=0)
        for _ in range(200):
            params, _ = bp.train_step(params, x, y, eta, loss="mse", activation="linear")
        return bp.compute_loss(bp.forward(params, x, "linear").z[1], y, "mse")

    start = bp.compute_loss(bp.forward(bp.init_params([2, 1], seed=0), x, "linear").z[1], y, "mse")
    assert final_loss(0.9 * 2 / lam_max) < 1e-3 * start
    assert final_loss(1.1 * 2 / lam_max) > 1e3 * start


# ---------------------------------------------------------------------------------------------------------------
# Bad arguments fail at the boundary, naming the argument and what is allowed.

@pytest.mark.parametrize("call, match", [
    (lambda p, x, y: bp.forward(p, x, activation="swish"),
     r"activation must be one of 'sigmoid', 'tanh', 'relu', 'linear'; got 'swish'"),
    (lambda p, x, y: bp.backward(p, bp.forward(p, x), y, activation="softmax"), "activation must be one of"),
    (lambda p, x, y: bp.backward(p, bp.forward(p, x), y, loss="hinge"),
     r"loss must be one of 'cross_entropy', 'mse'; got 'hinge'"),
    (lambda p, x, y: bp.compute_loss(x, y, loss="l1"), "loss must be one of"),
    (lambda p, x, y: bp.train(p, x, y, epochs=1, batch_size=2, eta=0.1, loss="nll"), "loss must be one of"),
    (lambda p, x, y: bp.phi(x, "gelu"), "activation must be one of"),
    (lambda p, x, y: bp.forward(p, x.T), r"x must have shape \(n_0, m\) = \(4, m\)"),
    (lambda p, x, y: bp.forward(p, x[0]), r"x must have shape \(n_0, m\)"),
    (lambda p, x, y: bp.forward(p, np.zeros((4, 0))), r"x must have shape"),
    (lambda p, x, y: bp.backward(p, bp.forward(p, x), y.T), r"y must have shape \(n_L, m\) = \(3, 6\)"),
    (lambda p, x, y: bp.backward(p, bp.forward(p, x), np.argmax(y, axis=0)), "use one_hot"),
    (lambda p, x, y: bp.backward(p, bp.forward(p, x), 2 * y), "probability distribution in every column"),
    (lambda p, x, y: bp.backward(p, bp.forward(bp.init_params([4, 5, 6, 3]), x), y), "cache must be the Cache"),
    (lambda p, x, y: bp.update(p, bp.backward(p, bp.forward(p, x), y), eta=0), r"eta must be a finite number > 0"),
    (lambda p, x, y: bp.update(p, bp.backward(p, bp.forward(p, x), y), eta=float("nan")), "eta must be"),
    (lambda p, x, y: bp.update(p, bp.Grads({1: p.W[1]}, {1: p.b[1]}), eta=0.1), "grads must be a Grads with dW"),
    (lambda p, x, y: bp.train(p, x, y, epochs=0, batch_size=2, eta=0.1), "epochs must be an integer >= 1"),
    (lambda p, x, y: bp.train(p, x, y, epochs=1, batch_size=2, eta=0.1, x_test=x), "given together"),
    (lambda p, x, y: bp.train(p, x, y, epochs=1, batch_size=2, eta=0.1, x_test=x.T, labels_test=np.zeros(6, int)),
     r"x_test must have shape \(n_0, m\)"),
    (lambda p, x, y: bp.train(p, x, y, epochs=1, batch_size=2, eta=0.1, x_test=x, labels_test=np.zeros(5, int)),
     r"labels_test must have shape \(m_test,\) = \(6,\)"),
    (lambda p, x, y: bp.accuracy(p, x, np.zeros(5, int)), r"labels must have shape \(m,\) = \(6,\)"),
    (lambda p, x, y: bp.gradient_check(p, x, y, eps=-1e-6), "eps must be a finite number > 0"),
    (lambda p, x, y: bp.layer_jacobians(p, x), r"x must be one example, shape \(n_0, 1\)"),
    (lambda p, x, y: bp.centred_difference(np.sum, x, eps=0.0), "eps must be a finite number > 0"),
])
def test_bad_arguments_raise_value_errors_that_say_what_is_allowed(call, match):
    params, x, y = _problem([4, 5, 3], 6, "cross_entropy", 0)
    with pytest.raises(ValueError, match=match):
        call(params, x, y)


@pytest.mark.parametrize("call, match", [
    (lambda p, x, y: bp.train(p, x, y, epochs=1, batch_size=2.5, eta=0.1), "batch_size must be an integer"),
    (lambda p, x, y: bp.relative_error(p, p), "g must be a gradbook.backprop.Grads"),
    (lambda p, x, y: bp.centred_difference("sum", x), "f must be a function of one array"),
    (lambda p, x, y: bp.update(p, "grads", eta=0.1), "grads must be a Grads"),
    (lambda p, x, y: bp.backward(p, {"z": {}}, y), "cache must be the Cache"),
    (lambda p, x, y: bp.forward(p, x.astype(str)), "x must hold numbers"),
    (lambda p, x, y: bp.forward(p, x, activation=None), "activation must be one of"),
    (lambda p, x, y: bp.update(p, bp.backward(p, bp.forward(p, x), y), eta="0.1"), "eta must be a finite number"),
])
def test_arguments_of_the_wrong_type_raise_type_errors(call, match):
    params, x, y = _problem([4, 5, 3], 6, "cross_entropy", 0)
    with pytest.raises(TypeError, match=match):
        call(params, x, y)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"sizes": [784]}, ValueError, "sizes must be a sequence"),
    ({"sizes": "784"}, TypeError, "sizes must be a sequence"),
    ({"sizes": [784, 0, 10]}, ValueError, r"sizes\[1\] must be an integer >= 1; got 0"),
    ({"sizes": [784, 2.5]}, TypeError, r"sizes\[1\] must be an integer"),
    ({"sizes": [4, 2], "seed": -1}, ValueError, "seed must be an integer >= 0"),
    ({"sizes": [4, 2], "weight_std": 0.0}, ValueError, "weight_std must be a finite number > 0"),
])
def test_init_params_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        bp.init_params(**kwargs)


def test_inconsistent_params_are_rejected():
    params = bp.init_params([4, 5, 3])
    params.W[2] = np.zeros((3, 6))                                  # W^2 must have n_1 = 5 columns
    with pytest.raises(ValueError, match=r"params.W\[2\] must have shape \(n_2, n_1\) with n_1 = 5"):
        bp.forward(params, np.zeros((4, 2)))
    params = bp.init_params([4, 5, 3])
    params.b[1] = np.zeros(5)                                       # b^l is a column
    with pytest.raises(ValueError, match=r"params.b\[1\] must have shape \(n_1, 1\)"):
        bp.forward(params, np.zeros((4, 2)))
    with pytest.raises(TypeError, match="params must be a gradbook.backprop.Params"):
        bp.forward({"W": {}, "b": {}}, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="params must hold W"):
        bp.forward(bp.Params({}, {}), np.zeros((4, 2)))


@pytest.mark.parametrize("labels, error, match", [
    ([0, 3], ValueError, r"labels must lie in 0..2"),
    ([-1], ValueError, r"labels must lie in 0..2"),
    ([[0, 1]], ValueError, "labels must be a 1-D array of integers"),
    ([0.5], TypeError, "labels must be a 1-D array of integers"),
])
def test_one_hot_rejects_bad_labels(labels, error, match):
    with pytest.raises(error, match=match):
        bp.one_hot(labels, 3)
