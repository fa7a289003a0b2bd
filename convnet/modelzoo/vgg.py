"""VGG networks (Simonyan & Zisserman 2015), configurations D (VGG-16) and E
(VGG-19), with the layer names of Lasagne's model zoo.

Every convolution is 3x3 with padding 1 and a rectifier; groups of them are
followed by 2x2 max-pooling; then come two dense layers of 4096 rectified
units with dropout, the class scores ``fc8`` and the softmax ``prob``. The
convolutions correlate (``flip_filters=False``): the pretrained weights,
from Caffe and from torchvision, were trained that way.

References
----------
K. Simonyan and A. Zisserman (2015): Very Deep Convolutional Networks for
Large-Scale Image Recognition. ICLR. arXiv:1409.1556.
"""
import numbers

from .. import nonlinearities
from ..layers import Conv2DLayer, DenseLayer, DropoutLayer, InputLayer, MaxPool2DLayer, NonlinearityLayer
from .finetune import fc_to_conv, global_pool_head
from .network import NetworkDict

__all__ = ["VGG_CONFIGS", "vgg", "vgg16", "vgg19", "vgg_weight_layer_names"]

#: The convolution groups of each VGG configuration, one ``(filters,
#: convolutions)`` pair per group, each group followed by 2x2 max-pooling;
#: 16 is configuration D, 19 configuration E.
VGG_CONFIGS = {
    16: ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)),
    19: ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4)),
}

_DENSE_UNITS = 4096
_HEADS = ("dense", "global_pool", "conv")


def _scaled(size, width_multiplier):
    return max(1, int(round(size * width_multiplier)))


def vgg_weight_layer_names(depth):
    """The names of the layers with weights of VGG-``depth``, in order.

    Parameters
    ----------
    depth : {16, 19}
        The VGG configuration.

    Returns
    -------
    list of str
        ``conv1_1``, ..., ``fc6``, ``fc7``, ``fc8``.

    Examples
    --------
    >>> names = vgg_weight_layer_names(16)
    >>> len(names), names[:3], names[-4:]
    (16, ['conv1_1', 'conv1_2', 'conv2_1'], ['conv5_3', 'fc6', 'fc7', 'fc8'])
    """
    if depth not in VGG_CONFIGS:
        raise ValueError(f"unknown VGG depth {depth!r}; expected one of {sorted(VGG_CONFIGS)}")
    convs = [f"conv{group}_{i}" for group, (_, count) in enumerate(VGG_CONFIGS[depth], 1)
             for i in range(1, count + 1)]
    return convs + ["fc6", "fc7", "fc8"]


def vgg(depth, num_classes=1000, input_shape=(None, 3, 224, 224), head="dense", width_multiplier=1.0):
    """Build VGG-16 or VGG-19 as a :class:`NetworkDict` of named layers.

    Parameters
    ----------
    depth : {16, 19}
        The configuration: 16 (D) or 19 (E) layers with weights.
    num_classes : int
        The number of output classes (``fc8``'s units).
    input_shape : tuple
        ``(batch, channels, rows, columns)``. With the dense head the size
        fixes ``fc6``'s weights (7x7 positions of ``pool5`` at 224x224).
    head : {'dense', 'global_pool', 'conv'}
        What follows ``pool5``:

        * ``'dense'``: ``fc6``, ``fc6_dropout``, ``fc7``, ``fc7_dropout``,
          ``fc8``, ``prob``, as in the paper and Lasagne's model zoo;
        * ``'global_pool'``: ``global_pool`` (average of each feature map),
          ``fc8``, ``prob``, which takes any input size
          (see :func:`replace_head`);
        * ``'conv'``: the dense head turned into convolutions by
          :func:`fc_to_conv`, sliding over images of any size at least
          ``input_shape``'s: ``prob`` is a map of class probabilities. The
          input layer then has unknown rows and columns.
    width_multiplier : float
        Scales the number of filters of every convolution and the units of
        ``fc6`` and ``fc7`` (rounded, at least 1): ``1 / 16`` gives a VGG
        small enough to train on a laptop CPU.

    Returns
    -------
    NetworkDict
        The layers by name: ``input``, ``conv1_1``, ..., ``pool1``, ...,
        ``pool5``, then the head's layers, ``prob`` last.

    Raises
    ------
    ValueError
        For an unknown depth or head, a non-positive ``width_multiplier``,
        or an input the layers cannot handle (the layer names itself).

    Examples
    --------
    >>> from convnet.layers import count_params
    >>> net = vgg(16, num_classes=10, input_shape=(None, 3, 32, 32), width_multiplier=1 / 16)
    >>> net['conv1_1'].num_filters, net['fc6'].num_units, net['prob'].output_shape
    (4, 256, (None, 10))
    >>> count_params(net['prob'])
    134638
    """
    if depth not in VGG_CONFIGS:
        raise ValueError(f"unknown VGG depth {depth!r}; expected one of {sorted(VGG_CONFIGS)}")
    if head not in _HEADS:
        raise ValueError(f"unknown head {head!r}; expected one of {_HEADS}")
    if not isinstance(width_multiplier, numbers.Real) or width_multiplier <= 0:
        raise ValueError(f"width_multiplier must be a positive number, got {width_multiplier!r}")
    net = NetworkDict()
    layer = net["input"] = InputLayer(tuple(input_shape), name="input")
    for group, (filters, count) in enumerate(VGG_CONFIGS[depth], 1):
        for i in range(1, count + 1):
            name = f"conv{group}_{i}"
            layer = net[name] = Conv2DLayer(layer, _scaled(filters, width_multiplier), 3, pad=1,
                                            flip_filters=False, name=name)
        layer = net[f"pool{group}"] = MaxPool2DLayer(layer, 2, name=f"pool{group}")
    if head == "global_pool":
        net.update(global_pool_head(layer, num_classes, classifier_name="fc8"))
        return net
    units = _scaled(_DENSE_UNITS, width_multiplier)
    for name in ("fc6", "fc7"):
        layer = net[name] = DenseLayer(layer, units, name=name)
        layer = net[f"{name}_dropout"] = DropoutLayer(layer, p=0.5, name=f"{name}_dropout")
    layer = net["fc8"] = DenseLayer(layer, num_classes, nonlinearity=None, name="fc8")
    net["prob"] = NonlinearityLayer(layer, nonlinearities.softmax, name="prob")
    return fc_to_conv(net) if head == "conv" else net


def vgg16(num_classes=1000, input_shape=(None, 3, 224, 224), head="dense", width_multiplier=1.0):
    """VGG-16 (configuration D): 13 convolutions and 3 dense layers.

    See :func:`vgg` for the parameters. The 1000-class network with the
    dense head has 138,357,544 parameters, the numbers of the Lasagne model
    zoo's ``vgg16.pkl`` and torchvision's ``vgg16``.

    Examples
    --------
    >>> net = vgg16(num_classes=2, input_shape=(None, 3, 64, 64), head='global_pool', width_multiplier=1 / 8)
    >>> list(net)[-4:], net['prob'].output_shape
    (['pool5', 'global_pool', 'fc8', 'prob'], (None, 2))
    """
    return vgg(16, num_classes, input_shape, head, width_multiplier)


def vgg19(num_classes=1000, input_shape=(None, 3, 224, 224), head="dense", width_multiplier=1.0):
    """VGG-19 (configuration E): 16 convolutions and 3 dense layers.

    See :func:`vgg` for the parameters. The 1000-class network with the
    dense head has 143,667,240 parameters.

    Examples
    --------
    >>> net = vgg19(input_shape=(None, 3, 32, 32), width_multiplier=1 / 16)
    >>> [name for name in net if name.startswith('conv5')]
    ['conv5_1', 'conv5_2', 'conv5_3', 'conv5_4']
    """
    return vgg(19, num_classes, input_shape, head, width_multiplier)
