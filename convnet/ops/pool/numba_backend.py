"""Numba implementations of the pooling ops, for PyTensor's Numba linker and
convnet's CPU linker.

One loop per op serves any number of pooled axes. The leading axes are
flattened into images and each image's pooled axes into one run of cells, so
a window is a list of flat offsets: ``starts`` (the first cell of each window)
and ``cells`` (each cell of a window relative to its first), computed from the
:class:`~convnet.ops.pool.geometry.PoolGeometry` and the input's lengths.
Every op is then three loops, over images, windows and the cells of a window;
the number of cells is a compile-time constant, so small windows unroll.

Like the NumPy reference, each op works on a padded copy of its input in
which every window is whole (no copy when nothing needs padding: no ``pad``
and only whole windows), so the loops do no clipping; the padding code is
left out of ops that never pad, which compiles faster. The per-axis
arithmetic (output lengths, padded lengths, average divisors, the window fit)
is :mod:`~convnet.ops.pool.geometry`'s own functions, compiled here.

The per-op functions are cached on disk by PyTensor under
:func:`~convnet.ops.kernel_cache.kernel_cache_key` (the op's props, the dtype
and a digest of this package's geometry, ops and Numba sources): editing any
of them recompiles, and warm runs load the machine code. Helpers that do not
call into another file are also cached by Numba (Numba's cache of a function
does not notice changes to another file's functions that it calls).

Examples
--------
The kernels run whenever a graph is compiled with a Numba-based linker:

>>> import numpy as np, pytensor, pytensor.tensor as pt
>>> from convnet.ops.pool import pool3d
>>> x = pt.tensor("x", shape=(None, None, None, None, None))
>>> f = pytensor.function([x], pool3d(x, (2, 2, 2)), mode="NUMBA")
>>> f(np.arange(16, dtype=x.dtype).reshape(1, 1, 2, 2, 4))[0, 0]
array([[[13., 15.]]], dtype=float32)
"""
import numpy as np
from numba.extending import register_jitable
from numba.np.unsafe.ndarray import to_fixed_tuple
from pytensor.link.numba.dispatch.basic import numba_njit, register_funcify_and_cache_key

from ...linker import compiled_node, cpu_thunk
from ..kernel_cache import kernel_cache_key
from .geometry import axis_window_counts, output_length, padded_extent, window_fits
from .ops import AveragePoolGrad, MaxPoolGrad, MaxPoolGradGrad, Pool

# The geometry's arithmetic, compiled where the kernels call it.
for _function in (output_length, window_fits, padded_extent, axis_window_counts):
    register_jitable(_function)

_SOURCES = ("pool/geometry.py", "pool/ops.py", "pool/numba_backend.py")
"""The files whose digest is part of every kernel's cache key."""


# ---------------------------------------------------------------------------
# Layout: flat offsets of windows, padding and cropping (any number of axes).


@numba_njit(cache=True)
def _pitches(lengths):
    """C-order steps, in cells, of the axes of an image of ``lengths``."""
    pitches = np.ones(len(lengths), np.int64)
    for k in range(len(lengths) - 2, -1, -1):
        pitches[k] = pitches[k + 1] * lengths[k + 1]
    return pitches


@numba_njit(cache=True)
def _grid_offsets(counts, steps):
    """Flat offsets ``sum(i[k] * steps[k])`` of the grid ``0 <= i[k] < counts[k]``, in C order."""
    offsets = np.zeros(1, np.int64)
    for k in range(len(counts)):
        offsets = (offsets.reshape((-1, 1)) + np.arange(counts[k]) * steps[k]).ravel()
    return offsets


@numba_njit
def _layout(shape, ws, stride, pad, ignore_border):
    """For an input of ``shape`` pooled over its last ``len(ws)`` axes:
    ``(n_images, lengths, padded_lengths, starts, cells)``: the pooled axes'
    lengths before and after padding, and the flat offsets in a padded image
    of each window's first cell and of each cell of a window from its first."""
    n = len(ws)
    lead = len(shape) - n
    n_images = 1
    for axis in range(lead):
        n_images *= shape[axis]
    lengths = np.empty(n, np.int64)
    out_lengths = np.empty(n, np.int64)
    padded_lengths = np.empty(n, np.int64)
    for k in range(n):
        lengths[k] = shape[lead + k]
        if not window_fits(lengths[k], ws[k], pad[k], ignore_border):
            raise ValueError("pool: with ignore_border=True the window must fit in the padded input")
        out_lengths[k] = output_length(lengths[k], ws[k], stride[k], pad[k], ignore_border)
        padded_lengths[k] = padded_extent(lengths[k], ws[k], stride[k], pad[k], out_lengths[k])
    pitches = _pitches(padded_lengths)
    window_steps = np.empty(n, np.int64)
    for k in range(n):
        window_steps[k] = stride[k] * pitches[k]
    starts = _grid_offsets(out_lengths, window_steps)
    cells = _grid_offsets(ws, pitches)
    return n_images, lengths, padded_lengths, starts, cells


@numba_njit
def _output_lengths(shape, ws, stride, pad, ignore_border):
    """``shape`` with the pooled axes' output lengths, as an int64 array."""
    out_shape = np.array(shape, dtype=np.int64)
    lead = len(shape) - len(ws)
    for k in range(len(ws)):
        out_shape[lead + k] = output_length(shape[lead + k], ws[k], stride[k], pad[k], ignore_border)
    return out_shape


@numba_njit(cache=True)
def _row_starts(lengths, padded_lengths, pad):
    """Flat offsets in a padded image of the input's rows (runs along the last axis)."""
    pitches = _pitches(padded_lengths)
    corner = 0
    for k in range(len(pad)):
        corner += pad[k] * pitches[k]
    return _grid_offsets(lengths[:-1], pitches[:-1]) + corner


@numba_njit(cache=True)
def _padded(images, lengths, padded_lengths, pad, fill):
    """``(n_images, cells)`` images inside padded images of ``fill``
    (``images`` itself when no padding is needed)."""
    if np.all(lengths == padded_lengths):
        return images
    out = np.full((images.shape[0], np.prod(padded_lengths)), fill, dtype=images.dtype)
    row = lengths[-1]
    starts = _row_starts(lengths, padded_lengths, pad)
    for b in range(images.shape[0]):
        for i in range(len(starts)):
            out[b, starts[i]:starts[i] + row] = images[b, i * row:(i + 1) * row]
    return out


@numba_njit(cache=True)
def _cropped(padded, lengths, padded_lengths, pad):
    """The input cells of padded images, as contiguous ``(n_images, cells)``."""
    if np.all(lengths == padded_lengths):
        return padded
    out = np.empty((padded.shape[0], np.prod(lengths)), dtype=padded.dtype)
    row = lengths[-1]
    starts = _row_starts(lengths, padded_lengths, pad)
    for b in range(padded.shape[0]):
        for i in range(len(starts)):
            out[b, i * row:(i + 1) * row] = padded[b, starts[i]:starts[i] + row]
    return out


@numba_njit
def _average_divisors(lengths, ws, stride, pad, ignore_border, include_pad):
    """Number of cells each window averages over, flat in window order."""
    divisors = np.ones(1)
    for k in range(len(ws)):
        n_windows = output_length(lengths[k], ws[k], stride[k], pad[k], ignore_border)
        axis = axis_window_counts(lengths[k], n_windows, ws[k], stride[k], pad[k], include_pad)
        divisors = (divisors.reshape((-1, 1)) * axis).ravel()
    return divisors


@numba_njit(cache=True)
def _flat(x, n_images, size):
    """C-contiguous ``(n_images, size)`` view of ``x`` (a copy when ``x`` is not contiguous)."""
    return np.ascontiguousarray(x).reshape((n_images, size))


# ---------------------------------------------------------------------------
# One specialised function per op.


def _constants(op):
    """The op's geometry as compile-time constants of its kernel."""
    g = op.geometry
    return g.ws, g.stride, g.pad, g.ignore_border, g.window_cells, g.may_pad


@register_funcify_and_cache_key(Pool)
def numba_funcify_Pool(op, node, **kwargs):
    ws, stride, pad, ignore_border, n_cells, may_pad = _constants(op)
    mode = op.geometry.mode
    take_max, square, average = mode == "max", mode == "l2", mode.startswith("average")
    include_pad = mode == "average_inc_pad"
    fill = -np.inf if take_max else 0.0
    ndim = node.inputs[0].ndim

    @numba_njit
    def pool(x):
        n_images, lengths, padded_lengths, starts, cells = _layout(x.shape, ws, stride, pad, ignore_border)
        images = _flat(x, n_images, np.prod(lengths))
        padded = _padded(images, lengths, padded_lengths, pad, fill) if may_pad else images
        if average:
            divisors = _average_divisors(lengths, ws, stride, pad, ignore_border, include_pad)
        else:
            divisors = np.empty(0)
        out = np.empty((n_images, len(starts)), dtype=x.dtype)
        for b in range(n_images):
            image = padded[b]
            for w in range(len(starts)):
                start = starts[w]
                if take_max:
                    best = image[start]
                    for t in range(n_cells):
                        value = image[start + cells[t]]
                        # ``value != value``: a NaN wins (as NumPy's max), where
                        # ``max(best, value)`` would keep ``best``.
                        if value > best or value != value:
                            best = value
                    out[b, w] = best
                else:
                    total = 0.0
                    for t in range(n_cells):
                        value = image[start + cells[t]]
                        total += value * value if square else value
                    if square:
                        total = np.sqrt(total)
                    elif average:
                        total /= divisors[w]
                    out[b, w] = total
        out_shape = _output_lengths(x.shape, ws, stride, pad, ignore_border)
        return out.reshape(to_fixed_tuple(out_shape, ndim))

    return pool, kernel_cache_key(op, node, *_SOURCES)


@register_funcify_and_cache_key(MaxPoolGrad)
def numba_funcify_MaxPoolGrad(op, node, **kwargs):
    ws, stride, pad, ignore_border, n_cells, may_pad = _constants(op)
    # Without overlap each cell gets at most one window's value: store, don't add.
    overlapping = op.geometry.overlapping

    @numba_njit
    def max_pool_grad(x, pooled, pooled_grad):
        n_images, lengths, padded_lengths, starts, cells = _layout(x.shape, ws, stride, pad, ignore_border)
        images = _flat(x, n_images, np.prod(lengths))
        padded = _padded(images, lengths, padded_lengths, pad, -np.inf) if may_pad else images
        maxima, window_grads = _flat(pooled, n_images, len(starts)), _flat(pooled_grad, n_images, len(starts))
        grad = np.zeros((n_images, padded.shape[1]), dtype=x.dtype)
        for b in range(n_images):
            image, image_grad = padded[b], grad[b]
            for w in range(len(starts)):
                start, best, window_grad = starts[w], maxima[b, w], window_grads[b, w]
                if best != best:
                    window_grad = np.nan  # a NaN window's gradient is NaN on all its cells
                for t in range(n_cells):
                    cell = start + cells[t]
                    cell_grad = window_grad if image[cell] == best or best != best else 0
                    if overlapping:
                        image_grad[cell] += cell_grad
                    else:
                        image_grad[cell] = cell_grad
        if may_pad:
            grad = _cropped(grad, lengths, padded_lengths, pad)
        return grad.reshape(x.shape)

    return max_pool_grad, kernel_cache_key(op, node, *_SOURCES)


@register_funcify_and_cache_key(MaxPoolGradGrad)
def numba_funcify_MaxPoolGradGrad(op, node, **kwargs):
    ws, stride, pad, ignore_border, n_cells, may_pad = _constants(op)

    @numba_njit
    def max_pool_grad_grad(x, pooled, input_cotangent):
        n_images, lengths, padded_lengths, starts, cells = _layout(x.shape, ws, stride, pad, ignore_border)
        images, cotangent = _flat(x, n_images, np.prod(lengths)), _flat(input_cotangent, n_images, np.prod(lengths))
        if may_pad:
            images = _padded(images, lengths, padded_lengths, pad, -np.inf)
            cotangent = _padded(cotangent, lengths, padded_lengths, pad, 0.0)
        maxima = _flat(pooled, n_images, len(starts))
        out = np.empty((n_images, len(starts)), dtype=x.dtype)
        for b in range(n_images):
            image, image_cotangent = images[b], cotangent[b]
            for w in range(len(starts)):
                start, best = starts[w], maxima[b, w]
                total = 0.0
                for t in range(n_cells):
                    cell = start + cells[t]
                    total += image_cotangent[cell] if image[cell] == best else 0
                out[b, w] = total if best == best else np.nan
        return out.reshape(pooled.shape)

    return max_pool_grad_grad, kernel_cache_key(op, node, *_SOURCES)


@register_funcify_and_cache_key(AveragePoolGrad)
def numba_funcify_AveragePoolGrad(op, node, **kwargs):
    ws, stride, pad, ignore_border, n_cells, may_pad = _constants(op)
    average, include_pad = op.geometry.mode != "sum", op.geometry.mode == "average_inc_pad"

    @numba_njit
    def average_pool_grad(x, pooled_grad):
        n_images, lengths, padded_lengths, starts, cells = _layout(x.shape, ws, stride, pad, ignore_border)
        window_grads = _flat(pooled_grad, n_images, len(starts))
        if average:
            divisors = _average_divisors(lengths, ws, stride, pad, ignore_border, include_pad)
        else:
            divisors = np.empty(0)
        grad = np.zeros((n_images, np.prod(padded_lengths)), dtype=x.dtype)
        for b in range(n_images):
            image_grad = grad[b]
            for w in range(len(starts)):
                start = starts[w]
                window_grad = window_grads[b, w] / divisors[w] if average else window_grads[b, w]
                for t in range(n_cells):
                    image_grad[start + cells[t]] += window_grad
        if may_pad:
            grad = _cropped(grad, lengths, padded_lengths, pad)
        return grad.reshape(x.shape)

    return average_pool_grad, kernel_cache_key(op, node, *_SOURCES)


# convnet's CPU linker runs these nodes through the per-node functions above.
for _op_type in (Pool, MaxPoolGrad, MaxPoolGradGrad, AveragePoolGrad):
    cpu_thunk.register(_op_type)(compiled_node)
