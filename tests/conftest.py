"""Shared test fixtures: compilation modes and the location of MNIST."""
import os
from pathlib import Path

import pytest

# The ways PyTensor can run a graph that convnet supports: Python thunks
# (each Op's ``perform``, the reference), convnet's CPU linker (the default),
# PyTensor's whole-graph Numba linker, and JAX.
BACKEND_MODES = ["FAST_COMPILE", "CONVNET_CPU", "NUMBA", "JAX"]


@pytest.fixture(params=BACKEND_MODES)
def backend_mode(request):
    """Run a test once per backend (JAX is skipped when not installed)."""
    if request.param == "JAX":
        pytest.importorskip("jax")
    return request.param


@pytest.fixture(autouse=True)
def compile_small_nodes(monkeypatch):
    """convnet's CPU linker runs nodes on small arrays as NumPy, and tests'
    arrays are small: here every node with compiled code runs it, so the
    tests check that code.  Tests of the size rule set it back."""
    import convnet.linker

    monkeypatch.setattr(convnet.linker, "SMALL_RUNTIME_SIZE", 0)


@pytest.fixture
def mode():
    """The quick mode for unit tests that do not test a backend."""
    return "FAST_COMPILE"


def find_mnist_dir():
    """The directory with the real MNIST ``.gz`` files, or None."""
    candidates = [os.environ.get("CONVNET_DATA", ""), Path(__file__).parents[2] / "shared/data"]
    for c in candidates:
        if not c:
            continue
        for d in (Path(c), Path(c) / "mnist"):
            if (d / "train-images-idx3-ubyte.gz").is_file():
                return d
    return None


@pytest.fixture
def mnist_dir():
    d = find_mnist_dir()
    if d is None:
        pytest.skip("real MNIST files not found (set $CONVNET_DATA or provide ../shared/data/mnist)")
    return d


def pytest_collection_modifyitems(items):
    """Runs on PyTensor's whole-graph Numba linker (the ``NUMBA`` backend,
    ``device=numba``) count as slow: each compiles its graph for tens of
    seconds on a cold cache. The default Python runs them; CI's second
    Python (``-m "not slow"``) runs the same tests on every other backend."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and any(isinstance(value, str) and value == "NUMBA"
                                        for value in callspec.params.values()):
            item.add_marker(pytest.mark.slow)
