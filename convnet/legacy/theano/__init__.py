"""Theano's API on PyTensor, for code written against Theano 1.0.

Imported as ``theano`` once :func:`convnet.legacy.install` is in force.
Most names are PyTensor's own objects (``function``, ``In``,
``Out``, ``grad``, ``printing``, ``gradient``); what PyTensor renamed or
dropped is provided here with Theano's signature:

- :func:`shared` accepts Theano's ``broadcastable`` pattern;
- :func:`scan` returns Theano's ``(outputs, updates)`` pair;
- :func:`clone` is ``pytensor.graph.clone_replace``;
- :data:`config` is PyTensor's configuration plus Theano's ``device``
  (read from and written to :mod:`convnet.config`);
- :mod:`theano.tensor <convnet.legacy.theano.tensor>` adds ``T.nnet``,
  ``T.signal.pool`` and ``T.shared_randomstreams``;
- ``theano.sandbox.rng_mrg.MRG_RandomStreams`` and
  ``theano.gpuarray.pygpu_activated`` (always False: convnet runs on the GPU
  through JAX, not through Theano's gpuarray backend).

``theano.X`` modules not defined here resolve to ``pytensor.X``
(``theano.ifelse``, ``theano.compile``, ``theano.graph``).
"""
import warnings

import pytensor
from pytensor import In, Lop, Mode, OpFromGraph, Out, Rop, dprint, function, grad, gradient, printing
from pytensor.graph import Apply, Op, Variable, clone_replace

from ... import config as _convnet_config

__all__ = [
    "function", "shared", "scan", "In", "Out", "Mode", "OpFromGraph", "config", "grad", "Rop", "Lop",
    "clone", "dprint", "pp", "printing", "gradient", "tensor", "sandbox", "gpuarray",
    "Apply", "Op", "Variable", "__version__",
]

__version__ = "1.0.5+convnet"


class _Config:
    """Theano's ``theano.config``: PyTensor's configuration, plus ``device``."""

    def __getattr__(self, name):
        if name == "device":
            device = _convnet_config.get_device()
            return "cuda" if device == "cuda" else "cpu"
        return getattr(pytensor.config, name)

    def __setattr__(self, name, value):
        if name == "device":
            _convnet_config.set_device(value)
        else:
            setattr(pytensor.config, name, value)

    def __dir__(self):
        return sorted(set(dir(pytensor.config)) | {"device"})


config = _Config()


def shared(value, name=None, strict=False, allow_downcast=None, borrow=False, broadcastable=None, **kwargs):
    """``theano.shared``: PyTensor's :func:`pytensor.shared`, where Theano's
    ``broadcastable`` pattern (True for axes of length 1 that broadcast) sets
    the static shape."""
    if broadcastable is not None:
        kwargs["shape"] = tuple(1 if b else None for b in broadcastable)
    return pytensor.shared(value, name=name, strict=strict, allow_downcast=allow_downcast, borrow=borrow, **kwargs)


def clone(output, replace=None, strict=True, share_inputs=True):
    """``theano.clone``: a copy of the graph of ``output`` with the
    variables in ``replace`` (a dict or pairs) swapped."""
    return clone_replace(output, replace=replace, strict=strict, share_inputs=share_inputs)


def scan(fn, sequences=None, outputs_info=None, non_sequences=None, n_steps=None, truncate_gradient=-1,
         go_backwards=False, mode=None, name=None, profile=False, allow_gc=None, strict=False, return_list=False):
    """``theano.scan``: :func:`pytensor.scan`, returning Theano's pair
    ``(outputs, updates)`` (PyTensor is moving to returning the outputs only)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Scan return signature will change", DeprecationWarning)
        return pytensor.scan(fn, sequences=sequences, outputs_info=outputs_info, non_sequences=non_sequences,
                             n_steps=n_steps, truncate_gradient=truncate_gradient, go_backwards=go_backwards,
                             mode=mode, name=name, profile=profile, allow_gc=allow_gc, strict=strict,
                             return_list=return_list, return_updates=True)


pp = printing.pp

from . import gpuarray, sandbox, tensor  # noqa: E402
