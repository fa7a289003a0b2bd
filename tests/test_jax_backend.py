"""convnet's fixes to PyTensor's JAX backend, and its data-parallel mode."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import convnet  # noqa: F401  (registers convnet's JAX adjustments when PyTensor loads its JAX backend)

pytest.importorskip("jax")


def test_arange_of_a_shape_longer_than_int8():
    # PyTensor passes arange's constant bounds as int8 arrays; with jax 0.10
    # that failed with "Python integer 300 out of bounds for int8".
    x = pt.matrix("x")
    y = pt.ivector("y")
    picked = x[pt.arange(y.shape[0]), y]
    f = pytensor.function([x, y], picked, mode="JAX")
    values = np.arange(3000, dtype="float32").reshape(300, 10)
    labels = (np.arange(300) % 10).astype("int32")
    np.testing.assert_array_equal(f(values, labels), values[np.arange(300), labels])


def test_convnet_jax_mode_returns_numpy_and_keeps_updates_on_device():
    import jax

    w = pytensor.shared(np.ones(3, dtype="float32"))
    x = pt.vector("x")
    f = pytensor.function([x], [x * w, w.sum()], updates=[(w, 2 * w)], mode="CONVNET_JAX")
    out, total = f(np.arange(3, dtype="float32"))
    assert type(out) is np.ndarray and type(total) is np.ndarray
    np.testing.assert_array_equal(out, [0, 1, 2])
    assert isinstance(w.get_value(borrow=True, return_internal_type=True), jax.Array)
    np.testing.assert_array_equal(np.asarray(w.get_value()), [2, 2, 2])


def test_categorical_crossentropy_with_class_indices_differentiates_under_jax():
    # take_along_axis's gradient asked JAX for a shape holding a traced batch size.
    from convnet import objectives

    x, y = pt.matrix("x"), pt.ivector("y")
    w = pytensor.shared(np.ones((5, 3), dtype="float32"))
    loss = objectives.categorical_crossentropy(pt.special.softmax(x @ w, axis=-1), y).mean()
    f = pytensor.function([x, y], pytensor.grad(loss, w), mode="JAX")
    reference = pytensor.function([x, y], pytensor.grad(loss, w), mode="FAST_COMPILE")
    X = np.random.default_rng(0).random((4, 5), dtype=np.float32)
    labels = np.array([0, 2, 1, 2], dtype="int32")
    np.testing.assert_allclose(np.asarray(f(X, labels)), reference(X, labels), rtol=1e-5)


@pytest.mark.parametrize("batch_size", [
    lambda m, piece: piece.shape[0],  # inferred by Split as set_subtensor(m.shape[1], 2)[0]
    lambda m, piece: pt.maximum(m.shape[0], 1),
], ids=["split_shape", "shape_arithmetic"])
def test_alloc_takes_the_lengths_its_value_has_from_the_value(batch_size):
    # PyTensor computes these lengths with tensor operations, which JAX traces:
    # Alloc asked JAX for an array of traced shape (as in the gradient of a
    # concatenation of global poolings), and JAX refused.
    m = pt.tensor("m", shape=(None, 5))
    piece, _ = pt.split(m, [2, 3], n_splits=2, axis=1)
    y = pt.alloc(piece[:, :, None], batch_size(m, piece), 2, 4)
    f = pytensor.function([m], y, mode="JAX")
    values = np.arange(15, dtype="float32").reshape(3, 5)
    np.testing.assert_array_equal(np.asarray(f(values)), np.broadcast_to(values[:, :2, None], (3, 2, 4)))


# One training step of a small conv net with batch normalization, on one
# device (CONVNET_JAX) and data-parallel on two forced host devices
# (set_device("jax:all")), from the same parameters and the same global batch.
# XLA_FLAGS must be set before JAX starts, hence a fresh interpreter.
DATA_PARALLEL_STEP = r'''
import json
import jax
import numpy as np
import pytensor
import pytensor.tensor as pt
from convnet import config, jax_backend
from convnet.layers import Conv2DLayer, DenseLayer, InputLayer, batch_norm, get_all_params, get_output
from convnet.nonlinearities import softmax
from convnet.objectives import categorical_crossentropy
from convnet.updates import sgd

# Keep the optimized HLO of the first call of every function jax.jit makes.
hlo, real_jit = [], jax.jit
def spying_jit(fn, **kwargs):
    jitted = real_jit(fn, **kwargs)
    def call(*args):
        hlo.append(jitted.lower(*args).compile().as_text())
        return jitted(*args)
    return call
jax.jit = spying_jit

rng = np.random.default_rng(0)
X = rng.normal(size=(8, 1, 6, 6)).astype("float32")
y = rng.integers(0, 3, size=8).astype("int32")
net = InputLayer((None, 1, 6, 6))
net = batch_norm(Conv2DLayer(net, num_filters=4, filter_size=3))
net = DenseLayer(net, num_units=3, nonlinearity=softmax)
state = get_all_params(net)  # the trainable parameters and batch normalization's averages
start = [p.get_value() for p in state]
x_var, y_var = pt.tensor4("x"), pt.ivector("y")
loss = categorical_crossentropy(get_output(net, x_var), y_var).mean()
updates = sgd(loss, get_all_params(net, trainable=True), learning_rate=0.1)

def one_step():
    for p, value in zip(state, start):
        p.set_value(value)
    f = pytensor.function([x_var, y_var], loss, updates=updates)
    return f, float(f(X, y)), [p.get_value(borrow=True, return_internal_type=True) for p in state]

config.set_device("jax")
_, loss1, values1 = one_step()
config.set_device("jax:all")
train, loss2, values2 = one_step()
result = {
    "devices": len(jax.devices()),
    "names": [p.name for p in state],
    "loss_diff": abs(loss1 - loss2),
    "param_diffs": [float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(values1, values2)],
    "moved": [not np.array_equal(s, np.asarray(v)) for s, v in zip(start, values1)],
    "replicated": [v.sharding.is_fully_replicated for v in values2],
    "shard_devices": [sorted(s.device.id for s in v.addressable_shards) for v in values2],
    "shard_spread": [max(float(np.max(np.abs(np.asarray(s.data) - np.asarray(v.addressable_shards[0].data))))
                         for s in v.addressable_shards) for v in values2],
    "hlo": hlo[-1],
}
before = [np.asarray(p.get_value()) for p in state]
n_compiled = len(hlo)
try:
    train(X[:7], y[:7])
except jax_backend.BatchNotDivisibleError as e:
    result["call_error"] = str(e)
result["ran_after_error"] = len(hlo) != n_compiled
result["unchanged_after_error"] = all(np.array_equal(b, p.get_value()) for b, p in zip(before, state))
fixed = pt.tensor("fixed", shape=(5, 3))
try:
    pytensor.function([fixed], fixed.sum())
except jax_backend.BatchNotDivisibleError as e:
    result["compile_error"] = str(e)
print(json.dumps(result))
'''


@pytest.fixture(scope="module")
def data_parallel_step():
    env = {**{k: v for k, v in os.environ.items() if k not in ("CONVNET_DEVICE", "THEANO_FLAGS")},
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    done = subprocess.run([sys.executable, "-c", DATA_PARALLEL_STEP], capture_output=True, text=True, env=env,
                          cwd=Path(__file__).parents[1], timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_data_parallel_step_equals_one_device_step(data_parallel_step):
    result = data_parallel_step
    assert result["devices"] == 2
    assert all(result["moved"]), result["names"]  # every parameter and average took part in the step
    assert result["loss_diff"] < 1e-6
    # batch normalization's statistics are over the global batch: its averages match too
    assert max(result["param_diffs"]) < 1e-6, dict(zip(result["names"], result["param_diffs"]))
    # the batch was split in two (4 samples a device) and XLA summed over the devices
    assert "f32[4,1,6,6]" in result["hlo"] and "all-reduce" in result["hlo"]


def test_data_parallel_parameters_stay_in_step(data_parallel_step):
    result = data_parallel_step
    assert all(result["replicated"])
    assert all(devices == [0, 1] for devices in result["shard_devices"])
    assert max(result["shard_spread"]) == 0.0


def test_data_parallel_batch_that_does_not_divide_is_an_error_before_running(data_parallel_step):
    result = data_parallel_step
    message = result["call_error"]
    assert "input x has a batch of 7 samples" in message and "2 devices" in message
    assert not result["ran_after_error"] and result["unchanged_after_error"]
    assert "input fixed has a batch of 5 samples" in result["compile_error"]
