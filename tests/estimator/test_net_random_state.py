"""NeuralNet(random_state=...): seeded fits repeat themselves, in this
process and in joblib's worker processes; templates are never changed."""
import joblib
import numpy as np
import pytest
from sklearn.base import clone

from convnet.augmentation import BatchIterator, RandomFlip
from convnet.estimator import NeuralNet
from convnet.layers import DenseLayer, DropoutLayer, InputLayer, ReshapeLayer
from convnet.nonlinearities import softmax

from .conftest import MODE, make_blobs


def seeded_net(random_state, **kwargs):
    """A classifier with every kind of randomness: initialisation, dropout,
    shuffling and augmentation (random flips of 1x2x2 "images")."""
    settings = dict(
        layers=[("input", InputLayer), ("flat", ReshapeLayer), ("hidden", DenseLayer), ("drop", DropoutLayer),
                ("output", DenseLayer)],
        input_shape=(None, 1, 2, 2), flat_shape=([0], -1), hidden_num_units=8, output_num_units=3,
        output_nonlinearity=softmax, update_learning_rate=0.05,
        batch_iterator_train=BatchIterator(batch_size=32, shuffle=True, transform=RandomFlip()),
        max_epochs=3, mode=MODE, random_state=random_state)
    settings.update(kwargs)
    return NeuralNet(**settings)


def images():
    X, y = make_blobs(n=120)
    return X.reshape(-1, 1, 2, 2), y


def history(net):
    """``train_history_`` without the durations, which vary."""
    return [{key: value for key, value in entry.items() if key != "dur"} for entry in net.train_history_]


def fit_history(net):
    X, y = images()
    return history(net.fit(X, y)), {k: v for k, v in net.get_all_params_values().items()}


def test_same_seed_gives_identical_fits_and_another_seed_does_not():
    first, params = fit_history(seeded_net(7))
    again, params_again = fit_history(seeded_net(7))
    other, _ = fit_history(seeded_net(8))
    assert first == again
    assert all(np.array_equal(params[k], params_again[k]) for k in params)
    assert first != other


def test_random_state_ignores_the_global_generator():
    import convnet
    convnet.random.seed(1)
    first, _ = fit_history(seeded_net(3))
    convnet.random.seed(2)
    assert fit_history(seeded_net(3))[0] == first


def test_convnet_random_seed_makes_unseeded_nets_repeat():
    import convnet
    convnet.random.seed(5)
    first, _ = fit_history(seeded_net(None))
    convnet.random.seed(5)
    assert fit_history(seeded_net(None))[0] == first


def test_clones_fit_identically_in_loky_workers():
    net = seeded_net(11)
    local, _ = fit_history(clone(net))
    remote = joblib.Parallel(n_jobs=2, backend="loky")(joblib.delayed(fit_history)(clone(net)) for _ in range(2))
    assert [h for h, _ in remote] == [local, local]


def test_fit_leaves_the_batch_iterator_templates_unchanged():
    template = BatchIterator(batch_size=32, shuffle=True)
    nets = [seeded_net(0, batch_iterator_train=template) for _ in range(2)]
    state = joblib.hash(template)
    first = fit_history(nets[0])[0]
    assert joblib.hash(template) == state
    # the second net does not continue the first one's epoch counter
    assert fit_history(nets[1])[0] == first


def test_the_default_templates_are_not_shared_state():
    X, y = images()
    kwargs = dict(input_shape=(None, 4), flat_shape=None)
    net = NeuralNet([("input", InputLayer), ("output", DenseLayer)], input_shape=(None, 4), output_num_units=3,
                    output_nonlinearity=softmax, update_learning_rate=0.05, max_epochs=2, mode=MODE,
                    random_state=0)
    default = NeuralNet.__init__.__defaults__
    before = joblib.hash(default)
    first = history(clone(net).fit(X.reshape(-1, 4), y))
    assert joblib.hash(default) == before
    assert history(clone(net).fit(X.reshape(-1, 4), y)) == first


def test_continued_fits_continue_the_shuffle():
    # 1 + 1 epochs shuffle as 2 epochs do, rather than repeating epoch 1's order
    X, y = images()
    two = history(seeded_net(4, max_epochs=2).fit(X, y))
    net = seeded_net(4, max_epochs=1)
    net.fit(X, y)
    net.fit(X, y)
    assert history(net) == two


@pytest.mark.parametrize("state", [-1, 2 ** 32, 1.5, "0", True])
def test_bad_random_state(state):
    X, y = images()
    with pytest.raises(ValueError, match="random_state must be"):
        seeded_net(state).fit(X, y)


def test_random_state_instance_is_accepted():
    a = fit_history(seeded_net(np.random.RandomState(9)))[0]
    assert a == fit_history(seeded_net(np.random.RandomState(9)))[0]


def test_seeded_fits_in_threads_match_fits_one_after_the_other():
    # nets built at once in several threads each use their own seed's generator
    sequential = [fit_history(seeded_net(seed))[0] for seed in (21, 22)]
    threaded = joblib.Parallel(n_jobs=2, backend="threading")(
        joblib.delayed(fit_history)(seeded_net(seed)) for seed in (21, 22))
    # (to rounding: BLAS may split its sums differently while another thread computes)
    for (history_, _), expected in zip(threaded, sequential):
        for entry, expected_entry in zip(history_, expected):
            assert entry.keys() == expected_entry.keys()
            np.testing.assert_allclose(list(entry.values()), list(expected_entry.values()), rtol=1e-6)
