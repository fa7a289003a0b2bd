"""Lasagne's ``lasagne.layers.corrmm`` (Theano's GEMM-based convolution):
:class:`Conv2DMMLayer`, an alias of :class:`~convnet.layers.Conv2DLayer`
that correlates by default (``flip_filters=False``), as Lasagne's did.

Examples
--------
>>> from convnet.layers import InputLayer
>>> from convnet.layers.corrmm import Conv2DMMLayer
>>> Conv2DMMLayer(InputLayer((None, 3, 8, 8)), 4, 3).flip_filters
False
"""
from .. import init, nonlinearities
from ..ops import conv2d
from .conv import Conv2DLayer

__all__ = ["Conv2DMMLayer"]


class Conv2DMMLayer(Conv2DLayer):
    """Lasagne's ``Conv2DMMLayer``: :class:`~convnet.layers.Conv2DLayer` with
    ``flip_filters=False`` by default."""

    def __init__(self, incoming, num_filters, filter_size, stride=(1, 1), pad=0, untie_biases=False,
                 W=init.GlorotUniform(), b=init.Constant(0.0), nonlinearity=nonlinearities.rectify,
                 flip_filters=False, convolution=conv2d, dilation=(1, 1), **kwargs):
        super().__init__(incoming, num_filters, filter_size, stride, pad, untie_biases, W, b, nonlinearity,
                         flip_filters, convolution, dilation, **kwargs)
