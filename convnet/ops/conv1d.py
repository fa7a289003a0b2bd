"""1-D convolution as a 2-D convolution with a unit axis
(:func:`convnet.ops.conv2d`), so it runs, with gradients, on every backend
the 2-D op runs on."""
import pytensor.tensor as pt

from .conv import conv2d

__all__ = ["conv1d"]


def _pair(value, unit, name):
    if isinstance(value, str):
        return value
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(values) != 1:
        raise ValueError(f"conv1d: {name} must be an int or a 1-tuple, got {value!r}")
    return (unit, int(values[0]))


def conv1d(input, filters, input_shape=None, filter_shape=None, border_mode="valid", subsample=(1,),
           filter_flip=True, filter_dilation=(1,)):
    """1-D convolution of ``(batch, channels, length)`` input with
    ``(output channels, input channels, taps)`` filters.

    Parameters
    ----------
    input, filters : 3-D tensors
    input_shape, filter_shape : tuple of 3 (int or None), optional
        Known sizes, checked against the variables.
    border_mode : {'valid', 'full', 'half'}, int or 1-tuple
        As in :func:`convnet.ops.conv2d`, along the one axis.
    subsample, filter_dilation : int or 1-tuple
        Stride and dilation.
    filter_flip : bool
        True for a convolution, False for a correlation.

    Returns
    -------
    3-D tensor
        ``(batch, output channels, output length)``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(5.0).reshape(1, 1, 5)
    >>> conv1d(x, np.array([[[1.0, 0.0, -1.0]]])).eval()
    array([[[2., 2., 2.]]])
    """
    if getattr(input, "ndim", 3) != 3 or getattr(filters, "ndim", 3) != 3:
        raise ValueError(f"conv1d: input and filters must be 3-D, got {getattr(input, 'ndim', '?')}-D and "
                         f"{getattr(filters, 'ndim', '?')}-D")
    input, filters = pt.as_tensor_variable(input), pt.as_tensor_variable(filters)

    def unit(shape):
        return None if shape is None else (shape[0], shape[1], 1, shape[2])

    out = conv2d(input.dimshuffle(0, 1, "x", 2), filters.dimshuffle(0, 1, "x", 2), unit(input_shape),
                 unit(filter_shape), border_mode=_pair(border_mode, 0, "border_mode"),
                 subsample=_pair(subsample, 1, "subsample"), filter_flip=filter_flip,
                 filter_dilation=_pair(filter_dilation, 1, "filter_dilation"))
    return out[:, :, 0, :]
