"""Convolutions with 1, 2 or 3 spatial dimensions and their gradients, on every backend.

Where things are:

* :mod:`~convnet.ops.conv.geometry` -- :class:`ConvGeometry`, the one object
  holding a convolution's parameters and every shape rule (used by the Ops,
  the backends and the layers);
* :mod:`~convnet.ops.conv.ops` -- the three Ops, their NumPy reference
  (``perform``) and the public functions (:func:`conv2d`, :func:`conv3d`...);
* :mod:`~convnet.ops.conv.numba_backend` -- the Numba kernels, for
  PyTensor's Numba linker and convnet's CPU linker;
* :mod:`~convnet.ops.conv.jax_backend` -- the lowering to ``jax.lax``.

A new backend is one more module here that registers the three Ops with its
dispatcher, and one ``import_when_imported`` line at the end of ``ops.py``.

Examples
--------
>>> from convnet.ops.conv import conv3d, ConvGeometry
>>> import pytensor.tensor as pt
>>> conv3d(pt.tensor5(shape=(2, 1, 8, 8, 8)), pt.tensor5(shape=(4, 1, 3, 3, 3))).type.shape
(2, 4, 6, 6, 6)
"""
from . import ops
from .geometry import ConvGeometry, conv_output_length
from .ops import *  # noqa: F401,F403

__all__ = [*ops.__all__, "conv_output_length", "ConvGeometry"]
