"""Adapting a pretrained network to a new task: a new classifier head, frozen
layers, parameter groups with their own learning rates, and dense layers
turned into convolutions.

The usual recipe (see the user guide, "Fine-tuning a pretrained VGG-16")::

    net = vgg16(num_classes=5, input_shape=(None, 3, 160, 160), head='global_pool')
    load_weights(net, 'vgg16.pkl', allow_pickle=True, exclude=['fc6', 'fc7', 'fc8'])
    freeze(net, up_to='conv3_3')
    pretrained, new = split_params(net, ['fc8'])
    step = updates.nesterov_momentum(loss, new, lr)
    step.update(updates.nesterov_momentum(loss, pretrained, 0.1 * lr))
"""
import copy
from collections import OrderedDict

from pytensor.tensor.special import softmax

from .. import nonlinearities
from ..layers import (Conv2DLayer, DenseLayer, DropoutLayer, GlobalPoolLayer, InputLayer, Layer, MergeLayer,
                      NonlinearityLayer, get_all_layers, get_all_params)
from ..utils import collect_shared_vars, unique
from .network import NetworkDict, layer_mapping, output_layer_of

__all__ = ["global_pool_head", "replace_head", "freeze", "split_params", "fc_to_conv", "softmax_over_channels"]


def softmax_over_channels(x):
    """Softmax over axis 1, the channels of a ``(batch, classes, rows,
    columns)`` map: the class probabilities at every position.

    >>> import numpy as np
    >>> import pytensor.tensor as pt
    >>> x = pt.tensor4('x')
    >>> p = softmax_over_channels(x).eval({x: np.zeros((1, 4, 2, 2), dtype=x.dtype)})
    >>> float(p[0, :, 1, 1].sum())
    1.0
    """
    return softmax(x, axis=1)


def global_pool_head(base, num_classes, classifier_name="fc8"):
    """A classifier head for any input size: global average pooling of
    ``base``'s feature maps, a dense layer of class scores and a softmax.

    Parameters
    ----------
    base : Layer
        The last convolution or pooling layer, output ``(batch, channels,
        rows, columns)``.
    num_classes : int
        The number of classes.
    classifier_name : str
        The name of the dense layer.

    Returns
    -------
    OrderedDict
        ``'global_pool'`` (:class:`~convnet.layers.GlobalPoolLayer`),
        ``classifier_name`` (:class:`~convnet.layers.DenseLayer` of
        ``num_classes`` units, no nonlinearity) and ``'prob'`` (the softmax).
        Together the last two are a ``DenseLayer(num_classes, softmax)``,
        split so that the class scores are at hand.

    Examples
    --------
    >>> from convnet.layers import InputLayer
    >>> head = global_pool_head(InputLayer((None, 64, 7, 7)), num_classes=5)
    >>> list(head), head['prob'].output_shape
    (['global_pool', 'fc8', 'prob'], (None, 5))
    """
    head = OrderedDict()
    head["global_pool"] = GlobalPoolLayer(base, name="global_pool")
    head[classifier_name] = DenseLayer(head["global_pool"], num_classes, nonlinearity=None, name=classifier_name)
    head["prob"] = NonlinearityLayer(head[classifier_name], nonlinearities.softmax, name="prob")
    return head


def _find(layers, layer_or_name):
    """The layer of the mapping ``layers`` named ``layer_or_name`` (or that
    layer itself), or a ValueError listing the names."""
    if isinstance(layer_or_name, Layer):
        if layer_or_name not in layers.values():
            raise ValueError(f"{layer_or_name!r} is not a layer of this network")
        return layer_or_name
    if layer_or_name not in layers:
        raise ValueError(f"the network has no layer named {layer_or_name!r}; its layers are {list(layers)}")
    return layers[layer_or_name]


def _default_base(output):
    """The layer feeding the first dense or global-pooling layer."""
    for layer in get_all_layers(output):
        if isinstance(layer, (DenseLayer, GlobalPoolLayer)):
            return layer.input_layer
    raise ValueError("the network has no DenseLayer or GlobalPoolLayer whose input would be the base of "
                     "the new head; pass base=")


def _input_layers(layer):
    return list(layer.input_layers) if isinstance(layer, MergeLayer) else [layer.input_layer]


def _reattached(layer, inputs):
    """A copy of ``layer`` that reads from ``inputs`` instead, sharing its
    parameters (and their tags); checks the new input shapes."""
    clone = copy.copy(layer)
    if isinstance(layer, MergeLayer):
        clone.input_layers = list(inputs)
        clone.input_shapes = [l.output_shape for l in inputs]
    else:
        clone.input_layer = inputs[0]
        clone.input_shape = inputs[0].output_shape
    try:
        clone.output_shape  # noqa: B018  (validates the new input shape)
    except ValueError as e:
        raise ValueError(f"{layer!r} cannot take the new input shape: {e}") from e
    return clone


def _any_size(shape):
    """``shape`` with the sizes after the channels unknown."""
    return tuple(shape[:2]) + (None,) * (len(shape) - 2)


def _rebuilt(output, input_shape, replace=None):
    """Copies of ``output`` and the layers below it on new input layers of
    ``input_shape`` (None: :func:`_any_size` of the old one), as an
    ``old layer -> new layer`` dict. ``replace(layer, new_inputs)``, if
    given, may return a layer to use instead of a copy of ``layer``."""
    rebuilt = {}
    for layer in get_all_layers(output):
        if isinstance(layer, InputLayer):
            shape = _any_size(layer.shape) if input_shape is None else tuple(input_shape)
            rebuilt[layer] = InputLayer(shape, name=layer.name)
            continue
        inputs = [rebuilt[parent] for parent in _input_layers(layer)]
        rebuilt[layer] = (replace and replace(layer, inputs)) or _reattached(layer, inputs)
    return rebuilt


def _renamed(net, rebuilt, **attributes):
    """The layers of the mapping ``net`` that were rebuilt, under their names."""
    return NetworkDict(((name, rebuilt[layer]) for name, layer in layer_mapping(net).items() if layer in rebuilt),
                       **attributes)


def replace_head(net, num_classes, base=None, classifier_name="fc8", input_shape=None):
    """Replace a network's classifier by :func:`global_pool_head`: global
    average pooling, a new dense layer of ``num_classes`` scores and a
    softmax, on top of the last convolution or pooling layer (as He et al.
    do), so that the network takes any input size.

    The layers up to ``base`` are kept, sharing their parameters (and
    their ``trainable`` tags) with ``net``, on a new input layer of
    ``input_shape``; the layers above ``base`` are dropped.

    Parameters
    ----------
    net : NetworkDict, Mapping or Layer
        The network: its named layers (the last one the output) or its
        output layer.
    num_classes : int
        The number of classes of the new task.
    base : str, Layer or None
        The layer to put the head on; None takes the input of the first
        dense or global-pooling layer (``pool5`` for VGG).
    classifier_name : str
        The name of the new dense layer.
    input_shape : tuple or None
        The input shape of the new network; None keeps the batch and
        channel sizes and leaves rows and columns unknown (any size).

    Returns
    -------
    NetworkDict or Layer
        For a mapping, a new :class:`NetworkDict`: the kept layers under
        their names, then ``'global_pool'``, ``classifier_name`` and
        ``'prob'`` (with the pre-processing of ``net``, and no class names).
        For a layer, the new output layer.

    Raises
    ------
    ValueError
        For an unknown ``base``, a network without a dense or global-pooling
        layer when ``base`` is None, a kept layer with one of the new
        names, or a layer that cannot take ``input_shape``.

    References
    ----------
    K. He, X. Zhang, S. Ren and J. Sun (2016): Deep Residual Learning for
    Image Recognition. CVPR.

    Examples
    --------
    >>> from convnet.modelzoo import vgg16
    >>> net = replace_head(vgg16(input_shape=(None, 3, 32, 32), width_multiplier=1 / 16), num_classes=2)
    >>> list(net)[-4:], net['input'].output_shape, net['prob'].output_shape
    (['pool5', 'global_pool', 'fc8', 'prob'], (None, 3, None, None), (None, 2))
    """
    layers = layer_mapping(net)
    base_layer = _default_base(output_layer_of(layers)) if base is None else _find(layers, base)
    rebuilt = _rebuilt(base_layer, input_shape)
    head = global_pool_head(rebuilt[base_layer], num_classes, classifier_name)
    if isinstance(net, Layer):
        return head["prob"]
    kept = _renamed(layers, rebuilt, preprocessing=getattr(net, "preprocessing", None))
    clashes = [name for name in head if name in kept]
    if clashes:
        raise ValueError(f"the kept layers {clashes} have the names of the new head's layers; "
                         "rename them or pass another classifier_name")
    kept.update(head)
    return kept


def freeze(net, up_to):
    """Stop training the layers up to ``up_to`` (inclusive): remove the
    ``trainable`` tag from their parameters, so that
    ``get_all_params(..., trainable=True)`` and the update rules leave them
    alone.

    Parameters
    ----------
    net : NetworkDict, Mapping or Layer
        The network (named layers, or the output layer).
    up_to : str or Layer
        The last layer to freeze; it and every layer feeding into it are
        frozen.

    Returns
    -------
    list of SharedVariable
        The parameters that were trainable and are now frozen.

    Raises
    ------
    ValueError
        When ``up_to`` is not a layer of the network.

    Examples
    --------
    >>> from convnet.layers import get_all_params
    >>> from convnet.modelzoo import vgg16
    >>> net = vgg16(input_shape=(None, 3, 32, 32), width_multiplier=1 / 16)
    >>> [p.name for p in freeze(net, up_to='conv1_2')]
    ['conv1_1.W', 'conv1_1.b', 'conv1_2.W', 'conv1_2.b']
    >>> len(get_all_params(net['prob'], trainable=True))
    28
    """
    target = _find(layer_mapping(net), up_to)
    frozen = []
    for layer in get_all_layers(target):
        for param, tags in layer.params.items():
            if "trainable" in tags:
                tags.discard("trainable")
                frozen.append(param)
    return unique(v for param in frozen for v in collect_shared_vars(param))


def split_params(net, new_layers):
    """The trainable parameters in two groups, pretrained and new, to give
    them their own learning rates.

    Fine-tuned layers learn best a little slower than a new head
    (Kruthiventi et al. train the pretrained layers at a tenth of the new
    layers' rate). With :mod:`convnet.updates`, two lines::

        pretrained, new = split_params(net, ['fc8'])
        step = updates.nesterov_momentum(loss, new, learning_rate)
        step.update(updates.nesterov_momentum(loss, pretrained, 0.1 * learning_rate))

    ``learning_rate`` may be a shared variable; both groups then follow its
    schedule.

    Parameters
    ----------
    net : NetworkDict, Mapping or Layer
        The network (named layers, or the output layer).
    new_layers : str, Layer or iterable of them
        The new layer(s) (names or layers), e.g. the head of
        :func:`replace_head`.

    Returns
    -------
    pretrained : list of SharedVariable
        The trainable parameters of every other layer (frozen ones are in
        neither group).
    new : list of SharedVariable
        The trainable parameters of ``new_layers``.

    Raises
    ------
    ValueError
        When a name in ``new_layers`` is not a layer of the network.

    References
    ----------
    S. S. Kruthiventi, K. Ayush and R. V. Babu (2017): DeepFix: A Fully
    Convolutional Neural Network for Predicting Human Eye Fixations. IEEE
    Transactions on Image Processing 26(9).

    Examples
    --------
    >>> from convnet.modelzoo import vgg16
    >>> net = vgg16(num_classes=2, input_shape=(None, 3, 32, 32), head='global_pool', width_multiplier=1 / 16)
    >>> pretrained, new = split_params(net, ['fc8'])
    >>> len(pretrained), [p.name for p in new]
    (26, ['fc8.W', 'fc8.b'])
    """
    layers = layer_mapping(net)
    if isinstance(new_layers, (str, Layer)):
        new_layers = [new_layers]
    new = unique(p for layer in new_layers for p in _find(layers, layer).get_params(trainable=True))
    new_set = set(new)
    pretrained = [p for p in get_all_params(output_layer_of(layers), trainable=True) if p not in new_set]
    return pretrained, new


def _dense_as_conv(dense, incoming, flip_filters):
    """A convolution equivalent to ``dense`` on ``incoming``'s feature maps,
    its filters a reshaped view of the dense weights."""
    if len(incoming.output_shape) != 4:
        raise ValueError(f"{dense!r}: its input {incoming!r} has output shape {incoming.output_shape}, not a "
                         "(batch, channels, rows, columns) feature map; fc_to_conv converts dense layers that "
                         "follow convolution or pooling layers")
    if dense.num_leading_axes != 1:
        raise ValueError(f"{dense!r}: only dense layers with num_leading_axes=1 can be converted")
    # A dense layer after a dense layer sees a flat vector: a 1x1 convolution.
    filter_size = tuple(dense.input_shape[2:]) if len(dense.input_shape) == 4 else (1, 1)
    # DenseLayer flattens (channels, rows, columns) in C order, so W's rows reshape to filters.
    filters = dense.W.T.reshape((dense.num_units, incoming.output_shape[1]) + filter_size)
    if flip_filters:
        filters = filters[:, :, ::-1, ::-1]
    nonlinearity = softmax_over_channels if dense.nonlinearity is nonlinearities.softmax else dense.nonlinearity
    conv = Conv2DLayer(incoming, dense.num_units, filter_size, pad="valid", W=filters, b=dense.b,
                       nonlinearity=nonlinearity, flip_filters=flip_filters, name=dense.name)
    conv.params[conv.W] = dense.params[dense.W]
    if dense.b is not None:
        conv.params[conv.b] = dense.params[dense.b]
    return conv


def fc_to_conv(net, input_shape=None, flip_filters=False):
    """Turn the dense layers on top of convolutions into convolutions, so
    the network slides over images larger than it was built for.

    Karpathy's trick: the first dense layer, on ``(C, H, W)`` feature maps,
    becomes a convolution with ``num_units`` filters of size ``H x W``
    (``fc6``: 4096 7x7 filters for VGG at 224x224) without padding; later
    dense layers become 1x1 convolutions; a softmax becomes a softmax over
    the channels (:func:`softmax_over_channels`). On an input of the
    original size the output is the original output with two axes of size
    one appended; on a larger input it is a map of outputs, one per
    position of a window of the original size (stride 32 for VGG).

    The filters are reshaped views of the dense weights (flipped when
    ``flip_filters``, so the result is the same either way): the converted
    network shares every parameter with the original, so both read the
    same weight files and training one trains the other.

    Parameters
    ----------
    net : NetworkDict, Mapping or Layer
        The network (named layers, the last one the output; or the output
        layer). Every layer after the first dense layer must be a
        :class:`~convnet.layers.DenseLayer`,
        :class:`~convnet.layers.DropoutLayer` or
        :class:`~convnet.layers.NonlinearityLayer`.
    input_shape : tuple or None
        The input shape of the converted network; None keeps the batch and
        channel sizes and leaves rows and columns unknown (any size).
    flip_filters : bool
        The ``flip_filters`` of the new convolutions.

    Returns
    -------
    NetworkDict or Layer
        For a mapping, a new :class:`NetworkDict` with the same names (and
        pre-processing and class names); for a layer, the new output layer.

    Raises
    ------
    ValueError
        When a dense layer does not follow a feature map, a layer of
        another kind follows the first dense layer, or a layer cannot take
        ``input_shape``.

    References
    ----------
    A. Karpathy: CS231n, Convolutional Neural Networks for Visual
    Recognition, "Converting FC layers to CONV layers".

    Examples
    --------
    >>> from convnet.modelzoo import vgg16
    >>> net = vgg16(input_shape=(None, 3, 64, 64), width_multiplier=1 / 16)
    >>> conv_net = fc_to_conv(net)
    >>> conv_net['fc6'].filter_size, conv_net['prob'].output_shape
    ((2, 2), (None, 1000, None, None))
    >>> fc_to_conv(net, input_shape=(None, 3, 128, 128))['prob'].output_shape
    (None, 1000, 3, 3)
    """
    output = output_layer_of(net)
    above_dense = set()

    def converted(layer, inputs):
        if not (isinstance(layer, DenseLayer) or any(p in above_dense for p in _input_layers(layer))):
            return None  # below the dense layers: copied
        above_dense.add(layer)
        if isinstance(layer, DenseLayer):
            return _dense_as_conv(layer, inputs[0], flip_filters)
        if isinstance(layer, NonlinearityLayer):
            nonlinearity = layer.nonlinearity
            nonlinearity = softmax_over_channels if nonlinearity is nonlinearities.softmax else nonlinearity
            return NonlinearityLayer(inputs[0], nonlinearity, name=layer.name)
        if isinstance(layer, DropoutLayer):
            return None  # copied
        raise ValueError(f"fc_to_conv cannot convert {layer!r}: only DenseLayer, DropoutLayer and "
                         "NonlinearityLayer may follow the first dense layer")

    rebuilt = _rebuilt(output, input_shape, converted)
    if isinstance(net, Layer):
        return rebuilt[output]
    return _renamed(net, rebuilt, preprocessing=getattr(net, "preprocessing", None),
                    class_names=getattr(net, "class_names", None))
