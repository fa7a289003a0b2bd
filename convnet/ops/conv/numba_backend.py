"""Numba implementation of the convolution Ops, for PyTensor's Numba linker
and convnet's CPU linker.

Every per-node function first checks the shapes with the rules of the Op's
:class:`~convnet.ops.conv.geometry.ConvGeometry` (compiled from the same
functions; the message comes from the geometry itself, in object mode, only
when the shapes are wrong).  Then:

* in 2-D, the C kernel of :mod:`.cpu_kernel`, compiled when convnet is
  installed, which the per-node function calls at its address as an
  external function (the way Numba itself calls BLAS).  convnet's CPU linker
  does not compile even that much: it runs 2-D nodes through
  :func:`~convnet.ops.conv.cpu_backend.cpu_node_thunk`, which calls the
  kernel from Python;
* in 3-D (and in 1-D, lifted to 3-D with unit axes in front) a plain Numba
  kernel: vol2col of each volume into a buffer and one BLAS product (see
  "Volumes" below).
"""
import llvmlite.binding
import numba
import numpy as np
from numba import types
from numba.extending import register_jitable
from pytensor.link.numba.dispatch.basic import (
    numba_njit,
    register_funcify_and_cache_key,
)

from ..kernel_cache import kernel_cache_key
from . import cpu_kernel, geometry
from .cpu_backend import geometry_fields
from .geometry import SHAPES_FIT, find_shape_problem, output_size, pad_size
from .ops import Conv, ConvGradInputs, ConvGradWeights, nonpositive_sizes_message

# The shape arithmetic and checks of the geometry, compiled where Numba code calls them.
for _function in (geometry.dilated_size, geometry.pad_size, geometry.output_size,
                  geometry.known_and_different, geometry.find_shape_problem):
    register_jitable(_function)

# The source files the compiled code comes from: their digest is part of
# PyTensor's cache key of the per-node functions.
_SOURCES = ("conv/geometry.py", "conv/ops.py", "conv/numba_backend.py", "conv/cpu_backend.py",
            "conv/cpu_kernel.py", "conv/_kernel.c", "conv/conv2d.h")
# The problem array of the 2-D kernel, compiled.
_problem = numba_njit(cpu_kernel.problem)


def _kernel_function(dtype):
    """The 2-D kernel for ``dtype`` as a Numba external function
    ``int32(a, b, out, problem)``, its symbol defined for LLVM, which needs it
    before it compiles or loads code that calls it."""
    name = f"convnet_conv2d_{dtype}"
    llvmlite.binding.add_symbol(name, cpu_kernel.address(dtype))
    return types.ExternalFunction(name, types.intc(*[types.voidptr] * 4))


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
    """The per-node function of a 2-D Op: checks, then the C kernel."""
    kernel, check = _kernel_function(node.outputs[0].dtype), _shape_checker(op)
    code, pads, subsample, dilation, flip, kind = geometry_fields(op)
    unknown = (-1, -1, -1, -1)
    function_name = op.function_name

    @numba_njit
    def call(a, b, out, input_shape, filter_shape):
        spec = _problem(input_shape, filter_shape, code, pads, subsample, dilation, flip, kind)
        if kernel(a.ctypes, b.ctypes, out.ctypes, spec.ctypes) != 0:
            raise MemoryError(function_name)

    if isinstance(op, Conv):
        @numba_njit
        def conv2d(images, filters):
            images, filters = np.ascontiguousarray(images), np.ascontiguousarray(filters)
            check(images.shape, filters.shape, unknown)
            output = np.empty((images.shape[0], filters.shape[0],
                               output_size(images.shape[2], filters.shape[2], subsample[0],
                                           pad_size(code, pads[0], filters.shape[2], dilation[0]), dilation[0]),
                               output_size(images.shape[3], filters.shape[3], subsample[1],
                                           pad_size(code, pads[1], filters.shape[3], dilation[1]), dilation[1])),
                              images.dtype)
            call(images, filters, output, images.shape, filters.shape)
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
            filter_grad = np.empty(filter_shape, images.dtype)
            call(images, output_grad, filter_grad, images.shape, filter_shape)
            return filter_grad

        return conv2d_grad_wrt_weights

    @numba_njit
    def conv2d_grad_wrt_inputs(filters, output_grad, input_hw):
        positive(input_hw)
        filters, output_grad = np.ascontiguousarray(filters), np.ascontiguousarray(output_grad)
        input_shape = (output_grad.shape[0], filters.shape[1], input_hw[0], input_hw[1])
        check(input_shape, filters.shape, output_grad.shape)
        input_grad = np.empty(input_shape, filters.dtype)
        call(filters, output_grad, input_grad, input_shape, filters.shape)
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
