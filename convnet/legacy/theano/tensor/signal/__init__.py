"""``theano.tensor.signal``: only ``pool`` is provided."""
from . import pool  # noqa: F401
