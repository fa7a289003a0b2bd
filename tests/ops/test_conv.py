"""Tests of convnet.ops.conv in 2-D: values against an independent reference, gradients,
agreement of the Python / Numba / JAX implementations, shapes and errors.

The reference convolution and its gradients are in :mod:`tests.ops.conv_reference`.
Most tests call ``perform`` (FAST_COMPILE); the Numba backend compiles one
graph covering all configurations, since each Numba compilation costs seconds.
"""
import os
import subprocess
import sys

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.mode import Mode, get_mode
from pytensor.gradient import verify_grad

from convnet.ops.conv import (
    Conv,
    ConvGeometry,
    ConvGradInputs,
    ConvGradWeights,
    conv2d,
    conv2d_grad_wrt_inputs,
    conv2d_grad_wrt_weights,
    conv_output_length,
)

from .conv_reference import (
    backend_functions,
    random_arrays,
    reference_conv,
    reference_gradients,
    run_perform,
)


def geometry_2d(border_mode="valid", subsample=(1, 1), filter_flip=True, filter_dilation=(1, 1)):
    return ConvGeometry.create(2, border_mode, subsample, filter_flip, filter_dilation)


# --- Forward values -----------------------------------------------------------------

STRIDES = [(1, 1), (2, 2), (2, 3)]
BORDER_MODES = ["valid", "full", "half", (1, 2)]
DILATIONS = [(1, 1), (2, 2), (1, 3)]


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("filter_flip", [True, False])
@pytest.mark.parametrize("filter_dilation", DILATIONS)
@pytest.mark.parametrize("border_mode", BORDER_MODES)
@pytest.mark.parametrize("subsample", STRIDES)
def test_forward_matches_reference(subsample, border_mode, filter_dilation, filter_flip, channels):
    params = dict(border_mode=border_mode, subsample=subsample, filter_flip=filter_flip,
                  filter_dilation=filter_dilation)
    x, w = random_arrays((1, channels, 8, 11), (2, channels, 3, 2))
    expected = reference_conv(x, w, **params)
    result = run_perform(Conv(geometry_2d(**params)), x, w)
    assert result.shape == expected.shape
    np.testing.assert_allclose(result, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("border_mode", ["half", 2, (0, 1)])
def test_forward_batch_and_even_filters(border_mode):
    x, w = random_arrays((3, 2, 6, 5), (4, 2, 4, 2))
    np.testing.assert_allclose(run_perform(Conv(geometry_2d(border_mode)), x, w),
                               reference_conv(x, w, border_mode), rtol=1e-10, atol=1e-10)


def test_float32_stays_float32(mode):
    x, w = pt.tensor4("x"), pt.tensor4("w")
    assert pytensor.config.floatX == "float32" and x.dtype == "float32"
    y = conv2d(x, w)
    gx, gw = pytensor.grad(y.sum(), [x, w])
    assert y.dtype == gx.dtype == gw.dtype == "float32"
    xv, wv = random_arrays((1, 2, 5, 5), (3, 2, 2, 2), dtype="float32")
    outputs = pytensor.function([x, w], [y, gx, gw], mode=mode)(xv, wv)
    assert [o.dtype for o in outputs] == ["float32"] * 3


# --- Gradients -----------------------------------------------------------------------


def python_mode(mode):
    """``mode`` as a Mode object: given the name "FAST_COMPILE", verify_grad would
    compile its cost function with the default (Numba) linker."""
    return get_mode(mode)


GRADIENT_FAMILIES = {
    "plain": dict(),
    "strided": dict(subsample=(2, 3)),
    "full": dict(border_mode="full"),
    "half": dict(border_mode="half", subsample=(2, 1)),
    "padded": dict(border_mode=(1, 2), subsample=(2, 2)),
    "dilated": dict(filter_dilation=(2, 1), border_mode=1),
    "correlation": dict(filter_flip=False, subsample=(1, 2), filter_dilation=(1, 2)),
}


@pytest.mark.parametrize("params", GRADIENT_FAMILIES.values(), ids=GRADIENT_FAMILIES.keys())
def test_verify_grad_conv2d(params, mode):
    x, w = random_arrays((2, 2, 6, 7), (3, 2, 3, 2))
    verify_grad(lambda x, w: conv2d(x, w, **params), [x, w], mode=python_mode(mode),
                rng=np.random.default_rng(1))


@pytest.mark.parametrize("params", GRADIENT_FAMILIES.values(), ids=GRADIENT_FAMILIES.keys())
def test_verify_grad_gradient_ops(params, mode):
    """The gradient Ops' own gradients (which make second derivatives work)."""
    x, w = random_arrays((2, 2, 6, 7), (3, 2, 3, 2))
    (g,) = random_arrays(reference_conv(x, w, **params).shape, seed=2)
    verify_grad(lambda w, g: conv2d_grad_wrt_inputs(g, w, x.shape, **params), [w, g],
                mode=python_mode(mode), rng=np.random.default_rng(3))
    verify_grad(lambda x, g: conv2d_grad_wrt_weights(x, g, w.shape, **params), [x, g],
                mode=python_mode(mode), rng=np.random.default_rng(4))


@pytest.mark.parametrize("params", GRADIENT_FAMILIES.values(), ids=GRADIENT_FAMILIES.keys())
def test_gradients_match_reference(params, mode):
    x, w = random_arrays((1, 2, 6, 7), (2, 2, 3, 2))
    (g,) = random_arrays(reference_conv(x, w, **params).shape, seed=2)
    xs, ws = pt.tensor4("x", dtype="float64"), pt.tensor4("w", dtype="float64")
    cost = (conv2d(xs, ws, **params) * g).sum()
    gx, gw = pytensor.function([xs, ws], pytensor.grad(cost, [xs, ws]), mode=mode)(x, w)
    expected_gx, expected_gw = reference_gradients(x, w, g, **params)
    np.testing.assert_allclose(gx, expected_gx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gw, expected_gw, rtol=1e-10, atol=1e-10)


def test_second_derivatives_compile_and_run(mode):
    x, w = pt.tensor4("x"), pt.tensor4("w")
    cost = (conv2d(x, w, border_mode="half", subsample=(2, 1)) ** 2).sum()
    gx, gw = pytensor.grad(cost, [x, w])
    hessian_terms = pytensor.grad((gx ** 2).sum() + (gw ** 2).sum(), [x, w])
    third = pytensor.grad(hessian_terms[0].sum(), w)
    xv, wv = random_arrays((2, 2, 5, 6), (3, 2, 3, 3), dtype="float32")
    results = pytensor.function([x, w], hessian_terms + [third], mode=mode)(xv, wv)
    assert [r.shape for r in results] == [xv.shape, wv.shape, wv.shape]
    assert all(np.isfinite(r).all() for r in results)


# --- Backends agree ------------------------------------------------------------------

# (image shape, filter shape, parameters): each family of the forward grid,
# batches, 1 and 3 channels, non-square images and filters, even filters.
BACKEND_CASES = [
    ((1, 1, 7, 9), (2, 1, 3, 2), dict()),
    ((2, 3, 8, 7), (2, 3, 2, 3), dict(border_mode="full", subsample=(2, 2), filter_flip=False)),
    ((1, 3, 9, 8), (3, 3, 3, 3), dict(border_mode="half", subsample=(2, 3), filter_dilation=(2, 2))),
    ((2, 1, 7, 10), (2, 1, 2, 3), dict(border_mode=(1, 2), subsample=(3, 2), filter_dilation=(1, 3),
                                       filter_flip=False)),
    ((1, 2, 6, 6), (2, 2, 4, 2), dict(border_mode="half", filter_dilation=(2, 1))),
]
# Image shapes that make the Numba code cut im2col into row blocks (case 1) and
# into several-image blocks with a shorter last one (case 2).
LARGE_IMAGE_SHAPES = {1: (2, 3, 400, 300), 2: (300, 3, 40, 40)}


@pytest.fixture(scope="module")
def compiled_cases():
    return backend_functions([(2, params) for _, _, params in BACKEND_CASES])


def case_values(image_shapes=None):
    """float32 inputs (image, filters, output gradient) of every backend case."""
    values = []
    for index, (x_shape, w_shape, params) in enumerate(BACKEND_CASES):
        x_shape = (image_shapes or {}).get(index, x_shape)
        y_shape = conv2d(pt.tensor4(shape=x_shape), pt.tensor4(shape=w_shape), **params).type.shape
        values += random_arrays(x_shape, w_shape, y_shape, dtype="float32", seed=index)
    return values


def test_backends_match_reference(backend_mode, compiled_cases):
    values = case_values()
    expected = []
    for index, (_, _, params) in enumerate(BACKEND_CASES):
        x, w, g = (v.astype("float64") for v in values[3 * index:3 * index + 3])
        expected += [reference_conv(x, w, **params), *reference_gradients(x, w, g, **params)]
    results = compiled_cases(backend_mode)(*values)
    assert len(results) == len(expected)
    for result, reference in zip(results, expected):
        assert result.dtype == "float32"
        np.testing.assert_allclose(result, reference, rtol=1e-4, atol=1e-4)


def test_numba_block_paths_match_perform(compiled_cases):
    """Large images (im2col in row blocks) and large batches of small images
    (several images per block, a shorter last block) against ``perform``."""
    values = case_values(LARGE_IMAGE_SHAPES)
    expected = compiled_cases("FAST_COMPILE")(*values)
    results = compiled_cases("NUMBA")(*values)
    for result, reference in zip(results, expected):
        np.testing.assert_allclose(result, reference, rtol=1e-4, atol=1e-3)


# (image shape, filter shape, parameters, whether the input gradient is the
# direct convolution of the padded output gradient, as for stride 1): batches of small images
# with many channels, which the Numba code convolves by its direct algorithm
# (channels-last GEMMs) instead of im2col, over the families of the grid.
DIRECT_CASES = [
    ((40, 32, 9, 8), (24, 32, 3, 2), dict(), True),
    ((37, 12, 7, 10), (20, 12, 4, 3), dict(border_mode="full", subsample=(2, 2), filter_flip=False), False),
    ((40, 32, 9, 8), (24, 32, 3, 3), dict(border_mode="half", subsample=(2, 3), filter_dilation=(2, 2)),
     False),
    ((40, 32, 9, 8), (24, 32, 2, 3), dict(border_mode=(1, 2), subsample=(3, 2), filter_dilation=(1, 3),
                                          filter_flip=False), False),
    ((40, 32, 9, 8), (24, 32, 3, 2), dict(border_mode="half", filter_dilation=(2, 1)), True),
    ((70, 16, 7, 10), (20, 16, 4, 3), dict(border_mode="full", filter_flip=False), True),
]


def numba_algorithms(x_shape, w_shape, params):
    """``(whether the convolution is direct, whether the input gradient is the
    direct transposed convolution)`` that the C kernel picks for these shapes."""
    from convnet.ops.conv import cpu_kernel

    g = geometry_2d(**params)
    fields = (g.border_code, g.explicit_pads, g.subsample, g.filter_dilation, int(g.filter_flip))
    forward = cpu_kernel.algorithms(cpu_kernel.problem(x_shape, w_shape, *fields, cpu_kernel.FORWARD))
    grad_inputs = cpu_kernel.algorithms(cpu_kernel.problem(x_shape, w_shape, *fields, cpu_kernel.GRAD_INPUTS))
    return forward[0] > 0, grad_inputs[1]


def test_numba_direct_algorithm_matches_perform():
    """The direct algorithm (convolution, filter gradient, and the input gradient
    as a transposed convolution where the stride is 1) gives ``perform``'s
    numbers, in every family of the grid."""
    inputs, outputs, values = [], [], []
    for index, (x_shape, w_shape, params, transposed) in enumerate(DIRECT_CASES):
        assert numba_algorithms(x_shape, w_shape, params) == (True, transposed), (x_shape, params)
        x, w, g = (pt.tensor4(f"{name}{index}") for name in ("x", "w", "g"))
        y = conv2d(x, w, **params)
        inputs += [x, w, g]
        outputs += [y] + pytensor.grad((y * g).sum(), [x, w])
        y_shape = conv2d(pt.tensor4(shape=x_shape), pt.tensor4(shape=w_shape), **params).type.shape
        values += random_arrays(x_shape, w_shape, y_shape, dtype="float32", seed=index)
    expected = pytensor.function(inputs, outputs, mode="FAST_COMPILE")(*values)
    results = pytensor.function(inputs, outputs, mode="NUMBA")(*values)
    for result, reference in zip(results, expected):
        np.testing.assert_allclose(result, reference, rtol=1e-4, atol=1e-3)


def test_numba_picks_im2col_for_large_images_small_batches_and_few_channels():
    assert numba_algorithms((8, 64, 56, 56), (64, 64, 3, 3), dict(border_mode="half")) == (False, False)
    assert numba_algorithms((4, 32, 9, 8), (24, 32, 3, 3), dict(border_mode="half")) == (False, False)
    # MNIST's layers: the first has too few channels; the second is direct.
    assert numba_algorithms((500, 1, 28, 28), (32, 1, 5, 5), dict()) == (False, False)
    assert numba_algorithms((500, 32, 12, 12), (32, 32, 5, 5), dict()) == (True, True)


def test_numba_float64():
    """float64 has kernels of its own (compiled once, so one forward case only)."""
    x_shape, w_shape, params = BACKEND_CASES[2]
    x, w = pt.tensor4("x", dtype="float64"), pt.tensor4("w", dtype="float64")
    convolve = pytensor.function([x, w], conv2d(x, w, **params), mode="NUMBA")
    xv, wv = random_arrays(x_shape, w_shape)
    result = convolve(xv, wv)
    assert result.dtype == "float64"
    np.testing.assert_allclose(result, reference_conv(xv, wv, **params), rtol=1e-12, atol=1e-12)


def test_numba_is_cacheable():
    from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key

    x, w = pt.tensor4("x"), pt.tensor4("w")
    y = conv2d(x, w, border_mode="half")
    for node in [y.owner] + [g.owner for g in pytensor.grad(y.sum(), [x, w])]:
        _, key = numba_funcify_and_cache_key(node.op, node=node)
        assert key is not None


# --- Shapes ------------------------------------------------------------------------


@pytest.mark.parametrize("length, filter_size, stride, pad, dilation, expected", [
    (28, 5, 1, "valid", 1, 24),
    (28, 5, 1, "full", 1, 32),
    (28, 5, 1, "same", 1, 28),
    (224, 3, 2, "half", 1, 112),
    (10, 3, 1, "full", 2, 14),
    (10, 3, 3, 2, 2, 4),
    (None, 3, 1, 0, 1, None),
])
def test_conv_output_length(length, filter_size, stride, pad, dilation, expected):
    assert conv_output_length(length, filter_size, stride, pad, dilation) == expected


@pytest.mark.parametrize("params", GRADIENT_FAMILIES.values(), ids=GRADIENT_FAMILIES.keys())
def test_static_and_inferred_shapes(params):
    x_shape, w_shape = (2, 3, 9, 8), (4, 3, 3, 2)
    expected = reference_conv(*random_arrays(x_shape, w_shape), **params).shape
    static_x, static_w = pt.tensor4(shape=x_shape), pt.tensor4(shape=w_shape)
    assert conv2d(static_x, static_w, **params).type.shape == expected
    gx, gw = pytensor.grad(conv2d(static_x, static_w, **params).sum(), [static_x, static_w])
    assert (gx.type.shape, gw.type.shape) == (x_shape, w_shape)

    x, w = pt.tensor4("x"), pt.tensor4("w")
    y = conv2d(x, w, **params)
    shapes = [y.shape, *(g.shape for g in pytensor.grad(y.sum(), [x, w]))]
    # Shape inference (infer_shape) must answer without running any convolution.
    shape_fn = pytensor.function([x, w], shapes, mode=Mode(linker="py", optimizer="fast_run"),
                                 on_unused_input="ignore")
    assert not any(isinstance(n.op, (Conv, ConvGradInputs, ConvGradWeights))
                   for n in shape_fn.maker.fgraph.apply_nodes)
    xv, wv = random_arrays(x_shape, w_shape, dtype="float32")
    assert [tuple(s) for s in shape_fn(xv, wv)] == [expected, x_shape, w_shape]


def test_shape_hints_become_static():
    y = conv2d(pt.tensor4("x"), pt.tensor4("w"), input_shape=(None, 3, 10, 12),
               filter_shape=(5, 3, 3, 3), border_mode="half")
    assert y.type.shape == (None, 5, 10, 12)
    x = conv2d_grad_wrt_inputs(pt.tensor4("g"), pt.tensor4("w"), (8, 3, 10, 12), (5, 3, 3, 3),
                               subsample=(2, 2), border_mode=1)
    assert x.type.shape == (8, 3, 10, 12)
    w = conv2d_grad_wrt_weights(pt.tensor4("x"), pt.tensor4("g"), (5, 3, 3, 3))
    assert w.type.shape == (5, 3, 3, 3)


def test_gradient_ops_take_shape_vectors(mode):
    x, w, g = pt.tensor4("x"), pt.tensor4("w"), pt.tensor4("g")
    gx = ConvGradInputs(geometry_2d(subsample=(2, 2)))(w, g, x.shape[2:])
    gw = ConvGradWeights(geometry_2d(subsample=(2, 2)))(x, g, w.shape[2:])
    xv, wv, gv = random_arrays((1, 2, 7, 8), (3, 2, 3, 2), (1, 3, 3, 4), dtype="float32")
    results = pytensor.function([x, w, g], [gx, gw], mode=mode)(xv, wv, gv)
    assert [r.shape for r in results] == [xv.shape, wv.shape]
    with pytest.raises(ValueError, match="input_shape must hold 2 spatial sizes"):
        ConvGradInputs(geometry_2d())(w, g, x.shape)


def test_transposed_convolution_with_symbolic_shape(mode):
    """conv2d_grad_wrt_inputs as a layer uses it: output size given as symbolic scalars."""
    g, w, size = pt.tensor4("g"), pt.tensor4("w"), pt.lscalar("size")
    x = conv2d_grad_wrt_inputs(g, w, (None, None, size, 8), subsample=(2, 2))
    gv, wv = random_arrays((1, 2, 3, 3), (2, 4, 3, 3), dtype="float32")
    transposed = pytensor.function([g, w, size], x, mode=mode)
    for rows in (7, 8):  # stride 2: both sizes give 3 output rows
        assert transposed(gv, wv, rows).shape == (1, 4, rows, 8)


# --- Errors ------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, match", [
    (dict(subsample=(0, 1)), "subsample"),
    (dict(subsample=(1, -2)), "subsample"),
    (dict(subsample=(1, 1, 1)), "subsample"),
    (dict(filter_dilation=0), "filter_dilation"),
    (dict(filter_dilation=(1, 1.5)), "filter_dilation"),
    (dict(filter_dilation=1.5), "filter_dilation"),
    (dict(border_mode="wide"), "border_mode"),
    (dict(border_mode=-1), "border_mode"),
    (dict(border_mode=(1, 2, 3)), "border_mode"),
    (dict(border_mode=(1, "half")), "border_mode"),
])
def test_bad_parameters_raise(kwargs, match):
    for build in (lambda: conv2d(pt.tensor4(), pt.tensor4(), **kwargs),
                  lambda: conv2d_grad_wrt_inputs(pt.tensor4(), pt.tensor4(), (1, 1, 5, 5), **kwargs),
                  lambda: conv2d_grad_wrt_weights(pt.tensor4(), pt.tensor4(), (1, 1, 3, 3), **kwargs)):
        with pytest.raises(ValueError, match=match):
            build()


def test_integer_tensors_raise():
    with pytest.raises(TypeError, match="float32 or float64"):
        conv2d(pt.itensor4(), pt.itensor4())


@pytest.mark.parametrize("input, filters, kwargs, match", [
    (pt.matrix(), pt.tensor4(), {}, r"input must be a 4-D tensor, got 2"),
    (pt.tensor4(), pt.tensor3(), {}, r"filters must be a 4-D tensor, got 3"),
    (pt.tensor4(shape=(None, 3, 8, 8)), pt.tensor4(shape=(4, 2, 3, 3)), {},
     r"input has 3 channels but filters has 2 input channels \(input \(None, 3, 8, 8\), "
     r"filters \(4, 2, 3, 3\)\)"),
    (pt.tensor4(), pt.tensor4(), dict(input_shape=(1, 3, 8, 8), filter_shape=(4, 2, 3, 3)),
     r"input has 3 channels but filters has 2"),
    (pt.tensor4(shape=(1, 1, 4, 8)), pt.tensor4(shape=(1, 1, 5, 3)), {},
     r"filters span 5 rows .* padded input has only 4 \(padding 0\)"),
    (pt.tensor4(shape=(1, 1, 8, 4)), pt.tensor4(shape=(1, 1, 3, 3)),
     dict(border_mode=(0, 1), filter_dilation=(1, 3)),
     r"filters span 7 columns \(filter_dilation 3\) but the padded input has only 6 \(padding 1\)"),
    (pt.tensor4(shape=(1, 1, 8, 8)), pt.tensor4(), dict(input_shape=(2, 1, 8, 8)),
     r"input_shape \(2, 1, 8, 8\) does not match the shape \(1, 1, 8, 8\) of input"),
])
def test_bad_shapes_raise_at_graph_construction(input, filters, kwargs, match):
    with pytest.raises(ValueError, match=match):
        conv2d(input, filters, **kwargs)


def test_bad_gradient_shapes_raise_at_graph_construction():
    with pytest.raises(ValueError, match=r"conv2d_grad_wrt_inputs: output_grad has 4 rows but "
                                         r"convolving input_shape gives 3"):
        conv2d_grad_wrt_inputs(pt.tensor4(shape=(1, 2, 4, 4)), pt.tensor4(shape=(2, 3, 3, 3)),
                               (1, 3, 5, 5))
    with pytest.raises(ValueError, match=r"output_grad has 3 channels but filters has 2 output"):
        conv2d_grad_wrt_inputs(pt.tensor4(shape=(1, 3, 3, 3)), pt.tensor4(shape=(2, 3, 3, 3)),
                               (1, 3, 5, 5))
    with pytest.raises(ValueError, match=r"input_shape must give 2 positive spatial sizes"):
        conv2d_grad_wrt_inputs(pt.tensor4(), pt.tensor4(), (1, 3, 0, 5))
    with pytest.raises(ValueError, match=r"conv2d_grad_wrt_weights: output_grad has a batch of 3 "
                                         r"but input has a batch of 2"):
        conv2d_grad_wrt_weights(pt.tensor4(shape=(2, 1, 5, 5)), pt.tensor4(shape=(3, 1, 3, 3)),
                                (1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"filter_shape must give 4 sizes"):
        conv2d_grad_wrt_weights(pt.tensor4(), pt.tensor4(), (3, 3))


@pytest.fixture(scope="module")
def numba_conv2d():
    """conv2d with the parameters of the first backend case (so its compiled
    per-node function comes from the cache)."""
    x, w = pt.tensor4("x"), pt.tensor4("w")
    return pytensor.function([x, w], conv2d(x, w, **BACKEND_CASES[0][2]), mode="NUMBA")


@pytest.mark.parametrize("x_shape, w_shape, match", [
    ((1, 3, 8, 8), (2, 2, 3, 3), r"conv2d: input has 3 channels but filters has 2 input channels "
                                 r"\(input \(1, 3, 8, 8\), filters \(2, 2, 3, 3\)\)"),
    ((1, 1, 2, 9), (2, 1, 3, 3), r"conv2d: filters span 3 rows .* padded input has only 2"),
])
def test_bad_shapes_raise_at_call_time(x_shape, w_shape, match, numba_conv2d):
    """Shapes unknown when building the graph: perform and Numba raise when called."""
    xv, wv = random_arrays(x_shape, w_shape, dtype="float32")
    x, w = pt.tensor4("x"), pt.tensor4("w")
    with pytest.raises(ValueError, match=match):
        pytensor.function([x, w], conv2d(x, w), mode="FAST_COMPILE")(xv, wv)
    with pytest.raises(ValueError, match=match):
        numba_conv2d(xv, wv)


def test_bad_gradient_shapes_raise_at_call_time(mode):
    g, w, rows = pt.tensor4("g"), pt.tensor4("w"), pt.lscalar("rows")
    transposed = pytensor.function([g, w, rows], conv2d_grad_wrt_inputs(g, w, (None, None, rows, 5)),
                                   mode=mode)
    gv, wv = random_arrays((1, 2, 3, 3), (2, 4, 3, 3), dtype="float32")
    with pytest.raises(ValueError, match=r"conv2d_grad_wrt_inputs: output_grad has 3 rows but "
                                         r"convolving input_shape gives 4 \(input_shape \(1, 4, 6, 5\)"):
        transposed(gv, wv, 6)


# --- Threads -------------------------------------------------------------------------


def scipy_openblas_threads():
    """The thread count of the OpenBLAS behind SciPy (the one Numba calls), or
    None where threadpoolctl cannot see one."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    for library in threadpoolctl.threadpool_info():
        if library["internal_api"] == "openblas" and "scipy" in library["filepath"] \
                and "numpy" not in library["filepath"]:
            return library["num_threads"]
    return None


@pytest.mark.parametrize("blas_threads", [1, 2])
def test_numba_workers_leave_blas_threads_as_they_were(blas_threads, compiled_cases):
    """The workers limit BLAS to one thread each while they run, and every
    thread (the caller's too) gets its setting back; a BLAS limited to one
    thread gives one worker, and the same results."""
    from threadpoolctl import threadpool_limits

    if scipy_openblas_threads() is None:
        pytest.skip("Numba's BLAS is not an OpenBLAS that threadpoolctl sees")
    values = case_values(LARGE_IMAGE_SHAPES)
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        results = compiled_cases("NUMBA")(*values)
        assert scipy_openblas_threads() == blas_threads
    expected = compiled_cases("FAST_COMPILE")(*values)
    for result, reference in zip(results, expected):
        np.testing.assert_allclose(result, reference, rtol=1e-4, atol=1e-3)


def test_numba_kernels_run_serially_without_openblas():
    """With a BLAS whose threads convnet cannot set (where SciPy's BLAS is not
    an OpenBLAS), the kernel runs one worker and still gives the results, on
    both CPU backends."""
    code = """
import numpy as np, pytensor, pytensor.tensor as pt
from convnet.ops.conv import conv2d, cpu_kernel
cpu_kernel._openblas_thread_functions = lambda gemm_address: (0, 0)
x, w = pt.tensor4("x"), pt.tensor4("w")
y = conv2d(x, w, border_mode="half")
gx, gw = pytensor.grad(y.sum(), [x, w])
values = [np.random.default_rng(0).standard_normal(s).astype("float32") for s in ((4, 3, 40, 40), (5, 3, 3, 3))]
reference = pytensor.function([x, w], [y, gx, gw], mode="FAST_COMPILE")(*values)
for mode in ("NUMBA", "CONVNET_CPU"):
    for result, expected in zip(pytensor.function([x, w], [y, gx, gw], mode=mode)(*values), reference):
        np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-3)
spec = cpu_kernel.problem((4, 3, 40, 40), (5, 3, 3, 3), 1, (0, 0), (1, 1), (1, 1), 1, cpu_kernel.FORWARD)
assert cpu_kernel.algorithms(spec)[2] == 1
"""
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("blas_threads", [1, 2])
def test_kernel_runs_one_worker_per_blas_thread(blas_threads):
    """The C kernel shares a batch among as many workers as BLAS may use threads."""
    import os

    from threadpoolctl import threadpool_limits

    from convnet.ops.conv import cpu_kernel

    if scipy_openblas_threads() is None:
        pytest.skip("SciPy's BLAS is not an OpenBLAS that threadpoolctl sees")
    # Six blocks of about 2**19 numbers each.
    spec = cpu_kernel.problem((64, 3, 40, 40), (5, 3, 3, 3), 1, (0, 0), (1, 1), (1, 1), 1, cpu_kernel.FORWARD)
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        assert cpu_kernel.algorithms(spec)[2] == min(blas_threads, len(os.sched_getaffinity(0)))


def test_kernel_calls_from_several_threads_agree_and_leave_blas_threads_as_they_were(compiled_cases):
    """The kernel runs without the GIL, so calls from several Python threads
    overlap: each gets the reference's numbers, and BLAS gets back its thread
    count when the last of them is done."""
    from concurrent.futures import ThreadPoolExecutor

    threads_before = scipy_openblas_threads()
    values = case_values(LARGE_IMAGE_SHAPES)
    expected = compiled_cases("FAST_COMPILE")(*values)
    function = compiled_cases("CONVNET_CPU")
    function(*values)
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda _: function.copy()(*values), range(8)))
    for results in runs:
        for result, reference in zip(results, expected):
            np.testing.assert_allclose(result, reference, rtol=1e-4, atol=1e-3)
    assert scipy_openblas_threads() == threads_before


def test_an_unbuilt_kernel_is_compiled_into_the_compiledir(tmp_path):
    """A source checkout imported without an in-place build (no extension next
    to the sources) compiles the kernel once into PyTensor's compiledir."""
    code = """
import sys
sys.modules["convnet.ops.conv._kernel"] = None  # as if it were not built
import numpy as np, pytensor
from convnet.ops.conv import cpu_kernel
images, filters, output = np.ones((2, 3, 5, 5)), np.ones((4, 3, 3, 3)), np.empty((2, 4, 3, 3))
cpu_kernel.run(images, filters, output, cpu_kernel.problem(images.shape, filters.shape, 0, (0, 0), (1, 1),
                                                           (1, 1), 1, cpu_kernel.FORWARD))
print(cpu_kernel.kernel().__file__.startswith(str(pytensor.config.compiledir)), sorted(set(output.ravel().tolist())))
"""
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={tmp_path}"}
    for _ in range(2):  # compiled, then loaded
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.split() == ["True", "[27.0]"]
    assert len(list(tmp_path.rglob("convnet_kernels/_kernel_*"))) == 1


def test_kernel_refuses_operands_of_the_wrong_size():
    from convnet.ops.conv import cpu_kernel

    images, filters = np.ones((2, 3, 5, 5), "float32"), np.ones((4, 3, 3, 3), "float32")
    spec = cpu_kernel.problem(images.shape, filters.shape, 0, (0, 0), (1, 1), (1, 1), 1, cpu_kernel.GRAD_WEIGHTS)
    with pytest.raises(ValueError, match="operand 1 has 200 elements, the problem needs 72"):
        cpu_kernel.run(images, np.ones((2, 4, 5, 5), "float32"), np.empty((4, 3, 3, 3), "float32"), spec)
    with pytest.raises(TypeError, match="one float dtype"):
        cpu_kernel.run(images, np.ones((2, 4, 3, 3)), np.empty((4, 3, 3, 3), "float32"), spec)
