"""``theano.tensor.nnet`` (``T.nnet``): activations, cross-entropies and
convolution (on :func:`convnet.ops.conv2d` and :func:`convnet.ops.conv3d`) with Theano's semantics.

Examples
--------
>>> import numpy as np
>>> relu(np.array([-1.0, 2.0])).eval()
array([0., 2.])
>>> categorical_crossentropy(np.array([[0.5, 0.5]]), np.array([1])).eval()
array([0.69314718])
"""
import pytensor.tensor as pt
from pytensor.tensor.special import log_softmax as _log_softmax
from pytensor.tensor.special import softmax as _softmax

from . import abstract_conv
from .abstract_conv import conv2d, conv2d_transpose, conv3d

__all__ = [
    "softmax", "logsoftmax", "log_softmax", "sigmoid", "ultra_fast_sigmoid", "hard_sigmoid", "softplus",
    "softsign", "relu", "elu", "selu", "categorical_crossentropy", "crossentropy_categorical_1hot",
    "binary_crossentropy", "sigmoid_binary_crossentropy", "conv2d", "conv2d_transpose", "conv3d", "abstract_conv",
]

sigmoid = pt.sigmoid
softplus = pt.softplus


def softmax(c, axis=-1):
    """Softmax over ``axis`` (the last, as Theano's ``softmax`` of a matrix
    normalises each row)."""
    return _softmax(c, axis=axis)


def logsoftmax(c, axis=-1):
    """Log of :func:`softmax`, computed stably."""
    return _log_softmax(c, axis=axis)


log_softmax = logsoftmax


def ultra_fast_sigmoid(x):
    """Theano's piecewise approximation of the sigmoid; here the exact
    sigmoid (the approximation existed for speed on old hardware)."""
    return pt.sigmoid(x)


def hard_sigmoid(x):
    """``clip(0.2 x + 0.5, 0, 1)``, as in Theano."""
    return pt.clip(0.2 * pt.as_tensor_variable(x) + 0.5, 0, 1)


def softsign(x):
    """``x / (1 + |x|)``."""
    x = pt.as_tensor_variable(x)
    return x / (1 + abs(x))


def relu(x, alpha=0):
    """Rectified linear unit; with ``alpha``, the leaky version
    ``max(x, alpha x)`` for ``alpha <= 1``, computed as Theano did:
    ``0.5 (1 + alpha) x + 0.5 (1 - alpha) |x|``."""
    x = pt.as_tensor_variable(x)
    if isinstance(alpha, (int, float)) and alpha == 0:
        return 0.5 * (x + abs(x))
    return 0.5 * (1 + alpha) * x + 0.5 * (1 - alpha) * abs(x)


def elu(x, alpha=1):
    """Exponential linear unit: ``x`` for ``x > 0``, ``alpha (exp(x) - 1)`` otherwise."""
    x = pt.as_tensor_variable(x)
    return pt.switch(x > 0, x, alpha * pt.expm1(x))


def selu(x):
    """Scaled exponential linear unit (Klambauer et al., 2017)."""
    return 1.0507009873554804934193349852946 * elu(x, 1.6732632423543772848170429916717)


def categorical_crossentropy(coding_dist, true_dist):
    """``-sum(true_dist * log(coding_dist))`` per row, or, when
    ``true_dist`` is a vector of class indices, ``-log(coding_dist[i, true_dist[i]])``.
    Unlike :func:`convnet.objectives.categorical_crossentropy`, nothing is
    clipped: as in Theano, a zero probability of the true class gives inf."""
    coding_dist = pt.as_tensor_variable(coding_dist)
    true_dist = pt.as_tensor_variable(true_dist)
    if true_dist.ndim == coding_dist.ndim:
        return -pt.sum(true_dist * pt.log(coding_dist), axis=coding_dist.ndim - 1)
    if true_dist.ndim == coding_dist.ndim - 1 and true_dist.dtype.startswith(("int", "uint")):
        return crossentropy_categorical_1hot(coding_dist, true_dist)
    raise TypeError(
        f"categorical_crossentropy: true_dist must be a {coding_dist.ndim}-d distribution or a "
        f"{coding_dist.ndim - 1}-d integer vector of classes, got a {true_dist.ndim}-d {true_dist.dtype} tensor"
    )


def crossentropy_categorical_1hot(coding_dist, true_one_of_n):
    """``-log(coding_dist[i, true_one_of_n[i]])`` for each row ``i``."""
    coding_dist = pt.as_tensor_variable(coding_dist)
    return -pt.log(coding_dist[pt.arange(coding_dist.shape[0]), true_one_of_n])


def binary_crossentropy(output, target):
    """``-(target log(output) + (1 - target) log(1 - output))``, elementwise."""
    output = pt.as_tensor_variable(output)
    return -(target * pt.log(output) + (1.0 - target) * pt.log(1.0 - output))


def sigmoid_binary_crossentropy(output, target):
    """:func:`binary_crossentropy` of ``sigmoid(output)``, computed stably
    from the logits ``output``."""
    output = pt.as_tensor_variable(output)
    return pt.softplus(-output) * target + pt.softplus(output) * (1.0 - target)
