"""Every public name of Lasagne resolves through convnet's legacy ``lasagne``
namespace (``convnet.legacy.install()``, then ``import lasagne.<module>``).

The catalogue below lists names only (no Lasagne code). Source: Lasagne's
final master tree (github.com/Lasagne/Lasagne, 0.2.dev1): the ``__all__`` of
each module that defines one, and for the modules without ``__all__``
(``init``, ``nonlinearities``, ``regularization``, ``utils``, ``random``,
``theano_extensions.*``) their public top-level definitions. The stored copy
of Lasagne/Lasagne consulted for this holds many historical versions per file
and does not say which is newest; ``layers/conv.py``'s ``__all__`` was checked
against its newest stored version (the one with TransposedConv3DLayer /
Deconv3DLayer), ``layers/__init__.py`` against stored commit
ec6a5fd48d8f2e7594f56841e5c7e2da126dcae7; the other lists are Lasagne
master's as documented in its API reference. Names that ``dnn.py``,
``corrmm.py``, ``cuda_convnet.py`` and ``conv.py`` only define when a
backend is present are listed too: they are part of the API.

Names convnet does not (yet) provide are recorded in ``KNOWN_MISSING`` with
the reason; the test fails if that set grows *or* shrinks, so the record
stays exact.
"""
import importlib

import pytest

import convnet.legacy

LASAGNE_NAMES = {
    "layers.base": ("Layer", "MergeLayer"),
    "layers.helper": (
        "get_all_layers", "get_output", "get_output_shape", "get_all_params",
        "count_params", "get_all_param_values", "set_all_param_values",
    ),
    "layers.input": ("InputLayer",),
    "layers.dense": ("DenseLayer", "NINLayer"),
    "layers.noise": (
        "DropoutLayer", "dropout", "dropout_channels", "spatial_dropout",
        "dropout_locations", "GaussianNoiseLayer",
    ),
    "layers.conv": (
        "Conv1DLayer", "Conv2DLayer", "Conv3DLayer", "TransposedConv2DLayer",
        "Deconv2DLayer", "DilatedConv2DLayer", "TransposedConv3DLayer",
        "Deconv3DLayer",
    ),
    "layers.local": ("LocallyConnected2DLayer",),
    "layers.pool": (
        "MaxPool1DLayer", "MaxPool2DLayer", "MaxPool3DLayer", "Pool1DLayer",
        "Pool2DLayer", "Pool3DLayer", "Upscale1DLayer", "Upscale2DLayer",
        "Upscale3DLayer", "FeaturePoolLayer", "FeatureWTALayer",
        "GlobalPoolLayer", "SpatialPyramidPoolingLayer",
    ),
    "layers.shape": (
        "FlattenLayer", "flatten", "ReshapeLayer", "reshape",
        "DimshuffleLayer", "dimshuffle", "PadLayer", "pad", "SliceLayer",
    ),
    "layers.merge": (
        "autocrop", "autocrop_array_shapes", "ConcatLayer", "concat",
        "ElemwiseMergeLayer", "ElemwiseSumLayer",
    ),
    "layers.normalization": (
        "LocalResponseNormalization2DLayer", "BatchNormLayer", "batch_norm",
        "StandardizationLayer", "instance_norm", "layer_norm",
    ),
    "layers.embedding": ("EmbeddingLayer",),
    "layers.recurrent": (
        "CustomRecurrentLayer", "RecurrentLayer", "Gate", "LSTMLayer",
        "GRULayer",
    ),
    "layers.special": (
        "NonlinearityLayer", "BiasLayer", "ScaleLayer", "standardize",
        "ExpressionLayer", "InverseLayer", "TransformerLayer",
        "TPSTransformerLayer", "ParametricRectifierLayer", "prelu",
        "RandomizedRectifierLayer", "rrelu",
    ),
    "layers.dnn": (
        "Pool2DDNNLayer", "MaxPool2DDNNLayer", "Pool3DDNNLayer",
        "MaxPool3DDNNLayer", "Conv2DDNNLayer", "Conv3DDNNLayer",
        "SpatialPyramidPoolingDNNLayer", "BatchNormDNNLayer", "batch_norm_dnn",
    ),
    "layers.corrmm": ("Conv2DMMLayer",),
    "layers.cuda_convnet": (
        "Conv2DCCLayer", "MaxPool2DCCLayer", "ShuffleBC01ToC01BLayer",
        "bc01_to_c01b", "ShuffleC01BToBC01Layer", "c01b_to_bc01",
        "NINLayer_c01b",
    ),
    "objectives": (
        "binary_crossentropy", "categorical_crossentropy", "squared_error",
        "binary_hinge_loss", "multiclass_hinge_loss", "huber_loss",
        "aggregate", "binary_accuracy", "categorical_accuracy",
    ),
    "updates": (
        "sgd", "apply_momentum", "momentum", "apply_nesterov_momentum",
        "nesterov_momentum", "adagrad", "rmsprop", "adadelta", "adam",
        "adamax", "amsgrad", "norm_constraint", "total_norm_constraint",
    ),
    "init": (
        "Initializer", "Normal", "Uniform", "Glorot", "GlorotNormal",
        "GlorotUniform", "He", "HeNormal", "HeUniform", "Constant", "Sparse",
        "Orthogonal",
    ),
    "nonlinearities": (
        "sigmoid", "softmax", "tanh", "ScaledTanH", "ScaledTanh", "rectify",
        "LeakyRectify", "leaky_rectify", "very_leaky_rectify", "elu", "SELU",
        "selu", "softplus", "linear", "identity",
    ),
    "regularization": (
        "l1", "l2", "apply_penalty", "regularize_layer_params",
        "regularize_layer_params_weighted", "regularize_network_params",
    ),
    "utils": (
        "floatX", "shared_empty", "as_theano_expression",
        "collect_shared_vars", "one_hot", "unique", "as_tuple", "int_types",
        "inspect_kwargs", "compute_norms", "create_param", "unroll_scan",
    ),
    "random": ("get_rng", "set_rng"),
    "theano_extensions.conv": (
        "conv1d_sc", "conv1d_mc0", "conv1d_mc1", "conv1d_unstrided",
        "conv1d_sd", "conv1d_md",
    ),
    "theano_extensions.padding": ("pad",),
}

# Lasagne's layers/__init__.py star-imports these submodules' __all__ (not
# dnn, corrmm, cuda_convnet, which need a GPU backend in Lasagne).
LAYERS_REEXPORTED = (
    "base", "helper", "input", "dense", "noise", "conv", "local", "pool",
    "shape", "merge", "normalization", "embedding", "recurrent", "special",
)

# lasagne/__init__.py imports these submodules as attributes of the package.
TOP_LEVEL = (
    "nonlinearities", "init", "layers", "objectives", "random",
    "regularization", "updates", "utils",
)

# module -> {name: reason}: Lasagne names convnet does not provide.
KNOWN_MISSING = {}


@pytest.fixture(scope="module", autouse=True)
def legacy_importer():
    was_installed = convnet.legacy.is_installed()
    convnet.legacy.install()
    yield
    if not was_installed:
        convnet.legacy.uninstall()


def _missing(module, names):
    return sorted(name for name in names if not hasattr(module, name))


@pytest.mark.parametrize("module_name", sorted(LASAGNE_NAMES))
def test_lasagne_module_names_resolve(module_name):
    module = importlib.import_module("lasagne." + module_name)
    missing = _missing(module, LASAGNE_NAMES[module_name])
    known = sorted(KNOWN_MISSING.get(module_name, {}))
    assert missing == known, (
        f"lasagne.{module_name}: missing {missing}, recorded as known missing "
        f"{known}; newly missing {sorted(set(missing) - set(known))}, no "
        f"longer missing {sorted(set(known) - set(missing))}"
    )


def test_lasagne_layers_reexports_submodule_names():
    layers = importlib.import_module("lasagne.layers")
    expected = {name for sub in LAYERS_REEXPORTED
                for name in LASAGNE_NAMES["layers." + sub]}
    known = {name for sub in LAYERS_REEXPORTED
             for name in KNOWN_MISSING.get("layers." + sub, {})}
    missing = set(_missing(layers, expected))
    assert missing == known, (
        f"lasagne.layers: missing {sorted(missing)}, known missing "
        f"{sorted(known)}"
    )


def test_lasagne_package_has_its_submodules():
    lasagne = importlib.import_module("lasagne")
    assert _missing(lasagne, TOP_LEVEL) == []


def test_known_missing_names_are_catalogued():
    for module_name, names in KNOWN_MISSING.items():
        assert set(names) <= set(LASAGNE_NAMES[module_name]), module_name
