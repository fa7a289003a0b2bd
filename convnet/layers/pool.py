"""Pooling layers: spatial pooling (:class:`Pool1DLayer`, :class:`Pool2DLayer`,
:class:`Pool3DLayer`, :class:`MaxPool1DLayer`, :class:`MaxPool2DLayer`,
:class:`MaxPool3DLayer`), global pooling (:class:`GlobalPoolLayer`), upscaling
(:class:`Upscale1DLayer`, :class:`Upscale2DLayer`, :class:`Upscale3DLayer`) and
pooling across feature maps (:class:`FeaturePoolLayer` for maxout,
:class:`FeatureWTALayer`).

The spatial pooling layers keep their window arguments in one
:class:`~convnet.ops.pool.geometry.PoolGeometry` (``layer.geometry``), which validates
them with the same rules and messages as the pooling Ops."""
from collections.abc import Callable, Sequence

import pytensor.tensor as pt
from pytensor.tensor.variable import TensorVariable

from ..ops.pool import Pool, PoolGeometry, pool2d
from ..utils import check_int, int_types, shape_with_known_sizes
from .base import Incoming, Layer
from .conv import _positive_tuple

__all__ = [
    "Pool1DLayer",
    "MaxPool1DLayer",
    "Pool2DLayer",
    "MaxPool2DLayer",
    "Pool3DLayer",
    "MaxPool3DLayer",
    "GlobalPoolLayer",
    "SpatialPyramidPoolingLayer",
    "Upscale1DLayer",
    "Upscale2DLayer",
    "Upscale3DLayer",
    "FeaturePoolLayer",
    "FeatureWTALayer",
]

_SPATIAL_AXES = {1: "length", 2: "rows, columns", 3: "depth, rows, columns"}


def _check_ndim(input_shape, n):
    if len(input_shape) != n + 2:
        raise ValueError(f"expected a {n + 2}-dimensional input (batch, channels, {_SPATIAL_AXES[n]}), "
                         f"got input shape {tuple(input_shape)}")


def _per_axis(value, n):
    """Lasagne's shorthand: a single int stands for ``n`` equal ones."""
    return (value,) * n if isinstance(value, int_types) else value


class _PoolLayer(Layer):
    """Pooling over the ``n`` trailing axes (``n`` = 1, 2 or 3) of a
    ``(batch, channels, ...)`` input; see :class:`Pool2DLayer`."""

    n = 2

    def __init__(self, incoming: Incoming, pool_size: int | tuple[int, ...],
                 stride: int | tuple[int, ...] | None = None, pad: int | tuple[int, ...] = 0,
                 ignore_border: bool = True, mode: str = "max", **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        n = self.n
        _check_ndim(self.input_shape, n)
        self.geometry = PoolGeometry(_per_axis(pool_size, n), None if stride is None else _per_axis(stride, n),
                                     _per_axis(pad, n), ignore_border, mode, ndim=n, window_name="pool_size")

    # Lasagne's attributes, read from the geometry.
    pool_size = property(lambda self: self.geometry.ws, doc="The window size, one per pooled axis.")
    stride = property(lambda self: self.geometry.stride, doc="The step between windows, one per pooled axis.")
    pad = property(lambda self: self.geometry.pad, doc="The padding on each side, one per pooled axis.")
    ignore_border = property(lambda self: self.geometry.ignore_border, doc="Whether partial windows are dropped.")
    mode = property(lambda self: self.geometry.mode, doc="The pooling mode.")

    def get_output_shape_for(self, input_shape):
        _check_ndim(input_shape, self.n)
        return tuple(input_shape[:2]) + self.geometry.output_lengths(input_shape[2:])

    def get_output_for(self, input, **kwargs):
        return Pool.from_geometry(self.geometry)(input)


class Pool1DLayer(_PoolLayer):
    """1-D pooling over the last axis of a ``(batch, channels, length)``
    input; the arguments are :class:`Pool2DLayer`'s, with one length each.

    Examples
    --------
    >>> from convnet.layers import InputLayer, Pool1DLayer
    >>> Pool1DLayer(InputLayer((None, 4, 11)), pool_size=3, stride=2, mode='average_inc_pad').output_shape
    (None, 4, 5)
    """

    n = 1

    def __init__(self, incoming: Incoming, pool_size: int | tuple[int, ...],
                 stride: int | tuple[int, ...] | None = None, pad: int | tuple[int, ...] = 0,
                 ignore_border: bool = True, mode: str = "max", **kwargs) -> None:
        super().__init__(incoming, pool_size, stride, pad, ignore_border, mode, **kwargs)


class MaxPool1DLayer(Pool1DLayer):
    """1-D max-pooling: :class:`Pool1DLayer` with ``mode='max'``.

    Examples
    --------
    >>> from convnet.layers import InputLayer, MaxPool1DLayer
    >>> MaxPool1DLayer(InputLayer((None, 4, 11)), pool_size=2, ignore_border=False).output_shape
    (None, 4, 6)
    """

    def __init__(self, incoming: Incoming, pool_size: int | tuple[int, ...],
                 stride: int | tuple[int, ...] | None = None, pad: int | tuple[int, ...] = 0,
                 ignore_border: bool = True, **kwargs) -> None:
        super().__init__(incoming, pool_size, stride, pad, ignore_border, mode="max", **kwargs)


class Pool2DLayer(_PoolLayer):
    """2-D pooling over the two trailing axes of a
    ``(batch, channels, rows, columns)`` input.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected 4-D input shape.
    pool_size : int or pair of int
        The size of the pooling regions.
    stride : int, pair of int or None
        The step between pooling regions; ``None`` means ``pool_size``
        (regions that do not overlap).
    pad : int or pair of int
        Padding added on both sides of each axis; smaller than
        ``pool_size``, and only with ``ignore_border=True``. Padded positions
        never win a max.
    ignore_border : bool
        True: only whole pooling regions count. False: a last, partial region
        covers what is left over at the end of an axis.
    mode : {'max', 'sum', 'average_inc_pad', 'average_exc_pad', 'l2'}
        The maximum, the sum, the mean counting padded zeros
        (``average_inc_pad``) or only the input (``average_exc_pad``), or the
        root of the sum of squares.
    **kwargs
        Passed to :class:`Layer` (e.g. ``name``).

    Raises
    ------
    ValueError
        For an input that is not 4-D, non-positive ``pool_size`` or
        ``stride``, padding not smaller than ``pool_size`` or with
        ``ignore_border=False``, an unknown mode, or a pooling region larger
        than the padded input (with ``ignore_border=True``).

    See Also
    --------
    MaxPool2DLayer : Shortcut for max-pooling.

    Examples
    --------
    >>> from convnet.layers import InputLayer, Pool2DLayer
    >>> l_in = InputLayer((None, 16, 32, 32))
    >>> Pool2DLayer(l_in, pool_size=2, mode='average_exc_pad').output_shape
    (None, 16, 16, 16)
    >>> Pool2DLayer(l_in, pool_size=3, stride=2, ignore_border=False).output_shape
    (None, 16, 16, 16)
    """

    def __init__(self, incoming: Incoming, pool_size: int | tuple[int, ...], stride: int | tuple[int, ...] | None = None,
                 pad: int | tuple[int, ...] = (0, 0), ignore_border: bool = True, mode: str = "max",
                 **kwargs) -> None:
        super().__init__(incoming, pool_size, stride, pad, ignore_border, mode, **kwargs)


class MaxPool2DLayer(Pool2DLayer):
    """2-D max-pooling: :class:`Pool2DLayer` with ``mode='max'``.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected 4-D input shape.
    pool_size : int or pair of int
        The size of the pooling regions.
    stride : int, pair of int or None
        The step between pooling regions; ``None`` means ``pool_size``.
    pad : int or pair of int
        Padding on both sides of each axis (see :class:`Pool2DLayer`).
    ignore_border : bool
        Whether to drop partial regions at the end of an axis.
    **kwargs
        Passed to :class:`Layer` (e.g. ``name``).

    Examples
    --------
    >>> from convnet.layers import InputLayer, MaxPool2DLayer
    >>> MaxPool2DLayer(InputLayer((None, 16, 28, 28)), pool_size=2).output_shape
    (None, 16, 14, 14)
    """

    def __init__(self, incoming: Incoming, pool_size: int | tuple[int, ...], stride: int | tuple[int, ...] | None = None, pad: int | tuple[int, ...] = (0, 0),
                 ignore_border: bool = True, **kwargs) -> None:
        super().__init__(incoming, pool_size, stride, pad, ignore_border, mode="max", **kwargs)


class Pool3DLayer(_PoolLayer):
    """3-D pooling over the three trailing axes of a
    ``(batch, channels, depth, rows, columns)`` input (Lasagne's
    ``Pool3DLayer``, which ran Theano's ``pool_3d``).

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected 5-D input shape.
    pool_size : int or triple of int
        The size of the pooling regions ``(depth, rows, columns)``.
    stride : int, triple of int or None
        The step between pooling regions; ``None`` means ``pool_size``.
    pad : int or triple of int
        Padding on both sides of each axis; smaller than ``pool_size``, and
        only with ``ignore_border=True``.
    ignore_border : bool
        True: only whole pooling regions count. False: a last, partial region
        covers what is left over at the end of an axis.
    mode : {'max', 'sum', 'average_inc_pad', 'average_exc_pad', 'l2'}
        As for :class:`Pool2DLayer` (Lasagne documents ``'max'``,
        ``'average_inc_pad'`` and ``'average_exc_pad'``).
    **kwargs
        Passed to :class:`Layer` (e.g. ``name``).

    Raises
    ------
    ValueError
        As :class:`Pool2DLayer`, for an input that is not 5-D.

    Examples
    --------
    >>> from convnet.layers import InputLayer, Pool3DLayer
    >>> l_in = InputLayer((None, 8, 9, 16, 16))
    >>> Pool3DLayer(l_in, pool_size=2, mode='average_inc_pad').output_shape
    (None, 8, 4, 8, 8)
    >>> Pool3DLayer(l_in, pool_size=(3, 2, 2), stride=(2, 2, 2), pad=(1, 0, 0)).output_shape
    (None, 8, 5, 8, 8)
    """

    n = 3

    def __init__(self, incoming: Incoming, pool_size: int | tuple[int, ...],
                 stride: int | tuple[int, ...] | None = None, pad: int | tuple[int, ...] = (0, 0, 0),
                 ignore_border: bool = True, mode: str = "max", **kwargs) -> None:
        super().__init__(incoming, pool_size, stride, pad, ignore_border, mode, **kwargs)


class MaxPool3DLayer(Pool3DLayer):
    """3-D max-pooling: :class:`Pool3DLayer` with ``mode='max'``.

    Examples
    --------
    >>> from convnet.layers import InputLayer, MaxPool3DLayer
    >>> MaxPool3DLayer(InputLayer((None, 8, 5, 7, 7)), pool_size=2, ignore_border=False).output_shape
    (None, 8, 3, 4, 4)
    """

    def __init__(self, incoming: Incoming, pool_size: int | tuple[int, ...],
                 stride: int | tuple[int, ...] | None = None, pad: int | tuple[int, ...] = (0, 0, 0),
                 ignore_border: bool = True, **kwargs) -> None:
        super().__init__(incoming, pool_size, stride, pad, ignore_border, mode="max", **kwargs)


class GlobalPoolLayer(Layer):
    """Pools each feature map of a ``(batch, channels, ...)`` input to one
    value, over all axes after the second.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected input shape (3 or
        more dimensions).
    pool_function : callable
        Called as ``pool_function(x, axis=(2, ..., ndim - 1))`` to reduce all
        trailing axes, e.g. ``pytensor.tensor.mean`` (the default),
        ``pytensor.tensor.max`` or ``pytensor.tensor.sum``.
    **kwargs
        Passed to :class:`Layer` (e.g. ``name``).

    Examples
    --------
    >>> import pytensor.tensor as pt
    >>> from convnet.layers import InputLayer, GlobalPoolLayer
    >>> GlobalPoolLayer(InputLayer((None, 64, 7, 7)), pool_function=pt.max).output_shape
    (None, 64)
    """

    def __init__(self, incoming: Incoming, pool_function: Callable[..., TensorVariable] = pt.mean, **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        self.pool_function = pool_function

    def get_output_shape_for(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(f"expected an input of 3 or more dimensions (batch, channels, ...), "
                             f"got input shape {tuple(input_shape)}")
        return tuple(input_shape[:2])

    def get_output_for(self, input, **kwargs):
        return self.pool_function(input, axis=tuple(range(2, input.ndim)))


class SpatialPyramidPoolingLayer(Layer):
    """Spatial pyramid pooling (He et al., 2015): pools each feature map of a
    ``(batch, channels, rows, columns)`` input into ``n x n`` bins for each
    ``n`` in ``pool_dims`` and concatenates the bins, giving
    ``(batch, channels, sum(n * n))`` whatever the input's size.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected 4-D input shape.
    pool_dims : list of int
        The number of bins per axis of each pyramid level.
    mode : {'max', 'average_inc_pad', 'average_exc_pad'}
        How a bin is pooled.
    implementation : {'fast', 'kaiming'}
        ``'kaiming'``: bin ``i`` of ``n`` covers ``[floor(i * s / n),
        ceil((i + 1) * s / n))`` of an axis of length ``s`` (He et al.'s
        appendix A); works for any input size, known or not, on the Python
        and Numba backends. ``'fast'``: one pooling of window
        ``ceil(s / n)`` and stride ``floor(s / n)`` per level (Lasagne's
        default); needs known rows and columns, of at least ``n``, and runs
        on every backend.
    **kwargs
        Passed to :class:`Layer` (e.g. ``name``).

    Examples
    --------
    >>> from convnet.layers import InputLayer, SpatialPyramidPoolingLayer
    >>> SpatialPyramidPoolingLayer(InputLayer((None, 16, 13, 13))).output_shape
    (None, 16, 21)
    >>> SpatialPyramidPoolingLayer(InputLayer((None, 16, None, None)), implementation='kaiming').output_shape
    (None, 16, 21)
    """

    _MODES = ("max", "average_inc_pad", "average_exc_pad")

    def __init__(self, incoming: Incoming, pool_dims: Sequence[int] = (4, 2, 1), mode: str = "max",
                 implementation: str = "fast", **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        _check_ndim(self.input_shape, 2)
        self.pool_dims = list(pool_dims)
        if not self.pool_dims or not all(isinstance(n, int_types) and n > 0 for n in self.pool_dims):
            raise ValueError(f"pool_dims must be positive ints, got {pool_dims!r}")
        if mode not in self._MODES:
            raise ValueError(f"mode must be one of {self._MODES}, got {mode!r}")
        if implementation not in ("fast", "kaiming"):
            raise ValueError(f"implementation must be 'fast' or 'kaiming', got {implementation!r}")
        if implementation == "fast":
            rows_columns = self.input_shape[2:]
            if None in rows_columns:
                raise ValueError(f"implementation='fast' needs known rows and columns, got input shape "
                                 f"{self.input_shape}; implementation='kaiming' takes any size")
            if any(s < n for s in rows_columns for n in self.pool_dims):
                raise ValueError(f"implementation='fast' needs rows and columns {rows_columns} of at least each of "
                                 f"pool_dims {self.pool_dims}")
        self.mode = mode
        self.implementation = implementation

    def get_output_shape_for(self, input_shape):
        _check_ndim(input_shape, 2)
        return (input_shape[0], input_shape[1], sum(n * n for n in self.pool_dims))

    def get_output_for(self, input, **kwargs):
        levels = []
        for n in self.pool_dims:
            if self.implementation == "fast":
                window = tuple(-(-s // n) for s in self.input_shape[2:])
                stride = tuple(s // n for s in self.input_shape[2:])
                pooled = pool2d(input, ws=window, stride=stride, ignore_border=True, mode=self.mode)
                # n * n, not flatten's product of shapes: the gradient of the
                # concatenation splits by these lengths, which JAX needs static
                levels.append(pooled.reshape((input.shape[0], input.shape[1], n * n)))
                continue
            reduce = pt.max if self.mode == "max" else pt.mean
            rows, columns = input.shape[2], input.shape[3]

            def bounds(i, length, n=n):
                start = pt.cast(pt.floor(i * length / n), "int64")
                return start, pt.cast(pt.ceil((i + 1) * length / n), "int64")

            for r in range(n):
                r0, r1 = bounds(r, rows)
                for c in range(n):
                    c0, c1 = bounds(c, columns)
                    levels.append(reduce(input[:, :, r0:r1, c0:c1], axis=(2, 3)).dimshuffle(0, 1, "x"))
        return pt.concatenate(levels, axis=2)


class _UpscaleLayer(Layer):
    """Upscaling of the ``n`` trailing axes of a ``(batch, channels, ...)``
    input by integer factors; see :class:`Upscale2DLayer`."""

    n = 2

    def __init__(self, incoming: Incoming, scale_factor: int | tuple[int, ...], mode: str = "repeat",
                 **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        _check_ndim(self.input_shape, self.n)
        self.scale_factor = _positive_tuple(scale_factor, self.n, "scale_factor")
        if mode not in ("repeat", "dilate"):
            raise ValueError(f"mode must be 'repeat' or 'dilate', got {mode!r}")
        self.mode = mode

    def get_output_shape_for(self, input_shape):
        _check_ndim(input_shape, self.n)
        return tuple(input_shape[:2]) + tuple(
            None if s is None else s * f for s, f in zip(input_shape[2:], self.scale_factor)
        )

    def get_output_for(self, input, **kwargs):
        if self.mode == "dilate":
            shape = (input.shape[0], input.shape[1],
                     *[input.shape[axis] * f for axis, f in enumerate(self.scale_factor, start=2)])
            corners = (slice(None), slice(None), *[slice(None, None, f) for f in self.scale_factor])
            return pt.set_subtensor(pt.zeros(shape, dtype=input.dtype)[corners], input)
        upscaled = input
        for axis, f in enumerate(self.scale_factor, start=2):
            if f > 1:
                upscaled = pt.repeat(upscaled, f, axis=axis)
        return upscaled


class Upscale1DLayer(_UpscaleLayer):
    """Upscales the last axis of a ``(batch, channels, length)`` input by an
    integer factor; the arguments are :class:`Upscale2DLayer`'s.

    Examples
    --------
    >>> from convnet.layers import InputLayer, Upscale1DLayer
    >>> Upscale1DLayer(InputLayer((None, 8, 7)), scale_factor=3).output_shape
    (None, 8, 21)
    """

    n = 1


class Upscale2DLayer(_UpscaleLayer):
    """Upscales the two trailing axes of a ``(batch, channels, rows, columns)``
    input by integer factors.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected 4-D input shape.
    scale_factor : int or pair of int
        The factor for rows and for columns (at least 1).
    mode : {'repeat', 'dilate'}
        ``'repeat'`` repeats each value ``scale_factor`` times along each
        axis (nearest-neighbour upscaling); ``'dilate'`` places each value in
        the top-left corner of its ``scale_factor`` block and fills the rest
        of the block with zeros.
    **kwargs
        Passed to :class:`Layer` (e.g. ``name``).

    Examples
    --------
    >>> from convnet.layers import InputLayer, Upscale2DLayer
    >>> Upscale2DLayer(InputLayer((None, 8, 7, 7)), scale_factor=(2, 3)).output_shape
    (None, 8, 14, 21)
    """

    n = 2


class Upscale3DLayer(_UpscaleLayer):
    """Upscales the three trailing axes of a ``(batch, channels, depth, rows,
    columns)`` input by integer factors; the arguments are
    :class:`Upscale2DLayer`'s, with three factors.

    Examples
    --------
    >>> from convnet.layers import InputLayer, Upscale3DLayer
    >>> Upscale3DLayer(InputLayer((None, 8, 2, 3, 4)), scale_factor=(1, 2, 3), mode='dilate').output_shape
    (None, 8, 2, 6, 12)
    """

    n = 3


def _feature_axis(axis, input_shape):
    """``axis`` as a non-negative index into ``input_shape``."""
    ndim = len(input_shape)
    axis = check_int("axis", axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for input shape {tuple(input_shape)}")
    return axis % ndim


def _check_feature_groups(input_shape, axis, pool_size):
    size = input_shape[axis]
    if size is not None and size % pool_size:
        raise ValueError(f"the input's axis {axis} has {size} features, not a multiple of pool_size={pool_size} "
                         f"(input shape {tuple(input_shape)})")


def _group_features(input, input_shape, axis, pool_size):
    """``input`` with ``axis`` split into ``(groups, pool_size)``: features
    ``g * pool_size`` to ``(g + 1) * pool_size - 1`` form group ``g``."""
    shape = shape_with_known_sizes(input, input_shape)
    grouped_shape = shape[:axis] + [shape[axis] // pool_size, pool_size] + shape[axis + 1:]
    return input.reshape(grouped_shape, ndim=input.ndim + 1)


class FeaturePoolLayer(Layer):
    """Pools groups of ``pool_size`` consecutive features along ``axis``
    into one; with the default ``pool_function`` this is a maxout layer [1]_.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected input shape.
    pool_size : int
        The number of features per group; must divide the size of ``axis``.
    axis : int
        The axis to pool over (1: the channels).
    pool_function : callable
        Called as ``pool_function(x, axis=axis + 1)`` on the input with
        ``axis`` split into ``(groups, pool_size)``: ``pytensor.tensor.max``
        (the default), ``pytensor.tensor.mean``, ...
    **kwargs
        Passed to :class:`Layer` (e.g. ``name``).

    Raises
    ------
    ValueError
        When the size of ``axis`` is not a multiple of ``pool_size``.

    References
    ----------
    .. [1] Ian J. Goodfellow, David Warde-Farley, Mehdi Mirza, Aaron
       Courville and Yoshua Bengio (2013): Maxout networks. ICML.

    Examples
    --------
    >>> from convnet.layers import InputLayer, DenseLayer, FeaturePoolLayer
    >>> l_dense = DenseLayer(InputLayer((None, 100)), num_units=60, nonlinearity=None)
    >>> FeaturePoolLayer(l_dense, pool_size=3).output_shape
    (None, 20)
    """

    def __init__(self, incoming: Incoming, pool_size: int, axis: int = 1,
                 pool_function: Callable[..., TensorVariable] = pt.max, **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        self.pool_size = _positive_tuple(pool_size, 1, "pool_size")[0]
        self.axis = _feature_axis(axis, self.input_shape)
        self.pool_function = pool_function

    def get_output_shape_for(self, input_shape):
        _check_feature_groups(input_shape, self.axis, self.pool_size)
        output_shape = list(input_shape)
        if output_shape[self.axis] is not None:
            output_shape[self.axis] //= self.pool_size
        return tuple(output_shape)

    def get_output_for(self, input, **kwargs):
        return self.pool_function(_group_features(input, self.input_shape, self.axis, self.pool_size), axis=self.axis + 1)


class FeatureWTALayer(Layer):
    """Winner takes all: within each group of ``pool_size`` consecutive
    features along ``axis``, keeps the largest value and sets the others to
    zero. The output has the input's shape.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected input shape.
    pool_size : int
        The number of features per group; must divide the size of ``axis``.
    axis : int
        The axis of the features (1: the channels).
    **kwargs
        Passed to :class:`Layer` (e.g. ``name``).

    Raises
    ------
    ValueError
        When the size of ``axis`` is not a multiple of ``pool_size``.

    Examples
    --------
    >>> import numpy as np
    >>> from convnet.layers import InputLayer, FeatureWTALayer, get_output
    >>> l_in = InputLayer((None, 4))
    >>> y = get_output(FeatureWTALayer(l_in, pool_size=2))
    >>> y.eval({l_in.input_var: np.array([[1, 3, 5, 2]], dtype='float32')})
    array([[0., 3., 5., 0.]], dtype=float32)
    """

    def __init__(self, incoming: Incoming, pool_size: int, axis: int = 1, **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        self.pool_size = _positive_tuple(pool_size, 1, "pool_size")[0]
        self.axis = _feature_axis(axis, self.input_shape)

    def get_output_shape_for(self, input_shape):
        _check_feature_groups(input_shape, self.axis, self.pool_size)
        return tuple(input_shape)

    def get_output_for(self, input, **kwargs):
        grouped = _group_features(input, self.input_shape, self.axis, self.pool_size)
        winners = pt.argmax(grouped, axis=self.axis + 1, keepdims=True)
        positions = pt.arange(self.pool_size).dimshuffle(
            *(["x"] * (self.axis + 1) + [0] + ["x"] * (input.ndim - self.axis - 1))
        )
        mask = pt.eq(winners, positions).reshape(shape_with_known_sizes(input, self.input_shape), ndim=input.ndim)
        return input * mask
