"""The random number generator convnet uses to initialise parameters and to
seed its symbolic random streams (dropout, noise).

Call :func:`seed` at the start of a script to make a run repeat itself: every
later initialisation, and every random stream of a noise layer built later,
then draws from a generator seeded with that number::

    >>> import convnet
    >>> convnet.random.seed(42)
    >>> from convnet.init import Normal
    >>> first = Normal()((2,))
    >>> convnet.random.seed(42)
    >>> bool((Normal()((2,)) == first).all())
    True

:func:`set_rng` installs a generator of your own, and :func:`using_rng`
installs one for a ``with`` block only (which is how
:class:`~convnet.estimator.NeuralNet` applies its ``random_state``).
Shuffling and augmentation have their own seeds
(:class:`~convnet.augmentation.BatchIterator`'s ``seed``).
"""
import contextlib
import numbers
import threading

import numpy as np

__all__ = ["get_rng", "set_rng", "seed", "using_rng", "new_stream_seed"]

_rng = np.random
# using_rng's generator, per thread: nets built at once in several threads
# (a threaded joblib or Dask backend) do not draw from each other's generators.
_local = threading.local()


def get_rng():
    """Return the generator in use: that of the innermost :func:`using_rng`
    block of this thread, else the one :func:`set_rng` installed
    (``numpy.random`` at first)."""
    rng = getattr(_local, "rng", None)
    return _rng if rng is None else rng


def set_rng(new_rng):
    """Use ``new_rng`` (a ``numpy.random.RandomState``, or ``numpy.random``)
    for every later initialisation and random-stream seed."""
    global _rng
    _rng = new_rng


def seed(n):
    """Seed convnet's generator: ``set_rng(numpy.random.RandomState(n))``.

    Parameters
    ----------
    n : int
        The seed, a non-negative integer below ``2**32``.

    Examples
    --------
    >>> seed(0)
    >>> int(get_rng().randint(100))
    44
    """
    if not isinstance(n, numbers.Integral) or isinstance(n, bool) or not 0 <= n < 2 ** 32:
        raise ValueError(f"convnet.random.seed needs an integer in [0, 2**32), got {n!r}")
    set_rng(np.random.RandomState(int(n)))


@contextlib.contextmanager
def using_rng(rng):
    """Use ``rng`` inside a ``with`` block, in this thread only, then restore
    the previous generator.

    Parameters
    ----------
    rng : numpy.random.RandomState
        The generator for initialisations and random-stream seeds inside the block.

    Examples
    --------
    >>> import numpy as np
    >>> from convnet.init import Normal
    >>> with using_rng(np.random.RandomState(1)):
    ...     a = Normal()((3,))
    >>> with using_rng(np.random.RandomState(1)):
    ...     b = Normal()((3,))
    >>> bool((a == b).all())
    True
    """
    previous = getattr(_local, "rng", None)
    _local.rng = rng
    try:
        yield rng
    finally:
        _local.rng = previous


def new_stream_seed():
    """A seed for a new symbolic random stream, drawn from :func:`get_rng`."""
    return int(get_rng().randint(1, 2147462579))
