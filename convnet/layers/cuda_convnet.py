"""Lasagne's cuda-convnet layers (``lasagne.layers.cuda_convnet``) on the
portable convolution and pooling, with cuda-convnet's ``c01b`` layout
``(channels, rows, columns, batch)`` where asked for (``dimshuffle=False``)
and the layers that convert between layouts.

cuda-convnet's restrictions (square filters, filter counts in multiples of
16, ...) do not apply; ``partial_sum`` is accepted and has no effect.

Examples
--------
>>> from convnet.layers import InputLayer
>>> from convnet.layers.cuda_convnet import Conv2DCCLayer, bc01_to_c01b
>>> l_c01b = bc01_to_c01b(InputLayer((None, 3, 32, 32)))
>>> l_c01b.output_shape
(3, 32, 32, None)
>>> l_conv = Conv2DCCLayer(l_c01b, 16, 5, dimshuffle=False)
>>> l_conv.output_shape, l_conv.W.get_value().shape
((16, 28, 28, None), (3, 5, 5, 16))
"""
import pytensor.tensor as pt

from .. import init, nonlinearities
from ..utils import int_types
from .base import Layer
from .conv import Conv2DLayer
from .pool import MaxPool2DLayer

__all__ = [
    "Conv2DCCLayer",
    "MaxPool2DCCLayer",
    "ShuffleBC01ToC01BLayer",
    "bc01_to_c01b",
    "ShuffleC01BToBC01Layer",
    "c01b_to_bc01",
    "NINLayer_c01b",
]


def _to_bc01(shape):
    return (shape[3], shape[0], shape[1], shape[2])


def _to_c01b(shape):
    return (shape[1], shape[2], shape[3], shape[0])


def _check_4d(shape, layout):
    if len(shape) != 4:
        raise ValueError(f"expected a 4-dimensional {layout} input, got input shape {tuple(shape)}")


class ShuffleBC01ToC01BLayer(Layer):
    """Reorders ``(batch, channels, rows, columns)`` to cuda-convnet's
    ``(channels, rows, columns, batch)``."""

    def get_output_shape_for(self, input_shape):
        _check_4d(input_shape, "bc01")
        return _to_c01b(input_shape)

    def get_output_for(self, input, **kwargs):
        return input.dimshuffle(1, 2, 3, 0)


bc01_to_c01b = ShuffleBC01ToC01BLayer


class ShuffleC01BToBC01Layer(Layer):
    """Reorders cuda-convnet's ``(channels, rows, columns, batch)`` to
    ``(batch, channels, rows, columns)``."""

    def get_output_shape_for(self, input_shape):
        _check_4d(input_shape, "c01b")
        return _to_bc01(input_shape)

    def get_output_for(self, input, **kwargs):
        return input.dimshuffle(3, 0, 1, 2)


c01b_to_bc01 = ShuffleC01BToBC01Layer


class _C01BMixin:
    """A bc01 layer that, with ``dimshuffle=False``, reads and writes c01b."""

    def _layer_input_shape(self, input_shape):
        return input_shape if self.dimshuffle else _to_bc01(input_shape)

    def get_output_shape_for(self, input_shape):
        _check_4d(input_shape, "bc01" if self.dimshuffle else "c01b")
        shape = super().get_output_shape_for(self._layer_input_shape(input_shape))
        return shape if self.dimshuffle else _to_c01b(shape)

    def get_output_for(self, input, **kwargs):
        if self.dimshuffle:
            return super().get_output_for(input, **kwargs)
        return super().get_output_for(input.dimshuffle(3, 0, 1, 2), **kwargs).dimshuffle(1, 2, 3, 0)


class Conv2DCCLayer(_C01BMixin, Conv2DLayer):
    """Lasagne's ``Conv2DCCLayer``: a 2-D convolution that correlates by
    default (``flip_filters=False``, as cuda-convnet did).

    With ``dimshuffle=True`` (default) it is a
    :class:`~convnet.layers.Conv2DLayer` on bc01 input with
    ``(num_filters, channels, rows, columns)`` filters. With
    ``dimshuffle=False`` input and output are c01b and ``W`` has cuda-convnet's
    shape ``(channels, rows, columns, num_filters)``; ``untie_biases`` then
    needs ``dimshuffle=True``.
    """

    def __init__(self, incoming, num_filters, filter_size, stride=(1, 1), pad=0, untie_biases=False,
                 W=init.GlorotUniform(), b=init.Constant(0.0), nonlinearity=nonlinearities.rectify, dimshuffle=True,
                 flip_filters=False, partial_sum=1, **kwargs):
        self.dimshuffle = dimshuffle
        self.partial_sum = partial_sum
        if not dimshuffle and untie_biases:
            raise ValueError("untie_biases=True needs dimshuffle=True (bc01 layout)")
        super().__init__(incoming, num_filters, filter_size, stride, pad, untie_biases, W, b, nonlinearity,
                         flip_filters, **kwargs)

    def get_W_shape(self):
        channels = self._layer_input_shape(self.input_shape)[1]
        if channels is None:
            raise ValueError(f"the number of input channels must be known, got input shape {self.input_shape}")
        if self.dimshuffle:
            return (self.num_filters, channels) + self.filter_size
        return (channels,) + self.filter_size + (self.num_filters,)

    def filters_and_shape(self):
        if self.dimshuffle:
            return super().filters_and_shape()
        channels = self._layer_input_shape(self.input_shape)[1]
        return self.W.dimshuffle(3, 0, 1, 2), (self.num_filters, channels) + self.filter_size

    def convolve(self, input, **kwargs):
        filters, filter_shape = self.filters_and_shape()
        return self.convolution(input, filters, self._layer_input_shape(self.input_shape), filter_shape,
                                border_mode=self.pad_widths(), subsample=self.stride,
                                filter_flip=self.flip_filters, filter_dilation=self.dilation)


class MaxPool2DCCLayer(_C01BMixin, MaxPool2DLayer):
    """Lasagne's ``MaxPool2DCCLayer``: max-pooling that keeps the partial
    windows at the border by default (``ignore_border=False``), as
    cuda-convnet did; c01b input and output with ``dimshuffle=False``."""

    def __init__(self, incoming, pool_size, stride=None, ignore_border=False, dimshuffle=True, **kwargs):
        self.dimshuffle = dimshuffle
        super().__init__(incoming, pool_size, stride, ignore_border=ignore_border, **kwargs)


class NINLayer_c01b(Layer):
    """A network-in-network layer on c01b input: ``(channels, rows, columns,
    batch)`` to ``(num_units, rows, columns, batch)``, with ``W`` of shape
    ``(num_units, channels)``.

    Parameters
    ----------
    incoming : Layer or tuple
        The c01b input; the number of channels must be known.
    num_units : int
        The number of output channels.
    untie_biases : bool
        False: biases of shape ``(num_units,)``; True: ``(num_units, rows,
        columns)``.
    W, b : initializer, array or expression
        Weights ``(num_units, channels)`` and biases (``None``: none).
    nonlinearity : callable or None
        Applied to the activation; ``None`` means the identity.
    """

    def __init__(self, incoming, num_units, untie_biases=False, W=init.GlorotUniform(), b=init.Constant(0.0),
                 nonlinearity=nonlinearities.rectify, **kwargs):
        super().__init__(incoming, **kwargs)
        _check_4d(self.input_shape, "c01b")
        if not isinstance(num_units, int_types) or num_units <= 0:
            raise ValueError(f"num_units must be a positive int, got {num_units!r}")
        if self.input_shape[0] is None:
            raise ValueError(f"the number of input channels (axis 0) must be known, got {self.input_shape}")
        self.num_units = num_units
        self.untie_biases = untie_biases
        self.nonlinearity = nonlinearities.identity if nonlinearity is None else nonlinearity
        self.W = self.add_param(W, (num_units, self.input_shape[0]), name="W")
        if b is None:
            self.b = None
        else:
            bias_shape = (num_units,) + (tuple(self.input_shape[1:3]) if untie_biases else ())
            if None in bias_shape:
                raise ValueError(f"untie_biases=True needs known rows and columns, got {self.input_shape}")
            self.b = self.add_param(b, bias_shape, name="b", regularizable=False)

    def get_output_shape_for(self, input_shape):
        _check_4d(input_shape, "c01b")
        return (self.num_units,) + tuple(input_shape[1:])

    def get_output_for(self, input, **kwargs):
        activation = pt.tensordot(self.W, input, axes=[[1], [0]])
        if self.b is not None:
            pattern = (0, 1, 2, "x") if self.untie_biases else (0, "x", "x", "x")
            activation = activation + self.b.dimshuffle(*pattern)
        return self.nonlinearity(activation)
