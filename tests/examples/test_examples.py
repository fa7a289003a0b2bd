"""The examples run end to end as a user runs them (on the bundled sample)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from convnet import checkpoint

# The examples train end to end in subprocesses: minutes, not seconds.
pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).parents[2] / "examples"


def run_example(name, *args, timeout=600):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True,
                            timeout=timeout, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_mnist_cnn_one_epoch_on_the_sample_prints_the_table(tmp_path):
    saved = tmp_path / "cnn.npz"
    out = run_example("mnist.py", "cnn", "--epochs", "1", "--sample", "--save", str(saved))
    assert "(the bundled sample)" in out
    assert re.search(r"epoch \| train loss \| valid loss \| valid acc \|\s+time", out)
    row = re.search(r"^\s+1 \| +([\d.]+) \| +([\d.]+) \| +([\d.]+)% \| +[\d.]+s$", out, re.MULTILINE)
    assert row, out
    assert float(row.group(3)) > 50  # one epoch of 8 batches already learns
    accuracy = float(re.search(r"test accuracy ([\d.]+) %", out).group(1))
    assert accuracy > 50
    # The saved parameters load back into the same architecture.
    sys.path.insert(0, str(EXAMPLES))
    try:
        import mnist
    finally:
        sys.path.remove(str(EXAMPLES))
    network = mnist.build_cnn()
    checkpoint.load_params(network, saved)
    with np.load(saved) as data:
        assert len(data.files) == 8


def test_mnist_rejects_unknown_model():
    result = subprocess.run([sys.executable, str(EXAMPLES / "mnist.py"), "resnet"], capture_output=True, text=True)
    assert result.returncode != 0
    assert "unknown model 'resnet'" in result.stderr


def test_custom_loss_example_runs():
    out = run_example("custom_loss.py", "--epochs", "2")
    assert "epoch 2: lr 0.0014 momentum 0.70" in out
    accuracy = float(re.search(r"test accuracy ([\d.]+) %", out).group(1))
    assert accuracy > 75


def test_ensemble_example_prints_every_member_and_the_ensemble():
    out = run_example("ensemble_mnist.py", "--sample", "--members", "5", "--epochs", "2", "--hidden", "32",
                      "--subset", "500", "--mode", "FAST_COMPILE")
    rows = dict(re.findall(r"^(member\d|ensemble) +\| +([\d.]+)%$", out, re.MULTILINE))
    assert list(rows) == ["member0", "member1", "member2", "member3", "member4", "ensemble"], out
    accuracies = {name: float(value) for name, value in rows.items()}
    assert len({accuracies[f"member{k}"] for k in range(5)}) > 1  # seeded differently
    assert accuracies["ensemble"] > 50  # chance is 10 %
    assert accuracies["ensemble"] >= min(accuracies.values())
