"""Tests of convnet.ops.pool: values against an independent reference, gradients,
agreement of the Python / Numba / JAX implementations, shapes and errors.

The reference walks the windows one by one with explicit loops (windows are
listed by stepping the start until the border rule stops it, not by the
output-length formula), so it shares no code with the implementations.
Grid tests run the NumPy ``perform`` (FAST_COMPILE); the Numba and JAX
backends each compile one graph covering every mode and op, since each Numba
compilation costs seconds.
"""
import itertools
import math

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.gradient import verify_grad

import convnet.linker
from convnet.linker import _TieredFunction
from convnet.ops.pool import (
    POOL_MODES,
    AveragePoolGrad,
    MaxPoolGrad,
    MaxPoolGradGrad,
    Pool,
    PoolGeometry,
    pool2d,
    pool3d,
    pool_output_length,
)

# --- Reference --------------------------------------------------------------------


def reference_window_starts(length, window, stride, pad, ignore_border):
    """Starts (in padded coordinates) of the windows along one axis."""
    padded = length + 2 * pad
    starts = []
    start = 0
    while True:
        if start + window <= padded:
            starts.append(start)  # a whole window
        elif not ignore_border and start < padded and (not starts or starts[-1] + window < padded):
            starts.append(start)  # a partial window that still reaches uncovered cells
        else:
            return starts
        start += stride


def reference_windows(shape, ws, stride, pad, ignore_border):
    """For each output cell (a tuple, one index per pooled axis): the input cells of its
    window, and how many cells of the padded input it covers; and the output lengths."""
    starts = [reference_window_starts(n, w, s, p, ignore_border) for n, w, s, p in zip(shape, ws, stride, pad)]
    windows = {}
    for out_cell in itertools.product(*(range(len(axis_starts)) for axis_starts in starts)):
        first = [axis_starts[i] for axis_starts, i in zip(starts, out_cell)]
        cells, padded_size = [], 0
        for offset in itertools.product(*(range(w) for w in ws)):
            cell = [f + o for f, o in zip(first, offset)]
            if all(c < n + 2 * p for c, n, p in zip(cell, shape, pad)):
                padded_size += 1
            if all(p <= c < p + n for c, n, p in zip(cell, shape, pad)):
                cells.append(tuple(c - p for c, p in zip(cell, pad)))
        windows[out_cell] = cells, padded_size
    return windows, tuple(len(axis_starts) for axis_starts in starts)


def reference_output_shape(shape, ws, stride, pad, ignore_border):
    n = len(ws)
    _, out_shape = reference_windows(shape[-n:], ws, stride or ws, pad, ignore_border)
    return tuple(shape[:-n]) + out_shape


def reference_pool(x, ws, stride=None, pad=None, ignore_border=True, mode="max", direction=None,
                   output_grad=None):
    """Pooled ``x`` over its last ``len(ws)`` axes; with ``output_grad``, also the gradient of
    ``sum(pooled * output_grad)`` with respect to ``x``; with ``direction``, also the directional
    derivative of the pooling at ``x`` along ``direction``. Explicit loops over windows and cells."""
    n = len(ws)
    stride, pad = stride or ws, pad or (0,) * n
    windows, out_shape = reference_windows(x.shape[-n:], ws, stride, pad, ignore_border)
    lead = x.shape[:-n]
    pooled = np.zeros(lead + out_shape)
    grad = np.zeros(x.shape)
    derivative = np.zeros(lead + out_shape)
    for k in np.ndindex(*lead):
        image = x[k]
        for out_cell, (cells, padded_size) in windows.items():
            values = [image[cell] for cell in cells]
            if mode == "max":
                value = max(values)
                weights = {cell: float(image[cell] == value) for cell in cells}
            elif mode == "l2":
                value = math.sqrt(sum(v * v for v in values))
                weights = {cell: image[cell] / value for cell in cells}
            else:
                divisor = {"sum": 1, "average_inc_pad": padded_size, "average_exc_pad": len(cells)}[mode]
                value = sum(values) / divisor
                weights = {cell: 1 / divisor for cell in cells}
            pooled[k + out_cell] = value
            for cell, weight in weights.items():
                if output_grad is not None:
                    grad[k + cell] += weight * output_grad[k + out_cell]
                if direction is not None:
                    derivative[k + out_cell] += weight * direction[k + cell]
    return pooled, grad, derivative


def distinct_values(shape, seed=0):
    """Values spaced apart (no ties, well-conditioned max) in random order, all positive
    (so L2 pooling is smooth)."""
    rng = np.random.default_rng(seed)
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.37 + 1.0) / 10


def compile_fast(inputs, outputs):
    return pytensor.function(inputs, outputs, mode="FAST_COMPILE")


def check_gradient(fun, values, seed):
    """``verify_grad`` with every function on the Python backend (by default its cost
    function would compile with Numba)."""
    verify_grad(fun, values, rng=np.random.default_rng(seed), mode="FAST_COMPILE", no_debug_ref=False)


# --- Forward values and shapes (NumPy perform) --------------------------------------

GEOMETRIES = [
    # shape, ws, stride, pad, ignore_border
    ((2, 3, 5, 7), (2, 2), None, (0, 0), True),
    ((2, 3, 5, 7), (2, 2), None, (0, 0), False),
    ((2, 1, 6, 5), (3, 2), (1, 1), (0, 0), True),  # stride smaller than ws: overlapping windows
    ((2, 1, 6, 5), (3, 2), (2, 1), (0, 0), False),
    ((1, 2, 7, 9), (2, 3), (3, 4), (0, 0), True),  # stride larger than ws: gaps between windows
    ((1, 2, 7, 9), (2, 3), (3, 4), (0, 0), False),
    ((2, 2, 7, 6), (3, 3), (2, 2), (1, 1), True),  # padding
    ((1, 2, 5, 6), (3, 2), (2, 1), (2, 1), True),
    ((1, 1, 5, 7), (5, 7), None, (0, 0), True),  # one window covering the image
    ((1, 1, 4, 3), (1, 1), None, (0, 0), True),  # identity
    ((3, 5, 6), (2, 3), (1, 2), (1, 0), True),  # 3-d input
    ((2, 2, 2, 5, 4), (2, 2), (1, 2), (0, 0), False),  # 5-d input
    ((5, 4), (2, 2), (1, 1), (1, 1), True),  # 2-d input
]


GEOMETRIES_3D = [
    # shape, ws, stride, pad, ignore_border
    ((2, 1, 4, 5, 4), (2, 2, 2), None, (0, 0, 0), True),
    ((1, 2, 5, 4, 6), (2, 3, 2), None, (0, 0, 0), False),  # partial windows on every axis
    ((1, 2, 5, 6, 4), (3, 2, 2), (2, 1, 3), (0, 0, 0), False),  # overlap, gaps, partial windows
    ((2, 1, 5, 4, 5), (3, 2, 3), (2, 2, 1), (1, 1, 2), True),  # padding, overlap
    ((3, 4, 5, 4), (2, 2, 3), (1, 2, 2), (1, 0, 1), True),  # 4-d input
]


def infer_shape(node, input_shapes):
    """``node.op.infer_shape``, which takes no ``fgraph`` argument from PyTensor 3.1 on."""
    if tuple(int(part) for part in pytensor.__version__.split(".")[:2]) < (3, 1):
        return node.op.infer_shape(None, node, input_shapes)
    return node.op.infer_shape(node, input_shapes)


@pytest.mark.parametrize("mode", POOL_MODES)
@pytest.mark.parametrize("shape, ws, stride, pad, ignore_border", GEOMETRIES + GEOMETRIES_3D)
def test_forward_matches_reference(shape, ws, stride, pad, ignore_border, mode):
    x_value = distinct_values(shape)
    x = pt.tensor("x", dtype=x_value.dtype, shape=(None,) * len(shape))
    pool = {2: pool2d, 3: pool3d}[len(ws)]
    pooled = pool(x, ws, ignore_border=ignore_border, stride=stride, pad=pad, mode=mode)
    inferred_shape = infer_shape(pooled.owner, [tuple(x.shape[i] for i in range(x.ndim))])[0]
    value, *inferred = compile_fast([x], [pooled, *inferred_shape])(x_value)
    expected, _, _ = reference_pool(x_value, ws, stride, pad, ignore_border, mode)
    assert value.dtype == x_value.dtype
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    assert tuple(inferred) == value.shape
    stride = stride or ws
    assert value.shape[-len(ws):] == tuple(
        pool_output_length(n, w, s, p, ignore_border) for n, w, s, p in zip(shape[-len(ws):], ws, stride, pad)
    )


def test_static_output_shape():
    x = pt.tensor("x", shape=(None, 3, 7, None))
    pooled = pool2d(x, (3, 2), stride=(2, 2), pad=(1, 1))
    assert pooled.type.shape == (None, 3, 4, None)
    assert pooled.dtype == x.dtype


def test_non_contiguous_input():
    x_value = distinct_values((2, 6, 5)).transpose(0, 2, 1)[:, ::2]
    x = pt.tensor3("x", dtype=x_value.dtype)
    value = compile_fast([x], pool2d(x, (2, 2), ignore_border=False, mode="average_exc_pad"))(x_value)
    np.testing.assert_allclose(value, reference_pool(x_value, (2, 2), ignore_border=False,
                                                     mode="average_exc_pad")[0])


def test_max_gradient_goes_to_every_tied_maximum():
    x_value = np.array([[[[1.0, 3.0, 0.0], [3.0, 2.0, 0.0]]]])
    x = pt.tensor4("x", dtype=x_value.dtype)
    grad = pytensor.grad(pool2d(x, (2, 2), stride=(1, 1)).sum() * 10, x)
    np.testing.assert_array_equal(compile_fast([x], grad)(x_value), [[[[0, 20, 0], [10, 0, 0]]]])


@pytest.mark.parametrize(
    "args, expected",
    [
        ((24, 2, 2, 0, True), 12),
        ((7, 3, 2, 1, True), 4),
        ((5, 2, 2, 0, False), 3),
        ((6, 3, 2, 0, False), 3),  # the last window is partial
        ((6, 2, 3, 0, False), 2),  # gaps between windows
        ((1, 3, 1, 0, False), 1),  # window larger than the input
        ((None, 2, 2, 0, True), None),
        ((5, None, 2, 0, True), None),
    ],
)
def test_pool_output_length(args, expected):
    assert pool_output_length(*args) == expected


# --- Gradients (float64, finite differences) ----------------------------------------

GRADIENT_GEOMETRIES = [
    # shape, ws, stride, pad, ignore_border
    ((2, 2, 5, 4), (2, 2), None, (0, 0), False),
    ((1, 2, 6, 5), (3, 2), (2, 1), (1, 1), True),
    ((3, 5, 6), (2, 3), (1, 2), (0, 0), False),
]


@pytest.mark.parametrize("mode", POOL_MODES)
@pytest.mark.parametrize("shape, ws, stride, pad, ignore_border", GRADIENT_GEOMETRIES)
def test_gradient(shape, ws, stride, pad, ignore_border, mode):
    def pool(x):
        return pool2d(x, ws, ignore_border=ignore_border, stride=stride, pad=pad, mode=mode)

    check_gradient(pool, [distinct_values(shape)], seed=1)


@pytest.mark.parametrize("mode", POOL_MODES)
@pytest.mark.parametrize("shape, ws, stride, pad, ignore_border", GRADIENT_GEOMETRIES[:2])
def test_second_derivatives(shape, ws, stride, pad, ignore_border, mode):
    """Differentiate the gradient graph (through MaxPoolGrad, AveragePoolGrad and the L2
    composition) with respect to both the input and the output gradient."""
    x_value = distinct_values(shape)
    output_grad = np.random.default_rng(2).standard_normal(
        reference_output_shape(shape, ws, stride, pad, ignore_border))

    def input_gradient(x, u):
        pooled = pool2d(x, ws, ignore_border=ignore_border, stride=stride, pad=pad, mode=mode)
        return pytensor.grad((pooled * u).sum(), x)

    check_gradient(input_gradient, [x_value, output_grad], seed=2)


def test_max_pool_grad_grad_gradient():
    x_value = distinct_values((2, 1, 5, 5))
    pooled_value = reference_pool(x_value, (3, 3), (2, 2), (1, 1))[0]
    op = MaxPoolGradGrad((3, 3), (2, 2), (1, 1))
    cotangent = np.random.default_rng(3).standard_normal(x_value.shape)
    check_gradient(lambda c: op(x_value, pooled_value, c), [cotangent], seed=3)


# --- Backends: Python, Numba and JAX give the same numbers ---------------------------

BACKEND_CONFIGS = [
    # mode, ws, stride, pad, ignore_border, input, check second derivatives
    ("max", (2, 2), None, (0, 0), True, "x", False),
    ("max", (3, 2), (2, 1), (1, 1), True, "ties", True),
    ("sum", (2, 3), (1, 2), (0, 0), False, "image", True),
    ("average_inc_pad", (3, 3), (2, 2), (1, 1), True, "x", False),
    ("average_exc_pad", (3, 3), (2, 2), (1, 1), True, "x", False),
    ("l2", (2, 3), (1, 2), (0, 0), False, "image", True),
]
"""Every op and mode, on whole and partial windows, padding, overlapping windows, tied
maxima, and a 3-d non-contiguous input; kept short since each Numba op compiles for seconds."""


def pooling_checks(source, source_value, pooled, ws, stride, pad, ignore_border, mode, second_order, rng, label):
    """Values to feed and ``(output, reference, label)`` checks of one pooling of ``source``:
    the pooled values, the gradient of ``sum(pooled * u)`` and, with ``second_order`` (through
    the gradient ops' own gradients), the derivative of the pooling along ``v``."""
    dtype = source.dtype
    out_shape = reference_output_shape(source_value.shape, ws, stride, pad, ignore_border)
    u = pt.tensor(dtype=dtype, shape=(None,) * len(out_shape))
    v = pt.tensor(dtype=dtype, shape=(None,) * source.ndim)
    fed = {u: rng.standard_normal(out_shape).astype(dtype), v: rng.standard_normal(source_value.shape).astype(dtype)}
    grad = pytensor.grad((pooled * u).sum(), source)
    pooled_ref, grad_ref, derivative_ref = reference_pool(
        source_value.astype("float64"), ws, stride, pad, ignore_border, mode, direction=fed[v], output_grad=fed[u])
    checks = [(pooled, pooled_ref, f"{label}: pooled"), (grad, grad_ref, f"{label}: gradient")]
    if second_order:
        checks.append((pytensor.grad((grad * v).sum(), u), derivative_ref, f"{label}: derivative"))
    return fed, checks


def run_checks(fed, checks, backend_mode):
    """Compile every check's output in one function on ``backend_mode`` and compare. On
    convnet's CPU linker, which runs the Ops' NumPy code while it compiles their kernels,
    the results are those of the compiled kernels."""
    outputs = [output for output, _, _ in checks]
    function = pytensor.function(list(fed), outputs, mode=backend_mode, on_unused_input="ignore")
    results = function(*fed.values())
    if backend_mode == "CONVNET_CPU":
        convnet.linker.compiler.wait()
        results = function(*fed.values())
        pooling = [thunk.function for thunk in function.vm.thunks
                   if isinstance(getattr(thunk, "function", None), _TieredFunction)
                   and isinstance(thunk.function.op, (Pool, MaxPoolGrad, MaxPoolGradGrad, AveragePoolGrad))]
        assert pooling and all(tiered.dispatcher is not None for tiered in pooling)
    for result, (_, reference, label) in zip(results, checks):
        np.testing.assert_allclose(np.asarray(result), reference, rtol=2e-5, atol=2e-5, err_msg=label)


def test_backends_agree_with_reference(backend_mode):
    """One compiled function per backend covering every configuration."""
    dtype = "float32"
    x = pt.tensor4("x", dtype=dtype)
    ties = pt.tensor4("ties", dtype=dtype)
    x_value = distinct_values((3, 2, 7, 8)).astype(dtype)
    ties_value = np.round(x_value * 3) / 3
    sources = {"x": (x, x_value), "ties": (ties, ties_value), "image": (x[:, 1], x_value[:, 1])}
    rng = np.random.default_rng(4)
    fed, checks = {x: x_value, ties: ties_value}, []
    for mode, ws, stride, pad, ignore_border, name, second_order in BACKEND_CONFIGS:
        source, source_value = sources[name]
        pooled = pool2d(source, ws, ignore_border=ignore_border, stride=stride, pad=pad, mode=mode)
        more_fed, more_checks = pooling_checks(source, source_value, pooled, ws, stride, pad, ignore_border, mode,
                                               second_order, rng, f"{mode} on {name}")
        fed.update(more_fed)
        checks += more_checks
    run_checks(fed, checks, backend_mode)


def test_backends_reject_a_window_larger_than_the_runtime_input(backend_mode):
    x = pt.tensor4("x", dtype="float32")
    f = pytensor.function([x], pool2d(x, (2, 2)), mode=backend_mode)
    with pytest.raises(ValueError, match="window must fit in the padded input"):
        f(np.zeros((1, 1, 1, 3), dtype="float32"))


# --- NaN: never hidden, on every backend ------------------------------------------

NAN_CONFIGS = [
    # mode, ws, stride, pad, ignore_border
    *((mode, (2, 2), None, (0, 0), True) for mode in POOL_MODES),
    *((mode, (3, 2), (2, 1), (1, 1), True) for mode in POOL_MODES),  # padding, overlapping windows
    ("max", (2, 3), (1, 2), (0, 0), False),  # partial windows
    ("average_exc_pad", (2, 3), (1, 2), (0, 0), False),
]
"""Every pool mode (:data:`POOL_MODES`), plus padding, overlap and partial windows."""

NAN_CELLS = [(0, 0, 1, 1), (0, 1, 4, 3), (1, 0, 2, 0)]
"""NaN positions in a ``(2, 2, 6, 5)`` input: none of them first in its ``(2, 2)`` window,
where a ``best = max(best, value)`` loop would drop it."""


def nan_windows(shape, cells, ws, stride, pad, ignore_border):
    """Boolean masks of the output windows that hold a NaN cell and of the input cells
    in such a window."""
    windows, out_shape = reference_windows(shape[-2:], ws, stride or ws, pad, ignore_border)
    pooled_nan, cell_nan = np.zeros(shape[:-2] + out_shape, bool), np.zeros(shape, bool)
    for *lead, r, c in cells:
        for (i, j), (window_cells, _) in windows.items():
            if (r, c) in window_cells:
                pooled_nan[(*lead, i, j)] = True
                for cell in window_cells:
                    cell_nan[(*lead, *cell)] = True
    return pooled_nan, cell_nan


def test_nan_propagates_on_every_backend(backend_mode):
    """A window holding a NaN pools to NaN in every mode and on every backend; the
    other windows are untouched. Max and L2 gradients (which depend on the values) are
    NaN on every cell of a NaN window, never a finite guess; sum and average gradients
    do not depend on the values and stay exact. The max pooling's second derivative
    (MaxPoolGradGrad) is NaN for NaN windows."""
    dtype = "float32"
    x = pt.tensor4("x", dtype=dtype)
    clean = distinct_values((2, 2, 6, 5)).astype(dtype)
    x_value = clean.copy()
    for cell in NAN_CELLS:
        x_value[cell] = np.nan
    rng = np.random.default_rng(5)
    fed, outputs, checks = {x: x_value}, [], []
    for mode, ws, stride, pad, ignore_border in NAN_CONFIGS:
        label = f"{mode} ws={ws} stride={stride} pad={pad} ignore_border={ignore_border}"
        pooled = pool2d(x, ws, ignore_border=ignore_border, stride=stride, pad=pad, mode=mode)
        pooled_nan, cell_nan = nan_windows(x_value.shape, NAN_CELLS, ws, stride, pad, ignore_border)
        u = pt.tensor4(dtype=dtype)
        fed[u] = rng.standard_normal(pooled_nan.shape).astype(dtype)
        grad = pytensor.grad((pooled * u).sum(), x)
        pooled_ref, grad_ref, _ = reference_pool(
            clean.astype("float64"), ws, stride, pad, ignore_border, mode, output_grad=fed[u])
        value_dependent = mode in ("max", "l2")
        outputs += [pooled, grad]
        checks += [(f"{label}: pooled", pooled_ref, pooled_nan),
                   (f"{label}: gradient", grad_ref, cell_nan if value_dependent else None)]
        if mode == "max":
            v = pt.tensor4(dtype=dtype)
            fed[v] = rng.standard_normal(x_value.shape).astype(dtype)
            outputs.append(pytensor.grad((grad * v).sum(), u))
            _, _, derivative_ref = reference_pool(clean.astype("float64"), ws, stride, pad, ignore_border,
                                                  mode, direction=fed[v])
            checks.append((f"{label}: derivative", derivative_ref, pooled_nan))
    results = pytensor.function(list(fed), outputs, mode=backend_mode, on_unused_input="ignore")(*fed.values())
    for result, (label, reference, nan_mask) in zip(results, checks):
        result = np.asarray(result)
        if nan_mask is None:
            nan_mask = np.zeros(result.shape, bool)
        assert nan_mask.any() or "gradient" in label, label
        np.testing.assert_array_equal(np.isnan(result), nan_mask, err_msg=f"{label}: NaN positions")
        np.testing.assert_allclose(result[~nan_mask], reference[~nan_mask], rtol=2e-5, atol=2e-5, err_msg=label)


def test_nan_in_the_incoming_gradient_reaches_the_input_gradient(backend_mode):
    """Backward NaN propagates too: a NaN in the pooled output's gradient makes the input
    gradient NaN on the cells that window sends gradient to (its maximum for max
    pooling, all its cells otherwise)."""
    x = pt.tensor4("x", dtype="float32")
    u = pt.tensor4("u", dtype="float32")
    x_value = distinct_values((1, 1, 4, 4)).astype("float32")
    u_value = np.ones((1, 1, 2, 2), "float32")
    u_value[0, 0, 1, 0] = np.nan
    modes = ("max", "sum", "average_inc_pad", "average_exc_pad", "l2")
    grads = [pytensor.grad((pool2d(x, (2, 2), mode=m) * u).sum(), x) for m in modes]
    results = pytensor.function([x, u], grads, mode=backend_mode)(x_value, u_value)
    window = x_value[0, 0, 2:, :2]
    for mode, grad in zip(modes, results):
        expected = np.zeros((4, 4), bool)
        if mode == "max":
            expected[2:, :2] = window == window.max()
        else:
            expected[2:, :2] = True
        np.testing.assert_array_equal(np.isnan(np.asarray(grad)[0, 0]), expected, err_msg=mode)


def test_numba_functions_are_cacheable_under_the_kernel_cache_key():
    """Every kernel is keyed by kernel_cache_key over the pool package's sources, one key per
    op and geometry."""
    from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key

    from convnet.ops.kernel_cache import kernel_cache_key

    x, x5 = pt.tensor4("x"), pt.tensor("x5", shape=(None,) * 5)
    pooled, pooled3 = pool2d(x, (2, 2)), pool3d(x5, (2, 2, 2))
    nodes = [
        pooled.owner,
        MaxPoolGrad((2, 2))(x, pooled, pooled).owner,
        MaxPoolGradGrad((2, 2))(x, pooled, x).owner,
        AveragePoolGrad((2, 2), mode="average_inc_pad")(x, pooled).owner,
        pooled3.owner,
        MaxPoolGrad((2, 2, 2))(x5, pooled3, pooled3).owner,
    ]
    keys = []
    for node in nodes:
        _, key = numba_funcify_and_cache_key(node.op, node=node)
        assert key == kernel_cache_key(node.op, node, "pool/geometry.py", "pool/ops.py", "pool/numba_backend.py")
        keys.append(key)
    assert len(set(keys)) == len(keys)


# --- Bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"ws": (0, 2)}, r"ws must be positive, got ws=\(0, 2\)"),
        ({"ws": (2, 2, 2)}, r"ws must be 2 positive integers, got ws=\(2, 2, 2\)"),
        ({"ws": 2}, r"ws must be 2 positive integers, got ws=2"),
        ({"ws": (2.0, 2)}, r"ws must be 2 positive integers, got ws=\(2.0, 2\)"),
        ({"stride": (1, 0)}, r"stride must be positive, got stride=\(1, 0\)"),
        ({"pad": (-1, 0)}, r"pad must be non-negative, got pad=\(-1, 0\)"),
        ({"pad": (1, 2)}, r"pad must be smaller than ws on each axis, got pad=\(1, 2\) with ws=\(2, 2\)"),
        ({"mode": "mean"}, r"mode must be one of \('max', 'sum', .*\), got mode='mean'"),
        ({"pad": (1, 1), "ignore_border": False},
         r"padding requires ignore_border=True .* got ignore_border=False with pad=\(1, 1\)"),
        ({"ignore_border": "yes"}, r"ignore_border must be True or False, got ignore_border='yes'"),
        ({"ws": (3, 3), "static_shape": (None, 1, 2, 5)},
         r"with ignore_border=True the window must fit in the padded input, got ws=\(3, 3\) for pooled "
         r"input lengths \(2, 5\) padded by pad=\(0, 0\) to \(2, 5\)"),
        ({"static_shape": (4,)}, r"input must have at least 2 dimensions .* got a 1-d input with shape \(4,\)"),
    ],
    ids=["zero-ws", "ws-length", "ws-int", "ws-float", "zero-stride", "negative-pad", "pad-not-smaller",
         "unknown-mode", "pad-without-ignore-border", "ignore-border-not-bool", "window-too-big", "1-d-input"],
)
def test_bad_input_raises_naming_the_argument(kwargs, message):
    kwargs = {"ws": (2, 2), **kwargs}
    x = pt.tensor("x", shape=kwargs.pop("static_shape", (None, 1, 8, 8)))
    with pytest.raises(ValueError, match=message):
        pool2d(x, **kwargs)


def test_window_larger_than_runtime_input_raises_with_the_shapes():
    x = pt.tensor4("x")
    f = compile_fast([x], pool2d(x, (3, 3)))
    with pytest.raises(ValueError, match=r"window must fit in the padded input, got ws=\(3, 3\) for pooled "
                                         r"input lengths \(2, 5\)"):
        f(np.zeros((1, 1, 2, 5), dtype=x.dtype))


@pytest.mark.parametrize(
    "args, message",
    [
        ((5, 0, 1, 0, True), r"pool_size must be positive, got pool_size=\(0,\)"),
        ((5, 2, 2, 1, False), r"padding requires ignore_border=True"),
        ((1, 3, 1, 0, True), r"window must fit in the padded input, got pool_size=\(3,\)"),
    ],
)
def test_pool_output_length_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        pool_output_length(*args)


def test_grad_op_inputs_must_match_the_input_rank():
    x = pt.tensor4("x")
    with pytest.raises(ValueError, match=r"pooled_grad must have 4 dimensions like the pooled input, got shape "
                                         r"\(None, None, None\)"):
        AveragePoolGrad((2, 2))(x, pt.tensor3("g"))


def test_pool_op_is_hashable_by_its_props():
    assert Pool((2, 2)) == Pool((2, 2), stride=(2, 2), pad=(0, 0), ignore_border=True, mode="max")
    assert hash(Pool((2, 2))) == hash(Pool([2, 2], np.array([2, 2])))
    assert Pool((2, 2)) != Pool((2, 2), mode="sum")


# --- Three and one pooled axes --------------------------------------------------------



def test_static_output_shape_3d():
    x = pt.tensor("x", shape=(None, 3, 7, None, 5))
    pooled = pool3d(x, (3, 2, 2), stride=(2, 2, 1), pad=(1, 1, 0))
    assert pooled.type.shape == (None, 3, 4, None, 4)


@pytest.mark.parametrize("mode", POOL_MODES)
@pytest.mark.parametrize("shape, ws, stride, pad, ignore_border", [GEOMETRIES_3D[2], GEOMETRIES_3D[3]])
def test_gradient_3d(shape, ws, stride, pad, ignore_border, mode):
    def pool(x):
        return pool3d(x, ws, ignore_border=ignore_border, stride=stride, pad=pad, mode=mode)

    check_gradient(pool, [distinct_values(shape)], seed=6)


@pytest.mark.parametrize("mode", ["max", "average_exc_pad", "l2"])
def test_second_derivatives_3d(mode):
    shape, ws, stride, pad, ignore_border = GEOMETRIES_3D[3]
    output_grad = np.random.default_rng(7).standard_normal(reference_output_shape(shape, ws, stride, pad, True))

    def input_gradient(x, u):
        pooled = pool3d(x, ws, ignore_border=ignore_border, stride=stride, pad=pad, mode=mode)
        return pytensor.grad((pooled * u).sum(), x)

    check_gradient(input_gradient, [distinct_values(shape), output_grad], seed=8)


def test_max_pool_grad_grad_gradient_3d():
    shape, ws, stride, pad, _ = GEOMETRIES_3D[3]
    x_value = distinct_values(shape)
    pooled_value = reference_pool(x_value, ws, stride, pad)[0]
    op = MaxPoolGradGrad(ws, stride, pad)
    cotangent = np.random.default_rng(9).standard_normal(x_value.shape)
    check_gradient(lambda c: op(x_value, pooled_value, c), [cotangent], seed=9)


def test_one_pooled_axis_matches_reference():
    x_value = distinct_values((2, 3, 9))
    x = pt.tensor3("x", dtype=x_value.dtype)
    for ws, stride, pad, ignore_border, mode in [((3,), (2,), (1,), True, "average_inc_pad"),
                                                  ((4,), (3,), (0,), False, "max")]:
        value = compile_fast([x], Pool(ws, stride, pad, ignore_border, mode)(x))(x_value)
        np.testing.assert_allclose(value, reference_pool(x_value, ws, stride, pad, ignore_border, mode)[0])


BACKEND_CONFIGS_3D = [
    # mode, ws, stride, pad, ignore_border, check second derivatives
    ("max", (2, 3, 2), (1, 2, 2), (1, 1, 0), True, True),
    ("average_exc_pad", (3, 2, 2), (2, 2, 1), (1, 0, 1), True, False),
    ("average_inc_pad", (2, 2, 3), None, (0, 0, 0), False, False),
    ("l2", (2,), (1,), (0,), False, False),  # one pooled axis
]
"""Every op on three (and one) pooled axes: padding, overlap, partial windows and tied maxima."""


def test_backends_agree_with_reference_3d(backend_mode):
    dtype = "float32"
    x = pt.tensor("x", dtype=dtype, shape=(None,) * 5)
    x_value = (np.round(distinct_values((2, 2, 5, 6, 5)) * 3) / 3).astype(dtype)  # with ties
    rng = np.random.default_rng(10)
    fed, checks = {x: x_value}, []
    for mode, ws, stride, pad, ignore_border, second_order in BACKEND_CONFIGS_3D:
        pooled = Pool(ws, stride, pad, ignore_border, mode)(x)
        more_fed, more_checks = pooling_checks(x, x_value, pooled, ws, stride, pad, ignore_border, mode,
                                               second_order, rng, f"{mode} {ws}")
        fed.update(more_fed)
        checks += more_checks
    run_checks(fed, checks, backend_mode)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"ws": (2, 2)}, r"ws must be 3 positive integers, got ws=\(2, 2\)"),
        ({"stride": (1, 1)}, r"stride must be 3 positive integers, got stride=\(1, 1\)"),
        ({"pad": (0, 2, 0)}, r"pad must be smaller than ws on each axis, got pad=\(0, 2, 0\) with ws=\(2, 2, 2\)"),
        ({"pad": (0, 0, 1), "ignore_border": False}, r"padding requires ignore_border=True"),
        ({"mode": "min"}, r"mode must be one of .*, got mode='min'"),
        ({"static_shape": (None, 1, 1, 8, 8)},
         r"window must fit in the padded input, got ws=\(2, 2, 2\) for pooled input lengths \(1, 8, 8\)"),
        ({"static_shape": (4, 4)}, r"input must have at least 3 dimensions .* got a 2-d input"),
    ],
    ids=["ws-length", "stride-length", "pad-not-smaller", "pad-without-ignore-border", "unknown-mode",
         "window-too-big", "2-d-input"],
)
def test_pool3d_bad_input_raises_naming_the_argument(kwargs, message):
    kwargs = {"ws": (2, 2, 2), **kwargs}
    x = pt.tensor("x", shape=kwargs.pop("static_shape", (None, 1, 4, 8, 8)))
    with pytest.raises(ValueError, match=message):
        pool3d(x, **kwargs)


def test_more_than_three_pooled_axes_are_refused():
    with pytest.raises(ValueError, match=r"ws must be 1 to 3 positive integers, got ws=\(2, 2, 2, 2\)"):
        Pool((2, 2, 2, 2))


def test_geometry_is_the_ops_identity():
    """Ops compare and hash by their geometry; how errors name the window does not count."""
    geometry = PoolGeometry((2, 2, 2), window_name="pool_size")
    assert Pool.from_geometry(geometry) == Pool((2, 2, 2), (2, 2, 2), (0, 0, 0))
    assert geometry == PoolGeometry((2, 2, 2), pad=(0, 0, 0))
    assert geometry.replace(mode="sum") != geometry
    assert Pool((2, 2, 2)) != Pool((2, 2)) and Pool((2, 2, 2)) != MaxPoolGrad((2, 2, 2))
    with pytest.raises(ValueError, match=r"mode must be one of \('sum', 'average_inc_pad', 'average_exc_pad'\)"):
        AveragePoolGrad.from_geometry(geometry)
