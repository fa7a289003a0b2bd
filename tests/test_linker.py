"""convnet's CPU linker (``CONVNET_CPU``, the default device): same numbers as
the reference Python thunks and PyTensor's Numba linker, NumPy for small
static nodes, and compiled nodes that a new graph or another process loads
from the cache instead of compiling."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import convnet
from convnet import layers, nonlinearities, objectives, updates
from convnet.linker import MODE_NAME, SMALL_STATIC_SIZE, _CompiledThunk, _TieredFunction


def _small_convnet(batch_norm=False):
    network = layers.InputLayer((None, 2, 10, 10))
    conv = layers.Conv2DLayer(network, 4, (3, 3), pad=1, nonlinearity=nonlinearities.leaky_rectify)
    network = layers.batch_norm(conv) if batch_norm else conv
    network = layers.MaxPool2DLayer(network, (2, 2))
    network = layers.Pool2DLayer(layers.Conv2DLayer(network, 3, (2, 2)), (2, 2), mode="average_exc_pad")
    network = layers.DenseLayer(layers.dropout(network, p=0.3), 7)
    return layers.DenseLayer(network, 3, nonlinearity=nonlinearities.softmax)


def _loss_and_grads(network, mode):
    input_var = layers.get_all_layers(network)[0].input_var
    targets = pt.ivector("targets")
    loss = objectives.categorical_crossentropy(layers.get_output(network, deterministic=True), targets).mean()
    params = layers.get_all_params(network, trainable=True)
    return pytensor.function([input_var, targets], [loss, *pytensor.grad(loss, params)], mode=mode)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_forward_and_every_gradient_equal_the_reference_and_numba(batch_norm):
    convnet.random.set_rng(np.random.RandomState(3))
    network = _small_convnet(batch_norm)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 2, 10, 10)).astype("float32")
    y = rng.integers(0, 3, 6).astype("int32")
    expected = _loss_and_grads(network, "FAST_COMPILE")(X, y)
    for mode in (MODE_NAME, "NUMBA"):
        results = _loss_and_grads(network, mode)(X, y)
        assert len(results) == len(expected)
        for result, reference in zip(results, expected):
            np.testing.assert_allclose(result, reference, rtol=2e-4, atol=2e-6)


def test_a_training_step_updates_parameters_as_the_reference_does():
    steps = {}
    for mode in ("FAST_COMPILE", MODE_NAME):
        convnet.random.set_rng(np.random.RandomState(5))
        network = _small_convnet(batch_norm=True)
        input_var = layers.get_all_layers(network)[0].input_var
        targets = pt.ivector("targets")
        prediction = layers.get_output(network, deterministic=True)
        loss = objectives.categorical_crossentropy(prediction, targets).mean()
        params = layers.get_all_params(network, trainable=True)
        train = pytensor.function([input_var, targets], loss, mode=mode,
                                  updates=updates.nesterov_momentum(loss, params, 0.1))
        rng = np.random.default_rng(1)
        for _ in range(3):
            train(rng.normal(size=(5, 2, 10, 10)).astype("float32"), rng.integers(0, 3, 5).astype("int32"))
        steps[mode] = [p.get_value() for p in params]
    for ours, reference in zip(steps[MODE_NAME], steps["FAST_COMPILE"]):
        np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-6)


def _thunk_kinds(function):
    """For each node of a compiled function: 'compiled', 'numpy' (a composite
    evaluated by NumPy) or 'perform'."""
    kinds = {}
    for thunk, node in zip(function.vm.thunks, function.vm.nodes):
        if not isinstance(thunk, _CompiledThunk):
            kinds[node] = "perform"
        elif isinstance(thunk.function, _TieredFunction):
            kinds[node] = "compiled"
        else:
            kinds[node] = "numpy"
    return kinds


def test_small_static_composites_run_as_numpy_and_large_ones_compiled():
    small = pytensor.shared(np.linspace(-2, 2, 12).astype("float32").reshape(3, 4), shape=(3, 4))
    big = pt.matrix("big")
    expressions = [
        # with a cast, a three-input product and a clip, which NumPy has in other forms
        pt.switch(small > 0, pt.exp(small) * 2 - 1, pt.log1p(small ** 2) * small * pt.clip(small, -1, 0.5)
                  ).astype("float64"),
        pt.switch(big > 0, pt.exp(big) * 2 - 1, pt.log1p(big ** 2)),
    ]
    ours = pytensor.function([big], expressions, mode=MODE_NAME)
    reference = pytensor.function([big], expressions, mode="FAST_COMPILE")
    value = np.linspace(-3, 3, 20).astype("float32").reshape(4, 5)
    for result, expected in zip(ours(value), reference(value)):
        assert result.dtype == expected.dtype and result.shape == expected.shape
        np.testing.assert_allclose(result, expected, rtol=1e-6)
    kinds = {str(node.outputs[0].type.shape): kind for node, kind in _thunk_kinds(ours).items()
             if "Composite" in str(node.op)}
    assert kinds == {"(3, 4)": "numpy", "(None, None)": "compiled"}
    assert 3 * 4 <= SMALL_STATIC_SIZE


def test_nodes_on_small_arrays_run_numpy_until_they_meet_large_ones(monkeypatch):
    monkeypatch.setattr(convnet.linker, "SMALL_RUNTIME_SIZE", 1000)
    x = pt.matrix("x")
    f = pytensor.function([x], [pt.exp(x) * 3 + pt.log1p(x), pt.sum(pt.sqr(x), axis=1)], mode=MODE_NAME)
    tiered = [t.function for t in f.vm.thunks if isinstance(t, _CompiledThunk)]
    assert len(tiered) == 2 and all(isinstance(t, _TieredFunction) for t in tiered)
    small = np.linspace(0.5, 2.0, 1000, dtype=x.dtype).reshape(20, 50)
    for result, expected in zip(f(small), (np.exp(small) * 3 + np.log1p(small), (small ** 2).sum(axis=1))):
        np.testing.assert_allclose(result, expected, rtol=1e-6)
    assert all(t.future is None and t.compiled is None for t in tiered)  # neither compiled nor loaded
    large = np.linspace(0.5, 2.0, 1001, dtype=x.dtype).reshape(7, 143)
    f(large)
    convnet.linker.compiler.wait()
    for result, expected in zip(f(large), (np.exp(large) * 3 + np.log1p(large), (large ** 2).sum(axis=1))):
        np.testing.assert_allclose(result, expected, rtol=1e-5)
    assert all(t.dispatcher is not None for t in tiered)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matrix_products_run_on_scipy_blas_and_equal_numpy(dtype):
    a, b = pt.matrix("a", dtype=dtype), pt.matrix("b", dtype=dtype)
    f = pytensor.function([a, b], pt.dot(a, b), mode=MODE_NAME)
    (thunk,) = [t for t in f.vm.thunks if isinstance(t, _CompiledThunk)]
    assert thunk.function.__name__ == "dot"  # SciPy's gemm, not Dot.perform (NumPy's BLAS)
    rng = np.random.default_rng(0)
    big = rng.random((9, 8)).astype(dtype)
    for left, right in [(big[:5, :3], big[:3, :4]), (big[::2], big[:8, ::2]), (big.T, big),
                        (big[:5, :0], big[:0, :4]), (big[:0], big.T)]:
        result = f(left, right)
        assert result.dtype == dtype and result.flags.c_contiguous
        np.testing.assert_allclose(result, left @ right, rtol=1e-6)


def test_broadcasting_composite_keeps_its_output_shape():
    # A composite whose output broadcasts beyond one input, with a constant output.
    a = pytensor.shared(np.arange(3, dtype="float32").reshape(3, 1), shape=(3, 1))
    b = pytensor.shared(np.arange(4, dtype="float32").reshape(1, 4), shape=(1, 4))
    f = pytensor.function([], [pt.exp(a) + b * 2, pt.sqr(a - b)], mode=MODE_NAME)
    g = pytensor.function([], [pt.exp(a) + b * 2, pt.sqr(a - b)], mode="FAST_COMPILE")
    for result, expected in zip(f(), g()):
        np.testing.assert_allclose(result, expected, rtol=1e-6)
        assert result.shape == (3, 4)


CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np, pytensor, pytensor.tensor as pt
    import convnet
    from convnet import layers, objectives, updates
    from convnet.linker import _CompiledThunk, _TieredFunction
    width = int(sys.argv[1])
    network = layers.InputLayer((None, 1, width, width))
    network = layers.MaxPool2DLayer(layers.Conv2DLayer(network, 8, (3, 3)), (2, 2))
    network = layers.DenseLayer(network, 4, nonlinearity=convnet.nonlinearities.softmax)
    input_var, targets = layers.get_all_layers(network)[0].input_var, pt.ivector()
    loss = objectives.categorical_crossentropy(layers.get_output(network), targets).mean()
    params = layers.get_all_params(network, trainable=True)
    train = pytensor.function([input_var, targets], loss, updates=updates.momentum(loss, params, 0.1))
    # Large enough for the convolution layer's nodes to run compiled (SMALL_RUNTIME_SIZE).
    batch = np.ones((64, 1, width, width), "float32"), np.zeros(64, "int32")
    train(*batch)
    tiered = [t.function for t in train.vm.thunks
              if isinstance(t, _CompiledThunk) and isinstance(t.function, _TieredFunction)]
    convnet.linker.compiler.wait()  # the nodes load or compile while the first batches run
    train(*batch)
    # Nodes met by the compiler, not loaded from the cache.
    compiled = sum(f.source == "compiler" for f in tiered)
    dispatchers = {id(t.function.dispatcher): t.function.dispatcher for t in train.vm.thunks
                   if isinstance(t, _CompiledThunk) and getattr(t.function, "dispatcher", None) is not None}
    stats = [d.stats for d in dispatchers.values()]
    print(json.dumps({"nodes": len(stats), "compiled": compiled, "misses": sum(sum(s.cache_misses.values()) for s in stats),
                      "hits": sum(sum(s.cache_hits.values()) for s in stats)}))
""")


@pytest.mark.parametrize("compile_process", ["1", "0"])
def test_another_process_and_a_resized_network_load_compiled_nodes_from_the_cache(tmp_path, compile_process):
    # A fresh PyTensor cache (the per-node functions); the pool kernels stay in
    # Numba's cache, where the rest of the suite put them.
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={tmp_path}/pytensor", "CONVNET_DEVICE": "cpu",
           "CONVNET_COMPILE_PROCESS": compile_process}

    def run(width):
        done = subprocess.run([sys.executable, "-c", CHILD, str(width)], env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    first = run(30)
    # Nodes of the same signature share one dispatcher, compiled once: by the
    # compile process, after which this process loads it from the disk cache,
    # or (CONVNET_COMPILE_PROCESS=0) in this process.
    assert first["nodes"] > 0 and first["compiled"] >= first["nodes"]
    if compile_process == "1":
        assert first["misses"] == 0 and first["hits"] == first["nodes"]
    else:
        assert first["misses"] == first["nodes"] and first["hits"] == 0
    # Another process, another image size: every node loads from the cache,
    # none goes to the compiler.
    again = run(34)
    assert again == {"nodes": first["nodes"], "compiled": 0, "misses": 0, "hits": first["nodes"]}


def test_a_compile_process_that_cannot_start_leaves_compiling_to_this_process(monkeypatch):
    from convnet import compile_process, linker

    monkeypatch.setattr(compile_process.sys, "executable", "/nonexistent/python")
    child = compile_process.CompileProcess()
    monkeypatch.setattr(linker.compiler, "child", child)
    x = pt.matrix("x")
    # A composite with a constant no earlier run used: a node new to the machine.
    scale = np.float32(1 + np.random.default_rng().random())
    f = pytensor.function([x], pt.exp(x) * scale + pt.log1p(x), mode=MODE_NAME)
    value = np.linspace(0.5, 2.0, 12, dtype=x.dtype).reshape(3, 4)
    f(value)
    linker.compiler.wait()
    assert child.failed and not child.running
    np.testing.assert_allclose(f(value), np.exp(value) * scale + np.log1p(value), rtol=1e-6)
    (tiered,) = [t.function for t in f.vm.thunks if isinstance(t, _CompiledThunk)]
    assert tiered.dispatcher is not None  # compiled here


def test_the_compile_process_reports_a_compile_error():
    from convnet.compile_process import CompileProcess

    child = CompileProcess()
    x = pt.matrix("x")
    node = pt.exp(x).owner
    try:
        with pytest.raises(RuntimeError, match="Exception|Error"):
            child.compile(node, ("not a Numba type",))
        assert child.running and not child.failed  # the child carries on
    finally:
        child.close()


def test_storage_the_vm_shares_between_variables_stays_consistent():
    # The VM lets variables whose lifetimes do not overlap share a storage
    # cell; compiled and NumPy thunks must read and write the cells the Ops'
    # own thunks were given (a squared hinge loss once read an empty cell).
    scores, targets = pt.matrix("scores"), pt.ivector("targets")
    correct = pt.sum(scores * convnet.utils.one_hot(targets, 4), axis=1, keepdims=True)
    hinge = pt.mean(pt.sum(pt.maximum(0.0, 1.0 + scores - correct) ** 2, axis=1) - 1.0)
    accuracy = pt.mean(pt.eq(pt.argmax(scores, axis=1), targets))
    rng = np.random.default_rng(0)
    values = rng.normal(size=(7, 4)).astype(scores.dtype), rng.integers(0, 4, 7).astype("int32")
    expected = pytensor.function([scores, targets], [hinge, accuracy], mode="FAST_COMPILE")(*values)
    function = pytensor.function([scores, targets], [hinge, accuracy], mode=MODE_NAME)
    for _ in range(2):
        for result, reference in zip(function(*values), expected):
            np.testing.assert_allclose(result, reference, rtol=1e-5)


def _in_place_nodes(function):
    return sorted(f"{node.op.scalar_op} {dict(node.op.destroy_map)}" for node in function.maker.fgraph.apply_nodes
                  if isinstance(node.op, pt.elemwise.Elemwise) and node.op.destroy_map)


def test_rewriting_makes_the_nodes_pytensor_would_in_place_and_overwrites_no_input():
    # convnet's in-place rewrite skips inputs that a later node still reads
    # and its Supervisor checks all protected variables at once: the same
    # nodes end up in place, and a function's own inputs are left alone.
    from pytensor.compile.mode import Mode
    from pytensor.graph.rewriting.db import RewriteDatabaseQuery

    from convnet.linker import CPULinker

    x, y = pt.matrix("x"), pt.matrix("y")
    a = pt.dot(x, y)
    b = pt.tanh(a) + 1  # a is read after b (by d, through c): b cannot overwrite it, d can
    c = pt.dot(b, y)
    d = a * c + 1
    outputs = [d, pt.dot(pt.exp(b), c) - 2, b]
    query = pytensor.compile.mode.get_mode(MODE_NAME)._optimizer
    pytensor_inplace = RewriteDatabaseQuery(
        include=[*query.include, "inplace_elemwise_optimizer"],
        exclude=[e for e in query.exclude if e != "inplace_elemwise_optimizer"] + ["convnet_cpu_inplace"])
    reference = pytensor.function([x, y], outputs, mode=Mode(linker=CPULinker(), optimizer=pytensor_inplace))
    function = pytensor.function([x, y], outputs, mode=MODE_NAME)
    assert _in_place_nodes(function) == _in_place_nodes(reference) != []

    rng = np.random.default_rng(0)
    values = [rng.random((4, 4)).astype(x.dtype) for _ in range(2)]
    copies = [value.copy() for value in values]
    for result, expected in zip(function(*values), reference(*copies)):
        np.testing.assert_allclose(result, expected, rtol=1e-6)
    for value, copy in zip(values, copies):
        np.testing.assert_array_equal(value, copy)
