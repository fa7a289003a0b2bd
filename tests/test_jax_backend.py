"""convnet's fixes to PyTensor's JAX backend."""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import convnet  # noqa: F401  (registers convnet's JAX adjustments when PyTensor loads its JAX backend)

pytest.importorskip("jax")


def test_arange_of_a_shape_longer_than_int8():
    # PyTensor passes arange's constant bounds as int8 arrays; with jax 0.10
    # that failed with "Python integer 300 out of bounds for int8".
    x = pt.matrix("x")
    y = pt.ivector("y")
    picked = x[pt.arange(y.shape[0]), y]
    f = pytensor.function([x, y], picked, mode="JAX")
    values = np.arange(3000, dtype="float32").reshape(300, 10)
    labels = (np.arange(300) % 10).astype("int32")
    np.testing.assert_array_equal(f(values, labels), values[np.arange(300), labels])


def test_convnet_jax_mode_returns_numpy_and_keeps_updates_on_device():
    import jax

    w = pytensor.shared(np.ones(3, dtype="float32"))
    x = pt.vector("x")
    f = pytensor.function([x], [x * w, w.sum()], updates=[(w, 2 * w)], mode="CONVNET_JAX")
    out, total = f(np.arange(3, dtype="float32"))
    assert type(out) is np.ndarray and type(total) is np.ndarray
    np.testing.assert_array_equal(out, [0, 1, 2])
    assert isinstance(w.get_value(borrow=True, return_internal_type=True), jax.Array)
    np.testing.assert_array_equal(np.asarray(w.get_value()), [2, 2, 2])


def test_categorical_crossentropy_with_class_indices_differentiates_under_jax():
    # take_along_axis's gradient asked JAX for a shape holding a traced batch size.
    from convnet import objectives

    x, y = pt.matrix("x"), pt.ivector("y")
    w = pytensor.shared(np.ones((5, 3), dtype="float32"))
    loss = objectives.categorical_crossentropy(pt.special.softmax(x @ w, axis=-1), y).mean()
    f = pytensor.function([x, y], pytensor.grad(loss, w), mode="JAX")
    reference = pytensor.function([x, y], pytensor.grad(loss, w), mode="FAST_COMPILE")
    X = np.random.default_rng(0).random((4, 5), dtype=np.float32)
    labels = np.array([0, 2, 1, 2], dtype="int32")
    np.testing.assert_allclose(np.asarray(f(X, labels)), reference(X, labels), rtol=1e-5)
