"""The geometry of a convolution: :class:`ConvGeometry`, and the size arithmetic it rests on.

One frozen object holds what the three convolution Ops share (number of
spatial dimensions, padding, strides, dilation, whether filters flip) and
every rule that shapes must obey, with one set of error messages.  The Ops
(:mod:`convnet.ops.conv.ops`), their backends and the convolution layers
(:mod:`convnet.layers.conv`) all ask it.

The module-level functions work on plain ints (or symbolic scalars) so that
the Numba backend compiles the very same rules (``register_jitable``).

Examples
--------
>>> g = ConvGeometry.create(2, border_mode="half", subsample=2)
>>> g
ConvGeometry(ndim=2, border_mode='half', subsample=(2, 2), filter_flip=True, filter_dilation=(1, 1))
>>> g.output_sizes((32, 31), (3, 3))
(16, 16)
>>> ConvGeometry.create(2).check_shapes((1, 3, 2, 8), (4, 3, 5, 5), where="conv2d")
Traceback (most recent call last):
...
ValueError: conv2d: filters span 5 rows (filter_dilation 1) but the padded input has only 2 (padding 0) (input (1, 3, 2, 8), filters (4, 3, 5, 5))
"""
import numbers
from dataclasses import dataclass

import numpy as np

__all__ = ["ConvGeometry", "conv_output_length"]

# How a border mode turns into padding; the codes travel into Numba code.
PAD_EXPLICIT, PAD_FULL, PAD_HALF = 0, 1, 2
_NAMED_BORDER_MODES = {"full": PAD_FULL, "half": PAD_HALF}
_INT_TYPES = (numbers.Integral, np.integer)
# What find_shape_problem can find wrong with a set of shapes.
(SHAPES_FIT, CHANNELS_DIFFER, OUTPUT_CHANNELS_DIFFER, BATCHES_DIFFER, FILTER_TOO_LARGE,
 OUTPUT_SIZE_DIFFERS) = range(6)
# What the messages call each spatial axis, by number of spatial dimensions.
_AXIS_NAMES = {1: ("columns",), 2: ("rows", "columns"), 3: ("planes", "rows", "columns")}


# --- Size arithmetic on ints (or symbolic scalars), compiled by Numba too ------------


def dilated_size(filter_size, dilation):
    """Extent of a filter of ``filter_size`` taps spaced ``dilation`` apart."""
    return (filter_size - 1) * dilation + 1


def pad_size(border_code, explicit_pad, filter_size, dilation):
    """Padding on each side of one axis for a border mode code (``PAD_*``)."""
    if border_code == PAD_FULL:
        return dilated_size(filter_size, dilation) - 1
    if border_code == PAD_HALF:
        return dilated_size(filter_size, dilation) // 2
    return explicit_pad


def output_size(input_size, filter_size, stride, pad, dilation):
    """Length of one output axis of a convolution."""
    return (input_size + 2 * pad - dilated_size(filter_size, dilation)) // stride + 1


def known_and_different(size, other_size):
    """Whether two sizes, -1 meaning unknown, are both known and different."""
    return size >= 0 and other_size >= 0 and size != other_size


def find_shape_problem(input_shape, filter_shape, output_shape, border_code, explicit_pads,
                       subsample, dilation):
    """``(problem, axis)``: the first way the shapes do not fit (``SHAPES_FIT`` if
    none) and the spatial axis it concerns.

    The shapes are (batch, channels, spatial...) / (out, in, spatial...) /
    (batch, out, spatial...) sequences of ints, -1 standing for unknown;
    ``border_code`` is a ``PAD_*`` code, the last three one entry per axis.
    """
    if known_and_different(input_shape[1], filter_shape[1]):
        return CHANNELS_DIFFER, 0
    if known_and_different(output_shape[1], filter_shape[0]):
        return OUTPUT_CHANNELS_DIFFER, 0
    if known_and_different(output_shape[0], input_shape[0]):
        return BATCHES_DIFFER, 0
    for axis in range(len(input_shape) - 2):
        size, taps = input_shape[2 + axis], filter_shape[2 + axis]
        if size < 0 or taps < 0:
            continue
        pad = pad_size(border_code, explicit_pads[axis], taps, dilation[axis])
        if size + 2 * pad < dilated_size(taps, dilation[axis]):
            return FILTER_TOO_LARGE, axis
        expected = output_size(size, taps, subsample[axis], pad, dilation[axis])
        if known_and_different(output_shape[2 + axis], expected):
            return OUTPUT_SIZE_DIFFERS, axis
    return SHAPES_FIT, 0


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
        if pad not in ("valid", "full", "half", "same"):
            raise ValueError(f"pad must be an int, 'valid', 'full', 'half' or 'same', got {pad!r}")
        border_code = _NAMED_BORDER_MODES.get("half" if pad == "same" else pad, PAD_EXPLICIT)
        pad = 0
    else:
        border_code = PAD_EXPLICIT
    pad = pad_size(border_code, pad, filter_size, dilation)
    return output_size(input_length, filter_size, stride, pad, dilation)


# --- The geometry object ------------------------------------------------------------


def _per_axis(value, ndim, name, minimum):
    """``value`` (an int or ``ndim`` ints, each at least ``minimum``) as a tuple of ints."""
    values = (value,) * ndim if isinstance(value, _INT_TYPES) else value
    try:
        values = tuple(values)
    except TypeError:
        values = ()
    if len(values) != ndim or not all(isinstance(v, _INT_TYPES) and v >= minimum for v in values):
        raise ValueError(f"{name} must be an int or {ndim} ints, each at least {minimum}, got {value!r}")
    return tuple(int(v) for v in values)


def _shape_text(shape):
    return "(" + ", ".join("None" if size < 0 else str(int(size)) for size in shape) + ")"


def _static(shape, ndim):
    """A shape as ints with -1 for unknown (None) sizes; None gives all unknown."""
    if shape is None:
        return (-1,) * (ndim + 2)
    return tuple(-1 if s is None else int(s) for s in shape)


@dataclass(frozen=True)
class ConvGeometry:
    """How a convolution with ``ndim`` spatial dimensions slides its filters.

    Build it with :meth:`create`, which checks and normalises the
    parameters; the fields are then final.

    Parameters
    ----------
    ndim : int
        Number of spatial dimensions: 1, 2 or 3.
    border_mode : 'full', 'half' or tuple of int
        ``'full'`` pads by the dilated filter size minus 1, ``'half'`` by
        half the dilated filter size; a tuple gives the zeros on each side
        of each spatial axis.
    subsample : tuple of int
        Strides, one per spatial axis.
    filter_flip : bool
        True for a real convolution (flipped filters), False for a
        cross-correlation.
    filter_dilation : tuple of int
        Spacing between filter taps, one per spatial axis.

    Examples
    --------
    >>> ConvGeometry.create(3, border_mode=1, filter_dilation=(1, 2, 2)).padding((3, 3, 3))
    (1, 1, 1)
    """

    ndim: int
    border_mode: str | tuple[int, ...]
    subsample: tuple[int, ...]
    filter_flip: bool
    filter_dilation: tuple[int, ...]

    @classmethod
    def create(cls, ndim, border_mode="valid", subsample=1, filter_flip=True, filter_dilation=1):
        """The geometry for Theano-style parameters, checked.

        ``border_mode`` may be ``'valid'`` (no padding), ``'full'``,
        ``'half'`` or ``'same'`` (the same as ``'half'``), an int or
        ``ndim`` ints; ``subsample`` and ``filter_dilation`` an int or
        ``ndim`` positive ints.

        Raises
        ------
        ValueError
            Naming the parameter that is wrong.
        """
        if ndim not in _AXIS_NAMES:
            raise ValueError(f"convolutions have 1, 2 or 3 spatial dimensions, got {ndim!r}")
        if isinstance(border_mode, str):
            if border_mode not in ("valid", "full", "half", "same"):
                raise ValueError(f"border_mode must be 'valid', 'full', 'half', an int or {ndim} ints, "
                                 f"got {border_mode!r}")
            border = (0,) * ndim if border_mode == "valid" else "half" if border_mode == "same" else border_mode
        else:
            try:
                border = _per_axis(border_mode, ndim, "border_mode", 0)
            except ValueError:
                raise ValueError(f"border_mode must be 'valid', 'full', 'half', an int or {ndim} ints "
                                 f"(non-negative), got {border_mode!r}") from None
        return cls(ndim, border, _per_axis(subsample, ndim, "subsample", 1), bool(filter_flip),
                   _per_axis(filter_dilation, ndim, "filter_dilation", 1))

    def lifted(self, ndim):
        """The same convolution with unit axes put in front, as ``ndim`` dimensions
        (filters of size 1 along them are neither padded nor strided)."""
        extra = ndim - self.ndim
        border = self.border_mode if isinstance(self.border_mode, str) else (0,) * extra + self.border_mode
        return ConvGeometry(ndim, border, (1,) * extra + self.subsample, self.filter_flip,
                            (1,) * extra + self.filter_dilation)

    @property
    def border_code(self):
        """The border mode as a ``PAD_*`` code, for compiled code."""
        return _NAMED_BORDER_MODES.get(self.border_mode, PAD_EXPLICIT) \
            if isinstance(self.border_mode, str) else PAD_EXPLICIT

    @property
    def explicit_pads(self):
        """The padding given as numbers (zeros for ``'full'`` and ``'half'``)."""
        return (0,) * self.ndim if isinstance(self.border_mode, str) else self.border_mode

    def padding(self, filter_sizes):
        """Zeros on each side of each spatial axis for filters of (int or
        symbolic) spatial sizes ``filter_sizes``."""
        return tuple(pad_size(self.border_code, self.explicit_pads[axis], filter_sizes[axis],
                              self.filter_dilation[axis]) for axis in range(self.ndim))

    def output_sizes(self, input_sizes, filter_sizes):
        """Spatial sizes of the output (ints, symbolic, or None where unknown)."""
        if None in tuple(filter_sizes):
            return (None,) * self.ndim
        pads = self.padding(filter_sizes)
        return tuple(None if input_sizes[axis] is None else
                     output_size(input_sizes[axis], filter_sizes[axis], self.subsample[axis], pads[axis],
                                 self.filter_dilation[axis])
                     for axis in range(self.ndim))

    def smallest_input_sizes(self, output_sizes, filter_sizes):
        """The smallest spatial input sizes that give ``output_sizes`` (the
        output of the transposed convolution); up to ``stride - 1`` more give
        the same output.  None stays None."""
        pads = self.padding(filter_sizes)
        return tuple(None if output_sizes[axis] is None else
                     (output_sizes[axis] - 1) * self.subsample[axis] - 2 * pads[axis]
                     + dilated_size(filter_sizes[axis], self.filter_dilation[axis])
                     for axis in range(self.ndim))

    def shape_problem(self, input_shape, filter_shape, output_shape=None, input_name="input",
                      filters_name="filters"):
        """What is wrong with the shapes, as a sentence, or None if they fit.

        Shapes are full (batch, channels, spatial...) sequences with None
        (or -1) for unknown sizes; ``output_shape`` None means unknown, and
        is then left out of the message.  The names are those of the
        arguments the caller was given.
        """
        shapes = (_static(input_shape, self.ndim), _static(filter_shape, self.ndim),
                  _static(output_shape, self.ndim))
        problem, axis = find_shape_problem(*shapes, self.border_code, self.explicit_pads, self.subsample,
                                           self.filter_dilation)
        if problem == SHAPES_FIT:
            return None
        (batch, channels, *sizes), (out_channels, in_channels, *taps), (out_batch, grad_channels, *out) = shapes
        if problem == CHANNELS_DIFFER:
            detail = f"{input_name} has {channels} channels but {filters_name} has {in_channels} input channels"
        elif problem == OUTPUT_CHANNELS_DIFFER:
            detail = (f"output_grad has {grad_channels} channels but {filters_name} has {out_channels} "
                      "output channels")
        elif problem == BATCHES_DIFFER:
            detail = f"output_grad has a batch of {out_batch} but {input_name} has a batch of {batch}"
        else:
            axis_name = _AXIS_NAMES[self.ndim][axis]
            pad = self.padding(taps)[axis]
            if problem == FILTER_TOO_LARGE:
                detail = (f"{filters_name} span {dilated_size(taps[axis], self.filter_dilation[axis])} "
                          f"{axis_name} (filter_dilation {self.filter_dilation[axis]}) but the padded "
                          f"{input_name} has only {sizes[axis] + 2 * pad} (padding {pad})")
            else:
                detail = (f"output_grad has {out[axis]} {axis_name} but convolving {input_name} gives "
                          f"{self.output_sizes(sizes, taps)[axis]}")
        shown = f"{input_name} {_shape_text(shapes[0])}, {filters_name} {_shape_text(shapes[1])}"
        if output_shape is not None:
            shown += f", output_grad {_shape_text(shapes[2])}"
        return f"{detail} ({shown})"

    def check_shapes(self, input_shape, filter_shape, output_shape=None, *, where, input_name="input",
                     filters_name="filters"):
        """Raise ``ValueError("<where>: <problem>")`` if the shapes do not fit
        (see :meth:`shape_problem`); ``where`` names the caller."""
        problem = self.shape_problem(input_shape, filter_shape, output_shape, input_name, filters_name)
        if problem is not None:
            raise ValueError(f"{where}: {problem}")

    def oriented(self, filters):
        """``filters`` (NumPy or symbolic) flipped along the spatial axes for
        a real convolution: the filters of the equivalent cross-correlation."""
        if not self.filter_flip:
            return filters
        return filters[(slice(None), slice(None)) + (slice(None, None, -1),) * self.ndim]
