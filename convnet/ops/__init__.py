"""convnet's own PyTensor ops: convolution (:mod:`convnet.ops.conv`) and pooling
(:mod:`convnet.ops.pool`) over 1 to 3 spatial dimensions, and batch
normalization (:mod:`convnet.ops.batchnorm`), with gradients and
implementations for PyTensor's Python, Numba and JAX backends."""
from .batchnorm import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403
from .batchnorm import __all__ as _batchnorm_all
from .conv import __all__ as _conv_all
from .pool import __all__ as _pool_all

__all__ = list(_batchnorm_all) + list(_conv_all) + list(_pool_all)
