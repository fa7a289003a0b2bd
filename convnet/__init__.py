"""convnet: Lasagne-style neural-network layers for PyTensor."""
from . import config  # noqa: F401  (first: sets the float32 default)
from . import random, utils

__version__ = "0.1.0"
