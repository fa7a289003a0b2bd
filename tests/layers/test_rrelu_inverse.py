"""RandomizedRectifierLayer / rrelu and InverseLayer (convnet.layers.special)."""
import numpy as np
import pytensor
import pytest

import convnet
from convnet.layers import (
    Conv2DLayer,
    DenseLayer,
    InputLayer,
    InverseLayer,
    MaxPool2DLayer,
    RandomizedRectifierLayer,
    get_output,
    rrelu,
)
from convnet.ops import conv2d_grad_wrt_inputs


def test_rrelu_draws_slopes_in_range_per_channel(backend_mode):
    l_in = InputLayer((None, 3, 4, 4))
    layer = RandomizedRectifierLayer(l_in, lower=0.2, upper=0.4)
    x = -np.ones((5, 3, 4, 4), pytensor.config.floatX)
    train = pytensor.function([l_in.input_var], get_output(layer), mode=backend_mode)
    a, b = train(x), train(x)
    slopes = -a
    assert np.all((0.2 <= slopes) & (slopes <= 0.4))
    assert np.all(slopes == slopes[:, :, :1, :1])  # shared over the example and spatial axes
    assert not np.array_equal(a, b)  # fresh slopes at each call
    test = pytensor.function([l_in.input_var], get_output(layer, deterministic=True), mode=backend_mode)
    np.testing.assert_allclose(test(x), -0.3)
    np.testing.assert_array_equal(test(-x), 1)


def test_rrelu_replaces_the_nonlinearity():
    dense = DenseLayer(InputLayer((None, 3)), 2)
    top = rrelu(dense, lower=0.1, upper=0.1)
    assert isinstance(top, RandomizedRectifierLayer) and dense.nonlinearity is convnet.nonlinearities.identity
    x = np.array([[-1.0, -2.0, 0.0], [1.0, 2.0, 0.5]], "float32")
    y = x @ dense.W.get_value()
    np.testing.assert_allclose(get_output(top, x).eval(), np.where(y > 0, y, 0.1 * y), rtol=1e-6)
    with pytest.raises(ValueError, match="RandomizedRectifierLayer: the slopes' range"):
        RandomizedRectifierLayer(InputLayer((None, 3)), lower=0.5, upper=0.2)


def test_inverse_of_dense_and_conv_is_the_transpose(backend_mode):
    l_in, l_y = InputLayer((None, 2, 6, 6)), InputLayer((None, 3, 4, 4))
    conv = Conv2DLayer(l_in, 3, 3, nonlinearity=None, b=None)
    inverse = InverseLayer(l_y, conv)
    assert inverse.output_shape == (None, 2, 6, 6)
    rng = np.random.default_rng(0)
    y = rng.standard_normal((2, 3, 4, 4)).astype("float32")
    x = rng.standard_normal((2, 2, 6, 6)).astype("float32")
    f = pytensor.function([l_in.input_var, l_y.input_var], get_output(inverse), mode=backend_mode,
                          on_unused_input="ignore")
    expected = conv2d_grad_wrt_inputs(y, conv.W, (2, 2, 6, 6)).eval()
    np.testing.assert_allclose(f(x, y), expected, rtol=1e-4, atol=1e-5)
    dense = DenseLayer(InputLayer((None, 5)), 4, nonlinearity=None)
    l_d = InputLayer((None, 4))
    d = rng.standard_normal((3, 4)).astype("float32")
    out = get_output(InverseLayer(l_d, dense)).eval({l_d.input_var: d})
    np.testing.assert_allclose(out, d @ dense.W.get_value().T, rtol=1e-5)


def test_inverse_of_max_pool_routes_to_the_maxima():
    l_in = InputLayer((1, 1, 2, 2))
    pool = MaxPool2DLayer(l_in, 2)
    inverse = InverseLayer(pool, pool)
    out = get_output(inverse).eval({l_in.input_var: np.array([[[[1, 4], [3, 2]]]], "float32")})
    np.testing.assert_array_equal(out, [[[[0, 4], [0, 0]]]])


def test_inverse_refuses_mismatched_shapes_naming_the_layer():
    dense = DenseLayer(InputLayer((None, 5)), 4)
    with pytest.raises(ValueError, match="InverseLayer: the incoming shape"):
        InverseLayer(InputLayer((None, 3)), dense)
    with pytest.raises(ValueError, match="InverseLayer needs a layer with one input layer"):
        InverseLayer(InputLayer((None, 3)), InputLayer((None, 3)))
