"""What ``import convnet`` does to the process (convnet/__init__.py)."""
import os
import subprocess
import sys

import pytest


def imported_environment(**environment):
    """``OPENBLAS_THREAD_TIMEOUT`` as a fresh interpreter sees it after ``import convnet``."""
    env = {key: value for key, value in os.environ.items() if key != "OPENBLAS_THREAD_TIMEOUT"}
    env.update(environment)
    code = "import os, convnet; print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'))"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.mark.parametrize("users_value, seen", [(None, "4"), ("10", "10")])
def test_import_lets_idle_openblas_threads_sleep_unless_told_otherwise(users_value, seen):
    environment = {} if users_value is None else {"OPENBLAS_THREAD_TIMEOUT": users_value}
    assert imported_environment(**environment) == seen
