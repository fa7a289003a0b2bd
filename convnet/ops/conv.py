"""2-D convolution of NCHW images with OIHW filters, and its two gradients.

Three Ops share one set of parameters (``border_mode``, ``subsample``,
``filter_flip``, ``filter_dilation``) and are each other's gradients, so
``pytensor.grad`` works through them to any order:

* :class:`Conv2d` -- the convolution (:func:`conv2d`);
* :class:`Conv2dGradInputs` -- its gradient with respect to the input, which
  is also the transposed convolution (:func:`conv2d_grad_wrt_inputs`);
* :class:`Conv2dGradWeights` -- its gradient with respect to the filters
  (:func:`conv2d_grad_wrt_weights`).

Every Op has three implementations that give the same numbers: ``perform``
here is the NumPy reference (im2col as a strided view, then one tensor
product), :mod:`convnet.ops.conv_numba` is the fast path of PyTensor's default
Numba linker and :mod:`convnet.ops.conv_jax` lowers the Ops to
``jax.lax.conv_general_dilated`` for ``mode="JAX"``.  Those two register
themselves when PyTensor loads the backend (see :mod:`convnet.backends`).
"""
import numbers

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

from ..backends import JAX_DISPATCH, NUMBA_DISPATCH, import_when_imported
from .compat import infer_shape_method

__all__ = [
    "conv2d",
    "conv2d_grad_wrt_inputs",
    "conv2d_grad_wrt_weights",
    "conv_output_length",
    "Conv2d",
    "Conv2dGradInputs",
    "Conv2dGradWeights",
]

# How a border mode turns into padding; the numbers also travel into Numba code.
PAD_EXPLICIT, PAD_FULL, PAD_HALF = 0, 1, 2
# Which Op a shape check is for: it picks the argument names of the message.
CHECK_CONV2D, CHECK_GRAD_INPUTS, CHECK_GRAD_WEIGHTS = 0, 1, 2

_NAMED_BORDER_MODES = {"full": PAD_FULL, "half": PAD_HALF, "same": PAD_HALF}
_INT_TYPES = (numbers.Integral, np.integer)


# --- Size arithmetic, shared by Python, symbolic shapes and Numba code ------------
# Plain functions of ints (or symbolic scalars), written so that Numba can
# compile them too: convnet.ops.conv_numba registers them with Numba.


def _dilated_size(filter_size, dilation):
    """Extent of a filter of ``filter_size`` taps spaced ``dilation`` apart."""
    return (filter_size - 1) * dilation + 1


def _pad_size(border_code, explicit_pad, filter_size, dilation):
    """Padding on each side of one axis for a border mode code (``PAD_*``)."""
    if border_code == PAD_FULL:
        return _dilated_size(filter_size, dilation) - 1
    if border_code == PAD_HALF:
        return _dilated_size(filter_size, dilation) // 2
    return explicit_pad


def _output_size(input_size, filter_size, stride, pad, dilation):
    """Length of one output axis of a convolution."""
    return (input_size + 2 * pad - _dilated_size(filter_size, dilation)) // stride + 1


# What _find_shape_problem can find wrong with a set of shapes.
(SHAPES_FIT, CHANNELS_DIFFER, OUTPUT_CHANNELS_DIFFER, BATCHES_DIFFER, FILTER_TOO_LARGE,
 OUTPUT_SIZE_DIFFERS) = range(6)


def _known_and_different(size, other_size):
    """Whether two sizes, -1 meaning unknown, are both known and different."""
    return size >= 0 and other_size >= 0 and size != other_size


def _find_shape_problem(input_shape, filter_shape, output_shape, border_code, explicit_pads,
                        subsample, dilation):
    """``(problem, axis)``: the first way the shapes do not fit (``SHAPES_FIT`` if none)
    and the spatial axis (0 rows, 1 columns) it concerns.

    Used at graph construction (static shapes, -1 standing for an unknown size)
    and at call time by ``perform`` and the Numba code.  ``input_shape``,
    ``filter_shape`` and ``output_shape`` are NCHW / OIHW / NCHW 4-sequences
    (the output unknown for a forward convolution); ``border_code`` is a
    ``PAD_*`` code; ``explicit_pads``, ``subsample`` and ``dilation`` are pairs.
    """
    if _known_and_different(input_shape[1], filter_shape[1]):
        return CHANNELS_DIFFER, 0
    if _known_and_different(output_shape[1], filter_shape[0]):
        return OUTPUT_CHANNELS_DIFFER, 0
    if _known_and_different(output_shape[0], input_shape[0]):
        return BATCHES_DIFFER, 0
    for axis in range(2):
        size, taps = input_shape[2 + axis], filter_shape[2 + axis]
        if size < 0 or taps < 0:
            continue
        pad = _pad_size(border_code, explicit_pads[axis], taps, dilation[axis])
        if size + 2 * pad < _dilated_size(taps, dilation[axis]):
            return FILTER_TOO_LARGE, axis
        expected = _output_size(size, taps, subsample[axis], pad, dilation[axis])
        if _known_and_different(output_shape[2 + axis], expected):
            return OUTPUT_SIZE_DIFFERS, axis
    return SHAPES_FIT, 0


def _describe_shape_problem(check_kind, problem, axis, input_shape, filter_shape, output_shape,
                            border_code, explicit_pads, subsample, dilation):
    """The error message for a problem found by :func:`_find_shape_problem`.

    ``check_kind`` (a ``CHECK_*`` code) says which Op asks, so that the
    message names that Op's arguments; the other arguments are as for
    :func:`_find_shape_problem`.
    """
    where, input_name, filters_name = {
        CHECK_CONV2D: ("conv2d", "input", "filters"),
        CHECK_GRAD_INPUTS: ("conv2d_grad_wrt_inputs", "input_shape", "filters"),
        CHECK_GRAD_WEIGHTS: ("conv2d_grad_wrt_weights", "input", "filter_shape"),
    }[check_kind]

    def text(shape):
        return "(" + ", ".join("None" if size < 0 else str(int(size)) for size in shape) + ")"

    shapes = f"{input_name} {text(input_shape)}, {filters_name} {text(filter_shape)}"
    if check_kind != CHECK_CONV2D:
        shapes += f", output_grad {text(output_shape)}"
    axis_name = ("rows", "columns")[axis]
    size, taps = int(input_shape[2 + axis]), int(filter_shape[2 + axis])
    pad = _pad_size(border_code, int(explicit_pads[axis]), taps, int(dilation[axis]))
    if problem == CHANNELS_DIFFER:
        detail = (f"{input_name} has {int(input_shape[1])} channels but {filters_name} has "
                  f"{int(filter_shape[1])} input channels")
    elif problem == OUTPUT_CHANNELS_DIFFER:
        detail = (f"output_grad has {int(output_shape[1])} channels but {filters_name} has "
                  f"{int(filter_shape[0])} output channels")
    elif problem == BATCHES_DIFFER:
        detail = (f"output_grad has a batch of {int(output_shape[0])} but {input_name} has a "
                  f"batch of {int(input_shape[0])}")
    elif problem == FILTER_TOO_LARGE:
        detail = (f"{filters_name} span {_dilated_size(taps, int(dilation[axis]))} {axis_name} "
                  f"(filter_dilation {int(dilation[axis])}) but the padded {input_name} has only "
                  f"{size + 2 * pad} (padding {pad})")
    else:
        detail = (f"output_grad has {int(output_shape[2 + axis])} {axis_name} but convolving "
                  f"{input_name} gives "
                  f"{_output_size(size, taps, int(subsample[axis]), pad, int(dilation[axis]))}")
    return f"{where}: {detail} ({shapes})"


def conv_output_length(input_length, filter_size, stride, pad, dilation=1):
    """Length of one output axis of a convolution.

    Parameters
    ----------
    input_length : int, symbolic scalar or None
        Length of the input axis; ``None`` (unknown) gives ``None``.
    filter_size : int, symbolic scalar or None
        Number of filter taps along the axis; ``None`` gives ``None``.
    stride : int
        Step between filter positions.
    pad : int or {'valid', 'full', 'half', 'same'}
        Zeros added on each side: a number, or ``'valid'`` (0), ``'full'``
        (dilated filter size - 1) or ``'half'`` / ``'same'`` (dilated filter
        size // 2, which keeps the length for odd filters and stride 1).
    dilation : int
        Spacing between filter taps.

    Returns
    -------
    int, symbolic scalar or None

    Examples
    --------
    >>> conv_output_length(28, 5, 1, 'valid')
    24
    >>> conv_output_length(224, 3, 2, 'half')
    112
    >>> conv_output_length(10, 3, 1, 'full', dilation=2)
    14
    """
    if input_length is None or filter_size is None:
        return None
    if isinstance(pad, str):
        if pad == "valid":
            border_code, pad = PAD_EXPLICIT, 0
        elif pad in _NAMED_BORDER_MODES:
            border_code = _NAMED_BORDER_MODES[pad]
        else:
            raise ValueError(f"pad must be an int, 'valid', 'full', 'half' or 'same', got {pad!r}")
    else:
        border_code = PAD_EXPLICIT
    pad = _pad_size(border_code, pad, filter_size, dilation)
    return _output_size(input_length, filter_size, stride, pad, dilation)


# --- Parameters ------------------------------------------------------------------


def _positive_pair(value, name):
    """``value`` as a tuple of two positive ints, or a ValueError naming ``name``."""
    try:
        pair = (value, value) if isinstance(value, _INT_TYPES) else tuple(value)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(isinstance(v, _INT_TYPES) and v > 0 for v in pair):
        raise ValueError(f"{name} must be a pair of positive ints, got {value!r}")
    return tuple(int(v) for v in pair)


def _normalize_border_mode(border_mode):
    """``'full'``, ``'half'`` or an ``(int, int)`` padding for any accepted border mode."""
    if isinstance(border_mode, str):
        if border_mode == "valid":
            return (0, 0)
        if border_mode in _NAMED_BORDER_MODES:
            return "half" if border_mode == "same" else border_mode
    else:
        pads = (border_mode, border_mode) if isinstance(border_mode, _INT_TYPES) else border_mode
        try:
            pads = tuple(pads)
        except TypeError:
            pads = ()
        if len(pads) == 2 and all(isinstance(p, _INT_TYPES) and p >= 0 for p in pads):
            return tuple(int(p) for p in pads)
    raise ValueError(
        "border_mode must be 'valid', 'full', 'half', a non-negative int or a pair of them, "
        f"got {border_mode!r}"
    )


def _static_shape(shape):
    """A 4-tuple of ints with -1 for unknown sizes, as :func:`_find_shape_problem` wants."""
    return tuple(-1 if s is None else int(s) for s in shape)


def _spatial_shape_vector(shape, name):
    """An int64 vector of two spatial sizes from ints / symbolic scalars or a vector."""
    if isinstance(shape, Variable):
        vector = pt.as_tensor_variable(shape)
        if (vector.ndim != 1 or vector.dtype not in integer_dtypes
                or vector.type.shape[0] not in (None, 2)):
            raise ValueError(f"{name} must hold 2 spatial sizes, got a {vector.type}")
    else:
        shape = tuple(shape)
        if len(shape) != 2 or any(s is None or (isinstance(s, _INT_TYPES) and s <= 0) for s in shape):
            raise ValueError(f"{name} must give 2 positive spatial sizes, got {shape!r}")
        vector = pt.as_tensor_variable(list(shape), ndim=1)
    vector = pt.cast(vector, "int64")
    return vector if vector.type.shape == (2,) else pt.specify_shape(vector, (2,))


def _check_positive(spatial_sizes, name):
    """Raise a ValueError naming ``name`` unless both sizes are positive."""
    if min(spatial_sizes) <= 0:
        raise ValueError(
            f"{name} must give positive spatial sizes, got {tuple(int(s) for s in spatial_sizes)}")


def _constant_spatial_shape(shape_variable):
    """The two spatial sizes of a constant shape vector, else ``(None, None)``."""
    if isinstance(shape_variable, Constant):
        return tuple(int(s) for s in shape_variable.data)
    try:
        return tuple(int(pt.get_underlying_scalar_constant_value(shape_variable[axis]))
                     for axis in range(2))
    except NotScalarConstantError:
        return (None, None)


# --- NumPy reference implementation -----------------------------------------------


def _pad_images(images, pads):
    """Zero-pad the two spatial axes of NCHW ``images`` by ``pads`` on each side."""
    pad_rows, pad_cols = pads
    return np.pad(images, ((0, 0), (0, 0), (pad_rows, pad_rows), (pad_cols, pad_cols)))


def _patches(padded_images, filter_hw, subsample, dilation, output_hw, writeable=False):
    """im2col as a strided view of shape (batch, channels, kh, kw, out_h, out_w).

    ``view[b, c, p, q, i, j]`` is the pixel that filter tap ``(p, q)`` sees when
    the filter sits at output position ``(i, j)``.  With ``writeable=True`` the
    view can scatter values back (col2im); taps overlap, so add one tap at a time.
    """
    batch_stride, channel_stride, row_stride, col_stride = padded_images.strides
    return as_strided(
        padded_images,
        shape=padded_images.shape[:2] + tuple(filter_hw) + tuple(output_hw),
        strides=(batch_stride, channel_stride,
                 row_stride * dilation[0], col_stride * dilation[1],
                 row_stride * subsample[0], col_stride * subsample[1]),
        writeable=writeable,
    )


# --- Ops ----------------------------------------------------------------------


class Conv2dBase(Op):
    """Parameters and shape logic shared by the three convolution Ops.

    Parameters
    ----------
    border_mode : str, int or pair of int
        ``'valid'`` (no padding), ``'full'`` (pad by the dilated filter
        size minus 1), ``'half'`` (pad by half the dilated filter size,
        "same" output for odd filters), or the zero padding of rows and
        columns.
    subsample : pair of int
        Strides (rows, columns).
    filter_flip : bool
        True for a real convolution (the filters are flipped), False for a
        cross-correlation.
    filter_dilation : pair of int
        Spacing between filter taps (rows, columns).
    """

    __props__ = ("border_mode", "subsample", "filter_flip", "filter_dilation")
    # Whose argument names shape errors use (a CHECK_* code).
    check_kind = CHECK_CONV2D

    def __init__(self, border_mode="valid", subsample=(1, 1), filter_flip=True,
                 filter_dilation=(1, 1)):
        self.border_mode = _normalize_border_mode(border_mode)
        self.subsample = _positive_pair(subsample, "subsample")
        self.filter_flip = bool(filter_flip)
        self.filter_dilation = _positive_pair(filter_dilation, "filter_dilation")

    @property
    def border_code(self):
        """``(PAD_* code, explicit row padding, explicit column padding)``."""
        if isinstance(self.border_mode, str):
            return _NAMED_BORDER_MODES[self.border_mode], 0, 0
        return (PAD_EXPLICIT,) + self.border_mode

    def padding(self, filter_hw):
        """Padding of rows and columns for filters of (numeric or symbolic) size ``filter_hw``."""
        code, *explicit = self.border_code
        return tuple(_pad_size(code, explicit[axis], filter_hw[axis], self.filter_dilation[axis])
                     for axis in range(2))

    def output_hw(self, input_hw, filter_hw):
        """Output rows and columns (ints, symbolic, or None where unknown)."""
        if None in filter_hw:
            return (None, None)
        pads = self.padding(filter_hw)
        return tuple(
            conv_output_length(input_hw[axis], filter_hw[axis], self.subsample[axis],
                               pads[axis], self.filter_dilation[axis])
            for axis in range(2)
        )

    def check_shapes(self, input_shape, filter_shape, output_shape=(None,) * 4):
        """Raise a ValueError if the shapes do not fit; None stands for unknown."""
        code, *explicit = self.border_code
        shapes = (_static_shape(input_shape), _static_shape(filter_shape), _static_shape(output_shape))
        problem, axis = _find_shape_problem(*shapes, code, explicit, self.subsample,
                                            self.filter_dilation)
        if problem != SHAPES_FIT:
            raise ValueError(_describe_shape_problem(self.check_kind, problem, axis, *shapes, code,
                                                     explicit, self.subsample, self.filter_dilation))

    def oriented(self, filters):
        """``filters`` flipped for a real convolution, as used in a cross-correlation."""
        return filters[:, :, ::-1, ::-1] if self.filter_flip else filters

    def _as_float_tensors(self, **named):
        """Named inputs as tensors of their common float dtype, with ndim 4 checked."""
        tensors = {}
        for name, value in named.items():
            tensor = pt.as_tensor_variable(value)
            if tensor.ndim != 4:
                raise ValueError(
                    f"{name} must be a 4-D tensor, got {tensor.ndim} dimensions "
                    f"(shape {tensor.type.shape})"
                )
            tensors[name] = tensor
        dtype = upcast(*(t.dtype for t in tensors.values()))
        if dtype not in ("float32", "float64"):
            raise TypeError(f"convolution needs float32 or float64 tensors, got {dtype}")
        return [pt.cast(t, dtype) for t in tensors.values()]


class Conv2d(Conv2dBase):
    """2-D convolution of an NCHW ``input`` with OIHW ``filters``; see :func:`conv2d`."""

    def make_node(self, input, filters):
        input, filters = self._as_float_tensors(input=input, filters=filters)
        self.check_shapes(input.type.shape, filters.type.shape)
        output_hw = self.output_hw(input.type.shape[2:], filters.type.shape[2:])
        output = pt.tensor(dtype=input.dtype,
                           shape=(input.type.shape[0], filters.type.shape[0]) + output_hw)
        return Apply(self, [input, filters], [output])

    def perform(self, node, inputs, outputs):
        images, filters = inputs
        self.check_shapes(images.shape, filters.shape)
        filter_hw = filters.shape[2:]
        patches = _patches(_pad_images(images, self.padding(filter_hw)), filter_hw,
                           self.subsample, self.filter_dilation,
                           self.output_hw(images.shape[2:], filter_hw))
        result = np.tensordot(patches, self.oriented(filters), axes=([1, 2, 3], [1, 2, 3]))
        outputs[0][0] = np.ascontiguousarray(result.transpose(0, 3, 1, 2), dtype=node.outputs[0].dtype)

    @infer_shape_method
    def infer_shape(self, node, shapes):
        input_shape, filter_shape = shapes
        return [(input_shape[0], filter_shape[0]) + self.output_hw(input_shape[2:], filter_shape[2:])]

    def pullback(self, inputs, outputs, cotangents):
        images, filters = inputs
        (output_grad,) = cotangents
        params = self._props_dict()
        return [
            Conv2dGradInputs(**params)(filters, output_grad, _known_hw(images)),
            Conv2dGradWeights(**params)(images, output_grad, _known_hw(filters)),
        ]


class Conv2dGradInputs(Conv2dBase):
    """Gradient of :class:`Conv2d` with respect to its input (transposed convolution).

    Inputs are ``(filters, output_grad, input_hw)`` where ``input_hw`` is an
    int vector of the input's two spatial sizes (they cannot be deduced from
    ``output_grad`` when strides are larger than 1); see
    :func:`conv2d_grad_wrt_inputs`.
    """

    check_kind = CHECK_GRAD_INPUTS

    def make_node(self, filters, output_grad, input_hw):
        filters, output_grad = self._as_float_tensors(filters=filters, output_grad=output_grad)
        input_hw = _spatial_shape_vector(input_hw, "input_shape")
        static_hw = _constant_spatial_shape(input_hw)
        input_shape = (output_grad.type.shape[0], filters.type.shape[1]) + static_hw
        self.check_shapes(input_shape, filters.type.shape, output_grad.type.shape)
        output = pt.tensor(dtype=filters.dtype, shape=input_shape)
        return Apply(self, [filters, output_grad, input_hw], [output])

    def perform(self, node, inputs, outputs):
        filters, output_grad, input_hw = inputs
        _check_positive(input_hw, "input_shape")
        input_shape = (output_grad.shape[0], filters.shape[1]) + tuple(input_hw)
        self.check_shapes(input_shape, filters.shape, output_grad.shape)
        filter_hw = filters.shape[2:]
        pads = self.padding(filter_hw)
        columns = np.tensordot(self.oriented(filters), output_grad, axes=([0], [1]))
        padded = np.zeros(input_shape[:2] + tuple(s + 2 * p for s, p in zip(input_hw, pads)),
                          dtype=node.outputs[0].dtype)
        patches = _patches(padded, filter_hw, self.subsample, self.filter_dilation,
                           output_grad.shape[2:], writeable=True)
        for row in range(filter_hw[0]):
            for col in range(filter_hw[1]):
                patches[:, :, row, col] += columns[:, row, col].transpose(1, 0, 2, 3)
        outputs[0][0] = np.ascontiguousarray(
            padded[:, :, pads[0]:pads[0] + input_hw[0], pads[1]:pads[1] + input_hw[1]])

    @infer_shape_method
    def infer_shape(self, node, shapes):
        filter_shape, output_grad_shape, _ = shapes
        input_hw = node.inputs[2]
        return [(output_grad_shape[0], filter_shape[1], input_hw[0], input_hw[1])]

    def connection_pattern(self, node):
        return [[True], [True], [False]]

    def pullback(self, inputs, outputs, cotangents):
        filters, output_grad, _ = inputs
        (input_grad_cotangent,) = cotangents
        params = self._props_dict()
        return [
            Conv2dGradWeights(**params)(input_grad_cotangent, output_grad, _known_hw(filters)),
            Conv2d(**params)(input_grad_cotangent, filters),
            disconnected_type(),
        ]


class Conv2dGradWeights(Conv2dBase):
    """Gradient of :class:`Conv2d` with respect to its filters.

    Inputs are ``(input, output_grad, filter_hw)`` where ``filter_hw`` is an
    int vector of the filters' two spatial sizes; see
    :func:`conv2d_grad_wrt_weights`.
    """

    check_kind = CHECK_GRAD_WEIGHTS

    def make_node(self, input, output_grad, filter_hw):
        input, output_grad = self._as_float_tensors(input=input, output_grad=output_grad)
        filter_hw = _spatial_shape_vector(filter_hw, "filter_shape")
        filter_shape = ((output_grad.type.shape[1], input.type.shape[1])
                        + _constant_spatial_shape(filter_hw))
        self.check_shapes(input.type.shape, filter_shape, output_grad.type.shape)
        output = pt.tensor(dtype=input.dtype, shape=filter_shape)
        return Apply(self, [input, output_grad, filter_hw], [output])

    def perform(self, node, inputs, outputs):
        images, output_grad, filter_hw = inputs
        _check_positive(filter_hw, "filter_shape")
        filter_hw = tuple(filter_hw)
        self.check_shapes(images.shape, (output_grad.shape[1], images.shape[1]) + filter_hw,
                          output_grad.shape)
        patches = _patches(_pad_images(images, self.padding(filter_hw)), filter_hw,
                           self.subsample, self.filter_dilation, output_grad.shape[2:])
        result = np.tensordot(output_grad, patches, axes=([0, 2, 3], [0, 4, 5]))
        outputs[0][0] = np.ascontiguousarray(self.oriented(result), dtype=node.outputs[0].dtype)

    @infer_shape_method
    def infer_shape(self, node, shapes):
        input_shape, output_grad_shape, _ = shapes
        filter_hw = node.inputs[2]
        return [(output_grad_shape[1], input_shape[1], filter_hw[0], filter_hw[1])]

    def connection_pattern(self, node):
        return [[True], [True], [False]]

    def pullback(self, inputs, outputs, cotangents):
        images, output_grad, _ = inputs
        (filter_grad_cotangent,) = cotangents
        params = self._props_dict()
        return [
            Conv2dGradInputs(**params)(filter_grad_cotangent, output_grad, _known_hw(images)),
            Conv2d(**params)(images, filter_grad_cotangent),
            disconnected_type(),
        ]


def _known_hw(tensor):
    """The spatial sizes of a 4-D tensor: static ints where known, else symbolic."""
    return [size if size is not None else tensor.shape[2 + axis]
            for axis, size in enumerate(tensor.type.shape[2:])]


# --- Public helpers -------------------------------------------------------------


def _with_shape_hint(tensor, hint, name, hint_name):
    """``tensor`` with the int sizes of ``hint`` (a 4-tuple, None = unknown) made static.

    Raises a ValueError if the hint contradicts the static shape of ``tensor``.
    """
    tensor = pt.as_tensor_variable(tensor)
    if hint is None:
        return tensor
    hint = tuple(hint)
    if len(hint) != 4 or tensor.ndim != 4:
        raise ValueError(f"{hint_name} must give the 4 sizes of the 4-D {name}, got {hint!r} "
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
    op = Conv2d(border_mode, subsample, filter_flip, filter_dilation)
    input = _with_shape_hint(input, input_shape, "input", "input_shape")
    filters = _with_shape_hint(filters, filter_shape, "filters", "filter_shape")
    return op(input, filters)


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
    op = Conv2dGradInputs(border_mode, subsample, filter_flip, filter_dilation)
    if len(tuple(input_shape)) != 4:
        raise ValueError(f"input_shape must give 4 sizes, got {input_shape!r}")
    filters = _with_shape_hint(filters, filter_shape, "filters", "filter_shape")
    input_grad = op(filters, output_grad, tuple(input_shape)[2:])
    return _with_shape_hint(input_grad, input_shape, "input gradient", "input_shape")


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
    op = Conv2dGradWeights(border_mode, subsample, filter_flip, filter_dilation)
    if len(tuple(filter_shape)) != 4:
        raise ValueError(f"filter_shape must give 4 sizes, got {filter_shape!r}")
    input = _with_shape_hint(input, input_shape, "input", "input_shape")
    filter_grad = op(input, output_grad, tuple(filter_shape)[2:])
    return _with_shape_hint(filter_grad, filter_shape, "filter gradient", "filter_shape")


@node_rewriter([Conv2dGradInputs, Conv2dGradWeights])
def spatial_sizes_as_jax_tuple(fgraph, node):
    """For the JAX backend: give a gradient Op its ``MakeVector`` of spatial sizes
    as a tuple that JAX does not trace (PyTensor does the same for the ``size``
    of random variables), so that the sizes are known when JAX traces the Op.

    Registered here, not in :mod:`convnet.ops.conv_jax`, because graph
    rewrites run before PyTensor loads its JAX backend.
    """
    from pytensor.link.jax.dispatch.shape import JAXShapeTuple  # JAX graphs only: JAX is there

    sizes = node.inputs[2]
    if sizes.owner is None or not isinstance(sizes.owner.op, MakeVector):
        return None
    tuple_of_sizes = JAXShapeTuple()(*sizes.owner.inputs)
    return node.clone_with_new_inputs(node.inputs[:2] + [tuple_of_sizes]).outputs


optdb.register("jax_conv2d_spatial_sizes_as_tuple", in2out(spatial_sizes_as_jax_tuple), "jax",
               position=100)

# The backend implementations register themselves when PyTensor loads each backend.
import_when_imported(NUMBA_DISPATCH, "convnet.ops.conv_numba")
import_when_imported(JAX_DISPATCH, "convnet.ops.conv_jax")
