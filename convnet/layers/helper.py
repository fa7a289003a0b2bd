"""Functions that work on a whole network given its output layer(s)."""
import functools
import inspect
import warnings
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from difflib import get_close_matches

import numpy as np
from pytensor.graph.basic import Variable
from pytensor.tensor.variable import TensorVariable

from ..typing import Shape, TensorLike
from ..utils import as_tensor_expression, unique
from .base import Layer
from .input import InputLayer

__all__ = [
    "get_all_layers",
    "get_output",
    "get_output_shape",
    "get_all_params",
    "count_params",
    "get_all_param_values",
    "set_all_param_values",
]


def _as_list(layer_or_layers):
    return list(layer_or_layers) if isinstance(layer_or_layers, (list, tuple)) else [layer_or_layers]


def _input_layers_of(layer):
    if hasattr(layer, "input_layers"):
        return [l for l in layer.input_layers if l is not None]
    return [layer.input_layer] if getattr(layer, "input_layer", None) is not None else []


def get_all_layers(layer: Layer | Sequence[Layer], treat_as_input: Iterable[Layer] | None = None) -> list[Layer]:
    """All layers below (and including) ``layer`` or a list of layers, in
    topological order: every layer comes after the layers feeding into it.

    Parameters
    ----------
    layer : Layer or list of Layer
        The output layer(s).
    treat_as_input : list of Layer, optional
        Layers whose inputs are not followed.

    Examples
    --------
    >>> from convnet.layers import InputLayer, DenseLayer, get_all_layers
    >>> l_in = InputLayer((None, 10))
    >>> l_out = DenseLayer(l_in, num_units=3)
    >>> get_all_layers(l_out) == [l_in, l_out]
    True
    """
    stop = set(treat_as_input or [])
    order, done = [], set()
    # Depth-first post-order, iterative so that deep nets don't hit the recursion limit.
    stack = deque((l, False) for l in reversed(_as_list(layer)))
    while stack:
        current, expanded = stack.pop()
        if current in done:
            continue
        if expanded or current in stop:
            done.add(current)
            order.append(current)
            continue
        stack.append((current, True))
        for parent in reversed(_input_layers_of(current)):
            if parent not in done:
                stack.append((parent, False))
    return order


def _check_input_keys(inputs, layer_or_layers):
    """ValueError for keys of an ``inputs`` dict that are not layers of the network:
    they would be silently ignored."""
    not_layers = [key for key in inputs if not isinstance(key, Layer)]
    if not_layers:
        raise ValueError(f"get_output: the keys of inputs must be layers, got {not_layers}")
    network = set(get_all_layers(layer_or_layers))
    foreign = [key for key in inputs if key not in network]
    if foreign:
        raise ValueError(f"get_output: inputs maps layers that are not in this network: {foreign}; "
                         "they would be ignored")


def _input_expression(layer, value):
    """``value`` as the expression replacing ``layer``'s output; ValueError naming the
    layer when its dimensions or known sizes do not fit the layer's output shape."""
    expression = as_tensor_expression(value)
    shape = layer.output_shape
    given = expression.type.shape
    if len(given) != len(shape) or any(a is not None and b is not None and a != b for a, b in zip(given, shape)):
        raise ValueError(f"get_output: the input for {layer!r} has shape {given} ({len(given)}-d), "
                         f"but the layer's output shape is {shape} ({len(shape)}-d; None: any size)")
    return expression


def _layer_inputs(layer, values):
    if hasattr(layer, "input_layers"):
        return [values[l] if l is not None else None for l in layer.input_layers]
    return values[layer.input_layer]


@functools.lru_cache(maxsize=None)
def _named_output_kwargs(layer_class):
    """The keyword arguments ``layer_class.get_output_for`` names."""
    parameters = inspect.signature(layer_class.get_output_for).parameters.values()
    return frozenset(p.name for p in parameters
                     if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in ("self", "input", "inputs"))


def _warn_unused_kwargs(layers, kwargs):
    """Warn, as Lasagne did, about keyword arguments no layer reads: those
    its ``get_output_for`` names or its ``get_output_kwargs`` lists."""
    accepted = {"deterministic"}
    for layer in layers:
        accepted |= _named_output_kwargs(type(layer)) | set(getattr(layer, "get_output_kwargs", ()))
    unused = sorted(set(kwargs) - accepted)
    if unused:
        described = []
        for name in unused:
            close = get_close_matches(name, accepted)
            described.append(f"{name} (perhaps you meant {close[0]})" if close else name)
        warnings.warn("get_output() was called with unused kwargs:\n\t" + "\n\t".join(described), stacklevel=3)


def get_output(layer_or_layers: Layer | Sequence[Layer], inputs: TensorLike | Mapping[Layer, TensorLike] | None = None,
               **kwargs) -> TensorVariable | list[TensorVariable]:
    """The symbolic output of one layer or a list of layers.

    Parameters
    ----------
    layer_or_layers : Layer or list of Layer
        The layer(s) whose output to compute.
    inputs : None, expression, or dict
        ``None`` uses each :class:`InputLayer`'s ``input_var``; a single
        expression (or array) replaces the only input layer; a dict maps
        layers (input layers or any other) to expressions that replace their
        outputs.
    **kwargs
        Passed to every layer's ``get_output_for``, e.g.
        ``deterministic=True`` to turn off dropout and use batch-norm's
        running averages. A keyword no layer reads (one its
        ``get_output_for`` does not name, nor its ``get_output_kwargs``
        list) gives a warning, as in Lasagne, suggesting a close name.

    Examples
    --------
    >>> from convnet.layers import InputLayer, DenseLayer, get_output
    >>> l_out = DenseLayer(InputLayer((None, 10)), num_units=3)
    >>> y = get_output(l_out, deterministic=True)
    >>> y.ndim
    2
    """
    layers = get_all_layers(layer_or_layers, treat_as_input=list(inputs) if isinstance(inputs, dict) else None)
    values = {}
    if isinstance(inputs, dict):
        _check_input_keys(inputs, layer_or_layers)
        values.update({l: _input_expression(l, v) for l, v in inputs.items()})
    elif inputs is not None:
        input_layers = [l for l in layers if isinstance(l, InputLayer)]
        if len(input_layers) != 1:
            raise ValueError(
                f"get_output got a single input expression, but the network has {len(input_layers)} "
                f"input layers {input_layers}; pass a dict {{input_layer: expression}}"
            )
        values[input_layers[0]] = _input_expression(input_layers[0], inputs)
    for layer in layers:
        if layer in values:
            continue
        if isinstance(layer, InputLayer):
            values[layer] = layer.input_var
            continue
        layer_inputs = _layer_inputs(layer, values)
        try:
            values[layer] = layer.get_output_for(layer_inputs, **kwargs)
        except (ValueError, TypeError) as e:
            if str(e).startswith(f"get_output: {layer!r}"):
                raise
            raise type(e)(f"get_output: {layer!r}: {e}") from e
    if kwargs:
        _warn_unused_kwargs(layers, kwargs)
    outputs = [values[l] for l in _as_list(layer_or_layers)]
    return outputs if isinstance(layer_or_layers, (list, tuple)) else outputs[0]


def get_output_shape(layer_or_layers: Layer | Sequence[Layer],
                     input_shapes: Shape | Mapping[Layer, Shape] | None = None) -> Shape | list[Shape]:
    """The output shape(s) of one layer or a list of layers, optionally for
    other input shapes (``input_shapes`` as in :func:`get_output`'s ``inputs``).
    """
    if input_shapes is None:
        shapes = [l.output_shape for l in _as_list(layer_or_layers)]
        return shapes if isinstance(layer_or_layers, (list, tuple)) else shapes[0]
    layers = get_all_layers(
        layer_or_layers, treat_as_input=list(input_shapes) if isinstance(input_shapes, dict) else None
    )
    shapes = {}
    if isinstance(input_shapes, dict):
        shapes.update(input_shapes)
    else:
        input_layers = [l for l in layers if isinstance(l, InputLayer)]
        if len(input_layers) != 1:
            raise ValueError(f"a single input shape was given, but the network has {len(input_layers)} input layers")
        shapes[input_layers[0]] = tuple(input_shapes)
    for layer in layers:
        if layer not in shapes:
            shapes[layer] = layer.get_output_shape_for(_layer_inputs(layer, shapes))
    result = [shapes[l] for l in _as_list(layer_or_layers)]
    return result if isinstance(layer_or_layers, (list, tuple)) else result[0]


def get_all_params(layer: Layer | Sequence[Layer], unwrap_shared: bool = True, **tags: bool) -> list[Variable]:
    """The parameters of every layer below ``layer``, each once, filtered by tags.

    ``get_all_params(net, trainable=True)`` is what an update rule needs;
    ``get_all_params(net, regularizable=True)`` what weight decay needs.
    """
    params = []
    for l in get_all_layers(layer):
        params.extend(l.get_params(unwrap_shared=unwrap_shared, **tags))
    return unique(params)


def count_params(layer: Layer | Sequence[Layer], **tags: bool) -> int:
    """The number of scalar parameters below ``layer`` (filtered by tags).

    >>> from convnet.layers import InputLayer, DenseLayer, count_params
    >>> count_params(DenseLayer(InputLayer((None, 10)), num_units=3))
    33
    """
    return int(sum(np.prod(p.get_value(borrow=True).shape) for p in get_all_params(layer, **tags)))


def get_all_param_values(layer: Layer | Sequence[Layer], **tags: bool) -> list[np.ndarray]:
    """Copies of the values of :func:`get_all_params`, as a list of arrays."""
    return [p.get_value() for p in get_all_params(layer, **tags)]


def set_all_param_values(layer: Layer | Sequence[Layer], values: Sequence[np.ndarray], **tags: bool) -> None:
    """Set the parameters below ``layer`` from a list of arrays, as returned
    by :func:`get_all_param_values`.

    Every count and shape is checked before anything is set: on a mismatch a
    ``ValueError`` names the parameter and the shapes, and no parameter changes.
    """
    params = get_all_params(layer, **tags)
    values = list(values)
    if len(params) != len(values):
        raise ValueError(
            f"set_all_param_values: the network has {len(params)} parameters but {len(values)} values were given"
        )
    arrays = []
    for i, (p, v) in enumerate(zip(params, values)):
        current = p.get_value(borrow=True, return_internal_type=True)
        v = np.asarray(v)
        if v.shape != current.shape:
            raise ValueError(
                f"set_all_param_values: value {i} for parameter {p.name or p} has shape {v.shape}, "
                f"the parameter has shape {current.shape}; nothing was set"
            )
        arrays.append(v.astype(current.dtype, copy=False))
    for p, v in zip(params, arrays):
        p.set_value(v)
