"""Differences between the PyTensor releases convnet supports (3.0.7 to 3.3.x).

``Op.infer_shape`` lost its ``fgraph`` argument in PyTensor 3.1: 3.0 calls
``infer_shape(fgraph, node, input_shapes)``, 3.1 and later call
``infer_shape(node, input_shapes)`` and warn (``DeprecationWarning``, at class
creation) about Ops that still take ``fgraph``. Write the new form and
decorate it with :func:`infer_shape_method` to serve both:

>>> import pytensor.tensor as pt
>>> from pytensor.graph.basic import Apply
>>> from pytensor.graph.op import Op
>>> class Twice(Op):
...     def make_node(self, x):
...         x = pt.as_tensor_variable(x)
...         return Apply(self, [x], [x.type()])
...     def perform(self, node, inputs, outputs):
...         outputs[0][0] = 2 * inputs[0]
...     @infer_shape_method
...     def infer_shape(self, node, input_shapes):
...         return [input_shapes[0]]
"""
import functools

import pytensor

__all__ = ["PYTENSOR_VERSION", "INFER_SHAPE_TAKES_FGRAPH", "infer_shape_method"]

#: The installed PyTensor's (major, minor) version.
PYTENSOR_VERSION = tuple(int(part) for part in pytensor.__version__.split(".")[:2])

#: Whether PyTensor passes ``fgraph`` to ``Op.infer_shape`` (before 3.1).
INFER_SHAPE_TAKES_FGRAPH = PYTENSOR_VERSION < (3, 1)


def infer_shape_method(infer_shape):
    """``infer_shape(self, node, input_shapes)`` as the installed PyTensor
    calls it: unchanged from 3.1 on, taking and ignoring ``fgraph`` before."""
    if not INFER_SHAPE_TAKES_FGRAPH:
        return infer_shape

    @functools.wraps(infer_shape)
    def infer_shape_with_fgraph(self, fgraph, node, input_shapes):
        return infer_shape(self, node, input_shapes)

    return infer_shape_with_fgraph
