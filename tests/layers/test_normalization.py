import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from convnet import nonlinearities
from convnet.linker import compiler
from convnet.layers import (
    BatchNormLayer,
    Conv2DLayer,
    DenseLayer,
    DropoutLayer,
    InputLayer,
    LocalResponseNormalization2DLayer,
    NonlinearityLayer,
    ReshapeLayer,
    batch_norm,
    get_all_params,
    get_output,
)
from convnet.ops.batchnorm import BatchNormTrain, BatchNormTrainGrad

EPSILON = 1e-4


def compile_output(layer, l_in, **kwargs):
    return pytensor.function([l_in.input_var], get_output(layer, **kwargs), mode="FAST_COMPILE")


def random_input(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(pytensor.config.floatX)


def numpy_batch_stats(x, axes):
    return x.mean(axis=axes), 1 / np.sqrt(x.var(axis=axes) + EPSILON)


@pytest.mark.parametrize("deterministic", [False, True])
@pytest.mark.parametrize(
    "shape, axes", [((None, 5), "auto"), ((2, 3, 4), "auto"), ((None, 3, 4, 5), "auto"), ((None, 3, 4, 5), (0, 1))]
)
def test_batch_norm_layer_checks(check_layer, shape, axes, deterministic):
    l_in = InputLayer(shape)
    check_layer(BatchNormLayer(l_in, axes=axes), l_in, deterministic=deterministic)


@pytest.mark.parametrize("shape", [(None, 5, 3, 3), (2, 7, 4, 4)])
def test_lrn_layer_checks(check_layer, shape):
    l_in = InputLayer(shape)
    check_layer(LocalResponseNormalization2DLayer(l_in, n=3), l_in)


@pytest.mark.parametrize("axes, param_shape", [("auto", (3,)), (0, (3, 4, 5)), ((0, 2, 3), (3,)), ((0, -1), (3, 4))])
def test_batch_norm_params(axes, param_shape):
    l_bn = BatchNormLayer(InputLayer((None, 3, 4, 5)), axes=axes)
    params = {p.name: p for p in l_bn.get_params()}
    assert list(params) == ["beta", "gamma", "mean", "inv_std"]
    assert all(p.get_value().shape == param_shape for p in params.values())
    assert l_bn.params[l_bn.beta] == {"trainable"}
    assert l_bn.params[l_bn.gamma] == {"trainable", "regularizable"}
    assert l_bn.params[l_bn.mean] == l_bn.params[l_bn.inv_std] == set()
    assert l_bn.get_params(trainable=True) == [l_bn.beta, l_bn.gamma]


def test_batch_norm_without_beta_and_gamma():
    l_in = InputLayer((None, 4))
    l_bn = BatchNormLayer(l_in, beta=None, gamma=None)
    assert l_bn.get_params(trainable=True) == []
    x = random_input((6, 4))
    mean, inv_std = numpy_batch_stats(x, 0)
    np.testing.assert_allclose(compile_output(l_bn, l_in)(x), (x - mean) * inv_std, rtol=1e-4, atol=1e-5)


def test_batch_norm_averages_given_as_expressions_cannot_be_updated():
    l_in = InputLayer((None, 2))
    mean = pytensor.shared(np.zeros(2, dtype="float32")) + 1
    l_bn = BatchNormLayer(l_in, mean=mean, name="bn")
    with pytest.raises(TypeError, match="BatchNormLayer 'bn'.*batch_norm_update_averages=False"):
        get_output(l_bn)
    x = random_input((3, 2))
    np.testing.assert_allclose(compile_output(l_bn, l_in, deterministic=True)(x), x - 1)


def test_batch_norm_needs_known_sizes_on_kept_axes():
    with pytest.raises(ValueError, match=r"BatchNormLayer 'bn'.*\(None, None, 4\)"):
        BatchNormLayer(InputLayer((None, None, 4)), name="bn")


def make_bn(shape, alpha=0.1):
    """A BatchNormLayer over (None, 3, ...) input with random beta, gamma,
    running mean and inv_std (per channel)."""
    rng = np.random.default_rng(5)
    values = {name: rng.uniform(0.5, 1.5, 3).astype("float32") for name in ("beta", "gamma", "mean", "inv_std")}
    l_in = InputLayer(shape)
    return l_in, BatchNormLayer(l_in, alpha=alpha, **values), values


def test_batch_norm_training_output_uses_batch_statistics_and_updates_averages():
    l_in, l_bn, v = make_bn((None, 3, 4, 5), alpha=0.3)
    train = compile_output(l_bn, l_in)
    x = random_input((8, 3, 4, 5)) * 2 + 1
    axes = (0, 2, 3)
    mean, inv_std = numpy_batch_stats(x, axes)

    def per_channel(a):
        return a[None, :, None, None]

    expected = (x - per_channel(mean)) * per_channel(v["gamma"] * inv_std) + per_channel(v["beta"])
    np.testing.assert_allclose(train(x), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(l_bn.mean.get_value(), 0.7 * v["mean"] + 0.3 * mean, rtol=1e-5)
    np.testing.assert_allclose(l_bn.inv_std.get_value(), 0.7 * v["inv_std"] + 0.3 * inv_std, rtol=1e-5)


def test_batch_norm_deterministic_output_uses_running_averages_without_updating():
    l_in, l_bn, v = make_bn((None, 3))
    test = compile_output(l_bn, l_in, deterministic=True)
    x = random_input((4, 3))
    expected = (x - v["mean"]) * v["gamma"] * v["inv_std"] + v["beta"]
    np.testing.assert_allclose(test(x), expected, rtol=1e-5)
    np.testing.assert_array_equal(l_bn.mean.get_value(), v["mean"])
    np.testing.assert_array_equal(l_bn.inv_std.get_value(), v["inv_std"])


@pytest.mark.parametrize(
    "kwargs, uses_averages, updates",
    [
        ({"batch_norm_use_averages": True}, True, True),
        ({"deterministic": True, "batch_norm_use_averages": False}, False, False),
        ({"batch_norm_update_averages": False}, False, False),
    ],
)
def test_batch_norm_options(kwargs, uses_averages, updates):
    l_in, l_bn, v = make_bn((None, 3))
    x = random_input((4, 3))
    result = compile_output(l_bn, l_in, **kwargs)(x)
    mean, inv_std = (v["mean"], v["inv_std"]) if uses_averages else numpy_batch_stats(x, 0)
    np.testing.assert_allclose(result, (x - mean) * v["gamma"] * inv_std + v["beta"], rtol=1e-4, atol=1e-5)
    assert updates == (not np.array_equal(l_bn.mean.get_value(), v["mean"]))


def test_batch_norm_helper_with_dense_layer():
    l_in = InputLayer((None, 6))
    l_dense = DenseLayer(l_in, num_units=4, nonlinearity=nonlinearities.tanh, name="fc")
    l_out = batch_norm(l_dense, alpha=0.5)
    assert isinstance(l_out, NonlinearityLayer) and l_out.nonlinearity is nonlinearities.tanh
    l_bn = l_out.input_layer
    assert isinstance(l_bn, BatchNormLayer) and l_bn.input_layer is l_dense and l_bn.alpha == 0.5
    assert (l_bn.name, l_out.name) == ("fc_bn", "fc_bn_nonlin")
    assert l_dense.b is None and l_dense.nonlinearity is nonlinearities.identity
    assert get_all_params(l_out, trainable=True) == [l_dense.W, l_bn.beta, l_bn.gamma]
    x = random_input((5, 6))
    affine = x @ l_dense.W.get_value()
    mean, inv_std = numpy_batch_stats(affine, 0)
    np.testing.assert_allclose(compile_output(l_out, l_in)(x), np.tanh((affine - mean) * inv_std), rtol=1e-4, atol=1e-5)


def test_batch_norm_helper_with_conv_layer(check_layer):
    l_in = InputLayer((None, 2, 5, 5))
    l_out = batch_norm(Conv2DLayer(l_in, num_filters=3, filter_size=3), name="bn")
    assert l_out.name == "bn_nonlin" and l_out.input_layer.mean.get_value().shape == (3,)
    assert l_out.input_layer.input_layer.b is None
    assert check_layer(l_out, l_in).min() >= 0  # rectify moved above the normalization


def test_batch_norm_helper_without_nonlinearity():
    l_in = InputLayer((None, 2, 5))
    l_bn = batch_norm(l_in)
    assert isinstance(l_bn, BatchNormLayer) and l_bn.name is None


def numpy_lrn(x, alpha, k, beta, n):
    half = n // 2
    squares = np.pad(x**2, ((0, 0), (half, half), (0, 0), (0, 0)))
    window_sums = np.stack([squares[:, c:c + n].sum(axis=1) for c in range(x.shape[1])], axis=1)
    return x / (k + alpha * window_sums) ** beta


@pytest.mark.parametrize("n", [1, 3, 5])
def test_lrn_against_numpy(n):
    l_in = InputLayer((None, 4, 3, 2))
    layer = LocalResponseNormalization2DLayer(l_in, alpha=0.1, k=1.5, beta=0.8, n=n)
    x = random_input((2, 4, 3, 2)) * 3
    np.testing.assert_allclose(compile_output(layer, l_in)(x), numpy_lrn(x, 0.1, 1.5, 0.8, n), rtol=1e-5)


@pytest.mark.parametrize("shape, n", [((None, 4, 3, 3), 4), ((None, 4, 3), 3)])
def test_lrn_bad_arguments_raise(shape, n):
    with pytest.raises(ValueError, match="LocalResponseNormalization2DLayer 'lrn'"):
        LocalResponseNormalization2DLayer(InputLayer(shape), n=n, name="lrn")


@pytest.mark.parametrize("mode", ["NUMBA", "JAX"])
def test_training_function_with_dropout_and_batch_norm_on_backend(mode):
    """Running averages update and dropout masks differ between calls when
    compiled for the Numba and JAX backends."""
    if mode == "JAX":
        pytest.importorskip("jax")
    l_in = InputLayer((None, 3, 4))
    l_bn = BatchNormLayer(l_in, alpha=0.5)
    l_out = DropoutLayer(l_bn, p=0.5)
    out = get_output(l_out)
    loss = pt.sum(out**2)
    params = get_all_params(l_out, trainable=True)
    sgd = {param: param - 0.01 * grad for param, grad in zip(params, pytensor.grad(loss, params))}
    with warnings.catch_warnings():
        # JAX runs on its own copy of each random generator (so the shared
        # generator's value stays put while each call still advances the copy).
        warnings.filterwarnings("ignore", "The RandomType SharedVariables", UserWarning)
        train = pytensor.function([l_in.input_var], [out, loss], updates=sgd, mode=mode)
    x = random_input((6, 3, 4))
    first, _ = train(x)
    second, _ = train(x)
    assert not np.array_equal(first == 0, second == 0)
    mean, inv_std = numpy_batch_stats(x, (0, 2))
    np.testing.assert_allclose(l_bn.mean.get_value(), 0.75 * mean, rtol=1e-5)  # two updates from 0
    np.testing.assert_allclose(l_bn.inv_std.get_value(), 0.25 + 0.75 * inv_std, rtol=1e-5)
    assert not np.array_equal(l_bn.gamma.get_value(), np.ones(3))


def elementwise_batch_norm(layer, x):
    """BatchNormLayer's training output as it was built before its Ops, from
    PyTensor's elementwise Ops and reductions."""
    kept = iter(range(x.ndim - len(layer.axes)))
    pattern = ["x" if a in layer.axes else next(kept) for a in range(x.ndim)]
    mean = x.mean(layer.axes)
    inv_std = 1 / pt.sqrt(x.var(layer.axes) + layer.epsilon)
    scale = inv_std if layer.gamma is None else layer.gamma * inv_std
    out = (x - mean.dimshuffle(pattern)) * scale.dimshuffle(pattern)
    return out if layer.beta is None else out + layer.beta.dimshuffle(pattern)


@pytest.mark.parametrize("mode", ["CONVNET_CPU", "FAST_COMPILE"])
@pytest.mark.parametrize("shape, kwargs", [
    ((6, 3, 4, 5), {}),
    ((6, 3, 4, 5), {"axes": (0, 1), "gamma": None}),
    ((7, 4), {"beta": None}),
])
def test_batch_norm_training_graph_matches_the_elementwise_formula(mode, shape, kwargs):
    """The output and the gradients with respect to the input, gamma, beta
    and the layer below's weights: two Ops per layer (one forward, one
    backward), equal to the elementwise graph within float32 precision."""
    l_in = InputLayer((None,) + shape[1:])
    l_dense = DenseLayer(l_in, num_units=int(np.prod(shape[1:])), nonlinearity=None)
    l_below = ReshapeLayer(NonlinearityLayer(l_dense, nonlinearity=nonlinearities.tanh), ([0],) + shape[1:])
    l_bn = BatchNormLayer(l_below, **kwargs)
    x, u = l_in.input_var, pt.tensor("u", shape=(None,) * len(shape))
    params = get_all_params(l_bn, trainable=True)
    outputs = []
    for output in (get_output(l_bn, batch_norm_update_averages=False),
                   elementwise_batch_norm(l_bn, get_output(l_below))):
        outputs += [output, *pytensor.grad((output * u).sum(), [x, *params])]
    function = pytensor.function([x, u], outputs, mode=mode)
    rng = np.random.default_rng(7)
    fed = (rng.standard_normal((shape[0],) + shape[1:]).astype(x.dtype) * 2 + 1,
           rng.standard_normal(shape).astype(x.dtype))
    results = function(*fed)
    if mode == "CONVNET_CPU":  # the compiled kernels, not the NumPy code run meanwhile
        compiler.wait()
        results = function(*fed)
    half = len(results) // 2
    for ours, theirs in zip(results[:half], results[half:]):
        np.testing.assert_allclose(ours, theirs, rtol=2e-4, atol=2e-4)
    ops = [type(node.op) for node in function.maker.fgraph.apply_nodes]
    assert ops.count(BatchNormTrain) == ops.count(BatchNormTrainGrad) == 1


def test_batch_norm_layer_errors_name_the_layer():
    l_bn = BatchNormLayer(InputLayer((None, 3, 4, 4)), name="bn1")
    with pytest.raises(ValueError, match=r"BatchNormLayer 'bn1'.*gamma must have the shape of the kept axes"):
        l_bn.get_output_for(pt.tensor("x", shape=(None, 5, 4, 4)))
