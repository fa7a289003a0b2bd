"""Tests of convnet.ops.conv in 3-D (and 1-D through the same N-D Ops): values
against an independent reference (:mod:`tests.ops.conv_reference`, checked
here against explicit loops), gradients, every backend, shapes and errors.
"""
import itertools

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.mode import get_mode
from pytensor.gradient import verify_grad

from convnet.ops import conv3d, conv3d_grad_wrt_inputs, conv3d_grad_wrt_weights
from convnet.ops.conv import Conv, ConvGeometry, ConvGradInputs, ConvGradWeights

from .conv_reference import (
    backend_functions,
    random_arrays,
    reference_conv,
    reference_gradients,
    run_perform,
)

def test_reference_is_a_convolution():
    """The reference itself, against explicit loops, for one strided, padded, dilated case."""
    x, w = random_arrays((1, 2, 5, 4, 6), (2, 2, 2, 3, 2))
    pads, strides, dilation = (1, 0, 2), (2, 1, 3), (2, 1, 1)
    padded = np.pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in pads))
    result = reference_conv(x, w, pads, strides, False, dilation)
    for o, i, j, k in itertools.product(*(range(size) for size in result.shape[1:])):
        window = padded[0, :, i * 2:i * 2 + 3:2, j:j + 3, k * 3:k * 3 + 2]
        assert np.isclose(result[0, o, i, j, k], np.sum(window * w[o]))


# --- Forward values -------------------------------------------------------------------

STRIDES = [(1, 1, 1), (2, 1, 3)]
BORDER_MODES = ["valid", "full", "half", (1, 0, 2)]
DILATIONS = [(1, 1, 1), (2, 1, 2)]


@pytest.mark.parametrize("filter_flip", [True, False])
@pytest.mark.parametrize("filter_dilation", DILATIONS)
@pytest.mark.parametrize("border_mode", BORDER_MODES)
@pytest.mark.parametrize("subsample", STRIDES)
def test_forward_matches_reference(subsample, border_mode, filter_dilation, filter_flip):
    params = dict(border_mode=border_mode, subsample=subsample, filter_flip=filter_flip,
                  filter_dilation=filter_dilation)
    x, w = random_arrays((2, 2, 6, 5, 7), (3, 2, 3, 2, 2))
    expected = reference_conv(x, w, **params)
    result = run_perform(Conv(ConvGeometry.create(3, **params)), x, w)
    assert result.shape == expected.shape
    np.testing.assert_allclose(result, expected, rtol=1e-10, atol=1e-10)


# --- Gradients ---------------------------------------------------------------------

GRADIENT_FAMILIES = {
    "plain": dict(),
    "strided-padded": dict(subsample=(2, 1, 2), border_mode=(1, 0, 1)),
    "full": dict(border_mode="full", filter_flip=False),
    "half-dilated": dict(border_mode="half", filter_dilation=(1, 2, 1), subsample=(1, 1, 2)),
}


@pytest.mark.parametrize("params", GRADIENT_FAMILIES.values(), ids=GRADIENT_FAMILIES.keys())
def test_gradients_match_reference(params, mode):
    x, w = random_arrays((1, 2, 4, 5, 4), (2, 2, 2, 3, 2))
    (g,) = random_arrays(reference_conv(x, w, **params).shape, seed=2)
    xs, ws = pt.tensor5("x", dtype="float64"), pt.tensor5("w", dtype="float64")
    cost = (conv3d(xs, ws, **params) * g).sum()
    gx, gw = pytensor.function([xs, ws], pytensor.grad(cost, [xs, ws]), mode=mode)(x, w)
    expected_gx, expected_gw = reference_gradients(x, w, g, **params)
    np.testing.assert_allclose(gx, expected_gx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gw, expected_gw, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("params", GRADIENT_FAMILIES.values(), ids=GRADIENT_FAMILIES.keys())
def test_verify_grad(params, mode):
    """conv3d's gradient and the gradient Ops' own gradients (second derivatives)."""
    x, w = random_arrays((1, 2, 4, 4, 5), (2, 2, 2, 2, 3))
    (g,) = random_arrays(reference_conv(x, w, **params).shape, seed=2)
    mode = get_mode(mode)
    verify_grad(lambda x, w: conv3d(x, w, **params), [x, w], mode=mode, rng=np.random.default_rng(1))
    verify_grad(lambda w, g: conv3d_grad_wrt_inputs(g, w, x.shape, **params), [w, g], mode=mode,
                rng=np.random.default_rng(3))
    verify_grad(lambda x, g: conv3d_grad_wrt_weights(x, g, w.shape, **params), [x, g], mode=mode,
                rng=np.random.default_rng(4))


# --- Every backend -------------------------------------------------------------------

# (spatial dimensions, image shape, filter shape, parameters): 3-D families and
# a 1-D convolution through the same N-D Ops (the Numba volume kernel lifts it).
BACKEND_CASES = [
    (3, (2, 1, 5, 4, 6), (3, 1, 2, 3, 2), dict(border_mode=(1, 0, 2), subsample=(2, 1, 2),
                                                filter_dilation=(2, 1, 1))),
    (3, (1, 3, 4, 5, 5), (2, 3, 3, 2, 3), dict(border_mode="half", filter_flip=False)),
    (3, (1, 1, 3, 3, 4), (2, 1, 2, 2, 2), dict(border_mode="full", subsample=(1, 2, 1))),
    (1, (2, 2, 9), (3, 2, 3), dict(border_mode="half", subsample=2, filter_dilation=2)),
]


@pytest.fixture(scope="module")
def compiled_cases():
    return backend_functions([(n, params) for n, _, _, params in BACKEND_CASES])


def case_values(dtype="float32"):
    values = []
    for index, (n, x_shape, w_shape, params) in enumerate(BACKEND_CASES):
        y_shape = reference_conv(np.zeros(x_shape), np.zeros(w_shape), **params).shape
        values += random_arrays(x_shape, w_shape, y_shape, dtype=dtype, seed=index)
    return values


@pytest.fixture(scope="module")
def expected_cases():
    """The reference output and gradients of every case (computed once: the
    Jacobians take a few seconds)."""
    values, expected = case_values(), []
    for index, (_, _, _, params) in enumerate(BACKEND_CASES):
        x, w, g = (v.astype("float64") for v in values[3 * index:3 * index + 3])
        expected += [reference_conv(x, w, **params), *reference_gradients(x, w, g, **params)]
    return values, expected


def test_backends_match_reference(backend_mode, compiled_cases, expected_cases):
    values, expected = expected_cases
    results = compiled_cases(backend_mode)(*values)
    assert len(results) == len(expected)
    for result, reference in zip(results, expected):
        assert result.dtype == "float32" and result.shape == reference.shape
        np.testing.assert_allclose(result, reference, rtol=1e-4, atol=1e-4)


def test_numba_float64_and_cache_keys():
    from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key

    _, x_shape, w_shape, params = BACKEND_CASES[1]
    x, w = pt.tensor5("x", dtype="float64"), pt.tensor5("w", dtype="float64")
    y = conv3d(x, w, **params)
    xv, wv = random_arrays(x_shape, w_shape)
    result = pytensor.function([x, w], y, mode="NUMBA")(xv, wv)
    assert result.dtype == "float64"
    np.testing.assert_allclose(result, reference_conv(xv, wv, **params), rtol=1e-12, atol=1e-12)
    for node in [y.owner] + [g.owner for g in pytensor.grad(y.sum(), [x, w])]:
        assert numba_funcify_and_cache_key(node.op, node=node)[1] is not None


# --- Shapes --------------------------------------------------------------------------


@pytest.mark.parametrize("params", GRADIENT_FAMILIES.values(), ids=GRADIENT_FAMILIES.keys())
def test_static_and_inferred_shapes(params):
    x_shape, w_shape = (2, 3, 6, 5, 7), (4, 3, 3, 2, 2)
    expected = reference_conv(np.zeros(x_shape), np.zeros(w_shape), **params).shape
    static_x, static_w = pt.tensor5(shape=x_shape), pt.tensor5(shape=w_shape)
    y = conv3d(static_x, static_w, **params)
    assert y.type.shape == expected
    gx, gw = pytensor.grad(y.sum(), [static_x, static_w])
    assert (gx.type.shape, gw.type.shape) == (x_shape, w_shape)
    x, w = pt.tensor5("x"), pt.tensor5("w")
    shapes = pytensor.function([x, w], conv3d(x, w, **params).shape, mode="FAST_COMPILE")
    assert tuple(shapes(*random_arrays(x_shape, w_shape, dtype="float32"))) == expected


def test_transposed_convolution_with_symbolic_shape(mode):
    g, w, depth = pt.tensor5("g"), pt.tensor5("w"), pt.lscalar("depth")
    x = conv3d_grad_wrt_inputs(g, w, (None, None, depth, 6, 5), subsample=(2, 2, 1))
    gv, wv = random_arrays((1, 2, 3, 2, 3), (2, 4, 3, 3, 3), dtype="float32")
    transposed = pytensor.function([g, w, depth], x, mode=mode)
    for size in (7, 8):  # stride 2: both give 3 output planes
        assert transposed(gv, wv, size).shape == (1, 4, size, 6, 5)


def test_gradient_ops_take_shape_vectors(mode):
    geometry = ConvGeometry.create(3, subsample=2)
    x, w, g = pt.tensor5("x"), pt.tensor5("w"), pt.tensor5("g")
    gx = ConvGradInputs(geometry)(w, g, x.shape[2:])
    gw = ConvGradWeights(geometry)(x, g, w.shape[2:])
    xv, wv, gv = random_arrays((1, 2, 5, 7, 6), (3, 2, 3, 3, 2), (1, 3, 2, 3, 3), dtype="float32")
    results = pytensor.function([x, w, g], [gx, gw], mode=mode)(xv, wv, gv)
    assert [r.shape for r in results] == [xv.shape, wv.shape]
    with pytest.raises(ValueError, match="input_shape must hold 3 spatial sizes"):
        ConvGradInputs(geometry)(w, g, x.shape)


# --- Errors --------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, match", [
    (dict(subsample=(1, 1)), r"subsample must be an int or 3 ints, each at least 1, got \(1, 1\)"),
    (dict(subsample=(1, 0, 1)), "subsample"),
    (dict(filter_dilation=(1, 1.5, 1)), "filter_dilation"),
    (dict(border_mode="wide"), "border_mode must be 'valid', 'full', 'half'"),
    (dict(border_mode=(1, 2)), "border_mode"),
    (dict(border_mode=-1), "border_mode"),
])
def test_bad_parameters_raise(kwargs, match):
    for build in (lambda: conv3d(pt.tensor5(), pt.tensor5(), **kwargs),
                  lambda: conv3d_grad_wrt_inputs(pt.tensor5(), pt.tensor5(), (1, 1, 5, 5, 5), **kwargs),
                  lambda: conv3d_grad_wrt_weights(pt.tensor5(), pt.tensor5(), (1, 1, 3, 3, 3), **kwargs)):
        with pytest.raises(ValueError, match=match):
            build()


@pytest.mark.parametrize("input, filters, kwargs, match", [
    (pt.tensor4(), pt.tensor5(), {}, r"conv3d: input must be a 5-D tensor, got 4 dimensions"),
    (pt.tensor5(shape=(None, 3, 8, 8, 8)), pt.tensor5(shape=(4, 2, 3, 3, 3)), {},
     r"conv3d: input has 3 channels but filters has 2 input channels \(input \(None, 3, 8, 8, 8\), "
     r"filters \(4, 2, 3, 3, 3\)\)"),
    (pt.tensor5(shape=(1, 1, 4, 8, 8)), pt.tensor5(shape=(1, 1, 5, 3, 3)), {},
     r"conv3d: filters span 5 planes \(filter_dilation 1\) but the padded input has only 4 \(padding 0\)"),
    (pt.tensor5(shape=(1, 1, 8, 8, 4)), pt.tensor5(shape=(1, 1, 3, 3, 3)),
     dict(border_mode=(0, 0, 1), filter_dilation=(1, 1, 3)),
     r"filters span 7 columns \(filter_dilation 3\) but the padded input has only 6 \(padding 1\)"),
    (pt.tensor5(), pt.tensor5(), dict(input_shape=(1, 1, 8, 8)), r"input_shape must give the 5 sizes"),
])
def test_bad_shapes_raise_at_graph_construction(input, filters, kwargs, match):
    with pytest.raises(ValueError, match=match):
        conv3d(input, filters, **kwargs)


def test_bad_gradient_shapes_raise_at_graph_construction():
    with pytest.raises(ValueError, match=r"conv3d_grad_wrt_inputs: output_grad has 4 rows but convolving "
                                         r"input_shape gives 3"):
        conv3d_grad_wrt_inputs(pt.tensor5(shape=(1, 2, 3, 4, 3)), pt.tensor5(shape=(2, 3, 3, 3, 3)),
                               (1, 3, 5, 5, 5))
    with pytest.raises(ValueError, match=r"conv3d_grad_wrt_weights: output_grad has a batch of 3 but input "
                                         r"has a batch of 2"):
        conv3d_grad_wrt_weights(pt.tensor5(shape=(2, 1, 5, 5, 5)), pt.tensor5(shape=(3, 1, 3, 3, 3)),
                                (1, 1, 3, 3, 3))
    with pytest.raises(ValueError, match=r"filter_shape must give 5 sizes"):
        conv3d_grad_wrt_weights(pt.tensor5(), pt.tensor5(), (1, 1, 3, 3))


@pytest.mark.parametrize("call_mode", ["FAST_COMPILE", "NUMBA"])
def test_bad_shapes_raise_at_call_time(call_mode):
    """Shapes unknown when building the graph: perform and Numba raise the same error when called."""
    x, w, g, depth = pt.tensor5("x"), pt.tensor5("w"), pt.tensor5("g"), pt.lscalar("depth")
    convolve = pytensor.function([x, w], conv3d(x, w, border_mode="half"), mode=call_mode)
    with pytest.raises(ValueError, match=r"conv3d: input has 3 channels but filters has 2 input channels "
                                         r"\(input \(1, 3, 4, 4, 4\), filters \(2, 2, 3, 3, 3\)\)"):
        convolve(*random_arrays((1, 3, 4, 4, 4), (2, 2, 3, 3, 3), dtype="float32"))
    transposed = pytensor.function([g, w, depth], conv3d_grad_wrt_inputs(g, w, (None, None, depth, 5, 5)),
                                   mode=call_mode)
    gv, wv = random_arrays((1, 2, 3, 3, 3), (2, 4, 3, 3, 3), dtype="float32")
    with pytest.raises(ValueError, match=r"conv3d_grad_wrt_inputs: output_grad has 3 planes but convolving "
                                         r"input_shape gives 4 \(input_shape \(1, 4, 6, 5, 5\)"):
        transposed(gv, wv, 6)
    with pytest.raises(ValueError, match=r"conv3d_grad_wrt_inputs: input_shape must give positive spatial "
                                         r"sizes, got \(0, 5, 5\)"):
        transposed(gv, wv, 0)
