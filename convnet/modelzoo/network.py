"""The object the model-zoo builders return: the layers of a network by name,
with the pre-processing its weights expect."""
from collections import OrderedDict
from collections.abc import Mapping

from ..checkpoint import named_layers
from ..layers import Layer, get_all_layers

__all__ = ["NetworkDict", "layer_mapping", "output_layer_of"]


class NetworkDict(OrderedDict):
    """A network's layers by name (an ``OrderedDict``, output layer last),
    as Lasagne's model zoo returns them, with the pre-processing and class
    names that go with its weights.

    Parameters
    ----------
    layers : iterable of (str, Layer) pairs or Mapping
        The named layers, in topological order: every layer after the
        layers feeding into it, the output layer last.
    preprocessing : Preprocessing or None
        What turns images into this network's input; set by
        :func:`~convnet.modelzoo.load_weights`.
    class_names : list of str or None
        The name of each output class, when the weights come with them
        (the Lasagne pickles' ``'synset words'``).

    Attributes
    ----------
    preprocessing : Preprocessing or None
        See above.
    class_names : list of str or None
        See above.

    Examples
    --------
    >>> from convnet.layers import InputLayer, DenseLayer
    >>> l_in = InputLayer((None, 4), name='input')
    >>> net = NetworkDict([('input', l_in), ('fc', DenseLayer(l_in, 3, name='fc'))])
    >>> list(net), net.output_layer.name
    (['input', 'fc'], 'fc')
    """

    def __init__(self, layers=(), preprocessing=None, class_names=None):
        super().__init__(layers)
        self.preprocessing = preprocessing
        self.class_names = class_names

    @property
    def output_layer(self):
        """The last layer: the network's output."""
        return next(reversed(self.values()))

    def preprocess(self, images, layout=None):
        """Turn RGB images into this network's input with :attr:`preprocessing`.

        Parameters
        ----------
        images : array_like
            See :meth:`Preprocessing.__call__ <convnet.modelzoo.Preprocessing.__call__>`.
        layout : {None, 'HWC', 'NHWC', 'NCHW'}
            The layout of ``images``; None infers it.

        Returns
        -------
        numpy.ndarray
            ``float32`` NCHW input.

        Raises
        ------
        ValueError
            When no pre-processing is known (the network has no weights
            loaded from a file that says how).
        """
        if self.preprocessing is None:
            raise ValueError("this network has no pre-processing: load weights with "
                             "convnet.modelzoo.load_weights, or set net.preprocessing to a Preprocessing")
        return self.preprocessing(images, layout)


def layer_mapping(net):
    """``name -> layer`` for a network given as a mapping or an output layer.

    A mapping (a :class:`NetworkDict` or a Lasagne-style dict whose last
    entry is the output layer) is used with its own keys, and must hold
    every layer with parameters; an output layer gives
    :func:`~convnet.checkpoint.named_layers`.

    Raises
    ------
    ValueError
        When a mapping misses a layer that has parameters, or ``net`` is
        neither a mapping nor a layer.
    """
    if isinstance(net, Layer):
        return named_layers(net)
    if not isinstance(net, Mapping) or not net:
        raise ValueError(f"expected a network: an output layer or a non-empty name -> layer mapping, got {net!r}")
    layers = OrderedDict(net)
    known = set(layers.values())
    output = next(reversed(layers.values()))
    unnamed = [layer for layer in get_all_layers(output) if layer not in known and layer.get_params()]
    if unnamed:
        raise ValueError(f"the network mapping does not name the layers {unnamed} that have parameters "
                         f"(its last entry, {output!r}, is taken as the output layer)")
    return layers


def output_layer_of(net):
    """The output layer of a network given as an output layer or as a
    ``name -> layer`` mapping (its last entry)."""
    return next(reversed(layer_mapping(net).values()))
