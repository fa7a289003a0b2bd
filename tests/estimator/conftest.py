"""Shared data and small nets for the NeuralNet tests (all compiled with
FAST_COMPILE: PyTensor's quick mode)."""
import numpy as np
import pytest

import convnet
from convnet.augmentation import BatchIterator
from convnet.datasets import load_mnist
from convnet.estimator import NeuralNet
from convnet.layers import DenseLayer, InputLayer
from convnet.nonlinearities import softmax

MODE = "FAST_COMPILE"


@pytest.fixture(autouse=True)
def seeded_rng():
    """Reproducible parameter initialisation; the global generator is restored afterwards."""
    previous = convnet.random.get_rng()
    convnet.random.set_rng(np.random.RandomState(0))
    yield
    convnet.random.set_rng(previous)


@pytest.fixture(scope="session")
def mnist():
    return load_mnist(sample=True)


def make_blobs(n=300, n_classes=3, n_features=4, seed=0):
    """Well separated Gaussian blobs: ``X`` (n, n_features) float32, ``y`` int32 labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (n_classes, n_features))
    y = np.arange(n) % n_classes
    X = centres[y] + rng.normal(0, 0.5, (n, n_features))
    return X.astype(np.float32), y.astype(np.int32)


@pytest.fixture
def blobs():
    return make_blobs()


def mlp(input_shape=(None, 4), n_hidden=16, n_classes=3, batch_size=32, **kwargs):
    """A declarative one-hidden-layer classifier; ``kwargs`` override its settings."""
    settings = dict(
        layers=[("input", InputLayer), ("hidden", DenseLayer), ("output", DenseLayer)],
        input_shape=input_shape,
        hidden_num_units=n_hidden,
        output_num_units=n_classes,
        output_nonlinearity=softmax,
        update_learning_rate=0.05,
        update_momentum=0.9,
        batch_iterator_train=BatchIterator(batch_size=batch_size, shuffle=True, seed=0),
        max_epochs=5,
        mode=MODE,
    )
    settings.update(kwargs)
    return NeuralNet(**settings)


def mnist_mlp(**kwargs):
    """A declarative classifier for MNIST images."""
    settings = dict(input_shape=(None, 1, 28, 28), n_hidden=32, n_classes=10, batch_size=128, max_epochs=3)
    return mlp(**{**settings, **kwargs})


@pytest.fixture
def make_mlp():
    """:func:`mlp`, the small declarative classifier factory."""
    return mlp


@pytest.fixture(scope="session")
def fitted_mnist_mlp(mnist):
    """An MNIST classifier trained for 3 epochs on the bundled sample (shared: do not train it further)."""
    previous = convnet.random.get_rng()
    convnet.random.set_rng(np.random.RandomState(0))
    try:
        return mnist_mlp().fit(mnist.X_train, mnist.y_train)
    finally:
        convnet.random.set_rng(previous)
