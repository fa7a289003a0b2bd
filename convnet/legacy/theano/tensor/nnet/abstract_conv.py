"""``theano.tensor.nnet.abstract_conv``: Theano's 2-D and 3-D convolution interface
on convnet's convolution ops (:mod:`convnet.ops.conv`), which run on every
backend. Grouped (``num_groups``) and unshared convolutions are not
provided."""
from .....ops import conv as _conv

__all__ = [
    "conv2d", "conv2d_transpose", "conv2d_grad_wrt_inputs", "conv2d_grad_wrt_weights",
    "conv3d", "conv3d_grad_wrt_inputs", "conv3d_grad_wrt_weights",
    "get_conv_output_shape", "get_conv_shape_1axis",
]


def _check_supported(function_name, num_groups, unshared):
    if num_groups != 1:
        raise NotImplementedError(f"{function_name}: grouped convolution (num_groups={num_groups}) is not provided")
    if unshared:
        raise NotImplementedError(f"{function_name}: unshared convolution is not provided")


def conv2d(input, filters, input_shape=None, filter_shape=None, border_mode="valid", subsample=(1, 1),
           filter_flip=True, image_shape=None, filter_dilation=(1, 1), num_groups=1, unshared=False, **kwargs):
    """Theano's ``T.nnet.conv2d`` (``image_shape`` is the older name of
    ``input_shape``); see :func:`convnet.ops.conv2d`."""
    _check_supported("conv2d", num_groups, unshared)
    if image_shape is not None:
        if input_shape is not None:
            raise ValueError("conv2d: give input_shape or its old name image_shape, not both")
        input_shape = image_shape
    return _conv.conv2d(input, filters, input_shape=input_shape, filter_shape=filter_shape,
                        border_mode=border_mode, subsample=tuple(subsample), filter_flip=filter_flip,
                        filter_dilation=tuple(filter_dilation))


def conv2d_grad_wrt_inputs(output_grad, filters, input_shape, filter_shape=None, border_mode="valid",
                           subsample=(1, 1), filter_flip=True, filter_dilation=(1, 1), num_groups=1,
                           unshared=False):
    """See :func:`convnet.ops.conv2d_grad_wrt_inputs`."""
    _check_supported("conv2d_grad_wrt_inputs", num_groups, unshared)
    return _conv.conv2d_grad_wrt_inputs(output_grad, filters, input_shape, filter_shape, border_mode,
                                        tuple(subsample), filter_flip, tuple(filter_dilation))


def conv2d_grad_wrt_weights(input, output_grad, filter_shape, input_shape=None, border_mode="valid",
                            subsample=(1, 1), filter_flip=True, filter_dilation=(1, 1), num_groups=1,
                            unshared=False):
    """See :func:`convnet.ops.conv2d_grad_wrt_weights`."""
    _check_supported("conv2d_grad_wrt_weights", num_groups, unshared)
    return _conv.conv2d_grad_wrt_weights(input, output_grad, filter_shape, input_shape, border_mode,
                                         tuple(subsample), filter_flip, tuple(filter_dilation))


def conv3d(input, filters, input_shape=None, filter_shape=None, border_mode="valid", subsample=(1, 1, 1),
           filter_flip=True, filter_dilation=(1, 1, 1), num_groups=1):
    """Theano's ``T.nnet.conv3d`` on NCDHW volumes and OIDHW filters; see
    :func:`convnet.ops.conv3d`."""
    _check_supported("conv3d", num_groups, False)
    return _conv.conv3d(input, filters, input_shape, filter_shape, border_mode, tuple(subsample), filter_flip,
                        tuple(filter_dilation))


def conv3d_grad_wrt_inputs(output_grad, filters, input_shape, filter_shape=None, border_mode="valid",
                           subsample=(1, 1, 1), filter_flip=True, filter_dilation=(1, 1, 1), num_groups=1):
    """See :func:`convnet.ops.conv3d_grad_wrt_inputs`."""
    _check_supported("conv3d_grad_wrt_inputs", num_groups, False)
    return _conv.conv3d_grad_wrt_inputs(output_grad, filters, input_shape, filter_shape, border_mode,
                                        tuple(subsample), filter_flip, tuple(filter_dilation))


def conv3d_grad_wrt_weights(input, output_grad, filter_shape, input_shape=None, border_mode="valid",
                            subsample=(1, 1, 1), filter_flip=True, filter_dilation=(1, 1, 1), num_groups=1):
    """See :func:`convnet.ops.conv3d_grad_wrt_weights`."""
    _check_supported("conv3d_grad_wrt_weights", num_groups, False)
    return _conv.conv3d_grad_wrt_weights(input, output_grad, filter_shape, input_shape, border_mode,
                                         tuple(subsample), filter_flip, tuple(filter_dilation))


def conv2d_transpose(input, filters, output_shape, filter_shape=None, border_mode="valid",
                     input_dilation=(1, 1), filter_flip=True, filter_dilation=(1, 1), num_groups=1,
                     unshared=False):
    """The transposed convolution producing ``output_shape``: the gradient of
    :func:`conv2d` with stride ``input_dilation`` with respect to its input."""
    return conv2d_grad_wrt_inputs(input, filters, output_shape, filter_shape, border_mode, input_dilation,
                                  filter_flip, filter_dilation, num_groups, unshared)


def get_conv_shape_1axis(image_shape, kernel_shape, border_mode, subsample, dilation=1):
    """Output length of one axis (None when unknown)."""
    return _conv.conv_output_length(image_shape, kernel_shape, subsample, border_mode, dilation)


def get_conv_output_shape(image_shape, kernel_shape, border_mode, subsample, filter_dilation=None):
    """Output shape ``(batch, output channels, spatial...)`` of :func:`conv2d` or :func:`conv3d`."""
    n_spatial = len(image_shape) - 2
    dilation = tuple(filter_dilation) if filter_dilation is not None else (1,) * n_spatial
    modes = border_mode if isinstance(border_mode, tuple) else (border_mode,) * n_spatial
    spatial = tuple(
        get_conv_shape_1axis(i, k, m, s, d)
        for i, k, s, m, d in zip(image_shape[2:], kernel_shape[2:], subsample, modes, dilation)
    )
    return (image_shape[0], kernel_shape[0]) + spatial
