"""Which axes a batch normalization reduces over, validated once.

:class:`BatchNormGeometry` holds the input's number of dimensions and the
axes its statistics are taken over (the *normalized* axes; the others are
*kept*: the statistics and the learned ``gamma`` and ``beta`` have one entry
per position on them, shaped like the kept axes). It holds every rule about
them, with one set of error messages, and the arithmetic that the NumPy
reference, the Numba kernels and the JAX lowering share:

* :meth:`~BatchNormGeometry.layout`: the input seen as a C-ordered
  ``(outer, kept, inner)`` array, after :attr:`~BatchNormGeometry.permutation`
  (the identity when the kept axes are adjacent, as for the usual per-channel
  normalization of ``(batch, channels, rows, cols)`` over ``(0, 2, 3)``);
* :meth:`~BatchNormGeometry.stats_shape`, :meth:`~BatchNormGeometry.count`
  and :meth:`~BatchNormGeometry.broadcast` for the per-position statistics.

Examples
--------
>>> g = BatchNormGeometry(axes=(0, 2, 3), ndim=4)
>>> g.kept, g.layout((128, 16, 32, 32)), g.count((128, 16, 32, 32))
((1,), (128, 16, 1024), 131072)
>>> BatchNormGeometry(axes=(1, 2), ndim=4).permutation
(1, 2, 0, 3)
>>> BatchNormGeometry(axes=(0, 4), ndim=4)
Traceback (most recent call last):
...
ValueError: batch normalization axes must be distinct axes of the 4-dimensional input, got axes=(0, 4)
"""
from dataclasses import dataclass
from math import prod

from pytensor.graph.basic import Variable

from ...utils import int_types

__all__ = ["BatchNormGeometry"]


@dataclass(frozen=True)
class BatchNormGeometry:
    """The normalized axes of an ``ndim``-dimensional input.

    Parameters
    ----------
    axes : tuple of int
        The axes the statistics are taken over: distinct, at least one, in
        ``range(-ndim, ndim)`` (negative ones count from the end). Stored
        sorted and non-negative.
    ndim : int
        The input's number of dimensions (at least 1).
    """

    axes: tuple[int, ...]
    ndim: int

    def __post_init__(self):
        if not isinstance(self.ndim, int_types) or self.ndim < 1:
            raise ValueError(f"batch normalization needs an input with at least 1 dimension, got ndim={self.ndim!r}")
        try:
            axes = tuple(self.axes)
        except TypeError:
            axes = None
        if (not axes or not all(isinstance(a, int_types) and -self.ndim <= a < self.ndim for a in axes)
                or len({a % self.ndim for a in axes}) != len(axes)):
            raise ValueError(f"batch normalization axes must be distinct axes of the {self.ndim}-dimensional "
                             f"input, got axes={self.axes!r}")
        object.__setattr__(self, "axes", tuple(sorted(int(a) % self.ndim for a in axes)))
        object.__setattr__(self, "ndim", int(self.ndim))

    @property
    def kept(self):
        """The axes the statistics (and ``gamma``, ``beta``) have entries on."""
        return tuple(a for a in range(self.ndim) if a not in self.axes)

    @property
    def permutation(self):
        """The axes in the order the kernels read them: the identity when the
        kept axes are adjacent (``(outer, kept, inner)`` is then a reshape),
        else the normalized axes first (``(normalized, kept, 1)``)."""
        kept = self.kept
        if not kept or kept[-1] - kept[0] + 1 == len(kept):
            return tuple(range(self.ndim))
        return self.axes + kept

    @property
    def kept_span(self):
        """``(first, last)``: where the kept axes are among the permuted
        axes (``(0, 0)`` when there are none: everything is ``inner``)."""
        kept = self.kept
        if not kept:
            return 0, 0
        first = self.permutation.index(kept[0])
        return first, first + len(kept)

    def layout(self, shape):
        """``(outer, kept, inner)``: the sizes of the input, permuted by
        :attr:`permutation`, before, on and after the kept axes."""
        shape = tuple(shape[a] for a in self.permutation)
        first, last = self.kept_span
        return prod(shape[:first]), prod(shape[first:last]), prod(shape[last:])

    def stats_shape(self, shape):
        """The shape of the statistics, ``gamma`` and ``beta`` for an input of ``shape``."""
        return tuple(shape[a] for a in self.kept)

    def count(self, shape):
        """The number of values each statistic is taken over."""
        return prod(shape[a] for a in self.axes)

    def broadcast(self, stats):
        """``stats`` (shaped like the kept axes: a NumPy or JAX array, or a
        PyTensor variable) with unit normalized axes, to broadcast against
        the input."""
        if isinstance(stats, Variable):
            kept = iter(range(stats.ndim))
            return stats.dimshuffle(["x" if a in self.axes else next(kept) for a in range(self.ndim)])
        return stats.reshape([1 if a in self.axes else stats.shape[self.kept.index(a)] for a in range(self.ndim)])

    def check_stats_shape(self, name, input_shape, shape):
        """ValueError if ``shape`` (a static shape, None for unknown sizes)
        cannot be the statistics' shape for an input of ``input_shape``."""
        expected = self.stats_shape(input_shape)
        if len(shape) != len(expected) or any(
                a is not None and b is not None and a != b for a, b in zip(shape, expected)):
            raise ValueError(
                f"batch normalization over axes {self.axes} of an input of shape {tuple(input_shape)}: {name} "
                f"must have the shape of the kept axes {self.kept}, {expected}, got {tuple(shape)}"
            )
