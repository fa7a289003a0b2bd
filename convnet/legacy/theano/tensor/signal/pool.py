"""``theano.tensor.signal.pool``: :func:`pool_2d` and :func:`pool_3d` on convnet's pooling op."""
import warnings

from .....ops.pool import Pool, pool2d, pool3d

__all__ = ["pool_2d", "pool_3d", "Pool"]


def _theano_pool(name, pool, input, ws, ignore_border, stride, pad, mode, ds, st, padding, n):
    """Theano's old argument names (``ds``, ``st``, ``padding``) and default
    ``ignore_border=False`` (with its warning), then convnet's ``pool``."""
    for new, old, old_name in ((ws, ds, "ds"), (stride, st, "st"), (pad, padding, "padding")):
        if old is not None and new not in (None, (0,) * n) and old != new:
            raise ValueError(f"{name}: give either {old_name} (deprecated) or its new name, not both")
    ws = ws if ds is None else ds
    stride = stride if st is None else st
    pad = pad if padding is None else padding
    if ws is None:
        raise ValueError(f"{name}: ws (the window size) is required")
    if ignore_border is None:
        warnings.warn(
            f"{name}() will have the parameter ignore_border default value changed to True (currently False). "
            "To have consistent behavior with all Theano version, explicitly add the parameter "
            "ignore_border=True.",
            UserWarning,
            stacklevel=3,
        )
        ignore_border = False
    return pool(input, tuple(ws), ignore_border=ignore_border, stride=None if stride is None else tuple(stride),
                pad=tuple(pad), mode=mode)


def pool_2d(input, ws=None, ignore_border=None, stride=None, pad=(0, 0), mode="max", ds=None, st=None,
            padding=None):
    """Theano's ``pool_2d``: pool the last two axes of ``input``
    (:func:`convnet.ops.pool2d`), with Theano's older argument names
    ``ds``, ``st`` and ``padding`` and its default ``ignore_border=False``
    (with Theano's warning when it is not given).

    Examples
    --------
    >>> import numpy as np
    >>> pool_2d(np.arange(16.0).reshape(1, 1, 4, 4), ws=(2, 2), ignore_border=True).eval()
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    """
    return _theano_pool("pool_2d", pool2d, input, ws, ignore_border, stride, pad, mode, ds, st, padding, n=2)


def pool_3d(input, ws=None, ignore_border=None, stride=None, pad=(0, 0, 0), mode="max", ds=None, st=None,
            padding=None):
    """Theano's ``pool_3d``: pool the last three axes of ``input``
    (:func:`convnet.ops.pool3d`), with :func:`pool_2d`'s old argument names
    and default.

    Examples
    --------
    >>> import numpy as np
    >>> pool_3d(np.arange(8.0).reshape(1, 2, 2, 2), ws=(2, 2, 2), ignore_border=True).eval()
    array([[[[7.]]]])
    """
    return _theano_pool("pool_3d", pool3d, input, ws, ignore_border, stride, pad, mode, ds, st, padding, n=3)
