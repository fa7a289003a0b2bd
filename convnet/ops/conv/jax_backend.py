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
@jax_funcify.register(ConvGradWeights)
def jax_funcify_conv_gradient(op, node, **kwargs):
    convolve = _convolution(op.geometry)
    wrt_inputs = isinstance(op, ConvGradInputs)

    def conv_gradient(operand, output_grad, spatial_sizes):
        """The transpose of the convolution as a linear function of the input
        (``operand`` is then the filters) or of the filters (``operand`` the input)."""
        if wrt_inputs:
            shape, linear = (output_grad.shape[0], operand.shape[1]), lambda images: convolve(images, operand)
        else:
            shape, linear = (output_grad.shape[1], operand.shape[1]), lambda filters: convolve(operand, filters)
        shape += _static_sizes(node, spatial_sizes)
        return jax.linear_transpose(linear, jax.ShapeDtypeStruct(shape, output_grad.dtype))(output_grad)[0]

    return conv_gradient
