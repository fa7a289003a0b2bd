"""Convolution of batches of images or volumes, and its two gradients: the Ops and
their NumPy reference implementation.

Three Ops share one :class:`~convnet.ops.conv.geometry.ConvGeometry` (1, 2 or
3 spatial dimensions, padding, strides, dilation, flip) and are each other's
gradients, so ``pytensor.grad`` works through them to any order:

* :class:`Conv` -- the convolution (:func:`conv2d`, :func:`conv3d`);
* :class:`ConvGradInputs` -- its gradient with respect to the input, which
  is also the transposed convolution (:func:`conv2d_grad_wrt_inputs`,
  :func:`conv3d_grad_wrt_inputs`);
* :class:`ConvGradWeights` -- its gradient with respect to the filters
  (:func:`conv2d_grad_wrt_weights`, :func:`conv3d_grad_wrt_weights`).

Inputs are laid out channels-first, NCHW in 2-D and NCDHW in 3-D, filters
OIHW / OIDHW, as in Theano.  ``perform`` here is the NumPy reference (im2col
as a strided view, then one tensor product);
:mod:`convnet.ops.conv.numba_backend` is the fast path of PyTensor's Numba
linker and of convnet's CPU linker, and :mod:`convnet.ops.conv.jax_backend`
lowers the Ops to ``jax.lax.conv_general_dilated``.  The backends register
themselves when PyTensor loads them (see :mod:`convnet.backends`).
"""
import itertools

import numpy as np
import pytensor.tensor as pt
from numpy.lib.stride_tricks import as_strided
from pytensor.compile import optdb
from pytensor.gradient import disconnected_type
from pytensor.graph.basic import Apply, Constant, Variable
from pytensor.graph.op import Op
from pytensor.graph.rewriting.basic import in2out, node_rewriter
from pytensor.scalar import upcast
from pytensor.tensor.basic import MakeVector
from pytensor.tensor.exceptions import NotScalarConstantError
from pytensor.tensor.type import integer_dtypes

from ...backends import JAX_DISPATCH, NUMBA_DISPATCH, import_when_imported
from ...linker import cpu_thunk
from ..compat import infer_shape_method
from .geometry import _INT_TYPES, ConvGeometry

__all__ = [
    "conv2d",
    "conv2d_grad_wrt_inputs",
    "conv2d_grad_wrt_weights",
    "conv3d",
    "conv3d_grad_wrt_inputs",
    "conv3d_grad_wrt_weights",
    "Conv",
    "ConvGradInputs",
    "ConvGradWeights",
]


# --- NumPy reference implementation -----------------------------------------------


def _pad_images(images, pads):
    """Zero-pad the spatial axes of ``images`` by ``pads`` on each side."""
    return np.pad(images, ((0, 0), (0, 0)) + tuple((p, p) for p in pads))


def _patches(geometry, padded_images, filter_sizes, output_sizes, writeable=False):
    """im2col as a strided view of shape (batch, channels, *filter_sizes, *output_sizes).

    ``view[b, c, *tap, *position]`` is the pixel that filter tap ``tap``
    sees when the filter sits at output position ``position``.  With
    ``writeable=True`` the view can scatter values back (col2im); taps
    overlap, so add one tap at a time.
    """
    batch_stride, channel_stride, *axis_strides = padded_images.strides
    return as_strided(
        padded_images,
        shape=padded_images.shape[:2] + tuple(filter_sizes) + tuple(output_sizes),
        strides=((batch_stride, channel_stride)
                 + tuple(s * d for s, d in zip(axis_strides, geometry.filter_dilation))
                 + tuple(s * st for s, st in zip(axis_strides, geometry.subsample))),
        writeable=writeable,
    )


# --- Graph helpers -------------------------------------------------------------------


def _spatial_shape_vector(shape, name, ndim):
    """An int64 vector of ``ndim`` spatial sizes from ints / symbolic scalars or a vector."""
    if isinstance(shape, Variable):
        vector = pt.as_tensor_variable(shape)
        if (vector.ndim != 1 or vector.dtype not in integer_dtypes
                or vector.type.shape[0] not in (None, ndim)):
            raise ValueError(f"{name} must hold {ndim} spatial sizes, got a {vector.type}")
    else:
        shape = tuple(shape)
        if len(shape) != ndim or any(s is None or (isinstance(s, _INT_TYPES) and s <= 0) for s in shape):
            raise ValueError(f"{name} must give {ndim} positive spatial sizes, got {shape!r}")
        vector = pt.as_tensor_variable(list(shape), ndim=1)
    vector = pt.cast(vector, "int64")
    return vector if vector.type.shape == (ndim,) else pt.specify_shape(vector, (ndim,))


def nonpositive_sizes_message(function_name, name, spatial_sizes):
    """The error for a gradient Op's spatial sizes input ``name`` holding a size
    that is not positive, or None if all are (perform and Numba share it)."""
    if min(spatial_sizes) > 0:
        return None
    return (f"{function_name}: {name} must give positive spatial sizes, got "
            f"{tuple(int(s) for s in spatial_sizes)}")


def _constant_spatial_shape(shape_variable, ndim):
    """The spatial sizes of a constant shape vector, else Nones."""
    if isinstance(shape_variable, Constant):
        return tuple(int(s) for s in shape_variable.data)
    try:
        return tuple(int(pt.get_underlying_scalar_constant_value(shape_variable[axis]))
                     for axis in range(ndim))
    except NotScalarConstantError:
        return (None,) * ndim


def _known_spatial(tensor):
    """The spatial sizes of a tensor: static ints where known, else symbolic."""
    return [size if size is not None else tensor.shape[2 + axis]
            for axis, size in enumerate(tensor.type.shape[2:])]


# --- Ops ----------------------------------------------------------------------


class ConvBase(Op):
    """What the three convolution Ops share: their geometry.

    Parameters
    ----------
    geometry : ConvGeometry
        Number of spatial dimensions, padding, strides, flip and dilation.
    """

    __props__ = ("geometry",)
    # The public function of the Op (with "{n}" for the number of spatial
    # dimensions) and the names of its image and filter arguments, for messages.
    function_template = "conv{n}d"
    operand_names = ("input", "filters")

    def __init__(self, geometry):
        if not isinstance(geometry, ConvGeometry):
            raise TypeError(f"{type(self).__name__} takes a ConvGeometry, got {geometry!r}")
        self.geometry = geometry

    @property
    def function_name(self):
        """The public function this Op implements, e.g. ``'conv3d_grad_wrt_inputs'``."""
        return self.function_template.format(n=self.geometry.ndim)

    def check_shapes(self, input_shape, filter_shape, output_shape=None):
        """Raise a ValueError naming this Op's function and arguments if the
        shapes do not fit; None stands for unknown sizes."""
        input_name, filters_name = self.operand_names
        self.geometry.check_shapes(input_shape, filter_shape, output_shape, where=self.function_name,
                                   input_name=input_name, filters_name=filters_name)

    def _as_float_tensors(self, **named):
        """Named inputs as tensors of their common float dtype, with ndim checked."""
        ndim = self.geometry.ndim + 2
        tensors = {}
        for name, value in named.items():
            tensor = pt.as_tensor_variable(value)
            if tensor.ndim != ndim:
                raise ValueError(f"{self.function_name}: {name} must be a {ndim}-D tensor, got "
                                 f"{tensor.ndim} dimensions (shape {tensor.type.shape})")
            tensors[name] = tensor
        dtype = upcast(*(t.dtype for t in tensors.values()))
        if dtype not in ("float32", "float64"):
            raise TypeError(f"{self.function_name}: convolution needs float32 or float64 tensors, got {dtype}")
        return [pt.cast(t, dtype) for t in tensors.values()]

    def check_positive(self, spatial_sizes, name):
        """Raise a ValueError unless the run-time spatial sizes input ``name`` is all positive."""
        message = nonpositive_sizes_message(self.function_name, name, spatial_sizes)
        if message is not None:
            raise ValueError(message)

    def _spatial_input(self, sizes, name):
        """The spatial sizes input of a gradient Op, and its static sizes."""
        vector = _spatial_shape_vector(sizes, name, self.geometry.ndim)
        return vector, _constant_spatial_shape(vector, self.geometry.ndim)


class Conv(ConvBase):
    """Convolution of an ``input`` (batch, channels, spatial...) with ``filters``
    (out channels, in channels, spatial...); see :func:`conv2d` / :func:`conv3d`."""

    def make_node(self, input, filters):
        input, filters = self._as_float_tensors(input=input, filters=filters)
        self.check_shapes(input.type.shape, filters.type.shape)
        output_sizes = self.geometry.output_sizes(input.type.shape[2:], filters.type.shape[2:])
        output = pt.tensor(dtype=input.dtype,
                           shape=(input.type.shape[0], filters.type.shape[0]) + output_sizes)
        return Apply(self, [input, filters], [output])

    def perform(self, node, inputs, outputs):
        images, filters = inputs
        self.check_shapes(images.shape, filters.shape)
        geometry, n = self.geometry, self.geometry.ndim
        filter_sizes = filters.shape[2:]
        patches = _patches(geometry, _pad_images(images, geometry.padding(filter_sizes)), filter_sizes,
                           geometry.output_sizes(images.shape[2:], filter_sizes))
        taps = list(range(1, n + 2))
        result = np.tensordot(patches, geometry.oriented(filters), axes=(taps, taps))
        result = np.moveaxis(result, -1, 1)  # (batch, *output_sizes, out) -> (batch, out, *output_sizes)
        outputs[0][0] = np.ascontiguousarray(result, dtype=node.outputs[0].dtype)

    @infer_shape_method
    def infer_shape(self, node, shapes):
        input_shape, filter_shape = shapes
        return [(input_shape[0], filter_shape[0])
                + self.geometry.output_sizes(input_shape[2:], filter_shape[2:])]

    def pullback(self, inputs, outputs, cotangents):
        images, filters = inputs
        (output_grad,) = cotangents
        return [
            ConvGradInputs(self.geometry)(filters, output_grad, _known_spatial(images)),
            ConvGradWeights(self.geometry)(images, output_grad, _known_spatial(filters)),
        ]


class ConvGradientBase(ConvBase):
    """What the two gradient Ops share: inputs ``(operand, output_grad,
    spatial sizes)``, the sizes giving the output's spatial shape; the output's
    batch or channel sizes come from the other two (:meth:`leading_sizes`)."""

    def leading_sizes(self, operand_shape, output_grad_shape):
        """The output's first two sizes, from the shapes of the first two inputs."""
        raise NotImplementedError

    @infer_shape_method
    def infer_shape(self, node, shapes):
        operand_shape, output_grad_shape, _ = shapes
        spatial_sizes = node.inputs[2]
        return [self.leading_sizes(operand_shape, output_grad_shape)
                + tuple(spatial_sizes[axis] for axis in range(self.geometry.ndim))]

    def connection_pattern(self, node):
        return [[True], [True], [False]]


class ConvGradInputs(ConvGradientBase):
    """Gradient of :class:`Conv` with respect to its input (transposed convolution).

    Inputs are ``(filters, output_grad, input_sizes)`` where ``input_sizes``
    is an int vector of the input's spatial sizes (they cannot be deduced
    from ``output_grad`` when strides are larger than 1); see
    :func:`conv2d_grad_wrt_inputs`.
    """

    function_template = "conv{n}d_grad_wrt_inputs"
    operand_names = ("input_shape", "filters")

    def make_node(self, filters, output_grad, input_sizes):
        filters, output_grad = self._as_float_tensors(filters=filters, output_grad=output_grad)
        input_sizes, static_sizes = self._spatial_input(input_sizes, "input_shape")
        input_shape = self.leading_sizes(filters.type.shape, output_grad.type.shape) + static_sizes
        self.check_shapes(input_shape, filters.type.shape, output_grad.type.shape)
        output = pt.tensor(dtype=filters.dtype, shape=input_shape)
        return Apply(self, [filters, output_grad, input_sizes], [output])

    def perform(self, node, inputs, outputs):
        filters, output_grad, input_sizes = inputs
        self.check_positive(input_sizes, "input_shape")
        input_shape = self.leading_sizes(filters.shape, output_grad.shape) + tuple(input_sizes)
        self.check_shapes(input_shape, filters.shape, output_grad.shape)
        geometry, n = self.geometry, self.geometry.ndim
        filter_sizes = filters.shape[2:]
        pads = geometry.padding(filter_sizes)
        # (channels, *taps, batch, *output positions)
        columns = np.tensordot(geometry.oriented(filters), output_grad, axes=([0], [1]))
        padded = np.zeros(input_shape[:2] + tuple(s + 2 * p for s, p in zip(input_sizes, pads)),
                          dtype=node.outputs[0].dtype)
        patches = _patches(geometry, padded, filter_sizes, output_grad.shape[2:], writeable=True)
        for tap in itertools.product(*(range(size) for size in filter_sizes)):
            patches[(slice(None), slice(None)) + tap] += columns[(slice(None),) + tap].swapaxes(0, 1)
        inside = tuple(slice(p, p + s) for p, s in zip(pads, input_sizes))
        outputs[0][0] = np.ascontiguousarray(padded[(slice(None), slice(None)) + inside])

    def leading_sizes(self, filter_shape, output_grad_shape):
        return (output_grad_shape[0], filter_shape[1])

    def pullback(self, inputs, outputs, cotangents):
        filters, output_grad, _ = inputs
        (input_grad_cotangent,) = cotangents
        return [
            ConvGradWeights(self.geometry)(input_grad_cotangent, output_grad, _known_spatial(filters)),
            Conv(self.geometry)(input_grad_cotangent, filters),
            disconnected_type(),
        ]


class ConvGradWeights(ConvGradientBase):
    """Gradient of :class:`Conv` with respect to its filters.

    Inputs are ``(input, output_grad, filter_sizes)`` where ``filter_sizes``
    is an int vector of the filters' spatial sizes; see
    :func:`conv2d_grad_wrt_weights`.
    """

    function_template = "conv{n}d_grad_wrt_weights"
    operand_names = ("input", "filter_shape")

    def make_node(self, input, output_grad, filter_sizes):
        input, output_grad = self._as_float_tensors(input=input, output_grad=output_grad)
        filter_sizes, static_sizes = self._spatial_input(filter_sizes, "filter_shape")
        filter_shape = self.leading_sizes(input.type.shape, output_grad.type.shape) + static_sizes
        self.check_shapes(input.type.shape, filter_shape, output_grad.type.shape)
        output = pt.tensor(dtype=input.dtype, shape=filter_shape)
        return Apply(self, [input, output_grad, filter_sizes], [output])

    def perform(self, node, inputs, outputs):
        images, output_grad, filter_sizes = inputs
        self.check_positive(filter_sizes, "filter_shape")
        filter_sizes = tuple(int(s) for s in filter_sizes)
        self.check_shapes(images.shape, self.leading_sizes(images.shape, output_grad.shape) + filter_sizes,
                          output_grad.shape)
        geometry, n = self.geometry, self.geometry.ndim
        patches = _patches(geometry, _pad_images(images, geometry.padding(filter_sizes)), filter_sizes,
                           output_grad.shape[2:])
        positions = list(range(2, n + 2))
        result = np.tensordot(output_grad, patches, axes=([0] + positions, [0] + [p + n for p in positions]))
        outputs[0][0] = np.ascontiguousarray(geometry.oriented(result), dtype=node.outputs[0].dtype)

    def leading_sizes(self, input_shape, output_grad_shape):
        return (output_grad_shape[1], input_shape[1])

    def pullback(self, inputs, outputs, cotangents):
        images, output_grad, _ = inputs
        (filter_grad_cotangent,) = cotangents
        return [
            ConvGradInputs(self.geometry)(filter_grad_cotangent, output_grad, _known_spatial(images)),
            Conv(self.geometry)(images, filter_grad_cotangent),
            disconnected_type(),
        ]


# --- Public functions -------------------------------------------------------------


def _with_shape_hint(tensor, hint, name, hint_name, ndim):
    """``tensor`` with the int sizes of ``hint`` (``ndim`` sizes, None = unknown) made static.

    Raises a ValueError if the hint contradicts the static shape of ``tensor``.
    """
    tensor = pt.as_tensor_variable(tensor)
    if hint is None:
        return tensor
    hint = tuple(hint)
    if len(hint) != ndim or tensor.ndim != ndim:
        raise ValueError(f"{hint_name} must give the {ndim} sizes of the {ndim}-D {name}, got {hint!r} "
                         f"for a {tensor.ndim}-D {name}")
    merged = []
    for static, hinted in zip(tensor.type.shape, hint):
        hinted = int(hinted) if isinstance(hinted, _INT_TYPES) else None
        if static is not None and hinted is not None and static != hinted:
            raise ValueError(f"{hint_name} {hint!r} does not match the shape "
                             f"{tensor.type.shape} of {name}")
        merged.append(static if hinted is None else hinted)
    if tuple(merged) == tensor.type.shape:
        return tensor
    return pt.specify_shape(tensor, merged)


def _full_shape(shape, name, ndim):
    """``shape`` as a tuple of ``ndim + 2`` sizes, or a ValueError naming ``name``."""
    shape = tuple(shape)
    if len(shape) != ndim + 2:
        raise ValueError(f"{name} must give {ndim + 2} sizes, got {shape!r}")
    return shape


def convolution(ndim, input, filters, input_shape=None, filter_shape=None, border_mode="valid",
                subsample=1, filter_flip=True, filter_dilation=1):
    """The convolution with ``ndim`` spatial dimensions; see :func:`conv2d`."""
    op = Conv(ConvGeometry.create(ndim, border_mode, subsample, filter_flip, filter_dilation))
    input = _with_shape_hint(input, input_shape, "input", "input_shape", ndim + 2)
    filters = _with_shape_hint(filters, filter_shape, "filters", "filter_shape", ndim + 2)
    return op(input, filters)


def convolution_grad_wrt_inputs(ndim, output_grad, filters, input_shape, filter_shape=None,
                                border_mode="valid", subsample=1, filter_flip=True, filter_dilation=1):
    """The input gradient of a convolution with ``ndim`` spatial dimensions;
    see :func:`conv2d_grad_wrt_inputs`."""
    op = ConvGradInputs(ConvGeometry.create(ndim, border_mode, subsample, filter_flip, filter_dilation))
    input_shape = _full_shape(input_shape, "input_shape", ndim)
    filters = _with_shape_hint(filters, filter_shape, "filters", "filter_shape", ndim + 2)
    input_grad = op(filters, output_grad, input_shape[2:])
    return _with_shape_hint(input_grad, input_shape, "input gradient", "input_shape", ndim + 2)


def convolution_grad_wrt_weights(ndim, input, output_grad, filter_shape, input_shape=None,
                                 border_mode="valid", subsample=1, filter_flip=True, filter_dilation=1):
    """The filter gradient of a convolution with ``ndim`` spatial dimensions;
    see :func:`conv2d_grad_wrt_weights`."""
    op = ConvGradWeights(ConvGeometry.create(ndim, border_mode, subsample, filter_flip, filter_dilation))
    filter_shape = _full_shape(filter_shape, "filter_shape", ndim)
    input = _with_shape_hint(input, input_shape, "input", "input_shape", ndim + 2)
    filter_grad = op(input, output_grad, filter_shape[2:])
    return _with_shape_hint(filter_grad, filter_shape, "filter gradient", "filter_shape", ndim + 2)


def conv2d(input, filters, input_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1), filter_flip=True, filter_dilation=(1, 1)):
    """2-D convolution of a batch of NCHW images with OIHW filters.

    Parameters
    ----------
    input : 4-D tensor
        Images, shape (batch, channels, rows, columns).
    filters : 4-D tensor
        Filters, shape (output channels, input channels, filter rows,
        filter columns).
    input_shape, filter_shape : tuple of 4 (int or None), optional
        Known sizes of ``input`` / ``filters``; they are checked against the
        variables' static shapes and made static (``specify_shape``).
    border_mode : {'valid', 'full', 'half'}, int or pair of int
        ``'valid'``: no padding; ``'full'``: pad by the dilated filter size
        minus 1; ``'half'``: pad by half the dilated filter size (same size
        output for odd filters and stride 1); an int or (rows, columns)
        pair: that many zeros on each side.
    subsample : pair of int
        Strides (rows, columns).
    filter_flip : bool
        True (default) for a real convolution, which flips the filters;
        False for a cross-correlation.
    filter_dilation : pair of int
        Spacing between filter taps (rows, columns).

    Returns
    -------
    4-D tensor
        Shape (batch, output channels, out rows, out columns) with
        ``out = conv_output_length(in, filter, stride, pad, dilation)``.

    Raises
    ------
    ValueError
        For a bad parameter, a tensor that is not 4-D, or (when the static
        shapes tell) channel counts that differ or filters larger than the
        padded input; with unknown shapes the same checks run at call time.

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt
    >>> x, w = pt.tensor4("x"), pt.tensor4("w")
    >>> y = conv2d(x, w, border_mode="half", subsample=(2, 2))
    >>> f = pytensor.function([x, w], y)
    >>> f(np.ones((1, 3, 8, 8), "float32"), np.ones((4, 3, 3, 3), "float32")).shape
    (1, 4, 4, 4)
    """
    return convolution(2, input, filters, input_shape, filter_shape, border_mode, subsample, filter_flip,
                       filter_dilation)


def conv2d_grad_wrt_inputs(output_grad, filters, input_shape, filter_shape=None,
                           border_mode="valid", subsample=(1, 1), filter_flip=True,
                           filter_dilation=(1, 1)):
    """Gradient of :func:`conv2d` with respect to its input: a transposed convolution.

    Maps an array shaped like the output of ``conv2d(input, filters, ...)``
    back to the shape of ``input``, as the transpose of that linear map.
    This is what a transposed-convolution ("deconvolution") layer computes.

    Parameters
    ----------
    output_grad : 4-D tensor
        Gradient of the convolution output, (batch, output channels, rows,
        columns).
    filters : 4-D tensor
        The convolution's OIHW filters.
    input_shape : tuple of 4
        Shape of the convolution input; the last two (ints or symbolic
        scalars) are required since with strides the output does not
        determine them, the first two may be None.
    filter_shape : tuple of 4 (int or None), optional
        Known sizes of ``filters``.
    border_mode, subsample, filter_flip, filter_dilation
        As for :func:`conv2d`, describing the forward convolution.

    Returns
    -------
    4-D tensor of shape ``input_shape``.

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt
    >>> g, w = pt.tensor4("g"), pt.tensor4("w")
    >>> x = conv2d_grad_wrt_inputs(g, w, (None, 3, 8, 8), subsample=(2, 2), border_mode=1)
    >>> f = pytensor.function([g, w], x)
    >>> f(np.ones((1, 4, 4, 4), "float32"), np.ones((4, 3, 3, 3), "float32")).shape
    (1, 3, 8, 8)
    """
    return convolution_grad_wrt_inputs(2, output_grad, filters, input_shape, filter_shape, border_mode,
                                       subsample, filter_flip, filter_dilation)


def conv2d_grad_wrt_weights(input, output_grad, filter_shape, input_shape=None,
                            border_mode="valid", subsample=(1, 1), filter_flip=True,
                            filter_dilation=(1, 1)):
    """Gradient of :func:`conv2d` with respect to its filters.

    Parameters
    ----------
    input : 4-D tensor
        The convolution's NCHW input.
    output_grad : 4-D tensor
        Gradient of the convolution output.
    filter_shape : tuple of 4
        Shape of the filters; the last two (ints or symbolic scalars) are
        required, the first two may be None.
    input_shape : tuple of 4 (int or None), optional
        Known sizes of ``input``.
    border_mode, subsample, filter_flip, filter_dilation
        As for :func:`conv2d`, describing the forward convolution.

    Returns
    -------
    4-D tensor of shape ``filter_shape``.

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt
    >>> x, g = pt.tensor4("x"), pt.tensor4("g")
    >>> gw = conv2d_grad_wrt_weights(x, g, (4, 3, 3, 3))
    >>> f = pytensor.function([x, g], gw)
    >>> f(np.ones((2, 3, 8, 8), "float32"), np.ones((2, 4, 6, 6), "float32")).shape
    (4, 3, 3, 3)
    """
    return convolution_grad_wrt_weights(2, input, output_grad, filter_shape, input_shape, border_mode,
                                        subsample, filter_flip, filter_dilation)


def conv3d(input, filters, input_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1, 1), filter_flip=True, filter_dilation=(1, 1, 1)):
    """3-D convolution of a batch of NCDHW volumes with OIDHW filters
    (Theano's ``theano.tensor.nnet.conv3d``).

    Parameters
    ----------
    input : 5-D tensor
        Volumes, shape (batch, channels, depth, rows, columns).
    filters : 5-D tensor
        Filters, shape (output channels, input channels, depth, rows, columns).
    input_shape, filter_shape : tuple of 5 (int or None), optional
        Known sizes of ``input`` / ``filters``, checked and made static.
    border_mode : {'valid', 'full', 'half'}, int or 3 ints
        As for :func:`conv2d`, along the three spatial axes.
    subsample, filter_dilation : int or 3 ints
        Strides and spacing between filter taps (depth, rows, columns).
    filter_flip : bool
        True (default) for a real convolution, False for a cross-correlation.

    Returns
    -------
    5-D tensor
        Shape (batch, output channels, out depth, out rows, out columns).

    Raises
    ------
    ValueError
        As for :func:`conv2d`.

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> x, w = pt.tensor5("x"), pt.tensor5("w")
    >>> y = conv3d(x, w, border_mode="half", subsample=(1, 2, 2))
    >>> y.eval({x: np.ones((1, 2, 4, 8, 8), "float32"), w: np.ones((3, 2, 3, 3, 3), "float32")}).shape
    (1, 3, 4, 4, 4)
    """
    return convolution(3, input, filters, input_shape, filter_shape, border_mode, subsample, filter_flip,
                       filter_dilation)


def conv3d_grad_wrt_inputs(output_grad, filters, input_shape, filter_shape=None,
                           border_mode="valid", subsample=(1, 1, 1), filter_flip=True,
                           filter_dilation=(1, 1, 1)):
    """Gradient of :func:`conv3d` with respect to its input: the 3-D transposed convolution.

    Parameters are those of :func:`conv2d_grad_wrt_inputs`, with 5-D tensors
    and shapes and three spatial axes.

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> g, w = pt.tensor5("g"), pt.tensor5("w")
    >>> x = conv3d_grad_wrt_inputs(g, w, (None, 2, 5, 8, 8), subsample=2, border_mode=1)
    >>> x.eval({g: np.ones((1, 3, 3, 4, 4), "float32"), w: np.ones((3, 2, 3, 3, 3), "float32")}).shape
    (1, 2, 5, 8, 8)
    """
    return convolution_grad_wrt_inputs(3, output_grad, filters, input_shape, filter_shape, border_mode,
                                       subsample, filter_flip, filter_dilation)


def conv3d_grad_wrt_weights(input, output_grad, filter_shape, input_shape=None,
                            border_mode="valid", subsample=(1, 1, 1), filter_flip=True,
                            filter_dilation=(1, 1, 1)):
    """Gradient of :func:`conv3d` with respect to its filters.

    Parameters are those of :func:`conv2d_grad_wrt_weights`, with 5-D tensors
    and shapes and three spatial axes.

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> x, g = pt.tensor5("x"), pt.tensor5("g")
    >>> gw = conv3d_grad_wrt_weights(x, g, (3, 2, 3, 3, 3))
    >>> gw.eval({x: np.ones((1, 2, 5, 5, 5), "float32"), g: np.ones((1, 3, 3, 3, 3), "float32")}).shape
    (3, 2, 3, 3, 3)
    """
    return convolution_grad_wrt_weights(3, input, output_grad, filter_shape, input_shape, border_mode,
                                        subsample, filter_flip, filter_dilation)


@node_rewriter([ConvGradInputs, ConvGradWeights])
def spatial_sizes_as_jax_tuple(fgraph, node):
    """For the JAX backend: give a gradient Op its ``MakeVector`` of spatial sizes
    as a tuple that JAX does not trace (PyTensor does the same for the ``size``
    of random variables), so that the sizes are known when JAX traces the Op.

    Registered here, not in :mod:`convnet.ops.conv.jax_backend`, because graph
    rewrites run before PyTensor loads its JAX backend.
    """
    from pytensor.link.jax.dispatch.shape import JAXShapeTuple  # JAX graphs only: JAX is there

    sizes = node.inputs[2]
    if sizes.owner is None or not isinstance(sizes.owner.op, MakeVector):
        return None
    tuple_of_sizes = JAXShapeTuple()(*sizes.owner.inputs)
    return node.clone_with_new_inputs(node.inputs[:2] + [tuple_of_sizes]).outputs


optdb.register("jax_conv_spatial_sizes_as_tuple", in2out(spatial_sizes_as_jax_tuple), "jax",
               position=100)


@cpu_thunk.register(Conv)
@cpu_thunk.register(ConvGradWeights)
@cpu_thunk.register(ConvGradInputs)
def _cpu_thunk(op, node):
    """convnet's CPU linker runs these nodes through :mod:`.cpu_backend`."""
    from .cpu_backend import cpu_node_thunk

    return cpu_node_thunk(op, node)


# The backend implementations register themselves when PyTensor loads each backend.
import_when_imported(NUMBA_DISPATCH, "convnet.ops.conv.numba_backend")
import_when_imported(JAX_DISPATCH, "convnet.ops.conv.jax_backend")
