#!/usr/bin/env python
"""Speed of convnet's conv2d and max-pool Ops against PyTorch (CPU), per layer shape.

For each shape, one call computes the forward pass and the backward pass
(gradients with respect to the input, and to the filters for convolutions)
of ``sum(op(x) * g)`` for a fixed ``g``:

* convnet: one ``pytensor.function`` in the default mode (Numba linker);
* PyTorch: ``torch.nn.functional.conv2d`` / ``max_pool2d`` and ``torch.autograd.grad``.

The shapes are the layers of the classic MNIST ConvNet (batch 500) and three
VGG-16 layers (batch 8).  Both libraries get every core: convnet through
Numba's threads, each running single-threaded GEMMs (im2col or direct) on its share of
the blocks (as many as BLAS is allowed threads), PyTorch through
``torch.set_num_threads(os.cpu_count())``.  Calls alternate between the
libraries and the median of the repeats is reported, with the work rate
(GFLOP/s: two per multiply-add of the convolution and of each gradient; for
pools one per window element read, forward and backward) and the ratio
convnet / PyTorch (< 1: convnet is faster).  convnet's compilation is timed
apart ("JIT"): ``pytensor.function`` plus the extra time of the first call,
which on an empty PyTensor/Numba cache includes Numba's compilation.

With ``threadpoolctl`` installed, convnet is also timed with BLAS limited to
one thread ("1 BLAS thread"), which makes its convolutions single-threaded.

Usage::

    python benchmarks/bench_ops.py [--quick] [--repeats N] [--only NAME ...]

PyTorch and threadpoolctl are optional; the columns they need are left out
without them.
"""
import argparse
import os
import time

import numpy as np

# (name, input shape, filter shape, padding)
CONV_SHAPES = [
    ("mnist conv1", (500, 1, 28, 28), (32, 1, 5, 5), 0),
    ("mnist conv2", (500, 32, 12, 12), (32, 32, 5, 5), 0),
    ("vgg conv1_2", (8, 64, 224, 224), (64, 64, 3, 3), 1),
    ("vgg conv2_2", (8, 128, 112, 112), (128, 128, 3, 3), 1),
    ("vgg conv3_2", (8, 256, 56, 56), (256, 256, 3, 3), 1),
]
# (name, input shape, pool size)
POOL_SHAPES = [
    ("mnist pool1", (500, 32, 24, 24), 2),
    ("mnist pool2", (500, 32, 8, 8), 2),
]


def conv_gflop(input_shape, filter_shape, pad):
    """GFLOP of a convolution's forward pass and both gradients (3 equal GEMMs)."""
    batch, channels, height, width = input_shape
    out_channels, _, rows, cols = filter_shape
    out_pixels = (height + 2 * pad - rows + 1) * (width + 2 * pad - cols + 1)
    return 3 * 2 * batch * out_channels * out_pixels * channels * rows * cols / 1e9


def pool_gop(input_shape):
    """G window elements read by a non-overlapping pool's forward and backward passes."""
    return 2 * np.prod(input_shape) / 1e9


class Case:
    """One shape: its inputs and the functions computing output and gradients."""

    def __init__(self, name, kind, inputs, work, convnet_fn, torch_fn):
        self.name, self.kind, self.inputs, self.work = name, kind, inputs, work
        self.convnet_fn, self.torch_fn = convnet_fn, torch_fn


def convnet_conv(pad):
    import pytensor
    import pytensor.tensor as pt

    from convnet.ops.conv import conv2d

    x, w, g = pt.tensor4("x"), pt.tensor4("w"), pt.tensor4("g")
    y = conv2d(x, w, border_mode=pad, filter_flip=False)  # PyTorch's conv2d does not flip
    return pytensor.function([x, w, g], [y] + pytensor.grad((y * g).sum(), [x, w]))


def convnet_pool(size):
    import pytensor
    import pytensor.tensor as pt

    from convnet.ops import pool2d

    x, g = pt.tensor4("x"), pt.tensor4("g")
    y = pool2d(x, (size, size), ignore_border=True, mode="max")
    return pytensor.function([x, g], [y, pytensor.grad((y * g).sum(), x)])


def torch_conv(pad):
    import torch

    def run(x, w, g):
        x, w = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
        y = torch.nn.functional.conv2d(x, w, padding=pad)
        return (y, *torch.autograd.grad(y, (x, w), torch.from_numpy(g)))

    return run


def torch_pool(size):
    import torch

    def run(x, g):
        x = torch.from_numpy(x).requires_grad_()
        y = torch.nn.functional.max_pool2d(x, size)
        return (y, *torch.autograd.grad(y, (x,), torch.from_numpy(g)))

    return run


def build_cases(names, with_torch):
    rng = np.random.default_rng(0)
    cases = []
    for name, input_shape, filter_shape, pad in CONV_SHAPES:
        if names and name not in names:
            continue
        out_hw = [s + 2 * pad - k + 1 for s, k in zip(input_shape[2:], filter_shape[2:])]
        inputs = [rng.standard_normal(s, dtype=np.float32)
                  for s in (input_shape, filter_shape, (input_shape[0], filter_shape[0], *out_hw))]
        cases.append(Case(name, "conv", inputs, conv_gflop(input_shape, filter_shape, pad),
                          lambda p=pad: convnet_conv(p),
                          torch_conv(pad) if with_torch else None))
    try:
        import convnet.ops  # noqa: F401  (pool2d lives with conv2d in convnet.ops)
    except ImportError as error:
        print(f"# pooling skipped: convnet.ops does not import ({error})")
        return cases
    for name, input_shape, size in POOL_SHAPES:
        if names and name not in names:
            continue
        out_shape = input_shape[:2] + tuple(s // size for s in input_shape[2:])
        inputs = [rng.standard_normal(s, dtype=np.float32) for s in (input_shape, out_shape)]
        cases.append(Case(name, "pool", inputs, pool_gop(input_shape),
                          lambda s=size: convnet_pool(s), torch_pool(size) if with_torch else None))
    return cases


def timed(fn, *args, blas_threads=None):
    """Seconds taken by ``fn(*args)``, with BLAS limited to ``blas_threads`` if given."""
    if blas_threads is None:
        start = time.perf_counter()
        fn(*args)
        return time.perf_counter() - start
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=blas_threads, user_api="blas"):
        return timed(fn, *args)


def check_agreement(case, convnet_fn):
    ours = convnet_fn(*case.inputs)
    theirs = [t.detach().numpy() for t in case.torch_fn(*case.inputs)]
    for a, b in zip(ours, theirs):
        scale = np.abs(b).max()
        if a.shape != b.shape or np.abs(a - b).max() > 1e-3 * scale:
            raise AssertionError(f"{case.name}: convnet and PyTorch disagree")


def run_case(case, repeats, with_threadpoolctl):
    """``(JIT seconds, {timing name: median seconds})`` of one shape.  The JIT time
    is the compilation plus what the first call takes beyond a usual one."""
    start = time.perf_counter()
    convnet_fn = case.convnet_fn()
    convnet_fn(*case.inputs)
    first_call_s = time.perf_counter() - start
    runs = {"convnet": lambda: timed(convnet_fn, *case.inputs)}
    if case.torch_fn is not None:
        check_agreement(case, convnet_fn)
        runs["torch"] = lambda: timed(case.torch_fn, *case.inputs)
    if with_threadpoolctl:
        runs["convnet 1 BLAS thread"] = lambda: timed(convnet_fn, *case.inputs, blas_threads=1)
    for run in runs.values():  # warm-up
        run()
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            times[name].append(run())
    medians = {name: float(np.median(t)) for name, t in times.items()}
    return max(first_call_s - medians["convnet"], 0.0), medians


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    parser.add_argument("--repeats", type=int, help="timed calls per shape and library")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="shapes to run, e.g. 'vgg conv1_2'")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 7)

    threads = os.cpu_count()
    try:
        import torch

        torch.set_num_threads(threads)
        with_torch = True
    except ImportError:
        print("# PyTorch not installed: no comparison")
        with_torch = False
    try:
        import threadpoolctl  # noqa: F401
        with_threadpoolctl = True
    except ImportError:
        print("# threadpoolctl not installed: no timing with 1 BLAS thread")
        with_threadpoolctl = False

    print(f"# {threads} threads, float32, median of {repeats}, forward + backward per call")
    header = f"{'shape':<13} {'convnet ms':>10} {'G(FL)OP/s':>9} {'JIT s':>6}"
    if with_torch:
        header += f" {'torch ms':>9} {'G(FL)OP/s':>9} {'ratio':>6}"
    if with_threadpoolctl:
        header += f" | {'1 BLAS thread: ms':>17} {'G(FL)OP/s':>9}"
        if with_torch:
            header += f" {'ratio':>6}"
    print(header)
    for case in build_cases(args.only, with_torch):
        jit_s, seconds = run_case(case, repeats, with_threadpoolctl)
        ours = seconds["convnet"]
        line = f"{case.name:<13} {1000 * ours:10.1f} {case.work / ours:9.1f} {jit_s:6.2f}"
        if with_torch:
            theirs = seconds["torch"]
            line += f" {1000 * theirs:9.1f} {case.work / theirs:9.1f} {ours / theirs:6.2f}"
        if with_threadpoolctl:
            single = seconds["convnet 1 BLAS thread"]
            line += f" | {1000 * single:17.1f} {case.work / single:9.1f}"
            if with_torch:
                line += f" {single / seconds['torch']:6.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
