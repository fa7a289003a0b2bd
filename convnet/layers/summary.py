"""A table of a network's layers, as Keras' ``model.summary()`` and
nolearn's layer info print them.

:func:`summary` lists every layer with its name, type, output shape,
parameter count and receptive field, then the trainable, non-trainable and
total parameter counts. Printing the table renders it as text;
:class:`~convnet.estimator.NeuralNet` prints it when ``verbose``.

The receptive field of a layer is the extent, in input pixels, of the input
window one output value of the layer depends on: ``5x5`` after two 3x3
convolutions, ``all`` once a dense, global pooling or reshaping layer mixes
all positions, empty for inputs without spatial axes. Through a merge layer
the widest of its inputs' fields is shown.

Examples
--------
>>> from convnet.layers import InputLayer, Conv2DLayer, MaxPool2DLayer, DenseLayer, summary
>>> l_in = InputLayer((None, 1, 28, 28), name='input')
>>> l_conv = Conv2DLayer(l_in, num_filters=8, filter_size=3, name='conv')
>>> l_pool = MaxPool2DLayer(l_conv, pool_size=2, name='pool')
>>> l_out = DenseLayer(l_pool, num_units=10, name='output')
>>> print(summary(l_out))
name    type            output shape       params  receptive field
------  --------------  -----------------  ------  ---------------
input   InputLayer      (None, 1, 28, 28)       0  1x1
conv    Conv2DLayer     (None, 8, 26, 26)      80  3x3
pool    MaxPool2DLayer  (None, 8, 13, 13)       0  4x4
output  DenseLayer      (None, 10)         13,530  all
<BLANKLINE>
trainable parameters: 13,610
non-trainable parameters: 0
total parameters: 13,610
>>> summary(l_out).total_params
13610
"""
import math
from typing import NamedTuple

import numpy as np

from .conv import BaseConvLayer, TransposedConv2DLayer
from .dense import DenseLayer
from .helper import get_all_layers
from .input import InputLayer
from .local import LocallyConnected2DLayer
from .pool import GlobalPoolLayer, Pool2DLayer, Upscale2DLayer
from .shape import FlattenLayer, ReshapeLayer
from .transform import TPSTransformerLayer, TransformerLayer

__all__ = ["summary", "Summary", "LayerSummary"]


class LayerSummary(NamedTuple):
    """One row of a :class:`Summary`."""

    name: str
    type: str
    output_shape: tuple
    params: int
    trainable_params: int
    receptive_field: object  # tuple of int per spatial axis, "all", or None


class Summary:
    """The table :func:`summary` returns: ``rows`` (one :class:`LayerSummary`
    per layer, inputs first) and the parameter counts ``trainable_params``,
    ``total_params`` and ``non_trainable_params``. ``str()`` renders it as
    a text table."""

    columns = ("name", "type", "output shape", "params", "receptive field")

    def __init__(self, rows):
        self.rows = list(rows)
        self.trainable_params = sum(row.trainable_params for row in self.rows)
        self.total_params = sum(row.params for row in self.rows)
        self.non_trainable_params = self.total_params - self.trainable_params

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __str__(self):
        cells = [(row.name, row.type, str(row.output_shape), f"{row.params:,}",
                  _field_text(row.receptive_field)) for row in self.rows]
        widths = [max(len(text) for text in column) for column in zip(self.columns, *cells)]
        right = (False, False, False, True, False)

        def line(texts):
            return "  ".join(t.rjust(w) if r else t.ljust(w) for t, w, r in zip(texts, widths, right)).rstrip()

        lines = [line(self.columns), line(["-" * w for w in widths]), *map(line, cells), "",
                 f"trainable parameters: {self.trainable_params:,}",
                 f"non-trainable parameters: {self.non_trainable_params:,}",
                 f"total parameters: {self.total_params:,}"]
        return "\n".join(lines)

    def __repr__(self):
        return f"<Summary of {len(self.rows)} layers, {self.total_params:,} parameters>"


def _field_text(field):
    if field is None:
        return ""
    if field == "all":
        return "all"
    return "x".join(f"{size:g}" for size in field)


def summary(layer):
    """The layers below ``layer`` (or a list of output layers) as a table.

    Parameters
    ----------
    layer : Layer or list of Layer
        The output layer(s) of the network.

    Returns
    -------
    Summary
        Rows in topological order (see
        :func:`~convnet.layers.get_all_layers`); unnamed layers are shown as
        ``layer{i}``, their position. A parameter shared by several layers is
        counted once, at the first.

    Examples
    --------
    >>> from convnet.layers import InputLayer, DenseLayer
    >>> table = summary(DenseLayer(InputLayer((None, 10)), num_units=3))
    >>> [(row.name, row.params) for row in table.rows]
    [('layer0', 0), ('layer1', 33)]
    """
    seen = set()
    fields = {}
    rows = []
    for index, current in enumerate(get_all_layers(layer)):
        params, trainable = 0, 0
        trainable_set = set(current.get_params(trainable=True))
        for param in current.get_params():
            if param in seen:
                continue
            seen.add(param)
            size = int(np.prod(param.get_value(borrow=True).shape))
            params += size
            trainable += size if param in trainable_set else 0
        fields[current] = _receptive_field(current, fields)
        field = fields[current]
        rows.append(LayerSummary(current.name or f"layer{index}", type(current).__name__, current.output_shape,
                                 params, trainable, None if field is None else field[0]))
    return Summary(rows)


def _receptive_field(layer, fields):
    """``(size, jump)`` of ``layer``'s outputs in input pixels, per spatial
    axis (``jump``: the distance between neighbouring outputs); ``("all",
    None)`` once all positions are mixed; None without spatial axes."""
    if isinstance(layer, InputLayer):
        spatial = len(layer.shape) - 2
        return ((1,) * spatial, (1,) * spatial) if spatial > 0 else None
    if isinstance(layer, (TransformerLayer, TPSTransformerLayer)):
        return ("all", None)  # a transform may read any position
    inputs = getattr(layer, "input_layers", None) or [layer.input_layer]
    known = [fields.get(incoming) for incoming in inputs]
    if any(field is None for field in known):
        return None
    if any(field[0] == "all" for field in known) or isinstance(
            layer, (DenseLayer, GlobalPoolLayer, FlattenLayer, ReshapeLayer)):
        return ("all", None)
    size = tuple(max(sizes) for sizes in zip(*(field[0] for field in known)))
    jump = tuple(max(jumps) for jumps in zip(*(field[1] for field in known)))
    if isinstance(layer, TransposedConv2DLayer):
        # each output gathers ceil(filter / stride) inputs per axis, and the
        # outputs are stride times denser than the inputs
        size = tuple(s + (math.ceil(f / st) - 1) * j for s, f, st, j in zip(size, layer.filter_size, layer.stride, jump))
        jump = tuple(j / st for j, st in zip(jump, layer.stride))
    elif isinstance(layer, BaseConvLayer):
        window = tuple((f - 1) * d + 1 for f, d in zip(layer.filter_size, layer.dilation))
        size = tuple(s + (w - 1) * j for s, w, j in zip(size, window, jump))
        jump = tuple(j * st for j, st in zip(jump, layer.stride))
    elif isinstance(layer, (Pool2DLayer, LocallyConnected2DLayer)):
        window = layer.pool_size if isinstance(layer, Pool2DLayer) else layer.filter_size
        size = tuple(s + (w - 1) * j for s, w, j in zip(size, window, jump))
        jump = tuple(j * st for j, st in zip(jump, layer.stride))
    elif isinstance(layer, Upscale2DLayer):
        jump = tuple(j / f for j, f in zip(jump, layer.scale_factor))
    return size, jump
