"""Fully connected layers: :class:`DenseLayer` and the per-position
:class:`NINLayer` (network in network, a 1x1 convolution)."""
import numpy as np
import pytensor.tensor as pt

from .. import init, nonlinearities
from ..typing import Nonlinearity, ParamSpec
from ..utils import check_int
from .base import Incoming, Layer

__all__ = ["DenseLayer", "NINLayer"]


class DenseLayer(Layer):
    """A fully connected layer: ``nonlinearity(dot(input, W) + b)``.

    All axes after the first ``num_leading_axes`` are flattened into one
    feature axis, which ``W`` maps to ``num_units`` units; the leading axes
    (by default the batch axis) are kept.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected input shape.
    num_units : int
        The number of units of the layer.
    W : initializer, array or expression
        The weights, of shape ``(num_inputs, num_units)`` where
        ``num_inputs`` is the product of the trailing input dimensions.
    b : initializer, array, expression or None
        The biases, of shape ``(num_units,)``; ``None`` for no biases.
        Biases are tagged ``regularizable=False``.
    nonlinearity : callable or None
        Applied to the activation; ``None`` means the identity.
    num_leading_axes : int
        How many leading axes to keep; the remaining axes are flattened. A
        negative number counts from the end: ``-1`` applies the layer to the
        last axis only, keeping all others.
    **kwargs
        Passed to :class:`Layer` (e.g. ``name``).

    Raises
    ------
    ValueError
        When ``num_leading_axes`` leaves no trailing axis, or when a trailing
        input dimension is unknown (``None``).

    Examples
    --------
    >>> from convnet.layers import InputLayer, DenseLayer
    >>> l_in = InputLayer((None, 1, 28, 28))
    >>> l_hidden = DenseLayer(l_in, num_units=100)
    >>> l_hidden.output_shape, l_hidden.W.get_value().shape
    ((None, 100), (784, 100))

    Applied to the last axis of a sequence, keeping the time axis:

    >>> DenseLayer(InputLayer((None, 20, 50)), 10, num_leading_axes=-1).output_shape
    (None, 20, 10)
    """

    def __init__(self, incoming: Incoming, num_units: int, W: ParamSpec = init.GlorotUniform(),
                 b: ParamSpec | None = init.Constant(0.0), nonlinearity: Nonlinearity | None = nonlinearities.rectify,
                 num_leading_axes: int = 1, **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        self.nonlinearity = nonlinearities.identity if nonlinearity is None else nonlinearity
        self.num_units = check_int("num_units", num_units, minimum=1)
        num_leading_axes = check_int("num_leading_axes", num_leading_axes)
        ndim = len(self.input_shape)
        if num_leading_axes >= ndim:
            raise ValueError(
                f"num_leading_axes={num_leading_axes} for input shape {self.input_shape} leaves no "
                "trailing axes for the dot product"
            )
        if num_leading_axes < -ndim:
            raise ValueError(
                f"num_leading_axes={num_leading_axes} for input shape {self.input_shape} asks for more "
                "trailing axes than the input has"
            )
        self.num_leading_axes = num_leading_axes
        trailing = self.input_shape[num_leading_axes:]
        if any(d is None for d in trailing):
            raise ValueError(
                f"the trailing input dimensions {trailing} (input shape {self.input_shape}, "
                f"num_leading_axes={num_leading_axes}) must be known to size W"
            )
        num_inputs = int(np.prod(trailing))
        self.W = self.add_param(W, (num_inputs, num_units), name="W")
        self.b = None if b is None else self.add_param(b, (num_units,), name="b", regularizable=False)

    def get_output_shape_for(self, input_shape):
        return tuple(input_shape[: self.num_leading_axes]) + (self.num_units,)

    def get_output_for(self, input, **kwargs):
        num_leading_axes = self.num_leading_axes % input.ndim
        if input.ndim > num_leading_axes + 1:
            # The trailing size as an int, not -1 (flatten): the graph then knows
            # it, and the gradient of W needs no shape check.
            trailing = int(np.prod(self.input_shape[num_leading_axes:]))
            input = input.reshape((*input.shape[:num_leading_axes], trailing))
        activation = pt.dot(input, self.W)
        if self.b is not None:
            activation = activation + self.b
        return self.nonlinearity(activation)


class NINLayer(Layer):
    """Network-in-network layer [1]_: a dense layer applied at every position,
    mapping the channels (axis 1) of a ``(batch, channels, ...)`` input to
    ``num_units`` channels, like a convolution with filter size 1.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected input shape; the
        number of channels (axis 1) must be known.
    num_units : int
        The number of output channels.
    untie_biases : bool
        False: one bias per unit, shared over positions, shape
        ``(num_units,)``. True: a bias per unit and position, shape
        ``(num_units,) + input_shape[2:]`` (the trailing dimensions must be
        known).
    W : initializer, array or expression
        The weights, of shape ``(num_input_channels, num_units)``.
    b : initializer, array, expression or None
        The biases; ``None`` for no biases. Tagged ``regularizable=False``.
    nonlinearity : callable or None
        Applied to the activation; ``None`` means the identity.
    **kwargs
        Passed to :class:`Layer` (e.g. ``name``).

    References
    ----------
    .. [1] Min Lin, Qiang Chen and Shuicheng Yan (2013): Network in network.
       arXiv:1312.4400.

    Examples
    --------
    >>> from convnet.layers import InputLayer, NINLayer
    >>> l_nin = NINLayer(InputLayer((None, 16, 32, 32)), num_units=8)
    >>> l_nin.output_shape, l_nin.W.get_value().shape
    ((None, 8, 32, 32), (16, 8))
    """

    def __init__(self, incoming: Incoming, num_units: int, untie_biases: bool = False,
                 W: ParamSpec = init.GlorotUniform(), b: ParamSpec | None = init.Constant(0.0),
                 nonlinearity: Nonlinearity | None = nonlinearities.rectify, **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        self.nonlinearity = nonlinearities.identity if nonlinearity is None else nonlinearity
        self.num_units = num_units = check_int("num_units", num_units, minimum=1)
        self.untie_biases = untie_biases
        if len(self.input_shape) < 2:
            raise ValueError(f"expected an input of shape (batch, channels, ...), got {self.input_shape}")
        num_input_channels = self.input_shape[1]
        if num_input_channels is None:
            raise ValueError(f"the number of input channels must be known, got input shape {self.input_shape}")
        self.W = self.add_param(W, (num_input_channels, num_units), name="W")
        if b is None:
            self.b = None
        else:
            bias_shape = (num_units,) + (self.input_shape[2:] if untie_biases else ())
            if None in bias_shape:
                raise ValueError(f"untie_biases=True needs known trailing dimensions, got input shape "
                                 f"{self.input_shape}")
            self.b = self.add_param(b, bias_shape, name="b", regularizable=False)

    def get_output_shape_for(self, input_shape):
        return (input_shape[0], self.num_units) + tuple(input_shape[2:])

    def get_output_for(self, input, **kwargs):
        # (batch, ..., channels) @ (channels, units) -> (batch, ..., units) -> (batch, units, ...).
        # A matmul rather than a tensordot, whose reshapes have sizes the JAX backend cannot trace.
        trailing_axes = range(2, input.ndim)
        channels_last = input.dimshuffle(0, *trailing_axes, 1)
        activation = pt.matmul(channels_last, self.W).dimshuffle(0, input.ndim - 1, *range(1, input.ndim - 1))
        if self.b is not None:
            bias_axes = range(1, input.ndim - 1) if self.untie_biases else ["x"] * (input.ndim - 2)
            activation = activation + self.b.dimshuffle("x", 0, *bias_axes)
        return self.nonlinearity(activation)
