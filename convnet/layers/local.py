"""Locally connected layers: :class:`LocallyConnected2DLayer`, a 2-D
convolution whose filters are not shared between output positions.

Each output position has filters of its own, so the weights have two more
axes than a convolution's, the output rows and columns::

    >>> from convnet.layers import InputLayer, LocallyConnected2DLayer
    >>> l_lc = LocallyConnected2DLayer(InputLayer((None, 3, 8, 8)), num_filters=4, filter_size=3)
    >>> l_lc.output_shape, l_lc.W.get_value().shape
    ((None, 4, 8, 8), (4, 3, 3, 3, 8, 8))

The layer is built from symbolic ops every backend runs, with gradients:
:func:`convnet.ops.conv2d` with one-hot filters gathers each output
position's input patch, and a batched matrix product (an elementwise product
and a sum for ``channelwise=True``) applies that position's filters.
"""
from dataclasses import dataclass

import numpy as np
import pytensor.tensor as pt

from .. import init, nonlinearities
from ..ops import conv2d
from ..typing import Nonlinearity, ParamSpec, Shape
from ..utils import as_tuple, check_int, int_types
from .base import Incoming, Layer

__all__ = ["LocallyConnected2DLayer"]

_PAD_MODES = ("valid", "full", "same")


def _pair(value, name, minimum):
    """``value`` (an int or a pair of ints) as a pair, each at least ``minimum``."""
    pair = as_tuple(value, 2, int_types)
    if any(isinstance(v, (bool, np.bool_)) or v < minimum for v in pair):
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{name} must be {kind} integers, got {value!r}")
    return tuple(int(v) for v in pair)


@dataclass(frozen=True)
class LocalConnection2D:
    """The geometry of a 2-D local connection, checked when it is made.

    Parameters
    ----------
    input_size : pair of int
        The input's rows and columns (both must be known: each output position
        has weights of its own).
    filter_size, stride : pair of int
        The extent of a filter on the input, and the step between output
        positions.
    pad_widths : pair of int
        The zeros added on both sides of the rows and of the columns.

    Examples
    --------
    >>> geometry = LocalConnection2D.from_arguments((8, 7), filter_size=3, stride=2, pad="same")
    >>> geometry.pad_widths, geometry.output_size
    ((1, 1), (4, 4))
    """

    input_size: tuple[int, int]
    filter_size: tuple[int, int]
    stride: tuple[int, int]
    pad_widths: tuple[int, int]

    @classmethod
    def from_arguments(cls, input_size, filter_size, stride, pad):
        """The geometry for a layer's arguments; ``ValueError`` naming the
        argument for bad ones and for a filter larger than the padded input.

        ``pad`` is ``'valid'`` (no padding), ``'full'`` (``filter_size - 1``
        on both sides), ``'same'`` (``filter_size // 2`` on both sides, so the
        output has ``ceil(input_size / stride)`` positions; odd filter sizes
        only, as in Lasagne and :class:`~convnet.layers.Conv2DLayer`) or an
        int or pair of ints (that many zeros on both sides).
        """
        if None in input_size:
            raise ValueError(f"the input rows and columns must be known (each output position has weights of "
                             f"its own), got {tuple(input_size)}")
        filter_size = _pair(filter_size, "filter_size", 1)
        stride = _pair(stride, "stride", 1)
        if isinstance(pad, str):
            if pad not in _PAD_MODES:
                raise ValueError(f"pad must be one of {_PAD_MODES}, an int or a pair of ints, got {pad!r}")
            if pad == "same" and any(f % 2 == 0 for f in filter_size):
                raise ValueError(f"pad='same' needs odd filter sizes, got filter_size {filter_size}")
            width = {"valid": lambda f: 0, "full": lambda f: f - 1, "same": lambda f: f // 2}[pad]
            pad_widths = tuple(width(f) for f in filter_size)
        else:
            pad_widths = _pair(pad, "pad", 0)
        geometry = cls(tuple(input_size), filter_size, stride, pad_widths)
        padded = tuple(s + 2 * w for s, w in zip(input_size, pad_widths))
        if any(p < f for p, f in zip(padded, filter_size)):
            raise ValueError(f"filter_size {filter_size} is larger than the input {tuple(input_size)} padded "
                             f"to {padded} (pad {pad!r})")
        return geometry

    @property
    def output_size(self) -> tuple[int, int]:
        """The output rows and columns."""
        return tuple((s + 2 * w - f) // st + 1
                     for s, w, f, st in zip(self.input_size, self.pad_widths, self.filter_size, self.stride))

    def patches(self, input, channels):
        """Each output position's input patch: ``input`` (batch, channels,
        rows, columns) to (batch, channels, filter rows, filter columns,
        output positions), the positions in row-major order."""
        taps = channels * self.filter_size[0] * self.filter_size[1]
        one_hot = np.eye(taps, dtype=input.dtype).reshape((taps, channels) + self.filter_size)
        gathered = conv2d(input, pt.constant(one_hot), filter_shape=one_hot.shape, border_mode=self.pad_widths,
                          subsample=self.stride, filter_flip=False)
        return gathered.reshape((input.shape[0], channels) + self.filter_size + (int(np.prod(self.output_size)),))


class LocallyConnected2DLayer(Layer):
    """2-D locally connected layer: a convolution without weight sharing,
    ``nonlinearity(local(input, W) + b)``, as Lasagne's.

    ``output[n, f, y, x]`` is the sum over the input channels ``c`` and the
    filter taps ``(i, j)`` of ``padded_input[n, c, y * stride + i, x * stride
    + j] * W[f, c, i', j', y, x]``, where ``(i', j') = (i, j)`` without
    ``flip_filters`` and the mirrored taps with it (as a convolution flips).

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected input shape
        ``(batch, channels, rows, columns)``; all but the batch size must be
        known.
    num_filters : int
        The number of output channels.
    filter_size : int or pair of int
        The filter size ``(rows, columns)``.
    stride : int or pair of int
        The step between output positions. Lasagne only allowed 1.
    pad : 'same', 'valid', 'full', int or pair of int
        The zero padding; ``'same'`` (the default, and all Lasagne allowed;
        odd filter sizes only) keeps the input size with stride 1. See
        :class:`LocalConnection2D`.
    untie_biases : bool
        False: one bias per filter, shape ``(num_filters,)``; True: one per
        filter and output position, ``(num_filters, out_rows, out_cols)``.
    W : initializer, array or expression
        The weights, ``(num_filters, channels, filter_rows, filter_cols,
        out_rows, out_cols)``, or ``(num_filters, filter_rows, filter_cols,
        out_rows, out_cols)`` with ``channelwise``.
    b : initializer, array, expression or None
        The biases; ``None`` for none. Tagged ``regularizable=False``.
    nonlinearity : callable or None
        Applied to the activation; ``None`` means the identity.
    flip_filters : bool
        True (the default) mirrors the filter taps, as a convolution does.
    channelwise : bool
        True: output channel ``f`` only sees input channel ``f``
        (``num_filters`` must equal the number of input channels).
    **kwargs
        Passed to :class:`Layer` (e.g. ``name``).

    Raises
    ------
    ValueError
        For an input that is not 4-D or whose channels, rows or columns are
        unknown, bad ``num_filters``, ``filter_size``, ``stride`` or ``pad``
        (``'same'`` with an even filter size),
        a filter larger than the padded input, and ``channelwise`` with
        ``num_filters`` different from the number of input channels.

    Examples
    --------
    >>> from convnet.layers import InputLayer, LocallyConnected2DLayer
    >>> l_lc = LocallyConnected2DLayer(InputLayer((None, 2, 6, 6)), 2, 3, channelwise=True,
    ...                                untie_biases=True)
    >>> l_lc.W.get_value().shape, l_lc.b.get_value().shape
    ((2, 3, 3, 6, 6), (2, 6, 6))
    """

    def __init__(self, incoming: Incoming, num_filters: int, filter_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = (1, 1), pad: int | tuple[int, int] | str = "same",
                 untie_biases: bool = False, W: ParamSpec = init.GlorotUniform(),
                 b: ParamSpec | None = init.Constant(0.0),
                 nonlinearity: Nonlinearity | None = nonlinearities.rectify, flip_filters: bool = True,
                 channelwise: bool = False, **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        if len(self.input_shape) != 4:
            raise ValueError(f"expected a 4-dimensional input (batch, channels, rows, columns), got input shape "
                             f"{self.input_shape}")
        self.num_input_channels = self.input_shape[1]
        if self.num_input_channels is None:
            raise ValueError(f"the number of input channels must be known, got input shape {self.input_shape}")
        self.num_filters = check_int("num_filters", num_filters, minimum=1)
        self.channelwise = bool(channelwise)
        if self.channelwise and self.num_filters != self.num_input_channels:
            raise ValueError(f"channelwise=True needs num_filters equal to the {self.num_input_channels} input "
                             f"channels, got num_filters={num_filters}")
        self.geometry = LocalConnection2D.from_arguments(self.input_shape[2:], filter_size, stride, pad)
        self.filter_size, self.stride, self.pad = self.geometry.filter_size, self.geometry.stride, pad
        self.untie_biases = untie_biases
        self.flip_filters = flip_filters
        self.nonlinearity = nonlinearities.identity if nonlinearity is None else nonlinearity
        self.W = self.add_param(W, self.get_W_shape(), name="W")
        bias_shape = (self.num_filters,) + (self.geometry.output_size if untie_biases else ())
        self.b = None if b is None else self.add_param(b, bias_shape, name="b", regularizable=False)

    def get_W_shape(self) -> tuple[int, ...]:
        """The shape of ``W``: ``(num_filters, channels) + filter_size +
        (out_rows, out_cols)``, without ``channels`` when ``channelwise``."""
        channels = () if self.channelwise else (self.num_input_channels,)
        return (self.num_filters,) + channels + self.filter_size + self.geometry.output_size

    def get_output_shape_for(self, input_shape: Shape) -> Shape:
        if tuple(input_shape[1:]) != tuple(self.input_shape[1:]):
            raise ValueError(f"the weights were made for inputs of shape {self.input_shape}, got {input_shape}")
        return (input_shape[0], self.num_filters) + self.geometry.output_size

    def get_output_for(self, input, **kwargs):
        patches = self.geometry.patches(input, self.num_input_channels)
        W = self.W[..., ::-1, ::-1, :, :] if self.flip_filters else self.W
        positions = int(np.prod(self.geometry.output_size))
        taps_per_filter = int(np.prod(self.get_W_shape()[1:-2]))
        weights = W.reshape((self.num_filters, taps_per_filter, positions))
        if self.channelwise:
            # (batch, channels, taps, positions) * (channels, taps, positions), summed over the taps
            taps = patches.reshape((input.shape[0], self.num_filters, taps_per_filter, positions))
            activation = (taps * weights).sum(axis=2)
        else:
            # One matrix product per position: (positions, batch, taps) @ (positions, taps, filters)
            taps = patches.reshape((input.shape[0], taps_per_filter, positions)).dimshuffle(2, 0, 1)
            weights = weights.dimshuffle(2, 1, 0)
            activation = pt.matmul(taps, weights).dimshuffle(1, 2, 0)
        activation = activation.reshape((input.shape[0], self.num_filters) + self.geometry.output_size)
        if self.b is not None:
            activation = activation + (self.b.dimshuffle("x", 0, 1, 2) if self.untie_biases
                                       else self.b.dimshuffle("x", 0, "x", "x"))
        return self.nonlinearity(activation)
