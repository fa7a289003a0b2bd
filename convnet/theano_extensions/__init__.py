"""Lasagne's ``lasagne.theano_extensions``: 1-D convolutions
(:mod:`~convnet.theano_extensions.conv`) and padding
(:mod:`~convnet.theano_extensions.padding`)."""
from . import conv, padding  # noqa: F401
