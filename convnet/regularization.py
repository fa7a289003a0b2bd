"""Penalties on the parameters of a network, to add to the training loss.

:func:`l1` and :func:`l2` compute the penalty of one tensor;
:func:`apply_penalty` sums a penalty over several tensors. Three functions
collect the parameters to penalize from layers, by default those tagged
``regularizable`` (weights, not biases):

* :func:`regularize_layer_params`: the parameters of a layer or a list of
  layers;
* :func:`regularize_layer_params_weighted`: several layers, each with its own
  coefficient;
* :func:`regularize_network_params`: all layers below (and including) a
  layer.

Examples
--------
>>> import pytensor.tensor as pt
>>> from convnet.layers import InputLayer, DenseLayer, get_output
>>> from convnet.nonlinearities import softmax
>>> from convnet.objectives import categorical_crossentropy
>>> from convnet.regularization import (l1, l2, regularize_layer_params,
...                                     regularize_layer_params_weighted)
>>> layer_in = InputLayer((100, 20))
>>> layer1 = DenseLayer(layer_in, num_units=3)
>>> layer2 = DenseLayer(layer1, num_units=5, nonlinearity=softmax)
>>> y = pt.ivector('y')
>>> loss = categorical_crossentropy(get_output(layer2), y).mean()
>>> l2_penalty = regularize_layer_params_weighted({layer1: 0.1, layer2: 0.5}, l2)
>>> l1_penalty = regularize_layer_params(layer2, l1) * 1e-4
>>> loss = loss + l2_penalty + l1_penalty
"""
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Variable
from pytensor.tensor.variable import TensorVariable

from .layers import Layer, get_all_params
from .typing import TensorLike

__all__ = [
    "l1",
    "l2",
    "apply_penalty",
    "regularize_layer_params",
    "regularize_layer_params_weighted",
    "regularize_network_params",
]


def l1(x: TensorLike) -> TensorVariable:
    """The L1 norm of a tensor: the sum of the absolute values of its elements.

    Parameters
    ----------
    x : TensorVariable
        The tensor.

    Returns
    -------
    TensorVariable
        A scalar.

    Examples
    --------
    >>> import numpy as np
    >>> float(l1(np.array([-1.0, 2.0])).eval())
    3.0
    """
    return pt.sum(pt.abs(x))


def l2(x: TensorLike) -> TensorVariable:
    """The squared L2 norm of a tensor: the sum of the squares of its elements.

    Parameters
    ----------
    x : TensorVariable
        The tensor.

    Returns
    -------
    TensorVariable
        A scalar.

    Examples
    --------
    >>> import numpy as np
    >>> float(l2(np.array([-1.0, 2.0])).eval())
    5.0
    """
    return pt.sum(pt.sqr(x))


def apply_penalty(tensor_or_tensors: TensorLike | Sequence[TensorLike], penalty: Callable[..., TensorVariable],
                  **kwargs) -> TensorVariable:
    """The sum of `penalty` over a tensor or a list of tensors.

    Parameters
    ----------
    tensor_or_tensors : TensorVariable or list of TensorVariable
        The tensor(s) to penalize.
    penalty : callable
        Maps a tensor to a scalar, e.g. :func:`l1` or :func:`l2`.
    **kwargs
        Passed to `penalty`.

    Returns
    -------
    TensorVariable
        A scalar: the total penalty (0 for an empty list).

    Examples
    --------
    >>> import numpy as np
    >>> float(apply_penalty([np.ones(2), np.ones(3)], l2).eval())
    5.0
    """
    if isinstance(tensor_or_tensors, (Variable, np.ndarray)):
        return penalty(tensor_or_tensors, **kwargs)
    return sum(penalty(x, **kwargs) for x in tensor_or_tensors)


def regularize_layer_params(layer: Layer | Sequence[Layer], penalty: Callable[..., TensorVariable],
                            tags: Mapping[str, bool] = {"regularizable": True}, **kwargs) -> TensorVariable:  # noqa: B006  (never mutated)
    """The penalty of the parameters of a layer or list of layers.

    Parameters
    ----------
    layer : Layer or list of Layer
        The layer(s) whose own parameters to penalize (not those of the layers
        below; see :func:`regularize_network_params` for that).
    penalty : callable
        Maps a tensor to a scalar, e.g. :func:`l1` or :func:`l2`.
    tags : dict
        Which parameters: passed to ``layer.get_params(**tags)``; by default
        those tagged ``regularizable``.
    **kwargs
        Passed to `penalty`.

    Returns
    -------
    TensorVariable
        A scalar: the total penalty.
    """
    layers = [layer] if isinstance(layer, Layer) else layer
    params = [param for each in layers for param in each.get_params(**tags)]
    return apply_penalty(params, penalty, **kwargs)


def regularize_layer_params_weighted(layers: Mapping[Layer, float], penalty: Callable[..., TensorVariable],
                                     tags: Mapping[str, bool] = {"regularizable": True},
                                     **kwargs) -> TensorVariable:  # noqa: B006
    """The penalty of the parameters of several layers, each layer's penalty
    weighted by its own coefficient.

    Parameters
    ----------
    layers : dict
        Maps each :class:`~convnet.layers.Layer` to its coefficient.
    penalty : callable
        Maps a tensor to a scalar, e.g. :func:`l1` or :func:`l2`.
    tags : dict
        Which parameters: passed to ``layer.get_params(**tags)``; by default
        those tagged ``regularizable``.
    **kwargs
        Passed to `penalty`.

    Returns
    -------
    TensorVariable
        A scalar: ``sum(coefficient * penalty of the layer's parameters)``.
    """
    return sum(coeff * apply_penalty(layer.get_params(**tags), penalty, **kwargs) for layer, coeff in layers.items())


def regularize_network_params(layer: Layer | Sequence[Layer], penalty: Callable[..., TensorVariable],
                              tags: Mapping[str, bool] = {"regularizable": True}, **kwargs) -> TensorVariable:  # noqa: B006
    """The penalty of the parameters of all layers of a network.

    Parameters
    ----------
    layer : Layer or list of Layer
        The output layer(s): the parameters of these and all layers below
        them are penalized, each once.
    penalty : callable
        Maps a tensor to a scalar, e.g. :func:`l1` or :func:`l2`.
    tags : dict
        Which parameters: passed to
        :func:`convnet.layers.get_all_params`; by default those tagged
        ``regularizable``.
    **kwargs
        Passed to `penalty`.

    Returns
    -------
    TensorVariable
        A scalar: the total penalty.
    """
    return apply_penalty(get_all_params(layer, **tags), penalty, **kwargs)
