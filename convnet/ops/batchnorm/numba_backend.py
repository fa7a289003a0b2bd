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
        self.transposed = g.permutation != tuple(range(g.ndim))
        self.first, self.last = g.kept_span


def _layout(k):
    """``to_three(x)``: ``x`` as a C-ordered ``(outer, kept, inner)`` array
    (a transposed copy where the geometry needs one), and ``from_three(y,
    x)``: such an array back in ``x``'s shape and axis order."""
    first, last, permutation, inverse = k.first, k.last, k.permutation, k.inverse

    @numba_njit
    def sizes(shape):
        outer, kept, inner = 1, 1, 1
        for a in range(len(shape)):
            if a < first:
                outer *= shape[a]
            elif a < last:
                kept *= shape[a]
            else:
                inner *= shape[a]
        return outer, kept, inner

    if not k.transposed:
        @numba_njit
        def to_three(x):
            return np.ascontiguousarray(x).reshape(sizes(x.shape))

        @numba_njit
        def from_three(y, x):
            return y.reshape(x.shape)

        return to_three, from_three

    @numba_njit
    def to_three(x):
        permuted = np.ascontiguousarray(x.transpose(permutation))
        return permuted.reshape(sizes(permuted.shape))

    @numba_njit
    def from_three(y, x):
        return np.ascontiguousarray(y.reshape(x.transpose(permutation).shape).transpose(inverse))

    return to_three, from_three


# The kernels proper, on (outer, kept, inner) arrays: scalar loops only
# (array expressions would each compile a loop of their own, seconds more).


@numba_njit
def _statistics(v, epsilon):
    """float64 ``(mean, inv_std)`` of each kept position."""
    outer, kept, inner = v.shape
    n = outer * inner
    mean, inv_std = np.zeros(kept), np.zeros(kept)
    for o in range(outer):
        for c in range(kept):
            total = 0.0
            for i in range(inner):
                total += v[o, c, i]
            mean[c] += total
    for c in range(kept):
        mean[c] /= n
    for o in range(outer):
        for c in range(kept):
            m, total = mean[c], 0.0
            for i in range(inner):
                deviation = v[o, c, i] - m
                total += deviation * deviation
            inv_std[c] += total
    for c in range(kept):
        inv_std[c] = 1.0 / np.sqrt(inv_std[c] / n + epsilon)
    return mean, inv_std


@numba_njit
def _normalize(v, mean, inv_std, gamma, beta):
    """``(v - mean) * (gamma * inv_std) + beta``, in ``v``'s dtype as the
    NumPy reference computes it; and the statistics in that dtype."""
    outer, kept, inner = v.shape
    mean_v, inv_std_v, scale = np.empty(kept, v.dtype), np.empty(kept, v.dtype), np.empty(kept, v.dtype)
    for c in range(kept):
        mean_v[c], inv_std_v[c], scale[c] = mean[c], inv_std[c], gamma[c] * inv_std[c]
    out = np.empty_like(v)
    for o in range(outer):
        for c in range(kept):
            m, s, b = mean_v[c], scale[c], beta[c]
            for i in range(inner):
                out[o, c, i] = (v[o, c, i] - m) * s + b
    return out, mean_v, inv_std_v


@numba_njit
def _gradient(v, d, gamma, mean, inv_std):
    """``(d_x, d_gamma, d_beta)`` (see :class:`~convnet.ops.batchnorm.ops.BatchNormTrainGrad`)."""
    outer, kept, inner = v.shape
    n = outer * inner
    d_beta, d_gamma = np.zeros(kept), np.zeros(kept)  # d_gamma: sum(d_out * (x - mean)) first
    for o in range(outer):
        for c in range(kept):
            m, total, weighted = mean[c], 0.0, 0.0
            for i in range(inner):
                g = d[o, c, i]
                total += g
                weighted += g * (v[o, c, i] - m)
            d_beta[c] += total
            d_gamma[c] += weighted
    # d_x = gamma * inv_std * (d_out - d_beta / n - (x - mean) * inv_std * d_gamma / n)
    scale, offset, slope = np.empty(kept, v.dtype), np.empty(kept, v.dtype), np.empty(kept, v.dtype)
    d_gamma_v, d_beta_v = np.empty(kept, v.dtype), np.empty(kept, v.dtype)
    for c in range(kept):
        d_gamma[c] *= inv_std[c]
        scale[c], offset[c], slope[c] = gamma[c] * inv_std[c], d_beta[c] / n, inv_std[c] * d_gamma[c] / n
        d_gamma_v[c], d_beta_v[c] = d_gamma[c], d_beta[c]
    d_x = np.empty_like(v)
    for o in range(outer):
        for c in range(kept):
            m, s, b, a = mean[c], scale[c], offset[c], slope[c]
            for i in range(inner):
                d_x[o, c, i] = s * (d[o, c, i] - b - (v[o, c, i] - m) * a)
    return d_x, d_gamma_v, d_beta_v


@register_funcify_and_cache_key(BatchNormTrain)
def numba_funcify_BatchNormTrain(op, node, **kwargs):
    to_three, from_three = _layout(_Constants(op))
    epsilon = op.epsilon

    @numba_njit
    def normalize(x, gamma, beta):
        v = to_three(x)
        if gamma.size != v.shape[1] or beta.size != v.shape[1]:
            raise ValueError("BatchNormTrain: gamma and beta must have one entry per position on the kept axes")
        mean, inv_std = _statistics(v, epsilon)
        out, mean_v, inv_std_v = _normalize(v, mean, inv_std, np.ascontiguousarray(gamma).ravel(),
                                            np.ascontiguousarray(beta).ravel())
        return from_three(out, x), mean, inv_std, mean_v.reshape(gamma.shape), inv_std_v.reshape(gamma.shape)

    if not op.updates_averages:
        @numba_njit
        def batch_norm_train(x, gamma, beta):
            out, _, _, mean, inv_std = normalize(x, gamma, beta)
            return out, mean, inv_std

        return batch_norm_train, kernel_cache_key(op, node, *_SOURCES)

    alpha = op.alpha

    @numba_njit
    def batch_norm_train_with_averages(x, gamma, beta, running_mean, running_inv_std):
        if running_mean.size != gamma.size or running_inv_std.size != gamma.size:
            raise ValueError("BatchNormTrain: the running averages must have one entry per position on the kept axes")
        out, mean, inv_std, mean_v, inv_std_v = normalize(x, gamma, beta)
        new_mean, new_inv_std = np.empty_like(mean_v), np.empty_like(inv_std_v)
        old_mean = np.ascontiguousarray(running_mean).ravel()
        old_inv_std = np.ascontiguousarray(running_inv_std).ravel()
        flat_mean, flat_inv_std = new_mean.reshape(-1), new_inv_std.reshape(-1)
        for c in range(mean.size):
            flat_mean[c] = (1 - alpha) * old_mean[c] + alpha * mean[c]
            flat_inv_std[c] = (1 - alpha) * old_inv_std[c] + alpha * inv_std[c]
        return out, mean_v, inv_std_v, new_mean, new_inv_std

    return batch_norm_train_with_averages, kernel_cache_key(op, node, *_SOURCES)


@register_funcify_and_cache_key(BatchNormTrainGrad)
def numba_funcify_BatchNormTrainGrad(op, node, **kwargs):
    to_three, from_three = _layout(_Constants(op))

    @numba_njit
    def batch_norm_train_grad(x, d_out, gamma, mean, inv_std):
        if d_out.shape != x.shape:
            raise ValueError("BatchNormTrainGrad: d_out must have the input's shape")
        v, d = to_three(x), to_three(d_out)
        kept = v.shape[1]
        if gamma.size != kept or mean.size != kept or inv_std.size != kept:
            raise ValueError("BatchNormTrainGrad: gamma, mean and inv_std must have one entry per position on "
                             "the kept axes")
        d_x, d_gamma, d_beta = _gradient(v, d, np.ascontiguousarray(gamma).ravel(), np.ascontiguousarray(mean).ravel(),
                                         np.ascontiguousarray(inv_std).ravel())
        return from_three(d_x, x), d_gamma.reshape(gamma.shape), d_beta.reshape(gamma.shape)

    return batch_norm_train_grad, kernel_cache_key(op, node, *_SOURCES)
