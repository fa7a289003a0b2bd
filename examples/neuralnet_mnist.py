"""Train a small convolutional network on MNIST with the declarative
:class:`convnet.estimator.NeuralNet`, then tune two of its hyperparameters
with scikit-learn's randomized search (2 candidates, 2-fold cross-validation).

Uses the full MNIST when it is available (``load_mnist`` downloads it into
the cache directory) and the 6,000-image sample shipped with convnet
otherwise, or with ``--sample``.

Usage::

    python examples/neuralnet_mnist.py                       # full MNIST, 10 epochs
    python examples/neuralnet_mnist.py --sample --epochs 1 --subset 500 --mode FAST_COMPILE
"""
import argparse
import warnings

import numpy as np
from sklearn.model_selection import RandomizedSearchCV

import convnet
from convnet.datasets import load_mnist
from convnet.estimator import EarlyStopping, NeuralNet
from convnet.layers import Conv2DLayer, DenseLayer, DropoutLayer, InputLayer, MaxPool2DLayer
from convnet.nonlinearities import softmax


def build_net(epochs, mode, **settings):
    """The network, declared layer by layer: its arguments carry the layer
    names as prefixes. ``settings`` are further NeuralNet arguments."""
    return NeuralNet(
        layers=[
            ("input", InputLayer),
            ("conv1", Conv2DLayer),
            ("pool1", MaxPool2DLayer),
            ("conv2", Conv2DLayer),
            ("pool2", MaxPool2DLayer),
            ("hidden", DenseLayer),
            ("dropout", DropoutLayer),
            ("output", DenseLayer),
        ],
        input_shape=(None, 1, 28, 28),
        conv1_num_filters=8, conv1_filter_size=(5, 5), pool1_pool_size=2,
        conv2_num_filters=16, conv2_filter_size=(5, 5), pool2_pool_size=2,
        hidden_num_units=64, dropout_p=0.5,
        output_num_units=10, output_nonlinearity=softmax,
        update_learning_rate=0.05, update_momentum=0.9,
        max_epochs=epochs,
        mode=mode,
        **settings,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    parser.add_argument("--sample", action="store_true", help="use the bundled sample, not the full MNIST")
    parser.add_argument("--subset", type=int, help="use only the first SUBSET images of the training and test "
                                                    "sets (default: all; the search uses at most 5,000)")
    parser.add_argument("--mode", help="PyTensor compilation mode (default: Numba); FAST_COMPILE for quick runs")
    args = parser.parse_args()

    convnet.random.set_rng(np.random.RandomState(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", convnet.datasets.SampleDataWarning)
        data = load_mnist(sample=args.sample)
    print(f"MNIST {'sample' if data.is_sample else 'full set'}: {len(data.X_train):,} training images, "
          f"{len(data.X_test):,} test images")
    X_train, y_train = data.X_train[:args.subset], data.y_train[:args.subset]
    X_test, y_test = data.X_test[:args.subset], data.y_test[:args.subset]

    net = build_net(args.epochs, args.mode, verbose=1, on_epoch_finished=[EarlyStopping(patience=3)])
    net.fit(X_train, y_train)
    print(f"test accuracy: {net.score(X_test, y_test):.4f}\n")

    # The cross-validation validates, so the candidates train on all their data.
    search_size = args.subset or 5000
    search = RandomizedSearchCV(
        build_net(args.epochs, args.mode, train_split=None),
        {"conv1_num_filters": [4, 8], "update_learning_rate": [0.01, 0.05]},
        n_iter=2, cv=2, random_state=0,
    )
    search.fit(data.X_train[:search_size], data.y_train[:search_size])
    print(f"randomized search on {search_size:,} images, 2-fold cross-validation:")
    for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
        print(f"  {params}  accuracy {score:.4f}")
    print(f"best parameters: {search.best_params_}")
    print(f"test accuracy of the best, refitted: {search.score(X_test, y_test):.4f}")


if __name__ == "__main__":
    main()
