"""Spatial transformer layers, as Lasagne's: :class:`TransformerLayer`
(an affine transform) and :class:`TPSTransformerLayer` (a thin plate spline).

Both sample their input at transformed positions of a regular grid of output
positions, by bilinear interpolation. Coordinates are normalised, Lasagne's
(and the paper's) convention: ``-1`` is the first row or column and ``1`` the
last, whatever the image size. A localization network (any layer) gives the
transform of each example; gradients reach both the input and the
localization network. The transform ``[[1, 0, 0], [0, 1, 0]]`` returns the
input::

    >>> import numpy as np
    >>> from convnet import init
    >>> from convnet.layers import InputLayer, DenseLayer, TransformerLayer
    >>> l_in = InputLayer((None, 3, 28, 28))
    >>> identity = np.array([1, 0, 0, 0, 1, 0], dtype="float32")
    >>> l_loc = DenseLayer(l_in, num_units=6, W=init.Constant(0.0), b=identity, nonlinearity=None)
    >>> TransformerLayer(l_in, l_loc, downsample_factor=2).output_shape
    (None, 3, 14, 14)

Positions outside the input take their value from ``border_mode``:
``'nearest'`` (the closest border pixel), ``'mirror'`` (the input reflected
about its first and last pixels) or ``'wrap'`` (the input repeated).
Everything is built from PyTensor ops (advanced indexing for the lookups), so
every backend runs it.
"""
from dataclasses import dataclass

import numpy as np
import pytensor.tensor as pt

from ..typing import Shape
from ..utils import as_tuple, check_int, floatX
from .base import Incoming, MergeLayer

__all__ = ["TransformerLayer", "TPSTransformerLayer"]

_BORDER_MODES = ("nearest", "mirror", "wrap")


@dataclass(frozen=True)
class Resampling:
    """How a spatial transformer resamples its input, checked when made: the
    output grid's ``downsample_factor`` (rows, columns) and the
    ``border_mode`` for positions outside the input.

    Examples
    --------
    >>> resampling = Resampling.from_arguments(downsample_factor=(2, 1.5), border_mode="wrap")
    >>> resampling.output_size((28, None))
    (14, None)
    """

    downsample_factor: tuple[float, float]
    border_mode: str

    @classmethod
    def from_arguments(cls, downsample_factor, border_mode):
        factors = as_tuple(downsample_factor, 2)
        if not all(isinstance(f, (int, float, np.integer, np.floating)) and not isinstance(f, bool) and f > 0
                   for f in factors):
            raise ValueError(f"downsample_factor must be a positive number or a pair of them, "
                             f"got {downsample_factor!r}")
        if border_mode not in _BORDER_MODES:
            raise ValueError(f"border_mode must be one of {_BORDER_MODES}, got {border_mode!r}")
        return cls(tuple(factors), border_mode)

    def output_size(self, input_size):
        """The output rows and columns, ``int(size // factor)`` (None where unknown)."""
        return tuple(None if s is None else int(s // f) for s, f in zip(input_size, self.downsample_factor))

    def check_input_shape(self, input_shape):
        """ValueError unless ``input_shape`` is 4-D with known output sizes of at least 1."""
        if len(input_shape) != 4:
            raise ValueError(f"the input must be 4-dimensional (batch, channels, rows, columns), got input "
                             f"shape {tuple(input_shape)}")
        output_size = self.output_size(input_shape[2:])
        if any(s is not None and s < 1 for s in output_size):
            raise ValueError(f"downsample_factor {self.downsample_factor} leaves no output of the input "
                             f"{tuple(input_shape)}")

    def symbolic_output_size(self, input, known):
        """The output rows and columns of the symbolic ``input``: the ints of
        ``known`` where given, else computed from the input's shape."""
        return tuple(k if k is not None else pt.cast(input.shape[axis] // f, "int64")
                     for axis, k, f in zip((2, 3), known, self.downsample_factor))

    def sample(self, input, x, y, output_size):
        """Bilinear samples of ``input`` (batch, channels, rows, columns) at the
        normalised positions ``x`` (column) and ``y`` (row), both of shape
        (batch, output positions), as (batch, channels) + ``output_size``."""
        batch, channels, rows, cols = input.shape
        # Normalised [-1, 1] to pixel coordinates [0, size - 1]
        x = (x + 1) / 2 * (pt.cast(cols, x.dtype) - 1)
        y = (y + 1) / 2 * (pt.cast(rows, y.dtype) - 1)
        x0, y0 = pt.floor(x), pt.floor(y)
        x1, y1 = x0 + 1, y0 + 1
        # Lookups by (example, row, column) index arrays, not in a flattened input: the
        # gradient's zeros then take the input's shape, which JAX knows statically.
        images = input.dimshuffle(0, 2, 3, 1)
        examples = pt.arange(batch).dimshuffle(0, "x")
        total = 0
        for row, weight_y in [(self._inside(y0, rows), y1 - y), (self._inside(y1, rows), y - y0)]:
            for column, weight_x in [(self._inside(x0, cols), x1 - x), (self._inside(x1, cols), x - x0)]:
                total = total + images[examples, row, column] * (weight_x * weight_y).dimshuffle(0, 1, "x")
        return total.reshape((batch,) + tuple(output_size) + (channels,)).dimshuffle(0, 3, 1, 2)

    def _inside(self, index, size):
        """The integer index in ``[0, size)`` that the float pixel ``index``
        reads under the border mode."""
        size = pt.cast(size, index.dtype)
        if self.border_mode == "nearest":
            inside = pt.clip(index, 0, size - 1)
        elif self.border_mode == "wrap":
            inside = index % size
        else:  # mirror: period 2 (size - 1), reflected about the first and last pixel
            period = pt.maximum(2 * (size - 1), 1)
            inside = pt.minimum(index % period, -index % period)
        return pt.cast(inside, "int64")


def _target_grid(xp, rows, cols):
    """The normalised (x, y) of the output positions, shape (2, rows * cols),
    in row-major order, with NumPy (``xp=np``) or PyTensor (``xp=pt``)."""
    x = xp.linspace(-1.0, 1.0, cols)[None, :] + xp.zeros((rows, 1))
    y = xp.linspace(-1.0, 1.0, rows)[:, None] + xp.zeros((1, cols))
    return xp.stack([x.flatten(), y.flatten()])


def _thin_plate_terms(xp, points, control_points):
    """The terms a thin plate spline weighs at ``points`` (2, P) for
    ``control_points`` (2, K): rows 1, x, y and ``U(r) = r**2 log r**2``
    of the distance to each control point (``U(0) = 0``); shape (K + 3, P)."""
    r2 = ((points[:, None, :] - control_points[:, :, None]) ** 2).sum(axis=0)
    positive = r2 > 0
    u = xp.where(positive, r2 * xp.log(xp.where(positive, r2, 1.0)), 0.0)
    return xp.concatenate([xp.ones_like(points[:1]), points, u], axis=0)


class _SpatialTransformer(MergeLayer):
    """What both transformers share: the input and localization checks, the
    output shape and the sampling; subclasses give the sampling positions."""

    localization_size = None

    def __init__(self, incoming, localization_network, downsample_factor, border_mode, **kwargs):
        super().__init__([incoming, localization_network], **kwargs)
        self.resampling = Resampling.from_arguments(downsample_factor, border_mode)
        self.downsample_factor, self.border_mode = self.resampling.downsample_factor, border_mode
        input_shape, localization_shape = self.input_shapes
        self.resampling.check_input_shape(input_shape)
        if len(localization_shape) != 2 or localization_shape[1] not in (None, self.localization_size):
            raise ValueError(f"the localization network must have output shape (batch_size, "
                             f"{self.localization_size}), got {tuple(localization_shape)}")

    def get_output_shape_for(self, input_shapes: list[Shape]) -> Shape:
        shape = input_shapes[0]
        self.resampling.check_input_shape(shape)
        return tuple(shape[:2]) + self.resampling.output_size(shape[2:])

    def get_output_for(self, inputs, **kwargs):
        input, localization = inputs
        output_size = self.resampling.symbolic_output_size(input, self.output_shape[2:])
        # The input's batch size shapes the localization output: it is what
        # JAX can read statically (one computed from a reshape's -1 is traced).
        positions = self.source_positions(localization, input.shape[0], output_size)
        return self.resampling.sample(input, positions[:, 0], positions[:, 1], output_size)

    def source_positions(self, localization, batch, output_size):
        """The normalised input positions (batch, 2 (x, y), output positions)
        that the output positions read, for the ``batch`` examples' localization."""
        raise NotImplementedError


class TransformerLayer(_SpatialTransformer):
    """Spatial transformer with an affine transform (Jaderberg et al., 2015),
    as Lasagne's.

    The output position with normalised coordinates ``(x_t, y_t)`` (``-1``:
    the first row or column, ``1``: the last) reads the input at ``(x_s,
    y_s) = theta @ (x_t, y_t, 1)``, interpolated bilinearly, where ``theta``
    is the localization network's output for the example, reshaped to
    ``(2, 3)``: ``[t1, t2, t3, t4, t5, t6]`` scales with ``t1`` and ``t5``,
    shears with ``t2`` and ``t4`` and translates with ``t3`` and ``t6``.

    Parameters
    ----------
    incoming : Layer or tuple
        The input, ``(batch, channels, rows, columns)``; any size may be None.
    localization_network : Layer
        Gives the 6 transform parameters of each example, output shape
        ``(batch, 6)``; use a linear output (``nonlinearity=None``).
    downsample_factor : float or pair of float
        The output has ``int(size // downsample_factor)`` rows and columns:
        1 keeps the size, above 1 shrinks, below 1 enlarges.
    border_mode : 'nearest', 'mirror' or 'wrap'
        What positions outside the input read; see :mod:`convnet.layers.transform`.
    **kwargs
        Passed to :class:`MergeLayer` (e.g. ``name``).

    Raises
    ------
    ValueError
        For an input that is not 4-D, a localization output that is not
        ``(batch, 6)``, a downsample factor that is not positive or leaves no
        output, and an unknown ``border_mode``.

    Examples
    --------
    >>> from convnet.layers import InputLayer, TransformerLayer
    >>> l_in, l_loc = InputLayer((None, 1, 10, 12)), InputLayer((None, 6))
    >>> TransformerLayer(l_in, l_loc, downsample_factor=(2, 3)).output_shape
    (None, 1, 5, 4)
    """

    localization_size = 6

    def __init__(self, incoming: Incoming, localization_network: Incoming,
                 downsample_factor: float | tuple[float, float] = 1, border_mode: str = "nearest",
                 **kwargs) -> None:
        super().__init__(incoming, localization_network, downsample_factor, border_mode, **kwargs)

    def source_positions(self, theta, batch, output_size):
        grid = _target_grid(pt, *output_size)
        grid = pt.concatenate([grid, pt.ones_like(grid[:1])]).astype(theta.dtype)
        return pt.dot(theta.reshape((batch, 2, 3)), grid)


class TPSTransformerLayer(_SpatialTransformer):
    """Spatial transformer with a thin plate spline (Bookstein, 1989), as
    Lasagne's.

    ``control_points`` control points lie on a regular grid over the input
    (normalised coordinates, ``-1`` to ``1``); the localization network moves
    each of them by an offset, and the thin plate spline through the moved
    points (the smoothest map that sends each control point to its moved
    position) gives the input position every output position reads. Zero
    offsets give the identity.

    Parameters
    ----------
    incoming : Layer or tuple
        The input, ``(batch, channels, rows, columns)``.
    localization_network : Layer
        Gives each example's offsets, output shape ``(batch, 2 *
        control_points)``: the x offsets of the control points in row-major
        order, then their y offsets.
    downsample_factor : float or pair of float
        As for :class:`TransformerLayer`.
    control_points : int
        The number of control points, a perfect square of at least 4 (a
        ``sqrt(control_points)`` square grid).
    precompute_grid : 'auto' or bool
        True computes the spline's terms at every output position once, in
        NumPy, at construction (the input rows and columns must be known);
        False computes them in the graph, for any size; ``'auto'`` (the
        default) is True when the sizes are known. Both give the same output.
        (Lasagne's graph-side computation left out the spline's non-affine
        part, so with ``precompute_grid=False`` it computed an affine map.)
    border_mode : 'nearest', 'mirror' or 'wrap'
        As for :class:`TransformerLayer`.
    **kwargs
        Passed to :class:`MergeLayer` (e.g. ``name``).

    Raises
    ------
    ValueError
        As :class:`TransformerLayer` (the localization output must be
        ``(batch, 2 * control_points)``), and for ``control_points`` that is
        not a perfect square of at least 4, and ``precompute_grid=True`` with
        unknown input rows or columns.

    Examples
    --------
    >>> from convnet.layers import InputLayer, TPSTransformerLayer
    >>> l_in, l_loc = InputLayer((None, 3, 28, 28)), InputLayer((None, 32))
    >>> l_tps = TPSTransformerLayer(l_in, l_loc, control_points=16)
    >>> l_tps.output_shape, l_tps.precompute_grid
    ((None, 3, 28, 28), True)
    """

    def __init__(self, incoming: Incoming, localization_network: Incoming,
                 downsample_factor: float | tuple[float, float] = 1, control_points: int = 16,
                 precompute_grid: bool | str = "auto", border_mode: str = "nearest", **kwargs) -> None:
        self.control_points = check_int("control_points", control_points, minimum=4)
        side = int(round(np.sqrt(self.control_points)))
        if side * side != self.control_points:
            raise ValueError(f"control_points must be a perfect square, got {control_points}")
        self.localization_size = 2 * self.control_points
        super().__init__(incoming, localization_network, downsample_factor, border_mode, **kwargs)
        output_size = self.output_shape[2:]
        if precompute_grid == "auto":
            precompute_grid = None not in output_size
        elif precompute_grid not in (True, False):
            raise ValueError(f"precompute_grid must be 'auto', True or False, got {precompute_grid!r}")
        elif precompute_grid and None in output_size:
            raise ValueError(f"precompute_grid=True needs known input rows and columns, got input shape "
                             f"{self.input_shapes[0]}")
        self.precompute_grid = precompute_grid
        source = np.linspace(-1.0, 1.0, side)
        self.source_points = np.stack([np.tile(source, side), np.repeat(source, side)])
        # The spline through the moved points y is its terms at a position times
        # inv(L)[:, 3:] @ y (Bookstein's system L = [[0, P^T], [P, K]]).
        terms = _thin_plate_terms(np, self.source_points, self.source_points)
        system = np.zeros((self.control_points + 3,) * 2)
        system[:, 3:] = terms
        system[3:, :3] = terms[:3].T
        self.spline_weights = np.linalg.inv(system)[:, 3:].T  # (control points, control points + 3)
        self.interpolation = None
        if precompute_grid:
            grid_terms = _thin_plate_terms(np, _target_grid(np, *output_size), self.source_points)
            self.interpolation = floatX(self.spline_weights @ grid_terms)

    def source_positions(self, offsets, batch, output_size):
        if self.interpolation is not None:
            interpolation = pt.constant(self.interpolation)
        else:
            # In float64 as in NumPy: the spline's terms cancel (float32 loses ~1e-5); it is not per example.
            grid = _target_grid(pt, *output_size).astype("float64")
            terms = _thin_plate_terms(pt, grid, pt.constant(self.source_points))
            interpolation = pt.dot(pt.constant(self.spline_weights), terms)
        moved = floatX(self.source_points) + offsets.reshape((batch, 2, self.control_points))
        return pt.dot(moved, interpolation.astype(offsets.dtype))
