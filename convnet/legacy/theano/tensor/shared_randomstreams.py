"""``theano.tensor.shared_randomstreams``: :class:`RandomStreams`."""
import numpy as np
import pytensor
from pytensor.tensor.random import shared_rng

from ....layers.noise import _set_default_update
from ....random import new_stream_seed

__all__ = ["RandomStreams"]


class RandomStreams:
    """Theano's symbolic random streams.

    Every draw gets its own shared generator, seeded from ``seed`` (drawn from
    :func:`convnet.random.get_rng` when None) and advanced by its
    ``default_update``, so compiled functions draw new numbers at every call
    without listing updates, as in Theano. ``size`` may hold symbolic
    lengths (``x.shape``); ``ndim`` is accepted and checked.

    Examples
    --------
    >>> import pytensor
    >>> srng = RandomStreams(seed=1)
    >>> f = pytensor.function([], srng.uniform((2,)))
    >>> bool((f() != f()).all())
    True
    """

    def __init__(self, seed=None):
        self.state_updates = []
        self.seed(seed)

    def seed(self, seed=None):
        """Re-seed every generator of this stream from ``seed``."""
        self._seeds = np.random.SeedSequence(new_stream_seed() if seed is None else int(seed))
        for rng, _update in self.state_updates:
            rng.set_value(np.random.default_rng(self._seeds.spawn(1)[0]), borrow=True)

    def updates(self):
        """The ``(generator, next generator)`` pairs of the draws so far."""
        return list(self.state_updates)

    def _draw(self, what, ndim, dtype, *args, **kwargs):
        rng = shared_rng(seed=self._seeds.spawn(1)[0])
        next_rng, sample = getattr(rng, what)(*args, **kwargs)
        _set_default_update(rng, next_rng)
        self.state_updates.append((rng, next_rng))
        if ndim is not None and sample.ndim != ndim:
            raise ValueError(f"{type(self).__name__}.{what}: ndim={ndim} but the sample has {sample.ndim} dimensions")
        return sample if dtype is None else sample.astype(dtype)

    @staticmethod
    def _size(size):
        return None if size is None or (isinstance(size, tuple) and size == ()) else size

    def uniform(self, size=None, low=0.0, high=1.0, ndim=None, dtype=None, **kwargs):
        """Uniform numbers in [low, high), dtype floatX unless given."""
        return self._draw("uniform", ndim, dtype or pytensor.config.floatX, low, high, size=self._size(size))

    def normal(self, size=None, avg=0.0, std=1.0, ndim=None, dtype=None, **kwargs):
        """Normal numbers of mean ``avg`` and standard deviation ``std``."""
        if kwargs.get("truncate"):
            raise NotImplementedError("normal(truncate=True) is not provided by convnet's Theano compatibility")
        return self._draw("normal", ndim, dtype or pytensor.config.floatX, avg, std, size=self._size(size))

    def binomial(self, size=None, n=1, p=0.5, ndim=None, dtype="int64", **kwargs):
        """Binomial counts of ``n`` trials of probability ``p``."""
        return self._draw("binomial", ndim, dtype, n, p, size=self._size(size))

    def random_integers(self, size=None, low=0, high=1, ndim=None, dtype="int64"):
        """Integers in [low, high] (both ends included, as in Theano)."""
        return self._draw("integers", ndim, dtype, low, high + 1, size=self._size(size))

    def choice(self, size=None, a=2, replace=True, p=None, ndim=None, dtype="int64", **kwargs):
        """Draws from ``range(a)`` (or the values ``a``), with probabilities ``p``."""
        return self._draw("choice", ndim, dtype, a, size=self._size(size), replace=replace, p=p)

    def multinomial(self, size=None, n=1, pvals=None, ndim=None, dtype="int64", **kwargs):
        """Multinomial counts of ``n`` trials over the categories of ``pvals``."""
        if pvals is None:
            raise ValueError(f"{type(self).__name__}.multinomial needs pvals")
        return self._draw("multinomial", ndim, dtype, n, pvals, size=self._size(size))

    def permutation(self, size=None, n=1, ndim=None, dtype="int64"):
        """A random permutation of ``range(n)``."""
        if self._size(size) is not None:
            raise NotImplementedError("permutation(size=...) is not provided; call it once per permutation")
        return self._draw("permutation", ndim, dtype, n)
