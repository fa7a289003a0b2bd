"""Initializers: objects that create the initial value of a parameter.

An initializer is called with a shape and returns a NumPy array of that shape
and dtype ``floatX``. Layers accept one wherever they accept a parameter
(see :func:`convnet.utils.create_param`), as do arrays, shared variables and
any callable taking a shape.

Random initializers draw from :func:`convnet.random.get_rng`, so a seeded
:func:`convnet.random.set_rng` makes them reproducible.

Examples
--------
>>> from convnet.init import Constant, GlorotUniform
>>> W = GlorotUniform()((100, 50))
>>> W.shape, W.dtype
((100, 50), dtype('float32'))
>>> Constant(0.1)((3,))
array([0.1, 0.1, 0.1], dtype=float32)

Weight shapes follow convnet's layers: ``(num_inputs, num_units)`` for dense
layers and ``(num_filters, num_input_channels, rows, columns, ...)`` for
convolutions, which is what the fan-in/fan-out computations of
:class:`Glorot` and :class:`He` assume.
"""
import numbers
from collections.abc import Sequence

import numpy as np

from .random import get_rng
from .utils import floatX, settings_repr

__all__ = [
    "Initializer",
    "Normal",
    "Uniform",
    "Glorot",
    "GlorotNormal",
    "GlorotUniform",
    "He",
    "HeNormal",
    "HeUniform",
    "Constant",
    "Sparse",
    "Orthogonal",
]


class Initializer:
    """Base class for parameter initializers.

    Subclasses implement :meth:`sample`; calling an instance calls it.
    """

    def __call__(self, shape: int | Sequence[int]) -> np.ndarray:
        """Return :meth:`sample` of ``shape``, so an instance works like a function."""
        return self.sample(shape)

    def __repr__(self):
        return settings_repr(self)

    def sample(self, shape: int | Sequence[int]) -> np.ndarray:
        """Return an array of ``shape`` (a tuple of ints, or an int) and dtype ``floatX``.

        Raises
        ------
        ValueError
            For shapes the initializer cannot handle.
        """
        raise NotImplementedError

    def _shape_error(self, shape, requirement):
        return ValueError(f"{type(self).__name__} needs a shape {requirement}, got {shape!r}")


def _shape_tuple(shape):
    """``shape`` as a tuple (an int ``n`` becomes ``(n,)``)."""
    return (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)


def _gain_value(gain):
    """``gain`` as a float: a number as is, ``'relu'`` as ``sqrt(2)``."""
    if isinstance(gain, str) and gain == "relu":
        return float(np.sqrt(2))
    if isinstance(gain, numbers.Real):
        return float(gain)
    raise ValueError(f"gain must be a number or 'relu', got {gain!r}")


class Normal(Initializer):
    """Sample from the normal distribution N(mean, std).

    Parameters
    ----------
    std : float
        Standard deviation.
    mean : float
        Mean.

    Examples
    --------
    >>> Normal(std=0.1)((2, 3)).shape
    (2, 3)
    """

    def __init__(self, std: float = 0.01, mean: float = 0.0) -> None:
        self.std = std
        self.mean = mean

    def sample(self, shape: int | Sequence[int]) -> np.ndarray:
        return floatX(get_rng().normal(self.mean, self.std, size=shape))


class Uniform(Initializer):
    """Sample from the uniform distribution U(a, b).

    Parameters
    ----------
    range : float or tuple of float
        Used when `std` is None: a float ``r`` samples from U(-r, r), a pair
        ``(a, b)`` from U(a, b).
    std : float or None
        When given, sample from
        U(mean - sqrt(3) * std, mean + sqrt(3) * std), the uniform
        distribution with this standard deviation and `mean`.
    mean : float
        The mean; only used together with `std`.

    Examples
    --------
    >>> w = Uniform(range=(0, 1))((1000,))
    >>> bool(w.min() >= 0 and w.max() < 1)
    True
    """

    def __init__(self, range: float | tuple[float, float] = 0.01, std: float | None = None,
                 mean: float = 0.0) -> None:
        if std is not None:
            low, high = mean - np.sqrt(3) * std, mean + np.sqrt(3) * std
        elif isinstance(range, numbers.Real):
            low, high = -range, range
        else:
            low, high = range
        self.range = (low, high)

    def sample(self, shape: int | Sequence[int]) -> np.ndarray:
        return floatX(get_rng().uniform(low=self.range[0], high=self.range[1], size=shape))


class _FanScaledInitializer(Initializer):
    """An initializer whose standard deviation follows from the fan-in and
    fan-out of the shape; subclasses give :meth:`std_for` the formula."""

    def __init__(self, initializer: type[Initializer], gain: float | str = 1.0, c01b: bool = False) -> None:
        self.initializer = initializer
        self.gain = _gain_value(gain)
        self.c01b = c01b

    def fans(self, shape: int | Sequence[int]) -> tuple[int, int]:
        """``(fan_in, fan_out)`` of a weight of ``shape``.

        ``(num_inputs, num_units)`` for 2-D shapes;
        ``(num_filters, num_input_channels, *filter_size)`` for more
        dimensions, or ``(num_input_channels, rows, columns, num_filters)``
        with ``c01b=True``. Each fan includes the filter size.
        """
        shape = _shape_tuple(shape)
        if self.c01b:
            if len(shape) != 4:
                raise self._shape_error(shape, "of length 4 with c01b=True")
            receptive_field_size = shape[1] * shape[2]
            return shape[0] * receptive_field_size, shape[3] * receptive_field_size
        if len(shape) < 2:
            raise self._shape_error(shape, "of length 2 or more (a weight matrix or filter bank)")
        if len(shape) == 2:
            return shape[0], shape[1]
        receptive_field_size = int(np.prod(shape[2:]))
        return shape[1] * receptive_field_size, shape[0] * receptive_field_size

    def std_for(self, fan_in: int, fan_out: int) -> float:
        """The standard deviation to sample with."""
        raise NotImplementedError

    def sample(self, shape: int | Sequence[int]) -> np.ndarray:
        std = self.std_for(*self.fans(shape))
        return self.initializer(std=std).sample(shape)


class Glorot(_FanScaledInitializer):
    """Glorot (Xavier) initialization (Glorot and Bengio, 2010): standard deviation
    ``gain * sqrt(2 / (fan_in + fan_out))``.

    Parameters
    ----------
    initializer : class
        An :class:`Initializer` class whose constructor takes ``std``, such
        as :class:`Normal` or :class:`Uniform`.
    gain : float or 'relu'
        Scaling factor: 1 for linear, sigmoid and tanh units, ``'relu'``
        (``sqrt(2)``) for rectified linear units.
    c01b : bool
        Set to True for filters laid out as
        ``(channels, rows, columns, filters)``.

    Raises
    ------
    ValueError
        When sampling a shape of fewer than 2 dimensions (or not 4 with
        `c01b`).

    See Also
    --------
    GlorotNormal : Shortcut with a normal distribution.
    GlorotUniform : Shortcut with a uniform distribution.

    References
    ----------
    * Xavier Glorot and Yoshua Bengio (2010): Understanding the
      difficulty of training deep feedforward neural networks. AISTATS.

    Examples
    --------
    >>> w = Glorot(Normal, gain='relu')((200, 300))
    >>> round(float(w.std()), 2)
    0.09
    """

    def std_for(self, fan_in: int, fan_out: int) -> float:
        return self.gain * np.sqrt(2.0 / (fan_in + fan_out))


class GlorotNormal(Glorot):
    """:class:`Glorot` with weights from a normal distribution.

    Parameters
    ----------
    gain : float or 'relu'
        See :class:`Glorot`.
    c01b : bool
        See :class:`Glorot`.
    """

    def __init__(self, gain: float | str = 1.0, c01b: bool = False) -> None:
        super().__init__(Normal, gain, c01b)


class GlorotUniform(Glorot):
    """:class:`Glorot` with weights from a uniform distribution, the default
    for most layers' weights.

    With ``gain=1`` the weights lie in ``[-a, a]`` with
    ``a = sqrt(6 / (fan_in + fan_out))``.

    Parameters
    ----------
    gain : float or 'relu'
        See :class:`Glorot`.
    c01b : bool
        See :class:`Glorot`.
    """

    def __init__(self, gain: float | str = 1.0, c01b: bool = False) -> None:
        super().__init__(Uniform, gain, c01b)


class He(_FanScaledInitializer):
    """He (Kaiming) initialization (He et al., 2015): standard deviation
    ``gain * sqrt(1 / fan_in)``.

    He et al. use ``gain='relu'`` (``sqrt(2)``) for rectified linear units.

    Parameters
    ----------
    initializer : class
        An :class:`Initializer` class whose constructor takes ``std``, such
        as :class:`Normal` or :class:`Uniform`.
    gain : float or 'relu'
        Scaling factor: 1 for linear units, ``'relu'`` (``sqrt(2)``) for
        rectified linear units.
    c01b : bool
        Set to True for filters laid out as
        ``(channels, rows, columns, filters)``.

    Raises
    ------
    ValueError
        When sampling a shape of fewer than 2 dimensions (or not 4 with
        `c01b`).

    See Also
    --------
    HeNormal : Shortcut with a normal distribution.
    HeUniform : Shortcut with a uniform distribution.

    References
    ----------
    * Kaiming He et al. (2015): Delving deep into rectifiers: Surpassing
      human-level performance on ImageNet classification. arXiv:1502.01852.

    Examples
    --------
    >>> w = He(Normal, gain='relu')((32, 3, 3, 3))  # fan_in = 3 * 3 * 3
    >>> round(float(w.std()), 1)
    0.3
    """

    def std_for(self, fan_in: int, fan_out: int) -> float:
        return self.gain * np.sqrt(1.0 / fan_in)


class HeNormal(He):
    """:class:`He` with weights from a normal distribution.

    Parameters
    ----------
    gain : float or 'relu'
        See :class:`He`.
    c01b : bool
        See :class:`He`.
    """

    def __init__(self, gain: float | str = 1.0, c01b: bool = False) -> None:
        super().__init__(Normal, gain, c01b)


class HeUniform(He):
    """:class:`He` with weights from a uniform distribution.

    Parameters
    ----------
    gain : float or 'relu'
        See :class:`He`.
    c01b : bool
        See :class:`He`.
    """

    def __init__(self, gain: float | str = 1.0, c01b: bool = False) -> None:
        super().__init__(Uniform, gain, c01b)


class Constant(Initializer):
    """Fill with a constant value.

    Parameters
    ----------
    val : float
        The value.

    Examples
    --------
    >>> Constant()((2,))
    array([0., 0.], dtype=float32)
    """

    def __init__(self, val: float = 0.0) -> None:
        self.val = val

    def sample(self, shape: int | Sequence[int]) -> np.ndarray:
        return floatX(np.full(shape, self.val))


class Sparse(Initializer):
    """A sparse weight matrix: in every column, ``int(sparsity * num_rows)``
    randomly chosen entries are drawn from N(0, std), the rest are zero.

    Parameters
    ----------
    sparsity : float
        The exact fraction of non-zero entries per column; larger values give
        denser matrices.
    std : float
        Standard deviation of the non-zero entries.

    Raises
    ------
    ValueError
        When sampling a shape that is not 2-D.

    Examples
    --------
    >>> w = Sparse(sparsity=0.2)((10, 4))
    >>> (w != 0).sum(axis=0)
    array([2, 2, 2, 2])
    """

    def __init__(self, sparsity: float = 0.1, std: float = 0.01) -> None:
        self.sparsity = sparsity
        self.std = std

    def sample(self, shape: int | Sequence[int]) -> np.ndarray:
        shape = _shape_tuple(shape)
        if len(shape) != 2:
            raise self._shape_error(shape, "of length 2 (a weight matrix)")
        num_rows, num_columns = shape
        nonzeros_per_column = int(self.sparsity * num_rows)
        rng = get_rng()
        w = floatX(np.zeros(shape))
        for column in range(num_columns):
            rows = rng.permutation(num_rows)[:nonzeros_per_column]
            w[rows, column] = rng.normal(0.0, self.std, size=nonzeros_per_column)
        return w


class Orthogonal(Initializer):
    """A (scaled) orthogonal matrix, as proposed by Saxe et al. (2013).

    Shapes with more than 2 dimensions are treated as a matrix of
    ``shape[0]`` rows and ``prod(shape[1:])`` columns: for convolution filters
    that is one row per filter, with its fan-in as columns. The result has
    orthonormal rows (if there are fewer rows than columns) or orthonormal
    columns, times `gain`.

    Parameters
    ----------
    gain : float or 'relu'
        Scaling factor; ``'relu'`` gives ``sqrt(2)``.

    Raises
    ------
    ValueError
        When sampling a shape of fewer than 2 dimensions.

    References
    ----------
    * Saxe, McClelland and Ganguli (2013): Exact solutions to the
      nonlinear dynamics of learning in deep linear neural networks.
      arXiv:1312.6120.

    Examples
    --------
    >>> import numpy as np
    >>> q = Orthogonal()((4, 4))
    >>> np.allclose(q @ q.T, np.eye(4), atol=1e-5)
    True
    """

    def __init__(self, gain: float | str = 1.0) -> None:
        self.gain = _gain_value(gain)

    def sample(self, shape: int | Sequence[int]) -> np.ndarray:
        shape = _shape_tuple(shape)
        if len(shape) < 2:
            raise self._shape_error(shape, "of length 2 or more (a weight matrix or filter bank)")
        flat_shape = (shape[0], int(np.prod(shape[1:])))
        a = get_rng().normal(0.0, 1.0, flat_shape)
        u, _, vt = np.linalg.svd(a, full_matrices=False)
        q = u if u.shape == flat_shape else vt
        return floatX(self.gain * q.reshape(shape))
