"""Tests of convnet.objectives against NumPy re-implementations."""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from convnet import objectives
from convnet.objectives import (
    aggregate,
    binary_accuracy,
    binary_crossentropy,
    binary_hinge_loss,
    categorical_accuracy,
    categorical_crossentropy,
    multiclass_hinge_loss,
    squared_error,
)
from convnet.utils import one_hot

# the clipping bounds as float32 represents them (1 - 1e-7 rounds to 1 - 1.19e-7)
LOW, HIGH = np.float32(objectives.EPSILON), np.float32(1 - objectives.EPSILON)
rng = np.random.default_rng(42)


def evaluate(expression_builder, *arrays):
    """Compile ``expression_builder`` on symbolic inputs typed like ``arrays``
    and evaluate it on them (dimensions of length 1 are broadcastable)."""
    inputs = [pt.tensor(dtype=a.dtype, shape=tuple(1 if d == 1 else None for d in a.shape)) for a in arrays]
    fn = pytensor.function(inputs, expression_builder(*inputs), mode="FAST_COMPILE")
    return fn(*arrays)


def probabilities(shape):
    return rng.uniform(0.01, 0.99, size=shape).astype(np.float32)


def class_probabilities(num_items, num_classes):
    p = rng.uniform(0.05, 1.0, size=(num_items, num_classes))
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def numpy_binary_crossentropy(p, t):
    p = np.clip(p.astype(np.float64), LOW, HIGH)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p))


def numpy_categorical_crossentropy(p, t_one_hot):
    return -(t_one_hot * np.log(np.clip(p.astype(np.float64), LOW, HIGH))).sum(axis=-1)


def numpy_multiclass_hinge(p, t_index, delta):
    rows = np.arange(len(p))
    correct = p[rows, t_index]
    others = p.astype(np.float64).copy()
    others[rows, t_index] = -np.inf
    return np.maximum(others.max(axis=1) - correct + delta, 0)


# binary cross-entropy


def test_binary_crossentropy_matches_numpy():
    p, t = probabilities((5, 4)), rng.uniform(size=(5, 4)).astype(np.float32)
    result = evaluate(binary_crossentropy, p, t)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, numpy_binary_crossentropy(p, t), rtol=1e-5)


def test_binary_crossentropy_is_finite_for_saturated_predictions():
    p = np.array([0.0, 1.0, 0.0, 1.0], dtype=np.float32)
    t = np.array([1.0, 0.0, 0.0, 1.0], dtype=np.float32)
    result = evaluate(binary_crossentropy, p, t)
    assert np.isfinite(result).all()
    np.testing.assert_allclose(result, numpy_binary_crossentropy(p, t), rtol=1e-5)
    assert result[0] == pytest.approx(-np.log(LOW), rel=1e-5)


def test_binary_crossentropy_column_predictions_with_vector_targets():
    p = probabilities((6, 1))
    t = rng.integers(0, 2, size=6).astype(np.float32)
    x = pt.tensor(dtype="float32", shape=(None, 1))
    result = binary_crossentropy(x, t).eval({x: p}, mode="FAST_COMPILE")
    assert result.shape == (6, 1)
    np.testing.assert_allclose(result, numpy_binary_crossentropy(p, t[:, None]), rtol=1e-5)


def test_integer_targets_keep_float32():
    predictions, targets = pt.matrix(), pt.imatrix()
    assert binary_crossentropy(predictions, targets).dtype == "float32"
    assert squared_error(predictions, targets).dtype == "float32"
    assert categorical_crossentropy(predictions, one_hot(pt.ivector(), 3)).dtype == "float32"


# categorical cross-entropy


def test_categorical_crossentropy_int_and_one_hot_targets_agree_with_numpy():
    p = class_probabilities(7, 5)
    t = rng.integers(0, 5, size=7).astype(np.int32)
    t_one_hot = np.eye(5, dtype=np.float32)[t]
    from_indices = evaluate(categorical_crossentropy, p, t)
    from_one_hot = evaluate(categorical_crossentropy, p, t_one_hot)
    assert from_indices.shape == (7,) and from_indices.dtype == np.float32
    np.testing.assert_allclose(from_indices, from_one_hot, rtol=1e-6)
    np.testing.assert_allclose(from_indices, numpy_categorical_crossentropy(p, t_one_hot), rtol=1e-5)


def test_categorical_crossentropy_soft_targets():
    p, t = class_probabilities(4, 3), class_probabilities(4, 3)
    expected = numpy_categorical_crossentropy(p, t)
    np.testing.assert_allclose(evaluate(categorical_crossentropy, p, t), expected, rtol=1e-5)


def test_categorical_crossentropy_is_clipped():
    p = np.array([[0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    t = np.array([0, 0], dtype=np.int32)
    expected = [-np.log(np.float64(LOW)), -np.log(np.float64(HIGH))]
    np.testing.assert_allclose(evaluate(categorical_crossentropy, p, t), expected, rtol=1e-5)
    x = pt.matrix("p")
    grad = pytensor.grad(categorical_crossentropy(x, t).sum(), x)
    assert np.isfinite(grad.eval({x: p}, mode="FAST_COMPILE")).all()


def test_categorical_crossentropy_over_last_axis_of_3d_predictions():
    p = class_probabilities(6, 4).reshape(2, 3, 4)
    t = rng.integers(0, 4, size=(2, 3)).astype(np.int64)
    expected = numpy_categorical_crossentropy(p, np.eye(4)[t])
    np.testing.assert_allclose(evaluate(categorical_crossentropy, p, t), expected, rtol=1e-5)


def test_categorical_crossentropy_gradient_matches_numpy():
    p = class_probabilities(3, 4)
    t = np.array([0, 3, 1], dtype=np.int32)
    x = pt.matrix("p")
    grad = pytensor.grad(categorical_crossentropy(x, t).sum(), x).eval({x: p}, mode="FAST_COMPILE")
    expected = np.zeros_like(p)
    expected[np.arange(3), t] = -1 / p[np.arange(3), t]
    np.testing.assert_allclose(grad, expected, rtol=1e-5)


# squared error


def test_squared_error_matches_numpy():
    a, b = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(evaluate(squared_error, a, b), (a - b) ** 2, rtol=1e-6)


def test_squared_error_with_scalar_target():
    a = rng.standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(evaluate(lambda x: squared_error(x, 0.0), a), a**2, rtol=1e-6)


# hinge losses


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("log_odds", [True, False])
@pytest.mark.parametrize("delta", [1, 0.5])
def test_binary_hinge_loss_matches_numpy(log_odds, binary, delta):
    p = probabilities(10) if not log_odds else rng.standard_normal(10).astype(np.float32) * 2
    t01 = rng.integers(0, 2, size=10).astype(np.float32)
    t = t01 if binary else 2 * t01 - 1
    log_odds_values = p if log_odds else np.log(p / (1 - p))
    expected = np.maximum(delta - log_odds_values * (2 * t01 - 1), 0)
    result = evaluate(lambda x, y: binary_hinge_loss(x, y, delta=delta, log_odds=log_odds, binary=binary), p, t)
    np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-5)


def test_binary_hinge_loss_warns_without_log_odds():
    with pytest.warns(FutureWarning, match="log_odds"):
        binary_hinge_loss(pt.vector(), pt.vector())


@pytest.mark.parametrize("delta", [1, 0.3])
def test_multiclass_hinge_loss_int_and_one_hot_targets_agree_with_numpy(delta):
    p = rng.standard_normal((8, 4)).astype(np.float32)
    t = rng.integers(0, 4, size=8).astype(np.int32)
    expected = numpy_multiclass_hinge(p, t, delta)
    from_indices = evaluate(lambda x, y: multiclass_hinge_loss(x, y, delta=delta), p, t)
    from_one_hot = evaluate(lambda x, y: multiclass_hinge_loss(x, y, delta=delta), p, np.eye(4, dtype=np.float32)[t])
    np.testing.assert_allclose(from_indices, expected, rtol=1e-6)
    np.testing.assert_allclose(from_one_hot, expected, rtol=1e-6)


# accuracies


@pytest.mark.parametrize("threshold", [0.5, 0.8])
def test_binary_accuracy_matches_numpy(threshold):
    p = rng.uniform(size=20).astype(np.float32)
    t = rng.integers(0, 2, size=20).astype(np.int32)
    result = evaluate(lambda x, y: binary_accuracy(x, y, threshold=threshold), p, t)
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, ((p >= threshold) == t).astype(np.float32))


@pytest.mark.parametrize("top_k", [1, 2, 3])
def test_categorical_accuracy_int_and_one_hot_targets_agree_with_numpy(top_k):
    p = rng.standard_normal((30, 5)).astype(np.float32)
    t = rng.integers(0, 5, size=30).astype(np.int32)
    top = np.argsort(p, axis=1)[:, -top_k:]
    expected = (top == t[:, None]).any(axis=1).astype(np.float32)
    from_indices = evaluate(lambda x, y: categorical_accuracy(x, y, top_k=top_k), p, t)
    from_one_hot = evaluate(lambda x, y: categorical_accuracy(x, y, top_k=top_k), p, np.eye(5, dtype=np.int8)[t])
    assert from_indices.dtype == np.float32
    np.testing.assert_array_equal(from_indices, expected)
    np.testing.assert_array_equal(from_one_hot, expected)


# aggregate


def test_aggregate_modes_with_and_without_weights():
    loss = rng.uniform(size=(4, 3)).astype(np.float32)
    weights = rng.uniform(size=(4, 3)).astype(np.float32)
    column_weights = np.array([1, 0, 1, 1], dtype=np.int32)[:, None]
    cases = {
        ("mean", None): loss.mean(),
        ("sum", None): loss.sum(),
        ("mean", "w"): (loss * weights).mean(),
        ("sum", "w"): (loss * weights).sum(),
        ("normalized_sum", "w"): (loss * weights).sum() / weights.sum(),
        ("normalized_sum", "mask"): (loss * column_weights).sum() / column_weights.sum(),
    }
    for (mode, which), expected in cases.items():
        if which is None:
            result = evaluate(lambda x: aggregate(x, mode=mode), loss)
        else:
            w = weights if which == "w" else column_weights
            result = evaluate(lambda x, y: aggregate(x, y, mode=mode), loss, w)
        assert result.dtype == np.float32, (mode, which)
        np.testing.assert_allclose(result, expected, rtol=1e-5, err_msg=f"{mode}, {which}")


def test_aggregate_accepts_numpy_weights_without_upcasting():
    result = aggregate(pt.vector(), np.array([1.0, 0.5, 0.0]), mode="normalized_sum")
    assert result.dtype == "float32"


def test_aggregate_errors():
    with pytest.raises(ValueError, match="requires weights"):
        aggregate(pt.vector(), mode="normalized_sum")
    with pytest.raises(ValueError, match="mode must be 'mean', 'sum' or 'normalized_sum', got 'max'"):
        aggregate(pt.vector(), mode="max")


# rank mismatches are reported when the graph is built


@pytest.mark.parametrize(
    "function, predictions, targets, message",
    [
        (binary_crossentropy, pt.matrix(), pt.vector(), "binary_crossentropy: rank mismatch"),
        (squared_error, pt.vector(), pt.matrix(), "squared_error: rank mismatch"),
        (binary_accuracy, pt.tensor3(), pt.matrix(), "binary_accuracy: rank mismatch"),
        (categorical_crossentropy, pt.matrix(), pt.tensor3(), "categorical_crossentropy: rank mismatch"),
        (categorical_crossentropy, pt.matrix(), pt.vector(), "must be integer class indices"),
        (multiclass_hinge_loss, pt.matrix(), pt.iscalar(), "multiclass_hinge_loss: rank mismatch"),
        (categorical_accuracy, pt.tensor3(), pt.ivector(), "categorical_accuracy: rank mismatch"),
    ],
)
def test_rank_mismatch_errors(function, predictions, targets, message):
    with pytest.raises(TypeError, match=message):
        function(predictions, targets)


def test_binary_hinge_loss_rank_mismatch():
    with pytest.raises(TypeError, match="binary_hinge_loss: rank mismatch"):
        binary_hinge_loss(pt.matrix(), pt.vector(), log_odds=True)


# -- labels outside the classes, empty batches: errors when the function runs --------------------


LABEL_FUNCTIONS = {
    "categorical_crossentropy": lambda p, t, **kw: objectives.categorical_crossentropy(p, t, **kw),
    "multiclass_hinge_loss": lambda p, t, **kw: objectives.multiclass_hinge_loss(p, t, **kw),
    "categorical_accuracy": lambda p, t, **kw: objectives.categorical_accuracy(p, t, **kw),
}


@pytest.mark.parametrize("backend", ["FAST_COMPILE", "NUMBA"])
@pytest.mark.parametrize("name", list(LABEL_FUNCTIONS))
def test_a_label_outside_the_classes_raises_with_the_label_and_class_count(backend, name):
    p, t = pt.matrix("p"), pt.ivector("t")
    f = pytensor.function([p, t], LABEL_FUNCTIONS[name](p, t).sum(), mode=backend)
    probabilities = np.full((3, 4), 0.25, dtype=p.dtype)
    f(probabilities, np.array([0, 3, 1], "int32"))
    for labels, first, index, count in (([0, 4, 7], 4, 1, 2), ([-1, 0, 0], -1, 0, 1)):
        with pytest.raises(IndexError, match=rf"^{name}: class label {first} \(item {index}\) is outside "
                                             rf"\[0, 4\): the predictions have 4 classes \({count} of 3 labels"):
            f(probabilities, np.array(labels, "int32"))


def test_check_labels_false_leaves_the_check_out():
    p, t = pt.matrix("p"), pt.ivector("t")
    f = pytensor.function([p, t], objectives.categorical_crossentropy(p, t, check_labels=False).sum(),
                          mode="FAST_COMPILE")
    assert np.isinf(f(np.full((1, 4), 0.25, dtype=p.dtype), np.array([4], "int32")))


@pytest.mark.parametrize("backend", ["FAST_COMPILE", "NUMBA"])
def test_the_mean_of_an_empty_batch_raises(backend):
    p, t = pt.matrix("p"), pt.ivector("t")
    f = pytensor.function([p, t], objectives.aggregate(objectives.categorical_crossentropy(p, t)), mode=backend)
    with pytest.raises(ValueError, match=r"aggregate: the loss has no elements \(a batch of 0 samples\?\)"):
        f(np.zeros((0, 4), p.dtype), np.zeros(0, "int32"))
    assert objectives.aggregate(np.zeros(0, "float32"), mode="sum").eval() == 0


def test_huber_loss_matches_numpy_and_its_gradient_is_clipped():
    from convnet.objectives import huber_loss

    p = np.array([-3.0, -1.0, -0.2, 0.0, 0.5, 2.0, 4.0])
    t = np.zeros_like(p)
    d = np.abs(p - t)
    for delta in (1.0, 2.5):
        expected = np.where(d <= delta, 0.5 * d ** 2, delta * (d - delta / 2))
        np.testing.assert_allclose(huber_loss(p, t, delta).eval(), expected)
    x = pt.dvector()
    g = pytensor.function([x], pytensor.grad(huber_loss(x, t).sum(), x))(p)
    np.testing.assert_allclose(g, np.clip(p, -1, 1))
    with pytest.raises(ValueError, match="delta must be positive"):
        huber_loss(p, t, delta=0)
    with pytest.raises(TypeError, match="huber_loss: rank mismatch"):
        huber_loss(pt.vector(), pt.matrix())
