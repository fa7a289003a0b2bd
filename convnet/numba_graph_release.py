"""Keep PyTensor's Numba backend from holding every compiled graph forever.

PyTensor 3's Numba implementation of ``Elemwise`` builds, for every node it
compiles, a pure-Python ``elemwise`` function that closes over the node, and
registers it with ``numba.extending.overload``. Numba keeps every overload
for the life of the process, so each compiled function kept its whole graph
alive -- the network's shared variables and their values included: repeated
``clone`` + ``fit`` (a grid search) grew by megabytes per fit.

The compiled code never calls that Python function with the node (it runs
the overload's implementation), so after PyTensor builds it the node it
closes over is replaced by a copy of the node applied to fresh, unconnected
inputs of the same types: the graph, and the parameters, can then be freed.

Imported by :mod:`convnet` when PyTensor loads its Numba backend.
"""
from pytensor.link.numba.dispatch import elemwise as _numba_elemwise
from pytensor.link.numba.dispatch.basic import register_funcify_and_cache_key
from pytensor.tensor.elemwise import Elemwise

_pytensor_funcify_elemwise = _numba_elemwise.numba_funcify_Elemwise


def _detached(node):
    """``node``'s op applied to new inputs of the same types: no link to the graph."""
    return node.op.make_node(*(variable.type() for variable in node.inputs))


@register_funcify_and_cache_key(Elemwise)
def numba_funcify_Elemwise(op, node, **kwargs):
    function, key = _pytensor_funcify_elemwise(op, node, **kwargs)
    names = getattr(getattr(function, "__code__", None), "co_freevars", ())
    if "node" in names:
        cell = function.__closure__[names.index("node")]
        if cell.cell_contents is node:
            try:
                cell.cell_contents = _detached(node)
            except Exception:  # an op that cannot be rebuilt alone: keep PyTensor's behaviour
                pass
    return function, key
