"""StandardizationLayer, instance_norm and layer_norm against NumPy."""
import numpy as np
import pytensor
import pytest

from convnet.layers import (
    BiasLayer,
    Conv2DLayer,
    DenseLayer,
    InputLayer,
    NonlinearityLayer,
    ScaleLayer,
    StandardizationLayer,
    get_all_params,
    get_output,
    instance_norm,
    layer_norm,
)


def _standardize(x, axes, eps):
    return (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)


@pytest.mark.parametrize("axes, numpy_axes", [("auto", (1, 2, 3)), ((2, 3), (2, 3)), (-1, (3,))])
def test_standardization_matches_numpy(axes, numpy_axes, backend_mode, check_layer):
    l_in = InputLayer((None, 3, 4, 5))
    layer = StandardizationLayer(l_in, axes=axes, epsilon=1e-3)
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(pytensor.config.floatX)
    f = pytensor.function([l_in.input_var], get_output(layer), mode=backend_mode)
    np.testing.assert_allclose(f(x), _standardize(x, numpy_axes, 1e-3), rtol=1e-4, atol=1e-5)
    if backend_mode == "FAST_COMPILE":
        check_layer(layer, l_in)


def test_standardization_gradient_matches_finite_differences():
    with pytensor.config.change_flags(floatX="float64"):
        l_in = InputLayer((2, 5))
        layer = StandardizationLayer(l_in)
    x = np.random.default_rng(1).standard_normal((2, 5))
    weights = np.arange(10.0).reshape(2, 5)
    out = (get_output(layer) * weights).sum()
    f = pytensor.function([l_in.input_var], [out, pytensor.grad(out, l_in.input_var)], mode="FAST_COMPILE")
    grad = f(x)[1]
    eps = 1e-6
    for index in [(0, 0), (1, 3)]:
        d = np.zeros_like(x)
        d[index] = eps
        np.testing.assert_allclose(grad[index], (f(x + d)[0] - f(x - d)[0]) / (2 * eps), rtol=1e-5)


def test_instance_norm_normalizes_each_map_and_learns_per_channel():
    conv = Conv2DLayer(InputLayer((None, 2, 6, 6)), 3, 3, name="c")
    top = instance_norm(conv)
    assert conv.b is None and isinstance(top, NonlinearityLayer) and top.name == "c_in_nonlin"
    bias, scale = top.input_layer, top.input_layer.input_layer
    assert isinstance(bias, BiasLayer) and isinstance(scale, ScaleLayer)
    assert bias.b.get_value().shape == (3,) and scale.scales.get_value().shape == (3,)
    standardized = get_output(scale.input_layer).eval(
        {conv.input_layer.input_var: np.random.default_rng(2).standard_normal((2, 2, 6, 6)).astype("float32")})
    np.testing.assert_allclose(standardized.mean((2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(standardized.var((2, 3)), 1, atol=1e-2)
    assert len(get_all_params(instance_norm(Conv2DLayer((None, 2, 6, 6), 3, 3), learn_scale=False))) == 2
    with pytest.raises(ValueError, match="at least 3 output dimensions"):
        instance_norm(DenseLayer(InputLayer((None, 4)), 3))


def test_layer_norm_standardizes_each_example():
    dense = DenseLayer(InputLayer((None, 4)), 6, name="fc")
    top = layer_norm(dense, epsilon=0)
    assert top.name == "fc_ln_nonlin" and dense.b is None
    x = np.random.default_rng(3).standard_normal((3, 4)).astype("float32")
    standardized = get_output(top.input_layer.input_layer.input_layer).eval({dense.input_layer.input_var: x})
    np.testing.assert_allclose(standardized, _standardize(x @ dense.W.get_value(), (1,), 0), rtol=1e-4, atol=1e-5)


def test_bad_arguments_are_refused_naming_the_layer():
    with pytest.raises(ValueError, match="StandardizationLayer: axes"):
        StandardizationLayer(InputLayer((None, 4)), axes=(2,))
    with pytest.raises(ValueError, match="StandardizationLayer 's': epsilon"):
        StandardizationLayer(InputLayer((None, 4)), epsilon=-1, name="s")
