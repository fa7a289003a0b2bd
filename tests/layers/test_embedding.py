"""EmbeddingLayer: lookup against NumPy, gradients, bad arguments."""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from convnet.layers import EmbeddingLayer, InputLayer, get_output


def test_lookup_shape_and_gradient_match_numpy(backend_mode):
    l_in = InputLayer((None, 4), input_var=pt.imatrix())
    W = np.random.default_rng(0).standard_normal((6, 3)).astype(pytensor.config.floatX)
    layer = EmbeddingLayer(l_in, input_size=6, output_size=3, W=W)
    out = get_output(layer)
    weights = pt.tensor(dtype=out.dtype, shape=(None, None, None))
    grad = pytensor.grad((out * weights).sum(), layer.W)
    f = pytensor.function([l_in.input_var, weights], [out, grad], mode=backend_mode)
    idx = np.array([[0, 5, 5, 2], [1, 1, 0, 3]], "int32")
    w = np.random.default_rng(1).standard_normal((2, 4, 3)).astype(out.dtype)
    result, g = f(idx, w)
    np.testing.assert_array_equal(result, W[idx])
    assert result.shape[1:] == layer.output_shape[1:]
    expected = np.zeros_like(W)
    np.add.at(expected, idx, w)  # each row gets the sum of the weights of its lookups
    np.testing.assert_allclose(g, expected, rtol=1e-5)


def test_bad_arguments_are_refused_naming_the_layer():
    l_in = InputLayer((None, 4), input_var=pt.imatrix())
    with pytest.raises(ValueError, match="EmbeddingLayer: input_size must be a positive int"):
        EmbeddingLayer(l_in, input_size=0, output_size=3)
    with pytest.raises(ValueError, match="EmbeddingLayer 'e': output_size"):
        EmbeddingLayer(l_in, input_size=4, output_size=2.5, name="e")
    with pytest.raises(TypeError, match="EmbeddingLayer: the input must hold integer indices"):
        get_output(EmbeddingLayer(InputLayer((None, 4)), 4, 2))
