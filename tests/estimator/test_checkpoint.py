"""Parameter checkpoints: names, atomic writes, all-or-nothing loading, resuming."""
import os

import numpy as np
import pytest

from convnet.augmentation import BatchIterator
from convnet.estimator import NeuralNet
from convnet.checkpoint import load_params, named_params, save_params
from convnet.layers import DenseLayer, InputLayer
from convnet.nonlinearities import softmax
from convnet.updates import sgd


def snapshot(net):
    return {key: value.copy() for key, value in net.get_all_params_values().items()}


def assert_same_params(a, b):
    assert list(a) == list(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_keys_use_layer_names_or_positions():
    l_in = InputLayer((None, 4), name="input")
    l_out = DenseLayer(DenseLayer(l_in, 5, name="hidden"), 3, b=None)
    assert list(named_params(l_out)) == ["hidden.W", "hidden.b", "layer2.W"]


def test_declarative_net_keys(make_mlp):
    assert list(make_mlp().get_all_params_values()) == ["hidden.W", "hidden.b", "output.W", "output.b"]


def test_save_and_load_round_trip(make_mlp, tmp_path):
    path = tmp_path / "net.npz"
    net = make_mlp()
    net.save_params_to(path)
    other = make_mlp().load_params_from(path)
    assert_same_params(snapshot(other), snapshot(net))
    assert sorted(os.listdir(tmp_path)) == ["net.npz"]
    with np.load(path, allow_pickle=False) as archive:
        assert archive["hidden.W"].shape == (4, 16)


def test_load_from_a_net_or_a_dict(make_mlp):
    source = make_mlp()
    assert_same_params(snapshot(make_mlp().load_params_from(source)), snapshot(source))
    values = {key: np.full_like(value, 0.5) for key, value in source.get_all_params_values().items()}
    assert float(make_mlp().load_params_from(values).layers_["output"].W.get_value()[0, 0]) == 0.5


def test_failed_write_keeps_the_old_file(make_mlp, tmp_path, monkeypatch):
    path = tmp_path / "net.npz"
    net = make_mlp()
    net.save_params_to(path)
    before = path.read_bytes()

    def crash(file, **arrays):
        file.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        make_mlp().save_params_to(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["net.npz"]


@pytest.mark.parametrize("change, message", [
    (lambda v: v.pop("hidden.b"), r"missing: hidden\.b \(16,\)"),
    (lambda v: v.update(extra=np.zeros(2)), r"unexpected: extra \(2,\)"),
    (lambda v: v.update({"output.W": np.zeros((16, 4))}), r"shape of output\.W: \(16, 4\) given, \(16, 3\)"),
])
def test_mismatch_raises_and_changes_nothing(make_mlp, change, message):
    source = make_mlp()
    values = {key: value + 1 for key, value in source.get_all_params_values().items()}
    change(values)
    net = make_mlp()
    before = snapshot(net)
    with pytest.raises(ValueError, match=message):
        net.load_params_from(values)
    assert_same_params(snapshot(net), before)


def test_every_mismatch_is_listed(tmp_path):
    small = DenseLayer(InputLayer((None, 4)), 3, name="out")
    other = DenseLayer(InputLayer((None, 5)), 3, b=None, name="out")
    save_params(other, tmp_path / "other.npz")
    with pytest.raises(ValueError) as error:
        load_params(small, tmp_path / "other.npz")
    assert "missing: out.b" in str(error.value) and "shape of out.W: (5, 3) given, (4, 3)" in str(error.value)


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, **{"out.W": np.array([object()]), "out.b": np.zeros(3)})
    with pytest.raises(ValueError, match="allow_pickle"):
        load_params(DenseLayer(InputLayer((None, 4)), 3, name="out"), path)


def resumable_net(**kwargs):
    """A net whose training is deterministic: plain SGD (no state), batches in order."""
    return NeuralNet(
        layers=[("input", InputLayer), ("hidden", DenseLayer), ("output", DenseLayer)],
        input_shape=(None, 4), hidden_num_units=8, output_num_units=3, output_nonlinearity=softmax,
        update=sgd, update_learning_rate=0.1, max_epochs=2, mode="FAST_COMPILE",
        batch_iterator_train=BatchIterator(batch_size=32), **kwargs,
    )


def test_resuming_from_a_checkpoint_continues_training(blobs, tmp_path):
    X, y = blobs
    path = tmp_path / "epoch2.npz"
    first = resumable_net().fit(X, y)
    first.save_params_to(path)
    first.fit(X, y, epochs=1)
    resumed = resumable_net().load_params_from(path).fit(X, y, epochs=1)
    for key, value in snapshot(first).items():
        np.testing.assert_allclose(snapshot(resumed)[key], value, rtol=1e-5, atol=1e-6, err_msg=key)
    assert resumed.train_history_[0]["valid_loss"] == pytest.approx(first.train_history_[-1]["valid_loss"], rel=1e-5)
