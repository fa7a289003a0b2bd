"""The residual networks for CIFAR-10 of He et al. (2016), section 4.2.

``6n + 2`` layers with weights: a 3x3 convolution of 16 filters, three
stages of ``n`` residual blocks (two 3x3 convolutions each) with 16, 32 and
64 filters, the first block of the second and third stage halving the size
with stride 2, then global average pooling and a dense softmax layer. Every
convolution is batch-normalized before its rectifier (Ioffe & Szegedy); a
block adds its input to its output (an :class:`~convnet.layers.ElemwiseSumLayer`)
before the last rectifier.

References
----------
K. He, X. Zhang, S. Ren and J. Sun (2016): Deep Residual Learning for Image
Recognition. CVPR. arXiv:1512.03385.
"""
import numbers

from .. import init, nonlinearities
from ..layers import (Conv2DLayer, ElemwiseSumLayer, ExpressionLayer, InputLayer, NonlinearityLayer, PadLayer,
                      batch_norm, get_all_layers)
from .finetune import global_pool_head
from .network import NetworkDict

__all__ = ["resnet_cifar"]

_STAGE_FILTERS = (16, 32, 64)
_SHORTCUTS = ("A", "B")


def _conv_bn(incoming, num_filters, filter_size, stride, nonlinearity, name):
    """A convolution without bias, batch normalization, then ``nonlinearity``."""
    conv = Conv2DLayer(incoming, num_filters, filter_size, stride=stride, pad="same", nonlinearity=nonlinearity,
                       W=init.HeNormal(gain="relu"), flip_filters=False, name=name)
    return batch_norm(conv)


def _subsample(x):
    return x[:, :, ::2, ::2]


def _subsampled_shape(shape):
    return shape[:2] + tuple(None if s is None else (s + 1) // 2 for s in shape[2:])


def _shortcut(incoming, num_filters, shortcut, name):
    """The identity, or when the block halves the size and doubles the
    filters: option A (every other pixel, zero channels added) or option B
    (a strided 1x1 convolution, batch-normalized)."""
    if incoming.output_shape[1] == num_filters:
        return incoming
    if shortcut == "B":
        return _conv_bn(incoming, num_filters, 1, 2, None, name)
    subsampled = ExpressionLayer(incoming, _subsample, _subsampled_shape, name=name)
    added = num_filters - incoming.output_shape[1]
    return PadLayer(subsampled, [(added // 2, added - added // 2)], batch_ndim=1, name=f"{name}_pad")


def _residual_block(incoming, num_filters, stride, shortcut, name):
    residual = _conv_bn(incoming, num_filters, 3, stride, nonlinearities.rectify, f"{name}_conv1")
    residual = _conv_bn(residual, num_filters, 3, 1, None, f"{name}_conv2")
    identity = _shortcut(incoming, num_filters, shortcut, f"{name}_shortcut")
    total = ElemwiseSumLayer([residual, identity], name=f"{name}_sum")
    return NonlinearityLayer(total, nonlinearities.rectify, name=f"{name}_relu")


def resnet_cifar(n, num_classes=10, shortcut="A", input_shape=(None, 3, 32, 32)):
    """Build the CIFAR residual network of ``6n + 2`` layers as a
    :class:`NetworkDict`.

    Parameters
    ----------
    n : int
        Residual blocks per stage: 3, 5, 7, 9 and 18 give ResNet-20, -32,
        -44, -56 and -110.
    num_classes : int
        The number of output classes.
    shortcut : {'A', 'B'}
        How a block that halves the size and doubles the filters adds its
        input: ``'A'`` (the paper's choice for CIFAR, no parameters) takes
        every other pixel and pads the new channels with zeros; ``'B'``
        projects with a batch-normalized 1x1 convolution of stride 2. Other
        blocks add their input unchanged.
    input_shape : tuple
        ``(batch, channels, rows, columns)``.

    Returns
    -------
    NetworkDict
        Every layer by name: ``input``, ``conv1`` (with ``conv1_bn`` and
        ``conv1_bn_nonlin``), then per block ``stage{s}_block{b}_conv1``,
        ``..._conv2`` (each with its ``_bn`` layers), ``..._shortcut``
        where the shape changes, ``..._sum`` and ``..._relu``; finally
        ``global_pool``, ``fc`` (class scores) and ``prob`` (softmax).

    Raises
    ------
    ValueError
        For ``n < 1``, an unknown shortcut option, or an input the layers
        cannot handle.

    Examples
    --------
    >>> from convnet.layers import count_params
    >>> net = resnet_cifar(3)                      # ResNet-20
    >>> net['prob'].output_shape, count_params(net['prob'], trainable=True)
    ((None, 10), 269722)
    >>> net['stage3_block1_sum'].output_shape
    (None, 64, 8, 8)
    """
    if not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n (residual blocks per stage) must be a positive integer, got {n!r}")
    if shortcut not in _SHORTCUTS:
        raise ValueError(f"shortcut must be one of {_SHORTCUTS}, got {shortcut!r}")
    layer = InputLayer(tuple(input_shape), name="input")
    layer = _conv_bn(layer, _STAGE_FILTERS[0], 3, 1, nonlinearities.rectify, "conv1")
    for stage, num_filters in enumerate(_STAGE_FILTERS, 1):
        for block in range(1, n + 1):
            stride = 2 if stage > 1 and block == 1 else 1
            layer = _residual_block(layer, num_filters, stride, shortcut, f"stage{stage}_block{block}")
    head = global_pool_head(layer, num_classes, classifier_name="fc")
    return NetworkDict((layer.name, layer) for layer in get_all_layers(head["prob"]))
