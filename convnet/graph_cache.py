"""A disk cache of rewritten graphs, for convnet's CPU linker.

PyTensor rewrites every graph it compiles (canonicalization, stabilization,
fusion, in-place updates), and on a large graph that takes longer than
everything else: 25 s of the 30 s in which a ResNet-32's training function was
ready from warm caches.  The result depends only on the graph's structure, so
:func:`store` keeps it on disk, under PyTensor's ``compiledir``, and
:func:`restore` puts it back into the next graph of the same structure, in
this or any other process (a script run again, a joblib or Dask worker).

The key (:func:`graph_key`) covers every node's Op with its parameters, the
order in which nodes use variables, every input's type (static shape
included) and every constant's value, plus PyTensor's and convnet's versions
and the rewrites asked for.  Shared variables are inputs of the graph: their
values are not part of it, so a network with other weights, or a retrained
one, finds the same entry.  A graph with an Op that cannot be serialized is
not cached.  A cache entry is written atomically; one that cannot be read
is ignored.

>>> import pytensor, pytensor.tensor as pt, numpy as np
>>> import convnet
>>> x = pt.vector("x")
>>> f = pytensor.function([x], pt.exp(x).sum(), mode="CONVNET_CPU")  # rewrites, then stores
>>> g = pytensor.function([x], pt.exp(x).sum(), mode="CONVNET_CPU")  # restores
>>> float(g(np.zeros(3, x.dtype)))
3.0
"""
import dataclasses
import hashlib
import pickle
import sys
from pathlib import Path

import numpy as np
import pytensor
from pytensor.graph.basic import Constant
from pytensor.graph.fg import FrozenFunctionGraph, FunctionGraph
from pytensor.graph.replace import clone_replace

from .checkpoint import _write_atomically

__all__ = ["graph_key", "restore", "store", "cache_dir"]

# Bump when what is stored changes shape.
_FORMAT = 1


def cache_dir():
    """Where rewritten graphs are kept: ``<PyTensor's compiledir>/convnet_graphs``."""
    return Path(pytensor.config.compiledir) / "convnet_graphs"


def _digest(description):
    """The hex digest of a description made by :func:`_encode` (nested tuples
    and lists of strings, numbers and bytes). Its ``repr``, not its pickle:
    a pickle depends on which equal strings are one object, which varies
    from process to process."""
    return hashlib.sha256(repr(description).encode()).hexdigest()


def _pickle_digest(obj):
    return hashlib.sha256(pickle.dumps(obj, protocol=4)).hexdigest()


def _encode(obj):
    """A picklable description of an Op (or one of its parameters) that is the
    same in every process: an Op with ``__props__`` by its class and
    parameters (pickling an Op can carry state cached on it), a dataclass by its
    fields and a graph by its structure (their pickles vary from process to
    process: variable names, shared string objects), else its pickle."""
    props = getattr(type(obj), "__props__", None)
    if props is not None:
        return (type(obj).__module__, type(obj).__qualname__, [_encode(getattr(obj, p)) for p in props])
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return (type(obj).__module__, type(obj).__qualname__,
                [(field.name, _encode(getattr(obj, field.name))) for field in dataclasses.fields(obj)])
    if isinstance(obj, (FunctionGraph, FrozenFunctionGraph)):  # a Composite's inner graph
        key = graph_key(obj)
        if key is not None:
            return ("FunctionGraph", key)
    if isinstance(obj, (tuple, list)):
        return [_encode(item) for item in obj]
    if isinstance(obj, dict) or hasattr(obj, "items") and callable(obj.items):
        return sorted((repr(k), _encode(v)) for k, v in obj.items())
    if obj is None or isinstance(obj, (bool, int, float, str, bytes)):
        return obj
    if isinstance(obj, (np.ndarray, np.generic)):
        return (np.asarray(obj).dtype.str, np.shape(obj), np.asarray(obj).tobytes())
    if isinstance(obj, type):
        return (obj.__module__, obj.__qualname__)
    return _pickle_digest(obj)


def constant_description(constant):
    """A constant's type and value, as :func:`_encode` describes values
    (Python numbers as the arrays they become)."""
    data = constant.data
    if isinstance(data, (int, float, bool)):
        data = np.asarray(data)
    return ("constant", str(constant.type), _encode(data))


def graph_key(fgraph, salt=""):
    """A hex key for ``fgraph``'s structure, or None when a part of it cannot be keyed."""
    from . import __version__

    index = {variable: position for position, variable in enumerate(fgraph.inputs)}
    parts = [_FORMAT, pytensor.__version__, __version__, salt, sys.version_info[:2],
             [str(v.type) for v in fgraph.inputs], [getattr(v.type, "shape", None) for v in fgraph.inputs]]
    try:
        for node in fgraph.toposort():
            arguments = []
            for variable in node.inputs:
                if variable in index:
                    arguments.append(index[variable])
                elif isinstance(variable, Constant):
                    arguments.append(constant_description(variable))
                else:
                    raise KeyError(variable)  # an orphan that is neither input nor constant
            parts.append((_encode(node.op), arguments, [str(v.type) for v in node.outputs]))
            for variable in node.outputs:
                index[variable] = len(index)
        parts.append([index[v] for v in fgraph.outputs])
        return _digest(parts)
    except (KeyError, TypeError, AttributeError, pickle.PicklingError, RecursionError):
        return None


def store(fgraph, key):
    """Write ``fgraph`` (rewritten) under ``key``; the inputs become placeholders."""
    placeholders = [variable.type() for variable in fgraph.inputs]
    try:
        outputs = clone_replace(list(fgraph.outputs), replace=dict(zip(fgraph.inputs, placeholders)))
        payload = pickle.dumps((placeholders, outputs), protocol=4)
    except (TypeError, AttributeError, pickle.PicklingError, RecursionError):
        return
    directory = cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _write_atomically(directory / f"{key}.pkl", lambda file: file.write(payload))
    except OSError:  # an unwritable cache costs the next process a rewrite, nothing more
        pass


def restore(fgraph, key):
    """Replace ``fgraph``'s outputs by the graph stored under ``key``; False if
    there is none or it does not fit, leaving ``fgraph`` as it was."""
    from pytensor.graph.destroyhandler import DestroyHandler

    path = cache_dir() / f"{key}.pkl"
    try:
        placeholders, outputs = pickle.loads(path.read_bytes())
    except FileNotFoundError:
        return False
    except Exception:  # a damaged entry is a cache miss
        return False
    if len(placeholders) != len(fgraph.inputs) or len(outputs) != len(fgraph.outputs) or any(
            p.type != v.type for p, v in zip(placeholders, fgraph.inputs)):
        return False
    outputs = clone_replace(outputs, replace=dict(zip(placeholders, fgraph.inputs)))
    inputs = set(fgraph.inputs)
    if any(o.type != v.type or v in inputs for o, v in zip(outputs, fgraph.outputs)):
        return False
    # In-place Ops in the stored graph need the destroy handler the rewrites attach.
    if not any(isinstance(feature, DestroyHandler) for feature in fgraph._features):
        fgraph.attach_feature(DestroyHandler())
    fgraph.replace_all(list(zip(list(fgraph.outputs), outputs)), reason="convnet_graph_cache", import_missing=True)
    return True
