"""Lasagne's cuDNN layers (``lasagne.layers.dnn``) as aliases of the
portable layers, so that code such as ``from lasagne.layers.dnn import
Conv2DDNNLayer as ConvLayer`` runs unchanged: convnet picks the backend by
device (:mod:`convnet.config`), not by layer class.

The defaults are the cuDNN layers': :class:`Conv2DDNNLayer` and
:class:`Conv3DDNNLayer` correlate (``flip_filters=False``, unlike
:class:`~convnet.layers.Conv2DLayer` and :class:`~convnet.layers.Conv3DLayer`).
:class:`Pool3DDNNLayer` and :class:`MaxPool3DDNNLayer` are
:class:`~convnet.layers.Pool3DLayer`'s.

Examples
--------
>>> from convnet.layers import InputLayer
>>> from convnet.layers.dnn import Conv2DDNNLayer, MaxPool2DDNNLayer
>>> l = MaxPool2DDNNLayer(Conv2DDNNLayer(InputLayer((None, 3, 32, 32)), 16, 3, pad=1), 2)
>>> l.output_shape, l.input_layer.flip_filters
((None, 16, 16, 16), False)
"""
from .. import init, nonlinearities
from ..ops import conv2d, conv3d
from .conv import Conv2DLayer, Conv3DLayer
from .normalization import BatchNormLayer, batch_norm
from .pool import Pool2DLayer, Pool3DLayer, SpatialPyramidPoolingLayer

__all__ = [
    "Conv2DDNNLayer",
    "Conv3DDNNLayer",
    "Pool2DDNNLayer",
    "MaxPool2DDNNLayer",
    "Pool3DDNNLayer",
    "MaxPool3DDNNLayer",
    "SpatialPyramidPoolingDNNLayer",
    "BatchNormDNNLayer",
    "batch_norm_dnn",
    "dnn_enabled",
]

dnn_enabled = True
"""Lasagne's flag; always True, as every layer here runs on every backend."""


class Conv2DDNNLayer(Conv2DLayer):
    """Lasagne's ``Conv2DDNNLayer``: :class:`~convnet.layers.Conv2DLayer`
    with ``flip_filters=False`` by default (cuDNN's cross-correlation), as
    pretrained weights from cuDNN-era Lasagne code expect."""

    def __init__(self, incoming, num_filters, filter_size, stride=(1, 1), pad=0, untie_biases=False,
                 W=init.GlorotUniform(), b=init.Constant(0.0), nonlinearity=nonlinearities.rectify,
                 flip_filters=False, convolution=conv2d, dilation=(1, 1), **kwargs):
        super().__init__(incoming, num_filters, filter_size, stride, pad, untie_biases, W, b, nonlinearity,
                         flip_filters, convolution, dilation, **kwargs)


class Conv3DDNNLayer(Conv3DLayer):
    """Lasagne's ``Conv3DDNNLayer``: :class:`~convnet.layers.Conv3DLayer`
    with ``flip_filters=False`` by default (cuDNN's cross-correlation)."""

    def __init__(self, incoming, num_filters, filter_size, stride=(1, 1, 1), pad=0, untie_biases=False,
                 W=init.GlorotUniform(), b=init.Constant(0.0), nonlinearity=nonlinearities.rectify,
                 flip_filters=False, convolution=conv3d, dilation=(1, 1, 1), **kwargs):
        super().__init__(incoming, num_filters, filter_size, stride, pad, untie_biases, W, b, nonlinearity,
                         flip_filters, convolution, dilation, **kwargs)


class Pool2DDNNLayer(Pool2DLayer):
    """Lasagne's ``Pool2DDNNLayer``: :class:`~convnet.layers.Pool2DLayer`
    (cuDNN pooled whole windows only; ``ignore_border=False`` works here too)."""

    def __init__(self, incoming, pool_size, stride=None, pad=(0, 0), ignore_border=True, mode="max", **kwargs):
        super().__init__(incoming, pool_size, stride, pad, ignore_border=ignore_border, mode=mode, **kwargs)


class MaxPool2DDNNLayer(Pool2DDNNLayer):
    """Lasagne's ``MaxPool2DDNNLayer``: :class:`Pool2DDNNLayer` with ``mode='max'``."""

    def __init__(self, incoming, pool_size, stride=None, pad=(0, 0), ignore_border=True, **kwargs):
        super().__init__(incoming, pool_size, stride, pad, ignore_border, mode="max", **kwargs)


class Pool3DDNNLayer(Pool3DLayer):
    """Lasagne's ``Pool3DDNNLayer``: :class:`~convnet.layers.Pool3DLayer`
    (cuDNN pooled whole windows only; ``ignore_border=False`` works here too)."""

    def __init__(self, incoming, pool_size, stride=None, pad=(0, 0, 0), ignore_border=True, mode="max", **kwargs):
        super().__init__(incoming, pool_size, stride, pad, ignore_border=ignore_border, mode=mode, **kwargs)


class MaxPool3DDNNLayer(Pool3DDNNLayer):
    """Lasagne's ``MaxPool3DDNNLayer``: :class:`Pool3DDNNLayer` with ``mode='max'``."""

    def __init__(self, incoming, pool_size, stride=None, pad=(0, 0, 0), ignore_border=True, **kwargs):
        super().__init__(incoming, pool_size, stride, pad, ignore_border, mode="max", **kwargs)


class SpatialPyramidPoolingDNNLayer(SpatialPyramidPoolingLayer):
    """Lasagne's ``SpatialPyramidPoolingDNNLayer``: one pooling per pyramid
    level, :class:`~convnet.layers.SpatialPyramidPoolingLayer` with
    ``implementation='fast'``."""

    def __init__(self, incoming, pool_dims=(4, 2, 1), mode="max", **kwargs):
        super().__init__(incoming, pool_dims, mode, implementation="fast", **kwargs)


BatchNormDNNLayer = BatchNormLayer
"""Lasagne's ``BatchNormDNNLayer``: :class:`~convnet.layers.BatchNormLayer`
(same parameters, in the same order: beta, gamma, mean, inv_std)."""

batch_norm_dnn = batch_norm
"""Lasagne's ``batch_norm_dnn``: :func:`~convnet.layers.batch_norm`."""
