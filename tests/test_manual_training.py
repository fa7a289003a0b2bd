"""The by-hand way of defining and training a network, end to end, on real
MNIST: get_output, a loss the user writes, get_all_params(trainable=True),
momentum updates with shared hyper-parameters, pytensor.function."""
import gzip

import numpy as np
import pytest
import pytensor
import pytensor.tensor as pt

import convnet
from convnet import layers, nonlinearities, updates, utils

# Trains on real MNIST end to end.
pytestmark = pytest.mark.slow


def read_mnist_slice(mnist_dir, count):
    with gzip.open(mnist_dir / "train-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16)[: count * 784]
    with gzip.open(mnist_dir / "train-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)[:count]
    return (images.reshape(count, 1, 28, 28) / np.float32(255)).astype("float32"), labels.astype("int32")


def smoothed_crossentropy(probabilities, targets):
    """A loss written by the user: cross-entropy with label smoothing."""
    smoothed = 0.9 * utils.one_hot(targets, 10) + 0.01
    return -pt.mean(pt.sum(smoothed * pt.log(probabilities + 1e-7), axis=1))


def test_train_by_hand_until_the_loss_falls(mnist_dir, mode):
    convnet.random.set_rng(np.random.RandomState(1))
    X, y = read_mnist_slice(mnist_dir, 600)

    l_in = layers.InputLayer((None, 1, 28, 28))
    net = layers.batch_norm(layers.Conv2DLayer(l_in, 8, (5, 5)))
    net = layers.MaxPool2DLayer(net, (2, 2))
    net = layers.DenseLayer(net, 30)
    net = layers.DenseLayer(net, 10, nonlinearity=nonlinearities.softmax)

    targets = pt.ivector("targets")
    loss = smoothed_crossentropy(layers.get_output(net), targets)

    params = layers.get_all_params(net, trainable=True)
    assert len(params) == 1 + 2 + 4  # conv W (its bias removed), BN beta and gamma, two dense W and b
    learning_rate = pytensor.shared(utils.floatX(0.05))
    momentum = pytensor.shared(utils.floatX(0.9))
    train = pytensor.function([l_in.input_var, targets], loss, mode=mode,
                              updates=updates.momentum(loss, params, learning_rate, momentum))
    test_prediction = layers.get_output(net, deterministic=True)
    test_loss = smoothed_crossentropy(test_prediction, targets)
    test_accuracy = pt.mean(pt.eq(test_prediction.argmax(axis=1), targets))
    test = pytensor.function([l_in.input_var, targets], [test_loss, test_accuracy], mode=mode)

    initial_loss, _ = test(X[500:], y[500:])
    losses = []
    for epoch in range(6):
        learning_rate.set_value(utils.floatX(0.05 * 0.8**epoch))
        losses.append(np.mean([train(X[i:i + 50], y[i:i + 50]) for i in range(0, 500, 50)]))
    final_loss, accuracy = test(X[500:], y[500:])
    assert losses[-1] < 0.6 * losses[0]
    assert final_loss < 0.6 * initial_loss
    assert accuracy > 0.7
