import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from convnet.layers import (
    FeaturePoolLayer,
    FeatureWTALayer,
    GlobalPoolLayer,
    InputLayer,
    MaxPool2DLayer,
    Pool2DLayer,
    Upscale2DLayer,
    get_output,
)


def _random(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def _compile(layer, l_in):
    return pytensor.function([l_in.input_var], get_output(layer), mode="FAST_COMPILE")


def numpy_pool2d(x, pool_size, stride, pad, mode):
    """Reference pooling of whole windows (``ignore_border=True``)."""
    pads = ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1]))
    padded = np.pad(x, pads, constant_values=-np.inf if mode == "max" else 0)
    inside = np.pad(np.ones(x.shape[2:]), pads[2:])  # 1 on input cells, 0 on padding
    windows = sliding_window_view(padded, pool_size, axis=(2, 3))[:, :, :: stride[0], :: stride[1]]
    counts = sliding_window_view(inside, pool_size)[:: stride[0], :: stride[1]].sum(axis=(2, 3))
    if mode == "max":
        return windows.max(axis=(4, 5))
    if mode == "sum":
        return windows.sum(axis=(4, 5))
    if mode == "average_inc_pad":
        return windows.mean(axis=(4, 5))
    if mode == "average_exc_pad":
        return windows.sum(axis=(4, 5)) / counts
    return np.sqrt((windows**2).sum(axis=(4, 5)))  # l2


# ----------------------------------------------------------------------------- Pool2DLayer


@pytest.mark.parametrize(
    "input_shape, kwargs, output_shape",
    [
        ((None, 3, 8, 8), {"pool_size": 2}, (None, 3, 4, 4)),
        ((2, 3, 7, 9), {"pool_size": 3, "stride": 2, "mode": "average_inc_pad"}, (2, 3, 3, 4)),
        ((None, 2, 7, 7), {"pool_size": 3, "stride": 2, "pad": 1, "mode": "average_exc_pad"}, (None, 2, 4, 4)),
        ((None, 2, 7, 5), {"pool_size": (3, 2), "ignore_border": False, "mode": "sum"}, (None, 2, 3, 3)),
        ((None, 1, 6, 6), {"pool_size": 2, "stride": 1, "mode": "l2"}, (None, 1, 5, 5)),
        ((None, 2, None, 6), {"pool_size": 2}, (None, 2, None, 3)),
    ],
)
def test_pool2d_shapes(check_layer, input_shape, kwargs, output_shape):
    l_in = InputLayer(input_shape)
    layer = Pool2DLayer(l_in, **kwargs)
    assert layer.output_shape == output_shape
    check_layer(layer, l_in)


@pytest.mark.parametrize("mode", ["max", "sum", "average_inc_pad", "average_exc_pad", "l2"])
@pytest.mark.parametrize("pool_size, stride, pad", [((2, 2), None, (0, 0)), ((3, 2), (2, 1), (1, 1))])
def test_pool2d_output_matches_numpy(mode, pool_size, stride, pad):
    l_in = InputLayer((None, 2, 7, 6))
    layer = Pool2DLayer(l_in, pool_size, stride=stride, pad=pad, mode=mode)
    x = _random((3, 2, 7, 6))
    expected = numpy_pool2d(x, pool_size, stride or pool_size, pad, mode)
    assert expected.shape[1:] == layer.output_shape[1:]
    np.testing.assert_allclose(_compile(layer, l_in)(x), expected, rtol=1e-5, atol=1e-6)


def test_max_pool2d_is_reshape_max():
    l_in = InputLayer((None, 3, 6, 8))
    layer = MaxPool2DLayer(l_in, pool_size=(3, 2))
    assert layer.mode == "max" and layer.stride == (3, 2) and layer.ignore_border
    x = _random((2, 3, 6, 8))
    expected = x.reshape(2, 3, 2, 3, 4, 2).max(axis=(3, 5))
    np.testing.assert_allclose(_compile(layer, l_in)(x), expected)


@pytest.mark.parametrize(
    "input_shape, kwargs, message",
    [
        ((None, 3, 8), {}, r"expected a 4-dimensional input \(batch, channels, rows, columns\), "
                           r"got input shape \(None, 3, 8\)"),
        ((None, 3, 4, 4), {"pool_size": 5},
         r"with ignore_border=True the window must fit in the padded input, got pool_size=\(5, 5\) for pooled "
         r"input lengths \(4, 4\) padded by pad=\(0, 0\) to \(4, 4\)"),
        ((None, 3, 8, 8), {"pad": 2}, r"pad must be smaller than pool_size on each axis, got pad=\(2, 2\) with "
                                      r"pool_size=\(2, 2\)"),
        ((None, 3, 8, 8), {"pool_size": 3, "pad": 1, "ignore_border": False},
         r"padding requires ignore_border=True \(as in Theano\), got ignore_border=False with pad=\(1, 1\)"),
        ((None, 3, 8, 8), {"mode": "average"}, "mode must be one of .*got mode='average'"),
        ((None, 3, 8, 8), {"stride": 0}, r"stride must be positive, got stride=\(0, 0\)"),
        ((None, 3, 8, 8), {"pool_size": (2, 2, 2)}, r"pool_size must be 2 positive integers, got pool_size=\(2, 2, 2\)"),
        ((None, 3, 8, 8), {"pad": -1}, r"pad must be non-negative, got pad=\(-1, -1\)"),
    ],
    ids=["3-d-input", "region-too-big", "pad-too-big", "pad-without-ignore-border", "bad-mode", "zero-stride",
         "pool-size-length", "negative-pad"],
)
def test_pool2d_bad_input_raises_naming_the_layer(input_shape, kwargs, message):
    kwargs = {"pool_size": 2, **kwargs}
    with pytest.raises(ValueError, match=r"^Pool2DLayer 'pool1': " + message):
        Pool2DLayer(InputLayer(input_shape), name="pool1", **kwargs)


# ----------------------------------------------------------------------------- GlobalPoolLayer


@pytest.mark.parametrize("input_shape", [(None, 3, 5), (None, 3, 4, 5), (2, 3, 2, 3, 4), (None, 3, None, 4)])
@pytest.mark.parametrize("pool_function, numpy_function", [(pt.mean, np.mean), (pt.max, np.max)])
def test_global_pool_matches_numpy(check_layer, input_shape, pool_function, numpy_function):
    l_in = InputLayer(input_shape)
    layer = GlobalPoolLayer(l_in, pool_function=pool_function)
    assert layer.output_shape == input_shape[:2]
    check_layer(layer, l_in)
    x = _random(tuple(4 if d is None else d for d in input_shape))
    expected = numpy_function(x, axis=tuple(range(2, x.ndim)))
    np.testing.assert_allclose(_compile(layer, l_in)(x), expected, rtol=1e-5, atol=1e-6)


def test_global_pool_needs_three_dimensions():
    with pytest.raises(ValueError, match=r"^GlobalPoolLayer 'gp': expected an input of 3 or more dimensions .* "
                                         r"got input shape \(None, 3\)"):
        GlobalPoolLayer(InputLayer((None, 3)), name="gp")


# ----------------------------------------------------------------------------- Upscale2DLayer


@pytest.mark.parametrize("input_shape", [(None, 2, 3, 4), (2, 1, 1, 5), (None, 2, None, 3)])
@pytest.mark.parametrize("scale_factor", [2, (1, 3), (3, 2)])
def test_upscale_repeat_matches_numpy(check_layer, input_shape, scale_factor):
    l_in = InputLayer(input_shape)
    layer = Upscale2DLayer(l_in, scale_factor)
    check_layer(layer, l_in)
    rows, columns = (scale_factor, scale_factor) if isinstance(scale_factor, int) else scale_factor
    x = _random(tuple(3 if d is None else d for d in input_shape))
    expected = np.repeat(np.repeat(x, rows, axis=2), columns, axis=3)
    np.testing.assert_array_equal(_compile(layer, l_in)(x), expected)


def test_upscale_dilate_places_values_in_block_corners(check_layer):
    l_in = InputLayer((None, 2, 3, 4))
    layer = Upscale2DLayer(l_in, (2, 3), mode="dilate")
    assert layer.output_shape == (None, 2, 6, 12)
    check_layer(layer, l_in)
    x = _random((2, 2, 3, 4))
    expected = np.zeros((2, 2, 6, 12), "float32")
    expected[:, :, ::2, ::3] = x
    np.testing.assert_array_equal(_compile(layer, l_in)(x), expected)


@pytest.mark.parametrize(
    "input_shape, kwargs, message",
    [
        ((None, 2, 3, 4), {"scale_factor": (1, 0)}, r"scale_factor must be positive, got \(1, 0\)"),
        ((None, 2, 3, 4), {"mode": "nearest"}, "mode must be 'repeat' or 'dilate', got 'nearest'"),
        ((None, 2, 3), {}, r"expected a 4-dimensional input .* got input shape \(None, 2, 3\)"),
    ],
    ids=["zero-scale", "bad-mode", "3-d-input"],
)
def test_upscale_bad_input_raises_naming_the_layer(input_shape, kwargs, message):
    kwargs = {"scale_factor": 2, **kwargs}
    with pytest.raises(ValueError, match=r"^Upscale2DLayer 'up': " + message):
        Upscale2DLayer(InputLayer(input_shape), name="up", **kwargs)


# ----------------------------------------------------------------------------- FeaturePoolLayer


@pytest.mark.parametrize(
    "input_shape, pool_size, axis",
    [((None, 6), 3, 1), ((None, 6, 4, 5), 2, 1), ((2, 3, 8), 4, -1), ((None, 4, 6, 5), 3, 2), ((None, 1, 9), 1, 1)],
)
def test_maxout_matches_numpy_reshape_max(check_layer, input_shape, pool_size, axis):
    l_in = InputLayer(input_shape)
    layer = FeaturePoolLayer(l_in, pool_size, axis=axis)
    check_layer(layer, l_in)
    x = _random(tuple(2 if d is None else d for d in input_shape))
    axis %= x.ndim
    grouped_shape = x.shape[:axis] + (x.shape[axis] // pool_size, pool_size) + x.shape[axis + 1:]
    expected = x.reshape(grouped_shape).max(axis=axis + 1)
    assert layer.output_shape[axis] == x.shape[axis] // pool_size
    np.testing.assert_array_equal(_compile(layer, l_in)(x), expected)


def test_feature_pool_with_mean():
    l_in = InputLayer((None, 6, 2))
    layer = FeaturePoolLayer(l_in, 2, pool_function=pt.mean)
    x = _random((3, 6, 2))
    np.testing.assert_allclose(_compile(layer, l_in)(x), x.reshape(3, 3, 2, 2).mean(axis=2), rtol=1e-6)


def test_feature_pool_with_unknown_axis_length(check_layer):
    l_in = InputLayer((None, None, 3))
    layer = FeaturePoolLayer(l_in, 3, axis=2)
    assert layer.output_shape == (None, None, 1)
    check_layer(layer, l_in)


@pytest.mark.parametrize("layer_class", [FeaturePoolLayer, FeatureWTALayer])
def test_feature_pool_bad_input_raises_naming_the_layer(layer_class):
    name = layer_class.__name__
    with pytest.raises(ValueError, match=rf"^{name} 'maxout': the input's axis 1 has 10 features, not a multiple "
                                         r"of pool_size=3 \(input shape \(None, 10, 4\)\)"):
        layer_class(InputLayer((None, 10, 4)), 3, name="maxout")
    with pytest.raises(ValueError, match=rf"^{name} 'maxout': axis 3 is out of range for input shape \(None, 10, 4\)"):
        layer_class(InputLayer((None, 10, 4)), 2, axis=3, name="maxout")
    with pytest.raises(ValueError, match=rf"^{name} 'maxout': pool_size must be positive, got 0"):
        layer_class(InputLayer((None, 10, 4)), 0, name="maxout")


# ----------------------------------------------------------------------------- FeatureWTALayer


@pytest.mark.parametrize(
    "input_shape, pool_size, axis", [((None, 6), 3, 1), ((None, 4, 3, 2), 2, 1), ((2, 3, 6), 3, -1)]
)
def test_feature_wta_matches_numpy(check_layer, input_shape, pool_size, axis):
    l_in = InputLayer(input_shape)
    layer = FeatureWTALayer(l_in, pool_size, axis=axis)
    assert layer.output_shape == input_shape
    check_layer(layer, l_in)
    x = _random(tuple(3 if d is None else d for d in input_shape))
    axis %= x.ndim
    grouped = x.reshape(x.shape[:axis] + (x.shape[axis] // pool_size, pool_size) + x.shape[axis + 1:])
    winners = grouped == grouped.max(axis=axis + 1, keepdims=True)
    expected = np.where(winners, grouped, 0).reshape(x.shape)
    np.testing.assert_array_equal(_compile(layer, l_in)(x), expected)
