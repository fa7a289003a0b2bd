"""A shared check that every layer test uses: declared shapes, parameter
tags and gradient flow, against the compiled output."""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from convnet.layers import InputLayer, get_all_params, get_output, get_output_shape


def _concrete(shape, batch):
    return tuple(batch if d is None else d for d in shape)


def run_layer_checks(layer, input_layers, batch=3, mode="FAST_COMPILE", seed=0, **output_kwargs):
    """Compile ``layer`` for random inputs and check it.

    * the compiled output's shape equals ``get_output_shape`` for the
      concrete input shapes (``None`` dimensions replaced by ``batch``), and
      agrees with the declared ``output_shape`` wherever that is not None;
    * every trainable parameter receives a gradient that is not identically
      zero (the loss is a random projection of the output).

    Returns the output array (so tests can check values too).
    """
    rng = np.random.default_rng(seed)
    if isinstance(input_layers, InputLayer):
        input_layers = [input_layers]
    arrays = {l: rng.standard_normal(_concrete(l.shape, batch)).astype(pytensor.config.floatX) for l in input_layers}
    out = get_output(layer, **output_kwargs)
    params = get_all_params(layer, trainable=True)
    projection = pt.tensor("projection", dtype=out.dtype, shape=(None,) * out.ndim)
    loss = pt.sum(out * projection)
    grads = pytensor.grad(loss, params) if params else []
    fn = pytensor.function([l.input_var for l in input_layers] + [projection], [out, *grads], mode=mode,
                           on_unused_input="ignore")
    expected = get_output_shape(layer, {l: a.shape for l, a in arrays.items()})
    inputs = list(arrays.values())
    first = fn(*inputs, np.ones(expected, dtype=out.dtype))
    result = np.asarray(first[0])
    assert result.shape == tuple(expected), f"{layer}: compiled shape {result.shape} != declared {expected}"
    declared = layer.output_shape
    assert len(declared) == result.ndim
    for d, r in zip(declared, result.shape):
        assert d is None or d == r, f"{layer}: declared output_shape {declared} but compiled {result.shape}"
    if params:
        grads = fn(*inputs, rng.standard_normal(expected).astype(out.dtype))[1:]
        for p, g in zip(params, grads):
            assert np.asarray(g).shape == p.get_value().shape
            assert np.any(np.asarray(g) != 0), f"{layer}: no gradient reaches parameter {p.name}"
    return result


@pytest.fixture
def check_layer():
    """The :func:`run_layer_checks` function."""
    return run_layer_checks


def run_gradient_checks(expression, values, seed=0, eps=1e-6, rtol=1e-4, directions=3):
    """Compare the symbolic gradient of ``expression`` (a function of
    float64 tensors, one per array in ``values``) with central finite
    differences along random directions, on the Python backend.

    (``pytensor.gradient.verify_grad`` given ``mode="FAST_COMPILE"`` compiles
    its cost function with ``FAST_RUN``, convnet's CPU linker: Numba compiles
    on every call.)
    """
    rng = np.random.default_rng(seed)
    variables = [pt.tensor(f"v{i}", dtype="float64", shape=(None,) * np.ndim(v)) for i, v in enumerate(values)]
    out = expression(*variables)
    projection = pt.tensor("projection", dtype=out.dtype, shape=(None,) * out.ndim)
    cost = pt.sum(out * projection)
    forward = pytensor.function(variables, out, mode="FAST_COMPILE")
    cost_and_grads = pytensor.function(variables + [projection], [cost, *pytensor.grad(cost, variables)],
                                       mode="FAST_COMPILE")
    weights = rng.standard_normal(np.shape(forward(*values)))
    grads = cost_and_grads(*values, weights)[1:]
    for _ in range(directions):
        steps = [rng.standard_normal(np.shape(v)) for v in values]
        plus = cost_and_grads(*[v + eps * s for v, s in zip(values, steps)], weights)[0]
        minus = cost_and_grads(*[v - eps * s for v, s in zip(values, steps)], weights)[0]
        numeric = (plus - minus) / (2 * eps)
        analytic = sum(np.sum(g * s) for g, s in zip(grads, steps))
        np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=rtol * max(1.0, abs(numeric)))


@pytest.fixture
def check_gradients():
    """The :func:`run_gradient_checks` function."""
    return run_gradient_checks
