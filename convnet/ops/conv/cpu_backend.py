"""The convolution Ops in convnet's CPU linker.

A 2-D node runs the C kernel of :mod:`~convnet.ops.conv.cpu_kernel` from
Python (nothing to compile, nor any Numba to load); other nodes run their
per-node Numba function (:func:`~convnet.linker.compiled_node`, from
:mod:`~convnet.ops.conv.numba_backend`).  Registered with
:func:`~convnet.linker.cpu_thunk` by :mod:`~convnet.ops.conv.ops`.
"""
import numpy as np

from ...linker import compiled_node
from . import cpu_kernel
from .ops import Conv, ConvGradInputs, ConvGradWeights

__all__ = ["cpu_node_thunk", "geometry_fields"]

# Which computation of the 2-D kernel each Op is.
_KINDS = {Conv: cpu_kernel.FORWARD, ConvGradWeights: cpu_kernel.GRAD_WEIGHTS,
          ConvGradInputs: cpu_kernel.GRAD_INPUTS}


def geometry_fields(op):
    """The geometry's fields that :func:`.cpu_kernel.problem` takes, and the Op's computation."""
    g = op.geometry
    return g.border_code, g.explicit_pads, g.subsample, g.filter_dilation, int(g.filter_flip), _KINDS[type(op)]




def cpu_node_thunk(op, node):
    """The thunk of a 2-D node in convnet's CPU linker: the Op's checks, then
    the C kernel, called from Python (nothing to compile); other nodes run
    their per-node Numba function (:func:`~convnet.linker.compiled_node`)."""
    if op.geometry.ndim != 2:
        return compiled_node(op, node)
    fields, dtype, g = geometry_fields(op), node.outputs[0].dtype, op.geometry

    def contiguous(array):
        return np.ascontiguousarray(array, dtype)

    if isinstance(op, Conv):
        def conv2d(images, filters):
            op.check_shapes(images.shape, filters.shape)
            output = np.empty(images.shape[:1] + filters.shape[:1]
                              + g.output_sizes(images.shape[2:], filters.shape[2:]), dtype)
            cpu_kernel.run(contiguous(images), contiguous(filters), output,
                           cpu_kernel.problem(images.shape, filters.shape, *fields))
            return (output,)

        return conv2d

    if isinstance(op, ConvGradWeights):
        def conv2d_grad_wrt_weights(images, output_grad, filter_hw):
            op.check_positive(filter_hw, op.operand_names[1])
            filter_shape = op.leading_sizes(images.shape, output_grad.shape) + tuple(int(s) for s in filter_hw)
            op.check_shapes(images.shape, filter_shape, output_grad.shape)
            filter_grad = np.empty(filter_shape, dtype)
            cpu_kernel.run(contiguous(images), contiguous(output_grad), filter_grad,
                           cpu_kernel.problem(images.shape, filter_shape, *fields))
            return (filter_grad,)

        return conv2d_grad_wrt_weights

    def conv2d_grad_wrt_inputs(filters, output_grad, input_hw):
        op.check_positive(input_hw, op.operand_names[0])
        input_shape = op.leading_sizes(filters.shape, output_grad.shape) + tuple(int(s) for s in input_hw)
        op.check_shapes(input_shape, filters.shape, output_grad.shape)
        input_grad = np.empty(input_shape, dtype)
        cpu_kernel.run(contiguous(filters), contiguous(output_grad), input_grad,
                       cpu_kernel.problem(input_shape, filters.shape, *fields))
        return (input_grad,)

    return conv2d_grad_wrt_inputs
