"""LocallyConnected2DLayer against explicit loops, on every backend."""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from convnet import init, nonlinearities
from convnet.layers import InputLayer, LocallyConnected2DLayer, get_output
from convnet.layers.local import LocalConnection2D


def _random(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def numpy_local(x, W, b, pad_before, stride, flip, channelwise, untie_biases):
    """Loops straight from the definition: every output position weighs its
    own window of the zero-padded input with its own filters."""
    batch, channels, rows, cols = x.shape
    num_filters, fh, fw, out_rows, out_cols = W.shape[0], W.shape[-4], W.shape[-3], W.shape[-2], W.shape[-1]
    out = np.zeros((batch, num_filters, out_rows, out_cols), dtype=np.float64)
    for n in range(batch):
        for f in range(num_filters):
            for y in range(out_rows):
                for x_ in range(out_cols):
                    total = 0.0
                    for c in ([f] if channelwise else range(channels)):
                        for i in range(fh):
                            for j in range(fw):
                                r = y * stride[0] + i - pad_before[0]
                                s = x_ * stride[1] + j - pad_before[1]
                                if not (0 <= r < rows and 0 <= s < cols):
                                    continue
                                ti, tj = (fh - 1 - i, fw - 1 - j) if flip else (i, j)
                                w = W[f, ti, tj, y, x_] if channelwise else W[f, c, ti, tj, y, x_]
                                total += x[n, c, r, s] * w
                    out[n, f, y, x_] = total + (b[f, y, x_] if untie_biases else b[f])
    return out


CASES = [
    # input shape, kwargs, zeros before (rows, columns)
    ((None, 2, 5, 4), {"filter_size": 3}, (1, 1)),
    ((None, 3, 4, 5), {"filter_size": (3, 5), "flip_filters": False, "untie_biases": True}, (1, 2)),
    ((None, 2, 5, 5), {"filter_size": 3, "channelwise": True, "num_filters": 2}, (1, 1)),
    ((None, 2, 6, 5), {"filter_size": 3, "stride": 2, "pad": "valid"}, (0, 0)),
    ((None, 1, 3, 4), {"filter_size": 2, "pad": "full", "stride": (1, 2)}, (1, 1)),
    ((None, 2, 4, 4), {"filter_size": 3, "pad": (2, 0), "channelwise": True, "num_filters": 2,
                       "flip_filters": False}, (2, 0)),
]


def _check_against_loops(input_shape, kwargs, pad_before, mode, check_layer):
    kwargs = {"num_filters": 3, "nonlinearity": None, "b": init.Normal(1.0), **kwargs}
    l_in = InputLayer(input_shape)
    layer = LocallyConnected2DLayer(l_in, **kwargs)
    x = _random((2,) + input_shape[1:])
    out = pytensor.function([l_in.input_var], get_output(layer), mode=mode)(x)
    assert out.shape == (2,) + layer.output_shape[1:]
    expected = numpy_local(x, layer.W.get_value(), layer.b.get_value(), pad_before, layer.stride,
                           layer.flip_filters, layer.channelwise, layer.untie_biases)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    check_layer(layer, l_in, batch=2, mode=mode)


@pytest.mark.parametrize("input_shape, kwargs, pad_before", CASES)
def test_matches_loops_with_declared_shape_and_gradients(input_shape, kwargs, pad_before, check_layer):
    _check_against_loops(input_shape, kwargs, pad_before, "FAST_COMPILE", check_layer)


@pytest.mark.parametrize("case", [CASES[1], CASES[5]], ids=["untied", "channelwise"])
def test_every_backend_matches_loops(case, backend_mode, check_layer):
    # (two cases only: a Numba compile of the layer and its gradient takes a minute)
    _check_against_loops(*case, backend_mode, check_layer)


def test_lasagne_shapes_and_defaults():
    layer = LocallyConnected2DLayer(InputLayer((None, 3, 7, 6)), 5, 3)
    assert layer.output_shape == (None, 5, 7, 6)
    assert layer.W.get_value().shape == (5, 3, 3, 3, 7, 6)
    assert layer.b.get_value().shape == (5,)
    assert layer.nonlinearity is nonlinearities.rectify and layer.flip_filters
    assert layer.stride == (1, 1) and layer.pad == "same"
    assert layer.params[layer.b] == {"trainable"}


def test_gradients_match_finite_differences(check_gradients):
    l_in = InputLayer((None, 2, 3, 4))
    for channelwise in (False, True):
        layer = LocallyConnected2DLayer(l_in, 2, 3, nonlinearity=None, b=None, channelwise=channelwise)
        W_shape = layer.get_W_shape()

        def local(x, W, layer=layer):
            layer.W = W
            return layer.get_output_for(x)

        rng = np.random.default_rng(0)
        check_gradients(local, [rng.standard_normal((2, 2, 3, 4)), rng.standard_normal(W_shape)])


def test_bad_arguments_are_refused_naming_the_layer():
    cases = [
        (((None, 3, 8, 8), 4, 3), {"channelwise": True}, "num_filters equal to the 3 input channels"),
        (((None, 3, None, 8), 4, 3), {}, "rows and columns must be known"),
        (((None, None, 8, 8), 4, 3), {}, "input channels must be known"),
        (((None, 3, 8), 4, 3), {}, "4-dimensional"),
        (((None, 3, 8, 8), 4, 0), {}, "filter_size must be positive"),
        (((None, 3, 8, 8), 4, 3), {"stride": 0}, "stride must be positive"),
        (((None, 3, 8, 8), 4, 3), {"pad": "half"}, "pad must be one of"),
        (((None, 3, 8, 8), 4, (3, 2)), {}, r"pad='same' needs odd filter sizes, got filter_size \(3, 2\)"),
        (((None, 3, 8, 8), 4, 3), {"pad": -1}, "pad must be non-negative"),
        (((None, 3, 2, 2), 4, 3), {"pad": "valid"}, "larger than the input"),
        (((None, 3, 8, 8), 0, 3), {}, "num_filters must be a positive integer"),
    ]
    for args, kwargs, message in cases:
        with pytest.raises(ValueError, match=f"^LocallyConnected2DLayer.*{message}"):
            LocallyConnected2DLayer(*args, **kwargs)


def test_geometry_output_size_is_ceil_of_input_over_stride_for_same():
    for size in range(1, 7):
        for f in (1, 3, 5):
            for s in (1, 2, 3):
                if f > size + 2 * (f // 2):
                    continue
                geometry = LocalConnection2D.from_arguments((size, size), f, s, "same")
                assert geometry.output_size == (-(-size // s),) * 2


def test_weights_given_as_an_expression_are_used():
    l_in = InputLayer((None, 1, 3, 3))
    W = pt.constant(np.ones((1, 1, 1, 1, 3, 3), "float32"))
    layer = LocallyConnected2DLayer(l_in, 1, 1, W=W, b=None, nonlinearity=None)
    x = _random((2, 1, 3, 3))
    np.testing.assert_allclose(pytensor.function([l_in.input_var], get_output(layer), mode="FAST_COMPILE")(x), x)
