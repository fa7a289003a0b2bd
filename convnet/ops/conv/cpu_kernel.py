"""The 2-D convolution kernel of the CPU backends: C, compiled when convnet is installed.

The kernel (``_kernel.c``, algorithms described there) computes the three
2-D Ops, Conv, ConvGradWeights and ConvGradInputs, for one *problem*: an
int64 array with the fields of :data:`PROBLEM_FIELDS`, which :func:`problem`
makes from the shapes and the Op's geometry (the one place the geometry is
flattened).  Two ways in:

* :func:`run`, from Python: convnet's CPU linker calls it for each node,
  without the GIL, so no process compiles anything for a 2-D convolution;
* :func:`address`, the C entry point for a dtype, which PyTensor's Numba
  backend calls as an external function (:mod:`convnet.ops.conv.numba_backend`).

The first use sets the kernel up (:func:`kernel`): the ``sgemm`` and
``dgemm`` of SciPy's ``cython_blas`` (the BLAS that NumPy and Numba call) and,
where that BLAS is an OpenBLAS, its thread-count functions, so that the
kernel's workers can run single-threaded GEMMs side by side.

Examples
--------
>>> import numpy as np
>>> from convnet.ops.conv.cpu_kernel import FORWARD, problem, run
>>> images, filters = np.ones((1, 1, 3, 3), "float32"), np.ones((1, 1, 2, 2), "float32")
>>> spec = problem(images.shape, filters.shape, 0, (0, 0), (1, 1), (1, 1), True, FORWARD)
>>> output = np.empty((1, 1, 2, 2), "float32")
>>> run(images, filters, output, spec)
>>> output[0, 0]
array([[4., 4.],
       [4., 4.]], dtype=float32)
"""
import ctypes
import os
from functools import cache

import numpy as np

from .geometry import output_size, pad_size

__all__ = ["PROBLEM_FIELDS", "FORWARD", "GRAD_WEIGHTS", "GRAD_INPUTS", "problem", "run", "address",
           "algorithms", "kernel"]

# The fields of a problem array, in the order of problem_t in _kernel.c.
PROBLEM_FIELDS = ("batch", "channels", "height", "width", "out_channels", "filter_rows", "filter_cols",
                  "out_rows", "out_cols", "pad_rows", "pad_cols", "stride_rows", "stride_cols",
                  "dilation_rows", "dilation_cols", "flip", "kind")
# The computations, in the kind field.
FORWARD, GRAD_WEIGHTS, GRAD_INPUTS = 0, 1, 2


def problem(input_shape, filter_shape, border_code, explicit_pads, subsample, dilation, flip, kind):
    """The problem array of a 2-D convolution of an NCHW input of
    ``input_shape`` with OIHW filters of ``filter_shape``, for shapes that
    fit, with the geometry given field by field (``ConvGeometry.border_code``,
    ``explicit_pads``, ``subsample``, ``filter_dilation``, ``filter_flip``).

    Plain enough for Numba to compile too, which the Numba backend does.
    """
    pad_rows = pad_size(border_code, explicit_pads[0], filter_shape[2], dilation[0])
    pad_cols = pad_size(border_code, explicit_pads[1], filter_shape[3], dilation[1])
    values = np.empty(len(PROBLEM_FIELDS), np.int64)
    values[0], values[1], values[2], values[3] = input_shape[0], input_shape[1], input_shape[2], input_shape[3]
    values[4], values[5], values[6] = filter_shape[0], filter_shape[2], filter_shape[3]
    values[7] = output_size(input_shape[2], filter_shape[2], subsample[0], pad_rows, dilation[0])
    values[8] = output_size(input_shape[3], filter_shape[3], subsample[1], pad_cols, dilation[1])
    values[9], values[10] = pad_rows, pad_cols
    values[11], values[12], values[13], values[14] = subsample[0], subsample[1], dilation[0], dilation[1]
    values[15], values[16] = flip, kind
    return values


def _cython_blas_address(name):
    """The address of SciPy's ``cython_blas`` function ``name``."""
    from scipy.linalg import cython_blas

    api = ctypes.pythonapi
    api.PyCapsule_GetName.restype, api.PyCapsule_GetName.argtypes = ctypes.c_char_p, [ctypes.py_object]
    api.PyCapsule_GetPointer.restype = ctypes.c_void_p
    api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    capsule = cython_blas.__pyx_capi__[name]
    return api.PyCapsule_GetPointer(capsule, api.PyCapsule_GetName(capsule))


def _openblas_thread_functions(gemm_address):
    """The addresses of ``openblas_get_num_threads`` and ``openblas_set_num_threads``
    in the library that holds ``gemm_address``, or ``(0, 0)`` where that
    library is not an OpenBLAS (the kernel then runs one worker)."""

    class DlInfo(ctypes.Structure):
        _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                    ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]

    info = DlInfo()
    try:
        if not ctypes.CDLL(None).dladdr(ctypes.c_void_p(gemm_address), ctypes.byref(info)):
            return 0, 0
        library = ctypes.CDLL(info.dli_fname.decode())
    except (AttributeError, OSError):  # no dladdr
        return 0, 0
    for prefix, suffix in (("scipy_", ""), ("", ""), ("scipy_", "64_"), ("", "64_")):
        names = [f"{prefix}openblas_{verb}_num_threads{suffix}" for verb in ("get", "set")]
        if all(hasattr(library, name) for name in names):
            return tuple(ctypes.cast(getattr(library, name), ctypes.c_void_p).value for name in names)
    return 0, 0


# The C compiler's options, as pyproject.toml gives them to setuptools.
_COMPILE_OPTIONS = ("-O3", "-std=c99", "-pthread", "-shared", "-fPIC")


def _built_in_place():
    """The extension compiled from ``_kernel.c`` into PyTensor's ``compiledir``,
    named by a digest of its sources: for a source checkout that was not
    installed in place (``python -m pytest`` in a checkout imports the
    checkout's convnet, whose extension ``pip install .`` built elsewhere).
    A few seconds once; the file is written atomically."""
    import importlib.machinery
    import importlib.util
    import shlex
    import subprocess
    import sysconfig
    import tempfile
    from pathlib import Path

    from pytensor import config

    from ..kernel_cache import source_digest

    source = Path(__file__).with_name("_kernel.c")
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    target = (Path(config.compiledir) / "convnet_kernels"
              / f"_kernel_{source_digest('conv/_kernel.c', 'conv/conv2d.h'):x}{suffix}")
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, partial = tempfile.mkstemp(dir=target.parent, suffix=suffix)
        os.close(descriptor)
        command = [*shlex.split(sysconfig.get_config_var("CC") or "cc"), *_COMPILE_OPTIONS,
                   f"-I{sysconfig.get_paths()['include']}", str(source), "-o", partial]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            os.unlink(partial)
            raise ImportError(f"convnet's convolution kernel (convnet.ops.conv._kernel) is not built, and "
                              f"compiling it failed: {' '.join(command)}\n{done.stderr[-2000:]}\nInstall "
                              "convnet with pip, which builds it (it needs a C compiler and Python's headers).")
        os.replace(partial, target)
    spec = importlib.util.spec_from_file_location(f"{__package__}._kernel", target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def kernel():
    """The compiled extension, set up on first use (and compiled first, see
    :func:`_built_in_place`, where it was not built)."""
    try:
        from . import _kernel
    except ImportError:
        _kernel = _built_in_place()
    if _kernel.PROBLEM_FIELDS != len(PROBLEM_FIELDS):
        raise ImportError(f"convnet.ops.conv._kernel was built for {_kernel.PROBLEM_FIELDS} problem fields, "
                          f"this convnet has {len(PROBLEM_FIELDS)}: reinstall convnet")
    sgemm, dgemm = _cython_blas_address("sgemm"), _cython_blas_address("dgemm")
    get_threads, set_threads = _openblas_thread_functions(sgemm)
    _kernel.configure(sgemm, dgemm, get_threads, set_threads, len(os.sched_getaffinity(0))
                      if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    return _kernel


def run(a, b, out, problem_array):
    """The kernel on C-contiguous arrays of one float dtype: ``(a, b, out)``
    are (images, filters, output) for ``FORWARD``, (images, output gradient,
    filter gradient) for ``GRAD_WEIGHTS`` and (filters, output gradient,
    input gradient) for ``GRAD_INPUTS``.  The shapes must fit the problem
    (the caller checks them with the Op's geometry); operands of the wrong
    number of elements raise a ValueError."""
    kernel().run(a, b, out, problem_array)


def address(dtype):
    """The C entry point ``int kernel(a, b, out, problem)`` for ``dtype``
    ('float32' or 'float64'); it returns 0, or -1 when memory runs out."""
    return kernel().address(str(dtype))


def algorithms(problem_array):
    """``(images per chunk of the direct algorithm or 0 for im2col, whether a
    ConvGradInputs runs as the direct transposed convolution, workers)`` that
    the kernel picks for ``problem_array``: for tests and benchmarks."""
    return kernel().algorithms(problem_array)
