"""Embedding: :class:`EmbeddingLayer` maps integer indices to learned vectors."""
from .. import init
from ..typing import ParamSpec
from ..utils import int_types
from .base import Incoming, Layer

__all__ = ["EmbeddingLayer"]


class EmbeddingLayer(Layer):
    """Looks up a learned vector for every integer index of its input:
    ``W[input]``, of shape ``input_shape + (output_size,)``.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one (integer indices in
        ``[0, input_size)``), or the expected input shape. Its output must be
        of an integer type: give the :class:`~convnet.layers.InputLayer` an
        integer ``input_var`` such as ``pt.imatrix()``.
    input_size : int
        The number of distinct indices (the vocabulary size).
    output_size : int
        The length of each vector.
    W : initializer, array or expression
        The vectors, shape ``(input_size, output_size)``.
    **kwargs
        Passed to :class:`~convnet.layers.Layer` (e.g. ``name``).

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> from convnet.layers import InputLayer, EmbeddingLayer, get_output
    >>> l_in = InputLayer((None, 3), input_var=pt.imatrix())
    >>> l_emb = EmbeddingLayer(l_in, input_size=10, output_size=4, W=np.eye(10, 4))
    >>> l_emb.output_shape
    (None, 3, 4)
    >>> get_output(l_emb).eval({l_in.input_var: np.array([[0, 2, 9]], "int32")})[0, 1]
    array([0., 0., 1., 0.], dtype=float32)
    """

    def __init__(self, incoming: Incoming, input_size: int, output_size: int, W: ParamSpec = init.Normal(),
                 **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        for name, value in (("input_size", input_size), ("output_size", output_size)):
            if not isinstance(value, int_types) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.input_size = input_size
        self.output_size = output_size
        self.W = self.add_param(W, (input_size, output_size), name="W")

    def get_output_shape_for(self, input_shape):
        return tuple(input_shape) + (self.output_size,)

    def get_output_for(self, input, **kwargs):
        if not input.dtype.startswith(("int", "uint")):
            raise TypeError(f"{self!r}: the input must hold integer indices, got dtype {input.dtype} "
                            "(give the InputLayer an integer input_var, e.g. pytensor.tensor.imatrix())")
        # Looked up by a flat index vector and reshaped: the gradient of an
        # n-d lookup reshapes by a shape vector JAX's jit cannot make static.
        rows = self.W[input.flatten()]
        return rows.reshape((*[input.shape[i] for i in range(input.ndim)], self.output_size))
