"""Nonlinearities (activation functions): callables from a symbolic tensor to
a symbolic tensor of the same shape.

Pass one as a layer's ``nonlinearity``; :class:`ScaledTanH`,
:class:`LeakyRectify` and :class:`SELU` are classes to instantiate with their
parameters, everything else is used as is.

Examples
--------
>>> import numpy as np
>>> import pytensor.tensor as pt
>>> from convnet.nonlinearities import rectify, LeakyRectify
>>> x = pt.vector('x')
>>> rectify(x).eval({x: np.array([-1., 2.], dtype='float32')})
array([0., 2.], dtype=float32)
>>> LeakyRectify(0.1)(x).eval({x: np.array([-1., 2.], dtype='float32')})
array([-0.1,  2. ], dtype=float32)
"""
import pytensor.tensor as pt
from pytensor.gradient import zero_grad
from pytensor.tensor.variable import TensorVariable

from .typing import TensorLike

__all__ = [
    "sigmoid",
    "softmax",
    "tanh",
    "ScaledTanH",
    "ScaledTanh",
    "rectify",
    "LeakyRectify",
    "leaky_rectify",
    "very_leaky_rectify",
    "elu",
    "SELU",
    "selu",
    "softplus",
    "linear",
    "identity",
]


def sigmoid(x: TensorLike) -> TensorVariable:
    """Logistic sigmoid :math:`\\varphi(x) = \\frac{1}{1 + e^{-x}}`.

    Parameters
    ----------
    x : TensorVariable
        The activation (the summed, weighted input of a neuron).

    Returns
    -------
    TensorVariable
        Values in [0, 1].
    """
    return pt.sigmoid(x)


def softmax(x: TensorLike) -> TensorVariable:
    """Softmax over the last axis
    :math:`\\varphi(\\mathbf{x})_j = \\frac{e^{x_j}}{\\sum_k e^{x_k}}`.

    For the usual ``(batch, classes)`` matrix this normalizes each row, as
    Lasagne's softmax does. It subtracts the maximum first, so large inputs do
    not overflow.

    Parameters
    ----------
    x : TensorVariable
        The activations, classes along the last axis.

    Returns
    -------
    TensorVariable
        Values in [0, 1] that sum to 1 along the last axis.

    Examples
    --------
    >>> import numpy as np
    >>> import pytensor.tensor as pt
    >>> x = pt.matrix('x')
    >>> softmax(x).eval({x: np.array([[1000., 1000.]], dtype='float32')})
    array([[0.5, 0.5]], dtype=float32)
    """
    # Written out rather than PyTensor's Softmax op: that op is an OpFromGraph
    # which, run by the Python backend, compiles its inner graph with the
    # default (Numba) mode once per network, and Numba never frees compiled
    # code, so every clone-and-fit of a grid search grew memory. Numba mode
    # still recognizes this pattern as its Softmax.
    x = pt.as_tensor_variable(x)
    exponentials = pt.exp(x - zero_grad(x.max(axis=-1, keepdims=True)))
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


def tanh(x: TensorLike) -> TensorVariable:
    """Hyperbolic tangent :math:`\\varphi(x) = \\tanh(x)`.

    Parameters
    ----------
    x : TensorVariable
        The activation.

    Returns
    -------
    TensorVariable
        Values in [-1, 1].
    """
    return pt.tanh(x)


class ScaledTanH:
    """Scaled tanh :math:`\\varphi(x) = \\beta \\tanh(\\alpha x)`.

    Scaling the input down widens the tanh's linear regime; scaling it up
    brings it closer to a step function. Scaling the output changes the range
    to :math:`[-\\beta, \\beta]`.

    Parameters
    ----------
    scale_in : float
        The input scale :math:`\\alpha`.
    scale_out : float
        The output scale :math:`\\beta`.

    Notes
    -----
    LeCun et al. (1998) suggest ``scale_in=2./3`` and ``scale_out=1.7159``,
    which gives :math:`\\varphi(\\pm 1) = \\pm 1`.

    References
    ----------
    * LeCun, Yann A., et al. (1998): Efficient BackProp.
      http://yann.lecun.com/exdb/publis/pdf/lecun-98b.pdf

    Examples
    --------
    >>> scaled_tanh = ScaledTanH(scale_in=2. / 3, scale_out=1.7159)
    >>> round(float(scaled_tanh(1.0).eval()), 3)
    1.0
    """

    def __init__(self, scale_in: float = 1, scale_out: float = 1) -> None:
        self.scale_in = scale_in
        self.scale_out = scale_out

    def __call__(self, x: TensorLike) -> TensorVariable:
        return pt.tanh(x * self.scale_in) * self.scale_out

    def __repr__(self):
        return f"ScaledTanH(scale_in={self.scale_in!r}, scale_out={self.scale_out!r})"


ScaledTanh = ScaledTanH  # alias with the other capitalization, as in Lasagne


def rectify(x: TensorLike) -> TensorVariable:
    """Rectified linear unit :math:`\\varphi(x) = \\max(0, x)`.

    Parameters
    ----------
    x : TensorVariable
        The activation.

    Returns
    -------
    TensorVariable
        The rectified activation.
    """
    return pt.maximum(x, 0)


class LeakyRectify:
    """Leaky rectifier :math:`\\varphi(x) = x` for :math:`x > 0`, else
    :math:`\\alpha x` (Maas et al., 2013).

    Unlike :func:`rectify` it has a nonzero gradient for negative inputs.

    Parameters
    ----------
    leakiness : float
        The slope :math:`\\alpha` for negative inputs: 0 gives :func:`rectify`,
        1 the identity.

    See Also
    --------
    leaky_rectify : Instance with leakiness 0.01.
    very_leaky_rectify : Instance with leakiness 1/3.

    References
    ----------
    * Maas et al. (2013): Rectifier Nonlinearities Improve Neural Network
      Acoustic Models. ICML.

    Examples
    --------
    >>> from convnet.nonlinearities import LeakyRectify
    >>> custom_rectify = LeakyRectify(0.1)
    >>> round(float(custom_rectify(-2.0).eval()), 3)
    -0.2
    """

    def __init__(self, leakiness: float = 0.01) -> None:
        self.leakiness = leakiness

    def __call__(self, x: TensorLike) -> TensorVariable:
        x = pt.as_tensor_variable(x)
        return pt.switch(x > 0, x, self.leakiness * x)

    def __repr__(self):
        return f"LeakyRectify(leakiness={self.leakiness!r})"


#: :class:`LeakyRectify` with leakiness 0.01.
leaky_rectify = LeakyRectify(0.01)

#: :class:`LeakyRectify` with leakiness 1/3.
very_leaky_rectify = LeakyRectify(1.0 / 3)


def _expm1_of_negative_part(x):
    """``expm1(min(x, 0))``: the exponential branch of ELU/SELU, clamped so
    that large positive inputs neither overflow nor give NaN gradients."""
    return pt.expm1(pt.minimum(x, 0))


def elu(x: TensorLike) -> TensorVariable:
    """Exponential linear unit :math:`\\varphi(x) = x` for :math:`x > 0`, else
    :math:`e^x - 1` (Clevert et al., 2015).

    Parameters
    ----------
    x : TensorVariable
        The activation.

    Returns
    -------
    TensorVariable
        Values greater than -1.

    References
    ----------
    * Clevert, Unterthiner and Hochreiter (2015): Fast and Accurate Deep
      Network Learning by Exponential Linear Units (ELUs). arXiv:1511.07289.
    """
    x = pt.as_tensor_variable(x)
    return pt.switch(x > 0, x, _expm1_of_negative_part(x))


class SELU:
    """Scaled exponential linear unit
    :math:`\\varphi(x) = \\lambda x` for :math:`x > 0`, else
    :math:`\\lambda \\alpha (e^x - 1)` (Klambauer et al., 2017).

    Parameters
    ----------
    scale : float
        The scale :math:`\\lambda` of the whole output.
    scale_neg : float
        The scale :math:`\\alpha` of the negative part.

    See Also
    --------
    selu : Instance with the self-normalizing constants of Klambauer et al.

    References
    ----------
    * Klambauer et al. (2017): Self-Normalizing Neural Networks.
      arXiv:1706.02515.

    Examples
    --------
    >>> round(float(SELU(scale=2, scale_neg=3)(-100.0).eval()), 3)
    -6.0
    """

    def __init__(self, scale: float = 1, scale_neg: float = 1) -> None:
        self.scale = scale
        self.scale_neg = scale_neg

    def __call__(self, x: TensorLike) -> TensorVariable:
        x = pt.as_tensor_variable(x)
        return self.scale * pt.switch(x > 0, x, self.scale_neg * _expm1_of_negative_part(x))

    def __repr__(self):
        return f"SELU(scale={self.scale!r}, scale_neg={self.scale_neg!r})"


#: :class:`SELU` with ``scale=1.0507...`` and ``scale_neg=1.6733...``, the
#: values that make the activations self-normalizing.
selu = SELU(scale=1.0507009873554804934193349852946, scale_neg=1.6732632423543772848170429916717)


def softplus(x: TensorLike) -> TensorVariable:
    """Softplus :math:`\\varphi(x) = \\log(1 + e^x)`, computed without overflow.

    Parameters
    ----------
    x : TensorVariable
        The activation.

    Returns
    -------
    TensorVariable
        Positive values.
    """
    return pt.softplus(x)


def linear(x: TensorLike) -> TensorVariable:
    """The identity :math:`\\varphi(x) = x`; ``identity`` is the same function.

    Parameters
    ----------
    x : TensorVariable
        The activation.

    Returns
    -------
    TensorVariable
        `x` unchanged.
    """
    return x


identity = linear
