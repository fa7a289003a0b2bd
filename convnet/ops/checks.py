"""Run-time checks of values inside compiled functions, with messages that name the values.

PyTensor's :class:`~pytensor.raise_op.CheckAndRaise` can only raise a fixed
message. These ops pass their first input through unchanged and raise an
error that names the offending value, its position and the bound it broke,
on the Python and Numba backends. JAX cannot raise on traced values, so under
``mode="JAX"`` they pass the input through unchecked.

Examples
--------
>>> import numpy as np, pytensor, pytensor.tensor as pt
>>> labels = pt.ivector("labels")
>>> f = pytensor.function([labels], CheckClassIndices("loss")(labels, 3), mode="FAST_COMPILE")
>>> f(np.array([0, 2], dtype="int32"))
array([0, 2], dtype=int32)
>>> f(np.array([0, 3], dtype="int32"))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
IndexError: loss: class label 3 (item 1) is outside [0, 3): the predictions have 3 classes (1 of 2 labels ...
"""
from hashlib import sha256
from pathlib import Path

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from ..backends import JAX_DISPATCH, NUMBA_DISPATCH, when_imported
from .compat import infer_shape_method

__all__ = ["CheckClassIndices", "CheckNotEmpty"]


class _PassThroughCheck(Op):
    """Base: returns its first input (a view of it) after checking it against the others."""

    __props__ = ("function_name",)
    view_map = {0: [0]}

    def __init__(self, function_name):
        self.function_name = function_name

    @infer_shape_method
    def infer_shape(self, node, shapes):
        return [shapes[0]]

    def connection_pattern(self, node):
        return [[True]] + [[False]] * (len(node.inputs) - 1)

    def pullback(self, inputs, outputs, cotangents):
        return [cotangents[0]] + [DisconnectedType()() for _ in inputs[1:]]


class CheckClassIndices(_PassThroughCheck):
    """``(targets, n_classes) -> targets``, raising ``IndexError`` for a label outside ``[0, n_classes)``.

    Parameters
    ----------
    function_name : str
        Named first in the message (the loss that takes the labels).
    """

    def make_node(self, targets, n_classes):
        targets = pt.as_tensor_variable(targets)
        n_classes = pt.as_tensor_variable(n_classes).astype("int64")
        return Apply(self, [targets, n_classes], [targets.type()])

    def perform(self, node, inputs, outputs):
        targets, n_classes = inputs
        flat = targets.reshape(-1)
        bad = np.flatnonzero((flat < 0) | (flat >= n_classes))
        if len(bad):
            raise IndexError(_label_message(self.function_name, flat[bad[0]], bad[0], n_classes, len(bad), flat.size))
        outputs[0][0] = targets


class CheckNotEmpty(_PassThroughCheck):
    """``(loss,) -> loss``, raising ``ValueError`` when ``loss`` has no elements
    (its mean would be NaN).

    Parameters
    ----------
    function_name : str
        Named first in the message.
    """

    def make_node(self, loss):
        loss = pt.as_tensor_variable(loss)
        return Apply(self, [loss], [loss.type()])

    def perform(self, node, inputs, outputs):
        (loss,) = inputs
        if loss.size == 0:
            raise ValueError(_empty_message(self.function_name))
        outputs[0][0] = loss


def _label_message(function_name, label, index, n_classes, n_bad, n_labels):
    # The Numba implementation builds the same text by concatenation.
    return (f"{function_name}: class label {label} (item {index}) is outside [0, {n_classes}): the predictions "
            f"have {n_classes} classes ({n_bad} of {n_labels} labels out of range)")


def _empty_message(function_name):
    return (f"{function_name}: the loss has no elements (a batch of 0 samples?), so its mean is undefined; "
            "feed at least one sample")


def _register_numba(_module):
    from pytensor.link.numba.dispatch.basic import numba_njit, register_funcify_default_op_cache_key

    # Part of the on-disk cache key of the compiled checks: changes whenever this file does.
    version = int.from_bytes(sha256(Path(__file__).read_bytes()).digest()[:6], "big")

    @register_funcify_default_op_cache_key(CheckClassIndices)
    def numba_funcify_CheckClassIndices(op, node=None, **kwargs):
        prefix = f"{op.function_name}: class label "

        @numba_njit
        def check_class_indices(targets, n_classes_array):
            n_classes = n_classes_array.item()  # a 0-d array
            flat = np.ascontiguousarray(targets).reshape(-1)
            n_bad, first = 0, 0
            for i in range(flat.size):
                if flat[i] < 0 or flat[i] >= n_classes:
                    if n_bad == 0:
                        first = i
                    n_bad += 1
            if n_bad:
                raise IndexError(
                    prefix + str(flat[first]) + " (item " + str(first) + ") is outside [0, " + str(n_classes)
                    + "): the predictions have " + str(n_classes) + " classes (" + str(n_bad) + " of "
                    + str(flat.size) + " labels out of range)"
                )
            return targets

        return check_class_indices, version

    @register_funcify_default_op_cache_key(CheckNotEmpty)
    def numba_funcify_CheckNotEmpty(op, node=None, **kwargs):
        message = _empty_message(op.function_name)

        @numba_njit
        def check_not_empty(loss):
            if loss.size == 0:
                raise ValueError(message)
            return loss

        return check_not_empty, version


def _register_jax(_module):
    from pytensor.link.jax.dispatch.basic import jax_funcify

    @jax_funcify.register(CheckClassIndices)
    @jax_funcify.register(CheckNotEmpty)
    def jax_funcify_check(op, node=None, **kwargs):
        # jit-compiled code cannot raise on values: pass through unchecked.
        def unchecked(value, *bounds):
            return value

        return unchecked


when_imported(NUMBA_DISPATCH, _register_numba)
when_imported(JAX_DISPATCH, _register_jax)
