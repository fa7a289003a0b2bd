"""convnet.legacy.theano: Theano's names, checked against NumPy."""
import numpy as np
import pytensor
import pytest

import convnet.legacy.theano as theano
import convnet.legacy.theano.tensor as T
from convnet.legacy.theano.sandbox.rng_mrg import MRG_RandomStreams
from convnet.legacy.theano.tensor.nnet import abstract_conv
from convnet.legacy.theano.tensor.signal.pool import pool_2d, pool_3d


def _eval(expr, mode="FAST_COMPILE"):
    return theano.function([], expr, mode=mode)()


def test_activations_match_numpy():
    x = np.array([[-2.0, -0.5, 0.0, 1.5]])
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(_eval(T.nnet.softmax(x)), e / e.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(_eval(T.nnet.logsoftmax(x)), np.log(e / e.sum(axis=1, keepdims=True)))
    np.testing.assert_allclose(_eval(T.nnet.relu(x)), np.maximum(x, 0))
    np.testing.assert_allclose(_eval(T.nnet.relu(x, 0.1)), np.maximum(x, 0.1 * x), rtol=1e-6)
    np.testing.assert_allclose(_eval(T.nnet.sigmoid(x)), 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(_eval(T.nnet.hard_sigmoid(x)), np.clip(0.2 * x + 0.5, 0, 1))
    np.testing.assert_allclose(_eval(T.nnet.elu(x)), np.where(x > 0, x, np.expm1(x)))
    np.testing.assert_allclose(_eval(T.abs_(x)), abs(x))
    np.testing.assert_allclose(_eval(T.inv(x[:, 1:2])), 1 / x[:, 1:2])


def test_crossentropies_match_numpy():
    p = np.array([[0.2, 0.7, 0.1], [0.5, 0.25, 0.25]])
    labels = np.array([1, 2], dtype="int32")
    one_hot = np.eye(3)[labels]
    expected = -np.log(p[[0, 1], labels])
    np.testing.assert_allclose(_eval(T.nnet.categorical_crossentropy(p, labels)), expected)
    np.testing.assert_allclose(_eval(T.nnet.categorical_crossentropy(p, one_hot)), expected)
    q, t = np.array([0.9, 0.2]), np.array([1.0, 0.0])
    np.testing.assert_allclose(_eval(T.nnet.binary_crossentropy(q, t)), -np.log([0.9, 0.8]))
    logits = np.array([2.0, -1.0])
    np.testing.assert_allclose(_eval(T.nnet.sigmoid_binary_crossentropy(logits, t)),
                               -np.log([1 / (1 + np.exp(-2.0)), 1 - 1 / (1 + np.exp(1.0))]))
    with pytest.raises(TypeError, match="categorical_crossentropy: true_dist"):
        T.nnet.categorical_crossentropy(p, np.array([0.5, 0.5]))


def test_conv2d_is_a_true_convolution_like_theano():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 5, 6))
    w = rng.standard_normal((3, 2, 2, 3))
    out = _eval(T.nnet.conv2d(x, w, image_shape=(1, 2, 5, 6)))
    flipped = w[:, :, ::-1, ::-1]
    expected = np.zeros((1, 3, 4, 4))
    for i in range(4):
        for j in range(4):
            expected[0, :, i, j] = np.tensordot(flipped, x[0, :, i:i + 2, j:j + 3], axes=3)
    np.testing.assert_allclose(out, expected, rtol=1e-10)
    assert abstract_conv.get_conv_output_shape((1, 2, 5, 6), (3, 2, 2, 3), "valid", (1, 1)) == (1, 3, 4, 4)
    with pytest.raises(NotImplementedError, match="num_groups=2"):
        T.nnet.conv2d(x, w, num_groups=2)
    # conv2d_transpose inverts the shapes of a strided convolution
    y = T.nnet.conv2d_transpose(np.ones((1, 3, 2, 2)), w, output_shape=(1, 2, 4, 5), input_dilation=(2, 2))
    assert _eval(y).shape == (1, 2, 4, 5)


def test_conv3d_is_a_true_convolution_like_theano():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 4, 5, 3))
    w = rng.standard_normal((3, 2, 2, 3, 2))
    out = _eval(T.nnet.conv3d(x, w, input_shape=(1, 2, 4, 5, 3), filter_shape=(3, 2, 2, 3, 2)))
    flipped = w[:, :, ::-1, ::-1, ::-1]
    expected = np.zeros((1, 3, 3, 3, 2))
    for index in np.ndindex(3, 3, 2):
        window = tuple(slice(i, i + k) for i, k in zip(index, w.shape[2:]))
        expected[(0, slice(None)) + index] = np.tensordot(flipped, x[(0, slice(None)) + window], axes=4)
    np.testing.assert_allclose(out, expected, rtol=1e-10)
    assert abstract_conv.get_conv_output_shape(x.shape, w.shape, "valid", (1, 1, 1)) == (1, 3, 3, 3, 2)
    with pytest.raises(NotImplementedError, match="num_groups=2"):
        T.nnet.conv3d(x, w, num_groups=2)


def test_pool_2d_defaults_and_old_names():
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    with pytest.warns(UserWarning, match="ignore_border"):
        partial = pool_2d(x, ws=(2, 2))
    np.testing.assert_array_equal(_eval(partial)[0, 0], [[6, 8, 9], [16, 18, 19], [21, 23, 24]])
    old = pool_2d(x, ds=(2, 2), st=(1, 1), ignore_border=True, mode="average_inc_pad")
    np.testing.assert_allclose(_eval(old)[0, 0, 0, 0], np.mean([0, 1, 5, 6]))
    with pytest.raises(ValueError, match="not both"):
        pool_2d(x, ws=(2, 2), ds=(3, 3), ignore_border=True)


def test_pool_3d_defaults_and_old_names():
    x = np.arange(27.0).reshape(1, 3, 3, 3)
    with pytest.warns(UserWarning, match=r"pool_3d\(\) will have the parameter ignore_border"):
        partial = pool_3d(x, ws=(2, 2, 2))
    partial = _eval(partial)
    assert partial.shape == (1, 2, 2, 2)
    assert partial[0, 0, 0, 0] == 13 and partial[0, 1, 1, 1] == 26
    old = pool_3d(x, ds=(3, 3, 3), st=(1, 1, 1), ignore_border=True, mode="average_inc_pad")
    np.testing.assert_allclose(_eval(old), [[[[13.0]]]])
    with pytest.raises(ValueError, match="pool_3d: give either ds"):
        pool_3d(x, ws=(2, 2, 2), ds=(3, 3, 3), ignore_border=True)


def test_shared_with_broadcastable_pattern_broadcasts():
    b = theano.shared(np.zeros((1, 3), "float32"), broadcastable=(True, False))
    assert b.type.shape == (1, None)
    m = T.matrix()
    assert theano.function([m], m + b, mode="FAST_COMPILE")(np.ones((2, 3), "float32")).shape == (2, 3)
    assert T.addbroadcast(T.matrix(), 0).type.shape[0] == 1
    assert T.patternbroadcast(T.matrix(), (False, True)).type.shape == (None, 1)


def test_config_reads_floatx_and_the_device():
    assert theano.config.floatX == pytensor.config.floatX
    assert theano.config.device == "cpu"


def test_scan_returns_outputs_and_updates():
    v = T.dvector()
    out, updates = theano.scan(lambda x_t, acc: acc + x_t, sequences=v, outputs_info=np.float64(0.0))
    f = theano.function([v], out, updates=updates, mode="FAST_COMPILE")
    np.testing.assert_allclose(f(np.arange(4.0)), [0, 1, 3, 6])


def test_random_streams_draw_fresh_numbers_with_theanos_signatures():
    srng = MRG_RandomStreams(seed=5)
    u = srng.uniform((2000,), low=1.0, high=3.0)
    n = srng.normal((2000,), avg=2.0, std=0.5)
    f = theano.function([], [u, n], mode="FAST_COMPILE")
    (u1, n1), (u2, _n2) = f(), f()
    assert u1.dtype == pytensor.config.floatX and not np.array_equal(u1, u2)
    assert 1 <= u1.min() and u1.max() < 3 and abs(u1.mean() - 2) < 0.05
    assert abs(n1.mean() - 2) < 0.05 and abs(n1.std() - 0.5) < 0.05
    ints = _eval(srng.random_integers((500,), low=2, high=4))
    assert set(np.unique(ints)) == {2, 3, 4}
    again = MRG_RandomStreams(seed=5)
    np.testing.assert_array_equal(_eval(again.uniform((2000,), low=1.0, high=3.0)), u1)
    with pytest.raises(ValueError, match="ndim=3"):
        srng.uniform((2, 2), ndim=3)
