"""Ensembles of seeded networks: scikit-learn's soft-voting
:class:`~sklearn.ensemble.VotingClassifier` over copies of one
:class:`~convnet.estimator.NeuralNet` that differ only in their
``random_state``, and the accuracy of every member beside the ensemble's.

The members are trained by joblib, in parallel with ``n_jobs``; inside
``joblib.parallel_backend("dask")`` they are trained on a Dask cluster (see
the scaling guide). The ensemble's probabilities are the mean of the
members'.

Examples
--------
>>> from convnet.estimator import NeuralNet
>>> from convnet.layers import DenseLayer, InputLayer
>>> from convnet.nonlinearities import softmax
>>> net = NeuralNet([("input", InputLayer), ("output", DenseLayer)], input_shape=(None, 4),
...                 output_num_units=2, output_nonlinearity=softmax, max_epochs=2,
...                 train_split=None, mode="FAST_COMPILE")
>>> ensemble = seeded_ensemble(net, n_members=3, random_state=10)
>>> [member.random_state for _, member in ensemble.estimators]
[10, 11, 12]
>>> # ensemble.fit(X, y); print(member_accuracies(ensemble, X_test, y_test))
"""
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import VotingClassifier
from sklearn.metrics import accuracy_score

__all__ = ["seeded_ensemble", "member_accuracies", "EnsembleAccuracies"]


def seeded_ensemble(estimator, n_members=5, random_state=0, n_jobs=None):
    """A soft-voting ensemble of ``n_members`` copies of ``estimator``, the
    ``k``-th seeded with ``random_state + k``.

    Parameters
    ----------
    estimator : NeuralNet
        The template: a classifier with a ``random_state`` parameter and
        ``predict_proba``. It is cloned, not changed.
    n_members : int, optional
    random_state : int, optional
        The first member's seed.
    n_jobs : int, optional
        Members trained at a time (joblib's meaning: None is one, unless a
        ``joblib.parallel_backend`` context says otherwise; -1 is all cores).

    Returns
    -------
    sklearn.ensemble.VotingClassifier
        Unfitted, with ``voting="soft"``; its members are named ``member0``,
        ``member1``, ...
    """
    if not isinstance(n_members, (int, np.integer)) or n_members < 1:
        raise ValueError(f"seeded_ensemble: n_members must be a positive integer, got {n_members!r}")
    if not isinstance(random_state, (int, np.integer)) or random_state < 0:
        raise ValueError(f"seeded_ensemble: random_state must be a non-negative integer, got {random_state!r}")
    if "random_state" not in estimator.get_params(deep=False):
        raise ValueError(f"seeded_ensemble: {type(estimator).__name__} has no random_state parameter to seed")
    members = [(f"member{k}", clone(estimator).set_params(random_state=int(random_state) + k))
               for k in range(n_members)]
    return VotingClassifier(members, voting="soft", n_jobs=n_jobs)


@dataclass
class EnsembleAccuracies:
    """The accuracy of every member and of the ensemble on one data set;
    ``str()`` is a table with one row for each."""

    members: dict
    ensemble: float

    def __str__(self):
        width = max(len("ensemble"), *map(len, self.members))
        rows = [f"{'model':<{width}} | accuracy", f"{'-' * width}-|---------"]
        rows += [f"{name:<{width}} | {100 * accuracy:7.2f}%" for name, accuracy in self.members.items()]
        rows.append(f"{'ensemble':<{width}} | {100 * self.ensemble:7.2f}%")
        return "\n".join(rows)


def member_accuracies(ensemble, X, y):
    """The accuracy of each member of a fitted soft-voting ensemble, and of
    the ensemble, on ``X`` and ``y``.

    Parameters
    ----------
    ensemble : sklearn.ensemble.VotingClassifier
        Fitted, e.g. one made by :func:`seeded_ensemble`.
    X, y : array_like
        Samples and their labels (the labels the ensemble was fitted with).

    Returns
    -------
    EnsembleAccuracies
    """
    # The members were fitted on the ensemble's label indices (its ``le_``).
    labels = ensemble.le_.transform(y)
    members = {name: accuracy_score(labels, member.predict(X)) for name, member in ensemble.named_estimators_.items()}
    return EnsembleAccuracies(members, accuracy_score(y, ensemble.predict(X)))
