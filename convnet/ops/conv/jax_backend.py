"""JAX implementation of the convolution Ops, for ``pytensor.function(..., mode="JAX")``.

The forward Op is ``jax.lax.conv_general_dilated`` with as many spatial
dimensions as the Op's geometry; the two gradient Ops are its exact
transposes, taken with ``jax.linear_transpose`` (XLA turns them into the
usual transposed convolutions).  JAX needs the sizes of these outputs when
tracing: they come from the Op's static output type, or from the spatial
sizes input when that is a constant or a vector of shapes and scalars (as
:func:`pytensor.grad` builds it), which the JAX-only rewrite
:func:`convnet.ops.conv.ops.spatial_sizes_as_jax_tuple` turns into a tuple
that JAX does not trace.

Imported when PyTensor loads its JAX backend.
"""
import jax
from pytensor.link.jax.dispatch import jax_funcify

from .ops import Conv, ConvGradInputs, ConvGradWeights

# lax's names of the layouts, by number of spatial dimensions.
_LAYOUTS = {1: ("NCH", "OIH", "NCH"), 2: ("NCHW", "OIHW", "NCHW"), 3: ("NCDHW", "OIDHW", "NCDHW")}


def _convolution(geometry):
    """``f(images, filters)`` computing the convolution of ``geometry`` with JAX."""

    def convolve(images, filters):
        return jax.lax.conv_general_dilated(
            images,
            geometry.oriented(filters),
            window_strides=geometry.subsample,
            padding=[(pad, pad) for pad in geometry.padding(filters.shape[2:])],
            rhs_dilation=geometry.filter_dilation,
            dimension_numbers=_LAYOUTS[geometry.ndim],
        )

    return convolve


def _static_sizes(node, spatial_sizes):
    """The spatial sizes of the Op's output, as ints JAX can trace with."""
    static = node.outputs[0].type.shape[2:]
    if None not in static:
        return static
    try:
        return tuple(int(size) for size in spatial_sizes)
    except jax.errors.ConcretizationTypeError as error:
        raise NotImplementedError(
            f"{node.op.function_name} needs spatial sizes known when JAX traces the graph: give a "
            "constant shape, or one computed from the shape of a tensor"
        ) from error


@jax_funcify.register(Conv)
def jax_funcify_Conv(op, **kwargs):
    return _convolution(op.geometry)


@jax_funcify.register(ConvGradInputs)
def jax_funcify_ConvGradInputs(op, node, **kwargs):
    convolve = _convolution(op.geometry)

    def conv_grad_wrt_inputs(filters, output_grad, input_sizes):
        input_shape = (output_grad.shape[0], filters.shape[1]) + _static_sizes(node, input_sizes)
        transpose = jax.linear_transpose(lambda images: convolve(images, filters),
                                         jax.ShapeDtypeStruct(input_shape, output_grad.dtype))
        return transpose(output_grad)[0]

    return conv_grad_wrt_inputs


@jax_funcify.register(ConvGradWeights)
def jax_funcify_ConvGradWeights(op, node, **kwargs):
    convolve = _convolution(op.geometry)

    def conv_grad_wrt_weights(images, output_grad, filter_sizes):
        filter_shape = (output_grad.shape[1], images.shape[1]) + _static_sizes(node, filter_sizes)
        transpose = jax.linear_transpose(lambda filters: convolve(images, filters),
                                         jax.ShapeDtypeStruct(filter_shape, images.dtype))
        return transpose(output_grad)[0]

    return conv_grad_wrt_weights
