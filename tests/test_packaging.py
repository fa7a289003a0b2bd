"""The distribution (pyproject.toml): the sdist and wheel build, and the wheel
installs into a fresh virtual environment and works from there."""
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

import convnet

ROOT = Path(__file__).parents[1]

# Builds the sdist and the wheel (pip fetches setuptools) and makes a venv: tens of seconds.
pytestmark = pytest.mark.slow


def run(*command, **kwargs):
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_wheel_installs_into_a_fresh_venv(tmp_path):
    pytest.importorskip("build")
    run(sys.executable, "-m", "build", "--outdir", tmp_path / "dist", ROOT)
    assert list((tmp_path / "dist").glob("convnet_lasagne-*.tar.gz"))
    (wheel,) = (tmp_path / "dist").glob("convnet_lasagne-*.whl")  # per platform: it holds the C kernel
    assert wheel.name.startswith(f"convnet_lasagne-{convnet.__version__}-")

    # A new venv with the wheel. Its dependencies are the ones this interpreter has
    # (a .pth file, written after the install, lists their directories), so nothing
    # is downloaded.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    run(python, "-m", "pip", "install", "--no-deps", "--no-index", wheel)
    venv_site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip())
    (venv_site / "_test_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")

    # Run from an empty directory, so that the checkout is not on sys.path.
    code = """
import importlib.metadata, importlib.resources, convnet
from convnet.datasets import load_mnist
print(convnet.__file__)
print(importlib.metadata.version("convnet-lasagne"), convnet.__version__)
print(importlib.metadata.metadata("convnet-lasagne")["License-Expression"])
print(importlib.resources.files("convnet").joinpath("py.typed").is_file())
print(load_mnist(sample=True).X_train.shape)
import numpy as np
from convnet.ops.conv import cpu_kernel
images, filters, output = np.ones((2, 3, 5, 5)), np.ones((4, 3, 3, 3)), np.empty((2, 4, 3, 3))
cpu_kernel.run(images, filters, output, cpu_kernel.problem(images.shape, filters.shape, 0, (0, 0), (1, 1),
                                                           (1, 1), 1, cpu_kernel.FORWARD))
print(cpu_kernel.kernel().__file__.startswith(convnet.__file__.rsplit("/", 1)[0]), sorted(set(output.ravel().tolist())))
"""
    lines = run(python, "-c", code, cwd=tmp_path).splitlines()
    assert Path(lines[0]).is_relative_to(venv_site)
    assert lines[1:] == [f"{convnet.__version__} {convnet.__version__}", "MIT", "True", "(4000, 1, 28, 28)",
                         "True [27.0]"]
