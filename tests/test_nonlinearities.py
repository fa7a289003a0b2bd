"""Tests of convnet.nonlinearities against NumPy, including extreme inputs."""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import special

from convnet import nonlinearities as nl

SELU_SCALE = 1.0507009873554804934193349852946
SELU_SCALE_NEG = 1.6732632423543772848170429916717

# Each nonlinearity and a float64 NumPy reference.
CASES = [
    ("sigmoid", nl.sigmoid, special.expit),
    ("softmax", nl.softmax, lambda x: special.softmax(x, axis=-1)),
    ("tanh", nl.tanh, np.tanh),
    ("ScaledTanH", nl.ScaledTanH(scale_in=2.0 / 3, scale_out=1.7159), lambda x: 1.7159 * np.tanh(2.0 / 3 * x)),
    ("rectify", nl.rectify, lambda x: np.maximum(x, 0)),
    ("LeakyRectify(0.2)", nl.LeakyRectify(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    ("leaky_rectify", nl.leaky_rectify, lambda x: np.where(x > 0, x, 0.01 * x)),
    ("very_leaky_rectify", nl.very_leaky_rectify, lambda x: np.where(x > 0, x, x / 3)),
    ("elu", nl.elu, lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0)))),
    ("SELU(2, 3)", nl.SELU(scale=2, scale_neg=3), lambda x: 2 * np.where(x > 0, x, 3 * np.expm1(np.minimum(x, 0)))),
    ("selu", nl.selu,
     lambda x: SELU_SCALE * np.where(x > 0, x, SELU_SCALE_NEG * np.expm1(np.minimum(x, 0)))),
    ("softplus", nl.softplus, lambda x: np.logaddexp(0, x)),
    ("linear", nl.linear, lambda x: x),
]

EXTREMES = np.array([-1e4, -1000.0, -100.0, -30.0, -1e-3, 0.0, 1e-3, 30.0, 100.0, 1000.0, 1e4])


def _inputs():
    rng = np.random.default_rng(0)
    normal = rng.standard_normal((6, 11)) * 3
    return np.vstack([normal, EXTREMES, -EXTREMES]).astype(np.float32)


def _compile_with_gradient(nonlinearity):
    x = pt.matrix("x")
    y = nonlinearity(x)
    # a random projection, so that softmax's gradient is not identically zero
    projection = pt.matrix("projection")
    grad = pytensor.grad(pt.sum(y * projection), x)
    return pytensor.function([x, projection], [y, grad], mode="FAST_COMPILE")


@pytest.mark.parametrize("nonlinearity, reference", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_matches_numpy_with_finite_gradients(nonlinearity, reference):
    x = _inputs()
    projection = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    y, grad = _compile_with_gradient(nonlinearity)(x, projection)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, reference(x.astype(np.float64)), rtol=1e-5, atol=1e-6)
    assert np.isfinite(grad).all()


def test_softmax_is_stable_and_normalized():
    x = np.array([[1000.0, 1000.0, -1000.0], [-1e4, -1e4, -1e4], [0.0, 88.0, 89.0]], dtype=np.float32)
    y = nl.softmax(pt.as_tensor(x)).eval(mode="FAST_COMPILE")
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(y[0], [0.5, 0.5, 0.0], atol=1e-7)
    np.testing.assert_allclose(y[1], [1 / 3] * 3, rtol=1e-6)


def test_softmax_uses_last_axis():
    x = np.random.default_rng(2).standard_normal((2, 3, 4)).astype(np.float32)
    y = nl.softmax(pt.as_tensor(x)).eval(mode="FAST_COMPILE")
    np.testing.assert_allclose(y, special.softmax(x, axis=-1), rtol=1e-5)


def test_elu_and_selu_gradients_at_large_inputs():
    x = pt.vector("x")
    for nonlinearity, slope in [(nl.elu, 1.0), (nl.selu, SELU_SCALE)]:
        grad = pytensor.grad(pt.sum(nonlinearity(x)), x)
        values = grad.eval({x: np.array([200.0, -200.0], dtype=np.float32)}, mode="FAST_COMPILE")
        np.testing.assert_allclose(values, [slope, 0.0], atol=1e-7)


def test_aliases_and_parameters():
    assert nl.ScaledTanh is nl.ScaledTanH
    assert nl.identity is nl.linear
    assert nl.leaky_rectify.leakiness == 0.01
    assert nl.very_leaky_rectify.leakiness == pytest.approx(1 / 3)
    assert nl.selu.scale == pytest.approx(SELU_SCALE) and nl.selu.scale_neg == pytest.approx(SELU_SCALE_NEG)
    x = pt.matrix()
    assert nl.linear(x) is x


def test_reprs_show_parameters():
    assert repr(nl.leaky_rectify) == "LeakyRectify(leakiness=0.01)"
    assert repr(nl.ScaledTanH(0.5, 2.4)) == "ScaledTanH(scale_in=0.5, scale_out=2.4)"
    assert repr(nl.SELU(scale=2, scale_neg=3)) == "SELU(scale=2, scale_neg=3)"


def test_softmax_compiles_no_inner_graph_on_the_python_backend():
    """PyTensor's Softmax is an OpFromGraph that the Python backend compiles, with the
    default (Numba) mode, once per network: memory grew with every clone-and-fit of a
    grid search. convnet's softmax is plain ops, and its gradient stays exact."""
    from pytensor.compile.builders import OpFromGraph

    from convnet.ops.compat import PYTENSOR_VERSION

    x = pt.matrix("x")
    y = nl.softmax(x)
    f = pytensor.function([x], [y, pytensor.grad((y[:, 0] * y[:, 1]).sum(), x)], mode="FAST_COMPILE")
    if PYTENSOR_VERSION < (3, 1):
        # PyTensor 3.1+ rewrites the expression back into its own Softmax (a
        # symbolic Op there), which then carries PyTensor's behaviour.
        assert not [node for node in f.maker.fgraph.apply_nodes if isinstance(node.op, OpFromGraph)]
    values = np.array([[1.0, 2.0, -3.0], [1000.0, 1000.0, 0.0]], dtype=x.dtype)
    probabilities, gradient = f(values)
    expected = np.exp(values - values.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-6)
    # The gradient against central differences of the NumPy softmax.
    exact = pytensor.function([x], pytensor.grad((nl.softmax(x)[:, 0] * nl.softmax(x)[:, 1]).sum(), x),
                              mode="FAST_COMPILE")
    step = 1e-4
    small = values[:1].astype("float64")
    numeric = np.zeros_like(small)
    for k in range(3):
        e = np.zeros_like(small)
        e[0, k] = step
        p_plus, p_minus = (np.exp(v - v.max()) / np.exp(v - v.max()).sum() for v in (small + e, small - e))
        numeric[0, k] = (p_plus[0, 0] * p_plus[0, 1] - p_minus[0, 0] * p_minus[0, 1]) / (2 * step)
    np.testing.assert_allclose(exact(small.astype(x.dtype))[0], numeric[0], rtol=1e-3, atol=1e-6)
    assert np.isfinite(gradient).all()
