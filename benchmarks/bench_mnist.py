#!/usr/bin/env python
"""Speed of the MNIST ``cnn`` of ``examples/mnist.py``: convnet against PyTorch (CPU).

Measures, in one run, with the same thread count for both:

Both use every core: convnet through Numba's and BLAS's thread pools,
PyTorch through ``torch.set_num_threads(os.cpu_count())``.

* the training step (forward, backward, Nesterov-momentum update) on a batch
  of 500, and inference on a batch of 500, in ms/batch (median of repeats),
  and the ratio convnet / PyTorch (< 1 means convnet is faster).  PyTorch runs
  in processes of its own, twice: as a PyTorch script runs, and with glibc's
  malloc set as ``import convnet`` sets it (``M_MMAP_THRESHOLD`` and
  ``M_TRIM_THRESHOLD`` 1 GiB, see :mod:`convnet.config`), which PyTorch
  gains from as much as convnet does;
* convnet's compile time for the training function, each in a fresh process:
  cold (empty caches, as on a first run), graph (convnet's kernels cached, no
  compiled graph: a new network) and warm (caches filled).

Usage::

    python benchmarks/bench_mnist.py [--repeats 20] [--no-compile-times]

PyTorch is optional (``pip install torch==2.13.0``); without it only convnet's
numbers are printed.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
BATCH = 500


def median_ms(fn, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def make_batch(seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((BATCH, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, BATCH).astype("int32")


def examples_mnist():
    """The module ``examples/mnist.py``."""
    sys.path.insert(0, str(EXAMPLES))
    import mnist  # noqa: E402

    return mnist


def time_convnet(repeats):
    from convnet.linker import compiler

    X, y = make_batch()
    mnist = examples_mnist()
    train_fn, val_fn = mnist.compile_functions(mnist.build_cnn(), learning_rate=0.1)
    # The steady state: on the CPU linker, every node compiled (new nodes
    # compile in the background while the first steps run on NumPy).
    train_fn(X, y), val_fn(X, y)
    compiler.wait()
    return {"train": median_ms(lambda: train_fn(X, y), repeats), "infer": median_ms(lambda: val_fn(X, y), repeats)}


def time_torch(repeats, threads):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(512, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 10),
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    X, y = (torch.from_numpy(a) for a in make_batch())
    y = y.long()

    def train_step():
        model.train()
        optimizer.zero_grad()
        loss = F.cross_entropy(model(X), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    def infer():
        model.eval()
        with torch.no_grad():
            out = model(X)
            return F.cross_entropy(out, y).item(), (out.argmax(1) == y).float().mean().item()

    return {"train": median_ms(train_step, repeats), "infer": median_ms(infer, repeats)}


def torch_child(repeats, threads):
    """In a process without convnet: PyTorch's times, as JSON."""
    print(json.dumps(time_torch(repeats, threads)))


def measure_torch(repeats, threads, malloc_like_convnet):
    """PyTorch's times in a fresh process, or None without PyTorch."""
    env = dict(os.environ)
    if malloc_like_convnet:
        env.update(MALLOC_MMAP_THRESHOLD_=str(1 << 30), MALLOC_TRIM_THRESHOLD_=str(1 << 30))
    done = subprocess.run([sys.executable, __file__, "--torch-child", "--repeats", str(repeats)], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        if "No module named 'torch'" in done.stderr:
            return None
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def compile_time_child():
    """In a fresh process: seconds to import convnet, build the network and its
    training function and make the function's first call, less one step."""
    X, y = make_batch()
    start = time.perf_counter()
    mnist = examples_mnist()
    train_fn = mnist.compile_training_function(mnist.build_cnn(), learning_rate=0.1)
    train_fn(X, y)
    first = time.perf_counter() - start
    step = median_ms(lambda: train_fn(X, y), 3, warmup=0) / 1000
    print(json.dumps({"compile_s": first - step}))


def measure_compile_times():
    """Seconds to compile the training function in fresh processes: ``cold``
    with PyTensor's cache (compiled graphs, under ``base_compiledir``) and
    Numba's cache of convnet's kernels (``NUMBA_CACHE_DIR``) both empty, as on
    a first run after installing; ``graph`` with the kernels cached but no
    compiled graph, as for a new network; ``warm`` with both caches filled."""
    with tempfile.TemporaryDirectory() as cache:
        results = {}
        for name, graph_cache in (("cold", "first"), ("graph", "second"), ("warm", "second")):
            env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={cache}/{graph_cache}",
                   "NUMBA_CACHE_DIR": f"{cache}/numba"}
            out = subprocess.run([sys.executable, __file__, "--compile-child"], env=env, capture_output=True,
                                 text=True, check=True).stdout
            results[name] = json.loads(out.strip().splitlines()[-1])["compile_s"]
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--no-compile-times", action="store_true")
    parser.add_argument("--compile-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compile_child:
        compile_time_child()
        return
    if args.torch_child:
        torch_child(args.repeats, os.cpu_count())
        return

    print(f"MNIST cnn, batch {BATCH}, {os.cpu_count()} threads, median of {args.repeats}")
    if not args.no_compile_times:
        seconds = measure_compile_times()
        print("convnet compile of the training function: cold {cold:.1f} s (empty caches), "
              "graph {graph:.1f} s (kernels cached), warm {warm:.1f} s".format(**seconds))
    ours = time_convnet(args.repeats)
    theirs = {"default": measure_torch(args.repeats, os.cpu_count(), False),
              "same malloc": measure_torch(args.repeats, os.cpu_count(), True)}
    if theirs["default"] is None:
        print("PyTorch is not installed: pip install torch==2.13.0 for the comparison")
        for key in ("train", "infer"):
            print(f"{key:>10} convnet {ours[key]:.1f} ms")
        return
    print(f"{'':>10} {'convnet ms':>11} {'PyTorch ms':>11} {'ratio':>6} {'PyTorch, same malloc ms':>24} {'ratio':>6}")
    for key in ("train", "infer"):
        default, tuned = theirs["default"][key], theirs["same malloc"][key]
        print(f"{key:>10} {ours[key]:>11.1f} {default:>11.1f} {ours[key] / default:>6.2f} {tuned:>24.1f} "
              f"{ours[key] / tuned:>6.2f}")


if __name__ == "__main__":
    main()
