"""Batch normalization with the mini-batch's statistics, as one Op with one gradient Op.

:func:`batch_norm_train` computes ``(x - mean) * inv_std * gamma + beta``
with ``mean`` and ``inv_std = 1 / sqrt(var + epsilon)`` taken over ``axes``,
and returns the statistics too; given running averages of them, it also
returns their new values, as Theano's ``batch_normalization_train`` does, so
that a training function's updates need no nodes of their own. Written with
PyTensor's elementwise Ops and reductions, this is about 50 nodes and their
gradient another 50: in a ResNet-32 with 33 batch normalizations they were
three quarters of a training function's 4,800 nodes, and PyTensor's
rewriting of a graph costs about 2 ms a node. Here it is two nodes,
:class:`BatchNormTrain` and :class:`BatchNormTrainGrad`.

The statistics are accumulated in float64 whatever the input's dtype (on
JAX, where ``jax_enable_x64`` allows it); the variance is the mean squared
deviation from the mean (two passes, no cancellation). Each Op has three
implementations that give the same numbers:

* ``perform``: the NumPy reference, run by PyTensor's Python linker
  (``mode="FAST_COMPILE"``) and by convnet's CPU linker while the compiled
  code is not ready;
* compiled loops for PyTensor's Numba linker and convnet's CPU linker
  (:mod:`convnet.ops.batchnorm.numba_backend`);
* ``jax.numpy`` code for ``mode="JAX"`` (:mod:`convnet.ops.batchnorm.jax_backend`).

Gradients flow into ``x`` from all three outputs (the statistics depend on
it), and the gradient Op is differentiable again: its derivatives are
PyTensor's of the same formula written out (:func:`_gradient_formula`).
"""
import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, disconnected_type
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.graph.replace import graph_replace
from pytensor.scalar import upcast

from ...backends import JAX_DISPATCH, NUMBA_DISPATCH, import_when_imported
from ...linker import compiled_node, cpu_thunk
from ..compat import infer_shape_method
from .geometry import BatchNormGeometry

__all__ = ["batch_norm_train", "BatchNormTrain", "BatchNormTrainGrad"]


def batch_norm_train(x, gamma, beta, axes, epsilon=1e-4, running_mean=None, running_inv_std=None, alpha=0.1):
    """Normalize ``x`` with the mean and variance it has over ``axes``.

    Parameters
    ----------
    x : tensor-like
        The input.
    gamma, beta : tensor-like
        The scale and offset, shaped like ``x``'s axes that are not in
        ``axes`` (e.g. ``(channels,)`` for ``axes=(0, 2, 3)`` on images).
    axes : int or tuple of int
        The axes the statistics are taken over.
    epsilon : float
        Added to the variance before the square root.
    running_mean, running_inv_std : tensor-like, optional
        Running averages of the statistics (both or neither), shaped like
        ``gamma``: then the Op also returns them moved towards this batch's.
    alpha : float
        The weight of this batch's statistics in the new running averages.

    Returns
    -------
    out, mean, inv_std : TensorVariable
        ``(x - mean) * inv_std * gamma + beta`` (``mean`` and ``inv_std``
        broadcast over ``axes``), and the statistics, shaped like ``gamma``.
        The dtype is the widest of the arguments', floatX for integers.
    new_running_mean, new_running_inv_std : TensorVariable
        Only with the running averages: ``(1 - alpha) * running + alpha *
        statistic``.

    Raises
    ------
    ValueError
        For axes that are not distinct axes of ``x``, ``gamma``, ``beta`` or
        the running averages of another shape than the statistics (where
        static shapes tell), or only one running average.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0, 10.0], [3.0, 30.0]])
    >>> out, mean, inv_std = batch_norm_train(x, np.ones(2), np.zeros(2), axes=0, epsilon=0.0)
    >>> out.eval()
    array([[-1., -1.],
           [ 1.,  1.]])
    >>> mean.eval(), inv_std.eval()
    (array([ 2., 20.]), array([1. , 0.1]))
    >>> *_, new_mean, new_inv_std = batch_norm_train(x, np.ones(2), np.zeros(2), 0, 0.0, np.zeros(2), np.ones(2),
    ...                                              alpha=0.5)
    >>> new_mean.eval(), new_inv_std.eval()
    (array([ 1., 10.]), array([1.  , 0.55]))
    """
    if (running_mean is None) != (running_inv_std is None):
        raise ValueError("batch_norm_train: give both running_mean and running_inv_std, or neither")
    tensors = [pt.as_tensor_variable(v) for v in (x, gamma, beta, running_mean, running_inv_std) if v is not None]
    dtype = upcast(*(v.dtype for v in tensors))
    if not dtype.startswith("float"):
        dtype = pytensor.config.floatX
    axes = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
    op = BatchNormTrain(BatchNormGeometry(axes, tensors[0].ndim), epsilon, None if running_mean is None else alpha)
    return op(*(v.astype(dtype) for v in tensors))


_RUNNING = ("running_mean", "running_inv_std")
"""The names of :class:`BatchNormTrain`'s optional inputs."""


def _is_disconnected(variable):
    return isinstance(variable.type, DisconnectedType)


class _BatchNormOp(Op):
    """Base of the two Ops: their props start with the geometry."""

    def _check(self, x, **stats):
        """``x`` and the per-position tensors ``stats`` (by name), checked
        against the geometry: a float input of its ndim, the stats shaped like
        its kept axes, one dtype."""
        g = self.geometry
        if x.ndim != g.ndim:
            raise ValueError(f"{type(self).__name__} over axes {g.axes} of a {g.ndim}-d input got a {x.ndim}-d "
                             f"input of shape {x.type.shape}")
        if not x.dtype.startswith("float"):
            raise TypeError(f"{type(self).__name__} needs a floating-point input, got {x.dtype}")
        for name, value in stats.items():
            g.check_stats_shape(name, x.type.shape, value.type.shape)
            if value.dtype != x.dtype:
                raise TypeError(f"{type(self).__name__}: {name} has dtype {value.dtype}, the input {x.dtype}")

    def _check_sizes(self, x, **stats):
        """The check of :meth:`_check` on values: what static shapes could not tell."""
        for name, value in stats.items():
            self.geometry.check_stats_shape(name, x.shape, value.shape)

    def _stats_type(self, x):
        return pt.tensor(dtype=x.dtype, shape=self.geometry.stats_shape(x.type.shape))


class BatchNormTrain(_BatchNormOp):
    """``(x, gamma, beta) -> (out, mean, inv_std)``, and with ``alpha``
    ``(x, gamma, beta, running_mean, running_inv_std) -> (out, mean, inv_std,
    new_running_mean, new_running_inv_std)``; see :func:`batch_norm_train`.

    Examples
    --------
    >>> import numpy as np
    >>> op = BatchNormTrain(BatchNormGeometry((0,), 2), epsilon=0.0)
    >>> [v.eval() for v in op(np.array([[0.0], [2.0]]), np.ones(1), np.zeros(1))]
    [array([[-1.],
           [ 1.]]), array([1.]), array([1.])]
    """

    __props__ = ("geometry", "epsilon", "alpha")

    def __init__(self, geometry, epsilon=1e-4, alpha=None):
        if not isinstance(geometry, BatchNormGeometry):
            raise TypeError(f"geometry must be a BatchNormGeometry, got {geometry!r}")
        epsilon = float(epsilon)
        if not epsilon >= 0:
            raise ValueError(f"epsilon must be a non-negative number, got {epsilon!r}")
        if alpha is not None:
            alpha = float(alpha)
            if not 0 <= alpha <= 1:
                raise ValueError(f"alpha, the weight of a batch in the running averages, must be in [0, 1], "
                                 f"got {alpha!r}")
        self.geometry, self.epsilon, self.alpha = geometry, epsilon, alpha

    @property
    def updates_averages(self):
        """Whether the Op takes and returns running averages."""
        return self.alpha is not None

    def make_node(self, x, gamma, beta, *running):
        x, gamma, beta, *running = map(pt.as_tensor_variable, (x, gamma, beta, *running))
        if len(running) != 2 * self.updates_averages:
            names = ("x", "gamma", "beta") + (_RUNNING if self.updates_averages else ())
            raise TypeError(f"BatchNormTrain with alpha={self.alpha} takes {len(names)} inputs ({', '.join(names)}), "
                            f"got {3 + len(running)}")
        self._check(x, gamma=gamma, beta=beta, **dict(zip(_RUNNING, running)))
        n_stats = 2 + len(running)
        return Apply(self, [x, gamma, beta, *running], [x.type()] + [self._stats_type(x) for _ in range(n_stats)])

    def perform(self, node, inputs, outputs):
        (x, gamma, beta, *running), g = inputs, self.geometry
        self._check_sizes(x, gamma=gamma, beta=beta, **dict(zip(_RUNNING, running)))
        mean = x.mean(axis=g.axes, dtype=np.float64, keepdims=True)
        centered = x - mean.astype(x.dtype)
        var = np.square(centered).mean(axis=g.axes, dtype=np.float64, keepdims=True)
        inv_std = 1.0 / np.sqrt(var + self.epsilon)
        scale = (g.broadcast(gamma) * inv_std).astype(x.dtype)
        centered *= scale
        centered += g.broadcast(beta)
        outputs[0][0] = centered
        stats = [mean.reshape(gamma.shape), inv_std.reshape(gamma.shape)]
        for cell, value in zip(outputs[1:], stats):
            cell[0] = value.astype(x.dtype)
        for cell, value, average in zip(outputs[3:], stats, running):
            cell[0] = ((1 - self.alpha) * average + self.alpha * value).astype(x.dtype)

    @infer_shape_method
    def infer_shape(self, node, shapes):
        stats = tuple(shapes[0][a] for a in self.geometry.kept)
        return [shapes[0]] + [stats] * (len(node.outputs) - 1)

    def connection_pattern(self, node):
        # Rows are inputs, columns outputs: the statistics depend on x only,
        # each new running average on x and its old value.
        pattern = [[True, True, True], [True, False, False], [True, False, False]]
        if self.updates_averages:
            pattern = [row + [row[0], row[0]] for row in pattern]
            pattern += [[False, False, False, True, False], [False, False, False, False, True]]
        return pattern

    def pullback(self, inputs, outputs, cotangents):
        x, gamma = inputs[:2]
        (_, mean, inv_std), (d_out, d_mean, d_inv_std) = outputs[:3], cotangents[:3]
        g = self.geometry
        running_grads = []
        for d_new, i in zip(cotangents[3:], (1, 2)):
            # new = (1 - alpha) * old + alpha * statistic
            if _is_disconnected(d_new):
                running_grads.append(disconnected_type())
                continue
            running_grads.append((1 - self.alpha) * d_new)
            statistic = self.alpha * d_new
            if i == 1:
                d_mean = statistic if _is_disconnected(d_mean) else d_mean + statistic
            else:
                d_inv_std = statistic if _is_disconnected(d_inv_std) else d_inv_std + statistic
        if _is_disconnected(d_out):
            d_x, d_gamma, d_beta = pt.zeros_like(x), disconnected_type(), disconnected_type()
        else:
            d_x, d_gamma, d_beta = BatchNormTrainGrad(g)(x, d_out, gamma, mean, inv_std)
        # Through the statistics: d mean / dx = 1 / n and, as the deviations
        # sum to zero, d inv_std / dx = -inv_std ** 3 * (x - mean) / n.
        n = _count(x, g)
        if not _is_disconnected(d_mean):
            d_x = d_x + g.broadcast(d_mean / n)
        if not _is_disconnected(d_inv_std):
            d_x = d_x - g.broadcast(d_inv_std * inv_std ** 3 / n) * (x - g.broadcast(mean))
        return [d_x, d_gamma, d_beta, *running_grads]


class BatchNormTrainGrad(_BatchNormOp):
    """The gradient of :class:`BatchNormTrain`'s ``out``:
    ``(x, d_out, gamma, mean, inv_std) -> (d_x, d_gamma, d_beta)``.

    With ``x_hat = (x - mean) * inv_std`` and sums over the normalized axes
    (``n`` values each): ``d_beta = sum(d_out)``, ``d_gamma = sum(d_out *
    x_hat)`` and ``d_x = gamma * inv_std * (d_out - d_beta / n - x_hat *
    d_gamma / n)``.

    Examples
    --------
    >>> import numpy as np
    >>> op = BatchNormTrainGrad(BatchNormGeometry((0,), 2))
    >>> x = np.array([[0.0], [2.0]])
    >>> [v.eval() for v in op(x, np.array([[1.0], [0.0]]), np.ones(1), np.ones(1), np.ones(1))]
    [array([[0.],
           [0.]]), array([-1.]), array([1.])]
    """

    __props__ = ("geometry",)

    def __init__(self, geometry):
        if not isinstance(geometry, BatchNormGeometry):
            raise TypeError(f"geometry must be a BatchNormGeometry, got {geometry!r}")
        self.geometry = geometry

    def make_node(self, x, d_out, gamma, mean, inv_std):
        x, d_out, gamma, mean, inv_std = map(pt.as_tensor_variable, (x, d_out, gamma, mean, inv_std))
        self._check(x, gamma=gamma, mean=mean, inv_std=inv_std)
        if d_out.type.ndim != x.type.ndim or d_out.dtype != x.dtype:
            raise ValueError(f"BatchNormTrainGrad: d_out ({d_out.type}) must have the input's type ({x.type})")
        return Apply(self, [x, d_out, gamma, mean, inv_std], [x.type(), gamma.type(), gamma.type()])

    def perform(self, node, inputs, outputs):
        (x, d_out, gamma, mean, inv_std), g = inputs, self.geometry
        self._check_sizes(x, gamma=gamma, mean=mean, inv_std=inv_std)
        if d_out.shape != x.shape:
            raise ValueError(f"BatchNormTrainGrad: d_out has shape {d_out.shape}, the input {x.shape}")
        mean, inv_std = g.broadcast(mean), g.broadcast(inv_std)
        x_hat = (x - mean) * inv_std
        d_beta = d_out.sum(axis=g.axes, dtype=np.float64, keepdims=True)
        d_gamma = (d_out * x_hat).sum(axis=g.axes, dtype=np.float64, keepdims=True)
        n = g.count(x.shape)
        x_hat *= (d_gamma / n).astype(x.dtype)
        d_x = d_out - (d_beta / n).astype(x.dtype)
        d_x -= x_hat
        d_x *= (g.broadcast(gamma) * inv_std).astype(x.dtype)
        outputs[0][0] = d_x
        outputs[1][0] = d_gamma.reshape(gamma.shape).astype(x.dtype)
        outputs[2][0] = d_beta.reshape(gamma.shape).astype(x.dtype)

    @infer_shape_method
    def infer_shape(self, node, shapes):
        return [shapes[0], shapes[2], shapes[2]]

    def pullback(self, inputs, outputs, cotangents):
        # The formula on stand-ins of the inputs: on the inputs themselves,
        # the derivative with respect to x would also run through mean and
        # inv_std, which depend on x in the graph around this node.
        stand_ins = [v.type() for v in inputs]
        cost = sum((formula * cotangent).sum()
                   for formula, cotangent in zip(_gradient_formula(self.geometry, *stand_ins), cotangents)
                   if not _is_disconnected(cotangent))
        grads = pytensor.grad(cost, stand_ins, disconnected_inputs="ignore", return_disconnected="disconnected")
        return [grad if _is_disconnected(grad) else graph_replace(grad, dict(zip(stand_ins, inputs)), strict=False)
                for grad in grads]


def _count(x, g):
    """The number of values each statistic is taken over, symbolically, in ``x``'s dtype."""
    return pt.prod([x.shape[a] for a in g.axes]).astype(x.dtype)


def _gradient_formula(g, x, d_out, gamma, mean, inv_std):
    """:class:`BatchNormTrainGrad`'s outputs written with PyTensor's own Ops
    (differentiated for second derivatives, and a reference for tests)."""
    n = _count(x, g)
    x_hat = (x - g.broadcast(mean)) * g.broadcast(inv_std)
    d_beta = d_out.sum(axis=g.axes)
    d_gamma = (d_out * x_hat).sum(axis=g.axes)
    d_x = g.broadcast(gamma * inv_std) * (d_out - g.broadcast(d_beta / n) - x_hat * g.broadcast(d_gamma / n))
    return d_x, d_gamma, d_beta


# convnet's CPU linker runs these nodes through their per-node Numba functions.
for _op_type in (BatchNormTrain, BatchNormTrainGrad):
    cpu_thunk.register(_op_type)(compiled_node)

# The backend implementations register themselves when PyTensor loads each backend.
import_when_imported(NUMBA_DISPATCH, "convnet.ops.batchnorm.numba_backend")
import_when_imported(JAX_DISPATCH, "convnet.ops.batchnorm.jax_backend")
