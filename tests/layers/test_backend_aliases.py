"""lasagne.layers.dnn / corrmm / cuda_convnet names: the portable layers
with those layers' defaults, and cuda-convnet's c01b layout."""
import numpy as np
import pytensor
import pytest

from convnet.layers import (
    Conv2DLayer,
    InputLayer,
    MaxPool2DLayer,
    MaxPool3DLayer,
    NINLayer,
    Pool3DLayer,
    get_output,
)
from convnet.layers.corrmm import Conv2DMMLayer
from convnet.layers.cuda_convnet import (
    Conv2DCCLayer,
    MaxPool2DCCLayer,
    NINLayer_c01b,
    bc01_to_c01b,
    c01b_to_bc01,
)
from convnet.layers.dnn import (
    BatchNormDNNLayer,
    Conv2DDNNLayer,
    MaxPool2DDNNLayer,
    MaxPool3DDNNLayer,
    Pool2DDNNLayer,
    Pool3DDNNLayer,
    SpatialPyramidPoolingDNNLayer,
    batch_norm_dnn,
)

X = np.random.default_rng(0).standard_normal((2, 3, 7, 7)).astype("float32")


def _run(layer, l_in, x=X, mode="FAST_COMPILE"):
    return pytensor.function([l_in.input_var], get_output(layer), mode=mode)(x)


def test_dnn_and_corrmm_layers_correlate_by_default():
    l_in = InputLayer((None, 3, 7, 7))
    for cls in (Conv2DDNNLayer, Conv2DMMLayer):
        alias = cls(l_in, 4, 3, pad="same")
        plain = Conv2DLayer(l_in, 4, 3, pad="same", W=alias.W[:, :, ::-1, ::-1], b=alias.b)
        assert not alias.flip_filters
        np.testing.assert_allclose(_run(alias, l_in), _run(plain, l_in), rtol=1e-5, atol=1e-6)
    pooled = MaxPool2DDNNLayer(l_in, 2)
    np.testing.assert_array_equal(_run(pooled, l_in), _run(MaxPool2DLayer(l_in, 2), l_in))
    assert Pool2DDNNLayer(l_in, 3, stride=2, pad=1, mode="average_exc_pad").output_shape == (None, 3, 4, 4)
    spp = SpatialPyramidPoolingDNNLayer(l_in, [2, 1])
    assert spp.implementation == "fast" and _run(spp, l_in).shape == (2, 3, 5)
    assert BatchNormDNNLayer is not None and batch_norm_dnn(Conv2DDNNLayer(l_in, 4, 3)).name is None


def test_dnn_3d_pool_layers_are_the_3d_pool_layers():
    l_in = InputLayer((None, 2, 4, 5, 5))
    x = np.random.default_rng(1).standard_normal((2, 2, 4, 5, 5)).astype("float32")
    pooled = MaxPool3DDNNLayer(l_in, 2)
    assert (pooled.pool_size, pooled.stride, pooled.pad, pooled.ignore_border, pooled.mode) == (
        (2, 2, 2), (2, 2, 2), (0, 0, 0), True, "max")
    np.testing.assert_array_equal(_run(pooled, l_in, x), _run(MaxPool3DLayer(l_in, 2), l_in, x))
    average = Pool3DDNNLayer(l_in, 3, stride=2, pad=1, mode="average_exc_pad")
    np.testing.assert_array_equal(
        _run(average, l_in, x), _run(Pool3DLayer(l_in, 3, stride=2, pad=1, mode="average_exc_pad"), l_in, x))
    assert average.output_shape == (None, 2, 2, 3, 3)
    with pytest.raises(ValueError, match=r"^MaxPool3DDNNLayer: expected a 5-dimensional input"):
        MaxPool3DDNNLayer(InputLayer((None, 2, 4, 4)), 2)


def test_c01b_shuffles_round_trip():
    l_in = InputLayer((None, 3, 7, 7))
    c01b = bc01_to_c01b(l_in)
    assert c01b.output_shape == (3, 7, 7, None)
    np.testing.assert_array_equal(_run(c01b, l_in), X.transpose(1, 2, 3, 0))
    np.testing.assert_array_equal(_run(c01b_to_bc01(c01b), l_in), X)


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "JAX"])
def test_c01b_layers_match_their_bc01_counterparts(mode):
    if mode == "JAX":
        pytest.importorskip("jax")
    l_in = InputLayer((None, 3, 7, 7))
    c01b = bc01_to_c01b(l_in)
    conv_c01b = Conv2DCCLayer(c01b, 4, 3, stride=2, dimshuffle=False)
    assert conv_c01b.W.get_value().shape == (3, 3, 3, 4)
    conv_bc01 = Conv2DCCLayer(l_in, 4, 3, stride=2, W=conv_c01b.W.dimshuffle(3, 0, 1, 2), b=conv_c01b.b)
    pool_c01b = MaxPool2DCCLayer(conv_c01b, 2, dimshuffle=False)
    nin_c01b = NINLayer_c01b(pool_c01b, 5)
    nin_bc01 = NINLayer(MaxPool2DCCLayer(conv_bc01, 2), 5, W=nin_c01b.W.T, b=nin_c01b.b)
    assert c01b_to_bc01(nin_c01b).output_shape == nin_bc01.output_shape == (None, 5, 2, 2)
    a = pytensor.function([l_in.input_var], get_output(c01b_to_bc01(nin_c01b)), mode=mode)(X)
    b = pytensor.function([l_in.input_var], get_output(nin_bc01), mode=mode)(X)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_bad_arguments_are_refused_naming_the_layer():
    with pytest.raises(ValueError, match="Conv2DCCLayer: untie_biases=True needs dimshuffle=True"):
        Conv2DCCLayer(InputLayer((3, 7, 7, None)), 4, 3, untie_biases=True, dimshuffle=False)
    with pytest.raises(ValueError, match="NINLayer_c01b: the number of input channels"):
        NINLayer_c01b(InputLayer((None, 7, 7, 2)), 4)
    with pytest.raises(ValueError, match="ShuffleBC01ToC01BLayer: expected a 4-dimensional bc01 input"):
        bc01_to_c01b(InputLayer((None, 3)))
