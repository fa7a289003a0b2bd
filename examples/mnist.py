#!/usr/bin/env python
"""Train a classifier on MNIST, the classic Lasagne way.

Three networks, as in Lasagne's MNIST tutorial:

* ``mlp``: 784 -> 800 -> 800 -> 10 with dropout (20 % on the input, 50 % on
  the hidden layers);
* ``custom_mlp:DEPTH,WIDTH,DROP_IN,DROP_HID``: any depth and width;
* ``cnn`` (default): Conv(32 5x5) -> MaxPool 2x2 -> Conv(32 5x5) -> MaxPool 2x2
  -> Dropout .5 -> Dense(256) -> Dropout .5 -> Dense(10, softmax).

Usage::

    python examples/mnist.py                       # the cnn, 5 epochs
    python examples/mnist.py mlp --epochs 20
    python examples/mnist.py custom_mlp:3,512,0.2,0.5 --lr 0.05
    python examples/mnist.py cnn --epochs 10 --save mnist_cnn.npz --mode jax

It trains on the full MNIST when it is found or can be downloaded (see
``convnet.datasets.load_mnist``) and on the bundled sample otherwise.
"""
import argparse
import time

import numpy as np
import pytensor
import pytensor.tensor as pt
from tqdm import tqdm

import convnet
from convnet import checkpoint, layers, nonlinearities, objectives, updates
from convnet.augmentation import BatchIterator, RandomCrop
from convnet.datasets import load_mnist


def build_mlp(input_var=None, depth=2, width=800, drop_input=0.2, drop_hidden=0.5):
    """An MLP of ``depth`` hidden layers of ``width`` rectified units."""
    network = layers.InputLayer((None, 1, 28, 28), input_var=input_var, name="input")
    if drop_input:
        network = layers.DropoutLayer(network, p=drop_input)
    for i in range(depth):
        network = layers.DenseLayer(network, width, nonlinearity=nonlinearities.rectify, name=f"hidden{i + 1}")
        if drop_hidden:
            network = layers.DropoutLayer(network, p=drop_hidden)
    return layers.DenseLayer(network, 10, nonlinearity=nonlinearities.softmax, name="output")


def build_cnn(input_var=None):
    """The classic two-convolution MNIST ConvNet."""
    network = layers.InputLayer((None, 1, 28, 28), input_var=input_var, name="input")
    network = layers.Conv2DLayer(network, num_filters=32, filter_size=(5, 5), name="conv1")
    network = layers.MaxPool2DLayer(network, pool_size=(2, 2), name="pool1")
    network = layers.Conv2DLayer(network, num_filters=32, filter_size=(5, 5), name="conv2")
    network = layers.MaxPool2DLayer(network, pool_size=(2, 2), name="pool2")
    network = layers.DenseLayer(layers.dropout(network, p=0.5), num_units=256, name="fc")
    return layers.DenseLayer(layers.dropout(network, p=0.5), num_units=10,
                             nonlinearity=nonlinearities.softmax, name="output")


def build_model(spec):
    """The network named by ``spec`` (``mlp``, ``cnn`` or ``custom_mlp:...``)."""
    if spec == "cnn":
        return build_cnn()
    if spec == "mlp":
        return build_mlp()
    if spec.startswith("custom_mlp:"):
        try:
            depth, width, drop_in, drop_hid = spec.split(":", 1)[1].split(",")
            return build_mlp(depth=int(depth), width=int(width), drop_input=float(drop_in),
                             drop_hidden=float(drop_hid))
        except ValueError as e:
            raise SystemExit(f"mnist.py: bad model {spec!r}: expected custom_mlp:DEPTH,WIDTH,DROP_IN,DROP_HID ({e})")
    raise SystemExit(f"mnist.py: unknown model {spec!r}: expected mlp, custom_mlp:... or cnn")


def compile_training_function(network, learning_rate, momentum=0.9):
    """The training function: one Nesterov-momentum step on a batch, returning its loss."""
    input_var = layers.get_all_layers(network)[0].input_var
    target_var = pt.ivector("targets")
    prediction = layers.get_output(network)
    loss = objectives.categorical_crossentropy(prediction, target_var).mean()
    params = layers.get_all_params(network, trainable=True)
    step = updates.nesterov_momentum(loss, params, learning_rate=learning_rate, momentum=momentum)
    return pytensor.function([input_var, target_var], loss, updates=step)


def compile_evaluation_function(network):
    """The deterministic evaluation function: loss and accuracy of a batch."""
    input_var = layers.get_all_layers(network)[0].input_var
    target_var = pt.ivector("targets")
    prediction = layers.get_output(network, deterministic=True)
    loss = objectives.categorical_crossentropy(prediction, target_var).mean()
    accuracy = objectives.categorical_accuracy(prediction, target_var).mean()
    return pytensor.function([input_var, target_var], [loss, accuracy])


def compile_functions(network, learning_rate, momentum=0.9):
    """The training function and the evaluation function."""
    return compile_training_function(network, learning_rate, momentum), compile_evaluation_function(network)


def training_batches(X, y, batch_size, augment=False, seed=0):
    """Shuffled mini-batches; with ``augment``, each image shifted by up to 2
    pixels in each direction (prepared in background threads)."""
    transform = RandomCrop(28, padding=2) if augment else None
    return BatchIterator(X, y, batch_size=batch_size, shuffle=True, transform=transform, seed=seed)


def train_epoch(train_fn, batches, desc="training"):
    """One pass over ``batches`` with a progress bar; the mean training loss."""
    total, count = 0.0, 0
    with tqdm(batches, total=len(batches), desc=desc, leave=False, disable=None, unit="batch") as bar:
        for Xb, yb in bar:
            loss = float(train_fn(Xb, yb))
            total += loss * len(yb)
            count += len(yb)
            bar.set_postfix(loss=f"{loss:.4f}")
    return total / count


def evaluate(val_fn, X, y, batch_size):
    """Mean loss and accuracy over ``X``, batch by batch (weighted by size)."""
    total_loss = total_acc = 0.0
    for Xb, yb in BatchIterator(X, y, batch_size=batch_size):
        loss, acc = val_fn(Xb, yb)
        total_loss += float(loss) * len(yb)
        total_acc += float(acc) * len(yb)
    return total_loss / len(y), total_acc / len(y)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", default="cnn",
                        help="mlp, custom_mlp:DEPTH,WIDTH,DROP_IN,DROP_HID or cnn (default)")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs (default 5)")
    parser.add_argument("--batch-size", type=int, default=500, help="mini-batch size (default 500)")
    parser.add_argument("--lr", type=float, default=0.1,
                        help="learning rate of Nesterov momentum 0.9 (default 0.1)")
    parser.add_argument("--data-dir", help="directory with the MNIST .gz files (else $CONVNET_DATA, the cache)")
    parser.add_argument("--sample", action="store_true", help="use the bundled 5,000-image sample")
    parser.add_argument("--augment", action="store_true",
                        help="random translations (up to 2 pixels) of the training images")
    parser.add_argument("--mode", choices=["cpu", "numba", "c", "jax", "cuda"], default=None,
                        help="where to compile: cpu (convnet's CPU linker, default), numba (PyTensor's whole-graph Numba linker), c, jax (XLA; GPU if visible), cuda")
    parser.add_argument("--save", metavar="FILE", help="write the trained parameters to FILE (.npz by layer name; reload with convnet.checkpoint.load_params)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.mode:
        convnet.config.set_device(args.mode)
    np.random.seed(args.seed)
    convnet.random.set_rng(np.random.RandomState(args.seed))

    data = load_mnist(data_dir=args.data_dir, sample=args.sample)
    print(f"Data: {len(data.y_train)} training, {len(data.y_val)} validation, {len(data.y_test)} test images"
          + (" (the bundled sample)" if data.is_sample else ""))

    network = build_model(args.model)
    print(f"Model {args.model}: {layers.count_params(network):,} parameters. Compiling...")
    start = time.perf_counter()
    train_fn, val_fn = compile_functions(network, learning_rate=args.lr)
    train_batches = training_batches(data.X_train, data.y_train, args.batch_size, args.augment, args.seed)
    print(f"Compiled in {time.perf_counter() - start:.1f} s (the first training call JIT-compiles).")

    print(f"{'epoch':>5} | {'train loss':>10} | {'valid loss':>10} | {'valid acc':>9} | {'time':>7}")
    print("-" * 56)
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        train_loss = train_epoch(train_fn, train_batches, desc=f"epoch {epoch}")
        val_loss, val_acc = evaluate(val_fn, data.X_val, data.y_val, args.batch_size)
        print(f"{epoch:>5} | {train_loss:>10.6f} | {val_loss:>10.6f} | {100 * val_acc:>8.2f}% | "
              f"{time.perf_counter() - start:>6.1f}s", flush=True)

    test_loss, test_acc = evaluate(val_fn, data.X_test, data.y_test, args.batch_size)
    print(f"Test loss {test_loss:.6f}, test accuracy {100 * test_acc:.2f} %")
    if args.save:
        checkpoint.save_params(network, args.save)
        print(f"Parameters written to {args.save}")
    return test_acc


if __name__ == "__main__":
    main()
