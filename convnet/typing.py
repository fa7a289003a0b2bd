"""Type aliases of convnet's public API, for annotations in user code.

Examples
--------
>>> from convnet.typing import Shape
>>> def batch_of(shape: Shape) -> Shape:
...     return (None,) + shape[1:]
>>> batch_of((1, 3, 32, 32))
(None, 3, 32, 32)

The layer an argument may be built on, :data:`convnet.layers.Incoming`
(a :class:`~convnet.layers.Layer` or a shape), lives with the layers.
"""
from collections.abc import Callable
from typing import TypeAlias

import numpy as np
from pytensor.graph.basic import Variable
from pytensor.tensor.variable import TensorVariable

__all__ = ["Shape", "TensorLike", "ParamSpec", "Nonlinearity"]

Shape: TypeAlias = tuple[int | None, ...]
"""A layer's input or output shape, with ``None`` for sizes known only at run time."""

TensorLike: TypeAlias = Variable | np.ndarray | float | int
"""Anything ``pytensor.tensor.as_tensor_variable`` accepts, such as a
symbolic tensor, an array or a number."""

ParamSpec: TypeAlias = Variable | np.ndarray | Callable[[tuple[int, ...]], np.ndarray | Variable]
"""How a layer's parameter is given (see :func:`convnet.utils.create_param`):
a shared variable or expression used as is, an array to copy, or a callable,
such as a :mod:`convnet.init` initializer, called with the shape."""

Nonlinearity: TypeAlias = Callable[[TensorVariable], TensorVariable]
"""An activation function, taking a symbolic tensor and returning one of the same shape."""
