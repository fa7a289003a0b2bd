"""Pooling (max, sum, average, L2) over the last one, two or three axes, with gradients.

:func:`pool2d` and :func:`pool3d` follow Theano's ``pool_2d`` and ``pool_3d``:
they pool the last two (three) axes of a tensor, typically ``(batch,
channels, rows, cols)`` (``(batch, channels, depth, rows, cols)``), with a
window ``ws`` moved by ``stride``, after padding each side by ``pad``. The Ops
pool the last ``len(ws)`` axes, for any such number; their window geometry is
one :class:`~convnet.ops.pool.geometry.PoolGeometry`.

Every op here has three implementations that give the same numbers:

* ``perform``: the NumPy reference (sliding-window views and reductions), run
  by PyTensor's Python linker (``mode="FAST_COMPILE"``);
* compiled loops for PyTensor's Numba linker and convnet's CPU linker
  (:mod:`convnet.ops.pool.numba_backend`);
* ``jax.lax`` code for ``mode="JAX"`` (:mod:`convnet.ops.pool.jax_backend`,
  registered only when JAX is installed).

Gradients are ops as well (:class:`MaxPoolGrad`, :class:`AveragePoolGrad` and
:class:`MaxPoolGradGrad`), each differentiable again, so second derivatives
work for every mode.

Semantics (as in Theano)
------------------------
* Padding is virtual: padded cells never win a max and are never counted by
  ``'average_exc_pad'``; ``'average_inc_pad'`` counts them as zeros.
* ``ignore_border=True`` keeps only whole windows; ``ignore_border=False``
  also keeps the partial windows that run past the end of an axis (their
  averages divide by the number of cells actually covered). Padding requires
  ``ignore_border=True``.
* The max gradient goes to every cell of a window that equals its maximum.
* NaN is never hidden: a window holding a NaN pools to NaN in every mode (as
  NumPy's ``max`` and ``sum``), and the max gradient of such a window is NaN on
  all its cells (its maximum is undefined, so no cell can be said to have won).
"""

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from ...backends import JAX_DISPATCH, NUMBA_DISPATCH, import_when_imported
from ...linker import compiled_node, cpu_thunk
from ..compat import infer_shape_method
from .geometry import POOL_MODES, SUM_MODES, PoolGeometry

__all__ = [
    "pool2d",
    "pool3d",
    "pool_output_length",
    "Pool",
    "MaxPoolGrad",
    "AveragePoolGrad",
    "MaxPoolGradGrad",
]


def pool2d(input, ws, ignore_border=True, stride=None, pad=(0, 0), mode="max"):
    """Pool the last two axes of ``input`` window by window.

    Parameters
    ----------
    input : tensor-like
        Tensor with at least 2 dimensions; the last two are the pooled rows
        and columns, any leading ones (batch, channels, ...) are kept.
    ws : pair of int
        Window size ``(rows, cols)``.
    ignore_border : bool
        True keeps only windows that fit in the (padded) input; False also
        keeps the partial windows at the bottom and right edges.
    stride : pair of int or None
        Step between windows ``(rows, cols)``; defaults to ``ws``.
    pad : pair of int
        Cells of padding on each side ``(rows, cols)``; each must be smaller
        than the window. Requires ``ignore_border=True``.
    mode : str
        One of :data:`~convnet.ops.pool.geometry.POOL_MODES`: ``'max'``, ``'sum'``, ``'average_inc_pad'``
        (padding counts as zeros), ``'average_exc_pad'`` (padding is not
        counted) or ``'l2'`` (square root of the sum of squares).

    Returns
    -------
    TensorVariable
        Same leading shape and dtype as ``input``; the last two lengths are
        given by :func:`pool_output_length`.

    Raises
    ------
    ValueError
        For a non-positive ``ws`` or ``stride``, a negative ``pad`` or one not
        smaller than ``ws``, padding with ``ignore_border=False``, an unknown
        ``mode``, an input with fewer than 2 dimensions, or (when the input's
        static shape is known) a window larger than the padded input.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> pool2d(x, ws=(2, 2)).eval()
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    >>> pool2d(x, ws=(2, 2), ignore_border=False, stride=(3, 3), mode="sum").eval()
    array([[[[10., 10.],
             [25., 15.]]]])
    """
    return Pool.from_geometry(PoolGeometry(ws, stride, pad, ignore_border, mode, ndim=2))(input)


def pool3d(input, ws, ignore_border=True, stride=None, pad=(0, 0, 0), mode="max"):
    """Pool the last three axes of ``input`` window by window.

    The arguments are :func:`pool2d`'s, with three lengths each (depth, rows,
    columns); ``input`` has at least 3 dimensions, typically ``(batch,
    channels, depth, rows, cols)``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(27.0).reshape(1, 3, 3, 3)
    >>> pool3d(x, ws=(2, 2, 2)).eval()
    array([[[[13.]]]])
    >>> pool3d(x, ws=(3, 3, 1), mode="average_inc_pad")[0, 0].eval()
    array([[12., 13., 14.]])
    """
    return Pool.from_geometry(PoolGeometry(ws, stride, pad, ignore_border, mode, ndim=3))(input)


def pool_output_length(input_length, pool_size, stride, pad, ignore_border):
    """Length of a pooled axis, or None when ``input_length`` or ``pool_size`` is None.

    Parameters
    ----------
    input_length : int or None
        Length of the axis before pooling (without padding).
    pool_size, stride, pad : int
        Window size, step and padding on each side along the axis.
    ignore_border : bool
        As in :func:`pool2d`.

    Raises
    ------
    ValueError
        For invalid window arguments (see :func:`pool2d`) or, with
        ``ignore_border=True``, a window larger than the padded axis.

    Examples
    --------
    >>> pool_output_length(24, pool_size=2, stride=2, pad=0, ignore_border=True)
    12
    >>> pool_output_length(5, pool_size=2, stride=2, pad=0, ignore_border=False)
    3
    >>> pool_output_length(None, 2, 2, 0, True) is None
    True
    """
    if input_length is None or pool_size is None:
        return None
    geometry = PoolGeometry((pool_size,), (stride,), (pad,), ignore_border, window_name="pool_size")
    return geometry.output_lengths((input_length,))[0]


# ---------------------------------------------------------------------------
# NumPy machinery.  A window cell (its offset inside the window) reads one
# strided slice of the padded input, with the output's shape: cell c of
# window o is input cell o * stride + c.  Pooling folds the slices of the
# prod(ws) cells together, and the gradients add per-cell values back
# through the same slices: prod(ws) vectorised operations over output-sized
# arrays, which is much faster than reducing strided window views over
# their small trailing axes.


def _padded(x, g, fill):
    """``x`` surrounded by ``fill`` so that every window is a full slice
    (``x`` itself when no padding is needed)."""
    lengths = x.shape[-g.ndim:]
    extent = g.padded_lengths(lengths)
    if extent == lengths:
        return x
    out = np.full(x.shape[:-g.ndim] + extent, fill, dtype=x.dtype)
    _unpadded(out, g, lengths)[...] = x
    return out


def _cell_regions(g, out_lengths):
    """For each window cell, the index of the padded input it reads in every window."""
    for cell in np.ndindex(*g.ws):
        yield (..., *(slice(c, c + s * (o - 1) + 1, s) for c, s, o in zip(cell, g.stride, out_lengths)))


def _unpadded(padded, g, lengths):
    """The input's cells of a padded array."""
    return padded[(..., *(slice(p, p + n) for p, n in zip(g.pad, lengths)))]


def _fold_cells(function, padded, g, out_lengths):
    """``function`` (a binary ufunc) folded over the cells of every window of ``padded``."""
    regions = _cell_regions(g, out_lengths)
    result = np.array(padded[next(regions)])
    for region in regions:
        function(result, padded[region], out=result)
    return result


# ---------------------------------------------------------------------------
# Ops


class _PoolOp(Op):
    """Base of the pooling ops: their one prop is the validated
    :class:`PoolGeometry` built from the arguments; ``modes`` are those the
    op accepts (the first one is the default)."""

    __props__ = ("geometry",)
    modes = POOL_MODES

    def __init__(self, ws, stride=None, pad=None, ignore_border=True, mode=None):
        mode = self.modes[0] if mode is None else mode
        self.geometry = PoolGeometry(ws, stride, pad, ignore_border, mode, modes=self.modes)

    @classmethod
    def from_geometry(cls, geometry):
        """The op of this class for ``geometry`` (its mode must be one of ``cls.modes``)."""
        g = geometry
        return cls(g.ws, g.stride, g.pad, g.ignore_border, g.mode)

    def _as_pooled_tensor(self, value):
        """``value`` as a floating-point tensor with the pooled axes."""
        tensor = pt.as_tensor_variable(value)
        n = self.geometry.ndim
        if tensor.ndim < n:
            raise ValueError(
                f"input must have at least {n} dimensions (the last {n} are pooled), "
                f"got a {tensor.ndim}-d input with shape {tensor.type.shape}"
            )
        if not tensor.dtype.startswith("float"):
            raise TypeError(f"input must have a floating-point dtype, got {tensor.dtype}")
        return tensor

    def _pooled_type(self, x):
        """Type of the pooled ``x``, with static output lengths where known."""
        n = self.geometry.ndim
        lengths = self.geometry.output_lengths(x.type.shape[-n:])
        return pt.tensor(dtype=x.dtype, shape=x.type.shape[:-n] + lengths)

    def _like(self, reference, value, name):
        """``value`` as a tensor with the dtype and ndim of ``reference``."""
        tensor = pt.as_tensor_variable(value)
        if tensor.ndim != reference.ndim:
            raise ValueError(
                f"{name} must have {reference.ndim} dimensions like the pooled input, "
                f"got shape {tensor.type.shape}"
            )
        return tensor.astype(reference.dtype)

    def _pooled_shape(self, input_shape):
        """Symbolic shape of the pooled input, for ``infer_shape``."""
        n = self.geometry.ndim
        return (*input_shape[:-n], *self.geometry.symbolic_output_lengths(input_shape[-n:]))


class Pool(_PoolOp):
    """Pool the last ``len(ws)`` axes of a tensor; see :func:`pool2d`.

    Examples
    --------
    >>> import numpy as np
    >>> Pool(ws=(2, 2), mode="average_inc_pad")(np.ones((2, 4, 4))).eval().shape
    (2, 2, 2)
    >>> Pool(ws=(3,), stride=(2,))(np.arange(7.0)).eval()
    array([2., 4., 6.])
    """

    def make_node(self, x):
        x = self._as_pooled_tensor(x)
        return Apply(self, [x], [self._pooled_type(x)])

    def perform(self, node, inputs, outputs):
        (x,), g = inputs, self.geometry
        out_lengths = g.output_lengths(x.shape[-g.ndim:])
        if g.mode == "max":
            pooled = _fold_cells(np.maximum, _padded(x, g, -np.inf), g, out_lengths)
        else:
            terms = np.square(x) if g.mode == "l2" else x
            pooled = _fold_cells(np.add, _padded(terms, g, 0), g, out_lengths)
            if g.mode == "l2":
                pooled = np.sqrt(pooled)
            elif g.mode != "sum":
                pooled = pooled / g.average_divisors(x.shape[-g.ndim:])
        outputs[0][0] = pooled.astype(x.dtype, copy=False)

    @infer_shape_method
    def infer_shape(self, node, shapes):
        return [self._pooled_shape(shapes[0])]

    def pullback(self, inputs, outputs, cotangents):
        (x,), (out,), (grad_out,), g = inputs, outputs, cotangents, self.geometry
        if g.mode == "max":
            return [MaxPoolGrad.from_geometry(g)(x, out, grad_out)]
        if g.mode == "l2":
            # d sqrt(sum x^2) / dx = x / out; empty (all-zero) windows have x = 0.
            safe_out = pt.switch(pt.eq(out, 0), 1, out)
            sum_grad = AveragePoolGrad.from_geometry(g.replace(mode="sum"))
            return [x * sum_grad(x, grad_out / safe_out)]
        return [AveragePoolGrad.from_geometry(g)(x, grad_out)]


class MaxPoolGrad(_PoolOp):
    """Gradient of max pooling: ``(input, pooled, pooled_grad) -> input_grad``.

    Each window's gradient goes to every cell equal to the window's maximum.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0, 3.0], [2.0, 0.0]])
    >>> MaxPoolGrad(ws=(2, 2))(x, [[3.0]], [[10.0]]).eval()
    array([[ 0., 10.],
           [ 0.,  0.]])
    """

    modes = ("max",)

    def make_node(self, x, pooled, pooled_grad):
        x = self._as_pooled_tensor(x)
        pooled = self._like(x, pooled, "pooled")
        pooled_grad = self._like(x, pooled_grad, "pooled_grad")
        return Apply(self, [x, pooled, pooled_grad], [x.type()])

    def perform(self, node, inputs, outputs):
        (x, pooled, pooled_grad), g = inputs, self.geometry
        padded = _padded(x, g, -np.inf)
        pooled_grad = pooled_grad.astype(x.dtype, copy=False)
        # A window whose maximum is NaN gives NaN to all its cells.
        undefined = np.isnan(pooled)
        if undefined.any():
            pooled_grad = np.where(undefined, np.nan, pooled_grad)
        else:
            undefined = None
        total = np.zeros_like(padded)
        for region in _cell_regions(g, pooled.shape[-g.ndim:]):
            selected = padded[region] == pooled
            if undefined is not None:
                selected |= undefined
            if g.overlapping:
                total[region] += np.where(selected, pooled_grad, 0)
            else:  # each cell is in one window at most: no sums needed
                np.copyto(total[region], pooled_grad, where=selected)
        outputs[0][0] = np.ascontiguousarray(_unpadded(total, g, x.shape[-g.ndim:]))

    @infer_shape_method
    def infer_shape(self, node, shapes):
        return [shapes[0]]

    def pullback(self, inputs, outputs, cotangents):
        x, pooled, _ = inputs
        (grad_input_grad,) = cotangents
        # Piecewise constant in x and pooled; linear in pooled_grad.
        return [
            pt.zeros_like(x),
            pt.zeros_like(pooled),
            MaxPoolGradGrad.from_geometry(self.geometry)(x, pooled, grad_input_grad),
        ]


class MaxPoolGradGrad(_PoolOp):
    """Adjoint of :class:`MaxPoolGrad` in its last argument:
    ``(input, pooled, input_cotangent) -> pooled_cotangent``.

    Sums each window's ``input_cotangent`` over the cells equal to the
    window's maximum (Theano's ``DownsampleFactorMaxGradGrad``).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0, 3.0], [2.0, 0.0]])
    >>> MaxPoolGradGrad(ws=(2, 2))(x, [[3.0]], [[5.0, 7.0], [1.0, 1.0]]).eval()
    array([[7.]])
    """

    modes = ("max",)

    def make_node(self, x, pooled, input_cotangent):
        x = self._as_pooled_tensor(x)
        pooled = self._like(x, pooled, "pooled")
        input_cotangent = self._like(x, input_cotangent, "input_cotangent")
        return Apply(self, [x, pooled, input_cotangent], [pooled.type()])

    def perform(self, node, inputs, outputs):
        (x, pooled, input_cotangent), g = inputs, self.geometry
        padded, cotangent = _padded(x, g, -np.inf), _padded(input_cotangent, g, 0)
        summed = np.zeros(pooled.shape, x.dtype)
        for region in _cell_regions(g, pooled.shape[-g.ndim:]):
            summed += np.where(padded[region] == pooled, cotangent[region], 0)
        summed[np.isnan(pooled)] = np.nan
        outputs[0][0] = summed.astype(x.dtype, copy=False)

    @infer_shape_method
    def infer_shape(self, node, shapes):
        return [shapes[1]]

    def pullback(self, inputs, outputs, cotangents):
        x, pooled, _ = inputs
        (grad_pooled_cotangent,) = cotangents
        return [
            pt.zeros_like(x),
            pt.zeros_like(pooled),
            MaxPoolGrad.from_geometry(self.geometry)(x, pooled, grad_pooled_cotangent),
        ]


class AveragePoolGrad(_PoolOp):
    """Gradient of sum and average pooling: ``(input, pooled_grad) -> input_grad``.

    ``input`` only supplies the shape. ``mode`` is ``'sum'`` (the default),
    ``'average_inc_pad'`` or ``'average_exc_pad'``.

    Examples
    --------
    >>> import numpy as np
    >>> AveragePoolGrad(ws=(2, 2), mode="average_inc_pad")(np.zeros((2, 2)), [[4.0]]).eval()
    array([[1., 1.],
           [1., 1.]])
    """

    modes = SUM_MODES

    def make_node(self, x, pooled_grad):
        x = self._as_pooled_tensor(x)
        pooled_grad = self._like(x, pooled_grad, "pooled_grad")
        return Apply(self, [x, pooled_grad], [x.type()])

    def perform(self, node, inputs, outputs):
        (x, pooled_grad), g = inputs, self.geometry
        per_window = pooled_grad
        if g.mode != "sum":
            per_window = pooled_grad / g.average_divisors(x.shape[-g.ndim:])
        per_window = per_window.astype(x.dtype, copy=False)
        lengths = x.shape[-g.ndim:]
        total = np.zeros(x.shape[:-g.ndim] + g.padded_lengths(lengths), x.dtype)
        for region in _cell_regions(g, per_window.shape[-g.ndim:]):
            total[region] += per_window
        outputs[0][0] = np.ascontiguousarray(_unpadded(total, g, lengths))

    @infer_shape_method
    def infer_shape(self, node, shapes):
        return [shapes[0]]

    def pullback(self, inputs, outputs, cotangents):
        x, _ = inputs
        (grad_input_grad,) = cotangents
        # Linear in pooled_grad, so the adjoint is the forward pooling.
        return [pt.zeros_like(x), Pool.from_geometry(self.geometry)(grad_input_grad)]


# convnet's CPU linker runs these nodes through their per-node Numba functions.
for _op_type in (Pool, MaxPoolGrad, MaxPoolGradGrad, AveragePoolGrad):
    cpu_thunk.register(_op_type)(compiled_node)

# The backend implementations register themselves when PyTensor loads each backend.
import_when_imported(NUMBA_DISPATCH, "convnet.ops.pool.numba_backend")
import_when_imported(JAX_DISPATCH, "convnet.ops.pool.jax_backend")
