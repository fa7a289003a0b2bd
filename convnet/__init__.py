"""convnet: Lasagne-style neural-network layers for PyTensor.

The modules keep Lasagne's names: ``convnet.layers``, ``convnet.init``,
``convnet.nonlinearities``, ``convnet.objectives``, ``convnet.updates``,
``convnet.regularization``, ``convnet.random``, ``convnet.utils``; plus
``convnet.ops`` (convolution and pooling), ``convnet.config`` (where graphs
run), ``convnet.datasets``, ``convnet.augmentation``, ``convnet.modelzoo``, the
scikit-learn estimator ``convnet.NeuralNet`` and seeded ensembles of it,
``convnet.ensemble`` (both need scikit-learn).
"""
import os

# OpenBLAS's idle threads spin for 2**28 cycles (about 0.1 s) after each
# multi-threaded BLAS call before they sleep, taking a core from the threads
# that run convnet's convolutions (convnet.ops.conv_numba); 2**4 lets them sleep
# at once.  OpenBLAS reads this when it loads: SciPy's, which Numba calls, loads
# after this point unless scipy.linalg was imported before convnet.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from . import backends  # noqa: E402

# convnet's JAX adjustments load with PyTensor's JAX backend (see convnet.jax_backend).
backends.import_when_imported(backends.JAX_DISPATCH, "convnet.jax_backend")
# A task that fails in Dask ends a joblib call on Dask with its error (see convnet.joblib_dask).
backends.import_when_imported("joblib._dask", "convnet.joblib_dask")
backends.import_when_imported(backends.NUMBA_DISPATCH, "convnet.numba_graph_release")

from . import config  # noqa: E402  (reads the device and floatX configuration)
from . import (  # noqa: E402
    augmentation,
    datasets,
    init,
    layers,
    modelzoo,
    nonlinearities,
    objectives,
    ops,
    random,
    regularization,
    updates,
    utils,
)

__version__ = "0.1.0"


def __getattr__(name):
    # NeuralNet needs scikit-learn (the "sklearn" extra): imported on first use.
    if name == "NeuralNet":
        from .estimator import NeuralNet

        return NeuralNet
    raise AttributeError(f"module 'convnet' has no attribute {name!r}")
