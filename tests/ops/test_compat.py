"""convnet.ops.compat: one infer_shape for every supported PyTensor."""
import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from convnet.ops.compat import INFER_SHAPE_TAKES_FGRAPH, PYTENSOR_VERSION, infer_shape_method


def make_op():
    class Halve(Op):
        """Keeps every other row; its shape inference never runs perform."""

        calls = []

        def make_node(self, x):
            x = pt.as_tensor_variable(x)
            return Apply(self, [x], [pt.tensor(dtype=x.dtype, shape=(None,) * x.ndim)])

        def perform(self, node, inputs, outputs):
            raise AssertionError("shape inference ran the Op")

        @infer_shape_method
        def infer_shape(self, node, input_shapes):
            self.calls.append(node)
            rows, *rest = input_shapes[0]
            return [((rows + 1) // 2, *rest)]

    return Halve


def test_version_flag_matches_the_installed_pytensor():
    assert INFER_SHAPE_TAKES_FGRAPH == (PYTENSOR_VERSION < (3, 1))


def test_pytensor_calls_the_decorated_infer_shape_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        Halve = make_op()
    x = pt.matrix("x")
    out = Halve()(x)
    shape = pytensor.function([x], out.shape, mode="FAST_RUN")(np.zeros((5, 3), dtype=x.dtype))
    assert shape.tolist() == [3, 3]
    assert len(Halve.calls) >= 1
