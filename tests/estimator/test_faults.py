"""NeuralNet and its handlers under faults: non-finite data, a diverging loss, NaN
validation losses, bad estimator arguments, splits that cannot be made."""
import numpy as np
import pytest

from convnet.estimator import EarlyStopping, SaveBestWeights, TrainSplit
from convnet.estimator.handlers import _improved


def assert_same_params(net, expected):
    for key, value in net.get_all_params_values().items():
        np.testing.assert_array_equal(value, expected[key], err_msg=key)


# -- non-finite data -----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_fit_and_predict_refuse_non_finite_X(blobs, make_mlp, bad):
    X, y = blobs
    X_bad = X.copy()
    X_bad[7, 2] = bad
    kind = "NaN" if np.isnan(bad) else "infinity"
    with pytest.raises(ValueError, match=rf"X holds {kind} in 1 of 300 samples \(the first: sample 7\).*"
                                         "allow_nonfinite=True"):
        make_mlp().fit(X_bad, y)
    net = make_mlp(max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match=f"X holds {kind}"):
        net.predict(X_bad)


def test_regression_targets_must_be_finite(make_mlp, blobs):
    X, _ = blobs
    y = np.zeros((300, 2), np.float32)
    y[3, 1] = np.nan
    net = make_mlp(regression=True, output_num_units=2, output_nonlinearity=None)
    with pytest.raises(ValueError, match="y holds NaN in 1 of 300 samples"):
        net.fit(X, y)


def test_allow_nonfinite_passes_the_data_on(blobs, make_mlp):
    X, y = blobs
    X = X.copy()
    X[0, 0] = np.nan
    net = make_mlp(max_epochs=1, train_split=None, allow_nonfinite=True)
    # A NaN sample reaches the network, and the diverging loss is caught in the first epoch.
    with pytest.raises(FloatingPointError, match="epoch 1, batch"):
        net.fit(X, y)
    assert np.isnan(net.predict_proba(X[:1])).all()


# -- a diverging training loss -------------------------------------------------------------------


def test_diverging_loss_stops_naming_epoch_and_batch_and_restores_the_epoch_start_weights(blobs, make_mlp):
    X, y = blobs
    start = {}

    def remember(net, history):
        start.update(net.get_all_params_values())

    # Two good epochs, then a learning rate that blows the weights up within a few batches.
    net = make_mlp(max_epochs=10, update_learning_rate=lambda epoch: 0.05 if epoch <= 2 else 1e20,
                   on_epoch_finished=[remember])
    with pytest.raises(FloatingPointError, match=r"training loss is (nan|inf) at epoch 3, batch \d+: training "
                                                 r"diverged.*learning rate.*start of epoch 3 are restored"):
        net.fit(X, y)
    assert len(net.train_history_) == 2
    assert_same_params(net, start)
    assert all(np.isfinite(value).all() for value in net.get_all_params_values().values())
    # The momentum went non-finite with the weights: it is rebuilt, and training can go on.
    assert "_functions" not in vars(net)
    net.set_params(update_learning_rate=0.05)
    net.fit(X, y, epochs=1)
    assert np.isfinite(net.train_history_[-1]["train_loss"])


@pytest.mark.parametrize("handler", ["early_stopping", "save_best_weights"])
def test_diverging_loss_restores_the_best_weights_that_a_handler_holds(blobs, make_mlp, tmp_path, handler):
    X, y = blobs
    best = {}

    def remember_best(net, history):
        if int(np.argmin([entry["valid_loss"] for entry in history])) == len(history) - 1:
            best.update(net.get_all_params_values())

    holder = (EarlyStopping(patience=100) if handler == "early_stopping"
              else SaveBestWeights(tmp_path / "best.npz"))
    net = make_mlp(max_epochs=10, update_learning_rate=lambda epoch: 0.05 if epoch <= 3 else 1e20,
                   on_epoch_finished=[remember_best, holder])
    with pytest.raises(FloatingPointError, match=rf"best epoch \(\d, kept by {type(holder).__name__}\)"):
        net.fit(X, y)
    assert_same_params(net, best)


# -- NaN validation losses -----------------------------------------------------------------------


def test_nan_is_never_an_improvement():
    assert not _improved([1.0, np.nan], lower_is_better=True)
    assert not _improved([np.nan], lower_is_better=True)
    assert _improved([np.nan, 2.0], lower_is_better=True)
    assert _improved([np.nan, 2.0, 1.0], lower_is_better=True)
    assert not _improved([np.nan, 2.0, np.nan, 3.0], lower_is_better=True)


class FakeNet:
    """What the handlers use of a net: parameter values to copy, load and save."""

    verbose = 0

    def __init__(self):
        self.params = {"w": np.zeros(2)}

    def get_all_params_values(self):
        return {key: value.copy() for key, value in self.params.items()}

    def load_params_from(self, params):
        self.params = {key: np.array(value) for key, value in dict(params).items()}

    def save_params_to(self, path):
        np.savez(path, **self.params)


def run_epochs(handler, net, losses):
    """Call ``handler`` after each epoch with these validation losses; the weights
    are the epoch number. Returns the epochs run before it stopped training."""
    history = []
    for epoch, loss in enumerate(losses, start=1):
        net.params["w"] = np.full(2, float(epoch))
        history.append({"epoch": epoch, "valid_loss": loss})
        try:
            handler(net, history)
        except StopIteration:
            break
    return len(history)


def test_early_stopping_never_takes_a_nan_loss_as_the_best():
    handler, net = EarlyStopping(patience=2), FakeNet()
    assert run_epochs(handler, net, [np.nan, 0.5, np.nan, np.nan, 0.1]) == 4
    assert (handler.best_epoch_, handler.best_value_) == (2, 0.5)
    np.testing.assert_array_equal(net.params["w"], [2.0, 2.0])


def test_early_stopping_stops_when_the_loss_is_never_a_number():
    handler, net = EarlyStopping(patience=3), FakeNet()
    assert run_epochs(handler, net, [np.nan] * 10) == 3
    assert handler.best_epoch_ is None
    np.testing.assert_array_equal(net.params["w"], [3.0, 3.0])  # nothing to restore


def test_save_best_weights_never_saves_a_nan_loss(tmp_path):
    handler, net = SaveBestWeights(tmp_path / "best.npz"), FakeNet()
    run_epochs(handler, net, [np.nan, 0.5, np.nan, 0.7])
    assert handler.best_epoch_ == 2
    np.testing.assert_array_equal(np.load(tmp_path / "best.npz")["w"], [2.0, 2.0])


# -- estimator arguments -------------------------------------------------------------------------


@pytest.mark.parametrize("arguments, match", [
    (dict(max_epochs=-1), "max_epochs must be a positive integer, got max_epochs=-1"),
    (dict(max_epochs=0), "max_epochs must be a positive integer"),
    (dict(max_epochs="5"), "max_epochs must be a positive integer, got max_epochs='5'"),
    (dict(max_epochs=2.5), "max_epochs must be a positive integer"),
    (dict(verbose="yes"), "verbose must be a non-negative integer"),
    (dict(regression="no"), "regression must be True or False"),
    (dict(allow_nonfinite=None), "allow_nonfinite must be True or False"),
    (dict(update="sgd"), "update must be callable"),
    (dict(train_split=0.2), "train_split must be callable or None"),
    (dict(batch_iterator_train=128), "batch_iterator_train must be callable"),
    (dict(on_epoch_finished=["early"]), "on_epoch_finished must hold callables"),
])
def test_bad_estimator_arguments_fail_before_building(blobs, make_mlp, arguments, match):
    net = make_mlp(**arguments)
    with pytest.raises(ValueError, match=match):
        net.fit(*blobs)
    assert "layers_" not in vars(net)


def test_verbose_may_be_a_bool(blobs, make_mlp, capsys):
    make_mlp(max_epochs=1, verbose=True).fit(*blobs)
    assert "epoch" in capsys.readouterr().out


def test_bad_epochs_argument_of_fit(blobs, make_mlp):
    with pytest.raises(ValueError, match="epochs must be a positive integer, got epochs=-2"):
        make_mlp().fit(*blobs, epochs=-2)


def test_a_split_that_cannot_be_stratified_names_train_split(make_mlp):
    X = np.zeros((5, 4), np.float32)
    y = np.array([0, 0, 0, 1, 2], np.int32)
    with pytest.raises(ValueError, match=r"TrainSplit\(eval_size=0.2.*cannot split 5 samples \(samples per "
                                         r"class: \{0: 3, 1: 1, 2: 1\}\).*train_split=None"):
        make_mlp().fit(X, y)
    with pytest.raises(ValueError, match="cannot split"):
        TrainSplit(eval_size=0.9)(X, y, None)


# -- memory: a fitted net is freed -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["FAST_COMPILE", None])
def test_a_fitted_net_and_its_parameters_are_freed(blobs, make_mlp, mode):
    """Repeated clone + fit (a grid search) must not keep every net alive. PyTensor's
    Numba backend kept each compiled graph, parameters included, for the life of the
    process (convnet.numba_graph_release); on the Python backend, PyTensor's Softmax
    compiled an inner graph per network."""
    import gc
    import weakref

    from sklearn.base import clone

    net = clone(make_mlp(max_epochs=1, mode=mode)).fit(*blobs)
    assert net.score(*blobs) > 0.5
    refs = [weakref.ref(net), weakref.ref(net.layers_["output"].W), weakref.ref(net.layers_["hidden"])]
    del net
    gc.collect()
    assert [ref() for ref in refs] == [None, None, None]
