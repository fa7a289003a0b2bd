"""Numba implementations of the batch-normalization Ops, for PyTensor's Numba
linker and convnet's CPU linker.

Each kernel sees its input as a C-ordered ``(outer, kept, inner)`` array
(:meth:`~convnet.ops.batchnorm.geometry.BatchNormGeometry.layout`): a
reshape for the usual per-channel normalization, a transposed copy otherwise.
The loops run in memory order, ``inner`` innermost, so they stream through
the input; the per-position sums are float64. The forward kernel makes two
passes for the statistics and one to write the output, the gradient kernel
one for its two sums and one to write ``d_x``.

The geometry is a compile-time constant of each Op's function, cached on
disk by PyTensor under :func:`~convnet.ops.kernel_cache.kernel_cache_key`.
"""
import numpy as np
from pytensor.link.numba.dispatch.basic import numba_njit, register_funcify_and_cache_key

from ..kernel_cache import kernel_cache_key
from .ops import BatchNormTrain, BatchNormTrainGrad

_SOURCES = ("batchnorm/geometry.py", "batchnorm/ops.py", "batchnorm/numba_backend.py")
"""The files whose digest is part of every kernel's cache key."""


class _Constants:
    """An Op's geometry as compile-time constants of its function."""

    def __init__(self, op):
        g = op.geometry
        self.permutation = g.permutation
        self.inverse = tuple(int(a) for a in np.argsort(g.permutation))
        # Where the kept axes are in the permuted input.
        self.first = g.permutation.index(g.kept[0]) if g.kept else g.ndim
        self.last = self.first + len(g.kept)


def _three_axes(k):
    first, last, permutation = k.first, k.last, k.permutation

    @numba_njit
    def three_axes(x):
        """``x`` permuted, C-ordered (a copy only if that moves data), and as ``(outer, kept, inner)``."""
        permuted = np.ascontiguousarray(x.transpose(permutation))
        shape = permuted.shape
        outer, kept, inner = 1, 1, 1
        for a in range(len(shape)):
            if a < first:
                outer *= shape[a]
            elif a < last:
                kept *= shape[a]
            else:
                inner *= shape[a]
        return permuted.reshape((outer, kept, inner))

    return three_axes


def _as_input(k):
    inverse = k.inverse

    @numba_njit
    def as_input(values, permuted_shape):
        """An ``(outer, kept, inner)`` result back in the input's axis order."""
        return np.ascontiguousarray(values.reshape(permuted_shape).transpose(inverse))

    return as_input


@register_funcify_and_cache_key(BatchNormTrain)
def numba_funcify_BatchNormTrain(op, node, **kwargs):
    k = _Constants(op)
    three_axes, as_input = _three_axes(k), _as_input(k)
    epsilon, permutation = op.epsilon, k.permutation

    @numba_njit
    def batch_norm_train(x, gamma, beta):
        v = three_axes(x)
        outer, kept, inner = v.shape
        if gamma.size != kept or beta.size != kept:
            raise ValueError("BatchNormTrain: gamma and beta must have one entry per position on the kept axes")
        n = outer * inner
        sums = np.zeros(kept, np.float64)
        for o in range(outer):
            for c in range(kept):
                total = 0.0
                for i in range(inner):
                    total += v[o, c, i]
                sums[c] += total
        mean = sums / n
        squares = np.zeros(kept, np.float64)
        for o in range(outer):
            for c in range(kept):
                m, total = mean[c], 0.0
                for i in range(inner):
                    deviation = v[o, c, i] - m
                    total += deviation * deviation
                squares[c] += total
        inv_std = 1.0 / np.sqrt(squares / n + epsilon)
        # The output in the input's dtype, as the NumPy reference computes it.
        mean_x = mean.astype(x.dtype)
        scale = (np.ascontiguousarray(gamma).ravel() * inv_std).astype(x.dtype)
        shift = np.ascontiguousarray(beta).ravel()
        out = np.empty_like(v)
        for o in range(outer):
            for c in range(kept):
                m, s, b = mean_x[c], scale[c], shift[c]
                for i in range(inner):
                    out[o, c, i] = (v[o, c, i] - m) * s + b
        permuted_shape = x.transpose(permutation).shape
        return (as_input(out, permuted_shape), mean_x.reshape(gamma.shape),
                inv_std.astype(x.dtype).reshape(gamma.shape))

    return batch_norm_train, kernel_cache_key(op, node, *_SOURCES)


@register_funcify_and_cache_key(BatchNormTrainGrad)
def numba_funcify_BatchNormTrainGrad(op, node, **kwargs):
    k = _Constants(op)
    three_axes, as_input = _three_axes(k), _as_input(k)
    permutation = k.permutation

    @numba_njit
    def batch_norm_train_grad(x, d_out, gamma, mean, inv_std):
        if d_out.shape != x.shape:
            raise ValueError("BatchNormTrainGrad: d_out must have the input's shape")
        v, d = three_axes(x), three_axes(d_out)
        outer, kept, inner = v.shape
        if gamma.size != kept or mean.size != kept or inv_std.size != kept:
            raise ValueError("BatchNormTrainGrad: gamma, mean and inv_std must have one entry per position on "
                             "the kept axes")
        n = outer * inner
        mean_x, inv_std_x = np.ascontiguousarray(mean).ravel(), np.ascontiguousarray(inv_std).ravel()
        d_beta = np.zeros(kept, np.float64)
        d_gamma = np.zeros(kept, np.float64)  # sum(d_out * (x - mean)), times inv_std below
        for o in range(outer):
            for c in range(kept):
                m, total, weighted = mean_x[c], 0.0, 0.0
                for i in range(inner):
                    g = d[o, c, i]
                    total += g
                    weighted += g * (v[o, c, i] - m)
                d_beta[c] += total
                d_gamma[c] += weighted
        d_gamma *= inv_std_x
        # d_x = gamma * inv_std * (d_out - d_beta / n - (x - mean) * inv_std * d_gamma / n)
        scale = (np.ascontiguousarray(gamma).ravel() * inv_std_x).astype(x.dtype)
        offset = (d_beta / n).astype(x.dtype)
        slope = (inv_std_x * d_gamma / n).astype(x.dtype)
        d_x = np.empty_like(v)
        for o in range(outer):
            for c in range(kept):
                m, s, b, a = mean_x[c], scale[c], offset[c], slope[c]
                for i in range(inner):
                    d_x[o, c, i] = s * (d[o, c, i] - b - (v[o, c, i] - m) * a)
        permuted_shape = x.transpose(permutation).shape
        return (as_input(d_x, permuted_shape), d_gamma.astype(x.dtype).reshape(gamma.shape),
                d_beta.astype(x.dtype).reshape(gamma.shape))

    return batch_norm_train_grad, kernel_cache_key(op, node, *_SOURCES)
