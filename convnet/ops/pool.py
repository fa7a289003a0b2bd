"""2-D pooling (max, sum, average, L2) over the last two axes, with gradients.

:func:`pool2d` follows Theano's ``pool_2d``: it pools the last two axes of a
tensor with at least two dimensions (typically ``(batch, channels, rows,
cols)``) with a window ``ws`` moved by ``stride``, after padding each side by
``pad``.

Every op here has three implementations that give the same numbers:

* ``perform``: the NumPy reference (sliding-window views and reductions), run
  by PyTensor's Python linker (``mode="FAST_COMPILE"``);
* compiled loops for PyTensor's default Numba linker (:mod:`convnet.ops.pool_numba`);
* ``jax.lax`` code for ``mode="JAX"`` (:mod:`convnet.ops.pool_jax`,
  registered only when JAX is installed).

Gradients are ops as well (:class:`MaxPoolGrad`, :class:`AveragePoolGrad` and
:class:`MaxPoolGradGrad`), each differentiable again, so second derivatives
work for every mode.

Semantics (as in Theano)
------------------------
* Padding is virtual: padded cells never win a max and are never counted by
  ``'average_exc_pad'``; ``'average_inc_pad'`` counts them as zeros.
* ``ignore_border=True`` keeps only whole windows; ``ignore_border=False``
  also keeps the partial windows that run past the bottom/right edge (their
  averages divide by the number of cells actually covered). Padding requires
  ``ignore_border=True``.
* The max gradient goes to every cell of a window that equals its maximum.
* NaN is never hidden: a window holding a NaN pools to NaN in every mode (as
  NumPy's ``max`` and ``sum``), and the max gradient of such a window is NaN on
  all its cells (its maximum is undefined, so no cell can be said to have won).
"""

import numpy as np
import pytensor.tensor as pt
from numpy.lib.stride_tricks import sliding_window_view
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from ..backends import JAX_DISPATCH, NUMBA_DISPATCH, import_when_imported
from .compat import infer_shape_method
from ..utils import int_types

__all__ = [
    "POOL_MODES",
    "pool2d",
    "pool_output_length",
    "Pool",
    "MaxPoolGrad",
    "AveragePoolGrad",
    "MaxPoolGradGrad",
]

POOL_MODES = ("max", "sum", "average_inc_pad", "average_exc_pad", "l2")
"""The pooling modes :func:`pool2d` accepts."""

_SUM_MODES = ("sum", "average_inc_pad", "average_exc_pad")


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
        One of :data:`POOL_MODES`: ``'max'``, ``'sum'``, ``'average_inc_pad'``
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
    return Pool(ws, stride, pad, ignore_border, mode)(input)


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
    ws, stride, pad = _check_window_args(
        (pool_size,), (stride,), (pad,), ignore_border, n_axes=1, names=("pool_size", "stride", "pad")
    )
    _check_window_fits((input_length,), ws, pad, ignore_border, ws_name="pool_size")
    return _output_length(input_length, ws[0], stride[0], pad[0], ignore_border)


# ---------------------------------------------------------------------------
# Window geometry, shared by all implementations.


def _output_length(length, window, stride, pad, ignore_border, maximum=max):
    """Number of windows along an axis (Theano's ``Pool.out_shape``).

    Plain arithmetic, so it also runs inside Numba (with the builtin ``max``)
    and on symbolic lengths (with ``maximum=pt.maximum``).
    """
    if ignore_border:
        return (length + 2 * pad - window) // stride + 1
    if stride >= window:
        return (length - 1) // stride + 1
    return maximum(0, (length - window + stride - 1) // stride) + 1


def _padded_extent(length, window, stride, pad, n_windows):
    """Length of the padded axis that ``n_windows`` windows are cut from.

    It covers both sides' padding and, with ``ignore_border=False``, the cells
    past the end that partial windows reach. Plain arithmetic (runs in Numba).
    """
    return max(length + 2 * pad, (n_windows - 1) * stride + window)


def _axis_counts(length, n_windows, window, stride, pad, include_pad):
    """Number of cells each window covers along an axis: input cells only, or
    also padding cells (``include_pad``); never cells past the padded input."""
    starts = np.arange(n_windows) * stride - pad
    stops = starts + window
    if include_pad:
        return np.minimum(stops, length + pad) - starts
    return np.minimum(stops, length) - np.maximum(starts, 0)


def _window_counts(op, rows, cols, include_pad):
    """Number of cells each window averages over, as a ``(out_rows, out_cols)`` array
    (``include_pad`` for ``'average_inc_pad'``)."""
    per_axis = [
        _axis_counts(n, _output_length(n, w, s, p, op.ignore_border), w, s, p, include_pad)
        for n, w, s, p in zip((rows, cols), op.ws, op.stride, op.pad)
    ]
    return np.outer(*per_axis)


def _padded_shape(op, lengths):
    """``(rows, cols)`` of the padded input that all windows of ``op`` fit in."""
    return tuple(
        _padded_extent(n, w, s, p, _output_length(n, w, s, p, op.ignore_border))
        for n, w, s, p in zip(lengths, op.ws, op.stride, op.pad)
    )


def _output_shape(op, input_shape):
    """``(out_rows, out_cols)`` for an input of shape ``input_shape``; validates the window."""
    rows, cols = input_shape[-2:]
    _check_window_fits((rows, cols), op.ws, op.pad, op.ignore_border)
    return tuple(
        _output_length(n, w, s, p, op.ignore_border)
        for n, w, s, p in zip((rows, cols), op.ws, op.stride, op.pad)
    )


def _check_int_tuple(name, value, n, minimum):
    """``value`` as a tuple of ``n`` Python ints >= ``minimum``, else ValueError naming ``name``."""
    try:
        items = tuple(value)
    except TypeError:
        items = None
    kind = "positive" if minimum == 1 else "non-negative"
    if items is None or len(items) != n or not all(
        isinstance(v, int_types) and not isinstance(v, bool) for v in items
    ):
        raise ValueError(f"{name} must be {n} {kind} integers, got {name}={value!r}")
    if any(v < minimum for v in items):
        raise ValueError(f"{name} must be {kind}, got {name}={value!r}")
    return tuple(int(v) for v in items)


def _check_window_args(ws, stride, pad, ignore_border, n_axes=2, names=("ws", "stride", "pad")):
    """Validate window size, stride and padding (``n_axes`` entries each) as tuples of ints."""
    ws_name, stride_name, pad_name = names
    ws = _check_int_tuple(ws_name, ws, n_axes, 1)
    stride = _check_int_tuple(stride_name, stride, n_axes, 1)
    pad = _check_int_tuple(pad_name, pad, n_axes, 0)
    if any(p >= w for p, w in zip(pad, ws)):
        raise ValueError(
            f"{pad_name} must be smaller than {ws_name} on each axis, "
            f"got {pad_name}={pad} with {ws_name}={ws}"
        )
    if not isinstance(ignore_border, bool | np.bool_):
        raise ValueError(f"ignore_border must be True or False, got ignore_border={ignore_border!r}")
    if any(pad) and not ignore_border:
        raise ValueError(
            f"padding requires ignore_border=True (as in Theano), "
            f"got ignore_border=False with {pad_name}={pad}"
        )
    return ws, stride, pad


def _check_window_fits(lengths, ws, pad, ignore_border, ws_name="ws"):
    """With ``ignore_border=True``, raise ValueError if a window is larger than the padded input.

    Lengths that are None (unknown static shape) are skipped.
    """
    if not ignore_border:
        return
    padded = tuple(None if n is None else n + 2 * p for n, p in zip(lengths, pad))
    if any(n is not None and n < w for n, w in zip(padded, ws)):
        raise ValueError(
            f"with ignore_border=True the window must fit in the padded input, "
            f"got {ws_name}={ws} for pooled input lengths {tuple(lengths)} padded by pad={pad} "
            f"to {padded}"
        )


# ---------------------------------------------------------------------------
# NumPy machinery: windows as strided views of a padded copy, and the adjoint
# that adds per-window values back onto the input cells.


def _padded(x, op, fill):
    """``x`` surrounded by ``fill`` so that every window is a full slice.

    Returns ``x`` itself when no padding is needed.
    """
    rows, cols = x.shape[-2:]
    extent = _padded_shape(op, (rows, cols))
    if extent == (rows, cols):
        return x
    (pad_rows, pad_cols) = op.pad
    out = np.full(x.shape[:-2] + extent, fill, dtype=x.dtype)
    out[..., pad_rows : pad_rows + rows, pad_cols : pad_cols + cols] = x
    return out


def _windows(padded, op, out_shape):
    """Read-only view ``(..., out_rows, out_cols, ws_rows, ws_cols)`` of the windows of ``padded``."""
    view = sliding_window_view(padded, op.ws, axis=(-2, -1))
    (stride_rows, stride_cols), (out_rows, out_cols) = op.stride, out_shape
    return view[..., ::stride_rows, ::stride_cols, :, :][..., :out_rows, :out_cols, :, :]


def _add_windows_to_cells(per_window_cell, op, input_shape):
    """Adjoint of :func:`_windows`: sum ``(..., out_rows, out_cols, ws_rows, ws_cols)``
    values onto the input cells they were read from, dropping padding.

    Loops over the cells of one window (``ws_rows * ws_cols`` vectorised
    additions), not over pixels.
    """
    rows, cols = input_shape[-2:]
    out_rows, out_cols = per_window_cell.shape[-4:-2]
    (stride_rows, stride_cols), (pad_rows, pad_cols) = op.stride, op.pad
    extent = _padded_shape(op, (rows, cols))
    total = np.zeros(tuple(input_shape[:-2]) + extent, dtype=per_window_cell.dtype)
    for i, j in np.ndindex(*op.ws):
        total[
            ...,
            i : i + stride_rows * out_rows : stride_rows,
            j : j + stride_cols * out_cols : stride_cols,
        ] += per_window_cell[..., i, j]
    return total[..., pad_rows : pad_rows + rows, pad_cols : pad_cols + cols]


def _max_windows(x, op):
    """Windows of ``x`` padded with -inf, and their shape ``(out_rows, out_cols)``."""
    out_shape = _output_shape(op, x.shape)
    return _windows(_padded(x, op, -np.inf), op, out_shape), out_shape


# ---------------------------------------------------------------------------
# Ops


class _WindowOp(Op):
    """Base of the pooling ops: holds and validates the window geometry."""

    __props__ = ("ws", "stride", "pad", "ignore_border")

    def __init__(self, ws, stride=None, pad=(0, 0), ignore_border=True):
        stride = ws if stride is None else stride
        self.ws, self.stride, self.pad = _check_window_args(ws, stride, pad, ignore_border)
        self.ignore_border = bool(ignore_border)

    def _as_pooled_tensor(self, value):
        """``value`` as a floating-point tensor with at least 2 dimensions."""
        tensor = pt.as_tensor_variable(value)
        if tensor.ndim < 2:
            raise ValueError(
                f"input must have at least 2 dimensions (the last two are pooled), "
                f"got a {tensor.ndim}-d input with shape {tensor.type.shape}"
            )
        if not tensor.dtype.startswith("float"):
            raise TypeError(f"input must have a floating-point dtype, got {tensor.dtype}")
        return tensor

    def _pooled_type(self, x):
        """Type of the pooled ``x``, with static output lengths where known."""
        rows, cols = x.type.shape[-2:]
        _check_window_fits((rows, cols), self.ws, self.pad, self.ignore_border)
        lengths = tuple(
            None if n is None else _output_length(n, w, s, p, self.ignore_border)
            for n, w, s, p in zip((rows, cols), self.ws, self.stride, self.pad)
        )
        return pt.tensor(dtype=x.dtype, shape=x.type.shape[:-2] + lengths)

    def _like(self, reference, value, name):
        """``value`` as a tensor with the dtype and ndim of ``reference``."""
        tensor = pt.as_tensor_variable(value)
        if tensor.ndim != reference.ndim:
            raise ValueError(
                f"{name} must have {reference.ndim} dimensions like the pooled input, "
                f"got shape {tensor.type.shape}"
            )
        return tensor.astype(reference.dtype)

    def _geometry(self):
        """The window arguments, to build the related ops."""
        return dict(ws=self.ws, stride=self.stride, pad=self.pad, ignore_border=self.ignore_border)

    def _pooled_shape(self, input_shape):
        """Symbolic shape of the pooled input, for ``infer_shape``."""
        lengths = (
            _output_length(n, w, s, p, self.ignore_border, maximum=pt.maximum)
            for n, w, s, p in zip(input_shape[-2:], self.ws, self.stride, self.pad)
        )
        return (*input_shape[:-2], *lengths)


class Pool(_WindowOp):
    """Pool the last two axes of a tensor; see :func:`pool2d`.

    Examples
    --------
    >>> import numpy as np
    >>> Pool(ws=(2, 2), mode="average_inc_pad")(np.ones((2, 4, 4))).eval().shape
    (2, 2, 2)
    """

    __props__ = (*_WindowOp.__props__, "mode")

    def __init__(self, ws, stride=None, pad=(0, 0), ignore_border=True, mode="max"):
        super().__init__(ws, stride, pad, ignore_border)
        if mode not in POOL_MODES:
            raise ValueError(f"mode must be one of {POOL_MODES}, got mode={mode!r}")
        self.mode = mode

    def make_node(self, x):
        x = self._as_pooled_tensor(x)
        return Apply(self, [x], [self._pooled_type(x)])

    def perform(self, node, inputs, outputs):
        (x,) = inputs
        if self.mode == "max":
            windows, _ = _max_windows(x, self)
            pooled = windows.max(axis=(-2, -1))
        else:
            out_shape = _output_shape(self, x.shape)
            terms = np.square(x) if self.mode == "l2" else x
            pooled = _windows(_padded(terms, self, 0), self, out_shape).sum(axis=(-2, -1))
            if self.mode == "l2":
                pooled = np.sqrt(pooled)
            elif self.mode != "sum":
                include_pad = self.mode == "average_inc_pad"
                pooled = pooled / _window_counts(self, *x.shape[-2:], include_pad)
        outputs[0][0] = pooled.astype(x.dtype, copy=False)

    @infer_shape_method
    def infer_shape(self, node, shapes):
        return [self._pooled_shape(shapes[0])]

    def pullback(self, inputs, outputs, cotangents):
        (x,), (out,), (grad_out,) = inputs, outputs, cotangents
        if self.mode == "max":
            return [MaxPoolGrad(**self._geometry())(x, out, grad_out)]
        if self.mode == "l2":
            # d sqrt(sum x^2) / dx = x / out; empty (all-zero) windows have x = 0.
            safe_out = pt.switch(pt.eq(out, 0), 1, out)
            sum_grad = AveragePoolGrad(**self._geometry(), mode="sum")
            return [x * sum_grad(x, grad_out / safe_out)]
        return [AveragePoolGrad(**self._geometry(), mode=self.mode)(x, grad_out)]


class MaxPoolGrad(_WindowOp):
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

    def make_node(self, x, pooled, pooled_grad):
        x = self._as_pooled_tensor(x)
        pooled = self._like(x, pooled, "pooled")
        pooled_grad = self._like(x, pooled_grad, "pooled_grad")
        return Apply(self, [x, pooled, pooled_grad], [x.type()])

    def perform(self, node, inputs, outputs):
        x, pooled, pooled_grad = inputs
        windows, _ = _max_windows(x, self)
        is_max = windows == pooled[..., None, None]
        undefined = np.isnan(pooled)[..., None, None]
        per_cell = np.where(undefined, np.nan, np.where(is_max, pooled_grad[..., None, None], 0))
        per_cell = per_cell.astype(x.dtype, copy=False)
        outputs[0][0] = _add_windows_to_cells(per_cell, self, x.shape)

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
            MaxPoolGradGrad(**self._geometry())(x, pooled, grad_input_grad),
        ]


class MaxPoolGradGrad(_WindowOp):
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

    def make_node(self, x, pooled, input_cotangent):
        x = self._as_pooled_tensor(x)
        pooled = self._like(x, pooled, "pooled")
        input_cotangent = self._like(x, input_cotangent, "input_cotangent")
        return Apply(self, [x, pooled, input_cotangent], [pooled.type()])

    def perform(self, node, inputs, outputs):
        x, pooled, input_cotangent = inputs
        windows, out_shape = _max_windows(x, self)
        cotangent_windows = _windows(_padded(input_cotangent, self, 0), self, out_shape)
        is_max = windows == pooled[..., None, None]
        summed = np.where(is_max, cotangent_windows, 0).sum(axis=(-2, -1))
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
            MaxPoolGrad(**self._geometry())(x, pooled, grad_pooled_cotangent),
        ]


class AveragePoolGrad(_WindowOp):
    """Gradient of sum and average pooling: ``(input, pooled_grad) -> input_grad``.

    ``input`` only supplies the shape. ``mode`` is ``'sum'``,
    ``'average_inc_pad'`` or ``'average_exc_pad'``.

    Examples
    --------
    >>> import numpy as np
    >>> AveragePoolGrad(ws=(2, 2), mode="average_inc_pad")(np.zeros((2, 2)), [[4.0]]).eval()
    array([[1., 1.],
           [1., 1.]])
    """

    __props__ = (*_WindowOp.__props__, "mode")

    def __init__(self, ws, stride=None, pad=(0, 0), ignore_border=True, mode="sum"):
        super().__init__(ws, stride, pad, ignore_border)
        if mode not in _SUM_MODES:
            raise ValueError(f"mode must be one of {_SUM_MODES}, got mode={mode!r}")
        self.mode = mode

    def make_node(self, x, pooled_grad):
        x = self._as_pooled_tensor(x)
        pooled_grad = self._like(x, pooled_grad, "pooled_grad")
        return Apply(self, [x, pooled_grad], [x.type()])

    def perform(self, node, inputs, outputs):
        x, pooled_grad = inputs
        per_window = pooled_grad
        if self.mode != "sum":
            include_pad = self.mode == "average_inc_pad"
            per_window = pooled_grad / _window_counts(self, *x.shape[-2:], include_pad)
        per_cell = np.broadcast_to(
            per_window.astype(x.dtype, copy=False)[..., None, None], per_window.shape + self.ws
        )
        outputs[0][0] = _add_windows_to_cells(per_cell, self, x.shape)

    @infer_shape_method
    def infer_shape(self, node, shapes):
        return [shapes[0]]

    def pullback(self, inputs, outputs, cotangents):
        x, _ = inputs
        (grad_input_grad,) = cotangents
        # Linear in pooled_grad, so the adjoint is the forward pooling.
        return [pt.zeros_like(x), Pool(**self._geometry(), mode=self.mode)(grad_input_grad)]


# The backend implementations register themselves when PyTensor loads each backend.
import_when_imported(NUMBA_DISPATCH, "convnet.ops.pool_numba")
import_when_imported(JAX_DISPATCH, "convnet.ops.pool_jax")
