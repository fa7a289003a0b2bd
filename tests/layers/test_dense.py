import numpy as np
import pytensor
import pytest
from pytensor.graph.traversal import ancestors
from pytensor.tensor.shape import Reshape, SpecifyShape

from convnet import init, nonlinearities
from convnet.layers import DenseLayer, InputLayer, NINLayer, get_output


def _compile(layer, l_in):
    return pytensor.function([l_in.input_var], get_output(layer), mode="FAST_COMPILE")


def _random(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


@pytest.mark.parametrize(
    "input_shape, num_leading_axes, output_shape",
    [
        ((None, 10), 1, (None, 7)),
        ((4, 10), 1, (4, 7)),
        ((None, 2, 3, 4), 1, (None, 7)),
        ((None, 5, 6), -1, (None, 5, 7)),
        ((None, 5, 6), 2, (None, 5, 7)),
        ((2, 3, 4), 0, (7,)),
    ],
)
def test_dense_shapes_and_gradients(check_layer, input_shape, num_leading_axes, output_shape):
    l_in = InputLayer(input_shape)
    # Linear: with the default rectifier, the 7 outputs of a single sample
    # (num_leading_axes=0) are all zero, and so is every gradient, whenever
    # the weights the global generator drew make them all negative (1 run in
    # 128, depending on the tests that ran before).
    layer = DenseLayer(l_in, 7, num_leading_axes=num_leading_axes, nonlinearity=nonlinearities.linear)
    assert layer.output_shape == output_shape
    check_layer(layer, l_in)


def test_dense_output_matches_numpy():
    l_in = InputLayer((None, 2, 3, 4))
    W, b = _random((24, 5), 1), _random(5, 2)
    layer = DenseLayer(l_in, 5, W=W, b=b, nonlinearity=nonlinearities.tanh)
    x = _random((3, 2, 3, 4))
    np.testing.assert_allclose(_compile(layer, l_in)(x), np.tanh(x.reshape(3, -1) @ W + b), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("num_leading_axes, input_size", [(1, 24), (2, 12)])
def test_dense_flattening_keeps_the_input_size_static(num_leading_axes, input_size):
    """The flattened input's last size is known to the graph, so W's gradient
    needs no runtime shape check (a SpecifyShape node) to match W."""
    l_in = InputLayer((None, 2, 3, 4))
    layer = DenseLayer(l_in, 5, num_leading_axes=num_leading_axes)
    output = get_output(layer)
    (flattened,) = [v for v in ancestors([output])
                    if v.owner and isinstance(v.owner.op, Reshape) and v.owner.inputs[0] is l_in.input_var]
    assert flattened.type.shape[num_leading_axes:] == (input_size,)
    grad = pytensor.grad(output.sum(), layer.W)
    assert not any(isinstance(v.owner.op, SpecifyShape) for v in ancestors([grad]) if v.owner)


def test_dense_negative_leading_axes_apply_to_last_axis():
    l_in = InputLayer((None, 4, 6))
    W = _random((6, 3), 1)
    layer = DenseLayer(l_in, 3, W=W, b=None, nonlinearity=None, num_leading_axes=-1)
    x = _random((2, 4, 6))
    np.testing.assert_allclose(_compile(layer, l_in)(x), x @ W, rtol=1e-5, atol=1e-6)


def test_dense_params_and_tags():
    layer = DenseLayer(InputLayer((None, 3, 4)), 5, name="fc")
    assert layer.W.get_value().shape == (12, 5)
    assert layer.b.get_value().shape == (5,)
    assert layer.get_params() == [layer.W, layer.b]
    assert layer.get_params(regularizable=True) == [layer.W]
    assert layer.get_params(trainable=True) == [layer.W, layer.b]
    assert layer.W.name == "fc.W"
    assert layer.nonlinearity is nonlinearities.rectify
    np.testing.assert_array_equal(layer.b.get_value(), 0)


def test_dense_without_bias_and_nonlinearity():
    layer = DenseLayer(InputLayer((None, 3)), 2, b=None, nonlinearity=None)
    assert layer.b is None
    assert layer.get_params() == [layer.W]
    assert layer.nonlinearity is nonlinearities.identity


@pytest.mark.parametrize(
    "input_shape, kwargs, message",
    [
        ((None, 10), {"num_leading_axes": 2}, r"num_leading_axes=2 for input shape \(None, 10\) leaves no"),
        ((None, 10), {"num_leading_axes": -3}, r"num_leading_axes=-3 for input shape \(None, 10\) asks"),
        ((None, None), {}, r"the trailing input dimensions \(None,\) \(input shape \(None, None\)"),
        ((None, 10), {"num_units": 0}, "num_units must be a positive integer, got num_units=0"),
    ],
    ids=["too-many-leading-axes", "too-few-leading-axes", "unknown-features", "no-units"],
)
def test_dense_bad_input_raises_naming_the_layer(input_shape, kwargs, message):
    kwargs = {"num_units": 3, **kwargs}
    with pytest.raises(ValueError, match=r"^DenseLayer 'fc1': " + message):
        DenseLayer(InputLayer(input_shape), name="fc1", **kwargs)


def test_dense_given_weights_of_wrong_shape():
    with pytest.raises(ValueError, match=r"DenseLayer 'fc1': .*\(10, 2\).*\(10, 3\)"):
        DenseLayer(InputLayer((None, 10)), 3, W=np.zeros((10, 2), "float32"), name="fc1")


@pytest.mark.parametrize(
    "input_shape, untie_biases",
    [((None, 4), False), ((None, 4, 5), False), ((None, 4, 5), True), ((2, 4, 3, 5), False),
     ((2, 4, 3, 5), True), ((None, 4, None, 3), False)],
)
def test_nin_shapes_and_gradients(check_layer, input_shape, untie_biases):
    l_in = InputLayer(input_shape)
    layer = NINLayer(l_in, 6, untie_biases=untie_biases, b=init.Normal())
    assert layer.output_shape == (input_shape[0], 6) + input_shape[2:]
    check_layer(layer, l_in)


@pytest.mark.parametrize("untie_biases", [False, True])
def test_nin_output_matches_numpy(untie_biases):
    l_in = InputLayer((None, 3, 4, 5))
    W = _random((3, 2), 1)
    b = _random((2, 4, 5) if untie_biases else (2,), 2)
    layer = NINLayer(l_in, 2, untie_biases=untie_biases, W=W, b=b, nonlinearity=None)
    x = _random((2, 3, 4, 5))
    bias = b[None] if untie_biases else b[None, :, None, None]
    expected = np.einsum("bchw,cu->buhw", x, W) + bias
    np.testing.assert_allclose(_compile(layer, l_in)(x), expected, rtol=1e-5, atol=1e-5)


def test_nin_params_and_tags():
    layer = NINLayer(InputLayer((None, 3, 4, 5)), 2, untie_biases=True)
    assert layer.W.get_value().shape == (3, 2)
    assert layer.b.get_value().shape == (2, 4, 5)
    assert layer.get_params(regularizable=True) == [layer.W]
    unbiased = NINLayer(InputLayer((None, 3, 4)), 2, b=None, nonlinearity=None)
    assert unbiased.b is None and unbiased.get_params() == [unbiased.W]
    assert unbiased.nonlinearity is nonlinearities.identity


@pytest.mark.parametrize(
    "input_shape, kwargs, message",
    [
        ((None, None, 4), {}, r"the number of input channels must be known, got input shape \(None, None, 4\)"),
        ((None, 3, None), {"untie_biases": True}, r"untie_biases=True needs known trailing dimensions, "
                                                   r"got input shape \(None, 3, None\)"),
        ((None,), {}, r"expected an input of shape \(batch, channels, ...\), got \(None,\)"),
    ],
    ids=["unknown-channels", "untied-unknown-positions", "1-d"],
)
def test_nin_bad_input_raises_naming_the_layer(input_shape, kwargs, message):
    with pytest.raises(ValueError, match=r"^NINLayer 'nin': " + message):
        NINLayer(InputLayer(input_shape), 2, name="nin", **kwargs)
