"""JAX implementations of the pooling ops, for ``pytensor.function(..., mode="JAX")``.

Forward pooling is ``jax.lax.reduce_window`` over the pooled axes, any number
of them. The gradient ops gather each window's cells as strided slices of the
padded input (one slice per cell of the window) and scatter back with the
adjoint (``jax.vjp``) of that gather, so they match the NumPy reference
exactly, ties included. Shapes are static when JAX traces, so the geometry
(:class:`~convnet.ops.pool.geometry.PoolGeometry`: validation, padded lengths,
average divisors) runs in NumPy at trace time.

Imported by :mod:`convnet.ops.pool.ops` only when JAX is installed.

Examples
--------
>>> import numpy as np, pytensor, pytensor.tensor as pt
>>> from convnet.ops.pool import pool2d
>>> x = pt.tensor4("x")
>>> f = pytensor.function([x], pool2d(x, (2, 2), mode="sum"), mode="JAX")
>>> np.asarray(f(np.ones((1, 1, 4, 4), dtype=x.dtype)))[0, 0]
array([[4., 4.],
       [4., 4.]], dtype=float32)
"""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from pytensor.link.jax.dispatch.basic import jax_funcify

from .ops import AveragePoolGrad, MaxPoolGrad, MaxPoolGradGrad, Pool


def _lengths(g, x):
    return tuple(x.shape[-g.ndim:])


def _padding(g, shape):
    """``(low, high)`` padding per axis: ``pad`` on both sides of the pooled
    axes, plus the cells that partial windows reach past the end."""
    lengths = tuple(shape[-g.ndim:])
    pooled_axes = [(pad, extent - length - pad)
                   for length, extent, pad in zip(lengths, g.padded_lengths(lengths), g.pad)]
    return [(0, 0)] * (len(shape) - g.ndim) + pooled_axes


def _padded(x, g, fill):
    return jnp.pad(x, _padding(g, x.shape), constant_values=fill)


def _window_cells(padded, g, out_lengths):
    """``(..., *output lengths, prod(ws))``: the cells of every window."""
    return jnp.stack(
        [padded[(..., *(slice(c, c + s * (o - 1) + 1, s) for c, s, o in zip(cell, g.stride, out_lengths)))]
         for cell in itertools.product(*map(range, g.ws))],
        axis=-1,
    )


def _add_window_cells_to_input(per_cell, g, x):
    """Adjoint of :func:`_window_cells`: sum per-cell values onto the cells of ``x`` they came from."""
    out_lengths = per_cell.shape[-g.ndim - 1:-1]
    _, adjoint = jax.vjp(lambda v: _window_cells(_padded(v, g, 0), g, out_lengths), x)
    return adjoint(per_cell)[0]


def _max_cells(x, pooled, g):
    """Boolean ``(..., *output lengths, prod(ws))``: cells equal to their window's max."""
    cells = _window_cells(_padded(x, g, -jnp.inf), g, pooled.shape[-g.ndim:])
    return cells == pooled[..., None]


def _average_divisors(g, x):
    return g.average_divisors(_lengths(g, x)).astype(x.dtype)


@jax_funcify.register(Pool)
def jax_funcify_Pool(op, node=None, **kwargs):
    g = op.geometry

    def pool(x):
        g.check_fits(_lengths(g, x))  # the window against the traced shape
        ones = (1,) * (x.ndim - g.ndim)
        window, strides, padding = ones + g.ws, ones + g.stride, _padding(g, x.shape)
        if g.mode == "max":
            init = jnp.array(-jnp.inf, dtype=x.dtype)
            return lax.reduce_window(x, init, lax.max, window, strides, padding)
        terms = jnp.square(x) if g.mode == "l2" else x
        summed = lax.reduce_window(terms, jnp.array(0, dtype=x.dtype), lax.add, window, strides, padding)
        if g.mode == "l2":
            return jnp.sqrt(summed)
        if g.mode == "sum":
            return summed
        return summed / _average_divisors(g, x)

    return pool


@jax_funcify.register(MaxPoolGrad)
def jax_funcify_MaxPoolGrad(op, node=None, **kwargs):
    g = op.geometry

    def max_pool_grad(x, pooled, pooled_grad):
        per_cell = jnp.where(_max_cells(x, pooled, g), pooled_grad[..., None], 0)
        per_cell = jnp.where(jnp.isnan(pooled)[..., None], jnp.nan, per_cell)
        return _add_window_cells_to_input(per_cell.astype(x.dtype), g, x)

    return max_pool_grad


@jax_funcify.register(MaxPoolGradGrad)
def jax_funcify_MaxPoolGradGrad(op, node=None, **kwargs):
    g = op.geometry

    def max_pool_grad_grad(x, pooled, input_cotangent):
        cotangent_cells = _window_cells(_padded(input_cotangent, g, 0), g, pooled.shape[-g.ndim:])
        summed = jnp.where(_max_cells(x, pooled, g), cotangent_cells, 0).sum(axis=-1)
        return jnp.where(jnp.isnan(pooled), jnp.nan, summed)

    return max_pool_grad_grad


@jax_funcify.register(AveragePoolGrad)
def jax_funcify_AveragePoolGrad(op, node=None, **kwargs):
    g = op.geometry

    def average_pool_grad(x, pooled_grad):
        per_window = pooled_grad if g.mode == "sum" else pooled_grad / _average_divisors(g, x)
        per_cell = jnp.broadcast_to(per_window[..., None], per_window.shape + (g.window_cells,))
        return _add_window_cells_to_input(per_cell.astype(x.dtype), g, x)

    return average_pool_grad
