"""Layers that transform their input elementwise, some with parameters
shared over some axes: nonlinearities, biases, scales, parametric
rectifiers and arbitrary expressions.

Parameters of :class:`BiasLayer`, :class:`ScaleLayer`,
:class:`ParametricRectifierLayer` (and
:class:`~convnet.layers.BatchNormLayer`) have one entry per position on the
axes they are *not* shared over. ``shared_axes='auto'`` shares over all axes
but the second, so a layer gets one parameter per channel (or per unit, for
2-D input)::

    >>> from convnet.layers import InputLayer, BiasLayer
    >>> BiasLayer(InputLayer((None, 16, 28, 28))).b.get_value().shape
    (16,)
"""
from collections.abc import Callable

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.variable import TensorVariable

from .. import init, nonlinearities
from ..typing import Nonlinearity, ParamSpec, Shape
from ..utils import floatX, int_types
from .base import Incoming, Layer, MergeLayer

__all__ = [
    "NonlinearityLayer",
    "BiasLayer",
    "ScaleLayer",
    "standardize",
    "ExpressionLayer",
    "ParametricRectifierLayer",
    "prelu",
    "RandomizedRectifierLayer",
    "rrelu",
    "InverseLayer",
]


def _resolve_shared_axes(shared_axes, ndim):
    """``shared_axes`` as a sorted tuple of non-negative axes of an
    ``ndim``-dimensional input: ``'auto'`` is every axis but the second,
    ``'all'`` every axis, an int or iterable of ints (negative ones counted
    from the end) those axes."""
    if isinstance(shared_axes, str):
        if shared_axes == "auto":
            return (0,) + tuple(range(2, ndim))
        if shared_axes == "all":
            return tuple(range(ndim))
        raise ValueError(f"shared_axes must be 'auto', 'all', an int or a tuple of ints, got {shared_axes!r}")
    axes = (shared_axes,) if isinstance(shared_axes, int_types) else tuple(shared_axes)
    if not all(isinstance(a, int_types) and -ndim <= a < ndim for a in axes):
        raise ValueError(f"shared_axes {shared_axes!r} must be axes of the {ndim}-dimensional input")
    return tuple(sorted({int(a) % ndim for a in axes}))


def _per_axis_param_shape(input_shape, shared_axes, what):
    """The shape of a parameter with one entry per position on the axes of
    ``input_shape`` not in ``shared_axes``; those sizes must be known."""
    shape = tuple(size for axis, size in enumerate(input_shape) if axis not in shared_axes)
    if None in shape:
        raise ValueError(
            f"the {what} need known input sizes on the axes they are not shared over; "
            f"input_shape {input_shape}, shared_axes {shared_axes}"
        )
    return shape


def _broadcast_per_axis_param(param, shared_axes, ndim):
    """``param`` (shaped by :func:`_per_axis_param_shape`) dimshuffled to
    broadcast against the ``ndim``-dimensional input."""
    param_axes = iter(range(param.ndim))
    return param.dimshuffle(["x" if axis in shared_axes else next(param_axes) for axis in range(ndim)])


def _take_nonlinearity(layer):
    """Set ``layer``'s nonlinearity (if it has one) to the identity and
    return the one it had, or None."""
    nonlinearity = getattr(layer, "nonlinearity", None)
    if nonlinearity is not None:
        layer.nonlinearity = nonlinearities.identity
    return nonlinearity


class NonlinearityLayer(Layer):
    """Applies a nonlinearity elementwise.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected input shape.
    nonlinearity : callable or None
        The nonlinearity (see :mod:`convnet.nonlinearities`); None is the
        identity.
    **kwargs
        Passed to :class:`~convnet.layers.Layer` (e.g. ``name``).

    Examples
    --------
    >>> from convnet.layers import InputLayer, NonlinearityLayer
    >>> from convnet.nonlinearities import softmax
    >>> NonlinearityLayer(InputLayer((None, 10)), softmax).output_shape
    (None, 10)
    """

    def __init__(self, incoming: Incoming, nonlinearity: Nonlinearity | None = nonlinearities.rectify, **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        self.nonlinearity = nonlinearities.identity if nonlinearity is None else nonlinearity

    def get_output_for(self, input, **kwargs):
        return self.nonlinearity(input)


class BiasLayer(Layer):
    """Adds a learnable bias: ``input + b``, with ``b`` shared over
    ``shared_axes``.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected input shape.
    b : initializer, array, shared variable, expression or None
        The biases, of shape ``input_shape`` without the shared axes
        (see :func:`convnet.utils.create_param`); None for no bias (the layer
        is then the identity). Tagged ``regularizable=False``.
    shared_axes : 'auto', 'all', int or tuple of int
        The axes ``b`` is shared (broadcast) over. ``'auto'`` is all axes but
        the second: one bias per channel. The input's sizes on the other axes
        must be known.
    **kwargs
        Passed to :class:`~convnet.layers.Layer` (e.g. ``name``).

    Examples
    --------
    >>> from convnet.layers import InputLayer, BiasLayer
    >>> l_bias = BiasLayer(InputLayer((None, 3, 5)), shared_axes=(0, 1))
    >>> l_bias.b.get_value().shape
    (5,)
    """

    def __init__(self, incoming: Incoming, b: ParamSpec | None = init.Constant(0), shared_axes: str | int | tuple[int, ...] = "auto",
                 **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        self.shared_axes = _resolve_shared_axes(shared_axes, len(self.input_shape))
        if b is None:
            self.b = None
        else:
            shape = _per_axis_param_shape(self.input_shape, self.shared_axes, "biases")
            self.b = self.add_param(b, shape, "b", regularizable=False)

    def get_output_for(self, input, **kwargs):
        if self.b is None:
            return input
        return input + _broadcast_per_axis_param(self.b, self.shared_axes, input.ndim)


class ScaleLayer(Layer):
    """Multiplies by learnable scales: ``input * scales``, with ``scales``
    shared over ``shared_axes``.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected input shape.
    scales : initializer, array, shared variable or expression
        The scales, of shape ``input_shape`` without the shared axes
        (see :func:`convnet.utils.create_param`).
    shared_axes : 'auto', 'all', int or tuple of int
        The axes ``scales`` is shared (broadcast) over. ``'auto'`` is all axes
        but the second: one scale per channel. The input's sizes on the other
        axes must be known.
    **kwargs
        Passed to :class:`~convnet.layers.Layer` (e.g. ``name``).

    Examples
    --------
    >>> from convnet.layers import InputLayer, ScaleLayer
    >>> ScaleLayer(InputLayer((None, 8, 32, 32))).scales.get_value().shape
    (8,)
    """

    def __init__(self, incoming: Incoming, scales: ParamSpec = init.Constant(1), shared_axes: str | int | tuple[int, ...] = "auto",
                 **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        self.shared_axes = _resolve_shared_axes(shared_axes, len(self.input_shape))
        shape = _per_axis_param_shape(self.input_shape, self.shared_axes, "scales")
        self.scales = self.add_param(scales, shape, "scales")

    def get_output_for(self, input, **kwargs):
        return input * _broadcast_per_axis_param(self.scales, self.shared_axes, input.ndim)


def standardize(layer: Layer, offset: ParamSpec, scale: ParamSpec, shared_axes: str | int | tuple[int, ...] = "auto") -> "ScaleLayer":
    """Standardize ``layer``'s output with fixed statistics:
    ``(output - offset) / scale``.

    Adds a :class:`BiasLayer` holding ``-offset`` and a :class:`ScaleLayer`
    holding ``1 / scale``, both untrainable, typically to standardize a
    network's input with the training set's mean and standard deviation.

    Parameters
    ----------
    layer : Layer
        The layer whose output to standardize.
    offset : array, shared variable or expression
        Subtracted from the output; shaped like a :class:`BiasLayer`'s ``b``.
    scale : array, shared variable or expression
        Divides the output; shaped like ``offset``.
    shared_axes : 'auto', 'all', int or tuple of int
        The axes ``offset`` and ``scale`` are shared over.

    Returns
    -------
    ScaleLayer
        The last of the two layers added.

    Examples
    --------
    >>> import numpy as np
    >>> from convnet.layers import InputLayer, standardize
    >>> X = np.random.rand(100, 3).astype('float32')
    >>> l_std = standardize(InputLayer((None, 3)), X.mean(0), X.std(0), shared_axes=0)
    >>> l_std.get_params(trainable=True)
    []
    """
    layer = BiasLayer(layer, -offset, shared_axes)
    layer.params[layer.b].remove("trainable")
    layer = ScaleLayer(layer, floatX(1.0) / scale, shared_axes)
    layer.params[layer.scales].remove("trainable")
    return layer


class ExpressionLayer(Layer):
    """Applies an arbitrary function of the input: ``function(input)``.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected input shape.
    function : callable
        Maps the symbolic input to the symbolic output.
    output_shape : None, 'auto', tuple or callable
        The output shape: None for the input shape (an elementwise
        function); ``'auto'`` to infer it by applying ``function`` to dummy
        inputs (a size that changes with the input's unknown sizes is
        reported as None); a tuple; or a callable mapping the input shape to
        the output shape.
    **kwargs
        Passed to :class:`~convnet.layers.Layer` (e.g. ``name``).

    Examples
    --------
    >>> from convnet.layers import InputLayer, ExpressionLayer
    >>> l_in = InputLayer((None, 3, 4))
    >>> ExpressionLayer(l_in, lambda X: X.mean(-1), output_shape='auto').output_shape
    (None, 3)
    >>> ExpressionLayer(l_in, lambda X: X[:, :, ::2], lambda s: s[:2] + (2,)).output_shape
    (None, 3, 2)
    """

    def __init__(self, incoming: Incoming, function: Callable[[TensorVariable], TensorVariable],
                 output_shape: Shape | Callable[[Shape], Shape] | str | None = None, **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        self.function = function
        if not (output_shape is None or output_shape == "auto" or callable(output_shape)):
            output_shape = tuple(output_shape)
        self._output_shape = output_shape
        self._inferred_shapes = {}

    def get_output_shape_for(self, input_shape):
        if self._output_shape is None:
            return input_shape
        if self._output_shape == "auto":
            return self._infer_output_shape(tuple(input_shape))
        if callable(self._output_shape):
            return tuple(self._output_shape(input_shape))
        return self._output_shape

    def _infer_output_shape(self, input_shape):
        """Compile the shape of ``function(dummy)`` and evaluate it with the
        unknown input sizes set to 2 and to 3; sizes that differ are unknown.
        Cached per input shape, as ``output_shape`` is recomputed on access."""
        if input_shape not in self._inferred_shapes:
            dummy = pt.tensor("dummy", dtype=pytensor.config.floatX, shape=input_shape)
            shape_fn = pytensor.function(
                [dummy], self.function(dummy).shape, mode="FAST_COMPILE", on_unused_input="ignore"
            )
            fills = (2, 3) if None in input_shape else (1,)
            trials = [shape_fn(np.ones([fill if s is None else s for s in input_shape], dummy.dtype)) for fill in fills]
            self._inferred_shapes[input_shape] = tuple(
                int(sizes[0]) if len(set(sizes)) == 1 else None for sizes in zip(*trials)
            )
        return self._inferred_shapes[input_shape]

    def get_output_for(self, input, **kwargs):
        return self.function(input)


class ParametricRectifierLayer(Layer):
    """Parametric rectifier (PReLU, He et al. 2015):
    ``max(input, 0) + alpha * min(input, 0)`` with learnable leakiness
    ``alpha`` shared over ``shared_axes``.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected input shape.
    alpha : initializer, array, shared variable or expression
        The slopes for negative inputs, of shape ``input_shape`` without the
        shared axes. Tagged ``regularizable=False``.
    shared_axes : 'auto', 'all', int or tuple of int
        The axes ``alpha`` is shared over. ``'auto'`` is all axes but the
        second (one slope per channel); ``'all'`` gives a single scalar slope.
    **kwargs
        Passed to :class:`~convnet.layers.Layer` (e.g. ``name``).

    See Also
    --------
    prelu : Puts a PReLU in place of a layer's nonlinearity.

    References
    ----------
    K. He, X. Zhang, S. Ren and J. Sun (2015): Delving Deep into Rectifiers:
    Surpassing Human-Level Performance on ImageNet Classification.
    arXiv:1502.01852.

    Examples
    --------
    >>> from convnet.layers import InputLayer, ParametricRectifierLayer
    >>> l_prelu = ParametricRectifierLayer(InputLayer((None, 16, 8, 8)))
    >>> l_prelu.alpha.get_value().shape
    (16,)
    """

    def __init__(self, incoming: Incoming, alpha: ParamSpec = init.Constant(0.25), shared_axes: str | int | tuple[int, ...] = "auto",
                 **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        self.shared_axes = _resolve_shared_axes(shared_axes, len(self.input_shape))
        shape = _per_axis_param_shape(self.input_shape, self.shared_axes, "slopes alpha")
        self.alpha = self.add_param(alpha, shape, "alpha", regularizable=False)

    def get_output_for(self, input, **kwargs):
        alpha = _broadcast_per_axis_param(self.alpha, self.shared_axes, input.ndim)
        return pt.maximum(input, 0) + alpha * pt.minimum(input, 0)


def prelu(layer: Layer, **kwargs) -> "ParametricRectifierLayer":
    """Replace ``layer``'s nonlinearity by a parametric rectifier.

    Sets ``layer.nonlinearity`` (if it has one) to the identity and adds a
    :class:`ParametricRectifierLayer` on top.

    Parameters
    ----------
    layer : Layer
        The layer to apply the PReLU to, e.g. a dense or convolution layer.
    **kwargs
        Passed to :class:`ParametricRectifierLayer`.

    Returns
    -------
    ParametricRectifierLayer
        The new layer on top of ``layer``.

    Examples
    --------
    >>> from convnet.layers import InputLayer, DenseLayer, prelu
    >>> l_dense = DenseLayer(InputLayer((None, 10)), num_units=5)
    >>> l_prelu = prelu(l_dense)
    >>> l_prelu.input_layer is l_dense, l_prelu.alpha.get_value().shape
    (True, (5,))
    """
    _take_nonlinearity(layer)
    return ParametricRectifierLayer(layer, **kwargs)


class RandomizedRectifierLayer(Layer):
    """Randomized leaky rectifier (RReLU, Xu et al. 2015):
    ``max(input, 0) + a * min(input, 0)`` with the slope ``a`` drawn
    uniformly from ``[lower, upper]`` at every training step (shared over
    ``shared_axes``), and ``(lower + upper) / 2`` when
    :func:`~convnet.layers.get_output` is called with ``deterministic=True``.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected input shape.
    lower, upper : float
        The range of the slopes (``0 <= lower <= upper <= 1``).
    shared_axes : 'auto', 'all', int or tuple of int
        The axes a slope is shared over; ``'auto'`` is all axes but the
        second: one slope per channel.
    **kwargs
        Passed to :class:`~convnet.layers.Layer` (e.g. ``name``).

    References
    ----------
    B. Xu, N. Wang, T. Chen and M. Li (2015): Empirical Evaluation of
    Rectified Activations in Convolutional Network. arXiv:1505.00853.

    Examples
    --------
    >>> from convnet.layers import InputLayer, RandomizedRectifierLayer
    >>> RandomizedRectifierLayer(InputLayer((None, 16, 8, 8)), lower=0.1, upper=0.3).shared_axes
    (0, 2, 3)
    """

    def __init__(self, incoming: Incoming, lower: float = 0.3, upper: float = 0.8,
                 shared_axes: str | int | tuple[int, ...] = "auto", **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        if not 0 <= lower <= upper <= 1:
            raise ValueError(f"the slopes' range needs 0 <= lower <= upper <= 1, got lower={lower}, upper={upper}")
        self.lower = lower
        self.upper = upper
        self.shared_axes = _resolve_shared_axes(shared_axes, len(self.input_shape))
        from .noise import _RandomStreams  # noise imports this module

        self._streams = _RandomStreams()

    def get_output_for(self, input, deterministic=False, **kwargs):
        if deterministic or self.upper == self.lower:
            slope = (self.upper + self.lower) / 2.0
        else:
            shape = [1 if axis in self.shared_axes else input.shape[axis] for axis in range(input.ndim)]
            slope = self._streams.draw("uniform", self.lower, self.upper, size=shape)
            slope = pt.specify_broadcastable(pt.cast(slope, input.dtype), *self.shared_axes)
        return pt.maximum(input, 0) + slope * pt.minimum(input, 0)


def rrelu(layer, **kwargs):
    """Replace ``layer``'s nonlinearity by a randomized leaky rectifier.

    Sets ``layer.nonlinearity`` (if it has one) to the identity and adds a
    :class:`RandomizedRectifierLayer` (given ``**kwargs``) on top.

    Examples
    --------
    >>> from convnet.layers import InputLayer, DenseLayer, rrelu
    >>> l_dense = DenseLayer(InputLayer((None, 10)), num_units=5)
    >>> rrelu(l_dense).input_layer is l_dense
    True
    """
    _take_nonlinearity(layer)
    return RandomizedRectifierLayer(layer, **kwargs)


class InverseLayer(MergeLayer):
    """The transpose of ``layer``'s linear map: the gradient of ``layer``'s
    output with respect to its input, applied to ``incoming``.

    For a dense or convolution layer without nonlinearity this multiplies by
    ``W``'s transpose (a transposed convolution); for max-pooling it routes
    each value back to the position of its maximum; in general it uses the
    derivative at ``layer``'s current input (Zeiler & Fergus's
    deconvolutional networks, autoencoders with tied weights).

    Parameters
    ----------
    incoming : Layer or tuple
        The layer to invert, shaped like ``layer``'s output.
    layer : Layer
        The layer whose transpose to apply; it must have a single input
        layer, which must be in the same network.
    **kwargs
        Passed to :class:`~convnet.layers.MergeLayer` (e.g. ``name``).

    Examples
    --------
    >>> from convnet.layers import InputLayer, DenseLayer, InverseLayer
    >>> l_in = InputLayer((None, 10))
    >>> l_enc = DenseLayer(l_in, 4, nonlinearity=None)
    >>> InverseLayer(l_enc, l_enc).output_shape
    (None, 10)
    """

    def __init__(self, incoming: Incoming, layer: Layer, **kwargs) -> None:
        if getattr(layer, "input_layer", None) is None:
            raise ValueError(f"InverseLayer needs a layer with one input layer, {layer!r} has none")
        super().__init__([incoming, layer, layer.input_layer], **kwargs)
        incoming_shape, layer_shape = self.input_shapes[0], self.input_shapes[1]
        if len(incoming_shape) != len(layer_shape) or any(
                a is not None and b is not None and a != b for a, b in zip(incoming_shape, layer_shape)):
            raise ValueError(f"the incoming shape {incoming_shape} must be the output shape {layer_shape} "
                             f"of the inverted layer {layer!r}")

    def get_output_shape_for(self, input_shapes):
        return input_shapes[2]

    def get_output_for(self, inputs, **kwargs):
        input, layer_out, layer_in = inputs
        return pytensor.grad(None, wrt=layer_in, known_grads={layer_out: input})

# Lasagne defined its spatial transformers here (``lasagne.layers.special``).
from .transform import TPSTransformerLayer, TransformerLayer  # noqa: E402,F401
