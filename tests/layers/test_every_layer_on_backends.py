"""One network that contains every layer type, compiled under JAX: the
deterministic output matches the Python backend's, the noise layers draw
fresh randomness at every call and the network trains. (Each layer's Numba
path is covered by the op tests and the examples; a Numba compile of this
whole network takes minutes, too long for the suite.)"""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import convnet
from convnet import layers as L
from convnet import init, nonlinearities, objectives, updates


def build_network_of_every_layer():
    l_in = L.InputLayer((None, 3, 12, 12), name="input")
    conv = L.batch_norm(L.Conv2DLayer(l_in, 4, 3, pad="same", name="conv"))
    lrn = L.LocalResponseNormalization2DLayer(conv, n=3)
    dilated = L.DilatedConv2DLayer(L.PadLayer(lrn, 2), 4, 3, dilation=(2, 2))
    transposed = L.TransposedConv2DLayer(L.Pool2DLayer(lrn, 2, mode="average_exc_pad"), 4, 2, stride=2)
    where = L.GlobalPoolLayer(lrn)
    identity = np.array([1, 0, 0, 0, 1, 0], dtype="float32")
    warped = L.TransformerLayer(lrn, L.DenseLayer(where, 6, W=init.Normal(0.01), b=identity, nonlinearity=None))
    bent = L.TPSTransformerLayer(lrn, L.DenseLayer(where, 8, W=init.Normal(0.01), nonlinearity=None),
                                 control_points=4, border_mode="mirror")
    summed = L.ParametricRectifierLayer(L.ElemwiseSumLayer([lrn, dilated, transposed, warped, bent]))
    noisy = L.GaussianNoiseLayer(summed, sigma=0.05)
    upscaled = L.Upscale2DLayer(L.MaxPool2DLayer(noisy, 2), 2)
    merged = L.ElemwiseMergeLayer([noisy, upscaled], pt.maximum)
    nin = L.NINLayer(merged, 6)
    features = L.ConcatLayer([L.FeaturePoolLayer(nin, 2), L.FeatureWTALayer(nin, 2)], axis=1)
    pooled = L.Pool2DLayer(features, 2, mode="l2")
    sliced = L.SliceLayer(pooled, slice(0, 8), axis=1)
    flat = L.ReshapeLayer(L.DimshuffleLayer(sliced, (0, 1, 3, 2)), ([0], -1))
    scaled = L.ExpressionLayer(L.BiasLayer(L.ScaleLayer(flat)), lambda x: 0.5 * x)
    hidden = L.DenseLayer(L.DropoutLayer(scaled, p=0.2), 16)
    branch = L.DenseLayer(L.FlattenLayer(L.GlobalPoolLayer(L.Pool2DLayer(sliced, 2, mode="sum"))), 16)
    # sequences: the 8 sliced channels as time steps of 36 features
    seq = L.ReshapeLayer(sliced, ([0], 8, 36))
    final = {"only_return_final": True}
    recurrent = L.ConcatLayer([
        L.RecurrentLayer(seq, 4, nonlinearity=nonlinearities.tanh, **final),
        L.LSTMLayer(seq, 4, backwards=True, **final),
        L.GRULayer(seq, 4, **final),
        L.CustomRecurrentLayer(seq, L.DenseLayer(L.InputLayer((None, 36)), 4, nonlinearity=None),
                               L.DenseLayer(L.InputLayer((None, 4)), 4, nonlinearity=None), **final),
    ])
    normalized = L.RandomizedRectifierLayer(L.StandardizationLayer(recurrent))
    encoded = L.DenseLayer(normalized, 6, nonlinearity=None)
    indices = L.ExpressionLayer(seq, lambda x: pt.cast(x[:, 0, :3] > 0, "int32"), output_shape=(None, 3))
    embedded = L.FlattenLayer(L.EmbeddingLayer(indices, input_size=2, output_size=2))
    signal = L.Conv1DLayer(seq, 4, 3, pad="same")
    signal = L.Upscale1DLayer(L.Pool1DLayer(L.MaxPool1DLayer(signal, 2), 2, mode="average_exc_pad"), 2)
    volume = L.Upscale3DLayer(L.ReshapeLayer(signal, ([0], 1, 4, 2, 9)), (1, 1, 2))
    volume = L.TransposedConv3DLayer(L.Conv3DLayer(volume, 2, (3, 1, 3), pad="same"), 1, (1, 1, 2), stride=(1, 1, 2))
    volume = L.Pool3DLayer(volume, (2, 1, 3), stride=(1, 1, 2), pad=(1, 0, 1), mode="average_inc_pad")
    volume = L.MaxPool3DLayer(volume, 2, ignore_border=False)
    sequence_branch = L.DenseLayer(L.ConcatLayer([L.InverseLayer(encoded, encoded), embedded,
                                                  L.FlattenLayer(volume),
                                                  L.FlattenLayer(L.LocallyConnected2DLayer(sliced, 2, 3)),
                                                  L.FlattenLayer(L.SpatialPyramidPoolingLayer(sliced, [2, 1]))]),
                                   16)
    joined = L.ElemwiseSumLayer([hidden, branch, sequence_branch])
    return l_in, L.NonlinearityLayer(L.DenseLayer(joined, 5, nonlinearity=None), nonlinearities.softmax)


def every_layer_class():
    return {cls for cls in vars(L).values() if isinstance(cls, type) and issubclass(cls, L.Layer)} - {
        L.Layer, L.MergeLayer, L.BaseConvLayer, L.Deconv2DLayer}


def test_the_network_covers_every_layer_class():
    _, net = build_network_of_every_layer()
    used = {type(layer) for layer in L.get_all_layers(net)}
    missing = {cls.__name__ for cls in every_layer_class() if not any(issubclass(u, cls) for u in used)}
    assert not missing


def compile_on(mode, net, l_in):
    return (pytensor.function([l_in.input_var], L.get_output(net, deterministic=True), mode=mode),
            pytensor.function([l_in.input_var], L.get_output(net), mode=mode))


def test_every_layer_gives_the_python_backends_output_under_jax():
    pytest.importorskip("jax")
    convnet.random.set_rng(np.random.RandomState(0))
    l_in, net = build_network_of_every_layer()
    predict, sample = compile_on("JAX", net, l_in)
    reference, _ = compile_on("FAST_COMPILE", net, l_in)
    X = np.random.default_rng(0).standard_normal((8, 3, 12, 12)).astype("float32")
    np.testing.assert_allclose(np.asarray(predict(X)), reference(X), rtol=2e-4, atol=1e-5)
    assert not np.allclose(np.asarray(sample(X)), np.asarray(sample(X)))  # fresh noise and dropout each call


def test_every_layer_trains_under_jax():
    pytest.importorskip("jax")
    convnet.random.set_rng(np.random.RandomState(0))
    l_in, net = build_network_of_every_layer()
    targets = pt.ivector("targets")
    loss = objectives.categorical_crossentropy(L.get_output(net), targets).mean()
    params = L.get_all_params(net, trainable=True)
    train = pytensor.function([l_in.input_var, targets], loss, mode="JAX",
                              updates=updates.adam(loss, params, learning_rate=0.01))
    X = np.random.default_rng(0).standard_normal((8, 3, 12, 12)).astype("float32")
    y = (np.arange(8) % 5).astype("int32")
    losses = [float(train(X, y)) for _ in range(15)]
    assert losses[-1] < 0.7 * losses[0]


def test_concat_of_pooled_global_pool_trains_under_jax():
    pytest.importorskip("jax")
    l_in = L.InputLayer((None, 8, 6, 6))
    net = L.ConcatLayer([L.GlobalPoolLayer(L.Pool2DLayer(l_in, 2)), L.GlobalPoolLayer(L.Pool2DLayer(l_in, 3))])
    grad = pytensor.grad(L.get_output(net).sum(), l_in.input_var)
    pytensor.function([l_in.input_var], grad, mode="JAX")(np.ones((2, 8, 6, 6), dtype="float32"))
