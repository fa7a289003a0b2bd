"""Layers that add randomness at training time: dropout and Gaussian noise.

Both are the identity when :func:`~convnet.layers.get_output` is called with
``deterministic=True`` (for validation and prediction). Their random
generators are shared variables whose ``default_update`` advances them, so
every call of a compiled training function draws new numbers without the
caller listing any update. The generators are seeded from
:func:`convnet.random.new_stream_seed` when the graph is built, so a
:func:`convnet.random.set_rng` with a seeded generator before building the
network makes the draws reproducible.

Examples
--------
>>> from convnet.layers import InputLayer, DenseLayer, DropoutLayer, get_output
>>> l_hidden = DropoutLayer(DenseLayer(InputLayer((None, 784)), num_units=100), p=0.5)
>>> train_output = get_output(l_hidden)
>>> test_output = get_output(l_hidden, deterministic=True)
"""
import numbers
import warnings

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Variable
from pytensor.tensor.random import shared_rng

from ..random import new_stream_seed
from ..utils import shape_with_known_sizes
from .base import Incoming, Layer
from .special import _resolve_shared_axes

__all__ = [
    "DropoutLayer",
    "dropout",
    "dropout_channels",
    "spatial_dropout",
    "dropout_locations",
    "GaussianNoiseLayer",
]


def _set_default_update(variable, update):
    """Set the shared ``variable``'s ``default_update``: the update every
    compiled function that uses ``variable`` applies unless given others.

    PyTensor deprecates setting it in favour of explicit ``updates``, but
    explicit updates would make every training loop collect the random
    generators' and batch-norm averages' updates by hand, as Lasagne users
    never had to.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Setting default_update is deprecated", DeprecationWarning)
        variable.default_update = update


class _RandomStreams:
    """The random draws of one layer. Each :meth:`draw` gets its own shared
    generator, seeded from a seed sequence that is seeded with
    :func:`~convnet.random.new_stream_seed`, and advanced by its
    ``default_update``."""

    def __init__(self):
        self._seeds = np.random.SeedSequence(new_stream_seed())

    def draw(self, distribution, *args, **kwargs):
        """A symbolic sample of ``distribution`` (a
        :mod:`pytensor.tensor.random` function name) with these arguments."""
        rng = shared_rng(seed=self._seeds.spawn(1)[0])
        next_rng, sample = getattr(rng, distribution)(*args, **kwargs)
        _set_default_update(rng, next_rng)
        return sample


class DropoutLayer(Layer):
    """Sets each input value to zero with probability ``p`` at training time
    (inverted dropout: the kept values are scaled by ``1 / (1 - p)``, so the
    expected output equals the input and nothing changes at test time).

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected input shape.
    p : float or scalar tensor
        The probability of dropping a value, in ``[0, 1)``.
    rescale : bool
        Scale the input by ``1 / (1 - p)`` at training time (default). If
        False, scale by ``1 - p`` yourself when ``deterministic``.
    shared_axes : tuple of int
        Axes over which the dropout mask is shared (broadcast): ``(2, 3)``
        drops whole feature maps of images, ``(1,)`` whole locations.
    **kwargs
        Passed to :class:`~convnet.layers.Layer` (e.g. ``name``).

    Notes
    -----
    With ``deterministic=True`` (or ``p == 0``) the layer is the identity.
    Each call of a compiled function draws a new mask.

    References
    ----------
    N. Srivastava, G. Hinton, A. Krizhevsky, I. Sutskever and
    R. Salakhutdinov (2014): Dropout: A Simple Way to Prevent Neural Networks
    from Overfitting. JMLR 15(56):1929-1958.

    Examples
    --------
    >>> from convnet.layers import InputLayer, DropoutLayer
    >>> l_drop = DropoutLayer(InputLayer((None, 100)), p=0.2)
    >>> l_drop.output_shape
    (None, 100)
    """

    def __init__(self, incoming: Incoming, p: float | Variable = 0.5, rescale: bool = True,
                 shared_axes: int | tuple[int, ...] = (), **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        if isinstance(p, numbers.Real) and not 0 <= p < 1:
            raise ValueError(f"the dropout probability p={p} must be in [0, 1)")
        self.p = p
        self.rescale = rescale
        self.shared_axes = _resolve_shared_axes(shared_axes, len(self.input_shape))
        self._srng = _RandomStreams()

    def get_output_for(self, input, deterministic=False, **kwargs):
        """The input with values dropped, or unchanged if ``deterministic``.

        Parameters
        ----------
        input : TensorVariable
            The layer's input.
        deterministic : bool
            If True, return the input unchanged.
        **kwargs
            Ignored.
        """
        if deterministic or (isinstance(self.p, numbers.Real) and self.p == 0):
            return input
        retain_prob = pt.cast(1 - self.p, input.dtype)
        mask_shape = [1 if axis in self.shared_axes else size for axis, size in enumerate(shape_with_known_sizes(input, self.input_shape))]
        # Uniform draws below retain_prob: Bernoulli(retain_prob) masks that
        # NumPy draws in a fraction of the time SciPy's sampler takes (which
        # PyTensor's bernoulli uses, and whose import alone takes a second).
        uniform = self._srng.draw("uniform", 0.0, 1.0, size=mask_shape, dtype=input.dtype)
        mask = pt.cast(pt.lt(uniform, retain_prob), input.dtype)
        if self.rescale:
            input = input / retain_prob
        return input * mask


dropout = DropoutLayer  # Lasagne's shortcut


def dropout_channels(incoming: Incoming, *args, **kwargs) -> DropoutLayer:
    """Dropout of whole channels (feature maps): a :class:`DropoutLayer`
    with the mask shared over all axes after the second.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into the dropout, of shape ``(batch, channels, ...)``.
    *args, **kwargs
        Passed to :class:`DropoutLayer` (``p``, ``rescale``, ``name``).

    Returns
    -------
    DropoutLayer

    References
    ----------
    J. Tompson, R. Goroshin, A. Jain, Y. LeCun and C. Bregler (2015):
    Efficient Object Localization Using Convolutional Networks. CVPR.

    Examples
    --------
    >>> from convnet.layers import InputLayer, dropout_channels
    >>> dropout_channels(InputLayer((None, 16, 8, 8)), p=0.1).shared_axes
    (2, 3)
    """
    ndim = len(getattr(incoming, "output_shape", incoming))
    kwargs["shared_axes"] = tuple(range(2, ndim))
    return DropoutLayer(incoming, *args, **kwargs)


spatial_dropout = dropout_channels  # Lasagne's alias


def dropout_locations(incoming: Incoming, *args, **kwargs) -> DropoutLayer:
    """Dropout of whole locations (all channels at once): a
    :class:`DropoutLayer` with the mask shared over the second axis.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into the dropout, of shape ``(batch, channels, ...)``.
    *args, **kwargs
        Passed to :class:`DropoutLayer` (``p``, ``rescale``, ``name``).

    Returns
    -------
    DropoutLayer

    Examples
    --------
    >>> from convnet.layers import InputLayer, dropout_locations
    >>> dropout_locations(InputLayer((None, 16, 8, 8)), p=0.1).shared_axes
    (1,)
    """
    kwargs["shared_axes"] = (1,)
    return DropoutLayer(incoming, *args, **kwargs)


class GaussianNoiseLayer(Layer):
    """Adds zero-mean Gaussian noise of standard deviation ``sigma`` at
    training time.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected input shape.
    sigma : float or scalar tensor
        The standard deviation of the noise.
    **kwargs
        Passed to :class:`~convnet.layers.Layer` (e.g. ``name``).

    Notes
    -----
    With ``deterministic=True`` (or ``sigma == 0``) the layer is the
    identity. Each call of a compiled function draws new noise.

    References
    ----------
    K.-C. Jim, C. Giles and B. Horne (1996): An analysis of noise in recurrent
    neural networks: convergence and generalization. IEEE Transactions on
    Neural Networks 7(6):1424-1438.

    Examples
    --------
    >>> from convnet.layers import InputLayer, GaussianNoiseLayer
    >>> GaussianNoiseLayer(InputLayer((None, 10)), sigma=0.05).output_shape
    (None, 10)
    """

    def __init__(self, incoming: Incoming, sigma: float | Variable = 0.1, **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        self.sigma = sigma
        self._srng = _RandomStreams()

    def get_output_for(self, input, deterministic=False, **kwargs):
        """The input plus noise, or unchanged if ``deterministic``.

        Parameters
        ----------
        input : TensorVariable
            The layer's input.
        deterministic : bool
            If True, return the input unchanged.
        **kwargs
            Ignored.
        """
        if deterministic or (isinstance(self.sigma, numbers.Real) and self.sigma == 0):
            return input
        noise = self._srng.draw("normal", 0.0, self.sigma, size=shape_with_known_sizes(input, self.input_shape))
        return input + pt.cast(noise, input.dtype)
