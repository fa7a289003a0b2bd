"""Layers that merge several inputs: concatenation and elementwise
combinations (e.g. the sum of a residual block).

Inputs whose sizes differ can be cropped to the smallest first (as the
skip connections of U-Net need): ``cropping`` gives, per axis, None (no
cropping) or which part to keep, ``'lower'`` (the start), ``'upper'`` (the
end) or ``'center'``::

    >>> from convnet.layers import InputLayer, ConcatLayer
    >>> l_a, l_b = InputLayer((None, 8, 32, 32)), InputLayer((None, 4, 28, 28))
    >>> ConcatLayer([l_a, l_b], cropping=[None, None, 'center', 'center']).output_shape
    (None, 12, 28, 28)
"""
from collections.abc import Callable, Sequence

import pytensor.tensor as pt
from pytensor.tensor.variable import TensorVariable

from ..typing import Shape
from ..utils import check_int
from .base import Incoming, MergeLayer

__all__ = [
    "autocrop",
    "autocrop_array_shapes",
    "ConcatLayer",
    "concat",
    "ElemwiseMergeLayer",
    "ElemwiseSumLayer",
]

_CROP_MODES = ("lower", "upper", "center")


def _crop_modes(cropping, ndim):
    """``cropping`` padded with None to ``ndim`` entries, each checked."""
    modes = list(cropping) + [None] * (ndim - len(cropping))
    unknown = [m for m in modes if m is not None and m not in _CROP_MODES]
    if unknown or len(modes) > ndim:
        raise ValueError(f"cropping {cropping} must have at most {ndim} entries, each None or one of {_CROP_MODES}")
    return modes


def _check_same_ndim(ndims, described):
    if len(set(ndims)) > 1:
        raise ValueError(f"the inputs must have the same number of dimensions, got {described}")


def autocrop(inputs: Sequence[TensorVariable], cropping: Sequence[str | None] | None) -> list[TensorVariable]:
    """Crop symbolic ``inputs`` to the smallest size along the axes
    ``cropping`` names.

    Parameters
    ----------
    inputs : list of TensorVariable
        Tensors with the same number of dimensions.
    cropping : None or list of {None, 'lower', 'upper', 'center'}
        Per axis (missing trailing entries are None): None to leave it, or
        which part of each larger input to keep. None crops nothing.

    Returns
    -------
    list of TensorVariable
        The cropped inputs.

    Examples
    --------
    >>> import numpy as np
    >>> import pytensor.tensor as pt
    >>> from convnet.layers import autocrop
    >>> a, b = pt.vector('a'), pt.vector('b')
    >>> cropped_a, cropped_b = autocrop([a, b], ['center'])
    >>> cropped_a.eval({a: np.arange(5, dtype=a.dtype), b: np.zeros(3, dtype=b.dtype)})
    array([1., 2., 3.], dtype=float32)
    """
    if cropping is None:
        return list(inputs)
    _check_same_ndim([x.ndim for x in inputs], f"{[x.ndim for x in inputs]} dimensions")
    modes = _crop_modes(cropping, inputs[0].ndim)
    indices = [[] for _ in inputs]
    for axis, mode in enumerate(modes):
        if mode is None:
            for index in indices:
                index.append(slice(None))
            continue
        sizes = [x.shape[axis] for x in inputs]
        smallest = pt.min(pt.stack(sizes))
        for index, size in zip(indices, sizes):
            excess = size - smallest
            start = {"lower": 0, "upper": excess, "center": excess // 2}[mode]
            index.append(slice(start, start + smallest))
    return [x[tuple(index)] for x, index in zip(inputs, indices)]


def autocrop_array_shapes(input_shapes: Sequence[Shape], cropping: Sequence[str | None] | None) -> list[Shape]:
    """The shapes :func:`autocrop` gives inputs of ``input_shapes``.

    Parameters
    ----------
    input_shapes : list of tuple
        The input shapes (``None`` for unknown sizes).
    cropping : None or list of {None, 'lower', 'upper', 'center'}
        As for :func:`autocrop`.

    Returns
    -------
    list of tuple
        The cropped shapes; a cropped size is unknown if any input's is.

    Examples
    --------
    >>> from convnet.layers import autocrop_array_shapes
    >>> autocrop_array_shapes([(1, 5, 6), (1, 3, 8)], [None, 'lower', 'center'])
    [(1, 3, 6), (1, 3, 6)]
    """
    if cropping is None:
        return [tuple(s) for s in input_shapes]
    _check_same_ndim([len(s) for s in input_shapes], f"shapes {list(input_shapes)}")
    modes = _crop_modes(cropping, len(input_shapes[0]))
    columns = []
    for mode, sizes in zip(modes, zip(*input_shapes)):
        if mode is not None:
            sizes = [None if None in sizes else min(sizes)] * len(sizes)
        columns.append(sizes)
    return [tuple(shape) for shape in zip(*columns)]


class _CroppingMergeLayer(MergeLayer):
    """Base of the merge layers: inputs cropped by :func:`autocrop`, and
    shapes that must agree (on every axis but the concatenation axis)."""

    def __init__(self, incomings: Sequence[Incoming], cropping: Sequence[str | None] | None = None, **kwargs) -> None:
        super().__init__(incomings, **kwargs)
        if not incomings:
            raise ValueError("needs at least one input")
        self.cropping = cropping

    def _merged_shape(self, input_shapes, free_axis=None):
        """The sizes the cropped inputs agree on (the first known one per
        axis; on ``free_axis`` they may differ) and the cropped shapes, or
        ValueError showing the input shapes."""
        cropped = autocrop_array_shapes(input_shapes, self.cropping)
        ndim = len(cropped[0])
        _check_same_ndim([len(s) for s in cropped], f"shapes {list(input_shapes)}")
        if free_axis is not None:
            if not -ndim <= free_axis < ndim:
                raise ValueError(f"axis {free_axis} is not an axis of the input shapes {list(input_shapes)}")
            free_axis %= ndim
        merged = []
        for axis, sizes in enumerate(zip(*cropped)):
            known = {s for s in sizes if s is not None}
            if axis != free_axis and len(known) > 1:
                raise ValueError(
                    f"input shapes {list(input_shapes)} differ on axis {axis}"
                    + ("" if self.cropping is None else f" after cropping {self.cropping}")
                )
            merged.append(next((s for s in sizes if s is not None), None))
        return merged, cropped


class ConcatLayer(_CroppingMergeLayer):
    """Concatenates the inputs along ``axis``.

    Parameters
    ----------
    incomings : list of Layer or tuple
        The layers to concatenate; their shapes must agree on all other axes
        (after cropping).
    axis : int
        The axis to concatenate along; negative counts from the end.
    cropping : None or list of {None, 'lower', 'upper', 'center'}
        Per-axis cropping of the inputs to their smallest size (see
        :func:`autocrop`); do not crop ``axis``.
    **kwargs
        Passed to :class:`~convnet.layers.MergeLayer` (e.g. ``name``).

    Examples
    --------
    >>> from convnet.layers import InputLayer, ConcatLayer
    >>> ConcatLayer([InputLayer((None, 3)), InputLayer((None, 5))]).output_shape
    (None, 8)
    """

    def __init__(self, incomings: Sequence[Incoming], axis: int = 1, cropping: Sequence[str | None] | None = None,
                 **kwargs) -> None:
        super().__init__(incomings, cropping=cropping, **kwargs)
        self.axis = check_int("axis", axis)

    def get_output_shape_for(self, input_shapes):
        merged, cropped = self._merged_shape(input_shapes, free_axis=self.axis)
        sizes = [shape[self.axis] for shape in cropped]
        merged[self.axis] = None if None in sizes else sum(sizes)
        return tuple(merged)

    def get_output_for(self, inputs, **kwargs):
        inputs = autocrop(inputs, self.cropping)
        # Give each input its known size along the axis: the gradient's Split
        # then has constant sizes, which PyTensor's JAX backend requires.
        axis = self.axis % len(self.input_shapes[0])
        inputs = [
            x if shape[axis] is None else pt.specify_shape(x, (None,) * axis + (shape[axis],) + (None,) * (x.ndim - axis - 1))
            for x, shape in zip(inputs, self.input_shapes)
        ]
        return pt.concatenate(inputs, axis=self.axis)


concat = ConcatLayer  # Lasagne's shortcut


class ElemwiseMergeLayer(_CroppingMergeLayer):
    """Merges inputs of the same shape elementwise with a binary function,
    applied left to right: ``f(f(x0, x1), x2)``.

    Parameters
    ----------
    incomings : list of Layer or tuple
        The layers to merge; their shapes must agree (after cropping).
    merge_function : callable
        A binary elementwise function, such as ``pytensor.tensor.maximum``
        or ``pytensor.tensor.mul``.
    cropping : None or list of {None, 'lower', 'upper', 'center'}
        Per-axis cropping of the inputs to their smallest size (see
        :func:`autocrop`).
    **kwargs
        Passed to :class:`~convnet.layers.MergeLayer` (e.g. ``name``).

    Examples
    --------
    >>> import pytensor.tensor as pt
    >>> from convnet.layers import InputLayer, ElemwiseMergeLayer
    >>> l_a, l_b = InputLayer((None, 10)), InputLayer((None, 10))
    >>> ElemwiseMergeLayer([l_a, l_b], pt.maximum).output_shape
    (None, 10)
    """

    def __init__(self, incomings: Sequence[Incoming], merge_function: Callable[[TensorVariable, TensorVariable], TensorVariable],
                 cropping: Sequence[str | None] | None = None, **kwargs) -> None:
        super().__init__(incomings, cropping=cropping, **kwargs)
        self.merge_function = merge_function

    def get_output_shape_for(self, input_shapes):
        return tuple(self._merged_shape(input_shapes)[0])

    def get_output_for(self, inputs, **kwargs):
        inputs = autocrop(inputs, self.cropping)
        output = inputs[0]
        for input in inputs[1:]:
            output = self.merge_function(output, input)
        return output


class ElemwiseSumLayer(ElemwiseMergeLayer):
    """Sums the inputs elementwise, each optionally weighted:
    ``sum(coeff * input)``, as in residual networks.

    Parameters
    ----------
    incomings : list of Layer or tuple
        The layers to sum; their shapes must agree (after cropping).
    coeffs : float or list of float
        One weight for all inputs, or one per input.
    cropping : None or list of {None, 'lower', 'upper', 'center'}
        Per-axis cropping of the inputs to their smallest size (see
        :func:`autocrop`).
    **kwargs
        Passed to :class:`~convnet.layers.MergeLayer` (e.g. ``name``).

    Examples
    --------
    >>> from convnet.layers import InputLayer, DenseLayer, ElemwiseSumLayer
    >>> l_in = InputLayer((None, 10))
    >>> l_res = ElemwiseSumLayer([l_in, DenseLayer(l_in, num_units=10)])
    >>> l_res.output_shape
    (None, 10)
    >>> ElemwiseSumLayer([l_in, l_in], coeffs=[1, -1]).coeffs
    [1, -1]
    """

    def __init__(self, incomings: Sequence[Incoming], coeffs: float | Sequence[float] = 1,
                 cropping: Sequence[str | None] | None = None, **kwargs) -> None:
        super().__init__(incomings, pt.add, cropping=cropping, **kwargs)
        coeffs = list(coeffs) if isinstance(coeffs, (list, tuple)) else [coeffs] * len(incomings)
        if len(coeffs) != len(incomings):
            raise ValueError(f"got {len(coeffs)} coeffs for {len(incomings)} inputs")
        self.coeffs = coeffs

    def get_output_for(self, inputs, **kwargs):
        weighted = [x if coeff == 1 else x * coeff for coeff, x in zip(self.coeffs, inputs)]
        return super().get_output_for(weighted, **kwargs)
