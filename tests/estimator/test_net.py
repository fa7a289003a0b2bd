"""NeuralNet: building, training, handlers, scikit-learn behaviour, bad input."""
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.model_selection import RandomizedSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from convnet.augmentation import BatchIterator
from convnet.estimator import AdjustVariable, EarlyStopping, NeuralNet, PrintLog, SaveBestWeights, TrainSplit
from convnet.layers import (ConcatLayer, Conv2DLayer, DenseLayer, DropoutLayer, InputLayer, MaxPool2DLayer,
                            batch_norm, get_output)
from convnet.nonlinearities import softmax

MODE = "FAST_COMPILE"
EXAMPLE = Path(__file__).parents[2] / "examples" / "neuralnet_mnist.py"


def to_images(X):
    """Rows of 4 values to 2x2 one-channel images (a module-level function: picklable)."""
    return X.reshape(-1, 1, 2, 2)


# -- training on MNIST ---------------------------------------------------------------------------


def test_declarative_mlp_learns_mnist(fitted_mnist_mlp, mnist):
    net = fitted_mnist_mlp
    assert net.score(mnist.X_test, mnist.y_test) >= 0.85
    assert [entry["epoch"] for entry in net.train_history_] == [1, 2, 3]
    assert set(net.train_history_[0]) == {"epoch", "train_loss", "valid_loss", "valid_accuracy", "dur"}
    assert net.train_history_[-1]["train_loss"] < net.train_history_[0]["train_loss"]
    probabilities = net.predict_proba(mnist.X_test[:5])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(net.predict(mnist.X_test[:5]), probabilities.argmax(axis=1))
    assert list(net.layers_) == ["input", "hidden", "output"]


def test_declarative_conv_net_with_dict_specs_and_named_incoming(mnist):
    net = NeuralNet(
        layers=[
            (InputLayer, {"shape": (None, 1, 28, 28)}),
            (Conv2DLayer, {"name": "conv1", "num_filters": 8, "filter_size": 5, "stride": 2}),
            (DenseLayer, {"name": "unused", "num_units": 3}),
            (MaxPool2DLayer, {"name": "pool1", "pool_size": 2, "incoming": "conv1"}),
            (DenseLayer, {"num_units": 10, "nonlinearity": softmax}),
        ],
        update_learning_rate=0.1,
        max_epochs=2,
        train_split=None,
        batch_iterator_train=BatchIterator(batch_size=128, shuffle=True, seed=0),
        mode=MODE,
    )
    net.fit(mnist.X_train[:2000], mnist.y_train[:2000])
    assert list(net.layers_) == ["input0", "conv1", "unused", "pool1", "dense4"]
    assert net.layers_["dense4"].input_layer is net.layers_["pool1"]
    assert set(net.train_history_[0]) == {"epoch", "train_loss", "dur"}
    assert net.score(mnist.X_test, mnist.y_test) >= 0.85


def test_merge_layer_takes_named_incomings(blobs):
    net = NeuralNet(
        layers=[("input", InputLayer), ("left", DenseLayer), ("right", DenseLayer), ("concat", ConcatLayer),
                ("output", DenseLayer)],
        input_shape=(None, 4), left_num_units=5, right_num_units=3, right_incoming="input",
        concat_incomings=["left", "right"], output_num_units=3, output_nonlinearity=softmax,
        update_learning_rate=0.05, max_epochs=3, mode=MODE,
    )
    net.fit(*blobs)
    assert net.layers_["right"].input_layer is net.layers_["input"]
    assert net.layers_["concat"].output_shape == (None, 8)
    assert net.score(*blobs) > 0.9


def test_network_instance_learns_mnist(mnist):
    l_hidden = DenseLayer(InputLayer((None, 1, 28, 28)), num_units=32)
    l_out = DenseLayer(l_hidden, num_units=10, nonlinearity=softmax)
    net = NeuralNet(layers=l_out, update_learning_rate=0.05, max_epochs=2, train_split=None, mode=MODE,
                    batch_iterator_train=BatchIterator(batch_size=128, shuffle=True, seed=0))
    net.fit(mnist.X_train, mnist.y_train)
    assert list(net.layers_) == ["layer0", "layer1", "layer2"] and net.layers_["layer2"] is l_out
    assert net.score(mnist.X_test, mnist.y_test) >= 0.85


def test_network_instance_with_batch_norm_and_dropout(blobs):
    X, y = blobs
    l_hidden = batch_norm(DenseLayer(InputLayer((None, 4)), num_units=8, name="hidden"))
    l_out = DenseLayer(DropoutLayer(l_hidden, p=0.2), num_units=3, nonlinearity=softmax, name="output")
    net = NeuralNet(layers=l_out, update_learning_rate=0.1, max_epochs=4, mode=MODE,
                    batch_iterator_train=BatchIterator(batch_size=60, shuffle=True, seed=0))
    assert net.fit(X, y).score(X, y) > 0.9
    # Batch normalization's running averages are parameters too: they are checkpointed.
    keys = list(net.get_all_params_values())
    assert "output.W" in keys and any(key.endswith(".mean") for key in keys), keys


# -- regression and objectives -------------------------------------------------------------------


def keypoints(n=1000, seed=0):
    """Facial-keypoint-like data: 8x8 images, 6 coordinates in [-1, 1] each."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 1, 8, 8)).astype(np.float32)
    mixing = rng.normal(size=(64, 6)) / 8
    y = np.tanh(X.reshape(n, -1) @ mixing).astype(np.float32)
    return X, y


def regressor(**kwargs):
    settings = dict(
        layers=[("input", InputLayer), ("hidden", DenseLayer), ("output", DenseLayer)],
        input_shape=(None, 1, 8, 8), hidden_num_units=32,
        output_num_units=6, output_nonlinearity=None,
        regression=True, update_learning_rate=0.05, update_momentum=0.9, max_epochs=20,
        batch_iterator_train=BatchIterator(batch_size=32, shuffle=True, seed=0), mode=MODE,
    )
    settings.update(kwargs)
    return NeuralNet(**settings)


def test_multi_output_regression():
    X, y = keypoints()
    net = regressor().fit(X[:900], y[:900])
    assert is_regressor(net) and not is_classifier(net)
    assert net.predict(X[900:]).shape == (100, 6)
    assert net.score(X[900:], y[900:]) > 0.7
    assert "valid_accuracy" not in net.train_history_[-1]


def test_regression_with_a_vector_target_and_one_output_unit():
    X, y = keypoints(n=200)
    net = regressor(output_num_units=1, max_epochs=2).fit(X, y[:, 0])
    assert net.predict(X).shape == (200, 1)
    assert np.isfinite(net.score(X, y[:, 0]))


def test_custom_objective_receives_its_arguments():
    calls = []

    def mean_absolute_error(layers, target, deterministic=False, scale=1.0):
        calls.append((deterministic, scale))
        predictions = get_output(layers["output"], deterministic=deterministic)
        return scale * pt.mean(abs(predictions - target))

    X, y = keypoints(n=300)
    net = regressor(objective=mean_absolute_error, objective_scale=2.0, max_epochs=4).fit(X, y)
    assert sorted(calls) == [(False, 2.0), (True, 2.0)]
    history = net.train_history_
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    # The recorded loss is the objective's: twice the mean absolute error.
    _, X_valid, _, y_valid = net.train_split(X, y, net)
    assert history[-1]["valid_loss"] == pytest.approx(2 * np.mean(abs(net.predict(X_valid) - y_valid)), rel=1e-5)


def test_objective_l2_adds_weight_decay(blobs, make_mlp):
    X, y = blobs
    plain = make_mlp(max_epochs=1, train_split=None, update_learning_rate=0.0).fit(X, y)
    decayed = make_mlp(max_epochs=1, train_split=None, update_learning_rate=0.0, objective_l2=0.1)
    decayed.load_params_from(plain).fit(X, y)
    penalty = 0.1 * sum(float(np.sum(v ** 2)) for k, v in plain.get_all_params_values().items() if k.endswith("W"))
    assert decayed.train_history_[0]["train_loss"] == pytest.approx(plain.train_history_[0]["train_loss"] + penalty,
                                                                     rel=1e-4)


# -- handlers ------------------------------------------------------------------------------------


def test_early_stopping_stops_and_restores_the_best_weights(blobs, make_mlp, tmp_path):
    X, y = blobs
    # Gradient ascent from epoch 4 on: the validation loss gets worse and worse.
    net = make_mlp(max_epochs=20, update_momentum=0.0,
                   update_learning_rate=lambda epoch: 0.05 if epoch <= 3 else -0.2,
                   on_epoch_finished=[SaveBestWeights(tmp_path / "best.npz"), EarlyStopping(patience=2)])
    net.fit(X, y)
    losses = [entry["valid_loss"] for entry in net.train_history_]
    best_epoch = int(np.argmin(losses)) + 1
    assert len(net.train_history_) == best_epoch + 2 < 20
    best = np.load(tmp_path / "best.npz")
    for key, value in net.get_all_params_values().items():
        np.testing.assert_array_equal(value, best[key])


def test_early_stopping_needs_the_monitored_value(blobs, make_mlp):
    X, y = blobs
    net = make_mlp(max_epochs=1, train_split=None, on_epoch_finished=[EarlyStopping()])
    with pytest.raises(ValueError, match="valid_loss"):
        net.fit(X, y)


def test_adjust_variable_changes_the_learning_rate_without_recompiling(blobs, make_mlp):
    X, y = blobs
    seen = []

    def record(net, history):
        seen.append((float(net.update_variables_["update_learning_rate"].get_value()), net._function("train")))

    net = make_mlp(max_epochs=3, update_learning_rate=0.1,
                   on_epoch_finished=[AdjustVariable("update_learning_rate", 0.1, 0.01), record])
    net.fit(X, y)
    np.testing.assert_allclose([value for value, _ in seen], [0.055, 0.01, 0.01], rtol=1e-6)
    assert len({id(function) for _, function in seen}) == 1


def test_update_arguments_shared_and_scheduled(blobs, make_mlp):
    X, y = blobs
    learning_rate = pytensor.shared(np.float32(0.05))
    net = make_mlp(max_epochs=3, update_learning_rate=learning_rate,
                   update_momentum=lambda epoch: 0.5 + 0.1 * epoch)
    net.fit(X, y)
    assert net.update_variables_["update_learning_rate"] is learning_rate
    assert float(net.update_variables_["update_momentum"].get_value()) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="update_rho"):
        AdjustVariable("update_rho", 1, 0)(net, net.train_history_)


def test_verbose_prints_layers_and_one_row_per_epoch(blobs, make_mlp, capsys):
    X, y = blobs
    make_mlp(max_epochs=2, verbose=1).fit(X, y)
    out = capsys.readouterr().out
    assert "learnable parameters" in out and "hidden" in out
    assert "train loss" in out and "valid acc" in out
    assert "\033[" not in out  # no colours: standard output is not a terminal here
    make_mlp(max_epochs=1).fit(X, y)
    assert capsys.readouterr().out == ""


def test_print_log_highlights_the_best_values_on_a_terminal(capsys, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    history = [{"epoch": 1, "train_loss": 1.0, "valid_loss": 0.5, "valid_accuracy": 0.8, "dur": 1.0}]
    PrintLog()(None, history)
    history.append({"epoch": 2, "train_loss": 0.9, "valid_loss": 0.6, "valid_accuracy": 0.7, "dur": 1.0})
    PrintLog()(None, history)
    header, _, first, second = capsys.readouterr().out.splitlines()
    assert header.split() == ["epoch", "train", "loss", "valid", "loss", "train/val", "valid", "acc", "dur"]
    assert first.count(PrintLog.END) == 3
    assert PrintLog.BEST_TRAIN in second and PrintLog.BEST_VALID not in second


def test_partial_fit_continues_training(blobs, make_mlp):
    X, y = blobs
    net = make_mlp()
    net.partial_fit(X, y)
    weights = net.get_all_params_values()["hidden.W"]
    net.partial_fit(X, y)
    assert [entry["epoch"] for entry in net.train_history_] == [1, 2]
    assert not np.array_equal(weights, net.get_all_params_values()["hidden.W"])
    assert net.train_history_[1]["train_loss"] < net.train_history_[0]["train_loss"]


def test_string_labels(blobs, make_mlp):
    X, y = blobs
    names = np.array(["cat", "dog", "emu"])[y]
    net = make_mlp().fit(X, names)
    np.testing.assert_array_equal(net.classes_, ["cat", "dog", "emu"])
    assert net.score(X, names) > 0.9
    assert set(net.predict(X)) <= {"cat", "dog", "emu"}


# -- scikit-learn --------------------------------------------------------------------------------


def test_get_params_and_set_params_with_prefixed_arguments(make_mlp):
    net = make_mlp()
    params = net.get_params()
    assert params["hidden_num_units"] == 16 and params["update_learning_rate"] == 0.05
    net.set_params(hidden_num_units=8, hidden_b=None)
    assert net.get_params()["hidden_num_units"] == 8 and net.get_params()["hidden_b"] is None
    with pytest.raises(ValueError, match="conv9_num_filters"):
        net.set_params(conv9_num_filters=3)
    assert "conv9_num_filters" not in net.get_params()
    with pytest.raises(TypeError, match="'predict'"):
        make_mlp(predict=1)


def test_set_params_of_a_layer_rebuilds_and_of_the_update_recompiles(blobs, make_mlp):
    X, y = blobs
    net = make_mlp(max_epochs=1).fit(X, y)
    weights = net.layers_["hidden"].W
    net.set_params(update_learning_rate=0.01)
    assert net.layers_["hidden"].W is weights and "_functions" not in vars(net)
    net.set_params(hidden_num_units=5).fit(X, y)
    assert net.layers_["hidden"].W.get_value().shape == (4, 5)
    assert len(net.train_history_) == 1


def test_clone_gives_an_unbuilt_copy(fitted_mnist_mlp):
    copy = clone(fitted_mnist_mlp)
    assert copy.get_params()["hidden_num_units"] == 32
    assert not hasattr(copy, "layers_") and not hasattr(copy, "train_history_")
    assert is_classifier(copy)


def test_clone_of_a_network_instance_copies_the_layers(blobs):
    X, y = blobs
    l_out = DenseLayer(InputLayer((None, 4)), num_units=3, nonlinearity=softmax)
    net = NeuralNet(l_out, update_learning_rate=0.1, max_epochs=1, mode=MODE)
    before = l_out.W.get_value()
    clone(net).fit(X, y)
    np.testing.assert_array_equal(l_out.W.get_value(), before)


def test_pickled_net_predicts_the_same(fitted_mnist_mlp, mnist):
    state = fitted_mnist_mlp.__getstate__()
    assert "_functions" not in state
    restored = pickle.loads(pickle.dumps(fitted_mnist_mlp))
    np.testing.assert_array_equal(restored.predict_proba(mnist.X_test[:200]),
                                  fitted_mnist_mlp.predict_proba(mnist.X_test[:200]))
    assert restored.train_history_ == fitted_mnist_mlp.train_history_


def test_pipeline_with_a_reshaping_transformer(blobs, make_mlp):
    X, y = blobs
    net = make_mlp(input_shape=(None, 1, 2, 2), train_split=None)
    pipeline = make_pipeline(StandardScaler(), FunctionTransformer(to_images), net).fit(X, y)
    assert pipeline.score(X, y) > 0.9
    assert net.layers_["input"].shape == (None, 1, 2, 2)


def test_cross_val_score(blobs, make_mlp):
    X, y = blobs
    scores = cross_val_score(make_mlp(max_epochs=3, train_split=None), X, y, cv=2)
    assert scores.shape == (2,) and scores.min() > 0.9


def check_randomized_search(X, y, net, n_jobs):
    search = RandomizedSearchCV(net, {"hidden_num_units": [4, 16], "update_learning_rate": [0.01, 0.05]},
                                n_iter=2, cv=2, random_state=0, n_jobs=n_jobs)
    search.fit(X, y)
    assert set(search.best_params_) == {"hidden_num_units", "update_learning_rate"}
    assert len(search.cv_results_["mean_test_score"]) == 2
    assert search.best_estimator_.get_params()["hidden_num_units"] == search.best_params_["hidden_num_units"]
    assert search.score(X, y) > 0.5


def test_randomized_search(blobs, make_mlp):
    check_randomized_search(*blobs, make_mlp(max_epochs=2, train_split=None), n_jobs=1)


@pytest.mark.skipif(os.environ.get("CONVNET_SLOW_TESTS") != "1",
                    reason="starts two worker processes (15 s on a busy 2-core machine); set CONVNET_SLOW_TESTS=1")
def test_randomized_search_in_two_loky_processes(blobs, make_mlp):
    check_randomized_search(*blobs, make_mlp(max_epochs=2, train_split=None), n_jobs=2)


def test_train_split_stratifies_labels_and_not_regression_targets():
    X = np.zeros((20, 2))
    _, _, _, y_valid = TrainSplit(eval_size=0.5)(X, np.array([0] * 10 + [1] * 10), None)
    assert sorted(y_valid.tolist()) == [0] * 5 + [1] * 5
    _, X_valid, _, _ = TrainSplit(eval_size=0.25)(X, np.linspace(0, 1, 20), None)
    assert len(X_valid) == 5


# -- bad input -----------------------------------------------------------------------------------


def assert_fails_before_compiling(net, X, y, match):
    with pytest.raises(ValueError, match=match):
        net.fit(X, y)
    assert "_functions" not in vars(net)


def test_unknown_prefixed_argument(blobs, make_mlp):
    assert_fails_before_compiling(make_mlp(conv9_num_filters=3), *blobs, match="conv9_num_filters")


def test_prefixed_layer_argument_for_a_network_instance(blobs):
    net = NeuralNet(DenseLayer(InputLayer((None, 4)), 3, nonlinearity=softmax), hidden_num_units=3, mode=MODE)
    assert_fails_before_compiling(net, *blobs, match="hidden_num_units")


def test_missing_layer_argument_names_the_layer_and_the_argument(blobs):
    net = NeuralNet([("input", InputLayer), ("hidden", DenseLayer), ("output", DenseLayer)],
                    input_shape=(None, 4), output_num_units=3, update_learning_rate=0.1)
    assert_fails_before_compiling(net, *blobs, match=r"'hidden' \(DenseLayer\).*num_units")


def test_missing_or_unexpected_update_argument(blobs, make_mlp):
    net = NeuralNet([("input", InputLayer), ("output", DenseLayer)], input_shape=(None, 4), output_num_units=3)
    assert_fails_before_compiling(net, *blobs, match="nesterov_momentum: missing .*learning_rate")
    net = make_mlp(update_rho=0.5)
    assert_fails_before_compiling(net, *blobs, match="nesterov_momentum: .*unexpected .*rho")


def test_bad_layer_specification(blobs):
    assert_fails_before_compiling(NeuralNet([("input", InputLayer), DenseLayer]), *blobs, match="specification #1")
    net = NeuralNet([("input", InputLayer), (DenseLayer, {"num_units": 3, "incoming": "nowhere"})],
                    input_shape=(None, 4), update_learning_rate=0.1)
    assert_fails_before_compiling(net, *blobs, match="nowhere")


@pytest.mark.parametrize("X_shape, y_length, match", [
    ((300, 4), 299, "differ in length"),
    ((300, 5), 300, r"X has shape \(300, 5\).*\(None, 4\)"),
    ((300, 2, 2), 300, "input layer expects"),
])
def test_bad_data_shapes(make_mlp, X_shape, y_length, match):
    X = np.zeros(X_shape, np.float32)
    assert_fails_before_compiling(make_mlp(), X, np.arange(y_length) % 3, match)


def test_bad_labels(blobs, make_mlp):
    X, y = blobs
    assert_fails_before_compiling(make_mlp(), X, y + 1, r"unknown labels \[3\]")
    assert_fails_before_compiling(make_mlp(), X, np.array(["a", "b"])[y % 2], "2 distinct labels")
    assert_fails_before_compiling(make_mlp(), X, np.zeros((300, 3), np.int32), "vector of labels")


def test_bad_regression_targets():
    X, y = keypoints(n=50)
    assert_fails_before_compiling(regressor(), X, y[:, :5], r"shape \(50, 5\).*\(None, 6\)")


def test_predict_before_fit_raises(make_mlp):
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        make_mlp().predict(np.zeros((2, 4), np.float32))


# -- the example ---------------------------------------------------------------------------------


def test_example_runs_end_to_end():
    result = subprocess.run([sys.executable, str(EXAMPLE), "--sample", "--epochs", "1", "--subset", "500",
                             "--mode", "FAST_COMPILE"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "test accuracy" in result.stdout and "best parameters" in result.stdout
