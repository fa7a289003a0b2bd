"""convnet: Lasagne-style neural-network layers for PyTensor.

The modules keep Lasagne's names: ``convnet.layers``, ``convnet.init``,
``convnet.nonlinearities``, ``convnet.objectives``, ``convnet.updates``,
``convnet.regularization``, ``convnet.random``, ``convnet.utils``; plus
``convnet.ops`` (convolution and pooling), ``convnet.config`` (where graphs
run), ``convnet.datasets``, ``convnet.augmentation``, ``convnet.modelzoo``, the
scikit-learn estimator ``convnet.NeuralNet`` and seeded ensembles of it,
``convnet.ensemble`` (both need scikit-learn).
"""
# First: it sets $OPENBLAS_THREAD_TIMEOUT before PyTensor loads NumPy and SciPy,
# then floatX and the device (see convnet.config for what the import changes).
from . import config
from . import backends

# convnet's JAX adjustments load with PyTensor's JAX backend (see convnet.jax_backend).
backends.import_when_imported(backends.JAX_DISPATCH, "convnet.jax_backend")
# A task that fails in Dask ends a joblib call on Dask with its error (see convnet.joblib_dask).
backends.import_when_imported("joblib._dask", "convnet.joblib_dask")
backends.import_when_imported(backends.NUMBA_DISPATCH, "convnet.numba_graph_release")

from . import (  # noqa: E402  (after the JAX hook above)
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
