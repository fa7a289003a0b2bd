"""Pool1DLayer, MaxPool1DLayer, Upscale1DLayer and Upscale3DLayer against
NumPy, on every backend."""
import numpy as np
import pytensor
import pytest

from convnet.layers import (
    InputLayer,
    MaxPool1DLayer,
    Pool1DLayer,
    Upscale1DLayer,
    Upscale3DLayer,
    get_output,
)


def _run(layer, l_in, x, mode):
    return np.asarray(pytensor.function([l_in.input_var], get_output(layer), mode=mode)(x))


def test_pool1d_matches_numpy(backend_mode, check_layer):
    l_in = InputLayer((None, 2, 9))
    x = np.random.default_rng(0).standard_normal((3, 2, 9)).astype("float32")
    max_layer = MaxPool1DLayer(l_in, 3, stride=2)
    expected = np.stack([x[:, :, i:i + 3].max(-1) for i in range(0, 7, 2)], axis=-1)
    np.testing.assert_allclose(_run(max_layer, l_in, x, backend_mode), expected)
    assert max_layer.output_shape == (None, 2, 4)
    avg = Pool1DLayer(l_in, 2, pad=1, mode="average_inc_pad")
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1)))
    expected = np.stack([padded[:, :, i:i + 2].mean(-1) for i in range(0, 10, 2)], axis=-1)
    np.testing.assert_allclose(_run(avg, l_in, x, backend_mode), expected, rtol=1e-6)
    partial = MaxPool1DLayer(l_in, 4, ignore_border=False)
    assert _run(partial, l_in, x, backend_mode).shape == (3, 2, 3) and partial.output_shape == (None, 2, 3)
    if backend_mode == "FAST_COMPILE":
        check_layer(max_layer, l_in)


def test_upscale_1d_and_3d_match_numpy(backend_mode):
    l1 = InputLayer((None, 2, 4))
    x1 = np.random.default_rng(1).standard_normal((2, 2, 4)).astype("float32")
    np.testing.assert_array_equal(_run(Upscale1DLayer(l1, 3), l1, x1, backend_mode), np.repeat(x1, 3, axis=2))
    l3 = InputLayer((None, 2, 2, 3, 2))
    x3 = np.random.default_rng(2).standard_normal((1, 2, 2, 3, 2)).astype("float32")
    up = Upscale3DLayer(l3, (2, 1, 3))
    expected = np.repeat(np.repeat(x3, 2, axis=2), 3, axis=4)
    np.testing.assert_array_equal(_run(up, l3, x3, backend_mode), expected)
    assert up.output_shape == (None, 2, 4, 3, 6)
    dilated = _run(Upscale3DLayer(l3, 2, mode="dilate"), l3, x3, backend_mode)
    np.testing.assert_array_equal(dilated[:, :, ::2, ::2, ::2], x3)
    assert dilated.sum() == pytest.approx(x3.sum(), rel=1e-5)


def test_bad_arguments_are_refused_naming_the_layer():
    with pytest.raises(ValueError, match=r"Pool1DLayer: expected a 3-dimensional input \(batch, channels, length\)"):
        Pool1DLayer(InputLayer((None, 2, 4, 4)), 2)
    with pytest.raises(ValueError, match="MaxPool1DLayer: pad"):
        MaxPool1DLayer(InputLayer((None, 2, 8)), 2, pad=2)
    with pytest.raises(ValueError, match=r"Upscale3DLayer: expected a 5-dimensional input"):
        Upscale3DLayer(InputLayer((None, 2, 4, 4)), 2)
    with pytest.raises(ValueError, match="Upscale1DLayer 'u': scale_factor must be positive"):
        Upscale1DLayer(InputLayer((None, 2, 4)), 0, name="u")
