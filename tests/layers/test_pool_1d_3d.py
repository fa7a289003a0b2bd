"""Pool1DLayer, MaxPool1DLayer, Pool3DLayer, MaxPool3DLayer, Upscale1DLayer
and Upscale3DLayer against NumPy, on every backend."""
import inspect

import numpy as np
import pytensor
import pytest

from convnet.layers import (
    InputLayer,
    MaxPool1DLayer,
    MaxPool3DLayer,
    Pool1DLayer,
    Pool3DLayer,
    Upscale1DLayer,
    Upscale3DLayer,
    get_output,
)
from tests.ops.test_pool import reference_pool


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
    with pytest.raises(ValueError, match=r"^Pool3DLayer: expected a 5-dimensional input \(batch, channels, depth, "
                                         r"rows, columns\), got input shape \(None, 2, 4, 4\)"):
        Pool3DLayer(InputLayer((None, 2, 4, 4)), 2)
    with pytest.raises(ValueError, match=r"^MaxPool3DLayer 'p': pool_size must be 3 positive integers, "
                                         r"got pool_size=\(2, 2\)"):
        MaxPool3DLayer(InputLayer((None, 2, 4, 4, 4)), (2, 2), name="p")
    with pytest.raises(ValueError, match=r"^Pool3DLayer: pad must be smaller than pool_size on each axis, "
                                         r"got pad=\(2, 2, 2\) with pool_size=\(2, 2, 2\)"):
        Pool3DLayer(InputLayer((None, 2, 4, 4, 4)), 2, pad=2)
    with pytest.raises(ValueError, match=r"^Pool3DLayer: padding requires ignore_border=True"):
        Pool3DLayer(InputLayer((None, 2, 4, 4, 4)), 3, pad=(0, 1, 0), ignore_border=False)
    with pytest.raises(ValueError, match=r"^MaxPool3DLayer: with ignore_border=True the window must fit in the "
                                         r"padded input, got pool_size=\(2, 2, 2\) for pooled input lengths "
                                         r"\(1, 8, 8\)"):
        MaxPool3DLayer(InputLayer((None, 2, 1, 8, 8)), 2)
    with pytest.raises(ValueError, match=r"^Pool3DLayer: mode must be one of .*, got mode='average'"):
        Pool3DLayer(InputLayer((None, 2, 4, 4, 4)), 2, mode="average")
    with pytest.raises(ValueError, match=r"Upscale3DLayer: expected a 5-dimensional input"):
        Upscale3DLayer(InputLayer((None, 2, 4, 4)), 2)
    with pytest.raises(ValueError, match="Upscale1DLayer 'u': scale_factor must be positive"):
        Upscale1DLayer(InputLayer((None, 2, 4)), 0, name="u")


def test_pool3d_matches_the_reference_on_every_backend(backend_mode, check_layer):
    """Each Lasagne mode, with padding, overlap and partial windows, against the explicit-loop
    reference of tests/ops/test_pool.py; one compiled function per backend."""
    l_in = InputLayer((None, 2, 5, 6, 5))
    x = np.random.default_rng(3).standard_normal((2, 2, 5, 6, 5)).astype("float32")
    cases = [
        # layer, the reference's (ws, stride, pad, ignore_border, mode)
        (MaxPool3DLayer(l_in, 2), ((2, 2, 2), (2, 2, 2), (0, 0, 0), True, "max")),
        (MaxPool3DLayer(l_in, (2, 4, 3), ignore_border=False), ((2, 4, 3), (2, 4, 3), (0, 0, 0), False, "max")),
        (Pool3DLayer(l_in, (3, 2, 2), stride=(2, 2, 1), pad=(1, 0, 1), mode="average_inc_pad"),
         ((3, 2, 2), (2, 2, 1), (1, 0, 1), True, "average_inc_pad")),
        (Pool3DLayer(l_in, (2, 3, 2), stride=2, pad=(1, 1, 0), mode="average_exc_pad"),
         ((2, 3, 2), (2, 2, 2), (1, 1, 0), True, "average_exc_pad")),
        (Pool3DLayer(l_in, 2, stride=1, ignore_border=False, mode="average_exc_pad"),
         ((2, 2, 2), (1, 1, 1), (0, 0, 0), False, "average_exc_pad")),
    ]
    results = pytensor.function([l_in.input_var], [get_output(layer) for layer, _ in cases], mode=backend_mode)(x)
    for (layer, (ws, stride, pad, ignore_border, mode)), result in zip(cases, results):
        expected = reference_pool(x.astype("float64"), ws, stride, pad, ignore_border, mode)[0]
        assert layer.output_shape == (None, *expected.shape[1:]), layer
        np.testing.assert_allclose(np.asarray(result), expected, rtol=1e-5, atol=1e-6, err_msg=str(ws))
    if backend_mode == "FAST_COMPILE":
        for layer, _ in cases:
            check_layer(layer, l_in)


def test_pool3d_layers_have_lasagnes_signatures():
    def names_and_defaults(cls):
        return [(name, p.default) for name, p in inspect.signature(cls).parameters.items()]

    assert names_and_defaults(Pool3DLayer) == [
        ("incoming", inspect.Parameter.empty), ("pool_size", inspect.Parameter.empty), ("stride", None),
        ("pad", (0, 0, 0)), ("ignore_border", True), ("mode", "max"), ("kwargs", inspect.Parameter.empty)]
    assert names_and_defaults(MaxPool3DLayer) == [
        item for item in names_and_defaults(Pool3DLayer) if item[0] != "mode"]
    layer = MaxPool3DLayer(InputLayer((None, 1, 4, 4, 4)), 2)
    assert (layer.stride, layer.pad, layer.ignore_border, layer.mode) == ((2, 2, 2), (0, 0, 0), True, "max")
