"""SpatialPyramidPoolingLayer against a NumPy reference of He et al.'s bins."""
import numpy as np
import pytensor
import pytest

from convnet.layers import InputLayer, SpatialPyramidPoolingLayer, get_output
from tests.layers.conftest import run_layer_checks


def reference(x, pool_dims, reduce):
    """Kaiming's bins: [floor(i s / n), ceil((i + 1) s / n)) on each axis."""
    h, w = x.shape[2:]
    out = []
    for n in pool_dims:
        for r in range(n):
            for c in range(n):
                rows = slice(int(np.floor(r * h / n)), int(np.ceil((r + 1) * h / n)))
                cols = slice(int(np.floor(c * w / n)), int(np.ceil((c + 1) * w / n)))
                out.append(reduce(x[:, :, rows, cols], axis=(2, 3)))
    return np.stack(out, axis=2)


@pytest.mark.parametrize("mode, reduce", [("max", np.max), ("average_exc_pad", np.mean)])
def test_kaiming_bins_for_any_input_size(mode, reduce):
    l_in = InputLayer((None, 2, None, None))
    layer = SpatialPyramidPoolingLayer(l_in, [3, 2, 1], mode=mode, implementation="kaiming")
    f = pytensor.function([l_in.input_var], get_output(layer), mode="FAST_COMPILE")
    for size in [(7, 5), (3, 4), (12, 12)]:
        x = np.random.default_rng(sum(size)).standard_normal((2, 2) + size).astype("float32")
        out = f(x)
        assert out.shape == (2, 2, 14)
        np.testing.assert_allclose(out, reference(x, [3, 2, 1], reduce), rtol=1e-5)


def test_fast_implementation_matches_the_bins_when_the_size_divides(backend_mode):
    l_in = InputLayer((None, 3, 8, 8))
    layer = SpatialPyramidPoolingLayer(l_in, [4, 2, 1])
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype("float32")
    out = pytensor.function([l_in.input_var], get_output(layer), mode=backend_mode)(x)
    np.testing.assert_allclose(np.asarray(out), reference(x, [4, 2, 1], np.max))
    assert layer.output_shape == (None, 3, 21)
    if backend_mode == "FAST_COMPILE":
        run_layer_checks(layer, l_in)


def test_bad_arguments_are_refused_naming_the_layer():
    with pytest.raises(ValueError, match="SpatialPyramidPoolingLayer: implementation='fast' needs known rows"):
        SpatialPyramidPoolingLayer(InputLayer((None, 3, None, 8)))
    with pytest.raises(ValueError, match="SpatialPyramidPoolingLayer: implementation='fast' needs rows and columns"):
        SpatialPyramidPoolingLayer(InputLayer((None, 3, 3, 8)), [4])
    with pytest.raises(ValueError, match="SpatialPyramidPoolingLayer 's': pool_dims"):
        SpatialPyramidPoolingLayer(InputLayer((None, 3, 8, 8)), [0], name="s")
    with pytest.raises(ValueError, match="SpatialPyramidPoolingLayer: mode"):
        SpatialPyramidPoolingLayer(InputLayer((None, 3, 8, 8)), mode="l2")
