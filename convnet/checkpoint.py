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

A path ending in ``.safetensors`` is written and read in the `safetensors
<https://huggingface.co/docs/safetensors>`_ format instead, which PyTorch,
JAX and Hugging Face tools load; :func:`write_safetensors` and
:func:`read_safetensors` handle the format with NumPy alone (the
``safetensors`` package is not needed).

:meth:`NeuralNet.save_checkpoint <convnet.estimator.NeuralNet.save_checkpoint>`
saves a whole training state (update-rule state, history, random
generators) on top of the parameters.

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
import json
import os
import struct
import tempfile
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from .layers import get_all_layers

__all__ = ["named_layers", "named_params", "param_values", "save_params", "load_params",
           "mismatches", "write_safetensors", "read_safetensors", "write_npz", "read_npz"]


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
    """Save a network's parameters to ``path`` atomically, as ``.npz`` (or
    safetensors, for a path ending in ``.safetensors``).

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
    if _is_safetensors(path):
        write_safetensors(path, arrays)
    else:
        write_npz(path, arrays)


def _is_safetensors(path):
    return os.fspath(path).endswith(".safetensors")


def _write_atomically(path, write):
    """Call ``write(file)`` on a temporary file beside ``path``, then rename
    it over ``path``; on any error the temporary file is removed and
    ``path`` is untouched."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def write_npz(path, arrays):
    """Write ``name -> array`` to an ``.npz`` file atomically (no pickle).

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), 'a.npz')
    >>> write_npz(path, {'x': np.arange(3)})
    >>> read_npz(path)['x']
    array([0, 1, 2])
    """
    arrays = {key: np.asarray(value) for key, value in arrays.items()}
    objects = [key for key, value in arrays.items() if value.dtype.hasobject]
    if objects:
        raise ValueError(f"arrays {objects} hold Python objects, which an npz file stores only by pickling")
    _write_atomically(path, lambda f: np.savez(f, **arrays))


def read_npz(path):
    """The arrays of an ``.npz`` file, read without unpickling anything."""
    with np.load(os.fspath(path), allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


# safetensors: an 8-byte little-endian header length, a JSON header
# {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}},
# then the little-endian, C-ordered bytes of every tensor.
_SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
                       "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}
_SAFETENSORS_CODES = {np.dtype(numpy): code for code, numpy in _SAFETENSORS_DTYPES.items()}


def write_safetensors(path, arrays, metadata=None):
    """Write ``name -> array`` to a safetensors file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    arrays : Mapping
        Numeric or boolean arrays by name.
    metadata : Mapping of str to str, optional
        Stored in the header's ``__metadata__``.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), 'w.safetensors')
    >>> write_safetensors(path, {'W': np.ones((2, 3), np.float32)}, {'format': 'np'})
    >>> read_safetensors(path)['W'].shape
    (2, 3)
    """
    header, chunks, offset = {}, [], 0
    for name, value in arrays.items():
        value = np.asarray(value)
        code = _SAFETENSORS_CODES.get(value.dtype.newbyteorder("<") if value.dtype.byteorder == ">" else value.dtype)
        if code is None:
            raise ValueError(f"safetensors cannot store {name!r} of dtype {value.dtype}")
        data = np.ascontiguousarray(value, dtype=_SAFETENSORS_DTYPES[code]).tobytes()
        header[name] = {"dtype": code, "shape": list(value.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise ValueError("safetensors metadata maps strings to strings")
        header["__metadata__"] = dict(metadata)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned, as the reference writer does

    def write(f):
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for chunk in chunks:
            f.write(chunk)
    _write_atomically(path, write)


def read_safetensors(path, with_metadata=False):
    """The arrays of a safetensors file, ``name -> array`` (and the
    ``__metadata__`` dict when ``with_metadata``).

    Raises
    ------
    ValueError
        When the file is not a well-formed safetensors file (truncated,
        overlapping or out-of-range data, unknown dtype), naming the problem.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        content = f.read()
    if len(content) < 8:
        raise ValueError(f"{path} is not a safetensors file: {len(content)} bytes")
    (size,) = struct.unpack("<Q", content[:8])
    if size > len(content) - 8:
        raise ValueError(f"{path} is not a safetensors file: its header claims {size} bytes of "
                         f"{len(content) - 8}")
    try:
        header = json.loads(content[8:8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not a safetensors file: its header is not JSON ({e})") from None
    data = memoryview(content)[8 + size:]
    metadata = header.pop("__metadata__", None) or {}
    arrays, end = {}, 0
    for name, info in sorted(header.items(), key=lambda item: item[1].get("data_offsets", [0])[0]):
        try:
            dtype = np.dtype(_SAFETENSORS_DTYPES[info["dtype"]])
            shape = tuple(int(n) for n in info["shape"])
            begin, stop = (int(n) for n in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path}: tensor {name!r} has a malformed header entry {info!r}") from None
        if begin != end or stop - begin != int(np.prod(shape)) * dtype.itemsize or stop > len(data):
            raise ValueError(f"{path}: the data of tensor {name!r} ({begin}..{stop}) does not follow the previous "
                             f"tensor's, fit its shape {shape} or lie within the file's {len(data)} data bytes")
        arrays[name] = np.frombuffer(data[begin:stop], dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))
        end = stop
    if end != len(data):
        raise ValueError(f"{path}: {len(data) - end} bytes after the last tensor")
    return (arrays, metadata) if with_metadata else arrays


def _read_arrays(source):
    if isinstance(source, Mapping):
        return {key: np.asarray(value) for key, value in source.items()}
    if _is_safetensors(source):
        return read_safetensors(source)
    return read_npz(source)


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
    problems = mismatches(params, arrays)
    if problems:
        raise ValueError("the parameters do not fit this network; nothing was loaded:\n  " + "\n  ".join(problems))
    for key, param in params.items():
        param.set_value(arrays[key].astype(param.dtype))


def mismatches(variables, arrays):
    """Why ``arrays`` (``key -> array``) cannot be loaded into ``variables``
    (``key -> shared variable``): missing and unexpected keys, wrong shapes
    and non-numeric arrays, one line each; empty when everything fits.

    >>> import pytensor
    >>> mismatches({'W': pytensor.shared(np.zeros(2))}, {'W': np.zeros(3), 'b': np.zeros(1)})
    ['unexpected: b (1,)', 'shape of W: (3,) given, (2,) in the network']
    """
    problems = [f"missing: {key} {variable.get_value(borrow=True).shape}"
                for key, variable in variables.items() if key not in arrays]
    problems += [f"unexpected: {key} {arrays[key].shape}" for key in arrays if key not in variables]
    for key, variable in variables.items():
        if key not in arrays:
            continue
        expected = variable.get_value(borrow=True).shape
        if arrays[key].shape != expected:
            problems.append(f"shape of {key}: {arrays[key].shape} given, {expected} in the network")
        elif arrays[key].dtype.kind not in "biuf":
            problems.append(f"dtype of {key}: {arrays[key].dtype} is not numeric")
    return problems
