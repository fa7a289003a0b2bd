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
              function (each new graph takes tens of seconds; its MNIST
              training step ran about 10 % faster here)
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

What ``import convnet`` changes
-------------------------------
Only what Lasagne users rely on, and never a setting the user made:

* ``pytensor.config.floatX`` becomes ``float32`` (Theano's ``floatX`` when
  ``$THEANO_FLAGS`` or ``~/.theanorc`` give one), unless ``floatX`` is set
  in ``$PYTENSOR_FLAGS`` or ``~/.pytensorrc`` or was changed from PyTensor's
  default before the import.
* ``pytensor.config.mode`` becomes the device's mode (:data:`DEVICE_MODES`):
  the device ``$CONVNET_DEVICE`` names, else, unless the user chose
  PyTensor's ``mode`` or ``linker`` (in ``$PYTENSOR_FLAGS``,
  ``~/.pytensorrc`` or in code before the import), the device of Theano's
  flags or rc file, else ``cpu``.
* On a GPU (``device=cuda``), JAX's ``jax_default_matmul_precision``
  becomes ``"highest"`` unless it is set (in ``$JAX_DEFAULT_MATMUL_PRECISION``
  or in code), so that float32 products and convolutions are not computed in
  TF32, whose 1e-3 relative errors the CPU and Theano do not have.
* ``$OPENBLAS_THREAD_TIMEOUT`` becomes ``4`` unless it is set, so that idle
  OpenBLAS threads sleep at once instead of spinning on the cores convnet's
  convolutions need; OpenBLAS reads it when it loads (SciPy's, which Numba
  calls, loads after ``import convnet`` unless ``scipy.linalg`` was imported
  before).
* On Linux with glibc, ``malloc`` keeps freed memory for reuse: its
  ``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD`` become 1 GiB (from 128 KiB,
  raised by glibc as large blocks are freed, up to 32 MiB), unless
  ``$MALLOC_MMAP_THRESHOLD_``, ``$MALLOC_TRIM_THRESHOLD_`` or
  ``$GLIBC_TUNABLES`` is set.  Otherwise every array over 32 MiB (the output
  of the MNIST ConvNet's first layer on a batch of 500: 37 MB) goes back to
  the system when freed and comes back, at the next training step, as fresh
  pages that the first write faults in one by one: a fifth of that step.
  The process then keeps up to 1 GiB it no longer uses instead of returning
  it to the system.

:func:`changed_settings` lists what the import changed.
``CONVNET_NO_DEFAULTS=1`` in the environment makes the import change none
of them, and :func:`restore_pytensor_defaults` undoes them afterwards.
Registering convnet's own Ops, modes and rewrites with PyTensor is not a
change of settings: it does not alter any graph without convnet's Ops,
except that ``FAST_COMPILE`` graphs get the rewrite
:func:`convnet.backends.binary_add_mul`.

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

#: True when ``$CONVNET_NO_DEFAULTS`` is set (to anything but ``""`` or ``0``):
#: ``import convnet`` then leaves PyTensor's settings and the environment alone.
NO_DEFAULTS = os.environ.get("CONVNET_NO_DEFAULTS", "") not in ("", "0")

__all__ = ["DeviceUnavailableError", "ConfigurationWarning", "set_device", "get_device", "get_mode",
           "parse_device", "SUPPORTED_FLOATX", "changed_settings", "restore_pytensor_defaults"]

# What the import changed: setting -> (its value before, the value the import
# gave it); None before: an unset variable.
_settings_changed = {}
_environment_changed = {}
_jax_changed = {}  # JAX options set for device=cuda
_malloc_changed = {}  # glibc malloc parameters (mallopt): name -> (glibc's default, the value set)

if not NO_DEFAULTS and "OPENBLAS_THREAD_TIMEOUT" not in os.environ:
    # Before PyTensor (and with it NumPy and SciPy) is imported: OpenBLAS
    # reads it when it loads. 2**4 cycles instead of 2**28 (about 0.1 s).
    _environment_changed["OPENBLAS_THREAD_TIMEOUT"] = (None, "4")
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = "4"


# glibc's mallopt parameters, and the value convnet gives both.
_MALLOPT_PARAMETERS = {"M_TRIM_THRESHOLD": -1, "M_MMAP_THRESHOLD": -3}
_GLIBC_MALLOPT_DEFAULT = 128 * 1024
_KEEP_FREED_BYTES = 1 << 30


def _mallopt():
    """glibc's ``mallopt``, or None (another C library, or no C library to load)."""
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018  (glibc only)
        return libc.mallopt
    except (AttributeError, OSError):
        return None


def _set_malloc_parameters(value):
    """Both mallopt parameters set to ``value``; whether glibc took them."""
    mallopt = _mallopt()
    return mallopt is not None and all(mallopt(code, value) == 1 for code in _MALLOPT_PARAMETERS.values())


if not NO_DEFAULTS and not {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"} & set(os.environ) \
        and _set_malloc_parameters(_KEEP_FREED_BYTES):
    _malloc_changed.update({name: (_GLIBC_MALLOPT_DEFAULT, _KEEP_FREED_BYTES) for name in _MALLOPT_PARAMETERS})

import pytensor  # noqa: E402
from pytensor.compile.mode import get_mode as get_pytensor_mode  # noqa: E402

from . import linker  # noqa: E402  (registers the CONVNET_CPU mode)

#: The PyTensor mode (a registered mode name) each device compiles for.
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
    # XLA multiplies float32 matrices (and convolves) in TF32 on recent GPUs by
    # default: 1e-3 relative errors, where the CPU, Theano and Lasagne's
    # pretrained results are float32-exact. Full precision unless chosen.
    if (not NO_DEFAULTS and "JAX_DEFAULT_MATMUL_PRECISION" not in os.environ
            and jax.config.jax_default_matmul_precision is None):
        jax.config.update("jax_default_matmul_precision", "highest")
        _jax_changed["jax_default_matmul_precision"] = (None, "highest")


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


def _user_set(key):
    """Whether the user chose PyTensor's ``key``: in its flags or rc file, or in
    code before ``import convnet`` (the value is not PyTensor's default)."""
    # PyTensor has no public accessor for a setting's default.
    param = getattr(pytensor.config, "_config_var_dict", {}).get(key)
    default = getattr(param, "default", None)
    return _pytensor_sets(key) or (default is not None and str(getattr(pytensor.config, key)) != str(default))


def _record_change(key, before):
    after = getattr(pytensor.config, key)
    if after is not before and after != before:
        _settings_changed[key] = (_settings_changed.get(key, (before,))[0], after)


def configure_from_environment():
    """Apply ``floatX`` and the device from the environment (see the module
    doc for what is changed and when); nothing with ``$CONVNET_NO_DEFAULTS``."""
    if NO_DEFAULTS:
        return
    theano = _theano_settings()
    if _user_set("floatX"):
        _check_floatX("$PYTENSOR_FLAGS, ~/.pytensorrc or code run before the import")
    else:
        floatX, source = theano.get("floatX", ("float32", None))
        if floatX not in SUPPORTED_FLOATX:
            raise ValueError(f"floatX={floatX} (set in {source}) is not supported: convnet computes in "
                             f"{' or '.join(SUPPORTED_FLOATX)}; change that setting")
        floatX_before = pytensor.config.floatX
        pytensor.config.floatX = floatX
        _record_change("floatX", floatX_before)
    device, source = (os.environ["CONVNET_DEVICE"], "$CONVNET_DEVICE") if os.environ.get("CONVNET_DEVICE") \
        else (None, None)
    if not device and not (_user_set("mode") or _pytensor_sets("linker")):
        # Theano's device, else the default; neither overrides a PyTensor mode the user chose.
        device, source = theano.get("device", ("cpu", "convnet's default"))
    if device:
        if "," not in device and theano.get("fallback"):
            device = f"{device},fallback={theano['fallback'][0]}"
        mode_before = pytensor.config.mode
        try:
            set_device(device)
        except ValueError as e:
            raise ValueError(f"{e} (set in {source})") from None
        _record_change("mode", mode_before)


def changed_settings():
    """What ``import convnet`` changed and is still in force: a dict mapping
    ``"floatX"``, ``"mode"`` (PyTensor's settings) and
    ``"OPENBLAS_THREAD_TIMEOUT"`` (an environment variable) and
    ``"M_MMAP_THRESHOLD"``, ``"M_TRIM_THRESHOLD"`` (glibc's malloc) to the pair
    ``(before, now)``; ``before`` is ``None`` for a variable that was unset.

    In a fresh interpreter with no PyTensor or Theano settings::

        >>> import convnet
        >>> convnet.config.changed_settings()  # doctest: +SKIP
        {'floatX': ('float64', 'float32'), 'OPENBLAS_THREAD_TIMEOUT': (None, '4')}
    """
    changed = {key: (before, after) for key, (before, after) in _settings_changed.items()
               if getattr(pytensor.config, key) == after}
    changed.update({name: (before, after) for name, (before, after) in _environment_changed.items()
                    if os.environ.get(name) == after})
    if _jax_changed:
        import jax

        changed.update({name: (before, after) for name, (before, after) in _jax_changed.items()
                        if getattr(jax.config, name) == after})
    changed.update(_malloc_changed)
    return changed


def restore_pytensor_defaults():
    """Undo what ``import convnet`` changed and is still in force (see
    :func:`changed_settings`): PyTensor's ``floatX`` and ``mode`` and the
    environment get back the values they had before the import; a setting
    changed again since (by :func:`set_device`, say) stays as it is. An
    OpenBLAS already loaded keeps the timeout it read; glibc's malloc gets its
    default thresholds back, but no longer raises them as it would have. Functions compiled
    afterwards follow PyTensor's settings, as without convnet.

    Examples
    --------
    >>> import pytensor, convnet
    >>> convnet.config.restore_pytensor_defaults()
    >>> convnet.config.changed_settings()
    {}
    """
    global _current_device
    changed = changed_settings()
    for key, (before, _after) in _settings_changed.items():
        if key in changed:
            setattr(pytensor.config, key, before)
    for name, (before, _after) in _environment_changed.items():
        if name in changed:
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before
    for name, (before, _after) in _jax_changed.items():
        if name in changed:
            import jax

            jax.config.update(name, before)
    if _malloc_changed:
        _set_malloc_parameters(_GLIBC_MALLOPT_DEFAULT)
    if "mode" in changed:
        _current_device = None
    _malloc_changed.clear()
    _settings_changed.clear()
    _environment_changed.clear()
    _jax_changed.clear()


configure_from_environment()
