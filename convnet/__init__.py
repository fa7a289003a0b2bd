"""convnet: Lasagne-style neural-network layers for PyTensor."""
from . import backends

# convnet's JAX adjustments load with PyTensor's JAX backend (see convnet.jax_backend).
backends.import_when_imported(backends.JAX_DISPATCH, "convnet.jax_backend")

from . import config  # noqa: E402  (reads the device and floatX configuration)
from . import random, utils  # noqa: E402

__version__ = "0.1.0"
