"""``theano.sandbox.rng_mrg``: :class:`MRG_RandomStreams`."""
from ..tensor.shared_randomstreams import RandomStreams

__all__ = ["MRG_RandomStreams"]


class MRG_RandomStreams(RandomStreams):
    """Theano's ``MRG_RandomStreams``, with its methods and signatures
    (``uniform(size, low, high, ndim, dtype)``, ``normal(size, avg, std, ...)``,
    ``binomial(size, n, p, ...)``, ``multinomial``, ``choice``).

    The numbers come from NumPy's PCG64 generator through PyTensor's random
    variables, not from Theano's MRG31k3p generator: the same seed gives
    other (equally distributed) numbers than Theano did.
    """
