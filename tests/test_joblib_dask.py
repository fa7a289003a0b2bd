"""convnet's fix to joblib's Dask backend is applied when joblib loads it.

What it fixes, a ``Parallel`` call that waited forever for a task whose
workers died, is tested on a real cluster in
tests/estimator/test_dask.py::test_task_that_keeps_killing_its_workers_ends_in_a_clear_error."""
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("distributed")


def test_loading_joblibs_dask_backend_applies_the_fix():
    # A fresh interpreter: joblib loads its Dask backend on first use, after convnet.
    code = "\n".join([
        "import convnet, joblib",
        "try:",
        "    joblib.parallel_backend('dask')  # joblib loads its Dask backend, then finds no client",
        "except ValueError:",
        "    pass",
        "from joblib._dask import DaskDistributedBackend",
        "print(DaskDistributedBackend._collect.__module__)",
    ])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert done.stdout.strip() == "convnet.joblib_dask", done.stderr
