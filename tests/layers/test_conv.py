import inspect

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from convnet import init, nonlinearities
from convnet.layers import (
    BaseConvLayer,
    Conv2DLayer,
    Conv3DLayer,
    Deconv2DLayer,
    Deconv3DLayer,
    DilatedConv2DLayer,
    InputLayer,
    TransposedConv2DLayer,
    TransposedConv3DLayer,
    get_output,
)
from convnet.layers.dnn import Conv3DDNNLayer
from convnet.ops import conv2d, conv3d


def _random(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def _compile(layer, l_in):
    return pytensor.function([l_in.input_var], get_output(layer), mode="FAST_COMPILE")


def _dilate_filters(W, dilation):
    """Insert ``dilation - 1`` zeros between the taps of ``W`` (..., rows, columns)."""
    rows, columns = dilation
    dilated = np.zeros(W.shape[:-2] + ((W.shape[-2] - 1) * rows + 1, (W.shape[-1] - 1) * columns + 1), W.dtype)
    dilated[..., ::rows, ::columns] = W
    return dilated


def numpy_conv2d(x, W, pad=(0, 0), stride=(1, 1), dilation=(1, 1), flip=True):
    """Direct reference: zero-pad ``x``, then correlate with the (flipped,
    dilated) filters ``W`` of shape (out, in, rows, columns)."""
    if flip:
        W = W[:, :, ::-1, ::-1]
    W = _dilate_filters(W, dilation)
    x = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    windows = sliding_window_view(x, W.shape[2:], axis=(2, 3))[:, :, :: stride[0], :: stride[1]]
    return np.einsum("bcijkl,ockl->boij", windows, W)


# ----------------------------------------------------------------------------- Conv2DLayer


@pytest.mark.parametrize(
    "input_shape, kwargs",
    [
        ((None, 3, 8, 8), {"filter_size": 3}),
        ((2, 3, 7, 9), {"filter_size": (3, 2), "stride": 2, "pad": 1}),
        ((None, 2, 9, 6), {"filter_size": 5, "pad": "same", "stride": (2, 1)}),
        ((None, 2, 5, 5), {"filter_size": 3, "pad": "full", "untie_biases": True}),
        ((None, 1, 10, 10), {"filter_size": 3, "dilation": 2, "flip_filters": False}),
        ((None, 3, None, 6), {"filter_size": 3, "pad": "same"}),
    ],
)
def test_conv2d_shapes_and_gradients(check_layer, input_shape, kwargs):
    l_in = InputLayer(input_shape)
    check_layer(Conv2DLayer(l_in, num_filters=4, **kwargs), l_in)


@pytest.mark.parametrize("flip_filters", [True, False])
@pytest.mark.parametrize(
    "kwargs",
    [
        {"filter_size": 3},
        {"filter_size": (3, 2), "pad": (2, 1), "stride": (2, 3)},
        {"filter_size": 3, "pad": "full"},
        {"filter_size": 5, "pad": "same", "stride": 2},
        {"filter_size": 3, "pad": 1, "dilation": (2, 1)},
    ],
    ids=["valid", "pad-stride", "full", "same-strided", "dilated"],
)
def test_conv2d_output_matches_numpy(flip_filters, kwargs):
    l_in = InputLayer((None, 3, 9, 8))
    layer = Conv2DLayer(l_in, num_filters=4, W=init.Normal(), b=init.Normal(), nonlinearity=None,
                        flip_filters=flip_filters, **kwargs)
    x = _random((2, 3, 9, 8))
    W, b = layer.W.get_value(), layer.b.get_value()
    expected = numpy_conv2d(x, W, layer.pad_widths(), layer.stride, layer.dilation, flip_filters)
    expected += b[None, :, None, None]
    assert expected.shape[1:] == layer.output_shape[1:]
    np.testing.assert_allclose(_compile(layer, l_in)(x), expected, rtol=1e-4, atol=1e-4)


def test_conv2d_untied_biases_and_nonlinearity():
    l_in = InputLayer((None, 2, 5, 5))
    layer = Conv2DLayer(l_in, 3, 3, untie_biases=True, b=init.Normal(), nonlinearity=nonlinearities.tanh)
    assert layer.b.get_value().shape == (3, 3, 3)
    x = _random((2, 2, 5, 5))
    expected = np.tanh(numpy_conv2d(x, layer.W.get_value()) + layer.b.get_value()[None])
    np.testing.assert_allclose(_compile(layer, l_in)(x), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("filter_size", [1, 3, 5, 7])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_same_padding_output_size(filter_size, stride):
    for size in (1, 6, 7, 10):
        layer = Conv2DLayer(InputLayer((None, 1, size, size + 1)), 2, filter_size, stride=stride, pad="same")
        assert layer.pad_widths() == (filter_size // 2, filter_size // 2)
        assert layer.output_shape == (None, 2, -(-size // stride), -(-(size + 1) // stride))


def test_same_padding_compiled_size(check_layer):
    for filter_size, stride in [(3, 2), (5, 3), ((7, 1), (1, 2))]:
        l_in = InputLayer((None, 1, 7, 10))
        check_layer(Conv2DLayer(l_in, 2, filter_size, stride=stride, pad="same"), l_in)


def test_same_padding_with_dilation_keeps_size():
    layer = Conv2DLayer(InputLayer((None, 1, 9, 9)), 2, 3, dilation=3, pad="same")
    assert layer.pad_widths() == (3, 3)
    assert layer.output_shape == (None, 2, 9, 9)


def test_conv2d_params_and_tags():
    layer = Conv2DLayer(InputLayer((None, 3, 8, 8)), 5, (3, 2), name="conv1")
    assert layer.W.get_value().shape == layer.get_W_shape() == (5, 3, 3, 2)
    assert layer.b.get_value().shape == (5,)
    assert layer.get_params() == [layer.W, layer.b]
    assert layer.get_params(regularizable=True) == [layer.W]
    assert layer.get_params(trainable=True) == [layer.W, layer.b]
    assert layer.W.name == "conv1.W"
    assert layer.pad == (0, 0) and layer.stride == (1, 1) and layer.dilation == (1, 1)
    assert layer.flip_filters and layer.nonlinearity is nonlinearities.rectify
    unbiased = Conv2DLayer(InputLayer((None, 3, 8, 8)), 5, 3, b=None, nonlinearity=None, pad="valid")
    assert unbiased.get_params() == [unbiased.W] and unbiased.nonlinearity is nonlinearities.identity
    assert unbiased.pad == (0, 0)


def test_conv2d_uses_given_convolution():
    calls = []

    def convolution(input, filters, input_shape, filter_shape, **kwargs):
        calls.append((input_shape, filter_shape, kwargs))
        return conv2d(input, filters, input_shape, filter_shape, **kwargs)

    layer = Conv2DLayer(InputLayer((None, 3, 8, 8)), 5, 3, stride=2, pad="same", convolution=convolution)
    get_output(layer)
    assert calls == [((None, 3, 8, 8), (5, 3, 3, 3), {"border_mode": (1, 1), "subsample": (2, 2),
                                                      "filter_flip": True, "filter_dilation": (1, 1)})]


@pytest.mark.parametrize(
    "input_shape, kwargs, message",
    [
        ((None, 10), {}, r"expected a 4-dimensional input \(batch, channels, 2 spatial dimensions\), "
                         r"got input shape \(None, 10\)"),
        ((None, 3, 4, 4), {"filter_size": 5}, r"filters span 5 rows \(filter_dilation 1\) but the padded input has "
                                               r"only 4 \(padding 0\) \(input \(None, 3, 4, 4\), filters "
                                               r"\(4, 3, 5, 5\)\)"),
        ((None, 3, 4, 4), {"filter_size": 3, "dilation": 2, "pad": (0, 1)},
         r"filters span 5 rows \(filter_dilation 2\) but the padded input has only 4 \(padding 0\)"),
        ((None, None, 8, 8), {}, r"number of input channels must be known, got input shape \(None, None, 8, 8\)"),
        ((None, 3, 8, 8), {"num_filters": 0}, "num_filters must be a positive integer, got num_filters=0"),
        ((None, 3, 8, 8), {"stride": (1, 0)}, r"stride must be positive, got \(1, 0\)"),
        ((None, 3, 8, 8), {"filter_size": 2, "pad": "same"}, r"pad='same' needs odd filter sizes, got "
                                                              r"filter_size \(2, 2\)"),
        ((None, 3, 8, 8), {"pad": "half"}, "pad must be one of .*'same'.*got 'half'"),
        ((None, 3, 8, 8), {"pad": -1}, "pad must be non-negative, got -1"),
        ((None, 3, None, 8), {"untie_biases": True}, r"untie_biases=True needs a known output shape, got "
                                                     r"\(None, 4, None, 6\)"),
    ],
    ids=["2-d-input", "filter-too-big", "dilated-filter-too-big", "unknown-channels", "no-filters",
         "zero-stride", "same-even-filter", "bad-pad-mode", "negative-pad", "untied-unknown-size"],
)
def test_conv2d_bad_input_raises_naming_the_layer(input_shape, kwargs, message):
    kwargs = {"num_filters": 4, "filter_size": 3, **kwargs}
    with pytest.raises(ValueError, match=r"^Conv2DLayer 'conv1': .*" + message):
        Conv2DLayer(InputLayer(input_shape), name="conv1", **kwargs)


def test_conv2d_bad_shape_for_get_output_shape():
    from convnet.layers import get_output_shape

    l_in = InputLayer((None, 3, 8, 8))
    layer = Conv2DLayer(l_in, 4, 5, name="conv1")
    with pytest.raises(ValueError, match=r"filters span 5 rows .* padded input has only 3 .*\(input \(2, 3, 3, 8\)"):
        get_output_shape(layer, (2, 3, 3, 8))


def test_base_conv_layer_requires_convolve():
    layer = BaseConvLayer(InputLayer((None, 3, 8)), 2, 3)
    assert layer.output_shape == (None, 2, 6) and layer.get_W_shape() == (2, 3, 3)
    with pytest.raises(NotImplementedError, match="BaseConvLayer must implement convolve"):
        get_output(layer)


# ----------------------------------------------------------------------------- TransposedConv2DLayer


@pytest.mark.parametrize(
    "input_shape, kwargs",
    [
        ((None, 3, 4, 4), {"filter_size": 3}),
        ((2, 3, 4, 5), {"filter_size": (4, 3), "stride": 2, "crop": 1}),
        ((None, 2, 5, 5), {"filter_size": 3, "stride": (2, 3), "crop": "same", "untie_biases": True}),
        ((None, 2, 6, 6), {"filter_size": 3, "crop": "full", "flip_filters": True}),
        ((None, 2, 4, 4), {"filter_size": 3, "stride": 2, "output_size": 10}),
        ((None, 3, None, 5), {"filter_size": 3, "stride": 2}),
    ],
)
def test_transposed_conv2d_shapes_and_gradients(check_layer, input_shape, kwargs):
    l_in = InputLayer(input_shape)
    check_layer(TransposedConv2DLayer(l_in, num_filters=4, **kwargs), l_in)


@pytest.mark.parametrize("flip_filters", [False, True])
@pytest.mark.parametrize(
    "kwargs",
    [
        {"filter_size": 3},
        {"filter_size": (4, 3), "stride": (2, 3), "crop": (1, 2)},
        {"filter_size": 3, "stride": 2, "crop": "same"},
        {"filter_size": 3, "crop": "full"},
        {"filter_size": 3, "stride": 3, "output_size": (13, 17)},
    ],
    ids=["plain", "stride-crop", "same", "full", "output-size"],
)
def test_transposed_conv2d_is_the_gradient_of_conv2d(flip_filters, kwargs):
    """The layer's output equals the gradient, with respect to the input x,
    of sum(conv2d(x, W) * G) for the convolution it transposes, with G the
    layer's input."""
    l_in = InputLayer((None, 3, 4, 5))
    layer = TransposedConv2DLayer(l_in, num_filters=2, W=init.Normal(), b=None, nonlinearity=None,
                                  flip_filters=flip_filters, **kwargs)
    check_transposed_is_gradient(layer, l_in, conv2d)


def check_transposed_is_gradient(layer, l_in, convolve, batch=2):
    """The output of the transposed convolution ``layer`` equals the gradient,
    with respect to x, of sum(convolve(x, W) * G) with G the layer's input,
    for the convolution (by ``convolve``, conv2d or conv3d) it transposes."""
    x_shape = (batch,) + layer.output_shape[1:]
    x = pt.tensor("x", dtype="float32", shape=x_shape)
    conved = convolve(x, layer.W, x_shape, layer.get_W_shape(), border_mode=layer.pad_widths(),
                      subsample=layer.stride, filter_flip=not layer.flip_filters)
    G = l_in.input_var
    gradient = pytensor.grad(pt.sum(conved * G), x)
    fn = pytensor.function([x, G], [get_output(layer), gradient, conved], mode="FAST_COMPILE")
    G_value = _random((batch,) + l_in.shape[1:], 1)
    transposed, expected, conved_value = fn(_random(x_shape), G_value)
    assert conved_value.shape == G_value.shape  # the convolution maps the layer's output shape back
    np.testing.assert_allclose(transposed, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("flip_filters", [False, True])
def test_transposed_conv2d_places_a_copy_of_the_filter(flip_filters):
    """A single one in the input adds one copy of each filter, stride-spaced,
    to the output: turned by 180 degrees (the impulse response of a
    correlation) unless flip_filters."""
    l_in = InputLayer((1, 1, 2, 2))
    W = _random((1, 2, 3, 3))
    layer = TransposedConv2DLayer(l_in, 2, 3, stride=2, W=W, b=None, nonlinearity=None, flip_filters=flip_filters)
    x = np.zeros((1, 1, 2, 2), "float32")
    x[0, 0, 1, 0] = 1
    expected = np.zeros((1, 2, 5, 5), "float32")
    expected[0, :, 2:5, 0:3] = W[0] if flip_filters else W[0, :, ::-1, ::-1]
    np.testing.assert_allclose(_compile(layer, l_in)(x), expected, atol=1e-6)


def test_transposed_conv2d_params_and_alias():
    assert Deconv2DLayer is TransposedConv2DLayer
    layer = Deconv2DLayer(InputLayer((None, 6, 4, 4)), 3, (3, 5), stride=2, crop="same", untie_biases=True)
    assert layer.W.get_value().shape == layer.get_W_shape() == (6, 3, 3, 5)
    assert layer.output_shape == (None, 3, 7, 7)
    assert layer.b.get_value().shape == (3, 7, 7)
    assert layer.get_params(regularizable=True) == [layer.W]
    assert layer.crop == "same" and not layer.flip_filters


@pytest.mark.parametrize(
    "input_shape, kwargs, message",
    [
        ((None, 3, 4), {}, r"expected a 4-dimensional input .* got input shape \(None, 3, 4\)"),
        ((None, 3, 2, 2), {"crop": 2}, r"crop \(2, 2\) leaves no output"),
        ((None, 3, 4, 4), {"stride": 2, "output_size": 11}, r"output_size \(11, 11\) is not one that .* "
                                                            r"between \(9, 9\) and \(10, 10\)"),
        ((None, None, 4, 4), {}, "the number of input channels must be known"),
    ],
    ids=["3-d-input", "crop-too-big", "bad-output-size", "unknown-channels"],
)
def test_transposed_conv2d_bad_input_raises_naming_the_layer(input_shape, kwargs, message):
    with pytest.raises(ValueError, match=r"^TransposedConv2DLayer 'up': " + message):
        TransposedConv2DLayer(InputLayer(input_shape), 2, 3, name="up", **kwargs)


# ----------------------------------------------------------------------------- DilatedConv2DLayer


@pytest.mark.parametrize(
    "input_shape, kwargs",
    [
        ((None, 3, 9, 9), {"dilation": 2}),
        ((2, 2, 10, 8), {"dilation": (3, 1), "filter_size": (3, 2)}),
        ((None, 2, 7, 7), {"dilation": 2, "pad": "same", "untie_biases": True}),
    ],
)
def test_dilated_conv2d_shapes_and_gradients(check_layer, input_shape, kwargs):
    l_in = InputLayer(input_shape)
    check_layer(DilatedConv2DLayer(l_in, num_filters=4, **{"filter_size": 3, **kwargs}), l_in)


@pytest.mark.parametrize("flip_filters", [False, True])
@pytest.mark.parametrize("dilation, pad", [((2, 2), 0), ((3, 1), 0), ((2, 3), (1, 2))])
def test_dilated_conv2d_is_a_conv_with_zero_inserted_filters(flip_filters, dilation, pad):
    l_in = InputLayer((None, 3, 11, 10))
    dilated = DilatedConv2DLayer(l_in, 2, 3, dilation=dilation, pad=pad, W=init.Normal(), b=init.Normal(),
                                 nonlinearity=None, flip_filters=flip_filters)
    W = dilated.W.get_value()
    assert W.shape == (3, 2, 3, 3)
    zero_inserted = _dilate_filters(W.transpose(1, 0, 2, 3), dilation)
    plain = Conv2DLayer(l_in, 2, zero_inserted.shape[2:], pad=pad, W=zero_inserted, b=dilated.b,
                        nonlinearity=None, flip_filters=flip_filters)
    assert dilated.output_shape == plain.output_shape
    fn = pytensor.function([l_in.input_var], get_output([dilated, plain]), mode="FAST_COMPILE")
    x = _random((2, 3, 11, 10))
    out_dilated, out_plain = fn(x)
    np.testing.assert_allclose(out_dilated, out_plain, rtol=1e-4, atol=1e-4)
    expected = numpy_conv2d(x, W.transpose(1, 0, 2, 3), dilated.pad_widths(), dilation=dilation, flip=flip_filters)
    np.testing.assert_allclose(out_dilated, expected + dilated.b.get_value()[None, :, None, None],
                               rtol=1e-4, atol=1e-4)


def test_dilated_conv2d_params_and_errors():
    layer = DilatedConv2DLayer(InputLayer((None, 3, 9, 9)), 4, (3, 2), dilation=(2, 3))
    assert layer.W.get_value().shape == layer.get_W_shape() == (3, 4, 3, 2)
    assert layer.output_shape == (None, 4, 5, 6)
    assert layer.stride == (1, 1) and not layer.flip_filters
    assert layer.get_params(regularizable=False) == [layer.b]
    with pytest.raises(ValueError, match=r"^DilatedConv2DLayer 'dil': filters span 9 rows \(filter_dilation 4\) "
                                         r"but the padded input has only 8"):
        DilatedConv2DLayer(InputLayer((None, 3, 8, 8)), 4, 3, dilation=4, name="dil")
    with pytest.raises(ValueError, match=r"^DilatedConv2DLayer 'dil': dilation must be positive"):
        DilatedConv2DLayer(InputLayer((None, 3, 8, 8)), 4, 3, dilation=0, name="dil")


# ----------------------------------------------------------------------------- Conv3DLayer


def loop_conv3d(x, W, pad, stride, flip):
    """Explicit loops over output voxels: the (flipped) filter times the window of the padded input."""
    if flip:
        W = W[:, :, ::-1, ::-1, ::-1]
    x = np.pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in pad))
    sizes = [(n - k) // s + 1 for n, k, s in zip(x.shape[2:], W.shape[2:], stride)]
    out = np.zeros((x.shape[0], W.shape[0], *sizes))
    for b, o, i, j, k in np.ndindex(*out.shape):
        window = x[b, :, i * stride[0]:i * stride[0] + W.shape[2], j * stride[1]:j * stride[1] + W.shape[3],
                   k * stride[2]:k * stride[2] + W.shape[4]]
        out[b, o, i, j, k] = np.sum(window * W[o])
    return out


def test_conv3d_layer_follows_lasagne():
    """Lasagne 0.2's arguments, defaults, parameter shapes and output shape."""
    parameters = inspect.signature(Conv3DLayer).parameters
    assert list(parameters)[:11] == ["incoming", "num_filters", "filter_size", "stride", "pad", "untie_biases",
                                     "W", "b", "nonlinearity", "flip_filters", "convolution"]
    assert parameters["stride"].default == (1, 1, 1) and parameters["pad"].default == 0
    assert parameters["flip_filters"].default is True and parameters["convolution"].default is conv3d
    layer = Conv3DLayer(InputLayer((None, 2, 6, 7, 8)), 5, (3, 2, 1), stride=(1, 2, 3), pad="full",
                        untie_biases=True)
    assert layer.W.get_value().shape == layer.get_W_shape() == (5, 2, 3, 2, 1)
    assert layer.output_shape == (None, 5, 8, 4, 3)
    assert layer.b.get_value().shape == (5, 8, 4, 3)
    assert layer.nonlinearity is nonlinearities.rectify
    assert layer.get_params(regularizable=True) == [layer.W]


@pytest.mark.parametrize(
    "input_shape, kwargs",
    [
        ((None, 2, 4, 5, 4), {"filter_size": 3}),
        ((2, 1, 5, 4, 6), {"filter_size": (3, 2, 2), "stride": (2, 1, 2), "pad": 1}),
        ((None, 2, 5, 3, 4), {"filter_size": 3, "pad": "same", "untie_biases": True}),
        ((None, 1, 3, 4, None), {"filter_size": 2, "pad": "full", "flip_filters": False}),
        ((None, 1, 7, 5, 5), {"filter_size": 2, "dilation": (2, 1, 2)}),
    ],
)
def test_conv3d_shapes_and_gradients(check_layer, input_shape, kwargs):
    l_in = InputLayer(input_shape)
    check_layer(Conv3DLayer(l_in, num_filters=3, **kwargs), l_in)


@pytest.mark.parametrize("flip_filters", [True, False])
@pytest.mark.parametrize("pad, stride", [(0, (1, 1, 1)), ((1, 0, 2), (2, 1, 3)), ("same", (1, 2, 1)),
                                         ("full", (1, 1, 2))])
def test_conv3d_output_matches_loops(flip_filters, pad, stride):
    l_in = InputLayer((None, 2, 5, 4, 6))
    layer = Conv3DLayer(l_in, 3, (3, 1, 3), stride=stride, pad=pad, W=init.Normal(), b=init.Normal(),
                        nonlinearity=None, flip_filters=flip_filters)
    x = _random((2, 2, 5, 4, 6))
    expected = loop_conv3d(x, layer.W.get_value(), layer.pad_widths(), stride, flip_filters)
    expected += layer.b.get_value()[None, :, None, None, None]
    out = _compile(layer, l_in)(x)
    assert out.shape[1:] == layer.output_shape[1:]
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_conv3d_layers_on_every_backend(backend_mode):
    """Conv3DLayer and TransposedConv3DLayer (and their gradients) on each backend
    give the Python backend's numbers."""
    l_in = InputLayer((None, 2, 4, 5, 3))
    conv = Conv3DLayer(l_in, 3, (2, 3, 2), stride=(1, 2, 1), pad=(1, 1, 0), W=init.Normal())
    up = TransposedConv3DLayer(conv, 2, (2, 3, 2), stride=(1, 2, 1), crop=(1, 1, 0), W=init.Normal(),
                               output_size=l_in.shape[2:])
    assert up.output_shape == l_in.output_shape
    out = get_output(up)
    grads = pytensor.grad(out.sum(), [conv.W, up.W])
    x = _random((2, 2, 4, 5, 3), seed=1)
    reference = pytensor.function([l_in.input_var], [out, *grads], mode="FAST_COMPILE")(x)
    results = pytensor.function([l_in.input_var], [out, *grads], mode=backend_mode)(x)
    for result, expected in zip(results, reference):
        np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-4)


def test_conv3d_dnn_alias_correlates_by_default():
    l_in = InputLayer((None, 1, 3, 3, 3))
    layer = Conv3DDNNLayer(l_in, 1, 2, W=init.Normal(), b=None, nonlinearity=None)
    assert isinstance(layer, Conv3DLayer) and layer.flip_filters is False
    x = _random((1, 1, 3, 3, 3))
    expected = loop_conv3d(x, layer.W.get_value(), (0, 0, 0), (1, 1, 1), False)
    np.testing.assert_allclose(_compile(layer, l_in)(x), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "input_shape, kwargs, message",
    [
        ((None, 3, 8, 8), {}, r"expected a 5-dimensional input \(batch, channels, 3 spatial dimensions\), "
                              r"got input shape \(None, 3, 8, 8\)"),
        ((None, 3, 2, 8, 8), {}, r"filters span 3 planes \(filter_dilation 1\) but the padded input has only 2 "
                                 r"\(padding 0\) \(input \(None, 3, 2, 8, 8\), filters \(4, 3, 3, 3, 3\)\)"),
        ((None, 3, 8, 8, 8), {"stride": (1, 1)}, r"expected a single value or an iterable with length 3"),
        ((None, 3, 8, 8, 8), {"pad": "same", "filter_size": (3, 2, 3)}, r"pad='same' needs odd filter sizes"),
        ((None, None, 8, 8, 8), {}, "the number of input channels must be known"),
    ],
    ids=["4-d-input", "filter-too-big", "short-stride", "same-even-filter", "unknown-channels"],
)
def test_conv3d_bad_input_raises_naming_the_layer(input_shape, kwargs, message):
    with pytest.raises(ValueError, match=r"^Conv3DLayer 'c3': " + message):
        Conv3DLayer(InputLayer(input_shape), 4, **{"filter_size": 3, **kwargs}, name="c3")


# ----------------------------------------------------------------------------- TransposedConv3DLayer


def test_transposed_conv3d_follows_lasagne():
    assert Deconv3DLayer is TransposedConv3DLayer
    parameters = inspect.signature(TransposedConv3DLayer).parameters
    assert list(parameters)[:11] == ["incoming", "num_filters", "filter_size", "stride", "crop", "untie_biases",
                                     "W", "b", "nonlinearity", "flip_filters", "output_size"]
    assert parameters["stride"].default == (1, 1, 1) and parameters["flip_filters"].default is False
    layer = Deconv3DLayer(InputLayer((None, 6, 3, 4, 4)), 2, (3, 3, 1), stride=2, crop="same")
    assert layer.W.get_value().shape == layer.get_W_shape() == (6, 2, 3, 3, 1)
    assert layer.output_shape == (None, 2, 5, 7, 7)
    assert layer.crop == "same"


@pytest.mark.parametrize("flip_filters", [False, True])
@pytest.mark.parametrize("kwargs", [
    {"filter_size": 2},
    {"filter_size": (3, 2, 3), "stride": (2, 1, 3), "crop": (1, 0, 1)},
    {"filter_size": 3, "stride": 2, "crop": "full", "output_size": (4, 6, 4)},
], ids=["plain", "stride-crop", "full-output-size"])
def test_transposed_conv3d_is_the_gradient_of_conv3d(flip_filters, kwargs):
    """The layer's output is the gradient, with respect to x, of
    sum(conv3d(x, W) * G) with G the layer's input."""
    l_in = InputLayer((None, 2, 3, 4, 3))
    layer = TransposedConv3DLayer(l_in, num_filters=3, W=init.Normal(), b=None, nonlinearity=None,
                                  flip_filters=flip_filters, **kwargs)
    check_transposed_is_gradient(layer, l_in, conv3d)


def test_transposed_conv3d_places_a_copy_of_the_filter():
    l_in = InputLayer((1, 1, 2, 2, 2))
    W = _random((1, 2, 2, 3, 2))
    layer = TransposedConv3DLayer(l_in, 2, (2, 3, 2), stride=(3, 2, 2), W=W, b=None, nonlinearity=None,
                                  flip_filters=True)
    x = np.zeros((1, 1, 2, 2, 2), "float32")
    x[0, 0, 1, 0, 1] = 1
    expected = np.zeros((1, 2, 5, 5, 4), "float32")
    expected[0, :, 3:5, 0:3, 2:4] = W[0]
    np.testing.assert_allclose(_compile(layer, l_in)(x), expected, atol=1e-6)


def test_transposed_conv3d_shapes_and_gradients(check_layer):
    l_in = InputLayer((None, 2, 3, None, 3))
    check_layer(TransposedConv3DLayer(l_in, 3, 2, stride=(2, 1, 2), crop=(0, 1, 0), untie_biases=False), l_in)


@pytest.mark.parametrize(
    "input_shape, kwargs, message",
    [
        ((None, 3, 4, 4), {}, r"expected a 5-dimensional input"),
        ((None, 3, 2, 2, 2), {"crop": 2}, r"crop \(2, 2, 2\) leaves no output"),
        ((None, 3, 4, 4, 4), {"stride": 2, "output_size": (9, 9, 11)}, r"output_size \(9, 9, 11\) is not one "
                                                                       r"that .* between \(9, 9, 9\) and "
                                                                       r"\(10, 10, 10\)"),
    ],
    ids=["4-d-input", "crop-too-big", "bad-output-size"],
)
def test_transposed_conv3d_bad_input_raises_naming_the_layer(input_shape, kwargs, message):
    with pytest.raises(ValueError, match=r"^TransposedConv3DLayer 'up3': " + message):
        TransposedConv3DLayer(InputLayer(input_shape), 2, 3, name="up3", **kwargs)
