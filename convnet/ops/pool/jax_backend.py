"""JAX implementations of the pooling ops, for ``pytensor.function(..., mode="JAX")``.

Forward pooling is ``jax.lax.reduce_window``. The gradient ops gather each
window's cells as strided slices of the padded input (one slice per cell of
the window) and scatter back with the adjoint (``jax.vjp``) of that gather,
so they match the NumPy reference exactly, ties included. Shapes are static
when JAX traces, so window counts and validation run in NumPy at trace time.

Imported by :mod:`convnet.ops.pool` only when JAX is installed.

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
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from pytensor.link.jax.dispatch.basic import jax_funcify

from .pool import (
    AveragePoolGrad,
    MaxPoolGrad,
    MaxPoolGradGrad,
    Pool,
    _output_shape,
    _padded_shape,
    _window_counts,
)


def _padding(op, shape):
    """``(low, high)`` padding per axis: ``op.pad`` on both sides of the pooled
    axes, plus the cells that partial windows reach past the end."""
    lengths = shape[-2:]
    pooled_axes = [
        (pad, extent - length - pad)
        for length, extent, pad in zip(lengths, _padded_shape(op, lengths), op.pad)
    ]
    return [(0, 0)] * (len(shape) - 2) + pooled_axes


def _padded(x, op, fill):
    return jnp.pad(x, _padding(op, x.shape), constant_values=fill)


def _window_cells(padded, op, out_shape):
    """``(..., out_rows, out_cols, ws_rows * ws_cols)``: the cells of every window."""
    (stride_rows, stride_cols), (out_rows, out_cols) = op.stride, out_shape
    return jnp.stack(
        [
            padded[
                ...,
                i : i + stride_rows * (out_rows - 1) + 1 : stride_rows,
                j : j + stride_cols * (out_cols - 1) + 1 : stride_cols,
            ]
            for i, j in np.ndindex(*op.ws)
        ],
        axis=-1,
    )


def _add_window_cells_to_input(per_cell, op, x):
    """Adjoint of :func:`_window_cells`: sum per-cell values onto the cells of ``x`` they came from."""
    out_shape = per_cell.shape[-3:-1]
    _, adjoint = jax.vjp(lambda v: _window_cells(_padded(v, op, 0), op, out_shape), x)
    return adjoint(per_cell)[0]


def _max_cells(x, pooled, op):
    """Boolean ``(..., out_rows, out_cols, ws_rows * ws_cols)``: cells equal to their window's max."""
    cells = _window_cells(_padded(x, op, -jnp.inf), op, pooled.shape[-2:])
    return cells == pooled[..., None]


def _average_divisor(op, x):
    include_pad = op.mode == "average_inc_pad"
    return _window_counts(op, *x.shape[-2:], include_pad).astype(x.dtype)


@jax_funcify.register(Pool)
def jax_funcify_Pool(op, node=None, **kwargs):
    def pool(x):
        _output_shape(op, x.shape)  # validates the window against the traced shape
        ones = (1,) * (x.ndim - 2)
        window, strides, padding = ones + op.ws, ones + op.stride, _padding(op, x.shape)
        if op.mode == "max":
            init = jnp.array(-jnp.inf, dtype=x.dtype)
            return lax.reduce_window(x, init, lax.max, window, strides, padding)
        terms = jnp.square(x) if op.mode == "l2" else x
        summed = lax.reduce_window(terms, jnp.array(0, dtype=x.dtype), lax.add, window, strides, padding)
        if op.mode == "l2":
            return jnp.sqrt(summed)
        if op.mode == "sum":
            return summed
        return summed / _average_divisor(op, x)

    return pool


@jax_funcify.register(MaxPoolGrad)
def jax_funcify_MaxPoolGrad(op, node=None, **kwargs):
    def max_pool_grad(x, pooled, pooled_grad):
        per_cell = jnp.where(_max_cells(x, pooled, op), pooled_grad[..., None], 0)
        per_cell = jnp.where(jnp.isnan(pooled)[..., None], jnp.nan, per_cell)
        return _add_window_cells_to_input(per_cell.astype(x.dtype), op, x)

    return max_pool_grad


@jax_funcify.register(MaxPoolGradGrad)
def jax_funcify_MaxPoolGradGrad(op, node=None, **kwargs):
    def max_pool_grad_grad(x, pooled, input_cotangent):
        cotangent_cells = _window_cells(_padded(input_cotangent, op, 0), op, pooled.shape[-2:])
        summed = jnp.where(_max_cells(x, pooled, op), cotangent_cells, 0).sum(axis=-1)
        return jnp.where(jnp.isnan(pooled), jnp.nan, summed)

    return max_pool_grad_grad


@jax_funcify.register(AveragePoolGrad)
def jax_funcify_AveragePoolGrad(op, node=None, **kwargs):
    def average_pool_grad(x, pooled_grad):
        per_window = pooled_grad if op.mode == "sum" else pooled_grad / _average_divisor(op, x)
        n_cells = op.ws[0] * op.ws[1]
        per_cell = jnp.broadcast_to(per_window[..., None], per_window.shape + (n_cells,))
        return _add_window_cells_to_input(per_cell.astype(x.dtype), op, x)

    return average_pool_grad
