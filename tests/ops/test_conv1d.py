"""convnet.ops.conv1d and Conv1DLayer against NumPy, finite differences and
every backend."""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from convnet.layers import Conv1DLayer, InputLayer, get_output
from convnet.ops.conv1d import conv1d
from convnet.theano_extensions.conv import conv1d_mc0, conv1d_sc
from tests.layers.conftest import run_layer_checks


def reference(x, w, pad, stride, flip, dilation=1):
    if flip:
        w = w[:, :, ::-1]
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad)))
    taps = (w.shape[2] - 1) * dilation + 1
    n_out = (x.shape[2] - taps) // stride + 1
    out = np.zeros((x.shape[0], w.shape[0], n_out))
    for i in range(n_out):
        window = x[:, :, i * stride:i * stride + taps:dilation]
        out[:, :, i] = np.einsum("bct,fct->bf", window, w)
    return out


@pytest.mark.parametrize("pad, stride, flip, dilation", [(0, 1, True, 1), (2, 2, False, 1), (1, 1, True, 2)])
def test_conv1d_matches_numpy(pad, stride, flip, dilation):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 11)), rng.standard_normal((4, 3, 3))
    out = conv1d(x, w, border_mode=pad, subsample=stride, filter_flip=flip, filter_dilation=dilation).eval()
    np.testing.assert_allclose(out, reference(x, w, pad, stride, flip, dilation), rtol=1e-10)
    assert conv1d_mc0 is conv1d and conv1d_sc is conv1d


def test_conv1d_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((1, 2, 7)), rng.standard_normal((3, 2, 3))
    pytensor.gradient.verify_grad(lambda a, b: conv1d(a, b, border_mode="half", subsample=2), [x, w],
                                  rng=np.random.default_rng(2), mode="FAST_COMPILE")
    with pytest.raises(ValueError, match="conv1d: input and filters must be 3-D"):
        conv1d(pt.tensor4(), pt.tensor3())


def test_conv1d_layer_on_every_backend(backend_mode):
    l_in = InputLayer((None, 3, 12))
    layer = Conv1DLayer(l_in, 4, 3, stride=2, pad="same", nonlinearity=None)
    x = np.random.default_rng(3).standard_normal((2, 3, 12)).astype("float32")
    out = pytensor.function([l_in.input_var], get_output(layer), mode=backend_mode)(x)
    expected = reference(x, layer.W.get_value(), 1, 2, True) + layer.b.get_value()[:, None]
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-5)
    assert out.shape[1:] == layer.output_shape[1:] == (4, 6)
    if backend_mode == "FAST_COMPILE":
        run_layer_checks(layer, l_in)


def test_conv1d_layer_refuses_bad_arguments_naming_the_layer():
    with pytest.raises(ValueError, match=r"Conv1DLayer: expected a 3-dimensional input"):
        Conv1DLayer(InputLayer((None, 3, 4, 4)), 2, 3)
    with pytest.raises(ValueError, match=r"Conv1DLayer 'c': filter_size must be positive"):
        Conv1DLayer(InputLayer((None, 3, 8)), 2, 0, name="c")
    with pytest.raises(ValueError, match=r"Conv1DLayer: filters span 9 columns .* padded input has only 8"):
        Conv1DLayer(InputLayer((None, 3, 8)), 2, 9)
