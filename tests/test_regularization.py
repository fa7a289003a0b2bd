"""Tests of convnet.regularization with real layers."""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from convnet.layers import DenseLayer, InputLayer
from convnet.regularization import (
    apply_penalty,
    l1,
    l2,
    regularize_layer_params,
    regularize_layer_params_weighted,
    regularize_network_params,
)


def evaluate(expression):
    return float(pytensor.function([], expression, mode="FAST_COMPILE")())


def value(param):
    return param.get_value().astype(np.float64)


@pytest.fixture
def network():
    """Input -> dense (W, b) -> dense (W, no bias); biases are not regularizable."""
    l_in = InputLayer((None, 4))
    l_hidden = DenseLayer(l_in, num_units=3, b=np.full(3, 0.5, dtype="float32"))
    l_out = DenseLayer(l_hidden, num_units=2, b=None)
    return l_in, l_hidden, l_out


def test_l1_and_l2_match_numpy():
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    var = pt.matrix()
    l1_value, l2_value = pytensor.function([var], [l1(var), l2(var)], mode="FAST_COMPILE")(x)
    assert l1_value == pytest.approx(np.abs(x).sum(), rel=1e-6)
    assert l2_value == pytest.approx((x.astype(np.float64) ** 2).sum(), rel=1e-6)


def test_apply_penalty_to_one_tensor_or_a_list():
    a = pytensor.shared(np.array([1.0, -2.0], dtype="float32"))
    b = pytensor.shared(np.array([[3.0]], dtype="float32"))
    assert evaluate(apply_penalty(a, l1)) == 3.0
    assert evaluate(apply_penalty([a, b], l2)) == 14.0
    assert apply_penalty([], l2) == 0


def test_apply_penalty_passes_keyword_arguments():
    def lp(x, p):
        return pt.sum(pt.abs(x) ** p)

    a = pytensor.shared(np.array([1.0, -2.0], dtype="float32"))
    assert evaluate(apply_penalty([a], lp, p=3)) == 9.0


def test_regularize_layer_params_uses_regularizable_params_only(network):
    _, l_hidden, _ = network
    assert evaluate(regularize_layer_params(l_hidden, l2)) == pytest.approx((value(l_hidden.W) ** 2).sum(), rel=1e-6)


def test_regularize_layer_params_with_other_tags(network):
    _, l_hidden, _ = network
    expected = np.abs(value(l_hidden.W)).sum() + np.abs(value(l_hidden.b)).sum()
    penalty = regularize_layer_params(l_hidden, l1, tags={"trainable": True})
    assert evaluate(penalty) == pytest.approx(expected, rel=1e-6)


def test_regularize_layer_params_of_a_list_of_layers(network):
    _, l_hidden, l_out = network
    expected = (value(l_hidden.W) ** 2).sum() + (value(l_out.W) ** 2).sum()
    assert evaluate(regularize_layer_params([l_hidden, l_out], l2)) == pytest.approx(expected, rel=1e-6)


def test_regularize_layer_params_weighted(network):
    _, l_hidden, l_out = network
    penalty = regularize_layer_params_weighted({l_hidden: 0.1, l_out: 0.5}, l2)
    expected = 0.1 * (value(l_hidden.W) ** 2).sum() + 0.5 * (value(l_out.W) ** 2).sum()
    assert evaluate(penalty) == pytest.approx(expected, rel=1e-6)


def test_regularize_network_params(network):
    _, l_hidden, l_out = network
    expected = np.abs(value(l_hidden.W)).sum() + np.abs(value(l_out.W)).sum()
    assert evaluate(regularize_network_params(l_out, l1)) == pytest.approx(expected, rel=1e-6)
    with_biases = expected + np.abs(value(l_hidden.b)).sum()
    assert evaluate(regularize_network_params(l_out, l1, tags={})) == pytest.approx(with_biases, rel=1e-6)


def test_penalty_gradient_reaches_the_weights(network):
    _, l_hidden, l_out = network
    grads = pytensor.grad(regularize_network_params(l_out, l2), [l_hidden.W, l_out.W])
    values = pytensor.function([], grads, mode="FAST_COMPILE")()
    np.testing.assert_allclose(values[0], 2 * value(l_hidden.W), rtol=1e-6)
    np.testing.assert_allclose(values[1], 2 * value(l_out.W), rtol=1e-6)
