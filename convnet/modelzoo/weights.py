"""Pretrained weights in three formats, loaded by layer name.

* ``'lasagne'``: the Lasagne model zoo's pickles (``vgg16.pkl``,
  ``vgg19.pkl``): a dict with ``'param values'`` (the arrays in
  ``get_all_params`` order: ``W`` ``(out, in, rows, columns)`` and ``b`` of
  each convolution, then ``W`` ``(in, out)`` and ``b`` of each dense layer),
  ``'mean value'`` (the BGR mean pixel) and ``'synset words'`` (the class
  names). Written by Python 2, read with ``encoding='latin1'``. Unpickling
  runs code from the file, so it needs ``allow_pickle=True``.
* ``'torchvision'``: a VGG-16 or VGG-19 ``state_dict`` saved with
  ``torch.save``, read with ``torch.load(..., weights_only=True)`` (needs
  PyTorch). ``features.{i}.weight``/``.bias`` are the convolutions in order,
  ``classifier.{0,3,6}`` are ``fc6``, ``fc7``, ``fc8``; the dense weights are
  transposed (torch's ``Linear`` stores ``(out, in)``). torchvision
  flattens ``pool5`` in ``(channels, rows, columns)`` order, as
  :class:`~convnet.layers.DenseLayer` flattens NCHW, so ``fc6`` needs no
  reordering. (torchvision's adaptive average pooling to 7x7 before ``fc6``
  does nothing for 224x224 inputs, the size the dense head is built for.)
* ``'npz'``: convnet's own parameter files, keys ``{layer}.{param}``, as
  :mod:`convnet.checkpoint` writes them (:func:`save_weights`);
  no pickle, safe to load from anywhere. They hold parameters only, so the
  pre-processing is not stored. Lasagne scripts' ``np.savez(path,
  *get_all_param_values(net))`` files (keys ``arr_0``, ``arr_1``, ...) are
  read as *positional* arrays.
* ``'safetensors'``: the same keys in a safetensors file, which
  :func:`save_weights` writes for a path ending in ``.safetensors`` (for
  other tools to read); no pickle either.

Lasagne pickles of other architectures than VGG (Lasagne Recipes' ResNets,
Inception, ...) are read as positional arrays too. Positional arrays are
loaded in Lasagne's parameter order, :func:`~convnet.layers.get_all_params`
of the output layer, which convnet's layers keep (batch normalization:
``beta``, ``gamma``, ``mean``, ``inv_std``).

Every format is read into memory and turned into ``{layer}.{param}`` arrays
first; :func:`load_weights` then checks every name and shape against the
network and changes nothing unless all of them fit.

Examples
--------
>>> import os, tempfile
>>> from convnet.modelzoo import vgg16
>>> net = vgg16(input_shape=(None, 3, 32, 32), width_multiplier=1 / 16)
>>> path = os.path.join(tempfile.mkdtemp(), 'vgg16_small.npz')
>>> save_weights(net, path)
>>> load_weights(vgg16(num_classes=10, input_shape=(None, 3, 32, 32), width_multiplier=1 / 16), path)
Traceback (most recent call last):
...
ValueError: .../vgg16_small.npz: the parameters do not fit this network; nothing was loaded:
  shape of fc8.W: (256, 1000) given, (256, 10) in the network
  shape of fc8.b: (1000,) given, (10,) in the network
"""
import os
import pickle
import re
import zipfile
from collections import OrderedDict, namedtuple
from collections.abc import Mapping

import numpy as np

from ..checkpoint import load_params, read_npz, read_safetensors, save_params
from ..layers import set_all_param_values
from .network import NetworkDict, layer_mapping
from .preprocessing import Preprocessing
from .vgg import VGG_CONFIGS, vgg_weight_layer_names

__all__ = ["WEIGHT_FORMATS", "Weights", "read_weights", "load_weights", "save_weights"]

#: The formats :func:`read_weights` understands.
WEIGHT_FORMATS = ("npz", "safetensors", "lasagne", "torchvision")

Weights = namedtuple("Weights", ["arrays", "preprocessing", "class_names", "format"])
Weights.__doc__ = """The contents of a weights file, as :func:`read_weights` returns them.

Attributes
----------
arrays : OrderedDict
    ``"{layer}.{param}" -> numpy.ndarray``, in convnet's layouts.
preprocessing : Preprocessing or None
    The pre-processing the weights expect, when the format says.
class_names : list of str or None
    The names of the output classes, when the file has them.
format : str
    One of :data:`WEIGHT_FORMATS`.
"""

# Pickles begin with PROTO (protocol 2 and later) or, in protocols 0 and 1, with
# the opening of a dict, a list or a mark.
_PICKLE_STARTS = (b"\x80", b"}", b"]", b"(")
# PyTorch's format before version 1.6 (torchvision's published weights) begins
# with a pickled magic number.
_TORCH_LEGACY_MAGIC = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
_TORCH_KEY = re.compile(r"(features|classifier)\.(\d+)\.(weight|bias)")
# torchvision's VGG classifier: Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear.
_TORCHVISION_CLASSIFIER = {0: "fc6", 3: "fc7", 6: "fc8"}


def _detect_format(path):
    """``'npz'`` or ``'torchvision'`` for a zip archive (``torch.save`` writes
    one with a ``data.pkl``), ``'torchvision'`` for PyTorch's older format
    (the files torchvision downloads), ``'lasagne'`` for another pickle."""
    with open(path, "rb") as f:
        magic = f.read(len(_TORCH_LEGACY_MAGIC))
    if not magic:
        raise ValueError(f"{path}: the weights file is empty")
    if magic[8:10] == b'{"':  # safetensors: an 8-byte header length, then the JSON header
        return "safetensors"
    if magic == _TORCH_LEGACY_MAGIC:
        return "torchvision"
    if magic[:1] in _PICKLE_STARTS:
        return "lasagne"
    if magic[:4] != b"PK\x03\x04":
        raise ValueError(f"{path}: not a weights file: neither a zip archive (.npz, torch.save) nor a pickle")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile as e:
        raise ValueError(f"{path}: a damaged zip archive ({e}); the file may be truncated") from e
    return "torchvision" if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names) else "npz"


def _positional(values):
    """Arrays without names, keyed ``arr_0``, ``arr_1``, ... as ``np.savez`` keys them."""
    return OrderedDict((f"arr_{i}", np.asarray(v)) for i, v in enumerate(values))


def _positional_values(arrays):
    """The values of positional ``arrays`` in order, or None if they are named."""
    keys = list(arrays)
    if keys and sorted(keys) == sorted(f"arr_{i}" for i in range(len(keys))):
        return [arrays[f"arr_{i}"] for i in range(len(keys))]
    return None


def _read_npz(path):
    return Weights(read_npz(path), None, None, "npz")


def _read_lasagne_pickle(path, allow_pickle):
    if not allow_pickle:
        raise ValueError(f"{path} is a pickle (the Lasagne model-zoo format), and unpickling runs code stored in "
                         "the file: pass allow_pickle=True only for files from a source you trust")
    try:
        with open(path, "rb") as f:
            model = pickle.load(f, encoding="latin1")  # Lasagne's pickles were written by Python 2
    except Exception as e:  # a damaged pickle raises anything from EOFError to AttributeError
        raise ValueError(f"{path}: cannot unpickle the file ({type(e).__name__}: {e}); "
                         "it may be truncated or not a Lasagne model-zoo pickle") from e
    if not isinstance(model, Mapping) or "param values" not in model:
        raise ValueError(f"{path}: not a Lasagne model-zoo pickle: expected a dict with 'param values'")
    values = list(model["param values"])
    depths = {2 * len(vgg_weight_layer_names(depth)): depth for depth in VGG_CONFIGS}
    if len(values) in depths and all(np.ndim(W) == 4 for W in values[0:-6:2]):
        arrays = OrderedDict()
        for name, W, b in zip(vgg_weight_layer_names(depths[len(values)]), values[0::2], values[1::2]):
            arrays[f"{name}.W"] = np.asarray(W)
            arrays[f"{name}.b"] = np.asarray(b)
    else:  # another architecture: the arrays in Lasagne's parameter order
        arrays = _positional(values)
    mean = model.get("mean value")
    preprocessing = None if mean is None else Preprocessing.caffe(np.asarray(mean, dtype=np.float64))
    words = model.get("synset words")
    return Weights(arrays, preprocessing, None if words is None else [str(w) for w in words], "lasagne")


def _torchvision_conv_indices(depth):
    """The ``features`` indices of the convolutions of torchvision's VGG:
    each convolution is followed by a ReLU, each group by a max-pooling."""
    indices, position = [], 0
    for _, count in VGG_CONFIGS[depth]:
        for _ in range(count):
            indices.append(position)
            position += 2
        position += 1
    return indices


def _read_torchvision(path):
    try:
        import torch
    except ImportError as e:
        raise ImportError(f"{path}: reading torchvision weights needs PyTorch (pip install torch)") from e
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch reports damaged archives and foreign objects with various errors
        raise ValueError(f"{path}: cannot read the torch.save file ({type(e).__name__}: {e}); it may be "
                         "truncated or hold more than a state_dict") from e
    if not isinstance(state, Mapping):
        raise ValueError(f"{path}: holds a {type(state).__name__}, not a state_dict; save model.state_dict()")
    parsed = {key: _TORCH_KEY.fullmatch(key) for key in state}
    unknown = [key for key, match in parsed.items() if match is None]
    if unknown:
        raise ValueError(f"{path}: keys {unknown} are not those of torchvision's VGG (features.{{i}} and "
                         "classifier.{i} weights and biases; batch-normalized VGGs are not supported)")
    conv_indices = sorted({int(m.group(2)) for m in parsed.values() if m.group(1) == "features"})
    depth = next((depth for depth in VGG_CONFIGS if conv_indices == _torchvision_conv_indices(depth)), None)
    if depth is None:
        raise ValueError(f"{path}: convolutions at features indices {conv_indices} match neither torchvision's "
                         f"VGG-16 {_torchvision_conv_indices(16)} nor VGG-19 {_torchvision_conv_indices(19)}")
    layer_names = {("features", i): name for i, name in zip(conv_indices, vgg_weight_layer_names(depth))}
    layer_names.update({("classifier", i): name for i, name in _TORCHVISION_CLASSIFIER.items()})
    arrays = OrderedDict()
    for key, match in parsed.items():
        part, index, kind = match.group(1), int(match.group(2)), match.group(3)
        if (part, index) not in layer_names:
            raise ValueError(f"{path}: {key} is not a layer of torchvision's VGG classifier "
                             f"(Linear layers at {sorted(_TORCHVISION_CLASSIFIER)})")
        value = state[key].detach().cpu().numpy()
        if part == "classifier" and kind == "weight":
            value = np.ascontiguousarray(value.T)  # torch Linear: (out, in); DenseLayer: (in, out)
        arrays[f"{layer_names[part, index]}.{'W' if kind == 'weight' else 'b'}"] = value
    return Weights(arrays, Preprocessing.torchvision(), None, "torchvision")


def read_weights(path, format=None, allow_pickle=False):
    """Read a weights file into memory, in convnet's names and layouts.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    format : {None, 'npz', 'safetensors', 'lasagne', 'torchvision'}
        The format; None tells from the contents (a safetensors header, a zip archive with a
        ``data.pkl`` or PyTorch's older format is ``torch.save``'s, another
        zip archive ``.npz``, another pickle Lasagne's).
    allow_pickle : bool
        Allow reading a Lasagne pickle, which runs code from the file.

    Returns
    -------
    Weights
        The arrays by ``{layer}.{param}`` key, the pre-processing, the
        class names and the format.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        For a truncated or damaged file, a file that is not in the format,
        or a pickle without ``allow_pickle=True`` (saying why).
    ImportError
        For torchvision weights without PyTorch installed.

    Examples
    --------
    >>> import os, tempfile
    >>> from convnet.modelzoo import vgg16
    >>> path = os.path.join(tempfile.mkdtemp(), 'weights.npz')
    >>> save_weights(vgg16(input_shape=(None, 3, 32, 32), width_multiplier=1 / 16), path)
    >>> weights = read_weights(path)
    >>> weights.format, list(weights.arrays)[:2], weights.arrays['fc6.W'].shape
    ('npz', ['conv1_1.W', 'conv1_1.b'], (32, 256))
    """
    path = os.fspath(path)
    format = _detect_format(path) if format is None else format
    if format == "npz":
        return _read_npz(path)
    if format == "safetensors":
        return Weights(OrderedDict(read_safetensors(path)), None, None, "safetensors")
    if format == "lasagne":
        return _read_lasagne_pickle(path, allow_pickle)
    if format == "torchvision":
        return _read_torchvision(path)
    raise ValueError(f"unknown weights format {format!r}; expected one of {WEIGHT_FORMATS}")


def load_weights(net, path, format=None, allow_pickle=False, exclude=()):
    """Set a network's parameters from a weights file, all or nothing.

    The file is read completely (:func:`read_weights`). Positional arrays
    (``np.savez(path, *get_all_param_values(net))``, Lasagne pickles of
    architectures other than VGG) must match the network's parameters in
    Lasagne's order (:func:`~convnet.layers.set_all_param_values` of the
    output layer, the last of a mapping) in number and shapes. Otherwise every
    parameter of the network must be in the file under its ``{layer}.{param}``
    name with the same shape, and the file must have nothing else, except
    for the layers in ``exclude``. Otherwise a ``ValueError`` names the
    file and every missing, unexpected or misshapen parameter, and no
    parameter changes.

    Parameters
    ----------
    net : NetworkDict, Mapping or Layer
        The network: its named layers (e.g. from :func:`vgg16`) or its
        output layer.
    path : str or os.PathLike
        The weights file.
    format : {None, 'npz', 'lasagne', 'torchvision'}
        See :func:`read_weights`.
    allow_pickle : bool
        Allow reading a Lasagne pickle, which runs code from the file; only
        for files from a source you trust.
    exclude : iterable of str
        Names of layers to leave alone, in the network and in the file
        (where either has them): e.g. ``['fc6', 'fc7', 'fc8']`` to load the
        convolutions of a VGG file into a network with a new head.

    Returns
    -------
    Preprocessing or None
        The pre-processing that goes with the weights (None for ``.npz``).
        It is also set as ``net.preprocessing`` for a :class:`NetworkDict`,
        as are the file's class names when nothing was excluded.

    Raises
    ------
    ValueError
        When the weights do not fit (the message names the file and each
        parameter, ``{layer}.{param}``), and as :func:`read_weights`.
    FileNotFoundError, ImportError
        As :func:`read_weights`.

    Examples
    --------
    Load the convolutions of a VGG-16 file into a network with a new head::

        net = vgg16(num_classes=5, input_shape=(None, 3, 160, 160), head='global_pool')
        load_weights(net, 'vgg16.pkl', allow_pickle=True, exclude=['fc6', 'fc7', 'fc8'])
        X = net.preprocess(images)          # BGR minus the mean pixel, NCHW float32
    """
    layers = layer_mapping(net)
    weights = read_weights(path, format, allow_pickle)
    excluded = set(exclude)
    positional = _positional_values(weights.arrays)
    if positional is not None:
        if excluded:
            raise ValueError(f"{os.fspath(path)}: holds arrays without layer names (Lasagne's order), "
                             "so no layer can be excluded")
        try:
            set_all_param_values(next(reversed(layers.values())), positional)
        except ValueError as e:
            raise ValueError(f"{os.fspath(path)}: {e}") from None
    else:
        _load_named(layers, weights, excluded, path)
    if isinstance(net, NetworkDict):
        if weights.preprocessing is not None:
            net.preprocessing = weights.preprocessing
        if weights.class_names is not None and not excluded:
            net.class_names = weights.class_names
    return weights.preprocessing


def _load_named(layers, weights, excluded, path):
    try:
        load_params(OrderedDict((name, layer) for name, layer in layers.items() if name not in excluded),
                    {key: value for key, value in weights.arrays.items() if key.rpartition(".")[0] not in excluded})
    except ValueError as e:
        raise ValueError(f"{os.fspath(path)}: {e}") from None


def save_weights(net, path):
    """Save a network's parameters to ``path`` as ``.npz`` by layer name (or
    safetensors, for a path ending in ``.safetensors``), atomically
    (:func:`convnet.checkpoint.save_params`).

    Parameters
    ----------
    net : NetworkDict, Mapping or Layer
        The network: its named layers or its output layer.
    path : str or os.PathLike
        Where to write (no ``.npz`` is appended).

    Examples
    --------
    >>> import os, tempfile
    >>> from convnet.modelzoo import resnet_cifar
    >>> path = os.path.join(tempfile.mkdtemp(), 'resnet20.npz')
    >>> save_weights(resnet_cifar(3), path)
    >>> len(read_weights(path).arrays)
    97
    """
    save_params(layer_mapping(net), path)
