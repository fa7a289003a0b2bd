"""Train an ensemble of seeded networks on MNIST and report the accuracy of
every member and of the ensemble (the mean of their probabilities).

The members are copies of one small network that differ only in their seed
(:func:`convnet.ensemble.seeded_ensemble`). joblib trains them, ``--jobs`` at
a time; with ``--scheduler ADDRESS`` they are trained on that Dask cluster
(``--scheduler local`` starts a LocalCluster on this machine).

Usage::

    python examples/ensemble_mnist.py                      # full MNIST (or the sample), 5 members
    python examples/ensemble_mnist.py --sample --members 5 --epochs 2 --subset 1000 --mode FAST_COMPILE
    python examples/ensemble_mnist.py --scheduler tcp://scheduler:8786 --members 20
"""
import argparse
import contextlib
import warnings

import joblib

import convnet
from convnet.datasets import load_mnist
from convnet.ensemble import member_accuracies, seeded_ensemble
from convnet.estimator import NeuralNet
from convnet.layers import DenseLayer, InputLayer
from convnet.nonlinearities import softmax


def build_net(epochs, hidden, mode):
    """One member: a multilayer perceptron, trained on all its data."""
    return NeuralNet(
        layers=[("input", InputLayer), ("hidden", DenseLayer), ("output", DenseLayer)],
        input_shape=(None, 1, 28, 28),
        hidden_num_units=hidden,
        output_num_units=10, output_nonlinearity=softmax,
        update_learning_rate=0.05, update_momentum=0.9,
        max_epochs=epochs, train_split=None, mode=mode,
    )


@contextlib.contextmanager
def cluster(scheduler):
    """joblib's Dask backend on ``scheduler`` (an address, or ``"local"``), or nothing."""
    if scheduler is None:
        yield
        return
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        if scheduler == "local":
            scheduler = stack.enter_context(LocalCluster(host="127.0.0.1", dashboard_address=None))
        client = stack.enter_context(Client(scheduler))
        print(f"training on Dask: {len(client.scheduler_info()['workers'])} workers")
        with joblib.parallel_backend("dask"):
            yield


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=5, help="networks in the ensemble (default 5)")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs of each member (default 5)")
    parser.add_argument("--hidden", type=int, default=100, help="hidden units of each member (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="the first member's seed (default 0)")
    parser.add_argument("--sample", action="store_true", help="use the bundled sample, not the full MNIST")
    parser.add_argument("--subset", type=int, help="use only the first SUBSET training and test images")
    parser.add_argument("--jobs", type=int, help="members trained at a time on this machine (default 1)")
    parser.add_argument("--scheduler", help="train on the Dask cluster at this address ('local': start one here)")
    parser.add_argument("--mode", help="PyTensor compilation mode (default: convnet's device); FAST_COMPILE for "
                                       "quick runs")
    args = parser.parse_args()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", convnet.datasets.SampleDataWarning)
        data = load_mnist(sample=args.sample)
    X_train, y_train = data.X_train[:args.subset], data.y_train[:args.subset]
    X_test, y_test = data.X_test[:args.subset], data.y_test[:args.subset]
    print(f"MNIST {'sample' if data.is_sample else 'full set'}: {len(X_train):,} training images, "
          f"{len(X_test):,} test images; {args.members} members, {args.epochs} epochs each")

    ensemble = seeded_ensemble(build_net(args.epochs, args.hidden, args.mode), n_members=args.members,
                               random_state=args.seed, n_jobs=args.jobs)
    with cluster(args.scheduler):
        ensemble.fit(X_train, y_train)
    print(member_accuracies(ensemble, X_test, y_test))


if __name__ == "__main__":
    main()
