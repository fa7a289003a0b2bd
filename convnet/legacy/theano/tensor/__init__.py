"""``theano.tensor`` (usually ``import theano.tensor as T``): everything in
:mod:`pytensor.tensor`, Theano's names PyTensor renamed (``abs_``, ``inv``,
``addbroadcast``, ``patternbroadcast``, ``grad``, ``Rop``, ``Lop``,
``jacobian``, ``hessian``, ``verify_grad``) and the submodules ``nnet``,
``signal``, ``shared_randomstreams``, ``nlinalg``, ``slinalg``,
``extra_ops``.

Examples
--------
>>> import convnet.legacy.theano.tensor as T
>>> x = T.tensor4("x")
>>> T.nnet.relu(x).ndim
4
"""
from pytensor.gradient import Lop, Rop, grad, hessian, jacobian, verify_grad  # noqa: F401
from pytensor.tensor import *  # noqa: F401,F403
from pytensor.tensor import abs as abs_  # noqa: F401
from pytensor.tensor import extra_ops, nlinalg, slinalg  # noqa: F401
from pytensor.tensor import reciprocal as inv  # noqa: F401
from pytensor.tensor import specify_broadcastable as _specify_broadcastable
from pytensor.tensor.sharedvar import TensorSharedVariable  # noqa: F401


def addbroadcast(x, *axes):
    """Declare the ``axes`` of ``x`` to have length 1 (they broadcast)."""
    return _specify_broadcastable(x, *axes)


def patternbroadcast(x, broadcastable):
    """Declare the axes marked True in ``broadcastable`` to have length 1."""
    return _specify_broadcastable(x, *[i for i, b in enumerate(broadcastable) if b])


from . import nnet, shared_randomstreams, signal  # noqa: E402,F401
