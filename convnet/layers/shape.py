"""Layers that rearrange their input without changing its values: reshape,
flatten, dimshuffle, pad and slice.

Examples
--------
>>> from convnet.layers import InputLayer, ReshapeLayer, FlattenLayer
>>> l_in = InputLayer((None, 1, 28, 28))
>>> FlattenLayer(l_in).output_shape
(None, 784)
>>> ReshapeLayer(l_in, ([0], 28, -1)).output_shape
(None, 28, 28)
"""
import math
from collections.abc import Sequence

import pytensor.tensor as pt
from pytensor.graph.basic import Variable
from pytensor.tensor.variable import TensorVariable

from ..utils import check_int, int_types
from .base import Incoming, Layer

__all__ = [
    "ReshapeLayer",
    "reshape",
    "FlattenLayer",
    "flatten",
    "DimshuffleLayer",
    "dimshuffle",
    "PadLayer",
    "pad",
    "SliceLayer",
]


def _known_product(sizes):
    """The product of ``sizes``, or None if one of them is unknown."""
    return None if None in sizes else math.prod(sizes)


def _constant_pad(x, pad_widths, value=0):
    """``x`` padded with ``value``; ``pad_widths`` has a ``(before, after)``
    pair of ints per dimension. (``pytensor.tensor.pad`` is an
    ``OpFromGraph`` whose inner graph compiles slowly.)"""
    padded_shape = [x.shape[axis] + before + after for axis, (before, after) in enumerate(pad_widths)]
    # Constant bounds (negative stops): PyTensor's JAX backend cannot slice with symbolic ones.
    inside = tuple(slice(before, -after if after else None) for before, after in pad_widths)
    return pt.set_subtensor(pt.full(padded_shape, value, dtype=x.dtype)[inside], x)


class ReshapeLayer(Layer):
    """Reshapes the input, as ``numpy.reshape`` with input references.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected input shape.
    shape : tuple
        The output shape. Each entry is a positive int; ``[i]``, the size of
        the input's dimension ``i`` (so an unknown batch size can be kept);
        a symbolic scalar; or ``-1`` (at most once), the size that makes the
        total number of values fit.
    **kwargs
        Passed to :class:`~convnet.layers.Layer` (e.g. ``name``).

    Raises
    ------
    ValueError
        At construction, for a malformed ``shape``, or when the input cannot
        have that shape (total sizes that are known and differ).

    Examples
    --------
    >>> from convnet.layers import InputLayer, ReshapeLayer
    >>> l_in = InputLayer((None, 100, 20))
    >>> ReshapeLayer(l_in, ([0], [1], 5, -1)).output_shape
    (None, 100, 5, 4)
    """

    def __init__(self, incoming: Incoming, shape: Sequence[int | list[int]] | TensorVariable, **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        shape = tuple(shape)
        for s in shape:
            if isinstance(s, int_types):
                if s == 0 or s < -1:
                    raise ValueError(f"shape {shape}: sizes must be positive or -1, got {s}")
            elif isinstance(s, list):
                if len(s) != 1 or not isinstance(s[0], int_types) or s[0] < 0:
                    raise ValueError(f"shape {shape}: input references must be one-element lists [i] with i >= 0")
            elif isinstance(s, Variable):
                if s.ndim != 0:
                    raise ValueError(f"shape {shape}: symbolic sizes must be scalars, got {s.ndim} dimensions")
            else:
                raise ValueError(f"shape {shape}: entries must be ints, [i] input references or symbolic scalars")
        if sum(isinstance(s, int_types) and s == -1 for s in shape) > 1:
            raise ValueError(f"shape {shape} may contain -1 only once")
        self.shape = shape

    def get_output_shape_for(self, input_shape):
        output_shape = []
        for s in self.shape:
            if isinstance(s, list):
                if s[0] >= len(input_shape):
                    raise ValueError(
                        f"shape {self.shape} refers to input dimension [{s[0]}], "
                        f"but input shape {input_shape} has {len(input_shape)} dimensions"
                    )
                output_shape.append(input_shape[s[0]])
            else:
                output_shape.append(None if isinstance(s, Variable) else s)
        # An unknown input size copied by [i] is the same on both sides, so
        # it cancels out of the total-size comparison (its first copy only).
        input_rest, output_rest = list(input_shape), list(output_shape)
        for dim, s in enumerate(self.shape):
            if isinstance(s, list) and input_rest[s[0]] is None:
                input_rest[s[0]] = output_rest[dim] = 1
        input_size = _known_product(input_rest)
        output_size = _known_product([s for s in output_rest if s != -1])
        if -1 in output_shape:
            inferred = output_shape.index(-1)
            if input_size is None or output_size is None:
                output_shape[inferred] = None
            elif input_size % output_size:
                raise ValueError(
                    f"cannot reshape input shape {input_shape} to {self.shape}: "
                    f"{input_size} values do not split into blocks of {output_size} for the -1"
                )
            else:
                output_shape[inferred] = input_size // output_size
        elif input_size is not None and output_size is not None and input_size != output_size:
            raise ValueError(f"cannot reshape input shape {input_shape} to {self.shape}: the total sizes differ")
        return tuple(output_shape)

    def get_output_for(self, input, **kwargs):
        # Where the output size is known, use it (a -1 included): PyTensor's
        # JAX backend needs reshape sizes it can read without tracing.
        known = self.output_shape
        return input.reshape([
            known[axis] if known[axis] is not None else input.shape[s[0]] if isinstance(s, list) else s
            for axis, s in enumerate(self.shape)
        ])


reshape = ReshapeLayer  # Lasagne's shortcut


class FlattenLayer(Layer):
    """Flattens the trailing dimensions so the output has ``outdim``
    dimensions.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected input shape.
    outdim : int
        The number of output dimensions; the input's dimensions from
        ``outdim - 1`` on are collapsed into the last.
    **kwargs
        Passed to :class:`~convnet.layers.Layer` (e.g. ``name``).

    Examples
    --------
    >>> from convnet.layers import InputLayer, FlattenLayer
    >>> FlattenLayer(InputLayer((None, 16, 5, 5))).output_shape
    (None, 400)
    """

    def __init__(self, incoming: Incoming, outdim: int = 2, **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        outdim = check_int("outdim", outdim, minimum=1)
        if not 1 <= outdim <= len(self.input_shape):
            raise ValueError(f"outdim={outdim} must be between 1 and the input's {len(self.input_shape)} dimensions")
        self.outdim = outdim

    def get_output_shape_for(self, input_shape):
        keep = self.outdim - 1
        return tuple(input_shape[:keep]) + (_known_product(input_shape[keep:]),)

    def get_output_for(self, input, **kwargs):
        known = self.output_shape
        if sum(size is None for size in known) <= 1:
            # Constant sizes where known (see ReshapeLayer.get_output_for).
            return input.reshape([-1 if size is None else size for size in known])
        return input.flatten(self.outdim)


flatten = FlattenLayer  # Lasagne's shortcut


class DimshuffleLayer(Layer):
    """Permutes the dimensions, adds broadcastable ones and drops ones of
    size 1, as PyTensor's ``dimshuffle``.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected input shape.
    pattern : tuple of int or 'x'
        For each output dimension, the input dimension it takes (each at
        most once), or ``'x'`` for a new dimension of size 1. Input
        dimensions left out must have size 1 (checked at run time if
        unknown).
    **kwargs
        Passed to :class:`~convnet.layers.Layer` (e.g. ``name``).

    Examples
    --------
    >>> from convnet.layers import InputLayer, DimshuffleLayer
    >>> DimshuffleLayer(InputLayer((None, 3, 1, 5)), (0, 'x', 3, 1)).output_shape
    (None, 1, 5, 3)
    """

    def __init__(self, incoming: Incoming, pattern: Sequence[int | str], **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        pattern = tuple(pattern)
        axes = [p for p in pattern if p != "x"]
        if not all(isinstance(p, int_types) and p >= 0 for p in axes):
            raise ValueError(f"pattern {pattern} must contain non-negative ints and 'x'")
        if len(set(axes)) != len(axes):
            raise ValueError(f"pattern {pattern} uses an input dimension more than once")
        self.pattern = pattern

    def _dropped_axes(self, ndim):
        return [axis for axis in range(ndim) if axis not in self.pattern]

    def get_output_shape_for(self, input_shape):
        too_high = [p for p in self.pattern if p != "x" and p >= len(input_shape)]
        if too_high:
            raise ValueError(f"pattern {self.pattern} refers to dimension {too_high[0]}, "
                             f"but input shape {input_shape} has {len(input_shape)} dimensions")
        for axis in self._dropped_axes(len(input_shape)):
            if input_shape[axis] not in (1, None):
                raise ValueError(f"pattern {self.pattern} drops dimension {axis} of size {input_shape[axis]} "
                                 f"(input shape {input_shape}); only dimensions of size 1 can be dropped")
        return tuple(1 if p == "x" else input_shape[p] for p in self.pattern)

    def get_output_for(self, input, **kwargs):
        dropped = self._dropped_axes(input.ndim)
        if dropped:
            input = pt.specify_broadcastable(input, *dropped)
        return input.dimshuffle(self.pattern)


dimshuffle = DimshuffleLayer  # Lasagne's shortcut


class PadLayer(Layer):
    """Pads the dimensions after the first ``batch_ndim`` with a constant.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected input shape.
    width : int or iterable of int or pairs of int
        The padding: one int for both sides of every padded dimension, or
        one entry per dimension (from the first after ``batch_ndim``; later
        dimensions are not padded) that is an int for both sides or a
        ``(before, after)`` pair.
    val : float
        The value to pad with.
    batch_ndim : int
        The number of leading dimensions not padded (batch and channels).
    **kwargs
        Passed to :class:`~convnet.layers.Layer` (e.g. ``name``).

    Examples
    --------
    >>> from convnet.layers import InputLayer, PadLayer
    >>> l_in = InputLayer((None, 3, 28, 28))
    >>> PadLayer(l_in, 2).output_shape
    (None, 3, 32, 32)
    >>> PadLayer(l_in, [(1, 0), 3]).output_shape
    (None, 3, 29, 34)
    """

    def __init__(self, incoming: Incoming, width: int | Sequence[int | tuple[int, int]], val: float = 0,
                 batch_ndim: int = 2, **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        self.width = width
        self.val = val
        self.batch_ndim = check_int("batch_ndim", batch_ndim, minimum=0)
        self.pad_widths = self._all_pad_widths(len(self.input_shape))

    def _all_pad_widths(self, ndim):
        """A ``(before, after)`` pair for every input dimension."""
        num_padded = ndim - self.batch_ndim
        widths = [self.width] * num_padded if isinstance(self.width, int_types) else list(self.width)
        if not 0 <= self.batch_ndim <= ndim or len(widths) > num_padded:
            raise ValueError(f"width {self.width} with batch_ndim={self.batch_ndim} does not fit "
                             f"the {ndim} dimensions of input shape {self.input_shape}")
        pairs = [(w, w) if isinstance(w, int_types) else tuple(w) for w in widths]
        if not all(len(p) == 2 and all(isinstance(w, int_types) and w >= 0 for w in p) for p in pairs):
            raise ValueError(f"width {self.width} must be a non-negative int or a list of such ints or pairs")
        return [(0, 0)] * self.batch_ndim + pairs + [(0, 0)] * (num_padded - len(pairs))

    def get_output_shape_for(self, input_shape):
        return tuple(None if size is None else size + before + after
                     for size, (before, after) in zip(input_shape, self.pad_widths))

    def get_output_for(self, input, **kwargs):
        return _constant_pad(input, self.pad_widths, self.val)


pad = PadLayer  # Lasagne's shortcut


class SliceLayer(Layer):
    """Indexes or slices the input along one axis.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected input shape.
    indices : int or slice
        An index (the axis is removed) or a slice (the axis is kept).
    axis : int
        The axis to index; negative counts from the end.
    **kwargs
        Passed to :class:`~convnet.layers.Layer` (e.g. ``name``).

    Examples
    --------
    >>> from convnet.layers import InputLayer, SliceLayer
    >>> l_in = InputLayer((None, 10, 20))
    >>> SliceLayer(l_in, -1, axis=1).output_shape
    (None, 20)
    >>> SliceLayer(l_in, slice(0, 20, 2)).output_shape
    (None, 10, 10)
    """

    def __init__(self, incoming: Incoming, indices: int | slice, axis: int = -1, **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        axis = check_int("axis", axis)
        if not isinstance(indices, (*int_types, slice)) or isinstance(indices, bool):
            raise ValueError(f"indices must be an int or a slice, got {indices!r} ({type(indices).__name__})")
        if not -len(self.input_shape) <= axis < len(self.input_shape):
            raise ValueError(f"axis {axis} is not an axis of input shape {self.input_shape}")
        self.slice = indices
        self.axis = axis

    def get_output_shape_for(self, input_shape):
        axis = self.axis % len(input_shape)
        size = input_shape[axis]
        output_shape = list(input_shape)
        if isinstance(self.slice, int_types):
            if size is not None and not -size <= self.slice < size:
                raise ValueError(f"index {self.slice} is out of range for axis {axis} of input shape {input_shape}")
            del output_shape[axis]
        elif size is not None:
            output_shape[axis] = len(range(*self.slice.indices(size)))
            if output_shape[axis] == 0:
                raise ValueError(f"{self.slice} selects nothing from axis {axis} of input shape {input_shape}")
        return tuple(output_shape)

    def get_output_for(self, input, **kwargs):
        return input[(slice(None),) * (self.axis % input.ndim) + (self.slice,)]
