"""Recurrent layers against NumPy reference loops, finite differences, and
the JAX backend."""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import convnet.random
from convnet import init, nonlinearities
from convnet.layers import (
    CustomRecurrentLayer,
    DenseLayer,
    Gate,
    GRULayer,
    InputLayer,
    LSTMLayer,
    RecurrentLayer,
    get_all_param_values,
    get_output,
)

BATCH, STEPS, FEATURES, UNITS = 3, 4, 2, 3


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _loop(x, mask, states, step, backwards, only_return_final):
    """Run ``step(x_t, *states)`` over time (axis 1) as Lasagne defines it."""
    order = range(x.shape[1] - 1, -1, -1) if backwards else range(x.shape[1])
    outputs = np.zeros((x.shape[0], x.shape[1], states[-1].shape[1]))
    for t in order:
        new = step(x[:, t], *states)
        if mask is not None:
            new = [np.where(mask[:, t, None] > 0, n, s) for n, s in zip(new, states)]
        states = new
        outputs[:, t] = states[-1]
    return states[-1] if only_return_final else outputs


def reference(layer, x, mask=None, hid_init=None, cell_init=None):
    """The layer's output computed with NumPy from its parameter values."""
    v = {name: p.get_value() for p, name in ((p, p.name.split(".")[-1]) for p in layer.params)}
    batch = x.shape[0]
    x = x.reshape(x.shape[0], x.shape[1], -1)
    hid = hid_init if hid_init is not None else np.repeat(v["hid_init"], batch, axis=0)
    if isinstance(layer, LSTMLayer):
        cell = cell_init if cell_init is not None else np.repeat(v["cell_init"], batch, axis=0)
        peep = layer.peepholes

        def step(x_t, c, h):
            def pre(g):
                return x_t @ v[f"W_in_to_{g}"] + h @ v[f"W_hid_to_{g}"] + v[f"b_{g}"]

            i = sigmoid(pre("ingate") + (c * v["W_cell_to_ingate"] if peep else 0))
            f = sigmoid(pre("forgetgate") + (c * v["W_cell_to_forgetgate"] if peep else 0))
            c_new = f * c + i * np.tanh(pre("cell"))
            o = sigmoid(pre("outgate") + (c_new * v["W_cell_to_outgate"] if peep else 0))
            return [c_new, o * np.tanh(c_new)]

        states = [cell, hid]
    elif isinstance(layer, GRULayer):
        def step(x_t, h):
            def part(g):
                return x_t @ v[f"W_in_to_{g}"] + v[f"b_{g}"], h @ v[f"W_hid_to_{g}"]

            r = sigmoid(sum(part("resetgate")))
            u = sigmoid(sum(part("updategate")))
            c_in, c_hid = part("hidden_update")
            return [(1 - u) * h + u * np.tanh(c_in + r * c_hid)]

        states = [hid]
    else:
        w_in, b = layer.W_in_to_hid.get_value(), layer.b.get_value()
        w_hid = layer.W_hid_to_hid.get_value()

        def step(x_t, h):
            return [np.tanh(x_t @ w_in + b + h @ w_hid)]

        states = [hid]
    return _loop(x, mask, states, step, layer.backwards, layer.only_return_final)


def _make(kind, l_in, **kwargs):
    if kind == "rnn":
        return RecurrentLayer(l_in, UNITS, W_hid_to_hid=init.Normal(0.5), W_in_to_hid=init.Normal(0.5),
                              b=init.Normal(0.5), nonlinearity=nonlinearities.tanh, **kwargs)
    if kind == "lstm":
        gate = Gate(b=init.Normal(0.5), W_cell=init.Normal(0.5))
        return LSTMLayer(l_in, UNITS, ingate=gate, forgetgate=gate, outgate=gate,
                         cell=Gate(W_cell=None, nonlinearity=nonlinearities.tanh), **kwargs)
    return GRULayer(l_in, UNITS, resetgate=Gate(W_cell=None, b=init.Normal(0.5)), **kwargs)


def _data(seed=0, shape=(BATCH, STEPS, FEATURES)):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(pytensor.config.floatX)
    mask = np.ones((shape[0], shape[1]), pytensor.config.floatX)
    mask[0, 2:] = 0
    mask[1, 3:] = 0
    return x, mask


OPTIONS = [
    {},
    {"backwards": True},
    {"only_return_final": True},
    {"backwards": True, "only_return_final": True},
    {"precompute_input": False},
    {"unroll_scan": True},
    {"learn_init": True, "hid_init": init.Normal(1.0)},
]


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(o) or "default")
def test_matches_numpy_reference_with_mask(kind, options):
    l_in, l_mask = InputLayer((None, STEPS, FEATURES)), InputLayer((None, STEPS))
    layer = _make(kind, l_in, mask_input=l_mask, **options)
    x, mask = _data()
    out = get_output(layer)
    f = pytensor.function([l_in.input_var, l_mask.input_var], out, mode="FAST_COMPILE")
    result = f(x, mask)
    assert result.shape == tuple(BATCH if d is None else d for d in layer.output_shape)
    np.testing.assert_allclose(result, reference(layer, x, mask), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_trailing_axes_are_flattened_and_peepholes_optional(kind):
    l_in = InputLayer((None, STEPS, 2, 2))
    layer = _make(kind, l_in, **({"peepholes": False} if kind == "lstm" else {}))
    x, _ = _data(shape=(BATCH, STEPS, 2, 2))
    result = pytensor.function([l_in.input_var], get_output(layer), mode="FAST_COMPILE")(x)
    np.testing.assert_allclose(result, reference(layer, x), rtol=1e-5, atol=1e-6)


def test_initial_states_as_layers():
    l_in = InputLayer((None, STEPS, FEATURES))
    l_hid, l_cell = InputLayer((None, UNITS)), InputLayer((None, UNITS))
    layer = _make("lstm", l_in, hid_init=l_hid, cell_init=l_cell)
    assert [p.name for p in layer.params if "init" in p.name] == []
    x, _ = _data()
    rng = np.random.default_rng(1)
    h0, c0 = (rng.standard_normal((BATCH, UNITS)).astype(pytensor.config.floatX) for _ in range(2))
    f = pytensor.function([l_in.input_var, l_hid.input_var, l_cell.input_var], get_output(layer),
                          mode="FAST_COMPILE")
    np.testing.assert_allclose(f(x, h0, c0), reference(layer, x, hid_init=h0, cell_init=c0), rtol=1e-5,
                               atol=1e-6)


def test_parameter_names_and_order_are_lasagnes():
    l_in = InputLayer((None, STEPS, FEATURES))
    lstm = LSTMLayer(l_in, UNITS)
    gates = ["ingate", "forgetgate", "cell", "outgate"]
    assert [p.name for p in lstm.get_params()] == (
        [f"{w}{g}" for g in gates for w in ("W_in_to_", "W_hid_to_", "b_")]
        + ["W_cell_to_ingate", "W_cell_to_forgetgate", "W_cell_to_outgate", "cell_init", "hid_init"])
    gru = GRULayer(l_in, UNITS)
    assert [p.name for p in gru.get_params()] == (
        [f"{w}{g}" for g in ("updategate", "resetgate", "hidden_update") for w in ("W_in_to_", "W_hid_to_", "b_")]
        + ["hid_init"])
    assert "hid_init" not in [p.name for p in gru.get_params(trainable=True)]
    assert "hid_init" in [p.name for p in GRULayer(l_in, UNITS, learn_init=True).get_params(trainable=True)]
    rnn = RecurrentLayer(l_in, UNITS, name="r")
    assert [p.name for p in rnn.get_params()] == [
        "r.hid_init", "r.input_to_hidden.W", "r.input_to_hidden.b", "r.hidden_to_hidden.W"]
    assert [v.shape for v in get_all_param_values(rnn)] == [(1, UNITS), (FEATURES, UNITS), (UNITS,), (UNITS, UNITS)]


def _float64_layer(kind, **kwargs):
    convnet.random.set_rng(np.random.RandomState(0))
    with pytensor.config.change_flags(floatX="float64"):
        l_in = InputLayer((None, STEPS, FEATURES))
        return l_in, _make(kind, l_in, **kwargs)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_gradients_match_finite_differences(kind):
    l_in, layer = _float64_layer(kind, learn_init=True, hid_init=init.Normal(0.5))
    x = np.random.default_rng(2).standard_normal((2, STEPS, FEATURES))
    params = layer.get_params(trainable=True)
    loss = pt.sum(get_output(layer) ** 2)
    f = pytensor.function([l_in.input_var], [loss, *pytensor.grad(loss, params)], mode="FAST_COMPILE")
    grads = f(x)[1:]
    eps = 1e-6
    for p, g in zip(params, grads):
        value = p.get_value()
        index = tuple(i // 2 for i in value.shape)
        for sign in (1, -1):
            shifted = value.copy()
            shifted[index] += sign * eps
            p.set_value(shifted)
            if sign == 1:
                plus = f(x)[0]
            else:
                minus = f(x)[0]
        p.set_value(value)
        np.testing.assert_allclose(g[index], (plus - minus) / (2 * eps), rtol=1e-5, atol=1e-8, err_msg=p.name)


def test_gradient_steps_truncate_backpropagation():
    grads = {}
    for steps in (-1, 1):
        l_in, layer = _float64_layer("rnn", gradient_steps=steps, only_return_final=True)
        out = get_output(layer)
        grads[steps] = pytensor.function([l_in.input_var], pytensor.grad(out.sum(), l_in.input_var),
                                         mode="FAST_COMPILE")(_data()[0].astype("float64"))
    assert np.abs(grads[-1][:, 0]).min() > 0
    np.testing.assert_array_equal(grads[1][:, :-1], 0)
    np.testing.assert_allclose(grads[1][:, -1], grads[-1][:, -1])


def test_grad_clipping_bounds_the_backward_pass_only():
    results = {}
    for clip in (0, 1e-3):
        with pytensor.config.change_flags(floatX="float64"):
            l_in = InputLayer((None, STEPS, FEATURES))
            layer = RecurrentLayer(l_in, UNITS, nonlinearity=None, grad_clipping=clip, W_in_to_hid=init.Constant(1.0),
                                   W_hid_to_hid=init.Constant(0.5))
        out = get_output(layer)
        results[clip] = pytensor.function([l_in.input_var], [out, pytensor.grad((10 * out).sum(), layer.b)],
                                          mode="FAST_COMPILE")(_data()[0].astype("float64"))
    np.testing.assert_allclose(results[0][0], results[1e-3][0])
    # each step's pre-activation gradient is clipped to 1e-3 before it reaches b
    assert np.abs(results[1e-3][1]).max() <= 1e-3 * BATCH * STEPS * (1 + 1e-6)
    assert np.abs(results[0][1]).max() > 1


def test_custom_recurrent_layer_with_dense_connections_equals_recurrent_layer():
    l_in = InputLayer((None, STEPS, FEATURES))
    rnn = _make("rnn", l_in)
    in_to_hid = DenseLayer(InputLayer((None, FEATURES)), UNITS, W=rnn.W_in_to_hid, b=rnn.b, nonlinearity=None)
    hid_to_hid = DenseLayer(InputLayer((None, UNITS)), UNITS, W=rnn.W_hid_to_hid, b=None, nonlinearity=None)
    custom = CustomRecurrentLayer(l_in, in_to_hid, hid_to_hid, nonlinearity=nonlinearities.tanh,
                                  precompute_input=False)
    x, _ = _data()
    f = pytensor.function([l_in.input_var], [get_output(rnn), get_output(custom)], mode="FAST_COMPILE")
    a, b = f(x)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_jax_backend_matches_python_with_gradients():
    pytest.importorskip("jax")
    l_in, l_mask = InputLayer((None, STEPS, FEATURES)), InputLayer((None, STEPS))
    layers = [_make(kind, l_in, mask_input=l_mask, backwards=kind == "gru") for kind in ("rnn", "lstm", "gru")]
    outs = get_output(layers)
    loss = sum((o ** 2).sum() for o in outs)
    params = [p for layer in layers for p in layer.get_params(trainable=True)]
    expressions = [*outs, *pytensor.grad(loss, params)]
    x, mask = _data()
    results = {mode: pytensor.function([l_in.input_var, l_mask.input_var], expressions, mode=mode)(x, mask)
               for mode in ("FAST_COMPILE", "JAX")}
    for a, b in zip(results["FAST_COMPILE"], results["JAX"]):
        np.testing.assert_allclose(np.asarray(b), a, rtol=2e-4, atol=1e-5)


@pytest.mark.parametrize("make, message", [
    (lambda l: RecurrentLayer(l, 3, unroll_scan=True, gradient_steps=2), "gradient_steps must be -1"),
    (lambda l: RecurrentLayer(InputLayer((None, None, 2)), 3, unroll_scan=True), "known sequence length"),
    (lambda l: LSTMLayer(l, 3, mask_input=InputLayer((None, 5))), r"mask must be \(batch, time\)"),
    (lambda l: LSTMLayer(l, 3, ingate=Gate(W_cell=None)), "W_cell for the ingate"),
    (lambda l: GRULayer(l, 0), "num_units must be positive"),
    (lambda l: GRULayer(InputLayer((None, 4)), 3), r"\(batch, time, features...\)"),
    (lambda l: GRULayer(InputLayer((None, 4, None)), 3), "must be known"),
    (lambda l: GRULayer(l, 3, hid_init=InputLayer((None, 4))), r"hid_init must have shape"),
    (lambda l: RecurrentLayer(l, 3, grad_clipping=-1), "grad_clipping"),
    (lambda l: CustomRecurrentLayer(l, DenseLayer(InputLayer((None, 2)), 3), DenseLayer(InputLayer((None, 4)), 4)),
     "must agree after the batch axis"),
])
def test_bad_arguments_are_refused_naming_the_layer(make, message):
    with pytest.raises(ValueError, match=message) as info:
        make(InputLayer((None, STEPS, FEATURES)))
    assert str(info.value).split(":")[0].split()[0] in ("RecurrentLayer", "LSTMLayer", "GRULayer",
                                                         "CustomRecurrentLayer")
