"""Numba implementation of the convolution Ops, for PyTensor's Numba linker
and convnet's CPU linker.

Every per-node function first checks the shapes with the rules of the Op's
:class:`~convnet.ops.conv.geometry.ConvGeometry` (compiled from the same
functions; the message comes from the geometry itself, in object mode, only
when the shapes are wrong).  Then:

* in 3-D (and in 1-D, lifted to 3-D with unit axes in front) a plain kernel:
  vol2col of each volume into a buffer and one BLAS product (see "Volumes"
  below);
* in 2-D, the optimised kernel this docstring describes from here on.

The 2-D kernel has two algorithms, chosen from the shapes at run time:

**im2col + GEMM**, over blocks of output pixels.  For a block of ``n``
output pixels, ``columns`` (K x n, K = channels * filter rows * filter
columns) holds the input pixel each filter tap sees at each of them, and

* ``Conv``:            output block (O x n)  = W (O x K) @ columns
* ``ConvGradWeights``: filter grad  (O x K) += output_grad block (O x n) @ columns.T
* ``ConvGradInputs``:  columns = W.T @ output_grad block, then col2im adds
  ``columns`` back into the input gradient.

A block is a run of output rows of one image, or several whole images when
images are small, sized so that ``columns`` holds about ``_BLOCK_ELEMENTS``
numbers (2 MB in float32), which stays in the caches.

**Direct, channels-last** (see "The direct algorithm" below), for batches of
small images with many channels, such as the second layer of the MNIST
ConvNet: chunks of images are laid out channels-last, and BLAS multiplies the
filters with runs of the images in place, with no im2col copy.

The blocks (or chunks) are shared among workers, as many as BLAS may use
threads (``OPENBLAS_NUM_THREADS`` or ``threadpoolctl`` set it) and Numba has
(``NUMBA_NUM_THREADS``), each with its own buffers and single-threaded GEMMs:
this parallelizes the copies along with the GEMMs, and avoids the cost of
BLAS's own threads synchronizing on every small product.  Workers take whole
images (tasks) in turn, so the col2im of different workers never adds into
the same pixels.  The GEMMs call BLAS (the one behind ``np.dot`` in Numba)
through Numba's ``numba_xxgemm`` helper, so that they read and write blocks in
place, with any row pitch, and accumulate without temporaries; while several
workers run, OpenBLAS is set to one thread (``openblas_set_num_threads``: its
thread count is global, so BLAS calls of other Python threads at that moment
run single-threaded too), and then set back.  With another BLAS, or a single
task (a batch of one large image), the blocks run in one thread and BLAS
decides the parallelism, as for NumPy.

Compile time shapes the structure.  Numba links every function into each of
its callers and LLVM re-optimizes the result at each level, and PyTensor adds
two levels per node plus the graph itself, so compiled code called from the
per-node functions would be compiled again for every node and every graph.
The computation is therefore compiled once per dtype as one C-callable kernel
for the three Ops (``numba.cfunc``, cached on disk by Numba, compiled on first
use), registered with LLVM under a symbol name that carries the digest of
this family's source files (as PyTensor's cache key does, see
:mod:`convnet.ops.kernel_cache`), and the per-node
functions only validate shapes, allocate the result and call the kernel
symbol (``types.ExternalFunction``), the way Numba itself calls BLAS.  One
kernel rather than one per Op compiles Numba's parallel loop and the code
the Ops share once, not three times.  The geometry's strides, dilations and
flip, and which Op it is, travel as an int64 array made in one place
(:func:`_kernel_params`), and all code is cacheable, so warm runs compile
nothing.
"""
from collections import namedtuple

import llvmlite.binding
import numba
import numpy as np
from numba import carray, types
from numba.extending import register_jitable
from pytensor.link.numba.dispatch.basic import (
    numba_njit,
    register_funcify_and_cache_key,
)

from ...linker import compiled_node, cpu_thunk
from ..kernel_cache import kernel_cache_key, source_digest
from . import geometry
from .geometry import SHAPES_FIT, find_shape_problem, output_size, pad_size
from .ops import Conv, ConvGradInputs, ConvGradWeights, nonpositive_sizes_message

# The shape arithmetic and checks of the geometry, compiled where Numba code calls them.
for _function in (geometry.dilated_size, geometry.pad_size, geometry.output_size,
                  geometry.known_and_different, geometry.find_shape_problem):
    register_jitable(_function)

# The source files the compiled code comes from: their digest is part of the
# kernel symbol names and of PyTensor's cache key.
_SOURCES = ("conv/geometry.py", "conv/ops.py", "conv/numba_backend.py")
# Target size of the im2col buffer of one block, in array elements.
_BLOCK_ELEMENTS = 1 << 19
# When the direct algorithm replaces im2col (see _direct_chunk), and its
# chunks' largest number of images.
_DIRECT_MIN_BATCH, _DIRECT_MIN_RUN, _DIRECT_MIN_OUT_CHANNELS, _DIRECT_MAX_OUT_COLS = 16, 32, 16, 32
_DIRECT_MAX_CHUNK = 64
# Layout of the int64 parameter array of the 2-D kernel, made by _kernel_params.
_STRIDES, _DILATIONS, _FLIP, _KIND, _N_PARAMS = 0, 2, 4, 5, 6
# The computations of the 2-D kernel, in the _KIND slot.
_FORWARD, _GRAD_WEIGHTS, _GRAD_INPUTS = 0, 1, 2
# Layout of the int64 size array made by _sizes: input (NCHW), filter (OIHW),
# output rows and columns, padding of rows and columns.
_INPUT, _FILTER, _OUT_HW, _PAD_HW, _N_SIZES = 0, 4, 8, 10, 12

_xxgemm = types.ExternalFunction("numba_xxgemm", types.intc(
    types.char, types.char, types.char,         # kind ('s' or 'd'), transa, transb
    types.intp, types.intp, types.intp,         # m, n, k
    types.voidptr, types.voidptr, types.intp,   # alpha, a, lda
    types.voidptr, types.intp,                  # b, ldb
    types.voidptr, types.voidptr, types.intp,   # beta, c, ldc
))

# The thread count of the BLAS behind _xxgemm, under names that
# _register_thread_symbols defines: OpenBLAS's openblas_get_num_threads and
# openblas_set_num_threads, or stand-ins where that BLAS is another (the getter
# then returns -1).  Functions that Numba caches on disk refer to these names,
# and Numba's cache sees changes to this file only, so the names must not
# depend on other files (as the kernel's name, which only the per-node
# functions refer to, does).
_GET_BLAS_THREADS = "convnet_get_blas_threads"
_SET_BLAS_THREADS = "convnet_set_blas_threads"
_get_blas_threads = types.ExternalFunction(_GET_BLAS_THREADS, types.intc())
_set_blas_threads = types.ExternalFunction(_SET_BLAS_THREADS, types.void(types.intc))
# The size of Numba's thread pool, under the symbol that numba.get_num_threads
# compiles to (numba.get_num_threads itself keeps compiled code out of the cache).
_numba_threads = types.ExternalFunction("get_num_threads", types.intp())


def _find_openblas_threads():
    """The addresses of ``openblas_get_num_threads`` and ``openblas_set_num_threads``
    in the library holding the ``sgemm`` that Numba calls (SciPy's ``cython_blas``),
    or None where that library is not an OpenBLAS."""
    import ctypes
    from scipy.linalg import cython_blas

    class DlInfo(ctypes.Structure):
        _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                    ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]

    api = ctypes.pythonapi
    api.PyCapsule_GetName.restype, api.PyCapsule_GetName.argtypes = ctypes.c_char_p, [ctypes.py_object]
    api.PyCapsule_GetPointer.restype = ctypes.c_void_p
    api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    capsule = cython_blas.__pyx_capi__["sgemm"]
    sgemm, info = api.PyCapsule_GetPointer(capsule, api.PyCapsule_GetName(capsule)), DlInfo()
    try:
        if not ctypes.CDLL(None).dladdr(ctypes.c_void_p(sgemm), ctypes.byref(info)):
            return None
        library = ctypes.CDLL(info.dli_fname.decode())
    except (AttributeError, OSError):  # no dladdr
        return None
    for prefix, suffix in (("scipy_", ""), ("", ""), ("scipy_", "64_"), ("", "64_")):
        names = [f"{prefix}openblas_{verb}_num_threads{suffix}" for verb in ("get", "set")]
        if all(hasattr(library, name) for name in names):
            return [ctypes.cast(getattr(library, name), ctypes.c_void_p).value for name in names]
    return None


_stand_ins = []  # keeps the stand-ins' machine code alive


def _register_thread_symbols():
    """Defines the symbols of ``_get_blas_threads``, ``_set_blas_threads`` and
    ``_numba_threads`` for LLVM, which needs them before it compiles or loads a
    kernel (see :func:`_kernel`)."""
    numba.get_num_threads()  # starts Numba's thread pool, which defines get_num_threads
    addresses = _find_openblas_threads()
    if addresses is None:  # stand-ins: the getter's -1 keeps the kernels off BLAS's threads
        _stand_ins.extend([numba.cfunc(types.intc())(lambda: -1),
                           numba.cfunc(types.void(types.intc))(lambda threads: None)])
        addresses = [stand_in.address for stand_in in _stand_ins]
    for symbol, address in zip((_GET_BLAS_THREADS, _SET_BLAS_THREADS), addresses):
        llvmlite.binding.add_symbol(symbol, address)


# --- Kernels: compiled once per dtype into the C-callable kernel ---------------------


@numba_njit(cache=True)
def _gemm(transpose_a, transpose_b, rows, cols, inner, a, lda, b, ldb, out, ldc, accumulate):
    """``out = op(a) @ op(b)`` (``+=`` if ``accumulate``) for row-major matrices.

    ``a``, ``b`` and ``out`` are 1-D arrays starting at each matrix's first
    element, ``lda``, ``ldb``, ``ldc`` their row pitches; ``op(m)`` is ``m.T``
    when its ``transpose_*`` flag is set.  ``out`` is ``rows x cols`` and the
    product runs over ``inner``.
    """
    if rows == 0 or cols == 0:
        return
    scalars = np.empty(2, out.dtype)  # alpha, beta
    scalars[0] = 1
    scalars[1] = 1 if accumulate else 0
    kind = ord("s") if out.itemsize == 4 else ord("d")
    # Column-major BLAS sees each row-major matrix transposed: out.T = op(b).T @ op(a).T.
    _xxgemm(kind, ord("t") if transpose_b else ord("n"), ord("t") if transpose_a else ord("n"),
            cols, rows, inner, scalars[0:].ctypes, b.ctypes, max(ldb, 1), a.ctypes, max(lda, 1),
            scalars[1:].ctypes, out.ctypes, max(ldc, 1))


@numba_njit(cache=True)
def _unpack(sizes, params):
    """``(input shape, filter shape, output shape, (strides, dilations, pads))`` from
    a size array and a parameter array."""
    return ((sizes[_INPUT], sizes[_INPUT + 1], sizes[_INPUT + 2], sizes[_INPUT + 3]),
            (sizes[_FILTER], sizes[_FILTER + 1], sizes[_FILTER + 2], sizes[_FILTER + 3]),
            (sizes[_INPUT], sizes[_FILTER], sizes[_OUT_HW], sizes[_OUT_HW + 1]),
            ((params[_STRIDES], params[_STRIDES + 1]), (params[_DILATIONS], params[_DILATIONS + 1]),
             (sizes[_PAD_HW], sizes[_PAD_HW + 1])))


@numba_njit(cache=True)
def _plan(filter_shape, output_shape):
    """The block plan ``(images per block, rows per block, number of blocks)``
    and the row pitch of a block's buffers."""
    batch, out_rows, out_cols = output_shape[0], output_shape[2], output_shape[3]
    taps = filter_shape[1] * filter_shape[2] * filter_shape[3]
    pixels = max(_BLOCK_ELEMENTS // max(taps, 1), out_cols)
    if out_rows * out_cols <= pixels:
        images = max(min(pixels // (out_rows * out_cols), batch), 1)
        plan = (images, out_rows, (batch + images - 1) // images)
    else:
        rows = pixels // out_cols
        plan = (1, rows, batch * ((out_rows + rows - 1) // rows))
    return plan, plan[0] * plan[1] * out_cols


@numba_njit(cache=True)
def _buffers(plan, pitch, filter_shape, dtype):
    """A worker's buffers for the blocks of ``plan``: ``columns`` (K rows of
    ``pitch``) and ``gathered`` (O x n, used when a block has several images)."""
    taps = filter_shape[1] * filter_shape[2] * filter_shape[3]
    return (np.empty(taps * pitch, dtype),
            np.empty(filter_shape[0] * pitch if plan[0] > 1 else 0, dtype))


@numba_njit(cache=True)
def _tasks(plan, output_shape):
    """``(tasks, blocks per task)``: a task is a run of blocks that covers whole
    images, so that tasks write disjoint parts of an input gradient."""
    per_task = 1 if plan[1] == output_shape[2] else plan[2] // output_shape[0]
    return plan[2] // per_task, per_task


@numba_njit(cache=True)
def _worker_count(tasks):
    """How many workers share ``tasks`` (runs of work on disjoint images): as
    many as BLAS may use threads, at most one per Numba thread and one per
    task; a single one where BLAS's threads cannot be set.  Several workers
    each run their tasks in one of Numba's threads with single-threaded GEMMs;
    a single one leaves BLAS its threads."""
    return max(min(_get_blas_threads(), _numba_threads(), tasks), 1)


@numba_njit(cache=True)
def _start_workers(workers):
    """Limits BLAS to one thread while several workers run; returns what
    :func:`_stop_workers` needs to undo it."""
    if workers == 1:
        return -1
    blas_threads = _get_blas_threads()
    _set_blas_threads(1)
    return blas_threads


@numba_njit(cache=True)
def _stop_workers(blas_threads):
    """Gives BLAS back the thread count it had before :func:`_start_workers`."""
    if blas_threads >= 0:
        _set_blas_threads(blas_threads)


@numba_njit(cache=True)
def _block(index, plan, output_shape):
    """``(first image, images, first row, rows)`` of block ``index`` of a plan."""
    images_per_block, rows_per_block, _ = plan
    batch, out_rows = output_shape[0], output_shape[2]
    if rows_per_block == out_rows:
        first_image = index * images_per_block
        return first_image, min(images_per_block, batch - first_image), 0, out_rows
    blocks_per_image = (out_rows + rows_per_block - 1) // rows_per_block
    first_row = (index % blocks_per_image) * rows_per_block
    return index // blocks_per_image, 1, first_row, min(rows_per_block, out_rows - first_row)


@numba_njit(cache=True)
def _valid_columns(tap, dilation, pad, stride, width, out_width):
    """For filter column ``tap``: the input column under output column 0, and the
    range ``[first, stop)`` of output columns whose input column is inside the image."""
    offset = tap * dilation - pad
    first = 0 if offset >= 0 else (stride - 1 - offset) // stride
    last_inside = width - 1 - offset
    stop = min(last_inside // stride + 1, out_width) if last_inside >= 0 else 0
    return offset, min(first, stop), stop


@numba_njit(cache=True)
def _block_rows(tap, dilation, pad, stride, height, out_rows, block):
    """For filter row ``tap``: the input row under output row 0, and the output
    rows ``[top, bottom)`` of ``block`` whose input row is inside the image."""
    offset, first, stop = _valid_columns(tap, dilation, pad, stride, height, out_rows)
    first_row, n_rows = block[2], block[3]
    top = min(max(first, first_row), first_row + n_rows)
    return offset, top, max(min(stop, first_row + n_rows), top)


# The run helpers index with unsigned ints: Numba then drops its negative-index
# wraparound and LLVM vectorizes the loops.  Numba inlines them into their
# callers ("inline='always'"), without which LLVM leaves them as calls and the
# short runs of small images cost several times more.  A start may be negative
# only where its count is 0.


@numba_njit(cache=True, inline="always")
def _zero_run(flat, start, count):
    """``flat[start:start + count] = 0``."""
    begin = np.uint64(start)
    for i in range(np.uint64(max(count, 0))):
        flat[begin + i] = 0


@numba_njit(cache=True, inline="always")
def _move_rows(dst, dst_start, dst_pitch, dst_step, src, src_start, src_pitch, src_step, rows, count,
               accumulate):
    """``dst[dst_start + r * dst_pitch + i * dst_step] = src[src_start + r * src_pitch + i * src_step]``
    (``+=`` if ``accumulate``) for ``r < rows`` and ``i < count``."""
    d, s = np.uint64(dst_start), np.uint64(src_start)
    n, d_pitch, s_pitch = np.uint64(max(count, 0)), np.uint64(dst_pitch), np.uint64(src_pitch)
    d_step, s_step = np.uint64(dst_step), np.uint64(src_step)
    contiguous = dst_step == 1 and src_step == 1
    for _ in range(max(rows, 0)):
        if contiguous and accumulate:
            for i in range(n):
                dst[d + i] += src[s + i]
        elif contiguous:
            for i in range(n):
                dst[d + i] = src[s + i]
        elif accumulate:
            for i in range(n):
                dst[d + i * d_step] += src[s + i * s_step]
        else:
            for i in range(n):
                dst[d + i * d_step] = src[s + i * s_step]
        d += d_pitch
        s += s_pitch


@numba_njit(cache=True)
def _tap_geometry(k, image_shape, filter_shape, output_shape, steps, block):
    """Where filter tap ``k = (channel, p, q)`` reads in ``block``: its channel;
    the input row under output row 0 and the output rows ``[top, bottom)`` of
    the block that read inside the image (see :func:`_block_rows`); the input
    column under output column 0 and the output columns ``[first, stop)`` that
    read inside the image (see :func:`_valid_columns`)."""
    (row_stride, col_stride), (row_dilation, col_dilation), (row_pad, col_pad) = steps
    filter_rows, filter_cols = filter_shape[2], filter_shape[3]
    channel, p = k // (filter_rows * filter_cols), (k // filter_cols) % filter_rows
    row_offset, top, bottom = _block_rows(p, row_dilation, row_pad, row_stride, image_shape[2],
                                          output_shape[2], block)
    col_offset, first, stop = _valid_columns(k % filter_cols, col_dilation, col_pad, col_stride,
                                             image_shape[3], output_shape[3])
    return channel, row_offset, top, bottom, col_offset, first, stop


@numba_njit(cache=True)
def _im2col(pixels, image_shape, filter_shape, output_shape, steps, block, columns, pitch):
    """Fill ``columns[k * pitch + m]`` with the pixel that filter tap
    ``k = (channel, p, q)`` sees at output pixel ``m`` of ``block`` (its images,
    its rows and all output columns), 0 in the padding.  ``pixels`` is the flat
    NCHW input; ``steps`` is ``(strides, dilations, pads)``."""
    first_image, n_images, first_row, n_rows = block
    row_stride, col_stride = steps[0]
    channels, height, width, out_width = image_shape[1], image_shape[2], image_shape[3], output_shape[3]
    for k in range(channels * filter_shape[2] * filter_shape[3]):
        channel, row_offset, top, bottom, col_offset, first, stop = _tap_geometry(
            k, image_shape, filter_shape, output_shape, steps, block)
        inside = (top - first_row) * out_width  # first element of the rows inside the image
        for image in range(first_image, first_image + n_images):
            dst = k * pitch + (image - first_image) * n_rows * out_width
            plane = (image * channels + channel) * height * width
            _zero_run(columns, dst, inside)
            for row in range(bottom - top if first > 0 or stop < out_width else 0):
                _zero_run(columns, dst + inside + row * out_width, first)
                _zero_run(columns, dst + inside + row * out_width + stop, out_width - stop)
            _move_rows(columns, dst + inside + first, out_width, 1,
                       pixels, plane + (row_offset + top * row_stride) * width + col_offset
                       + first * col_stride, row_stride * width, col_stride, bottom - top, stop - first,
                       False)
            _zero_run(columns, dst + (bottom - first_row) * out_width,
                      (first_row + n_rows - bottom) * out_width)


@numba_njit(cache=True)
def _col2im(columns, pitch, image_shape, filter_shape, output_shape, steps, block, pixels):
    """Add ``columns`` (laid out as :func:`_im2col` fills it) into the flat NCHW
    ``pixels`` at the places they were taken from; padding is dropped."""
    first_image, n_images, first_row, n_rows = block
    row_stride, col_stride = steps[0]
    channels, height, width, out_width = image_shape[1], image_shape[2], image_shape[3], output_shape[3]
    for k in range(channels * filter_shape[2] * filter_shape[3]):
        channel, row_offset, top, bottom, col_offset, first, stop = _tap_geometry(
            k, image_shape, filter_shape, output_shape, steps, block)
        for image in range(first_image, first_image + n_images):
            src = k * pitch + ((image - first_image) * n_rows + top - first_row) * out_width + first
            plane = (image * channels + channel) * height * width
            _move_rows(pixels, plane + (row_offset + top * row_stride) * width + col_offset
                       + first * col_stride, row_stride * width, col_stride,
                       columns, src, out_width, 1, bottom - top, stop - first, True)


@numba_njit(cache=True)
def _output_block(flat, shape, block, gathered, gather):
    """The (O x n) matrix over the pixels of ``block`` in the flat NCHW ``flat``,
    as ``(flat start, row pitch)``: in place for rows of one image, else in
    ``gathered``, where the pixels are copied if ``gather`` (see :func:`_scatter_block`)."""
    first_image, n_images, first_row, n_rows = block
    channels, plane = shape[1], shape[2] * shape[3]
    if n_images == 1:
        return flat[first_image * channels * plane + first_row * shape[3]:], plane
    pitch = n_images * plane
    for image in range(n_images if gather else 0):
        _move_rows(gathered, image * plane, pitch, 1, flat, (first_image + image) * channels * plane,
                   plane, 1, channels, plane, False)
    return gathered[0:], pitch


@numba_njit(cache=True)
def _scatter_block(gathered, flat, shape, block):
    """Copy a several-image block made by :func:`_output_block` into ``flat``."""
    first_image, n_images, first_row, n_rows = block
    channels, plane = shape[1], shape[2] * shape[3]
    for image in range(n_images):
        _move_rows(flat, (first_image + image) * channels * plane, plane, 1, gathered, image * plane,
                   n_images * plane, 1, channels, plane, False)


@numba_njit(cache=True)
def _flip_into(filters, filter_shape, flipped):
    """Write the flat OIHW ``filters``, each rotated by 180 degrees, into ``flipped``."""
    taps = filter_shape[2] * filter_shape[3]
    for start in range(0, filters.size, taps):
        for tap in range(taps):
            flipped[start + tap] = filters[start + taps - 1 - tap]


@numba_njit(cache=True)
def _flipped(filters, filter_shape):
    """A copy of the flat OIHW ``filters`` with each filter rotated by 180 degrees."""
    flipped = np.empty(filters.size, filters.dtype)
    _flip_into(filters, filter_shape, flipped)
    return flipped


@numba_njit(cache=True)
def _worker_setup(worker, workers, sizes, params, dtype):
    """What im2col worker ``worker`` of ``workers`` needs: the shapes and steps
    (as :func:`_unpack` gives them), the number of filter taps K, its blocks
    (workers take the tasks in turn) and its buffers (see :func:`_buffers`)."""
    image_shape, filter_shape, output_shape, steps = _unpack(sizes, params)
    plan, pitch = _plan(filter_shape, output_shape)
    per_task = _tasks(plan, output_shape)[1]
    blocks = [_block(index, plan, output_shape) for index in range(plan[2])
              if index // per_task % workers == worker]
    columns, gathered = _buffers(plan, pitch, filter_shape, dtype)
    return ((image_shape, filter_shape, output_shape, steps), filter_shape[1] * filter_shape[2] * filter_shape[3],
            blocks, columns, pitch, gathered)


@numba_njit(cache=True)
def _conv2d_worker(worker, workers, weights, pixels, output, sizes, params):
    """The blocks of im2col worker ``worker`` (of ``workers``) of Conv."""
    shapes, taps, blocks, columns, pitch, gathered = _worker_setup(worker, workers, sizes, params,
                                                                    pixels.dtype)
    image_shape, filter_shape, output_shape, steps = shapes
    for block in blocks:
        _im2col(pixels, image_shape, filter_shape, output_shape, steps, block, columns, pitch)
        out, out_pitch = _output_block(output, output_shape, block, gathered, False)
        n = block[1] * block[3] * output_shape[3]
        _gemm(False, False, filter_shape[0], n, taps, weights, taps, columns, pitch, out, out_pitch,
              False)
        if block[1] > 1:
            _scatter_block(gathered, output, output_shape, block)


@numba_njit(cache=True)
def _conv2d_grad_weights_worker(worker, workers, pixels, grads, sums, sizes, params):
    """Adds the filter gradient (OIHW) of the blocks of im2col worker ``worker``
    (of ``workers``) of ConvGradWeights into ``sums[worker]``."""
    shapes, taps, blocks, columns, pitch, gathered = _worker_setup(worker, workers, sizes, params,
                                                                    pixels.dtype)
    image_shape, filter_shape, output_shape, steps = shapes
    for block in blocks:
        _im2col(pixels, image_shape, filter_shape, output_shape, steps, block, columns, pitch)
        grad, grad_pitch = _output_block(grads, output_shape, block, gathered, True)
        n = block[1] * block[3] * output_shape[3]
        _gemm(False, True, filter_shape[0], taps, n, grad, grad_pitch, columns, pitch, sums[worker],
              taps, True)


@numba_njit(cache=True)
def _conv2d_grad_inputs_worker(worker, workers, weights, grads, input_grads, sizes, params):
    """The blocks of im2col worker ``worker`` (of ``workers``) of ConvGradInputs."""
    shapes, taps, blocks, columns, pitch, gathered = _worker_setup(worker, workers, sizes, params,
                                                                    grads.dtype)
    image_shape, filter_shape, output_shape, steps = shapes
    image_size = image_shape[1] * image_shape[2] * image_shape[3]
    for block in blocks:
        if block[2] == 0:  # the block starts its images: clear them
            _zero_run(input_grads, block[0] * image_size, block[1] * image_size)
        grad, grad_pitch = _output_block(grads, output_shape, block, gathered, True)
        n = block[1] * block[3] * output_shape[3]
        _gemm(True, False, taps, n, filter_shape[0], weights, taps, grad, grad_pitch, columns, pitch,
              False)
        _col2im(columns, pitch, image_shape, filter_shape, output_shape, steps, block, input_grads)


# --- The direct algorithm ------------------------------------------------------------
# For a chunk of m images copied channels-last into ``images`` (m x H x W x C),
# the pixels that filter row p sees at output pixel (i, j) through a run of
# filter columns [q, q + run) are, for every image, one contiguous run of
# run * C numbers, one image apart.  With the filters laid out channels-last
# (HWIO: (p, q, channel) rows x O columns),
#
# * ``Conv``:            products[pixel] (m x O) += image run (m x run*C) @ filter rows
# * ``ConvGradWeights``: filter rows (run*C x O) += image run.T @ products[pixel]
#
# where ``products`` holds the output (or its gradient) of the chunk pixel by
# pixel (output pixels x m x O).  BLAS reads the runs in place (row pitch: one
# image), so nothing is copied but the two layout changes per chunk, which
# stays in the caches, and taps in the padding are skipped, not multiplied by
# zeros.  It beats im2col where images are small and batches large: im2col
# copies every input pixel once per filter tap, in runs as short as an output
# row.  ``ConvGradInputs`` uses it as the convolution of the padded output
# gradient (see _transposed_problem) where the stride is 1; adding GEMM
# products of only O terms into overlapping runs measured slower than
# im2col's col2im.


@numba_njit(cache=True)
def _direct_chunk(sizes, params):
    """Images per chunk (the last may have fewer) of the direct algorithm, or 0
    where im2col does better: batches under ``_DIRECT_MIN_BATCH``, channel runs
    (``run * C``) under ``_DIRECT_MIN_RUN`` numbers, fewer output channels than
    ``_DIRECT_MIN_OUT_CHANNELS``, output rows over ``_DIRECT_MAX_OUT_COLS`` pixels."""
    image_shape, filter_shape, output_shape, steps = _unpack(sizes, params)
    batch, channels = image_shape[0], image_shape[1]
    run = filter_shape[3] if steps[1][1] == 1 else 1
    if batch < _DIRECT_MIN_BATCH or run * channels < _DIRECT_MIN_RUN \
            or filter_shape[0] < _DIRECT_MIN_OUT_CHANNELS or output_shape[3] > _DIRECT_MAX_OUT_COLS:
        return 0
    image_size = image_shape[2] * image_shape[3] * channels
    # At most _BLOCK_ELEMENTS numbers (a chunk stays in the caches) or
    # _DIRECT_MAX_CHUNK images, at least _DIRECT_MIN_BATCH; chunks of equal size.
    largest = min(max(_BLOCK_ELEMENTS // image_size, _DIRECT_MIN_BATCH), _DIRECT_MAX_CHUNK)
    chunks = (batch + largest - 1) // largest
    return (batch + chunks - 1) // chunks


@numba_njit(cache=True)
def _direct_gemms(image_shape, filter_shape, output_shape, steps):
    """The GEMMs of one chunk, a row each: the offset of the run in an image of
    the channels-last chunk, the first filter row (channels-last), the output
    pixel and the run's length.  Taps that fall in the padding are left out,
    so a run covers the consecutive filter columns that read inside the image
    (one column where columns are dilated), and padding costs nothing."""
    (row_stride, col_stride), (row_dilation, col_dilation), (row_pad, col_pad) = steps
    channels, height, width = image_shape[1], image_shape[2], image_shape[3]
    filter_rows, filter_cols, out_cols = filter_shape[2], filter_shape[3], output_shape[3]
    gemms = np.empty((output_shape[2] * out_cols * filter_rows * filter_cols, 4), np.int64)
    index = 0
    for pixel in range(output_shape[2] * out_cols):
        row, col = pixel // out_cols, pixel % out_cols
        for p in range(filter_rows):
            input_row = row * row_stride + p * row_dilation - row_pad
            if input_row < 0 or input_row >= height:
                continue
            for q in range(filter_cols):
                input_col = col * col_stride + q * col_dilation - col_pad
                inside = 0 <= input_col < width
                if not inside or (col_dilation == 1 and q > 0 and input_col > 0):
                    continue  # in the padding, or inside the run of an earlier tap
                run = 1
                while col_dilation == 1 and q + run < filter_cols and input_col + run < width:
                    run += 1
                gemms[index, 0] = (input_row * width + input_col) * channels
                gemms[index, 1] = (p * filter_cols + q) * channels
                gemms[index, 2] = pixel
                gemms[index, 3] = run * channels
                index += 1
    return gemms[:index]


@numba_njit(cache=True)
def _transpose(dst, dst_start, dst_pitch, src, src_start, src_pitch, rows, cols):
    """``dst[dst_start + j * dst_pitch + i] = src[src_start + i * src_pitch + j]``
    for ``i < rows`` and ``j < cols``, in tiles that stay in the L1 cache."""
    tile = 16
    d, s = np.uint64(dst_start), np.uint64(src_start)
    d_pitch, s_pitch = np.uint64(dst_pitch), np.uint64(src_pitch)
    for i0 in range(0, rows, tile):
        for j0 in range(0, cols, tile):
            for i in range(np.uint64(i0), np.uint64(min(i0 + tile, rows))):
                for j in range(np.uint64(j0), np.uint64(min(j0 + tile, cols))):
                    dst[d + j * d_pitch + i] = src[s + i * s_pitch + j]


@numba_njit(cache=True)
def _channels_last(nchw, image_shape, first, count, chunk):
    """Copy images ``[first, first + count)`` of the flat NCHW ``nchw`` into
    ``chunk``, channels-last (NHWC)."""
    channels, plane = image_shape[1], image_shape[2] * image_shape[3]
    for image in range(count):
        _transpose(chunk, image * plane * channels, channels, nchw, (first + image) * channels * plane, plane,
                   channels, plane)


@numba_njit(cache=True)
def _pixel_major(nchw, output_shape, first, count, products, to_products):
    """Copy images ``[first, first + count)`` of the flat NCHW output (or output
    gradient) ``nchw`` into ``products`` (pixels x count x O) if ``to_products``,
    else back."""
    channels, plane = output_shape[1], output_shape[2] * output_shape[3]
    for image in range(count):
        if to_products:
            _transpose(products, image * channels, count * channels, nchw, (first + image) * channels * plane,
                       plane, channels, plane)
        else:
            _transpose(nchw, (first + image) * channels * plane, plane, products, image * channels,
                       count * channels, plane, channels)


@numba_njit(cache=True)
def _channels_last_filters(filters, filter_shape, flip, hwio, to_hwio):
    """Copy the flat OIHW ``filters``, rotated by 180 degrees if ``flip``, into
    the flat channels-last ``hwio`` ((row, column, channel) x O) if ``to_hwio``,
    else back."""
    out_channels, channels, filter_rows, filter_cols = filter_shape
    taps = filter_rows * filter_cols
    for o in range(out_channels):
        for c in range(channels):
            for tap in range(taps):
                oihw = (o * channels + c) * taps + (taps - 1 - tap if flip else tap)
                channels_last = (tap * channels + c) * out_channels + o
                if to_hwio:
                    hwio[channels_last] = filters[oihw]
                else:
                    filters[oihw] = hwio[channels_last]


@numba_njit(cache=True)
def _direct_setup(worker, workers, chunk, sizes, params, dtype):
    """What direct worker ``worker`` of ``workers`` needs, with ``chunk`` images
    per chunk (see :func:`_direct_chunk`): the image and output shapes, the
    GEMMs of a chunk (see :func:`_direct_gemms`), ``(first image, images)`` of
    each of its chunks (workers take the chunks in turn), and its
    buffers: ``images`` for a chunk's images channels-last, with the size of
    one image, and ``products`` for its output (or output gradient) pixel by pixel."""
    image_shape, filter_shape, output_shape, steps = _unpack(sizes, params)
    batch = image_shape[0]
    image_size = image_shape[1] * image_shape[2] * image_shape[3]
    chunks = [(first, min(chunk, batch - first)) for first in range(worker * chunk, batch, workers * chunk)]
    return (image_shape, output_shape, _direct_gemms(image_shape, filter_shape, output_shape, steps), chunks,
            np.empty(chunk * image_size, dtype), image_size,
            np.empty(chunk * output_shape[1] * output_shape[2] * output_shape[3], dtype))


@numba_njit(cache=True)
def _direct_conv2d_worker(worker, workers, chunk, hwio, pixels, output, sizes, params):
    """The chunks of direct worker ``worker`` (of ``workers``) of Conv."""
    image_shape, output_shape, gemms, chunks, images, image_size, products = _direct_setup(
        worker, workers, chunk, sizes, params, pixels.dtype)
    out_channels = output_shape[1]
    for first, count in chunks:
        _channels_last(pixels, image_shape, first, count, images)
        products[:] = 0  # output pixels that see only padding stay 0
        for start, filter_row, pixel, inner in gemms:
            _gemm(False, False, count, out_channels, inner, images[start:], image_size,
                  hwio[filter_row * out_channels:], out_channels,
                  products[pixel * count * out_channels:], out_channels, True)
        _pixel_major(output, output_shape, first, count, products, False)


@numba_njit(cache=True)
def _direct_grad_weights_worker(worker, workers, chunk, pixels, grads, sums, sizes, params):
    """Adds the filter gradient (channels-last) of the chunks of direct worker
    ``worker`` (of ``workers``) of ConvGradWeights into ``sums[worker]``."""
    image_shape, output_shape, gemms, chunks, images, image_size, products = _direct_setup(
        worker, workers, chunk, sizes, params, pixels.dtype)
    out_channels = output_shape[1]
    for first, count in chunks:
        _channels_last(pixels, image_shape, first, count, images)
        _pixel_major(grads, output_shape, first, count, products, True)
        for start, filter_row, pixel, inner in gemms:
            _gemm(True, False, inner, out_channels, count, images[start:], image_size,
                  products[pixel * count * out_channels:], out_channels,
                  sums[worker][filter_row * out_channels:], out_channels, True)


# --- Drivers: the algorithm for the shapes, and the workers ----------------------------


@numba_njit(cache=True)
def _tasks_of(sizes, params, chunk):
    """How many tasks (runs of work on disjoint images) the algorithm has:
    chunks for the direct one (``chunk > 0``), else im2col's (see :func:`_tasks`)."""
    _, filter_shape, output_shape, _ = _unpack(sizes, params)
    if chunk > 0:
        return (output_shape[0] + chunk - 1) // chunk
    return _tasks(_plan(filter_shape, output_shape)[0], output_shape)[0]


@numba_njit(cache=True)
def _transposed_problem(sizes, params):
    """The convolution whose output is the input gradient, where the stride
    is 1: the output gradient padded by ``dilation * (filter size - 1) - pad``
    on each side, convolved with the filters with in and out channels swapped,
    flipped the other way.  Its taps in that padding are skipped, so it does
    the work of the gradient.  Returns its ``(sizes, params)`` where the
    direct algorithm computes it, else empty arrays."""
    image_shape, filter_shape, output_shape, steps = _unpack(sizes, params)
    transposed_sizes, transposed_params = sizes.copy(), params.copy()
    for axis in range(2):
        # dilated filter size - 1 - pad, written out: this compiles into the
        # kernel, which Numba's cache keeps until this file changes.
        pad = (filter_shape[2 + axis] - 1) * steps[1][axis] - steps[2][axis]
        if steps[0][axis] != 1 or pad < 0:
            return sizes[:0], params[:0]
        transposed_sizes[_INPUT + 2 + axis] = output_shape[2 + axis]
        transposed_sizes[_OUT_HW + axis] = image_shape[2 + axis]
        transposed_sizes[_PAD_HW + axis] = pad
    transposed_sizes[_INPUT + 1] = transposed_sizes[_FILTER + 1] = filter_shape[0]
    transposed_sizes[_FILTER] = filter_shape[1]
    transposed_params[_FLIP] = 1 - params[_FLIP]
    if _direct_chunk(transposed_sizes, transposed_params) == 0:
        return sizes[:0], params[:0]
    return transposed_sizes, transposed_params


@numba_njit(cache=True)
def _swapped_channels(filters, filter_shape):
    """A copy of the flat OIHW ``filters`` with the in and out channels swapped (IOHW)."""
    out_channels, channels, taps = filter_shape[0], filter_shape[1], filter_shape[2] * filter_shape[3]
    swapped = np.empty(filters.size, filters.dtype)
    for o in range(out_channels):
        for c in range(channels):
            to, of = (c * out_channels + o) * taps, (o * channels + c) * taps
            swapped[to:to + taps] = filters[of:of + taps]
    return swapped


# A computation as _run_workers takes it: which one (``_FORWARD``...), images
# per chunk of the direct algorithm (0: im2col), the number of workers, the
# filters as the algorithm reads them, the input, the output gradient, the
# output, the workers' filter-gradient sums, and the size and parameter arrays.
_Work = namedtuple("_Work", "kind chunk workers weights pixels grads output sums sizes params")


@numba_njit(cache=True)
def _forward_work(filters, pixels, output, sizes, params):
    """Conv of the flat OIHW ``filters`` and NCHW ``pixels`` into ``output``,
    as the work that :func:`_run_workers` runs: by the direct algorithm where
    :func:`_direct_chunk` picks it, else by im2col."""
    filter_shape = _unpack(sizes, params)[1]
    chunk = _direct_chunk(sizes, params)
    if chunk > 0:
        weights = np.empty(filters.size, filters.dtype)
        _channels_last_filters(filters, filter_shape, params[_FLIP], weights, True)
    else:
        weights = _flipped(filters, filter_shape) if params[_FLIP] else filters
    workers = _worker_count(_tasks_of(sizes, params, chunk))
    return _Work(_FORWARD, chunk, workers, weights, pixels, np.empty(0, pixels.dtype), output,
                 np.empty((0, 0), pixels.dtype), sizes, params)


@numba_njit(cache=True)
def _grad_weights_work(pixels, grads, filter_grads, sizes, params):
    """ConvGradWeights from the flat input ``pixels`` and output gradient
    ``grads``, as a work (see :func:`_forward_work`): each worker adds its part
    of the filter gradient into its row of ``sums``, which
    :func:`_gather_filter_grads` then adds up into ``filter_grads``."""
    chunk = _direct_chunk(sizes, params)
    workers = _worker_count(_tasks_of(sizes, params, chunk))
    return _Work(_GRAD_WEIGHTS, chunk, workers, np.empty(0, pixels.dtype), pixels, grads, filter_grads,
                 np.zeros((workers, filter_grads.size), pixels.dtype), sizes, params)


@numba_njit(cache=True)
def _grad_inputs_work(filters, grads, input_grads, sizes, params):
    """ConvGradInputs from the flat ``filters`` and output gradient ``grads``,
    as a work (see :func:`_forward_work`): the forward work of the transposed
    problem where there is one (see :func:`_transposed_problem`), else im2col
    and col2im."""
    filter_shape = _unpack(sizes, params)[1]
    transposed_sizes, transposed_params = _transposed_problem(sizes, params)
    if transposed_sizes.size > 0:
        return _forward_work(_swapped_channels(filters, filter_shape), grads, input_grads,
                             transposed_sizes, transposed_params)
    weights = _flipped(filters, filter_shape) if params[_FLIP] else filters
    workers = _worker_count(_tasks_of(sizes, params, 0))
    return _Work(_GRAD_INPUTS, 0, workers, weights, np.empty(0, grads.dtype), grads, input_grads,
                 np.empty((0, 0), grads.dtype), sizes, params)


@numba_njit(cache=True, inline="always")
def _worker(kind, chunk, worker, workers, weights, pixels, grads, output, sums, sizes, params):
    """Worker ``worker`` (of ``workers``) of a work: the computation ``kind``
    by the direct algorithm (``chunk > 0``) or by im2col.  Inlined into the
    parallel loop of :func:`_run_workers`, which saves compiling it, and
    LLVM's re-optimizing the workers, as a function of its own."""
    if kind == _FORWARD:
        if chunk > 0:
            _direct_conv2d_worker(worker, workers, chunk, weights, pixels, output, sizes, params)
        else:
            _conv2d_worker(worker, workers, weights, pixels, output, sizes, params)
    elif kind == _GRAD_WEIGHTS:
        if chunk > 0:
            _direct_grad_weights_worker(worker, workers, chunk, pixels, grads, sums, sizes, params)
        else:
            _conv2d_grad_weights_worker(worker, workers, pixels, grads, sums, sizes, params)
    else:
        _conv2d_grad_inputs_worker(worker, workers, weights, grads, output, sizes, params)


@numba_njit(cache=True, parallel=True)
def _run_workers(kind, chunk, workers, weights, pixels, grads, output, sums, sizes, params):
    """Runs the ``workers`` workers of a work (see :func:`_forward_work`) in
    Numba's threads, BLAS limited to one thread while several run."""
    blas_threads = _start_workers(workers)
    for worker in numba.prange(workers):
        # Numba types the loop index as signed, then runs the loop with an
        # unsigned one: as int64 both times, the workers compile once, not twice.
        _worker(kind, chunk, np.int64(worker), workers, weights, pixels, grads, output, sums, sizes, params)
    _stop_workers(blas_threads)


@numba_njit(cache=True)
def _gather_filter_grads(chunk, sums, filter_grads, sizes, params):
    """The last step of ConvGradWeights: the workers' ``sums`` added up into
    the OIHW ``filter_grads``, from channels-last after the direct algorithm,
    flipped back where the filters are flipped."""
    for worker in range(1, sums.shape[0]):
        sums[0] += sums[worker]
    filter_shape = _unpack(sizes, params)[1]
    if chunk > 0:
        _channels_last_filters(filter_grads, filter_shape, params[_FLIP], sums[0], False)
    elif params[_FLIP]:
        _flip_into(sums[0], filter_shape, filter_grads)
    else:
        filter_grads[:] = sums[0]


# --- The C-callable kernel -----------------------------------------------------------


@numba_njit(cache=True)
def _operand_sizes(sizes, kind):
    """Number of elements of the kernel's operands ``(a, b, out)`` for the computation ``kind``."""
    batch, out_channels = sizes[_INPUT], sizes[_FILTER]
    images = batch * sizes[_INPUT + 1] * sizes[_INPUT + 2] * sizes[_INPUT + 3]
    filters = out_channels * sizes[_FILTER + 1] * sizes[_FILTER + 2] * sizes[_FILTER + 3]
    output = batch * out_channels * sizes[_OUT_HW] * sizes[_OUT_HW + 1]
    if kind == _FORWARD:
        return images, filters, output
    if kind == _GRAD_WEIGHTS:
        return images, output, filters
    return filters, output, images


def conv2d_kernel(a, b, out, sizes, params):
    """C entry point of the three Ops, ``params[_KIND]`` telling which: ``(a,
    b, out)`` are the C-contiguous (images, filters, output) of Conv, (images,
    output gradient, filter gradient) of ConvGradWeights, or (filters, output
    gradient, input gradient) of ConvGradInputs.  One kernel for the three
    compiles Numba's parallel machinery, and the code they share, once per dtype."""
    sizes, params = carray(sizes, _N_SIZES), carray(params, _N_PARAMS)
    kind = params[_KIND]
    a_size, b_size, out_size = _operand_sizes(sizes, kind)
    a, b, out = carray(a, a_size), carray(b, b_size), carray(out, out_size)
    if kind == _FORWARD:
        work = _forward_work(b, a, out, sizes, params)
    elif kind == _GRAD_WEIGHTS:
        work = _grad_weights_work(a, b, out, sizes, params)
    else:
        work = _grad_inputs_work(a, b, out, sizes, params)
    _run_workers(*work)
    if kind == _GRAD_WEIGHTS:
        _gather_filter_grads(work.chunk, work.sums, out, sizes, params)


_compiled_kernels = {}


def _kernel(dtype):
    """An ExternalFunction calling :func:`conv2d_kernel` compiled for ``dtype``.

    The first call in a process compiles the kernel (or loads it from Numba's
    disk cache) and registers its address with LLVM under a name that code
    compiled earlier, and cached, refers to.
    """
    name = f"convnet_conv2d_kernel_{dtype}_{source_digest(*_SOURCES):x}"
    if not _compiled_kernels:
        _register_thread_symbols()
    if name not in _compiled_kernels:
        pointer = types.CPointer(numba.from_dtype(np.dtype(dtype)))
        sizes = types.CPointer(types.int64)
        compiled = numba.cfunc(types.void(pointer, pointer, pointer, sizes, sizes), cache=True,
                               error_model="numpy")(conv2d_kernel)
        llvmlite.binding.add_symbol(name, compiled.address)
        _compiled_kernels[name] = compiled
    return types.ExternalFunction(name, types.void(*[types.voidptr] * 5))


# --- Volumes: the kernel for 3-D (and lifted 1-D) convolutions ---------------------------
# vol2col per volume into a (K x positions) buffer, K = channels * filter
# depth * rows * columns, then one BLAS product per volume:
#
# * Conv:            output (O x positions) = W (O x K) @ columns
# * ConvGradWeights: filter grad (O x K) += output_grad (O x positions) @ columns.T
# * ConvGradInputs:  columns = W.T @ output_grad, then col2vol adds them back.
#
# Shapes are 5-D (batch, channels, depth, rows, columns); steps are
# ``(strides, dilations, pads)``, each 3 ints.  These are plain jitted
# functions: they compile into the per-node functions of the 3-D Ops only.


@numba_njit(cache=True)
def _volume_columns(volume, filter_sizes, output_sizes, steps, columns, to_columns):
    """``columns[k, m] = volume[tap k at output position m]`` (0 in the padding) if
    ``to_columns``, else add ``columns`` back into ``volume`` (col2vol).
    ``volume`` is one (channels, depth, rows, columns) volume."""
    strides, dilations, pads = steps
    channels, depth, height, width = volume.shape
    kd, kh, kw = filter_sizes
    od, oh, ow = output_sizes
    k = 0
    for c in range(channels):
        for a in range(kd):
            for b in range(kh):
                for e in range(kw):
                    m = 0
                    for i in range(od):
                        z = i * strides[0] + a * dilations[0] - pads[0]
                        for j in range(oh):
                            y = j * strides[1] + b * dilations[1] - pads[1]
                            inside = 0 <= z < depth and 0 <= y < height
                            for q in range(ow):
                                x = q * strides[2] + e * dilations[2] - pads[2]
                                if inside and 0 <= x < width:
                                    if to_columns:
                                        columns[k, m] = volume[c, z, y, x]
                                    else:
                                        volume[c, z, y, x] += columns[k, m]
                                elif to_columns:
                                    columns[k, m] = 0
                                m += 1
                    k += 1


@numba_njit(cache=True)
def _volume_conv(images, weights, output_sizes, steps):
    """Conv of 5-D ``images`` with 5-D cross-correlation ``weights``."""
    batch, out_channels = images.shape[0], weights.shape[0]
    taps = weights[0].size
    matrix = weights.reshape((out_channels, taps))
    positions = output_sizes[0] * output_sizes[1] * output_sizes[2]
    columns = np.empty((taps, positions), images.dtype)
    output = np.empty((batch, out_channels, positions), images.dtype)
    for n in range(batch):
        _volume_columns(images[n], weights.shape[2:], output_sizes, steps, columns, True)
        np.dot(matrix, columns, output[n])
    return output.reshape((batch, out_channels) + output_sizes)


@numba_njit(cache=True)
def _volume_grad_weights(images, grads, filter_sizes, steps):
    """ConvGradWeights (of the cross-correlation) from 5-D ``images`` and output gradient ``grads``."""
    batch, out_channels = grads.shape[0], grads.shape[1]
    output_sizes = grads.shape[2:]
    taps = images.shape[1] * filter_sizes[0] * filter_sizes[1] * filter_sizes[2]
    positions = output_sizes[0] * output_sizes[1] * output_sizes[2]
    columns = np.empty((taps, positions), images.dtype)
    filter_grads = np.zeros((out_channels, taps), images.dtype)
    for n in range(batch):
        _volume_columns(images[n], filter_sizes, output_sizes, steps, columns, True)
        filter_grads += np.dot(grads[n].reshape((out_channels, positions)), columns.T)
    return filter_grads.reshape((out_channels, images.shape[1]) + filter_sizes)


@numba_njit(cache=True)
def _volume_grad_inputs(weights, grads, input_shape, steps):
    """ConvGradInputs (of the cross-correlation) from 5-D ``weights`` and output gradient ``grads``."""
    batch, out_channels = grads.shape[0], grads.shape[1]
    output_sizes = grads.shape[2:]
    taps = weights[0].size
    positions = output_sizes[0] * output_sizes[1] * output_sizes[2]
    matrix_t = np.ascontiguousarray(weights.reshape((out_channels, taps)).T)
    columns = np.empty((taps, positions), grads.dtype)
    input_grads = np.zeros(input_shape, grads.dtype)
    for n in range(batch):
        np.dot(matrix_t, grads[n].reshape((out_channels, positions)), columns)
        _volume_columns(input_grads[n], weights.shape[2:], output_sizes, steps, columns, False)
    return input_grads


# --- Per-node functions ---------------------------------------------------------------


def _kernel_params(op):
    """The 2-D kernel's int64 parameter array (layout ``_STRIDES``, ``_DILATIONS``,
    ``_FLIP``, ``_KIND``) for ``op``: the one place the geometry is flattened.
    Compiled code reads it at run time, so one compilation serves every
    configuration."""
    kind = {Conv: _FORWARD, ConvGradWeights: _GRAD_WEIGHTS, ConvGradInputs: _GRAD_INPUTS}[type(op)]
    g = op.geometry
    return np.array([*g.subsample, *g.filter_dilation, g.filter_flip, kind], dtype=np.int64)


@numba_njit
def _sizes(input_shape, filter_shape, border_code, explicit_pads, subsample, dilation):
    """The 2-D kernel's size array (see ``_INPUT``...) for shapes that fit.

    Not cached by Numba, whose disk cache sees changes to this file only:
    it compiles into the per-node functions, which PyTensor caches under a
    key that changes with the geometry's rules too."""
    sizes = np.empty(_N_SIZES, np.int64)
    for axis in range(4):
        sizes[_INPUT + axis] = input_shape[axis]
        sizes[_FILTER + axis] = filter_shape[axis]
    for axis in range(2):
        pad = pad_size(border_code, explicit_pads[axis], filter_shape[2 + axis], dilation[axis])
        sizes[_PAD_HW + axis] = pad
        sizes[_OUT_HW + axis] = output_size(input_shape[2 + axis], filter_shape[2 + axis], subsample[axis],
                                            pad, dilation[axis])
    return sizes


def _shape_message(function_name, input_name, filters_name, ndim, border_name, explicit_pads, subsample,
                   filter_flip, dilation, input_shape, filter_shape, output_shape):
    """The geometry's message for shapes that do not fit, for compiled code
    (object mode), which passes the geometry as its fields."""
    border = border_name or tuple(explicit_pads)
    g = geometry.ConvGeometry.create(ndim, border, tuple(subsample), filter_flip, tuple(dilation))
    shapes = [tuple(None if size < 0 else int(size) for size in shape) for shape in
              (input_shape, filter_shape, output_shape)]
    problem = g.shape_problem(*shapes[:2], None if min(output_shape) < 0 else shapes[2], input_name,
                              filters_name)
    return f"{function_name}: {problem}"


def _shape_checker(op):
    """A jitted ``check(input_shape, filter_shape, output_shape)`` (tuples, -1
    for unknown) raising the ValueError that ``op.perform`` raises."""
    g = op.geometry
    function_name, (input_name, filters_name) = op.function_name, op.operand_names
    ndim, code, pads, subsample, dilation = g.ndim, g.border_code, g.explicit_pads, g.subsample, g.filter_dilation
    border_name, flip = g.border_mode if isinstance(g.border_mode, str) else "", g.filter_flip

    @numba_njit
    def check(input_shape, filter_shape, output_shape):
        problem, _ = find_shape_problem(input_shape, filter_shape, output_shape, code, pads, subsample,
                                        dilation)
        if problem != SHAPES_FIT:
            with numba.objmode(message="unicode_type"):
                message = _shape_message(function_name, input_name, filters_name, ndim, border_name, pads,
                                         subsample, flip, dilation, input_shape, filter_shape, output_shape)
            raise ValueError(message)

    return check


def _positive_sizes(op, name):
    """A jitted ``check(sizes)`` raising a ValueError unless the int vector ``sizes``
    (a gradient Op's spatial sizes input ``name``) is all positive."""
    function_name = op.function_name

    @numba_njit
    def check(sizes):
        if sizes.min() <= 0:
            with numba.objmode(message="unicode_type"):
                message = nonpositive_sizes_message(function_name, name, sizes)
            raise ValueError(message)

    return check


@register_jitable
def _spatial_tuple1(sizes):
    return (sizes[0],)


@register_jitable
def _spatial_tuple2(sizes):
    return (sizes[0], sizes[1])


@register_jitable
def _spatial_tuple3(sizes):
    return (sizes[0], sizes[1], sizes[2])


# A vector of spatial sizes as a tuple, by number of spatial dimensions.
_SPATIAL_TUPLE = {1: _spatial_tuple1, 2: _spatial_tuple2, 3: _spatial_tuple3}


@register_jitable
def _same_shape(shape):
    return shape


@register_jitable
def _line_as_volume(shape):
    return (shape[0], shape[1], 1, 1, shape[2])


@register_jitable
def _volume_as_line(shape):
    return (shape[0], shape[1], shape[4])


# (lift, drop) of a shape to 5-D and back, by number of spatial dimensions:
# 1-D data are volumes with unit depth and rows.
_LIFT = {1: (_line_as_volume, _volume_as_line), 3: (_same_shape, _same_shape)}


def _flat_2d_kernel(op, node):
    """The per-node function of a 2-D Op: checks, then the optimised 2-D kernel."""
    g = op.geometry
    params, kernel, check = _kernel_params(op), _kernel(node.outputs[0].dtype), _shape_checker(op)
    code, pads, subsample, dilation = g.border_code, g.explicit_pads, g.subsample, g.filter_dilation
    unknown = (-1, -1, -1, -1)

    def sizes_of(input_shape, filter_shape):
        return _sizes(input_shape, filter_shape, code, pads, subsample, dilation)

    sizes_of = numba_njit(sizes_of)

    if isinstance(op, Conv):
        @numba_njit
        def conv2d(images, filters):
            images, filters = np.ascontiguousarray(images), np.ascontiguousarray(filters)
            check(images.shape, filters.shape, unknown)
            sizes = sizes_of(images.shape, filters.shape)
            output = np.empty((sizes[_INPUT], sizes[_FILTER], sizes[_OUT_HW], sizes[_OUT_HW + 1]),
                              images.dtype)
            kernel(images.ctypes, filters.ctypes, output.ctypes, sizes.ctypes, params.ctypes)
            return output

        return conv2d

    positive = _positive_sizes(op, op.operand_names[0 if isinstance(op, ConvGradInputs) else 1])
    if isinstance(op, ConvGradWeights):
        @numba_njit
        def conv2d_grad_wrt_weights(images, output_grad, filter_hw):
            positive(filter_hw)
            images, output_grad = np.ascontiguousarray(images), np.ascontiguousarray(output_grad)
            filter_shape = (output_grad.shape[1], images.shape[1], filter_hw[0], filter_hw[1])
            check(images.shape, filter_shape, output_grad.shape)
            sizes = sizes_of(images.shape, filter_shape)
            filter_grad = np.empty(filter_shape, images.dtype)
            kernel(images.ctypes, output_grad.ctypes, filter_grad.ctypes, sizes.ctypes, params.ctypes)
            return filter_grad

        return conv2d_grad_wrt_weights

    @numba_njit
    def conv2d_grad_wrt_inputs(filters, output_grad, input_hw):
        positive(input_hw)
        filters, output_grad = np.ascontiguousarray(filters), np.ascontiguousarray(output_grad)
        input_shape = (output_grad.shape[0], filters.shape[1], input_hw[0], input_hw[1])
        check(input_shape, filters.shape, output_grad.shape)
        sizes = sizes_of(input_shape, filters.shape)
        input_grad = np.empty(input_shape, filters.dtype)
        kernel(filters.ctypes, output_grad.ctypes, input_grad.ctypes, sizes.ctypes, params.ctypes)
        return input_grad

    return conv2d_grad_wrt_inputs


def _volume_kernel(op, node):
    """The per-node function of a 3-D or 1-D Op: checks, then the volume
    kernel, 1-D data and geometry lifted to 3-D with unit axes in front."""
    g, ndim = op.geometry, op.geometry.ndim
    lifted = g.lifted(3)
    code, pads, subsample, dilation = lifted.border_code, lifted.explicit_pads, lifted.subsample, \
        lifted.filter_dilation
    flip, check, spatial = g.filter_flip, _shape_checker(op), _SPATIAL_TUPLE[ndim]
    lift, drop = _LIFT[ndim]
    unknown = (-1,) * (ndim + 2)

    @numba_njit
    def as_volumes(array):
        """The 5-D view of a (batch, channels, spatial...) array."""
        return np.ascontiguousarray(array).reshape(lift(array.shape))

    @numba_njit
    def steps_for(filter_sizes):
        """``(strides, dilations, pads)`` for 5-D filters of spatial sizes ``filter_sizes``."""
        padding = (pad_size(code, pads[0], filter_sizes[0], dilation[0]),
                   pad_size(code, pads[1], filter_sizes[1], dilation[1]),
                   pad_size(code, pads[2], filter_sizes[2], dilation[2]))
        return subsample, dilation, padding

    @numba_njit
    def oriented(weights):
        """5-D ``weights`` as the filters of a cross-correlation."""
        return np.ascontiguousarray(weights[:, :, ::-1, ::-1, ::-1]) if flip else weights

    if isinstance(op, Conv):
        @numba_njit
        def conv(images, filters):
            check(images.shape, filters.shape, unknown)
            x, w = as_volumes(images), oriented(as_volumes(filters))
            steps = steps_for(w.shape[2:])
            output_sizes = (output_size(x.shape[2], w.shape[2], subsample[0], steps[2][0], dilation[0]),
                            output_size(x.shape[3], w.shape[3], subsample[1], steps[2][1], dilation[1]),
                            output_size(x.shape[4], w.shape[4], subsample[2], steps[2][2], dilation[2]))
            output = _volume_conv(x, w, output_sizes, steps)
            return output.reshape(drop(output.shape))

        return conv

    positive = _positive_sizes(op, op.operand_names[0 if isinstance(op, ConvGradInputs) else 1])
    if isinstance(op, ConvGradWeights):
        @numba_njit
        def conv_grad_wrt_weights(images, output_grad, filter_sizes):
            positive(filter_sizes)
            filter_shape = (output_grad.shape[1], images.shape[1]) + spatial(filter_sizes)
            check(images.shape, filter_shape, output_grad.shape)
            x, g5 = as_volumes(images), as_volumes(output_grad)
            sizes5 = lift(filter_shape)[2:]
            grads = _volume_grad_weights(x, g5, sizes5, steps_for(sizes5))
            return np.ascontiguousarray(oriented(grads)).reshape(filter_shape)

        return conv_grad_wrt_weights

    @numba_njit
    def conv_grad_wrt_inputs(filters, output_grad, input_sizes):
        positive(input_sizes)
        input_shape = (output_grad.shape[0], filters.shape[1]) + spatial(input_sizes)
        check(input_shape, filters.shape, output_grad.shape)
        w, g5 = oriented(as_volumes(filters)), as_volumes(output_grad)
        return _volume_grad_inputs(w, g5, lift(input_shape), steps_for(w.shape[2:])).reshape(input_shape)

    return conv_grad_wrt_inputs


@register_funcify_and_cache_key(Conv)
@register_funcify_and_cache_key(ConvGradInputs)
@register_funcify_and_cache_key(ConvGradWeights)
def numba_funcify_conv(op, node, **kwargs):
    """The per-node function of a convolution Op: the optimised 2-D kernel in
    2-D, else the volume kernel; keyed by the Op, the dtype and the sources."""
    build = _flat_2d_kernel if op.geometry.ndim == 2 else _volume_kernel
    return build(op, node), kernel_cache_key(op, node, *_SOURCES)


# convnet's CPU linker runs these nodes through the per-node functions above.
for _op_type in (Conv, ConvGradInputs, ConvGradWeights):
    cpu_thunk.register(_op_type)(compiled_node)
