"""Batch normalization with the mini-batch's statistics: the
:func:`batch_norm_train` function, its Op and gradient Op, and the
:class:`~convnet.ops.batchnorm.geometry.BatchNormGeometry` they share.

Where things live:

* :mod:`~convnet.ops.batchnorm.geometry`: ``BatchNormGeometry``, the
  normalized axes with every validation rule, and the ``(outer, kept,
  inner)`` layout all implementations read the input in;
* :mod:`~convnet.ops.batchnorm.ops`: the function, the Ops and their NumPy
  reference (``perform``);
* :mod:`~convnet.ops.batchnorm.numba_backend`: the Numba kernels (PyTensor's
  Numba linker and convnet's CPU linker), registered when PyTensor loads Numba;
* :mod:`~convnet.ops.batchnorm.jax_backend`: the JAX lowering, registered
  when PyTensor loads JAX.

:class:`~convnet.layers.BatchNormLayer` normalizes with these Ops at training
time.

Examples
--------
>>> import numpy as np
>>> from convnet.ops.batchnorm import batch_norm_train
>>> out, mean, inv_std = batch_norm_train(np.array([[0.0], [4.0]]), [2.0], [1.0], axes=0, epsilon=0.0)
>>> out.eval()
array([[-1.],
       [ 3.]])
"""
from . import ops as _ops
from .geometry import BatchNormGeometry
from .ops import *  # noqa: F401,F403

__all__ = ["BatchNormGeometry", *_ops.__all__]
