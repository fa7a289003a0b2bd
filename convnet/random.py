"""The random number generator convnet uses to initialise parameters and to
seed its symbolic random streams (dropout, noise).

Call :func:`set_rng` with a seeded generator at the start of a script to make
a run reproducible::

    >>> import numpy as np
    >>> import convnet
    >>> convnet.random.set_rng(np.random.RandomState(42))
"""
import numpy as np

__all__ = ["get_rng", "set_rng"]

_rng = np.random


def get_rng():
    """Return the generator in use (``numpy.random`` until :func:`set_rng`)."""
    return _rng


def set_rng(new_rng):
    """Use ``new_rng`` (a ``numpy.random.RandomState``, or ``numpy.random``)
    for every later initialisation and random-stream seed."""
    global _rng
    _rng = new_rng


def new_stream_seed():
    """A seed for a new symbolic random stream, drawn from :func:`get_rng`."""
    return int(get_rng().randint(1, 2147462579))
