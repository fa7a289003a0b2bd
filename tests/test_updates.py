"""Tests of convnet.updates: every rule against a NumPy re-implementation."""
from collections import OrderedDict

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from convnet import updates
from convnet.utils import compute_norms, floatX

SHAPES = [(3,), (2, 4)]
rng = np.random.default_rng(0)
# loss = sum(0.5 * A * p ** 2 + B * p) per parameter, so gradient = A * p + B
CURVATURES = [rng.uniform(0.5, 2.0, size=s).astype(np.float32) for s in SHAPES]
OFFSETS = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
INITIAL_VALUES = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]


def quadratic_loss(params):
    return sum(pt.sum(0.5 * a * p**2 + b * p) for p, a, b in zip(params, CURVATURES, OFFSETS))


def numpy_gradients(values):
    return [a * p + b for p, a, b in zip(values, CURVATURES, OFFSETS)]


def make_params():
    return [pytensor.shared(v.copy(), name=f"p{i}") for i, v in enumerate(INITIAL_VALUES)]


# NumPy references: one step for one parameter, given its gradient, its state
# (a dict, empty at first), the 1-based step number and the hyperparameters.


def zeros(state, key, p):
    return state.setdefault(key, np.zeros_like(p))


def ref_sgd(p, g, state, t, learning_rate):
    return p - learning_rate * g


def ref_momentum(p, g, state, t, learning_rate, momentum):
    state["v"] = momentum * zeros(state, "v", p) - learning_rate * g
    return p + state["v"]


def ref_nesterov_momentum(p, g, state, t, learning_rate, momentum):
    state["v"] = momentum * zeros(state, "v", p) - learning_rate * g
    return p + momentum * state["v"] - learning_rate * g


def ref_adagrad(p, g, state, t, learning_rate, epsilon):
    state["accu"] = zeros(state, "accu", p) + g**2
    return p - learning_rate * g / np.sqrt(state["accu"] + epsilon)


def ref_rmsprop(p, g, state, t, learning_rate, rho, epsilon):
    state["accu"] = rho * zeros(state, "accu", p) + (1 - rho) * g**2
    return p - learning_rate * g / np.sqrt(state["accu"] + epsilon)


def ref_adadelta(p, g, state, t, learning_rate, rho, epsilon):
    state["accu"] = rho * zeros(state, "accu", p) + (1 - rho) * g**2
    step = g * np.sqrt(zeros(state, "delta", p) + epsilon) / np.sqrt(state["accu"] + epsilon)
    state["delta"] = rho * state["delta"] + (1 - rho) * step**2
    return p - learning_rate * step


def ref_adam(p, g, state, t, learning_rate, beta1, beta2, epsilon):
    state["m"] = beta1 * zeros(state, "m", p) + (1 - beta1) * g
    state["v"] = beta2 * zeros(state, "v", p) + (1 - beta2) * g**2
    step_size = learning_rate * np.sqrt(1 - beta2**t) / (1 - beta1**t)
    return p - step_size * state["m"] / (np.sqrt(state["v"]) + epsilon)


def ref_adamax(p, g, state, t, learning_rate, beta1, beta2, epsilon):
    state["m"] = beta1 * zeros(state, "m", p) + (1 - beta1) * g
    state["u"] = np.maximum(beta2 * zeros(state, "u", p), np.abs(g))
    return p - learning_rate / (1 - beta1**t) * state["m"] / (state["u"] + epsilon)


def ref_amsgrad(p, g, state, t, learning_rate, beta1, beta2, epsilon):
    state["m"] = beta1 * zeros(state, "m", p) + (1 - beta1) * g
    state["v"] = beta2 * zeros(state, "v", p) + (1 - beta2) * g**2
    state["v_hat"] = np.maximum(zeros(state, "v_hat", p), state["v"])
    step_size = learning_rate * np.sqrt(1 - beta2**t) / (1 - beta1**t)
    return p - step_size * state["m"] / (np.sqrt(state["v_hat"]) + epsilon)


# rule, reference, learning rate, other hyperparameters (non-default, so that
# a hyperparameter that is ignored or mixed up fails the test)
RULES = [
    (updates.sgd, ref_sgd, 0.1, {}),
    (updates.momentum, ref_momentum, 0.1, {"momentum": 0.8}),
    (updates.nesterov_momentum, ref_nesterov_momentum, 0.1, {"momentum": 0.8}),
    (updates.adagrad, ref_adagrad, 0.5, {"epsilon": 1e-3}),
    (updates.rmsprop, ref_rmsprop, 0.05, {"rho": 0.8, "epsilon": 1e-3}),
    (updates.adadelta, ref_adadelta, 0.9, {"rho": 0.8, "epsilon": 1e-3}),
    (updates.adam, ref_adam, 0.05, {"beta1": 0.8, "beta2": 0.95, "epsilon": 1e-3}),
    (updates.adamax, ref_adamax, 0.05, {"beta1": 0.8, "beta2": 0.95, "epsilon": 1e-3}),
    (updates.amsgrad, ref_amsgrad, 0.05, {"beta1": 0.8, "beta2": 0.95, "epsilon": 1e-3}),
]
RULE_IDS = [rule.__name__ for rule, *_ in RULES]
NUM_STEPS = 4
STEP_WITH_NEW_LEARNING_RATE = 3


def run_and_compare(rule, reference, learning_rate, hyperparameters, given="loss", mode="FAST_COMPILE"):
    """Run `rule` for NUM_STEPS steps with a shared learning rate that drops
    before step STEP_WITH_NEW_LEARNING_RATE, and compare with `reference`
    after every step."""
    params = make_params()
    lr = pytensor.shared(floatX(learning_rate), name="lr")
    loss = quadratic_loss(params)
    loss_or_grads = loss if given == "loss" else pytensor.grad(loss, params)
    rule_updates = rule(loss_or_grads, params, learning_rate=lr, **hyperparameters)
    assert isinstance(rule_updates, OrderedDict)
    for var, value in rule_updates.items():
        assert value.type.dtype == var.type.dtype == "float32", var
    step = pytensor.function([], [], updates=rule_updates, mode=mode)

    expected = [v.astype(np.float64) for v in INITIAL_VALUES]
    states = [{} for _ in params]
    current_lr = learning_rate
    for t in range(1, NUM_STEPS + 1):
        if t == STEP_WITH_NEW_LEARNING_RATE:
            current_lr = learning_rate * 0.3
            lr.set_value(floatX(current_lr))
        step()
        grads = numpy_gradients(expected)
        expected = [reference(p, g, s, t, current_lr, **hyperparameters) for p, g, s in zip(expected, grads, states)]
        for param, value in zip(params, expected):
            np.testing.assert_allclose(param.get_value(), value, rtol=2e-5, atol=2e-6,
                                       err_msg=f"{rule.__name__}, step {t}, {param.name}")
    return rule_updates


@pytest.mark.parametrize("rule, reference, learning_rate, hyperparameters", RULES, ids=RULE_IDS)
@pytest.mark.parametrize("given", ["loss", "grads"])
def test_rule_matches_numpy(rule, reference, learning_rate, hyperparameters, given):
    run_and_compare(rule, reference, learning_rate, hyperparameters, given)


@pytest.mark.parametrize("rule", [rule for rule, *_ in RULES], ids=RULE_IDS)
def test_rule_with_default_hyperparameters_decreases_loss(rule):
    params = make_params()
    loss = quadratic_loss(params)
    kwargs = {"learning_rate": 0.01} if rule in (updates.sgd, updates.momentum, updates.nesterov_momentum) else {}
    step = pytensor.function([], loss, updates=rule(loss, params, **kwargs), mode="FAST_COMPILE")
    first = step()
    for _ in range(5):
        last = step()
    assert last < first


def test_state_variables_match_parameters():
    params = [pytensor.shared(np.zeros((1, 3), dtype="float32"), shape=(1, 3), name="W")]
    rule_updates = updates.adam(pt.sum(params[0] ** 2), params)
    assert [v.name for v in rule_updates] == ["W.m", "W.v", "W", "adam.t"]
    for var in list(rule_updates)[:2]:
        assert var.type == params[0].type
        assert var.get_value().shape == (1, 3)
    pytensor.function([], [], updates=rule_updates, mode="FAST_COMPILE")()


@pytest.mark.parametrize("rule", [updates.sgd, updates.momentum, updates.adam, updates.rmsprop])
def test_float64_hyperparameters_keep_float32_updates(rule):
    params = make_params()
    lr = pytensor.shared(np.float64(0.01))
    extra = {"momentum": pytensor.shared(np.float64(0.9))} if rule is updates.momentum else {}
    if rule is updates.adam:
        extra = {"beta1": np.float64(0.9), "epsilon": np.float64(1e-8)}
    rule_updates = rule(quadratic_loss(params), params, learning_rate=lr, **extra)
    for var, value in rule_updates.items():
        assert value.type.dtype == var.type.dtype
    pytensor.function([], [], updates=rule_updates, mode="FAST_COMPILE")()


def test_float64_gradients_are_cast_to_the_parameter_dtype():
    params = make_params()
    grads = [pt.cast(g, "float64") for g in pytensor.grad(quadratic_loss(params), params)]
    rule_updates = updates.nesterov_momentum(grads, params, learning_rate=0.1)
    assert all(value.dtype == "float32" for value in rule_updates.values())


def test_apply_momentum_to_a_subset_of_parameters():
    params = make_params()
    sgd_updates = updates.sgd(quadratic_loss(params), params, learning_rate=0.1)
    with_momentum = updates.apply_momentum(sgd_updates, params[:1], momentum=0.5)
    assert len(with_momentum) == 3
    assert with_momentum[params[1]] is sgd_updates[params[1]]
    assert list(sgd_updates) == params  # the input is not modified
    step = pytensor.function([], [], updates=with_momentum, mode="FAST_COMPILE")
    expected = [v.astype(np.float64) for v in INITIAL_VALUES]
    velocity = np.zeros_like(expected[0])
    for _ in range(3):
        step()
        grads = numpy_gradients(expected)
        velocity = 0.5 * velocity - 0.1 * grads[0]
        expected = [expected[0] + velocity, expected[1] - 0.1 * grads[1]]
        for param, value in zip(params, expected):
            np.testing.assert_allclose(param.get_value(), value, rtol=2e-5, atol=2e-6)


def test_apply_nesterov_momentum_to_another_rule():
    params = make_params()
    lr, rho, epsilon, momentum = 0.05, 0.9, 1e-6, 0.7
    rule_updates = updates.apply_nesterov_momentum(
        updates.rmsprop(quadratic_loss(params), params, learning_rate=lr), params, momentum=momentum
    )
    step = pytensor.function([], [], updates=rule_updates, mode="FAST_COMPILE")
    expected = [v.astype(np.float64) for v in INITIAL_VALUES]
    states = [{} for _ in params]
    for t in range(1, 4):
        step()
        for i, g in enumerate(numpy_gradients(expected)):
            rmsprop_step = ref_rmsprop(expected[i], g, states[i], t, lr, rho, epsilon) - expected[i]
            states[i]["velocity"] = momentum * zeros(states[i], "velocity", g) + rmsprop_step
            expected[i] = expected[i] + momentum * states[i]["velocity"] + rmsprop_step
        for param, value in zip(params, expected):
            np.testing.assert_allclose(param.get_value(), value, rtol=2e-5, atol=2e-6)


def test_different_learning_rates_for_parameter_groups():
    """The pattern from the module docstring: two groups, one at a tenth of
    the learning rate, on a quadratic where both groups start alike."""
    start = np.full(4, 2.0, dtype=np.float32)
    new_params = [pytensor.shared(start.copy(), name="new")]
    old_params = [pytensor.shared(start.copy(), name="old")]
    loss = sum(pt.sum(pt.sqr(p - 1.0)) for p in new_params + old_params)
    lr = pytensor.shared(floatX(0.05))

    rule_updates = updates.nesterov_momentum(loss, new_params, learning_rate=lr)
    rule_updates.update(updates.nesterov_momentum(loss, old_params, learning_rate=0.1 * lr))

    step = pytensor.function([], [], updates=rule_updates, mode="FAST_COMPILE")
    group_lrs = {"new": 0.05, "old": 0.005}
    expected = {name: start.astype(np.float64) for name in group_lrs}
    states = {name: {} for name in group_lrs}
    for t in range(1, 5):
        step()
        for param in new_params + old_params:
            value = expected[param.name]
            value = ref_nesterov_momentum(value, 2 * (value - 1.0), states[param.name], t, group_lrs[param.name], 0.9)
            expected[param.name] = value
            np.testing.assert_allclose(param.get_value(), value, rtol=1e-5)
        if t == 1:
            moved_new = start - new_params[0].get_value()
            moved_old = start - old_params[0].get_value()
            assert (moved_new > 0).all()
            np.testing.assert_allclose(moved_old / moved_new, 0.1, rtol=1e-5)


@pytest.mark.parametrize(
    "mode",
    [pytest.param(None, id="default-numba"), pytest.param("JAX", id="jax")],
)
def test_rule_compiles_and_runs_with_backend(mode):
    if mode == "JAX":
        pytest.importorskip("jax")
    rule, reference, learning_rate, hyperparameters = RULES[RULE_IDS.index("adam")]
    run_and_compare(rule, reference, learning_rate, hyperparameters, mode=mode)


def test_error_for_parameter_that_is_not_shared():
    shared = pytensor.shared(np.ones(2, dtype="float32"), name="W")
    expression = 2 * shared
    with pytest.raises(ValueError, match=r"params must contain shared variables only.*position 1.*collect_shared_vars"):
        updates.sgd(pt.sum(expression), [shared, expression], learning_rate=0.1)


def test_error_for_gradient_count_mismatch():
    params = make_params()
    with pytest.raises(ValueError, match="got 1 gradient expressions for 2 parameters"):
        updates.adam([pt.zeros(3)], params)


def test_get_or_compute_grads():
    params = make_params()
    loss = quadratic_loss(params)
    grads = updates.get_or_compute_grads(loss, params)
    values = pytensor.function([], grads, mode="FAST_COMPILE")()
    for value, expected in zip(values, numpy_gradients(INITIAL_VALUES)):
        np.testing.assert_allclose(value, expected, rtol=1e-6)
    given = [pt.zeros(3), pt.zeros((2, 4))]
    assert updates.get_or_compute_grads(tuple(given), params) == given


# norm constraints


def numpy_norm_constraint(x, max_norm, axes, epsilon=1e-7):
    norms = np.sqrt((x.astype(np.float64) ** 2).sum(axis=axes, keepdims=True))
    return x * (np.clip(norms, 0, max_norm) / (epsilon + norms))


@pytest.mark.parametrize(
    "shape, norm_axes, default_axes",
    [((10, 6), None, (0,)), ((4, 3, 2, 2), None, (1, 2, 3)), ((5, 4, 3), None, (1, 2)), ((10, 6), (1,), (1,))],
)
def test_norm_constraint_matches_numpy(shape, norm_axes, default_axes):
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    var = pt.tensor(dtype="float32", shape=(None,) * len(shape))
    constrained = updates.norm_constraint(var, 2.0, norm_axes=norm_axes)
    result = constrained.eval({var: x}, mode="FAST_COMPILE")
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, numpy_norm_constraint(x, 2.0, default_axes), rtol=1e-5)
    assert compute_norms(result, norm_axes=default_axes).max() <= 2.0 + 1e-5
    small = (x * 1e-3).astype(np.float32)
    np.testing.assert_allclose(constrained.eval({var: small}, mode="FAST_COMPILE"), small, rtol=1e-4)


def test_norm_constraint_as_update():
    W = pytensor.shared(floatX(rng.standard_normal((20, 30))))
    max_norm = pytensor.shared(floatX(5.0))
    step = pytensor.function([], [], updates=[(W, updates.norm_constraint(W + 10, max_norm))], mode="FAST_COMPILE")
    step()
    np.testing.assert_allclose(compute_norms(W.get_value()), 5.0, rtol=1e-5)


def test_norm_constraint_needs_axes_for_other_dimensionalities():
    with pytest.raises(ValueError, match="no default norm axes for a 1-d tensor; give norm_axes"):
        updates.norm_constraint(pt.vector(), 1.0)


@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_total_norm_constraint_matches_numpy(max_norm):
    arrays = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    variables = [pt.tensor(dtype="float32", shape=(None,) * len(s)) for s in SHAPES]
    scaled, norm = updates.total_norm_constraint(variables, max_norm, return_norm=True)
    fn = pytensor.function(variables, [*scaled, norm], mode="FAST_COMPILE")
    *results, norm_value = fn(*arrays)
    total = np.sqrt(sum((a.astype(np.float64) ** 2).sum() for a in arrays))
    np.testing.assert_allclose(norm_value, total, rtol=1e-6)
    multiplier = min(total, max_norm) / (1e-7 + total)
    for result, array in zip(results, arrays):
        assert result.dtype == np.float32
        np.testing.assert_allclose(result, array * multiplier, rtol=1e-5)
    assert len(updates.total_norm_constraint(variables, max_norm)) == 2
