"""The geometry of a pooling over one, two or three axes, validated once.

:class:`PoolGeometry` holds a pooling's window, stride, padding, border rule
and mode. It is built once from an Op's (or a layer's) arguments and holds
every rule about them, with one set of error messages; the NumPy reference
(the Ops' ``perform``), the Numba kernels and the JAX lowering all take their
lengths, padding and window counts from it.

The per-axis arithmetic (:func:`output_length`, :func:`window_fits`,
:func:`padded_extent`, :func:`axis_window_counts`) is plain code on numbers and NumPy arrays, so
that the Numba backend compiles these very functions rather than a copy.

Window placement (as in Theano)
-------------------------------
Along each pooled axis of length ``n``, window ``i`` starts at cell
``i * stride - pad`` and covers ``window`` cells. ``ignore_border=True``
keeps only windows that fit in the padded axis; ``ignore_border=False``
(which allows no padding) also keeps the partial windows that run past the
end, until every cell is covered.

Examples
--------
>>> geometry = PoolGeometry(ws=(2, 3, 3), stride=(1, 2, 2), pad=(0, 1, 1))
>>> geometry.ndim, geometry.output_lengths((4, 7, None))
(3, (3, 4, None))
>>> PoolGeometry(ws=(2, 2), pad=(2, 0))
Traceback (most recent call last):
...
ValueError: pad must be smaller than ws on each axis, got pad=(2, 0) with ws=(2, 2)
"""
import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ...utils import int_types

__all__ = ["POOL_MODES", "SUM_MODES", "MAX_POOLED_AXES", "PoolGeometry", "output_length", "window_fits",
           "padded_extent", "axis_window_counts"]

POOL_MODES = ("max", "sum", "average_inc_pad", "average_exc_pad", "l2")
"""The pooling modes: the maximum, the sum, the mean counting padding as zeros
(``'average_inc_pad'``) or over the input cells only (``'average_exc_pad'``),
and the root of the sum of squares (``'l2'``)."""

MAX_POOLED_AXES = 3
"""The most axes a pooling pools (depth, rows and columns)."""

SUM_MODES = ("sum", "average_inc_pad", "average_exc_pad")
"""The modes whose pooling is linear (a weighted sum of each window's cells)."""

def output_length(length, window, stride, pad, ignore_border, maximum=max):
    """Number of windows along an axis (Theano's ``Pool.out_shape``).

    Plain arithmetic, so it also runs inside Numba (with the builtin ``max``)
    and on symbolic lengths (with ``maximum=pytensor.tensor.maximum``).

    >>> output_length(24, 2, 2, 0, True), output_length(5, 2, 2, 0, False)
    (12, 3)
    """
    if ignore_border:
        return (length + 2 * pad - window) // stride + 1
    if stride >= window:
        return (length - 1) // stride + 1
    return maximum(0, (length - window + stride - 1) // stride) + 1


def window_fits(length, window, pad, ignore_border):
    """Whether an axis of ``length`` cells has room for a window: always with
    ``ignore_border=False``, else when the window fits in the padded axis.

    >>> window_fits(2, 3, 0, True), window_fits(2, 3, 1, True), window_fits(2, 3, 0, False)
    (False, True, True)
    """
    return not ignore_border or length + 2 * pad >= window


def padded_extent(length, window, stride, pad, n_windows):
    """Length of the padded axis that ``n_windows`` windows are cut from.

    It covers both sides' padding and, with ``ignore_border=False``, the
    cells past the end that partial windows reach.

    >>> padded_extent(5, 2, 2, 0, 3)
    6
    """
    return max(length + 2 * pad, (n_windows - 1) * stride + window)


def axis_window_counts(length, n_windows, window, stride, pad, include_pad):
    """Number of cells each window covers along an axis, as a float64 array:
    input cells only, or also padding cells (``include_pad``); never cells
    past the padded input.

    >>> axis_window_counts(5, 3, 3, 2, 1, False)
    array([2., 3., 2.])
    """
    starts = np.arange(n_windows) * stride - pad
    stops = starts + window
    if include_pad:
        return (np.minimum(stops, length + pad) - starts).astype(np.float64)
    return (np.minimum(stops, length) - np.maximum(starts, 0)).astype(np.float64)


def _int_tuple(name, value, n, minimum):
    """``value`` as a tuple of ``n`` (or, for None, 1 to 3) Python ints
    ``>= minimum``, else ValueError naming ``name``."""
    try:
        items = tuple(value)
    except TypeError:
        items = None
    kind = "positive" if minimum == 1 else "non-negative"
    count = f"1 to {MAX_POOLED_AXES}" if n is None else str(n)
    if items is None or not 1 <= len(items) <= MAX_POOLED_AXES or (n is not None and len(items) != n) or not all(
        isinstance(v, int_types) and not isinstance(v, (bool, np.bool_)) for v in items
    ):
        raise ValueError(f"{name} must be {count} {kind} integers, got {name}={value!r}")
    if any(v < minimum for v in items):
        raise ValueError(f"{name} must be {kind}, got {name}={value!r}")
    return tuple(int(v) for v in items)


@dataclass(frozen=True)
class PoolGeometry:
    """Window, stride, padding, border rule and mode of a pooling over the
    last ``ndim`` axes of a tensor; constructing it validates them.

    Parameters
    ----------
    ws : tuple of int
        Window size along each pooled axis (positive).
    stride : tuple of int or None
        Step between windows; None means ``ws`` (windows that do not overlap).
    pad : tuple of int or None
        Padding on both sides of each pooled axis, smaller than ``ws``; None
        means none. Only with ``ignore_border=True``.
    ignore_border : bool
        True keeps only whole windows; False also keeps the partial windows
        at the end of each axis.
    mode : str
        One of ``modes``.
    ndim : int or None
        The number of pooled axes (1 to 3), which ``ws``, ``stride`` and ``pad`` must
        match; None takes ``len(ws)``.
    window_name : str
        How errors name ``ws`` (layers call it ``pool_size``); not part of
        the geometry's identity.
    modes : tuple of str
        The modes the caller accepts (default :data:`POOL_MODES`); not part of
        the geometry's identity.

    Raises
    ------
    ValueError
        For ``ws``, ``stride`` or ``pad`` that are not ``ndim`` integers, a
        non-positive ``ws`` or ``stride``, a negative ``pad`` or one not
        smaller than ``ws``, padding with ``ignore_border=False``, an
        ``ignore_border`` that is not a bool, or a mode not in ``modes``.

    Examples
    --------
    >>> g = PoolGeometry((3, 3), stride=(2, 2), pad=(1, 1), mode="average_exc_pad")
    >>> g
    PoolGeometry(ws=(3, 3), stride=(2, 2), pad=(1, 1), ignore_border=True, mode='average_exc_pad', ndim=2)
    >>> g.output_lengths((5, 6)), g.padded_lengths((5, 6))
    ((3, 3), (7, 8))
    >>> g.average_divisors((5, 6))
    array([[4., 6., 6.],
           [6., 9., 9.],
           [4., 6., 6.]])
    """

    ws: tuple[int, ...]
    stride: tuple[int, ...] | None = None
    pad: tuple[int, ...] | None = None
    ignore_border: bool = True
    mode: str = "max"
    ndim: int | None = None
    window_name: str = field(default="ws", compare=False, repr=False)
    modes: tuple[str, ...] = field(default=POOL_MODES, compare=False, repr=False)

    def __post_init__(self):
        ws_name = self.window_name
        ws = _int_tuple(ws_name, self.ws, self.ndim, 1)
        n = len(ws)
        stride = ws if self.stride is None else _int_tuple("stride", self.stride, n, 1)
        pad = (0,) * n if self.pad is None else _int_tuple("pad", self.pad, n, 0)
        if any(p >= w for p, w in zip(pad, ws)):
            raise ValueError(f"pad must be smaller than {ws_name} on each axis, got pad={pad} with {ws_name}={ws}")
        if not isinstance(self.ignore_border, (bool, np.bool_)):
            raise ValueError(f"ignore_border must be True or False, got ignore_border={self.ignore_border!r}")
        if any(pad) and not self.ignore_border:
            raise ValueError(f"padding requires ignore_border=True (as in Theano), "
                             f"got ignore_border=False with pad={pad}")
        if self.mode not in self.modes:
            raise ValueError(f"mode must be one of {self.modes}, got mode={self.mode!r}")
        for name, value in (("ws", ws), ("stride", stride), ("pad", pad), ("ndim", n),
                            ("ignore_border", bool(self.ignore_border))):
            object.__setattr__(self, name, value)

    def replace(self, **changes):
        """A copy with some fields changed (and validated), e.g. another mode."""
        return dataclasses.replace(self, **changes)

    @property
    def may_pad(self):
        """Whether some input needs a padded copy (padding or partial windows)."""
        return any(self.pad) or not self.ignore_border

    @property
    def overlapping(self):
        """Whether windows can share cells (a stride smaller than the window)."""
        return any(s < w for s, w in zip(self.stride, self.ws))

    @property
    def window_cells(self):
        """Number of cells in a window."""
        return int(np.prod(self.ws))

    def _per_axis(self, lengths):
        return zip(lengths, self.ws, self.stride, self.pad)

    def check_fits(self, lengths):
        """With ``ignore_border=True``, ValueError if a window is larger than
        the padded input; ``lengths`` are the pooled axes' (None: unknown)."""
        if not all(n is None or window_fits(n, w, p, self.ignore_border) for n, w, _, p in self._per_axis(lengths)):
            padded = tuple(None if n is None else n + 2 * p for n, p in zip(lengths, self.pad))
            raise ValueError(
                f"with ignore_border=True the window must fit in the padded input, got "
                f"{self.window_name}={self.ws} for pooled input lengths {tuple(lengths)} padded by "
                f"pad={self.pad} to {padded}")

    def output_lengths(self, lengths):
        """The pooled axes' output lengths (None where the length is unknown)
        for pooled input ``lengths``; ValueError if a window does not fit."""
        lengths = tuple(lengths)
        self.check_fits(lengths)
        return tuple(None if n is None else output_length(n, w, s, p, self.ignore_border)
                     for n, w, s, p in self._per_axis(lengths))

    def symbolic_output_lengths(self, lengths):
        """:meth:`output_lengths` of symbolic lengths (for ``infer_shape``)."""
        import pytensor.tensor as pt

        return tuple(output_length(n, w, s, p, self.ignore_border, maximum=pt.maximum)
                     for n, w, s, p in self._per_axis(lengths))

    def padded_lengths(self, lengths):
        """Lengths of the padded input that every window fits in whole."""
        return tuple(padded_extent(n, w, s, p, output_length(n, w, s, p, self.ignore_border))
                     for n, w, s, p in self._per_axis(lengths))

    def average_divisors(self, lengths):
        """Number of cells each window averages over, as a float64 array of
        the output lengths: input and padding cells for
        ``'average_inc_pad'``, input cells only otherwise."""
        include_pad = self.mode == "average_inc_pad"
        per_axis = [axis_window_counts(n, output_length(n, w, s, p, self.ignore_border), w, s, p, include_pad)
                    for n, w, s, p in self._per_axis(lengths)]
        return _outer(per_axis)


def _outer(vectors):
    """The outer product of 1-d arrays, of shape ``(len(v) for v in vectors)``."""
    product = np.ones(())
    for v in vectors:
        product = np.multiply.outer(product, v)
    return product
