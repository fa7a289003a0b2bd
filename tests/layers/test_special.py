import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from convnet import nonlinearities
from convnet.layers import (
    BiasLayer,
    DenseLayer,
    ExpressionLayer,
    InputLayer,
    NonlinearityLayer,
    ParametricRectifierLayer,
    ScaleLayer,
    get_output,
    prelu,
    standardize,
)

SHAPES = [(None, 5), (2, 3, 4), (None, 3, 4, 5)]


def compile_output(layer, l_in, **kwargs):
    return pytensor.function([l_in.input_var], get_output(layer, **kwargs), mode="FAST_COMPILE")


def random_input(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(pytensor.config.floatX)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    "make_layer",
    [
        lambda l: NonlinearityLayer(l),
        lambda l: NonlinearityLayer(l, None),
        lambda l: BiasLayer(l),
        lambda l: BiasLayer(l, shared_axes=0),
        lambda l: ScaleLayer(l),
        lambda l: ScaleLayer(l, shared_axes="all"),
        lambda l: ParametricRectifierLayer(l),
        lambda l: ParametricRectifierLayer(l, shared_axes="all"),
        lambda l: ExpressionLayer(l, lambda x: 2 * x),
        lambda l: ExpressionLayer(l, lambda x: x.sum(-1), output_shape="auto"),
    ],
    ids=["relu", "identity", "bias", "bias-per-position", "scale", "scale-scalar", "prelu", "prelu-scalar",
         "expression", "expression-auto"],
)
def test_layer_checks(check_layer, make_layer, shape):
    l_in = InputLayer(shape)
    check_layer(make_layer(l_in), l_in)


@pytest.mark.parametrize(
    "shared_axes, expected_shape",
    [("auto", (3,)), ("all", ()), (0, (3, 4, 5)), ((0, -1), (3, 4)), ((0, 2, 3), (3,))],
)
def test_per_axis_param_shapes_and_tags(shared_axes, expected_shape):
    l_in = InputLayer((None, 3, 4, 5))
    l_bias = BiasLayer(l_in, shared_axes=shared_axes)
    l_scale = ScaleLayer(l_in, shared_axes=shared_axes)
    l_prelu = ParametricRectifierLayer(l_in, shared_axes=shared_axes)
    assert l_bias.b.get_value().shape == expected_shape
    assert l_scale.scales.get_value().shape == expected_shape
    assert l_prelu.alpha.get_value().shape == expected_shape
    assert l_bias.params[l_bias.b] == {"trainable"}
    assert l_scale.params[l_scale.scales] == {"trainable", "regularizable"}
    assert l_prelu.params[l_prelu.alpha] == {"trainable"}
    np.testing.assert_array_equal(l_prelu.alpha.get_value(), 0.25)


def test_bias_and_scale_values():
    l_in = InputLayer((None, 3, 2))
    b = np.array([1.0, -2.0, 0.5], dtype="float32")
    scales = np.array([2.0, 3.0], dtype="float32")
    l_out = ScaleLayer(BiasLayer(l_in, b), scales, shared_axes=(0, 1))
    x = random_input((4, 3, 2))
    np.testing.assert_allclose(compile_output(l_out, l_in)(x), (x + b[:, None]) * scales, rtol=1e-6)


def test_bias_none_is_identity():
    l_in = InputLayer((None, 3))
    l_bias = BiasLayer(l_in, b=None)
    assert l_bias.get_params() == []
    x = random_input((2, 3))
    np.testing.assert_array_equal(compile_output(l_bias, l_in)(x), x)


@pytest.mark.parametrize("make_layer", [BiasLayer, ScaleLayer, ParametricRectifierLayer])
def test_unknown_size_on_unshared_axis_raises(make_layer):
    with pytest.raises(ValueError, match=r"'p1'.*\(None, None, 4\)"):
        make_layer(InputLayer((None, None, 4)), name="p1")


@pytest.mark.parametrize("shared_axes", [3, (0, 5), "every"])
def test_bad_shared_axes_raise(shared_axes):
    with pytest.raises(ValueError, match="'b1'.*shared_axes"):
        BiasLayer(InputLayer((None, 3, 4)), shared_axes=shared_axes, name="b1")


def test_nonlinearity_layer_values():
    l_in = InputLayer((None, 4))
    x = random_input((3, 4))
    np.testing.assert_array_equal(compile_output(NonlinearityLayer(l_in), l_in)(x), np.maximum(x, 0))
    softmax = compile_output(NonlinearityLayer(l_in, nonlinearities.softmax), l_in)(x)
    np.testing.assert_allclose(softmax.sum(axis=1), 1, rtol=1e-6)


def test_standardize():
    data = random_input((50, 3, 4)) * 3 + 1
    offset, scale = data.mean(axis=(0, 2)), data.std(axis=(0, 2))
    l_in = InputLayer((None, 3, 4))
    l_std = standardize(l_in, offset, scale)
    assert l_std.get_params(trainable=True) == [] and len(l_std.get_params()) == 1
    result = compile_output(l_std, l_in)(data)
    np.testing.assert_allclose(result, (data - offset[:, None]) / scale[:, None], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.mean(axis=(0, 2)), 0, atol=1e-5)


@pytest.mark.parametrize(
    "output_shape, expected",
    [
        (None, (None, 3, 4)),
        ("auto", (None, 12)),
        ((None, 12), (None, 12)),
        (lambda s: (s[0], s[1] * s[2]), (None, 12)),
    ],
    ids=["none", "auto", "tuple", "callable"],
)
def test_expression_layer_output_shape(output_shape, expected):
    function = (lambda x: 3 * x) if output_shape is None else (lambda x: x.reshape((x.shape[0], -1)))
    l_in = InputLayer((None, 3, 4))
    layer = ExpressionLayer(l_in, function, output_shape)
    assert layer.output_shape == expected
    x = random_input((2, 3, 4))
    np.testing.assert_allclose(compile_output(layer, l_in)(x), function(x))


def test_expression_layer_auto_keeps_sizes_that_vary_unknown():
    layer = ExpressionLayer(InputLayer((None, 3)), lambda x: pt.concatenate([x, x], axis=0), "auto")
    assert layer.output_shape == (None, 3)


def test_prelu_values_and_gradient_wrt_alpha():
    l_in = InputLayer((None, 3, 4))
    alpha = np.array([0.1, 0.2, 0.3], dtype="float32")
    layer = ParametricRectifierLayer(l_in, alpha)
    projection = pt.tensor3("projection")
    out = get_output(layer)
    grad = pytensor.grad(pt.sum(out * projection), layer.alpha)
    fn = pytensor.function([l_in.input_var, projection], [out, grad], mode="FAST_COMPILE")
    x, p = random_input((5, 3, 4)), random_input((5, 3, 4), seed=1)
    result, grad_alpha = fn(x, p)
    a = alpha[None, :, None]
    np.testing.assert_allclose(result, np.where(x > 0, x, a * x), rtol=1e-6)
    np.testing.assert_allclose(grad_alpha, (p * np.minimum(x, 0)).sum(axis=(0, 2)), rtol=1e-5)


def test_prelu_helper_moves_the_nonlinearity():
    l_in = InputLayer((None, 6))
    l_dense = DenseLayer(l_in, num_units=4, nonlinearity=nonlinearities.tanh)
    l_prelu = prelu(l_dense, alpha=np.zeros(4, dtype="float32"))
    assert isinstance(l_prelu, ParametricRectifierLayer) and l_prelu.input_layer is l_dense
    assert l_dense.nonlinearity is nonlinearities.identity
    x = random_input((2, 6))
    dense_value = x @ l_dense.W.get_value() + l_dense.b.get_value()
    np.testing.assert_allclose(compile_output(l_prelu, l_in)(x), np.maximum(dense_value, 0), rtol=1e-5, atol=1e-6)
