"""Pooling over the last one, two or three axes: the :func:`pool2d` and
:func:`pool3d` functions, their Ops and gradient Ops, and the
:class:`~convnet.ops.pool.geometry.PoolGeometry` they share.

Where things live:

* :mod:`~convnet.ops.pool.geometry`: ``PoolGeometry``, the window,
  stride, padding, border rule and mode, with every validation rule, and the
  per-axis arithmetic all implementations share;
* :mod:`~convnet.ops.pool.ops`: the functions, the Ops and their NumPy
  reference (``perform``);
* :mod:`~convnet.ops.pool.numba_backend`: the Numba kernels (PyTensor's Numba
  linker and convnet's CPU linker), registered when PyTensor loads Numba;
* :mod:`~convnet.ops.pool.jax_backend`: the JAX lowering, registered when
  PyTensor loads JAX.

A new backend is one more module here, registered at the end of ``ops.py``
with :func:`convnet.backends.import_when_imported`.

Examples
--------
>>> import numpy as np
>>> from convnet.ops.pool import pool2d
>>> pool2d(np.arange(16.0).reshape(4, 4), (2, 2), mode="average_inc_pad").eval()
array([[ 2.5,  4.5],
       [10.5, 12.5]])
"""
from . import ops as _ops
from .geometry import POOL_MODES, PoolGeometry
from .ops import *  # noqa: F401,F403

__all__ = ["POOL_MODES", "PoolGeometry", *_ops.__all__]
