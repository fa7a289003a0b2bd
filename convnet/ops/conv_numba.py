"""Numba implementation of the convolution Ops, for PyTensor's default linker.

Two algorithms, chosen from the shapes at run time:

**im2col + GEMM**, over blocks of output pixels.  For a block of ``n``
output pixels, ``columns`` (K x n, K = channels * filter rows * filter
columns) holds the input pixel each filter tap sees at each of them, and

* ``Conv2d``:            output block (O x n)  = W (O x K) @ columns
* ``Conv2dGradWeights``: filter grad  (O x K) += output_grad block (O x n) @ columns.T
* ``Conv2dGradInputs``:  columns = W.T @ output_grad block, then col2im adds
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
use), registered with LLVM under a versioned symbol name, and the per-node
functions only validate shapes, allocate the result and call the kernel
symbol (``types.ExternalFunction``), the way Numba itself calls BLAS.  One
kernel rather than one per Op compiles Numba's parallel loop and the code
the Ops share once, not three times.  The Op's parameters, and which Op it
is, travel as an int64 array, and all code is cacheable, so warm runs compile
nothing.
"""
import llvmlite.binding
import numba
import numpy as np
from numba import carray, types
from numba.extending import register_jitable
from pytensor.link.numba.dispatch.basic import (
    default_hash_key_from_props,
    numba_njit,
    register_funcify_and_cache_key,
)

from ..linker import compiled_node, cpu_thunk
from .conv import (
    SHAPES_FIT,
    Conv2d,
    Conv2dGradInputs,
    Conv2dGradWeights,
    _describe_shape_problem,
    _dilated_size,
    _find_shape_problem,
    _known_and_different,
    _output_size,
    _pad_size,
)

# The shape arithmetic and checks of convnet.ops.conv, compiled where Numba code calls them.
for _function in (_dilated_size, _pad_size, _output_size, _known_and_different, _find_shape_problem):
    register_jitable(_function)

# Part of the kernel symbol names and of PyTensor's cache key: bump it when the
# compiled code changes, here or in the shape checks of convnet.ops.conv (caches
# do not see changes to other files).
_CACHE_VERSION = 14
# Target size of the im2col buffer of one block, in array elements.
_BLOCK_ELEMENTS = 1 << 19
# When the direct algorithm replaces im2col (see _direct_chunk), and its
# chunks' largest number of images.
_DIRECT_MIN_BATCH, _DIRECT_MIN_RUN, _DIRECT_MIN_OUT_CHANNELS, _DIRECT_MAX_OUT_COLS = 16, 32, 16, 32
_DIRECT_MAX_CHUNK = 64
_UNKNOWN_SHAPE = (-1, -1, -1, -1)
# Layout of the int64 parameter array made by _parameters.
_CHECK, _BORDER_CODE, _PADS, _STRIDES, _DILATIONS, _FLIP, _KIND, _N_PARAMS = 0, 1, 2, 4, 6, 8, 9, 10
# The computations, in the _KIND slot: Conv2d, Conv2dGradWeights, Conv2dGradInputs.
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
# then returns -1).
_GET_BLAS_THREADS = f"convnet_get_blas_threads_v{_CACHE_VERSION}"
_SET_BLAS_THREADS = f"convnet_set_blas_threads_v{_CACHE_VERSION}"
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
    """The blocks of im2col worker ``worker`` (of ``workers``) of Conv2d."""
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
    (of ``workers``) of Conv2dGradWeights into ``sums[worker]``."""
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
    """The blocks of im2col worker ``worker`` (of ``workers``) of Conv2dGradInputs."""
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
# * ``Conv2d``:            products[pixel] (m x O) += image run (m x run*C) @ filter rows
# * ``Conv2dGradWeights``: filter rows (run*C x O) += image run.T @ products[pixel]
#
# where ``products`` holds the output (or its gradient) of the chunk pixel by
# pixel (output pixels x m x O).  BLAS reads the runs in place (row pitch: one
# image), so nothing is copied but the two layout changes per chunk, which
# stays in the caches, and taps in the padding are skipped, not multiplied by
# zeros.  It beats im2col where images are small and batches large: im2col
# copies every input pixel once per filter tap, in runs as short as an output
# row.  ``Conv2dGradInputs`` uses it as the convolution of the padded output
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
    """The chunks of direct worker ``worker`` (of ``workers``) of Conv2d."""
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
    ``worker`` (of ``workers``) of Conv2dGradWeights into ``sums[worker]``."""
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
        pad = _dilated_size(filter_shape[2 + axis], steps[1][axis]) - 1 - steps[2][axis]
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


@numba_njit(cache=True)
def _forward_work(filters, pixels, output, sizes, params):
    """Conv2d of the flat OIHW ``filters`` and NCHW ``pixels`` into ``output``,
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
    return (_FORWARD, chunk, workers, weights, pixels, np.empty(0, pixels.dtype), output,
            np.empty((0, 0), pixels.dtype), sizes, params)


@numba_njit(cache=True)
def _grad_weights_work(pixels, grads, filter_grads, sizes, params):
    """Conv2dGradWeights from the flat input ``pixels`` and output gradient
    ``grads``, as a work (see :func:`_forward_work`): each worker adds its part
    of the filter gradient into its row of ``sums``, which
    :func:`_gather_filter_grads` then adds up into ``filter_grads``."""
    chunk = _direct_chunk(sizes, params)
    workers = _worker_count(_tasks_of(sizes, params, chunk))
    return (_GRAD_WEIGHTS, chunk, workers, np.empty(0, pixels.dtype), pixels, grads, filter_grads,
            np.zeros((workers, filter_grads.size), pixels.dtype), sizes, params)


@numba_njit(cache=True)
def _grad_inputs_work(filters, grads, input_grads, sizes, params):
    """Conv2dGradInputs from the flat ``filters`` and output gradient ``grads``,
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
    return (_GRAD_INPUTS, 0, workers, weights, np.empty(0, grads.dtype), grads, input_grads,
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
    """The last step of Conv2dGradWeights: the workers' ``sums`` added up into
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
    b, out)`` are the C-contiguous (images, filters, output) of Conv2d, (images,
    output gradient, filter gradient) of Conv2dGradWeights, or (filters, output
    gradient, input gradient) of Conv2dGradInputs.  One kernel for the three
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
        _, chunk, _, _, _, _, _, sums, _, _ = work
        _gather_filter_grads(chunk, sums, out, sizes, params)


_compiled_kernels = {}


def _kernel(dtype):
    """An ExternalFunction calling :func:`conv2d_kernel` compiled for ``dtype``.

    The first call in a process compiles the kernel (or loads it from Numba's
    disk cache) and registers its address with LLVM under a name that code
    compiled earlier, and cached, refers to.
    """
    name = f"convnet_conv2d_kernel_{dtype}_v{_CACHE_VERSION}"
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


# --- Per-node functions ---------------------------------------------------------------


@numba_njit(cache=True)
def _sizes(params, input_shape, filter_shape, output_shape):
    """Validate the shapes and return their size array (see ``_INPUT``...).

    Raises the ValueError that ``perform`` raises; its message is built in
    Python (object mode), which runs only when the shapes are wrong.
    """
    border_code = params[_BORDER_CODE]
    explicit_pads = (params[_PADS], params[_PADS + 1])
    subsample = (params[_STRIDES], params[_STRIDES + 1])
    dilation = (params[_DILATIONS], params[_DILATIONS + 1])
    problem, axis = _find_shape_problem(input_shape, filter_shape, output_shape, border_code,
                                        explicit_pads, subsample, dilation)
    if problem != SHAPES_FIT:
        check = params[_CHECK]
        with numba.objmode(message="unicode_type"):
            message = _describe_shape_problem(check, problem, axis, input_shape, filter_shape,
                                              output_shape, border_code, explicit_pads, subsample,
                                              dilation)
        raise ValueError(message)
    sizes = np.empty(_N_SIZES, np.int64)
    for axis in range(4):
        sizes[_INPUT + axis] = input_shape[axis]
        sizes[_FILTER + axis] = filter_shape[axis]
    for axis in range(2):
        pad = _pad_size(border_code, explicit_pads[axis], filter_shape[2 + axis], dilation[axis])
        sizes[_PAD_HW + axis] = pad
        sizes[_OUT_HW + axis] = _output_size(input_shape[2 + axis], filter_shape[2 + axis],
                                             subsample[axis], pad, dilation[axis])
    return sizes


def _parameters(op):
    """The Op's check kind, parameters and computation as one int64 array, laid
    out as ``_CHECK``, ``_BORDER_CODE``... say.  Compiled code reads them at run
    time, so one compilation serves every configuration."""
    border_code, pad_rows, pad_cols = op.border_code
    kind = {Conv2d: _FORWARD, Conv2dGradWeights: _GRAD_WEIGHTS, Conv2dGradInputs: _GRAD_INPUTS}[type(op)]
    return np.array([op.check_kind, border_code, pad_rows, pad_cols, *op.subsample, *op.filter_dilation,
                     op.filter_flip, kind], dtype=np.int64)


def _cache_key(op, node):
    """PyTensor's cache key: the Op's, plus the dtype, on which the kernel depends."""
    return default_hash_key_from_props(op, dtype=node.outputs[0].dtype, cache_version=_CACHE_VERSION)


@register_funcify_and_cache_key(Conv2d)
def numba_funcify_Conv2d(op, node, **kwargs):
    params = _parameters(op)
    kernel = _kernel(node.outputs[0].dtype)

    @numba_njit
    def conv2d(images, filters):
        images, filters = np.ascontiguousarray(images), np.ascontiguousarray(filters)
        sizes = _sizes(params, images.shape, filters.shape, _UNKNOWN_SHAPE)
        output = np.empty((sizes[_INPUT], sizes[_FILTER], sizes[_OUT_HW], sizes[_OUT_HW + 1]),
                          images.dtype)
        kernel(images.ctypes, filters.ctypes, output.ctypes, sizes.ctypes, params.ctypes)
        return output

    return conv2d, _cache_key(op, node)


@register_funcify_and_cache_key(Conv2dGradWeights)
def numba_funcify_Conv2dGradWeights(op, node, **kwargs):
    params = _parameters(op)
    kernel = _kernel(node.outputs[0].dtype)

    @numba_njit
    def conv2d_grad_wrt_weights(images, output_grad, filter_hw):
        if min(filter_hw[0], filter_hw[1]) <= 0:
            raise ValueError("conv2d_grad_wrt_weights: filter_shape must give positive sizes")
        images, output_grad = np.ascontiguousarray(images), np.ascontiguousarray(output_grad)
        filter_shape = (output_grad.shape[1], images.shape[1], filter_hw[0], filter_hw[1])
        sizes = _sizes(params, images.shape, filter_shape, output_grad.shape)
        filter_grad = np.empty(filter_shape, images.dtype)
        kernel(images.ctypes, output_grad.ctypes, filter_grad.ctypes, sizes.ctypes, params.ctypes)
        return filter_grad

    return conv2d_grad_wrt_weights, _cache_key(op, node)


@register_funcify_and_cache_key(Conv2dGradInputs)
def numba_funcify_Conv2dGradInputs(op, node, **kwargs):
    params = _parameters(op)
    kernel = _kernel(node.outputs[0].dtype)

    @numba_njit
    def conv2d_grad_wrt_inputs(filters, output_grad, input_hw):
        if min(input_hw[0], input_hw[1]) <= 0:
            raise ValueError("conv2d_grad_wrt_inputs: input_shape must give positive sizes")
        filters, output_grad = np.ascontiguousarray(filters), np.ascontiguousarray(output_grad)
        input_shape = (output_grad.shape[0], filters.shape[1], input_hw[0], input_hw[1])
        sizes = _sizes(params, input_shape, filters.shape, output_grad.shape)
        input_grad = np.empty(input_shape, filters.dtype)
        kernel(filters.ctypes, output_grad.ctypes, input_grad.ctypes, sizes.ctypes, params.ctypes)
        return input_grad

    return conv2d_grad_wrt_inputs, _cache_key(op, node)


# convnet's CPU linker runs these nodes through the per-node functions above.
for _op_type in (Conv2d, Conv2dGradInputs, Conv2dGradWeights):
    cpu_thunk.register(_op_type)(compiled_node)
