"""Convolution layers: :class:`Conv1DLayer`, :class:`Conv2DLayer`, :class:`Conv3DLayer`, the
transposed convolutions :class:`TransposedConv2DLayer` (alias :data:`Deconv2DLayer`) and
:class:`TransposedConv3DLayer` (alias :data:`Deconv3DLayer`), and
:class:`DilatedConv2DLayer`, built on :class:`BaseConvLayer`.

Inputs are laid out as ``(batch, channels, rows, columns)`` (``(batch,
channels, length)`` in 1-D, ``(batch, channels, depth, rows, columns)`` in
3-D). Shapes are checked, and output shapes computed, by the convolution's
:class:`~convnet.ops.conv.ConvGeometry`, the object the convolution ops use. The padding
argument ``pad`` (``crop`` for the transposed convolution) takes

* an int or a tuple of ints: that many zeros on both sides of each axis;
* ``'valid'`` (same as 0): the filter only goes where it fits entirely;
* ``'full'``: ``filter_size - 1`` zeros on both sides, so the filter goes
  wherever it overlaps the input;
* ``'same'``: ``filter_size // 2`` zeros on both sides (odd filter sizes
  only), which keeps the size of the input with stride 1 and gives
  ``ceil(input_size / stride)`` otherwise.

With dilation, ``'full'`` and ``'same'`` refer to the dilated filter size
``(filter_size - 1) * dilation + 1``.
"""

from collections.abc import Callable
from dataclasses import replace

from pytensor.tensor.variable import TensorVariable

from .. import init, nonlinearities
from ..ops.conv import ConvGeometry, conv2d, conv3d
from ..ops.conv.ops import convolution_grad_wrt_inputs
from ..ops.conv1d import conv1d
from ..typing import Nonlinearity, ParamSpec
from ..utils import as_tuple, check_int, int_types
from .base import Incoming, Layer

__all__ = [
    "BaseConvLayer",
    "Conv1DLayer",
    "Conv2DLayer",
    "Conv3DLayer",
    "TransposedConv2DLayer",
    "Deconv2DLayer",
    "TransposedConv3DLayer",
    "Deconv3DLayer",
    "DilatedConv2DLayer",
]

_BORDER_MODES = ("valid", "full", "same")


def _positive_tuple(value, n, name):
    values = as_tuple(value, n, int_types)
    if any(v <= 0 for v in values):
        raise ValueError(f"{name} must be positive, got {value!r}")
    return values


def _border_spec(border, filter_size, name):
    """Normalise a ``pad``/``crop`` argument to ``'full'``, ``'same'`` or a
    tuple of non-negative ints (``'valid'`` becomes zeros)."""
    n = len(filter_size)
    if isinstance(border, str):
        if border not in _BORDER_MODES:
            raise ValueError(f"{name} must be one of {_BORDER_MODES}, an int or a tuple of ints, got {border!r}")
        if border == "same" and any(f % 2 == 0 for f in filter_size):
            raise ValueError(f"{name}='same' needs odd filter sizes, got filter_size {filter_size}")
        return (0,) * n if border == "valid" else border
    widths = as_tuple(border, n, int_types)
    if any(w < 0 for w in widths):
        raise ValueError(f"{name} must be non-negative, got {border!r}")
    return widths


class BaseConvLayer(Layer):
    """Shared machinery of the convolution layers: argument checking, the
    weights ``W``, the (tied or untied) biases ``b``, the nonlinearity and
    the output shape of an ``n``-dimensional convolution.

    Subclasses implement :meth:`convolve`; the output is
    ``nonlinearity(convolve(input) + b)``.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected input shape
        ``(batch, channels, <n spatial dimensions>)``; the number of channels
        must be known.
    num_filters : int
        The number of filters, i.e. of output channels.
    filter_size : int or tuple of int
        The size of the filters along each spatial axis.
    stride : int or tuple of int
        The step between filter positions.
    pad : int, tuple of int, 'valid', 'full' or 'same'
        The zero padding of the input; see :mod:`convnet.layers.conv`.
    untie_biases : bool
        False: one bias per filter, shape ``(num_filters,)``. True: a bias
        per filter and output position, shape
        ``(num_filters,) + output_shape[2:]`` (which must be known).
    W : initializer, array or expression
        The filters, of shape :meth:`get_W_shape`.
    b : initializer, array, expression or None
        The biases; ``None`` for no biases. Tagged ``regularizable=False``.
    nonlinearity : callable or None
        Applied to the activation; ``None`` means the identity.
    flip_filters : bool
        Whether to flip the filters before sliding them over the input
        (a convolution) or not (a correlation).
    dilation : int or tuple of int
        The spacing between filter taps (1: a dense filter).
    n : int or None
        The number of spatial dimensions; by default the input's number of
        dimensions minus two.
    **kwargs
        Passed to :class:`Layer` (e.g. ``name``).

    Raises
    ------
    ValueError
        For an input of the wrong number of dimensions or with an unknown
        number of channels, non-positive ``num_filters``, ``filter_size``,
        ``stride`` or ``dilation``, negative or unknown padding, and a filter
        larger than the padded input.

    Examples
    --------
    A subclass only says how to convolve:

    >>> from convnet.layers import InputLayer, BaseConvLayer
    >>> from convnet.ops import conv2d
    >>> class MyConv(BaseConvLayer):
    ...     def convolve(self, input, **kwargs):
    ...         return conv2d(input, self.W, border_mode=self.pad_widths(), subsample=self.stride)
    >>> MyConv(InputLayer((None, 3, 32, 32)), num_filters=16, filter_size=5, pad=2).output_shape
    (None, 16, 32, 32)
    """

    def __init__(self, incoming: Incoming, num_filters: int, filter_size: int | tuple[int, ...], stride: int | tuple[int, ...] = 1,
                 pad: int | tuple[int, ...] | str = 0, untie_biases: bool = False, W: ParamSpec = init.GlorotUniform(),
                 b: ParamSpec | None = init.Constant(0.0), nonlinearity: Nonlinearity | None = nonlinearities.rectify,
                 flip_filters: bool = True, dilation: int | tuple[int, ...] = 1, n: int | None = None, **kwargs) -> None:
        super().__init__(incoming, **kwargs)
        self.nonlinearity = nonlinearities.identity if nonlinearity is None else nonlinearity
        self.n = max(len(self.input_shape) - 2, 1) if n is None else n
        self._check_ndim(self.input_shape)
        if self.input_shape[1] is None:
            raise ValueError(f"the number of input channels must be known, got input shape {self.input_shape}")
        self.num_filters = check_int("num_filters", num_filters, minimum=1)
        self.filter_size = _positive_tuple(filter_size, self.n, "filter_size")
        self.stride = _positive_tuple(stride, self.n, "stride")
        self.dilation = _positive_tuple(dilation, self.n, "dilation")
        self.pad = _border_spec(pad, self.filter_size, "pad")
        self.flip_filters = flip_filters
        self.untie_biases = untie_biases

        self.W = self.add_param(W, self.get_W_shape(), name="W")
        if b is None:
            self.b = None
        else:
            bias_shape = (num_filters,) + (tuple(self.output_shape[2:]) if untie_biases else ())
            if None in bias_shape:
                raise ValueError(f"untie_biases=True needs a known output shape, got {self.output_shape} "
                                 f"for input shape {self.input_shape}")
            self.b = self.add_param(b, bias_shape, name="b", regularizable=False)

    @property
    def geometry(self):
        """The :class:`~convnet.ops.conv.ConvGeometry` of the layer's convolution
        (``'same'`` padding is the geometry's ``'half'``)."""
        return ConvGeometry.create(self.n, "half" if self.pad == "same" else self.pad, self.stride,
                                   self.flip_filters, self.dilation)

    def pad_widths(self):
        """The zeros added on each side of each spatial axis, as a tuple of ints
        (``pad`` with ``'valid'``, ``'full'`` and ``'same'`` resolved)."""
        return self.geometry.padding(self.filter_size)

    def get_W_shape(self):
        """The shape of ``W``: ``(num_filters, num_input_channels) + filter_size``."""
        return (self.num_filters, self.input_shape[1]) + self.filter_size

    def _check_ndim(self, input_shape):
        if len(input_shape) != self.n + 2:
            raise ValueError(
                f"expected a {self.n + 2}-dimensional input (batch, channels, {self.n} spatial "
                f"dimensions), got input shape {tuple(input_shape)}"
            )

    def get_output_shape_for(self, input_shape):
        self._check_ndim(input_shape)
        geometry = self.geometry
        problem = geometry.shape_problem(input_shape, (self.num_filters, input_shape[1]) + self.filter_size)
        if problem is not None:
            raise ValueError(problem)
        return (input_shape[0], self.num_filters) + geometry.output_sizes(input_shape[2:], self.filter_size)

    def get_output_for(self, input, **kwargs):
        activation = self.convolve(input, **kwargs)
        if self.b is not None:
            bias_axes = range(self.b.ndim) if self.untie_biases else [0] + ["x"] * self.n
            activation = activation + self.b.dimshuffle("x", *bias_axes)
        return self.nonlinearity(activation)

    def convolve(self, input, **kwargs):
        """The convolution of ``input`` with ``W``, without biases and
        nonlinearity, of shape ``output_shape``.

        Parameters
        ----------
        input : TensorVariable
            The input batch.
        **kwargs
            The keyword arguments of :meth:`get_output_for`.

        Returns
        -------
        TensorVariable
            The convolved input.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement convolve()")


class Conv1DLayer(BaseConvLayer):
    """1-D convolution layer: ``nonlinearity(conv(input, W) + b)`` for inputs
    of shape ``(batch, channels, length)``, computed by
    :func:`convnet.ops.conv1d.conv1d` (the 2-D convolution with a unit axis,
    so every backend runs it).

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected 3-D input shape; the
        number of channels must be known.
    num_filters : int
        The number of filters, i.e. of output channels.
    filter_size : int or 1-tuple
        The filter length.
    stride, dilation : int or 1-tuple
        The step between filter positions and between filter taps.
    pad : int, 1-tuple, 'valid', 'full' or 'same'
        The zero padding; see :mod:`convnet.layers.conv`.
    untie_biases, W, b, nonlinearity, flip_filters
        As for :class:`Conv2DLayer`; ``W`` has shape
        ``(num_filters, num_input_channels, filter_size)``.
    convolution : callable
        Called as Lasagne calls it, ``convolution(input, W, input_shape,
        W_shape, subsample=..., border_mode=..., filter_flip=...)`` (and
        ``filter_dilation`` when ``dilation`` is not 1); any of
        ``lasagne.theano_extensions.conv``'s functions.
    **kwargs
        Passed to :class:`Layer` (e.g. ``name``).

    Examples
    --------
    >>> from convnet.layers import InputLayer, Conv1DLayer
    >>> l_conv = Conv1DLayer(InputLayer((None, 2, 100)), num_filters=8, filter_size=5, stride=2)
    >>> l_conv.output_shape, l_conv.W.get_value().shape
    ((None, 8, 48), (8, 2, 5))
    """

    def __init__(self, incoming: Incoming, num_filters: int, filter_size: int | tuple[int, ...],
                 stride: int | tuple[int, ...] = 1, pad: int | tuple[int, ...] | str = 0,
                 untie_biases: bool = False, W: ParamSpec = init.GlorotUniform(),
                 b: ParamSpec | None = init.Constant(0.0),
                 nonlinearity: Nonlinearity | None = nonlinearities.rectify, flip_filters: bool = True,
                 convolution: Callable[..., TensorVariable] = conv1d, dilation: int | tuple[int, ...] = 1,
                 **kwargs) -> None:
        super().__init__(incoming, num_filters, filter_size, stride, pad, untie_biases, W, b, nonlinearity,
                         flip_filters, dilation, n=1, **kwargs)
        self.convolution = convolution

    def convolve(self, input, **kwargs):
        extra = {"filter_dilation": self.dilation} if self.dilation != (1,) else {}
        return self.convolution(input, self.W, self.input_shape, self.get_W_shape(), subsample=self.stride,
                                border_mode=self.pad_widths(), filter_flip=self.flip_filters, **extra)


class _ConvLayer(BaseConvLayer):
    """A convolution layer that calls ``convolution`` as Lasagne does:
    ``convolution(input, filters, input_shape, filter_shape, border_mode=...,
    subsample=..., filter_flip=..., filter_dilation=...)``, Theano's signature
    of ``conv2d`` and ``conv3d``."""

    def filters_and_shape(self):
        """``W`` in the layout the convolution expects,
        ``(num_filters, num_input_channels) + filter_size``, and that shape."""
        return self.W, self.get_W_shape()

    def convolve(self, input, **kwargs):
        filters, filter_shape = self.filters_and_shape()
        return self.convolution(input, filters, self.input_shape, filter_shape, border_mode=self.pad_widths(),
                                subsample=self.stride, filter_flip=self.flip_filters,
                                filter_dilation=self.dilation)


class Conv2DLayer(_ConvLayer):
    """2-D convolution layer: ``nonlinearity(conv(input, W) + b)`` for inputs
    of shape ``(batch, channels, rows, columns)``.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected 4-D input shape; the
        number of channels must be known.
    num_filters : int
        The number of filters, i.e. of output channels.
    filter_size : int or pair of int
        The filter size ``(rows, columns)``.
    stride : int or pair of int
        The step between filter positions.
    pad : int, pair of int, 'valid', 'full' or 'same'
        The zero padding of the input; see :mod:`convnet.layers.conv`.
        ``'same'`` pads ``filter_size // 2`` (odd filter sizes only).
    untie_biases : bool
        See :class:`BaseConvLayer`.
    W : initializer, array or expression
        The filters, of shape ``(num_filters, num_input_channels, rows, columns)``.
    b : initializer, array, expression or None
        The biases, shape ``(num_filters,)``; ``None`` for no biases.
    nonlinearity : callable or None
        Applied to the activation; ``None`` means the identity.
    flip_filters : bool
        True (the default) flips the filters: a true convolution, like
        Theano's and Lasagne's; False gives a correlation, as in Caffe or
        cuDNN's cross-correlation mode (use it for weights trained there).
    convolution : callable
        The function that convolves, with the signature of
        :func:`convnet.ops.conv2d`.
    dilation : int or pair of int
        The spacing between filter taps (1: a dense filter).
    **kwargs
        Passed to :class:`Layer` (e.g. ``name``).

    Raises
    ------
    ValueError
        See :class:`BaseConvLayer`.

    Examples
    --------
    >>> from convnet.layers import InputLayer, Conv2DLayer
    >>> l_in = InputLayer((None, 3, 32, 32))
    >>> l_conv = Conv2DLayer(l_in, num_filters=16, filter_size=3, pad='same', stride=2)
    >>> l_conv.output_shape, l_conv.W.get_value().shape
    ((None, 16, 16, 16), (16, 3, 3, 3))
    """

    def __init__(self, incoming: Incoming, num_filters: int, filter_size: int | tuple[int, ...], stride: int | tuple[int, ...] = (1, 1),
                 pad: int | tuple[int, ...] | str = 0, untie_biases: bool = False, W: ParamSpec = init.GlorotUniform(),
                 b: ParamSpec | None = init.Constant(0.0), nonlinearity: Nonlinearity | None = nonlinearities.rectify,
                 flip_filters: bool = True, convolution: Callable[..., TensorVariable] = conv2d,
                 dilation: int | tuple[int, ...] = (1, 1), **kwargs) -> None:
        super().__init__(incoming, num_filters, filter_size, stride, pad, untie_biases, W, b, nonlinearity,
                         flip_filters, dilation, n=2, **kwargs)
        self.convolution = convolution


class Conv3DLayer(_ConvLayer):
    """3-D convolution layer: ``nonlinearity(conv(input, W) + b)`` for inputs
    of shape ``(batch, channels, depth, rows, columns)`` (Lasagne's
    ``Conv3DLayer``).

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected 5-D input shape; the
        number of channels must be known.
    num_filters : int
        The number of filters, i.e. of output channels.
    filter_size : int or 3 ints
        The filter size ``(depth, rows, columns)``.
    stride : int or 3 ints
        The step between filter positions.
    pad : int, 3 ints, 'valid', 'full' or 'same'
        The zero padding of the input; see :mod:`convnet.layers.conv`.
    untie_biases : bool
        See :class:`BaseConvLayer`.
    W : initializer, array or expression
        The filters, of shape ``(num_filters, num_input_channels, depth, rows, columns)``.
    b : initializer, array, expression or None
        The biases, shape ``(num_filters,)``; ``None`` for no biases.
    nonlinearity : callable or None
        Applied to the activation; ``None`` means the identity.
    flip_filters : bool
        True (the default) flips the filters (a convolution), False
        correlates (see :class:`Conv3DDNNLayer <convnet.layers.dnn.Conv3DDNNLayer>`).
    convolution : callable
        The function that convolves, with the signature of
        :func:`convnet.ops.conv3d` (Theano's ``T.nnet.conv3d``).
    dilation : int or 3 ints
        The spacing between filter taps (1: a dense filter); not in Lasagne.
    **kwargs
        Passed to :class:`Layer` (e.g. ``name``).

    Raises
    ------
    ValueError
        See :class:`BaseConvLayer`.

    Examples
    --------
    >>> from convnet.layers import InputLayer, Conv3DLayer
    >>> l_conv = Conv3DLayer(InputLayer((None, 2, 8, 16, 16)), num_filters=4, filter_size=3, pad='same',
    ...                      stride=(1, 2, 2))
    >>> l_conv.output_shape, l_conv.W.get_value().shape
    ((None, 4, 8, 8, 8), (4, 2, 3, 3, 3))
    """

    def __init__(self, incoming: Incoming, num_filters: int, filter_size: int | tuple[int, ...],
                 stride: int | tuple[int, ...] = (1, 1, 1), pad: int | tuple[int, ...] | str = 0,
                 untie_biases: bool = False, W: ParamSpec = init.GlorotUniform(),
                 b: ParamSpec | None = init.Constant(0.0),
                 nonlinearity: Nonlinearity | None = nonlinearities.rectify, flip_filters: bool = True,
                 convolution: Callable[..., TensorVariable] = conv3d, dilation: int | tuple[int, ...] = (1, 1, 1),
                 **kwargs) -> None:
        super().__init__(incoming, num_filters, filter_size, stride, pad, untie_biases, W, b, nonlinearity,
                         flip_filters, dilation, n=3, **kwargs)
        self.convolution = convolution


class DilatedConv2DLayer(Conv2DLayer):
    """2-D dilated convolution layer [1]_ (atrous convolution): a
    convolution whose filter taps are ``dilation`` apart, seeing a region of
    ``(filter_size - 1) * dilation + 1`` pixels per axis at the cost of a
    ``filter_size`` filter. The stride is 1.

    As in Lasagne, ``W`` is laid out ``(num_input_channels, num_filters,
    rows, columns)`` and the filters are not flipped by default. Unlike
    Lasagne, which allowed only ``pad=0`` and ``flip_filters=False``, any
    padding and flipping work.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected 4-D input shape.
    num_filters : int
        The number of filters, i.e. of output channels.
    filter_size : int or pair of int
        The (undilated) filter size ``(rows, columns)``.
    dilation : int or pair of int
        The spacing between filter taps.
    pad : int, pair of int, 'valid', 'full' or 'same'
        The zero padding of the input; ``'full'`` and ``'same'`` refer to the
        dilated filter size.
    untie_biases : bool
        See :class:`BaseConvLayer`.
    W : initializer, array or expression
        The filters, of shape ``(num_input_channels, num_filters, rows, columns)``.
    b : initializer, array, expression or None
        The biases, shape ``(num_filters,)``; ``None`` for no biases.
    nonlinearity : callable or None
        Applied to the activation; ``None`` means the identity.
    flip_filters : bool
        Whether to flip the filters (a convolution) or not (a correlation,
        the default).
    **kwargs
        Passed to :class:`Layer` (e.g. ``name``).

    Raises
    ------
    ValueError
        See :class:`BaseConvLayer`.

    References
    ----------
    .. [1] Fisher Yu and Vladlen Koltun (2016): Multi-scale context
       aggregation by dilated convolutions. ICLR.

    Examples
    --------
    >>> from convnet.layers import InputLayer, DilatedConv2DLayer
    >>> l_dil = DilatedConv2DLayer(InputLayer((None, 3, 32, 32)), num_filters=8, filter_size=3, dilation=2)
    >>> l_dil.output_shape, l_dil.W.get_value().shape
    ((None, 8, 28, 28), (3, 8, 3, 3))
    """

    def __init__(self, incoming: Incoming, num_filters: int, filter_size: int | tuple[int, ...], dilation: int | tuple[int, ...] = (1, 1),
                 pad: int | tuple[int, ...] | str = 0, untie_biases: bool = False, W: ParamSpec = init.GlorotUniform(),
                 b: ParamSpec | None = init.Constant(0.0), nonlinearity: Nonlinearity | None = nonlinearities.rectify,
                 flip_filters: bool = False, **kwargs) -> None:
        super().__init__(incoming, num_filters, filter_size, stride=(1, 1), pad=pad, untie_biases=untie_biases,
                         W=W, b=b, nonlinearity=nonlinearity, flip_filters=flip_filters, dilation=dilation,
                         **kwargs)

    def get_W_shape(self):
        """The shape of ``W``: ``(num_input_channels, num_filters) + filter_size``."""
        return (self.input_shape[1], self.num_filters) + self.filter_size

    def filters_and_shape(self):
        return self.W.dimshuffle(1, 0, 2, 3), (self.num_filters, self.input_shape[1]) + self.filter_size


class _TransposedConvLayer(BaseConvLayer):
    """A transposed convolution of ``n`` spatial dimensions: see :class:`TransposedConv2DLayer`."""

    def __init__(self, incoming, num_filters, filter_size, stride, crop, untie_biases, W, b, nonlinearity,
                 flip_filters, output_size, n, **kwargs):
        self.output_size = None if output_size is None else _positive_tuple(output_size, n, "output_size")
        super().__init__(incoming, num_filters, filter_size, stride, crop, untie_biases, W, b, nonlinearity,
                         flip_filters, n=n, **kwargs)

    @property
    def crop(self):
        """The cropping, ``'full'``, ``'same'`` or a tuple of ints."""
        return self.pad

    @property
    def geometry(self):
        """The geometry of the forward convolution that this layer transposes
        (which flips the filters when the layer does not)."""
        return replace(super().geometry, filter_flip=not self.flip_filters)

    def get_W_shape(self):
        """The shape of ``W``: ``(num_input_channels, num_filters) + filter_size``."""
        return (self.input_shape[1], self.num_filters) + self.filter_size

    def get_output_shape_for(self, input_shape):
        self._check_ndim(input_shape)
        smallest = self.geometry.smallest_input_sizes(input_shape[2:], self.filter_size)
        if self.output_size is None:
            if any(s is not None and s <= 0 for s in smallest):
                raise ValueError(f"crop {self.pad_widths()} leaves no output: the uncropped output of input "
                                 f"shape {tuple(input_shape)} would be smaller than twice the crop")
            return (input_shape[0], self.num_filters) + smallest
        for lo, size, st in zip(smallest, self.output_size, self.stride):
            if lo is not None and not lo <= size < lo + st:
                raise ValueError(
                    f"output_size {self.output_size} is not one that the convolution with stride {self.stride} "
                    f"maps to the input shape {tuple(input_shape)}: it must lie between {smallest} and "
                    f"{tuple(s + st - 1 for s, st in zip(smallest, self.stride))}"
                )
        return (input_shape[0], self.num_filters) + self.output_size

    def convolve(self, input, **kwargs):
        # the declared output size where known, else computed from the input's symbolic shape
        geometry = self.geometry
        symbolic_size = geometry.smallest_input_sizes([input.shape[axis] for axis in range(2, input.ndim)],
                                                      self.filter_size)
        output_size = tuple(s if d is None else d for d, s in zip(self.output_shape[2:], symbolic_size))
        return convolution_grad_wrt_inputs(
            self.n, input, self.W, (input.shape[0], self.num_filters) + tuple(output_size), self.get_W_shape(),
            border_mode=geometry.border_mode, subsample=geometry.subsample, filter_flip=geometry.filter_flip)


class TransposedConv2DLayer(_TransposedConvLayer):
    """2-D transposed convolution layer (also called fractionally strided
    convolution or deconvolution) [2]_: the backward pass of a
    :class:`Conv2DLayer`, mapping a convolution's output shape back to its
    input shape. It slides the filters over the input with ``stride - 1``
    zeros inserted between pixels and ``filter_size - 1 - crop`` zeros
    padded around: a correlation by default, a convolution with
    ``flip_filters=True``. Equivalently, each input pixel adds a copy of the
    filter, scaled by its value, to the output, ``stride`` pixels apart,
    turned by 180 degrees unless ``flip_filters``; ``crop`` then removes that
    many pixels at the borders.

    Exactly: the output is the gradient of ``sum(conv2d(x, W) * input)``
    with respect to ``x``, for the convolution with the same ``W``,
    ``stride`` and padding ``crop`` that flips filters when
    ``flip_filters`` is False.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected 4-D input shape; the
        number of channels must be known.
    num_filters : int
        The number of output channels.
    filter_size : int or pair of int
        The filter size ``(rows, columns)``.
    stride : int or pair of int
        The spacing of the filter copies on the output (the stride of the
        forward convolution).
    crop : int, pair of int, 'valid', 'full' or 'same'
        Pixels removed at the borders of the output (the padding of the
        forward convolution). ``'full'`` crops ``filter_size - 1`` and
        ``'same'`` crops ``filter_size // 2`` (odd filter sizes only), giving
        an output of ``input_size * stride - stride + 1`` pixels.
    untie_biases : bool
        See :class:`BaseConvLayer`.
    W : initializer, array or expression
        The filters, of shape ``(num_input_channels, num_filters, rows, columns)``
        (the shape of the forward convolution's filters).
    b : initializer, array, expression or None
        The biases, shape ``(num_filters,)``; ``None`` for no biases.
    nonlinearity : callable or None
        Applied to the activation; ``None`` means the identity.
    flip_filters : bool
        Whether to flip the filters as they slide over the (zero-inserted,
        padded) input. Inverted compared to :class:`Conv2DLayer`: the
        default, False, is the transpose of a :class:`Conv2DLayer` with
        ``flip_filters=True`` sharing ``W``.
    output_size : int, pair of int or None
        The output size ``(rows, columns)``. By default the smallest size
        that a convolution with this stride maps to the input size,
        ``(input_size - 1) * stride - 2 * crop + filter_size``; up to
        ``stride - 1`` larger sizes are allowed too.
    **kwargs
        Passed to :class:`Layer` (e.g. ``name``).

    Attributes
    ----------
    pad : tuple of int or str
        The same as ``crop``: the padding of the forward convolution.

    Raises
    ------
    ValueError
        See :class:`BaseConvLayer`; also when ``crop`` leaves no output or
        ``output_size`` is not one that the forward convolution maps to the
        input size.

    References
    ----------
    .. [2] Vincent Dumoulin and Francesco Visin (2016): A guide to
       convolution arithmetic for deep learning. arXiv:1603.07285.

    Examples
    --------
    >>> from convnet.layers import InputLayer, TransposedConv2DLayer
    >>> l_in = InputLayer((None, 16, 8, 8))
    >>> l_up = TransposedConv2DLayer(l_in, num_filters=3, filter_size=4, stride=2, crop=1)
    >>> l_up.output_shape, l_up.W.get_value().shape
    ((None, 3, 16, 16), (16, 3, 4, 4))
    """

    def __init__(self, incoming: Incoming, num_filters: int, filter_size: int | tuple[int, ...],
                 stride: int | tuple[int, ...] = (1, 1), crop: int | tuple[int, ...] | str = 0,
                 untie_biases: bool = False, W: ParamSpec = init.GlorotUniform(),
                 b: ParamSpec | None = init.Constant(0.0),
                 nonlinearity: Nonlinearity | None = nonlinearities.rectify, flip_filters: bool = False,
                 output_size: int | tuple[int, ...] | None = None, **kwargs) -> None:
        super().__init__(incoming, num_filters, filter_size, stride, crop, untie_biases, W, b, nonlinearity,
                         flip_filters, output_size, n=2, **kwargs)


Deconv2DLayer = TransposedConv2DLayer


class TransposedConv3DLayer(_TransposedConvLayer):
    """3-D transposed convolution layer (Lasagne's ``TransposedConv3DLayer``):
    the backward pass of a :class:`Conv3DLayer`, mapping a convolution's
    output shape back to its input shape, for inputs of shape ``(batch,
    channels, depth, rows, columns)``; see :class:`TransposedConv2DLayer`,
    which it extends to three spatial axes.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected 5-D input shape.
    num_filters : int
        The number of output channels.
    filter_size : int or 3 ints
        The filter size ``(depth, rows, columns)``.
    stride : int or 3 ints
        The spacing of the filter copies on the output.
    crop : int, 3 ints, 'valid', 'full' or 'same'
        Voxels removed at the borders of the output (the padding of the
        forward convolution).
    untie_biases, b, nonlinearity
        As for :class:`TransposedConv2DLayer`.
    W : initializer, array or expression
        The filters, of shape ``(num_input_channels, num_filters, depth, rows, columns)``.
    flip_filters : bool
        As for :class:`TransposedConv2DLayer` (default False: the transpose
        of a :class:`Conv3DLayer` sharing ``W``).
    output_size : int, 3 ints or None
        The output size ``(depth, rows, columns)``; by default the smallest.
    **kwargs
        Passed to :class:`Layer` (e.g. ``name``).

    Raises
    ------
    ValueError
        As for :class:`TransposedConv2DLayer`.

    Examples
    --------
    >>> from convnet.layers import InputLayer, TransposedConv3DLayer
    >>> l_up = TransposedConv3DLayer(InputLayer((None, 8, 4, 4, 4)), num_filters=2, filter_size=4, stride=2,
    ...                              crop=1)
    >>> l_up.output_shape, l_up.W.get_value().shape
    ((None, 2, 8, 8, 8), (8, 2, 4, 4, 4))
    """

    def __init__(self, incoming: Incoming, num_filters: int, filter_size: int | tuple[int, ...],
                 stride: int | tuple[int, ...] = (1, 1, 1), crop: int | tuple[int, ...] | str = 0,
                 untie_biases: bool = False, W: ParamSpec = init.GlorotUniform(),
                 b: ParamSpec | None = init.Constant(0.0),
                 nonlinearity: Nonlinearity | None = nonlinearities.rectify, flip_filters: bool = False,
                 output_size: int | tuple[int, ...] | None = None, **kwargs) -> None:
        super().__init__(incoming, num_filters, filter_size, stride, crop, untie_biases, W, b, nonlinearity,
                         flip_filters, output_size, n=3, **kwargs)


Deconv3DLayer = TransposedConv3DLayer
