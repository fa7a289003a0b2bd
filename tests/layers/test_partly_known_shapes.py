"""Every layer class on inputs whose batch and spatial (or time) sizes are
None, as Lasagne's lazily computed shapes allowed: the graph compiles once
and runs on two different concrete sizes, each output of the shape
``get_output_shape`` gives for those sizes and agreeing with the declared
``output_shape`` where that is known.

Where Lasagne itself needs a size, so does convnet, and the builder below
keeps it known (and says why):

* DenseLayer, NINLayer's and the recurrent layers' weights need the feature
  (channel) sizes; a DenseLayer on a 4-D input needs them all.
* LocallyConnected2DLayer has weights per output position: only the batch
  size may be None.
* SpatialPyramidPoolingLayer's ``implementation='fast'`` fixes its pooling
  windows when the graph is built; ``'kaiming'`` takes any size (built here).
* Parameters per position (``untie_biases``, ``shared_axes`` that leave a
  spatial axis unshared) need that axis known.
"""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from convnet import init
from convnet import layers as L
from tests.layers.test_every_layer_on_backends import every_layer_class

IDENTITY = np.array([1, 0, 0, 0, 1, 0], dtype="float32")


def images(channels=3):
    return L.InputLayer((None, channels, None, None))


def sequences(features=4):
    return L.InputLayer((None, None, features))


def signals(channels=3):
    return L.InputLayer((None, channels, None))


def localization(l_in, size, bias):
    return L.DenseLayer(L.GlobalPoolLayer(l_in), size, W=init.Constant(0.0), b=bias, nonlinearity=None)


def _affine(l_in=None):
    l_in = l_in or images()
    return L.TransformerLayer(l_in, localization(l_in, 6, IDENTITY), downsample_factor=2)


def _tps(l_in=None):
    l_in = l_in or images()
    return L.TPSTransformerLayer(l_in, localization(l_in, 8, init.Constant(0.0)), control_points=4,
                                 border_mode="mirror")


def _custom_recurrent():
    l_seq = sequences()
    return L.CustomRecurrentLayer(l_seq, L.DenseLayer(L.InputLayer((None, 4)), 3, nonlinearity=None),
                                  L.DenseLayer(L.InputLayer((None, 3)), 3, nonlinearity=None))


def volumes():
    """Volumes with 2 channels and unknown batch, depth, rows and columns."""
    return L.InputLayer((None, 2, None, None, None))


def _inverse():
    conv = L.Conv2DLayer(images(), 2, 3)
    return L.InverseLayer(conv, conv)


def _embedding():
    return L.EmbeddingLayer(L.InputLayer((None, None), input_var=pt.imatrix("indices")), input_size=5,
                            output_size=2)


BUILDERS = {
    "BatchNormLayer": lambda: L.BatchNormLayer(images()),
    "BiasLayer": lambda: L.BiasLayer(images()),
    "ConcatLayer": lambda: L.ConcatLayer([images(), images(2)], axis=1),
    "Conv1DLayer": lambda: L.Conv1DLayer(signals(), 2, 3, pad="same"),
    "Conv2DLayer": lambda: L.Conv2DLayer(images(), 2, 3, stride=2),
    "CustomRecurrentLayer": _custom_recurrent,
    "DenseLayer": lambda: L.DenseLayer(L.InputLayer((None, 5)), 3),
    "DilatedConv2DLayer": lambda: L.DilatedConv2DLayer(images(), 2, 2, dilation=2),
    "DimshuffleLayer": lambda: L.DimshuffleLayer(images(), (0, 2, 3, 1)),
    "DropoutLayer": lambda: L.DropoutLayer(images()),
    "ElemwiseMergeLayer": lambda: L.ElemwiseMergeLayer([images(), images()], pt.maximum),
    "ElemwiseSumLayer": lambda: L.ElemwiseSumLayer([images(), images()]),
    "EmbeddingLayer": _embedding,
    "ExpressionLayer": lambda: L.ExpressionLayer(images(), lambda x: x.mean(axis=1), output_shape="auto"),
    "FeaturePoolLayer": lambda: L.FeaturePoolLayer(images(4), 2),
    "FeatureWTALayer": lambda: L.FeatureWTALayer(images(4), 2),
    "FlattenLayer": lambda: L.FlattenLayer(images()),
    "GRULayer": lambda: L.GRULayer(sequences(), 3),
    "GaussianNoiseLayer": lambda: L.GaussianNoiseLayer(images()),
    "GlobalPoolLayer": lambda: L.GlobalPoolLayer(images()),
    "InputLayer": images,
    "InverseLayer": _inverse,
    "LSTMLayer": lambda: L.LSTMLayer(sequences(), 3),
    "LocalResponseNormalization2DLayer": lambda: L.LocalResponseNormalization2DLayer(images(), n=3),
    # weights per output position: the spatial sizes must be known (as in Lasagne)
    "LocallyConnected2DLayer": lambda: L.LocallyConnected2DLayer(L.InputLayer((None, 2, 5, 4)), 2, 3),
    "MaxPool1DLayer": lambda: L.MaxPool1DLayer(signals(), 2),
    "MaxPool2DLayer": lambda: L.MaxPool2DLayer(images(), 2),
    "NINLayer": lambda: L.NINLayer(images(), 2),
    "NonlinearityLayer": lambda: L.NonlinearityLayer(images()),
    "PadLayer": lambda: L.PadLayer(images(), 1),
    "ParametricRectifierLayer": lambda: L.ParametricRectifierLayer(images()),
    "Pool1DLayer": lambda: L.Pool1DLayer(signals(), 2, mode="average_inc_pad"),
    "Pool2DLayer": lambda: L.Pool2DLayer(images(), 3, stride=2, mode="average_exc_pad"),
    "RandomizedRectifierLayer": lambda: L.RandomizedRectifierLayer(images()),
    "RecurrentLayer": lambda: L.RecurrentLayer(sequences(), 3),
    "ReshapeLayer": lambda: L.ReshapeLayer(images(), ([0], -1)),
    "ScaleLayer": lambda: L.ScaleLayer(images()),
    "SliceLayer": lambda: L.SliceLayer(images(), slice(1, None), axis=2),
    "SpatialPyramidPoolingLayer": lambda: L.SpatialPyramidPoolingLayer(images(), [2, 1],
                                                                       implementation="kaiming"),
    "StandardizationLayer": lambda: L.StandardizationLayer(images()),
    "TPSTransformerLayer": _tps,
    "TransformerLayer": _affine,
    "Upscale1DLayer": lambda: L.Upscale1DLayer(signals(), 2),
    "Upscale2DLayer": lambda: L.Upscale2DLayer(images(), 2),
    "Upscale3DLayer": lambda: L.Upscale3DLayer(volumes(), 2),
    "Conv3DLayer": lambda: L.Conv3DLayer(volumes(), 2, 3, stride=2),
    "TransposedConv3DLayer": lambda: L.TransposedConv3DLayer(volumes(), 2, 3, stride=2),
    "Pool3DLayer": lambda: L.Pool3DLayer(volumes(), 3, stride=2, mode="average_exc_pad"),
    "MaxPool3DLayer": lambda: L.MaxPool3DLayer(volumes(), 2, ignore_border=False),
    "TransposedConv2DLayer": lambda: L.TransposedConv2DLayer(images(), 2, 3, stride=2),
}

# Layers that also take an unknown number of channels (Lasagne allowed it: no
# parameter depends on it).
CHANNELS_UNKNOWN = {
    "DropoutLayer": lambda l_in: L.DropoutLayer(l_in),
    "MaxPool2DLayer": lambda l_in: L.MaxPool2DLayer(l_in, 2),
    "Pool2DLayer": lambda l_in: L.Pool2DLayer(l_in, 2, mode="average_inc_pad"),
    "GlobalPoolLayer": lambda l_in: L.GlobalPoolLayer(l_in),
    "Upscale2DLayer": lambda l_in: L.Upscale2DLayer(l_in, 2),
    "PadLayer": lambda l_in: L.PadLayer(l_in, 1),
    "FlattenLayer": lambda l_in: L.FlattenLayer(l_in),
    "ReshapeLayer": lambda l_in: L.ReshapeLayer(l_in, ([0], -1)),
    "TransformerLayer": lambda l_in: L.TransformerLayer(l_in, L.InputLayer((None, 6)), border_mode="wrap"),
    "LocalResponseNormalization2DLayer": lambda l_in: L.LocalResponseNormalization2DLayer(l_in, n=3),
    "SpatialPyramidPoolingLayer": lambda l_in: L.SpatialPyramidPoolingLayer(l_in, [2, 1],
                                                                            implementation="kaiming"),
    "TPSTransformerLayer": lambda l_in: L.TPSTransformerLayer(l_in, L.InputLayer((None, 8)), control_points=4),
    "NonlinearityLayer": lambda l_in: L.NonlinearityLayer(l_in),
    "GaussianNoiseLayer": lambda l_in: L.GaussianNoiseLayer(l_in),
    "ElemwiseSumLayer": lambda l_in: L.ElemwiseSumLayer([l_in, L.ExpressionLayer(l_in, lambda x: 2 * x)]),
    "ElemwiseMergeLayer": lambda l_in: L.ElemwiseMergeLayer([l_in, l_in], pt.minimum),
    "ConcatLayer": lambda l_in: L.ConcatLayer([l_in, l_in], axis=3),
    "SliceLayer": lambda l_in: L.SliceLayer(l_in, 0, axis=1),
    "DimshuffleLayer": lambda l_in: L.DimshuffleLayer(l_in, (1, 0, "x", 3, 2)),
    "MaxPool1DLayer": lambda l_in: L.MaxPool1DLayer(L.ReshapeLayer(l_in, ([0], [1], -1)), 2),
    "Upscale1DLayer": lambda l_in: L.Upscale1DLayer(L.ReshapeLayer(l_in, ([0], [1], -1)), 2),
    "StandardizationLayer": lambda l_in: L.StandardizationLayer(l_in, axes=(2, 3)),
}


def test_every_layer_class_has_a_builder():
    assert {cls.__name__ for cls in every_layer_class()} <= set(BUILDERS)


def _concrete_inputs(input_layers, batch, sizes, rng):
    arrays = {}
    for layer in input_layers:
        sizes_left = iter(sizes)
        shape = tuple(batch if axis == 0 and s is None else next(sizes_left) if s is None else s
                      for axis, s in enumerate(layer.shape))
        if layer.input_var.dtype.startswith("int"):
            arrays[layer] = rng.integers(0, 5, shape).astype(layer.input_var.dtype)
        else:
            arrays[layer] = rng.standard_normal(shape).astype(layer.input_var.dtype)
    return arrays


def _run_on_two_sizes(layer):
    rng = np.random.default_rng(0)
    input_layers = [l for l in L.get_all_layers(layer) if isinstance(l, L.InputLayer)]
    fn = pytensor.function([l.input_var for l in input_layers], L.get_output(layer, deterministic=True),
                           mode="FAST_COMPILE")
    for batch, sizes in [(2, (9, 8, 7)), (3, (12, 6, 5))]:
        arrays = _concrete_inputs(input_layers, batch, sizes, rng)
        out = np.asarray(fn(*arrays.values()))
        expected = L.get_output_shape(layer, {l: a.shape for l, a in arrays.items()})
        assert out.shape == tuple(expected), f"{layer!r}: ran to {out.shape}, get_output_shape says {expected}"
        assert all(d is None or d == s for d, s in zip(layer.output_shape, out.shape)), layer.output_shape
        assert np.all(np.isfinite(out))


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_layer_runs_on_two_sizes_of_a_partly_known_input(name):
    _run_on_two_sizes(BUILDERS[name]())


@pytest.mark.parametrize("name", sorted(CHANNELS_UNKNOWN))
def test_layer_runs_with_unknown_channels(name):
    _run_on_two_sizes(CHANNELS_UNKNOWN[name](L.InputLayer((None, None, None, None))))


def test_layers_that_need_a_size_say_which():
    with pytest.raises(ValueError, match="LocallyConnected2DLayer.*rows and columns must be known"):
        L.LocallyConnected2DLayer(images(), 2, 3)
    with pytest.raises(ValueError, match="DenseLayer"):
        L.DenseLayer(images(), 3)
