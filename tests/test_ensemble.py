"""Seeded ensembles of NeuralNet: distinct members, averaged probabilities, the accuracy table."""
import numpy as np
import pytest
from sklearn.ensemble import VotingClassifier

from convnet.ensemble import EnsembleAccuracies, member_accuracies, seeded_ensemble
from convnet.estimator import NeuralNet
from convnet.layers import DenseLayer, InputLayer
from convnet.nonlinearities import softmax


def small_net(**settings):
    return NeuralNet([("input", InputLayer), ("hidden", DenseLayer), ("output", DenseLayer)],
                     input_shape=(None, 6), hidden_num_units=8, output_num_units=3, output_nonlinearity=softmax,
                     update_learning_rate=0.1, max_epochs=3, train_split=None, mode="FAST_COMPILE", **settings)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6)).astype("float32")
    labels = np.array(["cat", "dog", "fox"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)]
    return X, labels


@pytest.fixture(scope="module")
def fitted(data):
    return seeded_ensemble(small_net(), n_members=3, random_state=7).fit(*data)


def test_members_are_seeded_clones_of_the_template():
    template = small_net(random_state=123)
    ensemble = seeded_ensemble(template, n_members=4, random_state=5)
    assert isinstance(ensemble, VotingClassifier) and ensemble.voting == "soft"
    assert [name for name, _ in ensemble.estimators] == ["member0", "member1", "member2", "member3"]
    assert [member.random_state for _, member in ensemble.estimators] == [5, 6, 7, 8]
    assert all(member is not template for _, member in ensemble.estimators)
    assert template.random_state == 123


def test_members_differ_and_equal_a_net_fitted_alone_with_their_seed(fitted, data):
    X, labels = data
    probabilities = [member.predict_proba(X) for member in fitted.estimators_]
    assert not np.allclose(probabilities[0], probabilities[1])
    alone = small_net(random_state=8).fit(X, fitted.le_.transform(labels))
    np.testing.assert_array_equal(alone.predict_proba(X), probabilities[1])


def test_ensemble_probabilities_are_the_members_mean(fitted, data):
    X, labels = data
    mean = np.mean([member.predict_proba(X) for member in fitted.estimators_], axis=0)
    np.testing.assert_allclose(fitted.predict_proba(X), mean, rtol=1e-6)
    np.testing.assert_array_equal(fitted.predict(X), fitted.classes_[mean.argmax(axis=1)])
    assert set(fitted.predict(X)) <= {"cat", "dog", "fox"}


def test_member_accuracies_table(fitted, data):
    X, labels = data
    result = member_accuracies(fitted, X, labels)
    for name, member in fitted.named_estimators_.items():
        expected = np.mean(member.predict(X) == fitted.le_.transform(labels))
        assert result.members[name] == pytest.approx(expected)
    assert result.ensemble == pytest.approx(np.mean(fitted.predict(X) == labels))
    lines = str(result).splitlines()
    assert lines[0].split() == ["model", "|", "accuracy"]
    assert [line.split()[0] for line in lines[2:]] == ["member0", "member1", "member2", "ensemble"]
    assert lines[-1].endswith(f"{100 * result.ensemble:.2f}%")


def test_table_formatting():
    table = str(EnsembleAccuracies({"member0": 0.5, "member1": 0.75}, 0.875))
    assert table == ("model    | accuracy\n"
                     "---------|---------\n"
                     "member0  |   50.00%\n"
                     "member1  |   75.00%\n"
                     "ensemble |   87.50%")


@pytest.mark.parametrize("kwargs, message", [
    ({"n_members": 0}, "n_members must be a positive integer, got 0"),
    ({"random_state": -1}, "random_state must be a non-negative integer, got -1"),
    ({"random_state": None}, "random_state must be a non-negative integer, got None"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        seeded_ensemble(small_net(), **kwargs)


def test_estimator_without_random_state_is_refused():
    from sklearn.linear_model import Perceptron
    from sklearn.neighbors import KNeighborsClassifier

    seeded_ensemble(Perceptron(), n_members=2)  # scikit-learn's seeded estimators work too
    with pytest.raises(ValueError, match="KNeighborsClassifier has no random_state parameter"):
        seeded_ensemble(KNeighborsClassifier())
