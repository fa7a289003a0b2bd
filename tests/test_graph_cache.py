"""The disk cache of rewritten graphs behind the CPU linker: a graph of the
same structure restores the rewritten graph and computes the same numbers;
graphs that differ in any Op, constant, input type or wiring never share an
entry; damaged entries are misses; keys are the same in every process."""
import subprocess
import sys
import textwrap

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import convnet
from convnet import graph_cache, layers, nonlinearities, objectives, updates
from convnet.linker import MODE_NAME


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(graph_cache, "cache_dir", lambda: tmp_path)
    return tmp_path


def _entries(cache):
    return sorted(p.name for p in cache.glob("*.pkl"))


def _training_function(seed):
    convnet.random.set_rng(np.random.RandomState(seed))
    network = layers.InputLayer((None, 1, 8, 8))
    network = layers.batch_norm(layers.Conv2DLayer(network, 3, (3, 3)))
    network = layers.MaxPool2DLayer(network, (2, 2))
    network = layers.DenseLayer(layers.dropout(network, 0.2), 4, nonlinearity=nonlinearities.softmax)
    input_var, targets = layers.get_all_layers(network)[0].input_var, pt.ivector()
    loss = objectives.categorical_crossentropy(layers.get_output(network), targets).mean()
    params = layers.get_all_params(network, trainable=True)
    train = pytensor.function([input_var, targets], loss, mode=MODE_NAME,
                              updates=updates.nesterov_momentum(loss, params, 0.1))
    return train, params


def test_a_restored_training_function_computes_what_a_rewritten_one_does(cache, monkeypatch):
    # Every node compiled before its first call, in both runs: compiled code
    # and the NumPy fallback sum in different orders (float32 rounding).
    monkeypatch.setattr(convnet.linker.compiler, "background", False)
    restored = []
    restore = graph_cache.restore
    monkeypatch.setattr(graph_cache, "restore", lambda fgraph, key: restored.append(restore(fgraph, key))
                        or restored[-1])
    rng = np.random.default_rng(0)
    batches = [(rng.normal(size=(5, 1, 8, 8)).astype("float32"), rng.integers(0, 4, 5).astype("int32"))
               for _ in range(3)]
    results = []
    for _ in range(2):  # first rewritten and stored, then restored
        train, params = _training_function(seed=1)
        losses = [float(train(*batch)) for batch in batches]
        results.append((losses, [p.get_value() for p in params]))
        if not results[1:]:
            stored = _entries(cache)
            assert stored
    assert _entries(cache) == stored
    # The first build rewrote (no entry), the second restored every graph it compiled.
    assert not any(restored[:len(restored) // 2]) and all(restored[len(restored) // 2:])
    (losses, params), (restored_losses, restored_params) = results
    np.testing.assert_allclose(restored_losses, losses, rtol=1e-6)
    for value, restored in zip(params, restored_params):
        np.testing.assert_allclose(restored, value, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("variant", [
    lambda x: pt.exp(x) * 2,
    lambda x: pt.log1p(pt.abs(x)) * 2,   # another Op
    lambda x: pt.exp(x) * 3,             # another constant
    lambda x: 2 * pt.exp(x),             # other wiring
    lambda x: pt.exp(x).sum() * 2,       # another graph
])
def test_graphs_that_differ_never_share_an_entry(cache, variant):
    x = pt.matrix("x")
    reference = pytensor.function([x], pt.exp(x) * 2, mode=MODE_NAME)
    function = pytensor.function([x], variant(x), mode=MODE_NAME)
    value = np.linspace(-1, 1, 6).astype(x.dtype).reshape(2, 3)
    expected = pytensor.function([x], variant(x), mode="FAST_COMPILE")(value)
    np.testing.assert_allclose(function(value), expected, rtol=1e-6)
    np.testing.assert_allclose(reference(value), np.exp(value) * 2, rtol=1e-6)


def test_static_shapes_and_dtypes_are_part_of_the_key(cache):
    keys = set()
    for variable in (pt.matrix("x"), pt.tensor("x", shape=(2, 3)), pt.dmatrix("x"), pt.tensor3("x")):
        function = pytensor.function([variable], pt.exp(variable), mode=MODE_NAME)
        keys.add(graph_cache.graph_key(function.maker.fgraph))
    assert len(_entries(graph_cache.cache_dir())) == 4


def test_a_damaged_entry_is_a_miss(cache):
    x = pt.vector("x")
    pytensor.function([x], pt.exp(x) + 1, mode=MODE_NAME)
    (entry,) = cache.glob("*.pkl")
    entry.write_bytes(b"not a pickle")
    function = pytensor.function([x], pt.exp(x) + 1, mode=MODE_NAME)
    np.testing.assert_allclose(function(np.zeros(2, x.dtype)), [2, 2])
    assert entry.read_bytes() != b"not a pickle"  # rewritten and stored again


KEYS_OF_A_NETWORK = textwrap.dedent("""
    import sys, tempfile
    from pathlib import Path
    import pytensor, pytensor.tensor as pt
    import convnet
    from convnet import graph_cache, layers, objectives, nonlinearities, updates
    directory = Path(tempfile.mkdtemp())
    graph_cache.cache_dir = lambda: directory
    network = layers.InputLayer((None, 1, 8, 8))
    network = layers.MaxPool2DLayer(layers.Conv2DLayer(network, 3, (3, 3)), (2, 2))
    network = layers.DenseLayer(layers.dropout(network, 0.5), 4, nonlinearity=nonlinearities.softmax)
    input_var, targets = layers.get_all_layers(network)[0].input_var, pt.ivector()
    loss = objectives.categorical_crossentropy(layers.get_output(network), targets).mean()
    params = layers.get_all_params(network, trainable=True)
    pytensor.function([input_var, targets], loss, updates=updates.adam(loss, params), mode="CONVNET_CPU")
    print(sorted(p.name for p in directory.glob("*.pkl")))
""")


def test_keys_are_the_same_in_every_process():
    keys = {subprocess.run([sys.executable, "-c", KEYS_OF_A_NETWORK], capture_output=True, text=True,
                           check=True, timeout=300).stdout.strip() for _ in range(2)}
    assert len(keys) == 1 and ".pkl" in keys.pop()
