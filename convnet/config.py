"""Where convnet's graphs run, and the default float type.

One switch chooses the backend every ``pytensor.function`` compiles for
(convnet sets PyTensor's default mode, so hand-written functions follow too):

============  ==========================================================
device        backend
============  ==========================================================
``cpu``       convnet's CPU linker (the default): PyTensor's virtual
              machine over nodes compiled once per signature and cached
              (see :mod:`convnet.linker`)
``numba``     PyTensor's Numba linker: the whole graph compiled as one
              function (slow to compile, no faster to run for ConvNets)
``c``         PyTensor's C virtual machine (``CVM``)
``jax``       XLA through PyTensor's JAX linker: the GPU when JAX sees
              one, else the CPU
``cuda``      XLA on the GPU; an error when JAX sees no GPU (``gpu`` and
              ``cudaN`` are accepted as in Theano)
``jax:all``   data-parallel over all the devices of JAX's default backend
``cuda:all``  data-parallel over all the GPUs
============  ==========================================================

Under ``jax:all`` and ``cuda:all`` every function shards its batch inputs
along the first axis over the devices and replicates the parameters; XLA
reduces the gradients (see :class:`convnet.jax_backend.DataParallelJAXLinker`
and the scaling guide).

The device is read, first match wins, from an explicit
:func:`set_device` call, ``$CONVNET_DEVICE``, then Theano's ``$THEANO_FLAGS``
and ``~/.theanorc`` (or ``$THEANORC``) ``device = ...``, so users coming from
Theano keep their habits. ``device = cuda,fallback=cpu`` (or the flag
``fallback=cpu``) warns and runs on the CPU when no GPU is visible instead
of failing. ``$PYTENSOR_FLAGS`` keeps working as PyTensor defines it.

``floatX`` is ``float32`` unless chosen in ``$PYTENSOR_FLAGS``,
``~/.pytensorrc``, ``$THEANO_FLAGS`` or ``~/.theanorc``; convnet supports
``float32`` and ``float64``, and refuses any other (``float16``) at import,
naming where it was set.

A configuration convnet cannot read does not stop it: an rc file with a
syntax error (no ``[global]`` header, a key given twice) or a flags item
that is not ``key=value`` is ignored with a :class:`ConfigurationWarning`
that names the file or variable and what is wrong.

Examples
--------
>>> import convnet
>>> convnet.config.set_device("cpu")
>>> convnet.config.get_device()
'cpu'
"""
import configparser
import os
import re
import warnings

import pytensor
from pytensor.compile.mode import get_mode as get_pytensor_mode

from . import linker  # registers the CONVNET_CPU mode

__all__ = ["DeviceUnavailableError", "ConfigurationWarning", "set_device", "get_device", "get_mode",
           "parse_device", "SUPPORTED_FLOATX"]

DEVICE_MODES = {"cpu": linker.MODE_NAME, "numba": "NUMBA", "c": "CVM", "jax": "CONVNET_JAX", "cuda": "CONVNET_JAX"}

#: The float types convnet's ops and layers compute in.
SUPPORTED_FLOATX = ("float32", "float64")

_current_device = None


class DeviceUnavailableError(RuntimeError):
    """The requested device cannot be used on this machine."""


class ConfigurationWarning(UserWarning):
    """A configuration file or flags item that convnet cannot read, and ignores."""


def parse_device(spec):
    """Split a device string such as ``"cuda,fallback=cpu"`` into
    ``(device, index, fallback)``; ``index`` is the GPU's number for
    ``cuda``, ``"all"`` for the data-parallel ``jax:all`` and ``cuda:all``,
    else None.

    >>> parse_device("gpu1,fallback=cpu")
    ('cuda', 1, 'cpu')
    >>> parse_device("cuda:all")
    ('cuda', 'all', None)
    """
    parts = [p.strip() for p in str(spec).split(",") if p.strip()]
    if not parts:
        raise ValueError(f"device: empty device specification {spec!r}")
    name, fallback = parts[0].lower(), None
    for option in parts[1:]:
        key, _, value = option.partition("=")
        if key.strip() != "fallback" or value.strip() not in DEVICE_MODES:
            raise ValueError(f"device: unknown option {option!r} in {spec!r}; expected fallback=cpu|numba|c|jax")
        fallback = value.strip()
    match = re.fullmatch(r"(jax|cuda|gpu):all", name)
    if match:
        return ("jax" if match.group(1) == "jax" else "cuda"), "all", fallback
    match = re.fullmatch(r"(cuda|gpu)(\d*)", name)
    if match:
        return "cuda", int(match.group(2) or 0), fallback
    if name not in DEVICE_MODES:
        raise ValueError(f"device: unknown device {spec!r}; expected one of cpu, numba, c, jax, cuda (gpu, cudaN), "
                         f"jax:all, cuda:all")
    return name, None, fallback


def _select_gpu(index):
    try:
        import jax
    except ImportError as e:
        raise DeviceUnavailableError(
            "device=cuda needs JAX with CUDA support (pip install 'jax[cuda13]'); JAX is not installed"
        ) from e
    try:
        gpus = jax.devices("gpu")
    except RuntimeError:
        gpus = []
    if (1 if index == "all" else index + 1) > len(gpus):
        raise DeviceUnavailableError(
            f"device=cuda{':all' if index == 'all' else index or ''} was requested but JAX sees {len(gpus)} GPU(s) "
            f"(its devices: {jax.devices()}); install jax with CUDA support or choose device=cpu"
        )
    jax.config.update("jax_default_device", gpus[0 if index == "all" else index])


def set_device(spec):
    """Compile every later ``pytensor.function`` for ``spec``
    (``"cpu"``, ``"c"``, ``"jax"``, ``"cuda"``, the data-parallel
    ``"jax:all"`` and ``"cuda:all"``, optionally ``",fallback=cpu"``).

    Raises :class:`DeviceUnavailableError` when a GPU is requested and none is
    visible and no fallback was given.
    """
    global _current_device
    device, index, fallback = parse_device(spec)
    mode = DEVICE_MODES[device]
    if device in ("jax", "cuda"):
        from . import jax_backend  # registers the CONVNET_JAX modes

        if index == "all":
            mode = jax_backend.DATA_PARALLEL_MODE_NAMES[None if device == "jax" else "gpu"]
    if device == "cuda":
        try:
            _select_gpu(index)
        except DeviceUnavailableError as e:
            if fallback is None:
                raise
            warnings.warn(f"{e}; falling back to device={fallback} as configured", RuntimeWarning, stacklevel=2)
            set_device(fallback)
            return
    pytensor.config.mode = get_pytensor_mode(mode)
    _current_device = f"{device}:all" if index == "all" else device


def get_device():
    """The device chosen by :func:`set_device` or the configuration, or
    ``None`` when PyTensor's own mode settings are in force."""
    return _current_device


def get_mode():
    """The PyTensor compilation mode (a ``Mode``) that functions compile for."""
    return get_pytensor_mode(None)


def _flags(variable):
    """``key=value`` pairs of a flags variable such as ``$THEANO_FLAGS``; a
    malformed item is ignored with a :class:`ConfigurationWarning`."""
    pairs = {}
    for item in os.environ.get(variable, "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            warnings.warn(f"${variable}: ignoring {item.strip()!r}, which is not key=value (items are "
                          f"separated by commas: floatX=float32,device=cpu)", ConfigurationWarning, stacklevel=3)
            continue
        pairs[key.strip()] = value.strip()
    return pairs


def _rc_file(variable, default):
    """The ``[global]`` settings of the rc files listed in ``$variable`` (or ``default``),
    ``key -> (value, file)``; a file with a syntax error is ignored with a
    :class:`ConfigurationWarning`."""
    settings = {}
    for path in os.environ.get(variable, default).split(os.pathsep):
        path = os.path.expanduser(path)
        parser = configparser.ConfigParser()
        parser.optionxform = str  # keys such as floatX are case-sensitive
        try:
            parser.read(path)
        except (configparser.Error, UnicodeDecodeError) as e:
            reason = str(e).splitlines()[0].rstrip(".")
            if isinstance(e, configparser.MissingSectionHeaderError):
                reason = f"{reason}: settings go under a [global] header"
            warnings.warn(f"{path}: ignoring this configuration file (from ${variable} or {default}): {reason}. "
                          "Expected, for example:\n[global]\nfloatX = float32\ndevice = cpu",
                          ConfigurationWarning, stacklevel=3)
            continue
        if parser.has_section("global"):
            settings.update((key, (value, path)) for key, value in parser["global"].items())
    return settings


def _pytensor_sets(key):
    return key in _flags("PYTENSOR_FLAGS") or key in _rc_file("PYTENSORRC", "~/.pytensorrc")


def _theano_settings():
    """Theano's settings, ``key -> (value, where it was set)``: ``$THEANO_FLAGS`` over the rc files."""
    settings = _rc_file("THEANORC", "~/.theanorc")
    settings.update((key, (value, "$THEANO_FLAGS")) for key, value in _flags("THEANO_FLAGS").items())
    return settings


def _check_floatX(source):
    if pytensor.config.floatX not in SUPPORTED_FLOATX:
        raise ValueError(f"floatX={pytensor.config.floatX} (set in {source}) is not supported: convnet computes "
                         f"in {' or '.join(SUPPORTED_FLOATX)}; change that setting")


def configure_from_environment():
    """Apply ``floatX`` and the device from the environment (see module doc)."""
    theano = _theano_settings()
    if _pytensor_sets("floatX"):
        _check_floatX("$PYTENSOR_FLAGS or ~/.pytensorrc")
    else:
        floatX, source = theano.get("floatX", ("float32", None))
        if floatX not in SUPPORTED_FLOATX:
            raise ValueError(f"floatX={floatX} (set in {source}) is not supported: convnet computes in "
                             f"{' or '.join(SUPPORTED_FLOATX)}; change that setting")
        pytensor.config.floatX = floatX
    device, source = (os.environ["CONVNET_DEVICE"], "$CONVNET_DEVICE") if os.environ.get("CONVNET_DEVICE") \
        else theano.get("device", (None, None))
    if not device and not (_pytensor_sets("mode") or _pytensor_sets("linker")):
        device, source = "cpu", "convnet's default"
    if device:
        if "," not in device and theano.get("fallback"):
            device = f"{device},fallback={theano['fallback'][0]}"
        try:
            set_device(device)
        except ValueError as e:
            raise ValueError(f"{e} (set in {source})") from None


configure_from_environment()
