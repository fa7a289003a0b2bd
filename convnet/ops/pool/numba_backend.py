"""Numba implementations of the pooling ops, for PyTensor's Numba linker and
convnet's CPU linker.

One loop nest per op serves one, two and three pooled axes: the leading axes
are flattened into images, and fewer than three pooled axes get leading unit
axes (window, stride 1, no padding), so every op sees ``(images, depth, rows,
cols)`` arrays and a three-axis window. The geometry is a compile-time
constant of each op's function, so the unit axes' loops vanish and small
windows unroll: the 2-D ops compile to the loops a 2-D-only version would
have. (A flat list of window offsets, the alternative, was 1.5x slower on
MNIST's 2x2 max pooling: indices read from an array defeat LLVM's
vectorisation and its proof that they are not negative.)

Like the NumPy reference, each op works on a padded copy of its input in
which every window is whole (no copy when nothing needs padding: no ``pad``
and only whole windows), so the loops do no clipping; the padding code is
left out of ops that never pad, which compiles faster. The per-axis
arithmetic (window fit, output and padded lengths, average divisors) is
:mod:`~convnet.ops.pool.geometry`'s own functions, compiled here.

The per-op functions are cached on disk by PyTensor under
:func:`~convnet.ops.kernel_cache.kernel_cache_key` (the op's props, the dtype
and a digest of this package's geometry, ops and Numba sources): editing any
of them recompiles, and warm runs load the machine code.

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

from ..kernel_cache import kernel_cache_key
from .geometry import MAX_POOLED_AXES, axis_window_counts, output_length, padded_extent, window_fits
from .ops import AveragePoolGrad, MaxPoolGrad, MaxPoolGradGrad, Pool

# The geometry's arithmetic, compiled where the kernels call it.
for _function in (output_length, window_fits, padded_extent, axis_window_counts):
    register_jitable(_function)

_SOURCES = ("pool/geometry.py", "pool/ops.py", "pool/numba_backend.py")
"""The files whose digest is part of every kernel's cache key."""

_AXES = MAX_POOLED_AXES
"""The number of pooled axes every kernel sees (missing ones are unit axes)."""


# ---------------------------------------------------------------------------
# Runtime layout.


@numba_njit
def _layout(shape, n, ws, stride, pad, ignore_border):
    """``(n_images, lengths, out_lengths, padded_lengths)`` for an input of
    ``shape`` pooled over its last ``n`` axes, the lengths as 3-tuples
    (leading unit axes when ``n < 3``).

    Tuples, not arrays: the kernels' loop bounds must be values, which
    LLVM knows no store changes; bounds read from an array are reloaded in
    every loop (any store might change them), which made the 2-D max pool
    gradient 10% slower."""
    lead = len(shape) - n
    n_images = 1
    for axis in range(lead):
        n_images *= shape[axis]
    lengths = np.ones(_AXES, np.int64)
    for k in range(n):
        lengths[_AXES - n + k] = shape[lead + k]
    out_lengths = np.empty(_AXES, np.int64)
    padded_lengths = np.empty(_AXES, np.int64)
    for k in range(_AXES):
        if not window_fits(lengths[k], ws[k], pad[k], ignore_border):
            raise ValueError("pool: with ignore_border=True the window must fit in the padded input")
        out_lengths[k] = output_length(lengths[k], ws[k], stride[k], pad[k], ignore_border)
        padded_lengths[k] = padded_extent(lengths[k], ws[k], stride[k], pad[k], out_lengths[k])
    return (n_images, (lengths[0], lengths[1], lengths[2]), (out_lengths[0], out_lengths[1], out_lengths[2]),
            (padded_lengths[0], padded_lengths[1], padded_lengths[2]))


@numba_njit
def _images(x, n_images, lengths):
    """C-contiguous ``(n_images, depth, rows, cols)`` view of ``x`` (a copy when ``x`` is not contiguous)."""
    return np.ascontiguousarray(x).reshape((n_images, lengths[0], lengths[1], lengths[2]))


@numba_njit
def _pooled_shape(shape, n, out_lengths):
    """``shape`` with its last ``n`` lengths replaced by the output lengths, as an int64 array."""
    pooled = np.array(shape, dtype=np.int64)
    for k in range(n):
        pooled[len(shape) - n + k] = out_lengths[_AXES - n + k]
    return pooled


@numba_njit
def _padded(images, padded_lengths, pad, fill):
    """``images`` inside padded images of ``fill`` (``images`` itself when no padding is needed)."""
    n_images, depth, rows, cols = images.shape
    if depth == padded_lengths[0] and rows == padded_lengths[1] and cols == padded_lengths[2]:
        return images
    out = np.full((n_images, padded_lengths[0], padded_lengths[1], padded_lengths[2]), fill, dtype=images.dtype)
    out[:, pad[0]:pad[0] + depth, pad[1]:pad[1] + rows, pad[2]:pad[2] + cols] = images
    return out


@numba_njit
def _cropped(padded, lengths, pad):
    """The input cells of padded images, contiguous."""
    if padded.shape[1] == lengths[0] and padded.shape[2] == lengths[1] and padded.shape[3] == lengths[2]:
        return padded
    return np.ascontiguousarray(
        padded[:, pad[0]:pad[0] + lengths[0], pad[1]:pad[1] + lengths[1], pad[2]:pad[2] + lengths[2]])


@numba_njit
def _average_divisors(lengths, out_lengths, ws, stride, pad, include_pad):
    """``(out_depth, out_rows, out_cols)`` number of cells each window averages over."""
    per_axis = [axis_window_counts(lengths[k], out_lengths[k], ws[k], stride[k], pad[k], include_pad)
                for k in range(_AXES)]
    return (per_axis[0].reshape((-1, 1, 1)) * per_axis[1].reshape((1, -1, 1))) * per_axis[2].reshape((1, 1, -1))


# ---------------------------------------------------------------------------
# One window: reductions and scatters, inlined into the op functions.


@register_jitable(inline="always")
def _window_max(image, d0, r0, c0, ws):
    best = image[d0, r0, c0]
    for d in range(d0, d0 + ws[0]):
        for r in range(r0, r0 + ws[1]):
            for c in range(c0, c0 + ws[2]):
                value = image[d, r, c]
                # ``value != value``: a NaN wins (as NumPy's max), where
                # ``max(best, value)`` would keep ``best``.
                if value > best or value != value:
                    best = value
    return best


@register_jitable(inline="always")
def _window_sum(image, d0, r0, c0, ws, square):
    total = 0.0
    for d in range(d0, d0 + ws[0]):
        for r in range(r0, r0 + ws[1]):
            for c in range(c0, c0 + ws[2]):
                value = image[d, r, c]
                total += value * value if square else value
    return total


@register_jitable(inline="always")
def _window_sum_at_max(image, cotangent, d0, r0, c0, ws, best):
    """Sum of ``cotangent`` over the window's cells equal to ``best``."""
    total = 0.0
    for d in range(d0, d0 + ws[0]):
        for r in range(r0, r0 + ws[1]):
            for c in range(c0, c0 + ws[2]):
                total += cotangent[d, r, c] if image[d, r, c] == best else 0
    return total


@register_jitable(inline="always")
def _scatter_to_max(image, grad, d0, r0, c0, ws, best, window_grad, accumulate):
    """Give ``window_grad`` to the window's cells equal to ``best`` (NaN to all
    cells of a NaN window); ``accumulate`` adds instead of storing."""
    if best != best:
        window_grad = np.nan
    for d in range(d0, d0 + ws[0]):
        for r in range(r0, r0 + ws[1]):
            for c in range(c0, c0 + ws[2]):
                cell_grad = window_grad if image[d, r, c] == best or best != best else 0
                if accumulate:
                    grad[d, r, c] += cell_grad
                else:
                    grad[d, r, c] = cell_grad


@register_jitable(inline="always")
def _scatter(grad, d0, r0, c0, ws, window_grad):
    for d in range(d0, d0 + ws[0]):
        for r in range(r0, r0 + ws[1]):
            for c in range(c0, c0 + ws[2]):
                grad[d, r, c] += window_grad


# ---------------------------------------------------------------------------
# One specialised function per op.


class _Constants:
    """An op's geometry as compile-time constants of its function, on three axes."""

    def __init__(self, op):
        g = op.geometry
        units = _AXES - g.ndim
        self.n = g.ndim
        self.ws, self.stride, self.pad = ((1,) * units + g.ws, (1,) * units + g.stride, (0,) * units + g.pad)
        self.ignore_border, self.may_pad, self.mode = g.ignore_border, g.may_pad, g.mode


@register_funcify_and_cache_key(Pool)
def numba_funcify_Pool(op, node, **kwargs):
    k = _Constants(op)
    n, ws, stride, pad, ignore_border, may_pad = k.n, k.ws, k.stride, k.pad, k.ignore_border, k.may_pad
    take_max, square, average = k.mode == "max", k.mode == "l2", k.mode.startswith("average")
    include_pad = k.mode == "average_inc_pad"
    fill = -np.inf if take_max else 0.0
    ndim = node.inputs[0].ndim

    @numba_njit
    def pool(x):
        n_images, lengths, out_lengths, padded_lengths = _layout(x.shape, n, ws, stride, pad, ignore_border)
        images = _images(x, n_images, lengths)
        padded = _padded(images, padded_lengths, pad, fill) if may_pad else images
        divisors = (_average_divisors(lengths, out_lengths, ws, stride, pad, include_pad) if average
                    else np.empty((0, 0, 0)))
        out = np.empty((n_images, out_lengths[0], out_lengths[1], out_lengths[2]), dtype=x.dtype)
        for b in range(n_images):
            image = padded[b]
            for i in range(out_lengths[0]):
                for j in range(out_lengths[1]):
                    for l in range(out_lengths[2]):  # noqa: E741
                        d0, r0, c0 = i * stride[0], j * stride[1], l * stride[2]
                        if take_max:
                            out[b, i, j, l] = _window_max(image, d0, r0, c0, ws)
                        else:
                            total = _window_sum(image, d0, r0, c0, ws, square)
                            if square:
                                total = np.sqrt(total)
                            elif average:
                                total /= divisors[i, j, l]
                            out[b, i, j, l] = total
        return out.reshape(to_fixed_tuple(_pooled_shape(x.shape, n, out_lengths), ndim))

    return pool, kernel_cache_key(op, node, *_SOURCES)


@register_funcify_and_cache_key(MaxPoolGrad)
def numba_funcify_MaxPoolGrad(op, node, **kwargs):
    k = _Constants(op)
    n, ws, stride, pad, ignore_border, may_pad = k.n, k.ws, k.stride, k.pad, k.ignore_border, k.may_pad
    # Without overlap each cell gets at most one window's value: store, don't add.
    overlapping = op.geometry.overlapping

    @numba_njit
    def max_pool_grad(x, pooled, pooled_grad):
        n_images, lengths, out_lengths, padded_lengths = _layout(x.shape, n, ws, stride, pad, ignore_border)
        images = _images(x, n_images, lengths)
        padded = _padded(images, padded_lengths, pad, -np.inf) if may_pad else images
        maxima, window_grads = _images(pooled, n_images, out_lengths), _images(pooled_grad, n_images, out_lengths)
        grad = np.zeros(padded.shape, dtype=x.dtype)
        for b in range(n_images):
            image, image_grad = padded[b], grad[b]
            for i in range(out_lengths[0]):
                for j in range(out_lengths[1]):
                    for l in range(out_lengths[2]):  # noqa: E741
                        _scatter_to_max(image, image_grad, i * stride[0], j * stride[1], l * stride[2], ws,
                                        maxima[b, i, j, l], window_grads[b, i, j, l], overlapping)
        if may_pad:
            grad = _cropped(grad, lengths, pad)
        return grad.reshape(x.shape)

    return max_pool_grad, kernel_cache_key(op, node, *_SOURCES)


@register_funcify_and_cache_key(MaxPoolGradGrad)
def numba_funcify_MaxPoolGradGrad(op, node, **kwargs):
    k = _Constants(op)
    n, ws, stride, pad, ignore_border, may_pad = k.n, k.ws, k.stride, k.pad, k.ignore_border, k.may_pad

    @numba_njit
    def max_pool_grad_grad(x, pooled, input_cotangent):
        n_images, lengths, out_lengths, padded_lengths = _layout(x.shape, n, ws, stride, pad, ignore_border)
        images, cotangent = _images(x, n_images, lengths), _images(input_cotangent, n_images, lengths)
        if may_pad:
            images = _padded(images, padded_lengths, pad, -np.inf)
            cotangent = _padded(cotangent, padded_lengths, pad, 0.0)
        maxima = _images(pooled, n_images, out_lengths)
        out = np.empty(maxima.shape, dtype=x.dtype)
        for b in range(n_images):
            image, image_cotangent = images[b], cotangent[b]
            for i in range(out_lengths[0]):
                for j in range(out_lengths[1]):
                    for l in range(out_lengths[2]):  # noqa: E741
                        best = maxima[b, i, j, l]
                        total = _window_sum_at_max(image, image_cotangent, i * stride[0], j * stride[1],
                                                   l * stride[2], ws, best)
                        out[b, i, j, l] = total if best == best else np.nan
        return out.reshape(pooled.shape)

    return max_pool_grad_grad, kernel_cache_key(op, node, *_SOURCES)


@register_funcify_and_cache_key(AveragePoolGrad)
def numba_funcify_AveragePoolGrad(op, node, **kwargs):
    k = _Constants(op)
    n, ws, stride, pad, ignore_border, may_pad = k.n, k.ws, k.stride, k.pad, k.ignore_border, k.may_pad
    average, include_pad = k.mode != "sum", k.mode == "average_inc_pad"

    @numba_njit
    def average_pool_grad(x, pooled_grad):
        n_images, lengths, out_lengths, padded_lengths = _layout(x.shape, n, ws, stride, pad, ignore_border)
        window_grads = _images(pooled_grad, n_images, out_lengths)
        divisors = (_average_divisors(lengths, out_lengths, ws, stride, pad, include_pad) if average
                    else np.empty((0, 0, 0)))
        grad = np.zeros((n_images, padded_lengths[0], padded_lengths[1], padded_lengths[2]), dtype=x.dtype)
        for b in range(n_images):
            image_grad = grad[b]
            for i in range(out_lengths[0]):
                for j in range(out_lengths[1]):
                    for l in range(out_lengths[2]):  # noqa: E741
                        window_grad = window_grads[b, i, j, l]
                        if average:
                            window_grad /= divisors[i, j, l]
                        _scatter(image_grad, i * stride[0], j * stride[1], l * stride[2], ws, window_grad)
        if may_pad:
            grad = _cropped(grad, lengths, pad)
        return grad.reshape(x.shape)

    return average_pool_grad, kernel_cache_key(op, node, *_SOURCES)
