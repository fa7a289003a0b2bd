#!/usr/bin/env python
"""Train a ConvNet by hand with a loss that is not one of convnet's built-ins.

The by-hand approach, step by step:

1. build the network from layers (with batch normalisation);
2. write the loss yourself: here a multiclass *squared* hinge loss on the
   network's linear outputs, plus an L2 weight penalty;
3. get the trainable parameters and momentum updates whose learning rate and
   momentum are shared variables, so a schedule can change them every epoch
   without recompiling;
4. compile a training function and a separate deterministic evaluation
   function (batch norm uses its running averages, dropout is off).

Runs in under a minute on the bundled MNIST sample::

    python examples/custom_loss.py --epochs 4
"""
import argparse
import time

import numpy as np
import pytensor
import pytensor.tensor as pt

import convnet
from convnet import layers, regularization, updates, utils
from convnet.augmentation import BatchIterator
from convnet.datasets import load_mnist


def build_network():
    """Input -> batch_norm(Conv 16 3x3) -> MaxPool -> batch_norm(Conv 32 3x3) -> MaxPool
    -> Dropout -> Dense(10, linear): the hinge loss wants unsquashed scores."""
    net = layers.InputLayer((None, 1, 28, 28), name="input")
    net = layers.batch_norm(layers.Conv2DLayer(net, 16, (3, 3), name="conv1"))
    net = layers.MaxPool2DLayer(net, (2, 2), name="pool1")
    net = layers.batch_norm(layers.Conv2DLayer(net, 32, (3, 3), name="conv2"))
    net = layers.MaxPool2DLayer(net, (2, 2), name="pool2")
    net = layers.DropoutLayer(net, p=0.3)
    return layers.DenseLayer(net, 10, nonlinearity=None, name="scores")


def squared_multiclass_hinge(scores, targets, margin=1.0):
    """Mean over the batch of sum_j max(0, margin + s_j - s_y)^2 for j != y."""
    correct = pt.sum(scores * utils.one_hot(targets, 10), axis=1, keepdims=True)
    violations = pt.maximum(0.0, margin + scores - correct) ** 2
    # The correct class contributes margin^2 exactly; remove it.
    return pt.mean(pt.sum(violations, axis=1) - margin**2)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Train a ConvNet with a custom loss.")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--full", action="store_true", help="use the full MNIST instead of the sample")
    args = parser.parse_args(argv)
    convnet.random.set_rng(np.random.RandomState(0))

    data = load_mnist(sample=not args.full)
    network = build_network()
    input_var = layers.get_all_layers(network)[0].input_var
    target_var = pt.ivector("targets")

    # The loss: our own hinge on the training-mode output, plus L2 on the weights.
    scores = layers.get_output(network)
    penalty = regularization.regularize_network_params(network, regularization.l2)
    loss = squared_multiclass_hinge(scores, target_var) + args.weight_decay * penalty

    # Shared hyper-parameters: the schedule below changes them between epochs.
    learning_rate = pytensor.shared(utils.floatX(0.002), name="learning_rate")
    momentum = pytensor.shared(utils.floatX(0.5), name="momentum")
    params = layers.get_all_params(network, trainable=True)
    train_fn = pytensor.function(
        [input_var, target_var], loss,
        updates=updates.momentum(loss, params, learning_rate=learning_rate, momentum=momentum))

    # Evaluation: deterministic output (running batch-norm statistics, no dropout).
    test_scores = layers.get_output(network, deterministic=True)
    accuracy = pt.mean(pt.eq(pt.argmax(test_scores, axis=1), target_var))
    eval_fn = pytensor.function([input_var, target_var], [squared_multiclass_hinge(test_scores, target_var), accuracy])

    batches = BatchIterator(data.X_train, data.y_train, batch_size=args.batch_size, shuffle=True, seed=0)
    for epoch in range(args.epochs):
        # Schedule: warm up the momentum, then decay the learning rate.
        momentum.set_value(utils.floatX(min(0.9, 0.5 + 0.2 * epoch)))
        learning_rate.set_value(utils.floatX(0.002 * 0.7**epoch))
        start = time.perf_counter()
        train_loss = np.mean([train_fn(Xb, yb) for Xb, yb in batches])
        val_loss, val_acc = eval_fn(data.X_val, data.y_val)
        print(f"epoch {epoch + 1}: lr {learning_rate.get_value():.4f} momentum {momentum.get_value():.2f} "
              f"train loss {train_loss:.4f} valid loss {float(val_loss):.4f} "
              f"valid acc {100 * float(val_acc):.2f} % ({time.perf_counter() - start:.1f} s)")
    test_loss, test_acc = eval_fn(data.X_test, data.y_test)
    print(f"test loss {float(test_loss):.4f}, test accuracy {100 * float(test_acc):.2f} %")
    return float(test_acc)


if __name__ == "__main__":
    main()
