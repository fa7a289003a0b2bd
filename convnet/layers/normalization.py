"""Normalization layers: batch normalization, local response
normalization, and standardization (the building block of
:func:`instance_norm` and :func:`layer_norm`).

Batch normalization uses the statistics of the mini-batch at training time
and running averages of them (updated by every training function, with no
``updates`` to list) when :func:`~convnet.layers.get_output` is called with
``deterministic=True``::

    >>> from convnet.layers import InputLayer, DenseLayer, batch_norm, get_output
    >>> l_out = batch_norm(DenseLayer(InputLayer((None, 20)), num_units=10))
    >>> train_output = get_output(l_out)  # compiled: updates the running averages
    >>> test_output = get_output(l_out, deterministic=True)  # uses them
"""
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable

from .. import init
from ..ops.batchnorm import batch_norm_train
from ..typing import ParamSpec
from .base import Incoming, Layer
from .noise import _set_default_update
from .shape import _constant_pad
from .special import (
    BiasLayer,
    NonlinearityLayer,
    ScaleLayer,
    _broadcast_per_axis_param,
    _per_axis_param_shape,
    _resolve_shared_axes,
    _take_nonlinearity,
)

__all__ = [
    "LocalResponseNormalization2DLayer",
    "BatchNormLayer",
    "batch_norm",
    "StandardizationLayer",
    "instance_norm",
    "layer_norm",
]


class LocalResponseNormalization2DLayer(Layer):
    """Cross-channel local response normalization of images (Krizhevsky et
    al. 2012).

    Each value is divided by ``(k + alpha * s) ** beta``, where ``s`` is the
    sum of the squares of the values at the same position in the ``n``
    channels centred on its own (channels beyond the edges count as zero).

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected input shape
        ``(batch, channels, rows, columns)``.
    alpha : float
        The scale of the sum of squares.
    k : float
        The additive offset.
    beta : float
        The exponent.
    n : int
        The odd number of adjacent channels summed over.
    **kwargs
        Passed to :class:`~convnet.layers.Layer` (e.g. ``name``).

    References
    ----------
    A. Krizhevsky, I. Sutskever and G. Hinton (2012): ImageNet Classification
    with Deep Convolutional Neural Networks. NIPS.

    Examples
    --------
    >>> from convnet.layers import InputLayer, LocalResponseNormalization2DLayer
    >>> LocalResponseNormalization2DLayer(InputLayer((None, 96, 55, 55)), n=5).output_shape
    (None, 96, 55, 55)
    """

    def __init__(self, incoming: Incoming, alpha: float = 1e-4, k: float = 2, beta: float = 0.75, n: int = 5,
                 **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        if len(self.input_shape) != 4:
            raise ValueError(f"needs 4-D input (batch, channels, rows, columns), got input_shape {self.input_shape}")
        if n < 1 or n % 2 == 0:
            raise ValueError(f"the window size n={n} must be a positive odd number")
        self.alpha = alpha
        self.k = k
        self.beta = beta
        self.n = n

    def get_output_for(self, input, **kwargs):
        half = self.n // 2
        padded_squares = _constant_pad(pt.sqr(input), [(0, 0), (half, half), (0, 0), (0, 0)])
        channels = input.shape[1]
        window_sums = sum(padded_squares[:, offset:offset + channels] for offset in range(self.n))
        return input / (self.k + self.alpha * window_sums) ** self.beta


class BatchNormLayer(Layer):
    """Batch normalization (Ioffe & Szegedy 2015):
    ``(input - mean) * inv_std * gamma + beta``, the statistics taken over
    ``axes``.

    At training time ``mean`` and ``inv_std = 1 / sqrt(var + epsilon)`` are
    the mini-batch's; the compiled function also updates the running
    averages ``self.mean <- (1 - alpha) * self.mean + alpha * batch_mean``
    (and likewise ``self.inv_std``). With ``deterministic=True`` the running
    averages are used and left unchanged.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected input shape.
    axes : 'auto', int or tuple of int
        The axes to normalize over; ``'auto'`` is all but the second (per
        unit for dense layers, per channel for convolutions). The input's
        sizes on the other axes must be known.
    epsilon : float
        Added to the variance for numerical stability.
    alpha : float
        The weight of the newest batch in the running averages.
    beta : initializer, array, shared variable, expression or None
        The learned offset (``regularizable=False``); None for none.
    gamma : initializer, array, shared variable, expression or None
        The learned scale; None for none.
    mean : initializer, array or shared variable
        The running average of the mean (tagged ``trainable=False``,
        ``regularizable=False``).
    inv_std : initializer, array or shared variable
        The running average of the inverse standard deviation (tagged as
        ``mean``).
    **kwargs
        Passed to :class:`~convnet.layers.Layer` (e.g. ``name``).

    Notes
    -----
    :meth:`get_output_for` also takes ``batch_norm_use_averages`` (default:
    ``deterministic``) and ``batch_norm_update_averages`` (default: not
    ``deterministic``), passed through :func:`~convnet.layers.get_output`:
    e.g. ``batch_norm_use_averages=False`` with ``deterministic=True``
    normalizes with the batch statistics but leaves dropout off.

    Put batch normalization between a layer's affine transform and its
    nonlinearity, dropping the layer's bias, with :func:`batch_norm`.

    References
    ----------
    S. Ioffe and C. Szegedy (2015): Batch Normalization: Accelerating Deep
    Network Training by Reducing Internal Covariate Shift. ICML.

    Examples
    --------
    >>> from convnet.layers import InputLayer, BatchNormLayer
    >>> l_bn = BatchNormLayer(InputLayer((None, 16, 8, 8)))
    >>> l_bn.mean.get_value().shape, sorted(p.name for p in l_bn.get_params(trainable=True))
    ((16,), ['beta', 'gamma'])
    """

    def __init__(self, incoming: Incoming, axes: str | int | tuple[int, ...] = "auto", epsilon: float = 1e-4, alpha: float = 0.1,
                 beta: ParamSpec | None = init.Constant(0), gamma: ParamSpec | None = init.Constant(1),
                 mean: ParamSpec = init.Constant(0), inv_std: ParamSpec = init.Constant(1), **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        self.axes = _resolve_shared_axes(axes, len(self.input_shape))
        self.epsilon = epsilon
        self.alpha = alpha
        shape = _per_axis_param_shape(self.input_shape, self.axes, "batch-norm parameters")
        self.beta = None if beta is None else self.add_param(beta, shape, "beta", regularizable=False)
        self.gamma = None if gamma is None else self.add_param(gamma, shape, "gamma")
        self.mean = self.add_param(mean, shape, "mean", trainable=False, regularizable=False)
        self.inv_std = self.add_param(inv_std, shape, "inv_std", trainable=False, regularizable=False)

    def get_output_for(self, input, deterministic=False, batch_norm_use_averages=None,
                       batch_norm_update_averages=None, **kwargs):
        """The normalized input.

        Parameters
        ----------
        input : TensorVariable
            The layer's input.
        deterministic : bool
            The default for both options below: if True, normalize with the
            running averages and do not update them.
        batch_norm_use_averages : bool or None
            Normalize with the running averages (True) or with the batch
            statistics (False); None follows ``deterministic``.
        batch_norm_update_averages : bool or None
            Make compiled functions update the running averages; None
            follows ``not deterministic``.
        **kwargs
            Ignored.
        """
        use_averages = deterministic if batch_norm_use_averages is None else batch_norm_use_averages
        update_averages = not deterministic if batch_norm_update_averages is None else batch_norm_update_averages
        if use_averages and not update_averages:
            return self._normalized(input, self.mean, self.inv_std)
        if not update_averages:
            return self._batch_normalized(input)[0]
        # The updates hang on copies of the shared averages (same storage)
        # that only this output depends on, so only functions computing it
        # update the averages; a prediction function does not.  The Op takes
        # the copies and returns their new values: no nodes of their own.
        running_mean, running_inv_std = self._shared_copy(self.mean), self._shared_copy(self.inv_std)
        output, _, _, new_mean, new_inv_std = self._batch_normalized(input, running_mean, running_inv_std)
        if use_averages:
            output = self._normalized(input, self.mean, self.inv_std + 0 * (running_mean + running_inv_std))
        _set_default_update(running_mean, new_mean.astype(running_mean.dtype))
        _set_default_update(running_inv_std, new_inv_std.astype(running_inv_std.dtype))
        return output

    def _normalized(self, input, mean, inv_std):
        """``input`` normalized with the given statistics (shaped like the parameters)."""
        def broadcast(param):
            return _broadcast_per_axis_param(param, self.axes, input.ndim)

        scale = broadcast(inv_std) if self.gamma is None else broadcast(self.gamma * inv_std)
        normalized = (input - broadcast(mean)) * scale
        return normalized if self.beta is None else normalized + broadcast(self.beta)

    def _batch_normalized(self, input, *running):
        """``batch_norm_train``'s outputs for ``input`` normalized with the
        mini-batch's statistics: two nodes (and two for the gradient), where
        PyTensor's elementwise Ops and reductions made a hundred."""
        shape = _per_axis_param_shape(self.input_shape, self.axes, "batch-norm parameters")
        gamma = pt.ones(shape) if self.gamma is None else self.gamma
        beta = pt.zeros(shape) if self.beta is None else self.beta
        try:
            return batch_norm_train(input, gamma, beta, self.axes, self.epsilon, *running, alpha=self.alpha)
        except ValueError as error:
            raise ValueError(f"{self}: {error}") from None

    def _shared_copy(self, average):
        """A copy of the shared ``average`` (its storage too), for a ``default_update``."""
        if not isinstance(average, SharedVariable):
            raise TypeError(
                f"{self}: the running averages can only be updated if they are shared variables, "
                f"not {average}; pass batch_norm_update_averages=False"
            )
        # The copy's type has the static shape of the value: compiling
        # requires an update of exactly the variable's type, and the update
        # (shaped by the input's static shape) converts to it.
        static_type = average.type.clone(shape=average.get_value(borrow=True).shape)
        return type(average)(static_type, value=None, strict=None, container=average.container, name=average.name)


def batch_norm(layer: Layer, **kwargs) -> Layer:
    """Batch-normalize ``layer``'s output before its nonlinearity.

    Removes the layer's bias (``layer.b``; the normalization's ``beta``
    takes its role), sets its nonlinearity to the identity, and adds a
    :class:`BatchNormLayer` and a
    :class:`~convnet.layers.NonlinearityLayer` with the original
    nonlinearity on top, as Ioffe & Szegedy place it. If ``layer`` is named,
    the new layers are named ``name + '_bn'`` and ``name + '_bn_nonlin'``.

    Parameters
    ----------
    layer : Layer
        The layer to normalize, typically dense or convolutional.
    **kwargs
        Passed to :class:`BatchNormLayer` (``name`` replaces the derived
        name).

    Returns
    -------
    Layer
        The :class:`~convnet.layers.NonlinearityLayer` on top, or the
        :class:`BatchNormLayer` if ``layer`` has no nonlinearity.

    Examples
    --------
    >>> from convnet.layers import InputLayer, DenseLayer, batch_norm
    >>> l_dense = DenseLayer(InputLayer((None, 20)), num_units=10, name='fc1')
    >>> l_out = batch_norm(l_dense)
    >>> l_out.name, l_out.input_layer.name, l_dense.b
    ('fc1_bn_nonlin', 'fc1_bn', None)
    """
    nonlinearity = _take_nonlinearity(layer)
    if getattr(layer, "b", None) is not None:
        del layer.params[layer.b]
        layer.b = None
    bn_name = kwargs.pop("name", None) or (layer.name and layer.name + "_bn")
    layer = BatchNormLayer(layer, name=bn_name, **kwargs)
    if nonlinearity is not None:
        layer = NonlinearityLayer(layer, nonlinearity, name=bn_name and bn_name + "_nonlin")
    return layer


class StandardizationLayer(Layer):
    """Standardizes each example over ``axes``:
    ``(x - mean(x)) / sqrt(var(x) + epsilon)``, with the statistics of the
    example itself (the same at training and test time).

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected input shape.
    axes : 'auto', int or tuple of int
        The axes to compute the statistics over; ``'auto'`` is every axis but
        the first (layer normalization).
    epsilon : float
        Added to the variance, for numerical stability.
    **kwargs
        Passed to :class:`~convnet.layers.Layer` (e.g. ``name``).

    See Also
    --------
    instance_norm, layer_norm

    Examples
    --------
    >>> import numpy as np
    >>> from convnet.layers import InputLayer, StandardizationLayer, get_output
    >>> l = StandardizationLayer(InputLayer((None, 4)), epsilon=0)
    >>> get_output(l, np.array([[1.0, 2.0, 3.0, 4.0]])).eval().round(3)
    array([[-1.342, -0.447,  0.447,  1.342]])
    """

    def __init__(self, incoming: Incoming, axes: str | int | tuple[int, ...] = "auto", epsilon: float = 1e-4,
                 **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        ndim = len(self.input_shape)
        if axes == "auto":
            axes = tuple(range(1, ndim))
        axes = (axes,) if isinstance(axes, int) else tuple(axes)
        if not axes or not all(isinstance(a, int) and -ndim <= a < ndim for a in axes):
            raise ValueError(f"axes {axes!r} must be axes of the {ndim}-dimensional input")
        if epsilon < 0:
            raise ValueError(f"epsilon must be non-negative, got {epsilon}")
        self.axes = tuple(sorted(a % ndim for a in axes))
        self.epsilon = epsilon

    def get_output_for(self, input, **kwargs):
        mean = input.mean(self.axes, keepdims=True)
        std = pt.sqrt(input.var(self.axes, keepdims=True) + self.epsilon)
        return (input - mean) / std


def _normalize_before_nonlinearity(layer, axes, shared_axes, suffix, learn_scale, learn_bias, kwargs):
    """``layer`` with its bias removed and its nonlinearity moved on top of a
    :class:`StandardizationLayer` over ``axes`` and a learned scale and bias
    shared over ``shared_axes``; the new layers are named after ``layer``."""
    nonlinearity = _take_nonlinearity(layer)
    if getattr(layer, "b", None) is not None:
        del layer.params[layer.b]
        layer.b = None
    name = kwargs.pop("name", None) or (layer.name and layer.name + suffix)
    layer = StandardizationLayer(layer, axes=axes, name=name, **kwargs)
    if learn_scale:
        layer = ScaleLayer(layer, shared_axes=shared_axes, name=name and name + "_scale")
    if learn_bias:
        layer = BiasLayer(layer, shared_axes=shared_axes, name=name and name + "_bias")
    if nonlinearity is not None:
        layer = NonlinearityLayer(layer, nonlinearity, name=name and name + "_nonlin")
    return layer


def instance_norm(layer, learn_scale=True, learn_bias=True, **kwargs):
    """Instance normalization (Ulyanov et al., 2016) of ``layer``'s output
    before its nonlinearity: each example's feature maps are standardized
    over their spatial axes, then scaled and shifted per channel.

    Removes ``layer``'s bias, sets its nonlinearity to the identity, and adds
    a :class:`StandardizationLayer` (named ``name + '_in'``), a
    :class:`~convnet.layers.ScaleLayer` and a :class:`~convnet.layers.BiasLayer`
    (optional) and a :class:`~convnet.layers.NonlinearityLayer` on top.

    Parameters
    ----------
    layer : Layer
        A layer with output ``(batch, channels, spatial...)`` (at least 3-D).
    learn_scale, learn_bias : bool
        Whether to add the learned per-channel scale and bias.
    **kwargs
        Passed to :class:`StandardizationLayer` (e.g. ``epsilon``, ``name``).

    Examples
    --------
    >>> from convnet.layers import InputLayer, Conv2DLayer, instance_norm
    >>> l = instance_norm(Conv2DLayer(InputLayer((None, 3, 8, 8)), 4, 3, name='c'))
    >>> l.name, l.input_layer.input_layer.scales.get_value().shape
    ('c_in_nonlin', (4,))
    """
    if len(layer.output_shape) < 3:
        raise ValueError(f"instance_norm needs a layer with at least 3 output dimensions, {layer!r} has output "
                         f"shape {layer.output_shape}")
    axes = tuple(range(2, len(layer.output_shape)))
    return _normalize_before_nonlinearity(layer, axes, "auto", "_in", learn_scale, learn_bias, kwargs)


def layer_norm(layer, **kwargs):
    """Layer normalization (Ba et al., 2016) of ``layer``'s output before its
    nonlinearity: each example is standardized over all its axes, then
    scaled and shifted per channel (or unit).

    Removes ``layer``'s bias, sets its nonlinearity to the identity, and adds
    a :class:`StandardizationLayer` (named ``name + '_ln'``), a
    :class:`~convnet.layers.ScaleLayer`, a :class:`~convnet.layers.BiasLayer`
    and a :class:`~convnet.layers.NonlinearityLayer` on top.

    Parameters
    ----------
    layer : Layer
        The layer to normalize.
    **kwargs
        Passed to :class:`StandardizationLayer` (e.g. ``epsilon``, ``name``).

    Examples
    --------
    >>> from convnet.layers import InputLayer, DenseLayer, layer_norm
    >>> l = layer_norm(DenseLayer(InputLayer((None, 10)), 5, name='fc'))
    >>> [p.name for p in l.input_layer.input_layer.params], l.input_layer.b.get_value().shape
    (['fc_ln_scale.scales'], (5,))
    """
    return _normalize_before_nonlinearity(layer, "auto", "auto", "_ln", True, True, kwargs)
