"""Training checkpoints: 2 + 3 epochs equal 5, bit for bit; mismatches change nothing."""
import numpy as np
import pytest

from convnet.augmentation import BatchIterator, RandomFlip
from convnet.checkpoint import read_npz, write_npz
from convnet.estimator import AdjustVariable, NeuralNet, SaveCheckpoint
from convnet.layers import DenseLayer, DropoutLayer, InputLayer, ReshapeLayer
from convnet.nonlinearities import softmax
from convnet.updates import adam, nesterov_momentum

from .conftest import MODE, make_blobs


def images():
    X, y = make_blobs(n=90)
    return X.reshape(-1, 1, 2, 2), y


def make(update=nesterov_momentum, **kwargs):
    """A net with every kind of training state: an update rule's state, a
    learning-rate schedule, an AdjustVariable, dropout, shuffling and augmentation."""
    update_args = (dict(update_learning_rate=lambda epoch: 0.05 / epoch, update_momentum=0.9)
                   if update is nesterov_momentum else dict(update_learning_rate=0.01))
    handlers = [AdjustVariable("update_momentum", 0.9, 0.5)] if update is nesterov_momentum else []
    settings = dict(
        layers=[("input", InputLayer), ("flat", ReshapeLayer), ("hidden", DenseLayer), ("drop", DropoutLayer),
                ("output", DenseLayer)],
        input_shape=(None, 1, 2, 2), flat_shape=([0], -1), hidden_num_units=8, output_num_units=3,
        output_nonlinearity=softmax, update=update, **update_args,
        batch_iterator_train=BatchIterator(batch_size=16, shuffle=True, transform=RandomFlip()),
        on_epoch_finished=handlers, max_epochs=5, mode=MODE, random_state=3)
    settings.update(kwargs)
    return NeuralNet(**settings)


def history(net):
    return [{k: v for k, v in entry.items() if k != "dur"} for entry in net.train_history_]


def assert_identical(a, b):
    assert history(a) == history(b)
    pa, pb = a.get_all_params_values(), b.get_all_params_values()
    assert list(pa) == list(pb)
    for key in pa:
        np.testing.assert_array_equal(pa[key], pb[key], err_msg=key)
    assert a.update_variables_.keys() == b.update_variables_.keys()
    for key in a.update_variables_:
        assert a.update_variables_[key].get_value() == b.update_variables_[key].get_value()


@pytest.mark.parametrize("update", [nesterov_momentum, adam])
def test_two_plus_three_epochs_equal_five(tmp_path, update):
    X, y = images()
    whole = make(update).fit(X, y)
    first = make(update).fit(X, y, epochs=2)
    path = tmp_path / "run.npz"
    first.save_checkpoint(path)
    resumed = make(update, random_state=99).load_checkpoint(path)  # the file's seeds win
    assert [entry["epoch"] for entry in resumed.train_history_] == [1, 2]
    resumed.fit(X, y, epochs=3)
    assert [entry["epoch"] for entry in resumed.train_history_] == [1, 2, 3, 4, 5]
    assert_identical(resumed, whole)


def test_without_the_update_state_resuming_would_differ(tmp_path):
    # the test above can fail: restoring only the parameters does not continue exactly
    X, y = images()
    whole = make().fit(X, y)
    first = make().fit(X, y, epochs=2)
    params_only = make().load_params_from(first)
    params_only.fit(X, y, epochs=3)
    assert history(params_only)[-1] != history(whole)[-1]


def test_save_checkpoint_handler_and_string_labels(tmp_path):
    X, y = images()
    labels = np.array(["a", "b", "c"])[y]
    path = tmp_path / "every2.npz"
    net = make(on_epoch_finished=[SaveCheckpoint(path, every=2)], max_epochs=3).fit(X, labels)
    resumed = make().load_checkpoint(path)
    assert len(resumed.train_history_) == 2
    assert resumed.classes_.tolist() == ["a", "b", "c"]
    assert resumed.predict(X[:5]).dtype.kind == "U"
    assert "train_history" in read_npz(path)["meta"].tobytes().decode()
    with pytest.raises(ValueError, match="every must be a positive integer"):
        SaveCheckpoint(path, every=0)


def test_a_mismatch_changes_nothing(tmp_path):
    X, y = images()
    path = tmp_path / "run.npz"
    make().fit(X, y, epochs=1).save_checkpoint(path)
    other = make(hidden_num_units=5).fit(X, y, epochs=1)
    before = {k: v.copy() for k, v in other.get_all_params_values().items()}
    history_before = list(other.train_history_)
    with pytest.raises(ValueError, match=r"does not fit this net; nothing was loaded:\n  shape of param:hidden.W"):
        other.load_checkpoint(path)
    assert other.train_history_ == history_before
    for key, value in other.get_all_params_values().items():
        np.testing.assert_array_equal(value, before[key])
    # another update rule has other state
    with pytest.raises(ValueError, match="missing: state:"):
        make(adam).load_checkpoint(path)
    # an unbuilt net stays unbuilt
    fresh = make(hidden_num_units=5)
    with pytest.raises(ValueError):
        fresh.load_checkpoint(path)
    assert not hasattr(fresh, "layers_")


def test_files_that_are_not_training_checkpoints(tmp_path):
    params_file = tmp_path / "params.npz"
    make().initialize().save_params_to(params_file)
    with pytest.raises(ValueError, match="is not a NeuralNet training checkpoint"):
        make().load_checkpoint(params_file)
    arrays = read_npz(params_file)
    write_npz(tmp_path / "wrong.npz", {**arrays, "meta": np.frombuffer(b'{"format": "x"}', np.uint8)})
    with pytest.raises(ValueError, match="format 'x'"):
        make().load_checkpoint(tmp_path / "wrong.npz")


def test_history_values_must_be_json(tmp_path):
    X, y = images()
    net = make().fit(X, y, epochs=1)
    net.train_history_[-1]["note"] = object()
    with pytest.raises(TypeError, match="cannot store"):
        net.save_checkpoint(tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()


def test_a_regressor_resumes_too(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3)).astype(np.float32)
    y = (X @ np.array([1.0, -2.0, 0.5]) + 0.1).astype(np.float32)

    def regressor():
        return NeuralNet([("input", InputLayer), ("output", DenseLayer)], input_shape=(None, 3),
                         output_num_units=1, output_nonlinearity=None, regression=True, update=adam,
                         update_learning_rate=0.05, max_epochs=4, mode=MODE, random_state=1)

    whole = regressor().fit(X, y)
    regressor().fit(X, y, epochs=1).save_checkpoint(tmp_path / "r.npz")
    resumed = regressor().load_checkpoint(tmp_path / "r.npz").fit(X, y, epochs=3)
    assert_identical(resumed, whole)
