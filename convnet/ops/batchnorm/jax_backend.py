"""JAX implementations of the batch-normalization Ops, for ``pytensor.function(..., mode="JAX")``.

The NumPy reference's formulas in ``jax.numpy``, the statistics accumulated in
float64 where JAX allows it (``jax_enable_x64``) and in the input's dtype
otherwise; XLA fuses the elementwise work into the reductions.

Imported when PyTensor loads its JAX backend.
"""
import jax
import jax.numpy as jnp
from pytensor.link.jax.dispatch import jax_funcify

from .ops import _RUNNING, BatchNormTrain, BatchNormTrainGrad


def _accumulator():
    return jnp.float64 if jax.config.jax_enable_x64 else jnp.float32


@jax_funcify.register(BatchNormTrain)
def jax_funcify_BatchNormTrain(op, node=None, **kwargs):
    g, epsilon, alpha = op.geometry, op.epsilon, op.alpha

    def batch_norm_train(x, gamma, beta, *running):
        for name, value in zip(("gamma", "beta", *_RUNNING), (gamma, beta, *running)):
            g.check_stats_shape(name, x.shape, value.shape)  # static sizes when JAX traces
        acc = _accumulator()
        mean = jnp.mean(x, axis=g.axes, dtype=acc, keepdims=True)
        centered = x - mean.astype(x.dtype)
        var = jnp.mean(jnp.square(centered.astype(acc)), axis=g.axes, keepdims=True)
        inv_std = 1.0 / jnp.sqrt(var + epsilon)
        out = centered * (g.broadcast(gamma) * inv_std).astype(x.dtype) + g.broadcast(beta)
        stats = [mean.reshape(gamma.shape), inv_std.reshape(gamma.shape)]
        new_averages = [((1 - alpha) * average + alpha * value).astype(x.dtype)
                        for average, value in zip(running, stats)]
        return (out, *(value.astype(x.dtype) for value in stats), *new_averages)

    return batch_norm_train


@jax_funcify.register(BatchNormTrainGrad)
def jax_funcify_BatchNormTrainGrad(op, node=None, **kwargs):
    g = op.geometry

    def batch_norm_train_grad(x, d_out, gamma, mean, inv_std):
        for name, value in (("gamma", gamma), ("mean", mean), ("inv_std", inv_std)):
            g.check_stats_shape(name, x.shape, value.shape)  # static sizes when JAX traces
        acc = _accumulator()
        inv_std_b = g.broadcast(inv_std)
        x_hat = (x - g.broadcast(mean)) * inv_std_b
        n = g.count(x.shape)
        d_beta = jnp.sum(d_out, axis=g.axes, dtype=acc, keepdims=True)
        d_gamma = jnp.sum(d_out.astype(acc) * x_hat, axis=g.axes, keepdims=True)
        d_x = (d_out - (d_beta / n).astype(x.dtype) - x_hat * (d_gamma / n).astype(x.dtype)) \
            * (g.broadcast(gamma) * inv_std_b)
        return d_x.astype(x.dtype), d_gamma.reshape(gamma.shape).astype(x.dtype), \
            d_beta.reshape(gamma.shape).astype(x.dtype)

    return batch_norm_train_grad
