"""scikit-learn's check_estimator on a small NeuralNet.

The checks that fail are exactly those that a fixed architecture cannot pass
(listed below with the reason); any other failure, or any of these passing,
fails this test, so the list stays true."""
import warnings

import pytest

from sklearn.utils.estimator_checks import check_estimator

from convnet.estimator import NeuralNet
from convnet.layers import DenseLayer, InputLayer
from convnet.nonlinearities import softmax

from .conftest import MODE

EXPECTED_FAILURES = {
    # nolearn's prefixed layer arguments are estimator parameters passed as
    # **kwargs, so __init__ sets attributes the signature does not name.
    "check_no_attributes_set_in_init",
    # The output layer has 3 units, one per class: data with 2 or 4 classes
    # (and the binary half of check_classifiers_train) cannot fit it.
    "check_dtype_object",
    "check_estimators_nan_inf",
    "check_classifiers_classes",
    "check_classifiers_train",
}


def test_check_estimator_fails_only_where_the_architecture_is_fixed():
    # input_shape=(None, None): the number of features comes from the data
    net = NeuralNet([("input", InputLayer), ("output", DenseLayer)], input_shape=(None, None),
                    output_num_units=3, output_nonlinearity=softmax, update_learning_rate=0.3,
                    max_epochs=8, mode=MODE, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(net, on_fail=None)
    failed = {result["check_name"] for result in results if result["status"] == "failed"}
    assert failed == EXPECTED_FAILURES
    assert len(results) > 50


def test_open_input_shape_is_filled_from_the_first_fit_data():
    from .conftest import make_blobs
    X, y = make_blobs(n=60, n_features=5)
    net = NeuralNet([("input", InputLayer), ("output", DenseLayer)], input_shape=(None, None),
                    output_num_units=3, output_nonlinearity=softmax, update_learning_rate=0.1,
                    max_epochs=1, mode=MODE, random_state=0).fit(X, y)
    assert net.layers_["input"].shape == (None, 5)
    assert net.get_params()["input_shape"] == (None, None)
    assert net.n_features_in_ == 5
    with pytest.raises(ValueError, match="X has 4 features, but NeuralNet is expecting 5"):
        net.predict(X[:, :4])
    with pytest.raises(ValueError, match="requires y to be passed"):
        net.fit(X, None)
    with pytest.raises(ValueError, match="Unknown label type"):
        net.fit(X, X[:, 0])
