"""Registering convnet's implementations with PyTensor's backends.

PyTensor's Numba and JAX backends are modules that import heavy libraries
(``numba``, ``jax``). convnet registers its implementations for them only when
PyTensor loads them, so ``import convnet`` stays quick and JAX stays optional:
:func:`when_imported` runs a callback right after a module is first imported
(or at once, if it already is).

For PyTensor's Python backend (``mode="FAST_COMPILE"``), convnet adds the
rewrite :func:`binary_add_mul`.
"""
import importlib
import importlib.abc
import importlib.util
import sys

from pytensor.compile import optdb
from pytensor.graph.rewriting.basic import copy_stack_trace, node_rewriter
from pytensor.scalar import basic as ps
from pytensor.tensor.elemwise import Elemwise

__all__ = ["when_imported", "import_when_imported", "binary_add_mul", "JAX_DISPATCH", "NUMBA_DISPATCH"]

JAX_DISPATCH = "pytensor.link.jax.dispatch"
NUMBA_DISPATCH = "pytensor.link.numba.dispatch"

_pending = {}


class _PostImportFinder(importlib.abc.MetaPathFinder):
    """Wraps the loader of modules with pending callbacks so that the
    callbacks run once the module has executed."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _pending:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_run_callbacks(module):
            exec_module(module)
            for callback in _pending.pop(fullname, []):
                callback(module)

        spec.loader.exec_module = exec_then_run_callbacks
        return spec


_finder = _PostImportFinder()


def when_imported(module_name, callback):
    """Call ``callback(module)`` once ``module_name`` is imported.

    >>> seen = []
    >>> when_imported("json", lambda m: seen.append(m.__name__))
    >>> import json
    >>> seen
    ['json']
    """
    if module_name in sys.modules:
        callback(sys.modules[module_name])
        return
    _pending.setdefault(module_name, []).append(callback)
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


def import_when_imported(module_name, implementation_module):
    """Import ``implementation_module`` (which registers implementations)
    once ``module_name`` (a backend's dispatch module) is imported."""
    when_imported(module_name, lambda _module: importlib.import_module(implementation_module))


@node_rewriter([Elemwise])
def binary_add_mul(fgraph, node):
    """Split an ``Add`` or ``Mul`` of three or more tensors into a chain of
    binary ones.

    PyTensor's Python thunks run an ``Elemwise`` through a NumPy ufunc only
    when the ufunc takes that many inputs; ``np.add`` and ``np.multiply`` take
    two, so a three-input product (gradients are full of them) ran as one
    Python call per element: a batch-normalised ConvNet step on 50 MNIST
    images took 39 s instead of well under one. Registered for the graphs that
    run on Python thunks only (PyTensor's ``py_only`` rewrites).
    """
    if not isinstance(node.op.scalar_op, (ps.Add, ps.Mul)) or len(node.inputs) <= 2:
        return None
    result = node.inputs[0]
    for operand in node.inputs[1:]:
        result = node.op.make_node(result, operand).outputs[0]
    copy_stack_trace(node.outputs[0], result)
    return [result]


optdb["py_only"].register("convnet_binary_add_mul", binary_add_mul, "fast_compile")
