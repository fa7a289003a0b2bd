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


@pytest.mark.parametrize("batch_size", [
    lambda m, piece: piece.shape[0],  # inferred by Split as set_subtensor(m.shape[1], 2)[0]
    lambda m, piece: pt.maximum(m.shape[0], 1),
], ids=["split_shape", "shape_arithmetic"])
def test_alloc_takes_the_lengths_its_value_has_from_the_value(batch_size):
    # PyTensor computes these lengths with tensor operations, which JAX traces:
    # Alloc asked JAX for an array of traced shape (as in the gradient of a
    # concatenation of global poolings), and JAX refused.
    m = pt.tensor("m", shape=(None, 5))
    piece, _ = pt.split(m, [2, 3], n_splits=2, axis=1)
    y = pt.alloc(piece[:, :, None], batch_size(m, piece), 2, 4)
    f = pytensor.function([m], y, mode="JAX")
    values = np.arange(15, dtype="float32").reshape(3, 5)
    np.testing.assert_array_equal(np.asarray(f(values)), np.broadcast_to(values[:, :2, None], (3, 2, 4)))
