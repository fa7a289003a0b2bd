#!/usr/bin/env python
"""How long a new network waits for its first batch: compile times, each in a fresh process.

For each network, the time from a fresh interpreter to the end of the first
call of its training function (import, graph construction, compilation, the
first step), less one step at full speed, and the peak memory of that process:

* ``cold``: PyTensor's cache (``base_compiledir``) and Numba's cache
  (``NUMBA_CACHE_DIR``) empty, as on the first run after installing;
* ``new arch``: the caches filled by the first network, then a different one
  (MNIST: batch norm and leaky ReLU on conv1 and one more dense layer;
  ResNet: shortcut option B instead of A, which adds strided 1x1
  convolutions with batch norm);
* ``warm``: the first network again, everything cached, as in a joblib or
  Dask worker that meets a graph compiled before on the machine.

Networks: the MNIST ``cnn`` of ``examples/mnist.py`` (Nesterov momentum,
batch 500) and the CIFAR ResNet-32 of ``convnet.modelzoo`` (n=5, momentum and
L2, batch 128).  Then ``python examples/mnist.py --sample --epochs 5`` as on a
fresh install (empty caches), wall time.

Usage::

    python benchmarks/bench_compile.py [--device cpu|numba] [--nets mnist resnet32] [--no-example]
    python benchmarks/bench_compile.py --device numba   # PyTensor's whole-graph Numba linker, for comparison

Targets (issue 14, medians on the 2-core development machine): MNIST cold
<= 10 s, new arch <= 3 s, warm <= 1 s; ResNet-32 cold <= 30 s, new arch
<= 5 s, peak memory while compiling <= 2 GB; the example <= 20 s.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _mnist(variant):
    sys.path.insert(0, str(ROOT / "examples"))
    import mnist  # noqa: E402
    from convnet import layers, nonlinearities

    if variant == "first":
        network = mnist.build_cnn()
    else:
        network = layers.InputLayer((None, 1, 28, 28))
        network = layers.batch_norm(layers.Conv2DLayer(network, 32, (5, 5),
                                                       nonlinearity=nonlinearities.leaky_rectify))
        network = layers.MaxPool2DLayer(network, (2, 2))
        network = layers.MaxPool2DLayer(layers.Conv2DLayer(network, 32, (5, 5)), (2, 2))
        network = layers.DenseLayer(layers.dropout(network, p=0.5), 256)
        network = layers.DenseLayer(layers.dropout(network, p=0.5), 128)
        network = layers.DenseLayer(layers.dropout(network, p=0.5), 10, nonlinearity=nonlinearities.softmax)
    rng = np.random.default_rng(0)
    batch = (rng.random((500, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 500).astype("int32"))
    return mnist.compile_training_function(network, learning_rate=0.1), batch


def _resnet32(variant):
    import pytensor
    import pytensor.tensor as pt
    from convnet import layers, objectives, regularization, updates
    from convnet.modelzoo.resnet import resnet_cifar

    network = resnet_cifar(5, shortcut="A" if variant == "first" else "B")["prob"]
    input_var = layers.get_all_layers(network)[0].input_var
    target_var = pt.ivector("targets")
    loss = objectives.categorical_crossentropy(layers.get_output(network), target_var).mean()
    loss = loss + 1e-4 * regularization.regularize_network_params(network, regularization.l2)
    params = layers.get_all_params(network, trainable=True)
    step = updates.momentum(loss, params, learning_rate=0.1, momentum=0.9)
    train = pytensor.function([input_var, target_var], loss, updates=step)
    rng = np.random.default_rng(0)
    batch = (rng.random((128, 3, 32, 32), dtype=np.float32), rng.integers(0, 10, 128).astype("int32"))
    return train, batch


NETWORKS = {"mnist": _mnist, "resnet32": _resnet32}


def child(net, variant):
    """In a fresh process: compile seconds (first call included, one step
    at full speed excluded), the second step's and a full-speed step's
    seconds and peak memory, as JSON."""
    start = time.perf_counter()
    import convnet  # noqa: F401  (the device comes from $CONVNET_DEVICE)

    from convnet.linker import compiler

    train, batch = NETWORKS[net](variant)
    train(*batch)
    first = time.perf_counter() - start
    step_start = time.perf_counter()
    train(*batch)
    first_steps = time.perf_counter() - step_start
    # The CPU linker compiles new nodes in the background while the first
    # batches run on NumPy: then the time until every node runs compiled.
    compiler.wait()
    train(*batch)
    full = time.perf_counter() - start
    step_start = time.perf_counter()
    train(*batch)
    step = time.perf_counter() - step_start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # Less a step at full speed, not the second one: while nodes load or
    # compile the second step runs on NumPy too, and subtracting it would
    # flatter the figure.
    print(json.dumps({"compile_s": first - step, "first_step_s": first_steps,
                      "full_speed_s": full - step, "step_s": step, "peak_mb": peak_mb}))


def run_child(cache, device, net, variant):
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={cache}/pytensor",
           "NUMBA_CACHE_DIR": f"{cache}/numba", "CONVNET_DEVICE": device}
    done = subprocess.run([sys.executable, __file__, "--child", net, variant], env=env,
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{net} ({variant}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_network(device, net):
    with tempfile.TemporaryDirectory() as cache:
        return {
            "cold": run_child(cache, device, net, "first"),
            "new arch": run_child(cache, device, net, "second"),
            "warm": run_child(cache, device, net, "first"),
        }


def measure_example(device):
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={cache}/pytensor",
               "NUMBA_CACHE_DIR": f"{cache}/numba", "CONVNET_DEVICE": device}
        start = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "examples/mnist.py"), "--sample", "--epochs", "5"],
                       env=env, check=True, capture_output=True, cwd=cache)
        return time.perf_counter() - start


def byte_compile():
    """Write convnet's ``.pyc`` files, as ``pip install`` does: a checkout
    run with ``PYTHONDONTWRITEBYTECODE`` (as on the development machine)
    would otherwise compile every module's source at each start, 0.1 s that
    no installed copy spends."""
    import compileall

    compileall.compile_dir(ROOT / "convnet", quiet=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="convnet device: cpu (default) or numba")
    parser.add_argument("--nets", nargs="+", default=list(NETWORKS), choices=list(NETWORKS))
    parser.add_argument("--no-example", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    byte_compile()
    print(f"device={args.device}, {os.cpu_count()} cores; seconds from a fresh process to the first "
          "step's end, less one step")
    print(f"{'network':>10} {'case':>9} {'1st batch s':>11} {'2nd step ms':>11} {'full speed s':>12} "
          f"{'step ms':>8} {'peak MB':>8}")
    figures = {}
    for net in args.nets:
        figures[net] = measure_network(args.device, net)
        for case, result in figures[net].items():
            print(f"{net:>10} {case:>9} {result['compile_s']:>11.2f} {1000 * result['first_step_s']:>11.0f} "
                  f"{result['full_speed_s']:>12.1f} {1000 * result['step_s']:>8.0f} {result['peak_mb']:>8.0f}",
                  flush=True)
    if not args.no_example:
        figures["example_s"] = measure_example(args.device)
        print(f"python examples/mnist.py --sample --epochs 5, empty caches: {figures['example_s']:.1f} s wall")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
