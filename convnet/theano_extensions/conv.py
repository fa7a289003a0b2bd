"""Lasagne's 1-D convolutions (``lasagne.theano_extensions.conv``).

Lasagne offered several implementations of the same 1-D convolution
(``conv1d_sc``, ``conv1d_mc0``, ``conv1d_mc1``, ``conv1d_unstrided``,
``conv1d_sd``, ``conv1d_md``), each fastest somewhere on Theano. In convnet
they are one function, :func:`convnet.ops.conv1d.conv1d`, which runs on every
backend; the names stay so that code choosing one keeps working.

Examples
--------
>>> import numpy as np
>>> conv1d_mc0(np.ones((1, 1, 4)), np.ones((2, 1, 2))).eval().shape
(1, 2, 3)
"""
from ..ops.conv1d import conv1d

__all__ = ["conv1d_sc", "conv1d_mc0", "conv1d_mc1", "conv1d_unstrided", "conv1d_sd", "conv1d_md"]

conv1d_sc = conv1d_mc0 = conv1d_mc1 = conv1d_unstrided = conv1d_sd = conv1d_md = conv1d
