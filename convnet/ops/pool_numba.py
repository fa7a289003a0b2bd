"""Numba implementations of the pooling ops, for PyTensor's default linker.

Like the NumPy reference, each op works on a padded copy of its input in
which every window is whole (no copy when nothing needs padding: no ``pad``
and only whole windows), so its loop nest over ``(image, out_row, out_col)``
and the window's cells has no clipping. The window geometry and mode are
constants in the compiled loops, so small windows unroll. Leading axes are
flattened: the loops see ``(n, rows, cols)`` arrays.

Compile time is what tests and first runs pay (Numba re-optimises every
callee linked into a function), so each op compiles exactly one specialised
function, kept small: the geometry bookkeeping (output lengths, padding,
cropping, average divisors) lives in generic functions compiled once per
machine and dtype (cached by Numba on disk: a new graph's first pool node
loads them, which saves it a second of compiling), and the padding code is
left out of ops that never pad. The op
functions are cached on disk by PyTensor under a key made of the op's props
and a hash of this file and ``pool.py``: editing either recompiles, and warm
runs load the machine code instead of compiling.

Examples
--------
The kernels run whenever a graph is compiled with the Numba linker
(PyTensor's default):

>>> import numpy as np, pytensor, pytensor.tensor as pt
>>> from convnet.ops.pool import pool2d
>>> x = pt.tensor4("x")
>>> f = pytensor.function([x], pool2d(x, (2, 2)), mode="NUMBA")
>>> f(np.arange(16, dtype=x.dtype).reshape(1, 1, 4, 4))[0, 0]
array([[ 5.,  7.],
       [13., 15.]], dtype=float32)
"""
from hashlib import sha256
from pathlib import Path

import numpy as np
from pytensor.link.numba.dispatch.basic import (
    numba_njit,
    register_funcify_default_op_cache_key,
)

from ..linker import compiled_node, cpu_thunk
from .pool import (
    AveragePoolGrad,
    MaxPoolGrad,
    MaxPoolGradGrad,
    Pool,
    _output_length,
    _padded_extent,
)

_SOURCE_VERSION = int.from_bytes(
    sha256(b"".join((Path(__file__).parent / f).read_bytes() for f in ("pool.py", "pool_numba.py"))).digest()[:6],
    "big",
)
"""Part of the cache key of every compiled op: changes whenever the code does."""

_output_length_numba = numba_njit(_output_length, cache=True)
_padded_extent_numba = numba_njit(_padded_extent, cache=True)


# ---------------------------------------------------------------------------
# Generic helpers (runtime geometry): compiled once per machine and dtype.


@numba_njit(cache=True)
def _as_3d(x):
    """C-contiguous ``(n, rows, cols)`` view of ``x`` (a copy when ``x`` is not contiguous)."""
    n = 1
    for axis in range(x.ndim - 2):
        n *= x.shape[axis]
    return np.ascontiguousarray(x).reshape((n, x.shape[-2], x.shape[-1]))


@numba_njit(cache=True)
def _with_leading_shape(y, shape):
    """``(n, rows, cols)`` array ``y`` reshaped to the leading axes of ``shape``."""
    return y.reshape(shape[:-2] + (y.shape[1], y.shape[2]))


# Not cached: Numba's cache of a function does not see changes to the
# functions of another file that it calls (here pool.py's).
@numba_njit
def _window_layout(rows, cols, ws, stride, pad, ignore_border):
    """``(out_rows, out_cols, padded_rows, padded_cols)`` for ``(rows, cols)`` images."""
    if ignore_border and (rows + 2 * pad[0] < ws[0] or cols + 2 * pad[1] < ws[1]):
        raise ValueError("pool2d: with ignore_border=True the window must fit in the padded input")
    out_rows = _output_length_numba(rows, ws[0], stride[0], pad[0], ignore_border)
    out_cols = _output_length_numba(cols, ws[1], stride[1], pad[1], ignore_border)
    return (
        out_rows,
        out_cols,
        _padded_extent_numba(rows, ws[0], stride[0], pad[0], out_rows),
        _padded_extent_numba(cols, ws[1], stride[1], pad[1], out_cols),
    )


@numba_njit(cache=True)
def _padded(images, pad, padded_rows, padded_cols, fill):
    """``images`` inside a ``(n, padded_rows, padded_cols)`` array of ``fill``, offset by ``pad``
    (``images`` itself when it already has that shape)."""
    n, rows, cols = images.shape
    if rows == padded_rows and cols == padded_cols:
        return images
    out = np.empty((n, padded_rows, padded_cols), dtype=images.dtype)
    out.fill(fill)
    for b in range(n):
        for r in range(rows):
            for c in range(cols):
                out[b, pad[0] + r, pad[1] + c] = images[b, r, c]
    return out


@numba_njit(cache=True)
def _cropped(padded, pad, rows, cols):
    """The ``(rows, cols)`` input cells of a padded array, contiguous."""
    n, padded_rows, padded_cols = padded.shape
    if padded_rows == rows and padded_cols == cols:
        return padded
    out = np.empty((n, rows, cols), dtype=padded.dtype)
    for b in range(n):
        for r in range(rows):
            for c in range(cols):
                out[b, r, c] = padded[b, pad[0] + r, pad[1] + c]
    return out


@numba_njit(cache=True)
def _window_counts(rows, cols, out_rows, out_cols, ws, stride, pad, include_pad):
    """``(out_rows, out_cols)`` number of cells each window averages over: the
    input cells, plus the padding cells if ``include_pad``."""
    # In padded coordinates the input spans [pad, pad + length) and, with its
    # padding, [0, length + 2 * pad).
    counts = np.empty((out_rows, out_cols), dtype=np.float64)
    for i in range(out_rows):
        r0 = i * stride[0]
        if include_pad:
            n_rows = min(r0 + ws[0], rows + 2 * pad[0]) - r0
        else:
            n_rows = min(r0 + ws[0], pad[0] + rows) - max(r0, pad[0])
        for j in range(out_cols):
            c0 = j * stride[1]
            if include_pad:
                n_cols = min(c0 + ws[1], cols + 2 * pad[1]) - c0
            else:
                n_cols = min(c0 + ws[1], pad[1] + cols) - max(c0, pad[1])
            counts[i, j] = n_rows * n_cols
    return counts


# ---------------------------------------------------------------------------
# One specialised function per op.


def _may_pad(op):
    """Whether ``op`` can need a padded copy (padding or partial windows).

    A compile-time constant in the op functions: Numba drops the padding code
    of the common case (no ``pad``, ``ignore_border=True``), which compiles faster.
    """
    return any(op.pad) or not op.ignore_border


@register_funcify_default_op_cache_key(Pool)
def numba_funcify_Pool(op, node=None, **kwargs):
    ws, stride, pad, ignore_border = op.ws, op.stride, op.pad, op.ignore_border
    take_max, square, average = op.mode == "max", op.mode == "l2", op.mode.startswith("average")
    include_pad = op.mode == "average_inc_pad"
    fill = -np.inf if take_max else 0.0
    may_pad = _may_pad(op)

    @numba_njit
    def pool(x):
        images = _as_3d(x)
        n, rows, cols = images.shape
        out_rows, out_cols, padded_rows, padded_cols = _window_layout(rows, cols, ws, stride, pad, ignore_border)
        padded = _padded(images, pad, padded_rows, padded_cols, fill) if may_pad else images
        if average:
            counts = _window_counts(rows, cols, out_rows, out_cols, ws, stride, pad, include_pad)
        else:
            counts = np.empty((0, 0))
        out = np.empty((n, out_rows, out_cols), dtype=x.dtype)
        for b in range(n):
            for i in range(out_rows):
                r0 = i * stride[0]
                for j in range(out_cols):
                    c0 = j * stride[1]
                    if take_max:
                        best = padded[b, r0, c0]
                        for r in range(r0, r0 + ws[0]):
                            for c in range(c0, c0 + ws[1]):
                                best = max(best, padded[b, r, c])
                        out[b, i, j] = best
                    else:
                        total = 0.0
                        for r in range(r0, r0 + ws[0]):
                            for c in range(c0, c0 + ws[1]):
                                value = padded[b, r, c]
                                total += value * value if square else value
                        if square:
                            total = np.sqrt(total)
                        elif average:
                            total /= counts[i, j]
                        out[b, i, j] = total
        return _with_leading_shape(out, x.shape)

    return pool, _SOURCE_VERSION


@register_funcify_default_op_cache_key(MaxPoolGrad)
def numba_funcify_MaxPoolGrad(op, node=None, **kwargs):
    ws, stride, pad, ignore_border = op.ws, op.stride, op.pad, op.ignore_border
    # Without overlap each cell gets at most one window's value: store, don't add.
    overlapping = stride[0] < ws[0] or stride[1] < ws[1]
    may_pad = _may_pad(op)

    @numba_njit
    def max_pool_grad(x, pooled, pooled_grad):
        images, maxima, window_grads = _as_3d(x), _as_3d(pooled), _as_3d(pooled_grad)
        n, rows, cols = images.shape
        out_rows, out_cols, padded_rows, padded_cols = _window_layout(rows, cols, ws, stride, pad, ignore_border)
        padded = _padded(images, pad, padded_rows, padded_cols, -np.inf) if may_pad else images
        grad = np.zeros((n, padded_rows, padded_cols), dtype=x.dtype)
        for b in range(n):
            for i in range(out_rows):
                r0 = i * stride[0]
                for j in range(out_cols):
                    c0 = j * stride[1]
                    best, window_grad = maxima[b, i, j], window_grads[b, i, j]
                    for r in range(r0, r0 + ws[0]):
                        for c in range(c0, c0 + ws[1]):
                            cell_grad = window_grad if padded[b, r, c] == best else 0
                            if overlapping:
                                grad[b, r, c] += cell_grad
                            else:
                                grad[b, r, c] = cell_grad
        if may_pad:
            grad = _cropped(grad, pad, rows, cols)
        return _with_leading_shape(grad, x.shape)

    return max_pool_grad, _SOURCE_VERSION


@register_funcify_default_op_cache_key(MaxPoolGradGrad)
def numba_funcify_MaxPoolGradGrad(op, node=None, **kwargs):
    ws, stride, pad, ignore_border = op.ws, op.stride, op.pad, op.ignore_border
    may_pad = _may_pad(op)

    @numba_njit
    def max_pool_grad_grad(x, pooled, input_cotangent):
        images, maxima, cotangent = _as_3d(x), _as_3d(pooled), _as_3d(input_cotangent)
        n, rows, cols = images.shape
        out_rows, out_cols, padded_rows, padded_cols = _window_layout(rows, cols, ws, stride, pad, ignore_border)
        if may_pad:
            images = _padded(images, pad, padded_rows, padded_cols, -np.inf)
            cotangent = _padded(cotangent, pad, padded_rows, padded_cols, 0.0)
        out = np.empty((n, out_rows, out_cols), dtype=x.dtype)
        for b in range(n):
            for i in range(out_rows):
                r0 = i * stride[0]
                for j in range(out_cols):
                    c0 = j * stride[1]
                    best = maxima[b, i, j]
                    total = 0.0
                    for r in range(r0, r0 + ws[0]):
                        for c in range(c0, c0 + ws[1]):
                            total += cotangent[b, r, c] if images[b, r, c] == best else 0
                    out[b, i, j] = total
        return _with_leading_shape(out, pooled.shape)

    return max_pool_grad_grad, _SOURCE_VERSION


@register_funcify_default_op_cache_key(AveragePoolGrad)
def numba_funcify_AveragePoolGrad(op, node=None, **kwargs):
    ws, stride, pad, ignore_border = op.ws, op.stride, op.pad, op.ignore_border
    average, include_pad = op.mode != "sum", op.mode == "average_inc_pad"
    may_pad = _may_pad(op)

    @numba_njit
    def average_pool_grad(x, pooled_grad):
        window_grads = _as_3d(pooled_grad)
        n, rows, cols = window_grads.shape[0], x.shape[-2], x.shape[-1]
        out_rows, out_cols, padded_rows, padded_cols = _window_layout(rows, cols, ws, stride, pad, ignore_border)
        if average:
            counts = _window_counts(rows, cols, out_rows, out_cols, ws, stride, pad, include_pad)
        else:
            counts = np.empty((0, 0))
        grad = np.zeros((n, padded_rows, padded_cols), dtype=x.dtype)
        for b in range(n):
            for i in range(out_rows):
                r0 = i * stride[0]
                for j in range(out_cols):
                    c0 = j * stride[1]
                    window_grad = window_grads[b, i, j] / counts[i, j] if average else window_grads[b, i, j]
                    for r in range(r0, r0 + ws[0]):
                        for c in range(c0, c0 + ws[1]):
                            grad[b, r, c] += window_grad
        if may_pad:
            grad = _cropped(grad, pad, rows, cols)
        return _with_leading_shape(grad, x.shape)

    return average_pool_grad, _SOURCE_VERSION


# convnet's CPU linker runs these nodes through the per-node functions above.
for _op_type in (Pool, MaxPoolGrad, MaxPoolGradGrad, AveragePoolGrad):
    cpu_thunk.register(_op_type)(compiled_node)
