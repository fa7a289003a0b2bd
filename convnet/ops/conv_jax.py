"""JAX implementation of the convolution Ops, for ``pytensor.function(..., mode="JAX")``.

The forward Op is ``jax.lax.conv_general_dilated``; the two gradient Ops are
its exact transposes, taken with ``jax.linear_transpose`` (XLA turns them into
the usual transposed convolutions).  JAX needs the sizes of these outputs when
tracing: they come from the Op's static output type, or from the
``input_hw`` / ``filter_hw`` input when that is a constant or a vector of
shapes and scalars (as :func:`pytensor.grad` builds it), which the JAX-only
rewrite :func:`convnet.ops.conv.spatial_sizes_as_jax_tuple` turns into a tuple
that JAX does not trace.

Imported when PyTensor loads its JAX backend.
"""
import jax
from pytensor.link.jax.dispatch import jax_funcify

from .conv import Conv2d, Conv2dGradInputs, Conv2dGradWeights


def _convolution(op):
    """``f(images, filters)`` computing ``op``'s forward convolution with JAX."""

    def convolve(images, filters):
        pads = op.padding(filters.shape[2:])
        return jax.lax.conv_general_dilated(
            images,
            op.oriented(filters),
            window_strides=op.subsample,
            padding=[(pads[0], pads[0]), (pads[1], pads[1])],
            rhs_dilation=op.filter_dilation,
            dimension_numbers=("NCHW", "OIHW", "NCHW"),
        )

    return convolve


def _static_hw(node, spatial_sizes):
    """The two spatial sizes of the Op's output, as ints JAX can trace with."""
    static = node.outputs[0].type.shape[2:]
    if None not in static:
        return static
    try:
        return tuple(int(size) for size in spatial_sizes)
    except jax.errors.ConcretizationTypeError as error:
        raise NotImplementedError(
            f"{node.op} needs spatial sizes known when JAX traces the graph: give a constant "
            "shape, or one computed from the shape of a tensor"
        ) from error


@jax_funcify.register(Conv2d)
def jax_funcify_Conv2d(op, **kwargs):
    return _convolution(op)


@jax_funcify.register(Conv2dGradInputs)
def jax_funcify_Conv2dGradInputs(op, node, **kwargs):
    convolve = _convolution(op)

    def conv2d_grad_wrt_inputs(filters, output_grad, input_hw):
        input_shape = (output_grad.shape[0], filters.shape[1]) + _static_hw(node, input_hw)
        transpose = jax.linear_transpose(lambda images: convolve(images, filters),
                                         jax.ShapeDtypeStruct(input_shape, output_grad.dtype))
        return transpose(output_grad)[0]

    return conv2d_grad_wrt_inputs


@jax_funcify.register(Conv2dGradWeights)
def jax_funcify_Conv2dGradWeights(op, node, **kwargs):
    convolve = _convolution(op)

    def conv2d_grad_wrt_weights(images, output_grad, filter_hw):
        filter_shape = (output_grad.shape[1], images.shape[1]) + _static_hw(node, filter_hw)
        transpose = jax.linear_transpose(lambda filters: convolve(images, filters),
                                         jax.ShapeDtypeStruct(filter_shape, images.dtype))
        return transpose(output_grad)[0]

    return conv2d_grad_wrt_weights

