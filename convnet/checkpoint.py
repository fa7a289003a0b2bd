"""Parameter checkpoints: a network's parameters saved by name to ``.npz``.

Every parameter is stored under the key ``{layer}.{parameter}``, e.g.
``conv1.W``, where ``layer`` is the layer's name, or ``layer{i}`` for an
unnamed layer (``i`` its position in
:func:`~convnet.layers.get_all_layers`' order), and ``parameter`` is the
parameter's name without the layer prefix. All parameters are saved --
trainable ones and the others, such as batch normalization's running
averages.

Files are written with :func:`numpy.savez` (no pickle) to a temporary file
that then replaces the target, so a crash never leaves a half-written
checkpoint, and read with ``allow_pickle=False``, so loading a file from a
stranger cannot run code. Loading checks every name and shape first and
changes nothing unless all of them fit.

Examples
--------
>>> import os, tempfile
>>> from convnet.layers import InputLayer, DenseLayer
>>> l_out = DenseLayer(InputLayer((None, 4), name='input'), 3, name='output')
>>> list(named_params(l_out))
['output.W', 'output.b']
>>> path = os.path.join(tempfile.mkdtemp(), 'net.npz')
>>> save_params(l_out, path)
>>> load_params(l_out, path)
"""
import os
import tempfile
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from .layers import get_all_layers

__all__ = ["named_layers", "named_params", "param_values", "save_params", "load_params"]


def named_layers(layer):
    """The layers of a network by name, in topological order (output last).

    Parameters
    ----------
    layer : Layer
        The output layer.

    Returns
    -------
    OrderedDict
        ``name -> layer``: a layer's own name, or ``layer{i}`` when it has none.

    Raises
    ------
    ValueError
        When two layers share a name.

    Examples
    --------
    >>> from convnet.layers import InputLayer, DenseLayer
    >>> list(named_layers(DenseLayer(InputLayer((None, 4)), 3, name='output')))
    ['layer0', 'output']
    """
    layers = OrderedDict()
    for index, current in enumerate(get_all_layers(layer)):
        name = current.name or f"layer{index}"
        if name in layers:
            raise ValueError(f"two layers are named {name!r}; give every layer its own name")
        layers[name] = current
    return layers


def _as_named_layers(layers):
    return layers if isinstance(layers, Mapping) else named_layers(layers)


def named_params(layers):
    """Every parameter of a network under its checkpoint key.

    Parameters
    ----------
    layers : Layer or Mapping
        The output layer, or a ``name -> layer`` mapping such as
        :attr:`NeuralNet.layers_ <convnet.estimator.NeuralNet>` (whose names
        are then used).

    Returns
    -------
    OrderedDict
        ``"{layer}.{parameter}" -> shared variable``; a parameter shared by
        several layers appears once, under the first.

    Examples
    --------
    >>> from convnet.layers import InputLayer, DenseLayer
    >>> list(named_params(DenseLayer(InputLayer((None, 4)), 3)))
    ['layer1.W', 'layer1.b']
    """
    params = OrderedDict()
    seen = set()
    for layer_name, layer in _as_named_layers(layers).items():
        prefix = f"{layer.name}." if layer.name else ""
        for index, param in enumerate(layer.get_params()):
            if param in seen:
                continue
            seen.add(param)
            short = param.name or f"param{index}"
            key = f"{layer_name}.{short.removeprefix(prefix)}"
            if key in params:
                raise ValueError(f"two parameters of layer {layer_name!r} are both named {short!r}; "
                                 "give them distinct names")
            params[key] = param
    return params


def param_values(layers):
    """Copies of the values of :func:`named_params`, as ``key -> array``.

    >>> from convnet.layers import InputLayer, DenseLayer
    >>> values = param_values(DenseLayer(InputLayer((None, 4)), 3, name='output'))
    >>> values['output.W'].shape
    (4, 3)
    """
    return OrderedDict((key, param.get_value()) for key, param in named_params(layers).items())


def save_params(layers, path):
    """Save a network's parameters to ``path`` atomically, as ``.npz``.

    The file is written next to ``path`` under a temporary name, then renamed
    over ``path``: readers see the old file or the new one, never a partial
    one. ``path`` is used as given (no ``.npz`` is appended).

    Parameters
    ----------
    layers : Layer or Mapping
        The output layer, or a ``name -> layer`` mapping.
    path : str or os.PathLike
        Where to write.

    Examples
    --------
    >>> import os, tempfile
    >>> from convnet.layers import InputLayer, DenseLayer
    >>> path = os.path.join(tempfile.mkdtemp(), 'dense.npz')
    >>> save_params(DenseLayer(InputLayer((None, 4)), 3), path)
    >>> sorted(np.load(path).files)
    ['layer1.W', 'layer1.b']
    """
    arrays = param_values(layers)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _read_arrays(source):
    if isinstance(source, Mapping):
        return {key: np.asarray(value) for key, value in source.items()}
    with np.load(os.fspath(source), allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def load_params(layers, source):
    """Set a network's parameters from a checkpoint, all or nothing.

    Every key of the network must be in ``source`` with the same shape, and
    ``source`` must have no other key. Otherwise a ``ValueError`` lists every
    missing key, unexpected key and shape mismatch, and no parameter is
    changed.

    Parameters
    ----------
    layers : Layer or Mapping
        The output layer, or a ``name -> layer`` mapping.
    source : str, os.PathLike or Mapping
        An ``.npz`` file written by :func:`save_params`, or a ``key -> array``
        mapping such as :func:`param_values` returns.

    Examples
    --------
    >>> from convnet.layers import InputLayer, DenseLayer
    >>> l_out = DenseLayer(InputLayer((None, 4)), 3)
    >>> load_params(l_out, {'layer1.W': np.zeros((4, 2)), 'layer1.b': np.zeros(3)})
    Traceback (most recent call last):
    ...
    ValueError: the parameters do not fit this network; nothing was loaded:
      shape of layer1.W: (4, 2) given, (4, 3) in the network
    """
    params = named_params(layers)
    arrays = _read_arrays(source)
    problems = [f"missing: {key} {param.get_value(borrow=True).shape}"
                for key, param in params.items() if key not in arrays]
    problems += [f"unexpected: {key} {arrays[key].shape}" for key in arrays if key not in params]
    for key, param in params.items():
        if key not in arrays:
            continue
        expected = param.get_value(borrow=True).shape
        if arrays[key].shape != expected:
            problems.append(f"shape of {key}: {arrays[key].shape} given, {expected} in the network")
        elif arrays[key].dtype.kind not in "biuf":
            problems.append(f"dtype of {key}: {arrays[key].dtype} is not numeric")
    if problems:
        raise ValueError("the parameters do not fit this network; nothing was loaded:\n  " + "\n  ".join(problems))
    for key, param in params.items():
        param.set_value(arrays[key].astype(param.dtype))
