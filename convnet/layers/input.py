"""The network's entry point."""
from collections import OrderedDict

import pytensor
import pytensor.tensor as pt
from pytensor.tensor.variable import TensorVariable

from ..typing import Shape
from ..utils import int_types
from .base import Layer

__all__ = ["InputLayer"]


class InputLayer(Layer):
    """Holds the symbolic input of a network.

    Parameters
    ----------
    shape : tuple of int or None
        The input's shape; ``None`` for dimensions that vary (usually the
        batch size).
    input_var : TensorVariable, optional
        The variable to use; by default one of ``floatX`` dtype with the right
        number of dimensions (and the known dimensions as static shape) is made.
    name : str, optional
        A name for the layer.

    Examples
    --------
    >>> from convnet.layers import InputLayer
    >>> l_in = InputLayer((None, 1, 28, 28))
    >>> l_in.input_var.type.shape
    (None, 1, 28, 28)
    """

    def __init__(self, shape: Shape, input_var: TensorVariable | None = None, name: str | None = None,
                 **kwargs) -> None:
        self.shape = tuple(shape)
        if any(d is not None and (not isinstance(d, int_types) or d <= 0) for d in self.shape):
            raise ValueError(f"shape {self.shape} must contain positive integers or None")
        if input_var is None:
            var_name = f"{name}.input" if name else "input"
            input_var = pt.tensor(name=var_name, dtype=pytensor.config.floatX, shape=self.shape)
        elif input_var.ndim != len(self.shape):
            raise ValueError(
                f"input_var has {input_var.ndim} dimensions but shape {self.shape} has {len(self.shape)}"
            )
        self.input_var = input_var
        self.name = name
        self.params = OrderedDict()
        self.input_layer = None
        self.input_shape = self.shape
        self.get_output_kwargs = []

    @property
    def output_shape(self):
        return self.shape
