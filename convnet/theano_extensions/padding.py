"""Lasagne's ``lasagne.theano_extensions.padding``: :func:`pad`."""
from ..layers.shape import _constant_pad
from ..utils import as_tensor_expression

__all__ = ["pad"]


def pad(x, width, val=0, batch_ndim=1):
    """Pad the trailing axes of ``x`` (all but the first ``batch_ndim``) with
    ``val``. ``width`` is an int (that many on both sides of every axis), a
    tuple with an int or a ``(before, after)`` pair per axis.

    Examples
    --------
    >>> import numpy as np
    >>> pad(np.ones((1, 2)), 1).eval()
    array([[0., 1., 1., 0.]])
    >>> pad(np.ones((1, 2)), 1, batch_ndim=0).eval()
    array([[0., 0., 0., 0.],
           [0., 1., 1., 0.],
           [0., 0., 0., 0.]])
    """
    x = as_tensor_expression(x)
    n = x.ndim - batch_ndim
    widths = (width,) * n if isinstance(width, int) else tuple(width)
    if len(widths) != n:
        raise ValueError(f"pad: width {width!r} must give {n} axes (x is {x.ndim}-D, batch_ndim={batch_ndim})")
    pairs = [(w, w) if isinstance(w, int) else tuple(w) for w in widths]
    return _constant_pad(x, [(0, 0)] * batch_ndim + pairs, val)
