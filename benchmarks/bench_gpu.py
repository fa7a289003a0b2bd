#!/usr/bin/env python
"""Training-step speed on a GPU: convnet (PyTensor's JAX linker, XLA) against
PyTorch eager CUDA (cuDNN), same architecture, optimizer and batch, same GPU,
same run.

Networks:

* ``mnist``: the ``cnn`` of ``examples/mnist.py``, batch 500;
* ``vgg16``: VGG-16 configuration D at 224x224, 1000 classes, batch 32.

Both use SGD with Nesterov momentum 0.9, float32. For each it prints the median
training-step time of each framework, the ratio convnet / PyTorch (< 1 means
convnet is faster) and the achieved TFLOP/s (counting 3x the forward FLOPs of
the convolutions and dense layers for a training step).

Usage (on a machine with a CUDA GPU, JAX with CUDA and PyTorch with CUDA)::

    python benchmarks/bench_gpu.py [--nets mnist vgg16] [--repeats 20]
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def forward_flops(network, batch):
    """Multiply-adds x 2 of the convolution and dense layers for one forward pass."""
    from convnet import layers

    total = 0
    for layer in layers.get_all_layers(network):
        if isinstance(layer, layers.Conv2DLayer):
            _, out_c, out_h, out_w = layer.output_shape
            in_c = layer.input_shape[1]
            kh, kw = layer.filter_size
            total += 2 * batch * out_c * out_h * out_w * in_c * kh * kw
        elif isinstance(layer, layers.DenseLayer):
            total += 2 * batch * int(np.prod(layer.input_shape[1:])) * layer.num_units
    return total


def median_seconds(step, repeats, warmup=3):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def build(name):
    """(network, batch size, number of classes, input shape) for a benchmark net."""
    if name == "mnist":
        sys.path.insert(0, str(EXAMPLES))
        import mnist  # noqa: E402  (examples/mnist.py)

        return mnist.build_cnn(), 500, 10, (1, 28, 28)
    from convnet.modelzoo import vgg16

    return vgg16(num_classes=1000)["prob"], 32, 1000, (3, 224, 224)


def time_convnet(network, batch, classes, shape, repeats):
    import pytensor
    import pytensor.tensor as pt

    import convnet
    from convnet import layers, objectives, updates

    convnet.config.set_device("cuda")
    input_var = layers.get_all_layers(network)[0].input_var
    targets = pt.ivector("targets")
    loss = objectives.categorical_crossentropy(layers.get_output(network), targets).mean()
    params = layers.get_all_params(network, trainable=True)
    train_fn = pytensor.function([input_var, targets], loss,
                                 updates=updates.nesterov_momentum(loss, params, 0.01, 0.9))
    rng = np.random.default_rng(0)
    X = rng.random((batch, *shape), dtype=np.float32)
    y = rng.integers(0, classes, batch).astype("int32")
    return median_seconds(lambda: train_fn(X, y), repeats)


def torch_model(name):
    import torch.nn as nn

    if name == "mnist":
        return nn.Sequential(
            nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(0.5), nn.Linear(512, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 10))
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    modules, channels = [], 3
    for v in cfg:
        if v == "M":
            modules.append(nn.MaxPool2d(2))
        else:
            modules += [nn.Conv2d(channels, v, 3, padding=1), nn.ReLU()]
            channels = v
    return nn.Sequential(*modules, nn.Flatten(), nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4096, 1000))


def time_torch(name, batch, classes, shape, repeats):
    import torch
    import torch.nn.functional as F

    torch.backends.cudnn.benchmark = True
    model = torch_model(name).cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    X = torch.rand((batch, *shape), device="cuda")
    y = torch.randint(0, classes, (batch,), device="cuda")

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(X), y)
        loss.backward()
        optimizer.step()
        torch.cuda.synchronize()

    return median_seconds(step, repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nets", nargs="+", default=["mnist", "vgg16"], choices=["mnist", "vgg16"])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(f"{'net':>6} {'batch':>5} {'convnet ms':>10} {'PyTorch ms':>10} {'ratio':>6} "
          f"{'convnet TFLOP/s':>15} {'PyTorch TFLOP/s':>15}")
    for name in args.nets:
        network, batch, classes, shape = build(name)
        flops = 3 * forward_flops(network, batch)
        ours = time_convnet(network, batch, classes, shape, args.repeats)
        theirs = time_torch(name, batch, classes, shape, args.repeats)
        print(f"{name:>6} {batch:>5} {1000 * ours:>10.2f} {1000 * theirs:>10.2f} {ours / theirs:>6.2f} "
              f"{flops / ours / 1e12:>15.1f} {flops / theirs / 1e12:>15.1f}", flush=True)


if __name__ == "__main__":
    main()
