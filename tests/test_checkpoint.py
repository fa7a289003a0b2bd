"""convnet.checkpoint under faults: damaged files name themselves and change nothing,
written files get the usual permissions, killed saves leave nothing behind for long.
(Names, round trips and resuming are tested with the estimator in tests/estimator.)"""
import os
import pickle
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from convnet.checkpoint import load_params, param_values, read_npz, save_params
from convnet.layers import DenseLayer, InputLayer
from convnet.modelzoo import load_weights

ROOT = Path(__file__).parents[1]


def small_net():
    return DenseLayer(DenseLayer(InputLayer((None, 4), name="input"), 5, name="hidden"), 3, name="out")


def whole_checkpoint(path):
    save_params(small_net(), path)
    return path.read_bytes()


def flip_a_data_byte(data):
    """The archive with one byte of the first array's data changed: its CRC no longer matches."""
    data = bytearray(data)
    data[200] ^= 0xFF
    return bytes(data)


DAMAGES = {
    "empty": lambda data: b"",
    "truncated": lambda data: data[: len(data) // 2],
    "a few bytes": lambda data: data[:10],
    "bad crc": flip_a_data_byte,
    "random": lambda data: np.random.default_rng(0).bytes(len(data)),
    "pickle": lambda data: pickle.dumps({"out.W": np.zeros((5, 3))}),
    "text": lambda data: b"out.W,out.b\n1,2\n",
}


@pytest.mark.parametrize("damage", list(DAMAGES))
@pytest.mark.parametrize("loader", ["load_params", "load_weights"])
def test_a_damaged_file_raises_naming_it_and_changes_nothing(tmp_path, damage, loader):
    path = tmp_path / "net.npz"
    path.write_bytes(DAMAGES[damage](whole_checkpoint(path)))
    net = small_net()
    before = param_values(net)
    load = load_params if loader == "load_params" else load_weights
    with pytest.raises(ValueError) as error:
        load(net, path)
    assert str(path) in str(error.value)
    for key, value in param_values(net).items():
        np.testing.assert_array_equal(value, before[key])


@pytest.mark.parametrize("damage, message", [
    ("empty", "the file is empty"),
    ("truncated", "it may be truncated or damaged"),
    ("bad crc", "it may be truncated or damaged"),
    ("random", "not an .npz archive"),
    ("pickle", "not an .npz archive"),
])
def test_read_npz_says_what_is_wrong(tmp_path, damage, message):
    path = tmp_path / "net.npz"
    path.write_bytes(DAMAGES[damage](whole_checkpoint(path)))
    with pytest.raises(ValueError, match=message):
        read_npz(path)


def test_a_mismatch_read_from_a_file_names_the_file(tmp_path):
    path = tmp_path / "other.npz"
    save_params(DenseLayer(InputLayer((None, 4)), 7, name="out"), path)
    with pytest.raises(ValueError, match=rf"{path}: the parameters do not fit"):
        load_params(DenseLayer(InputLayer((None, 4)), 3, name="out"), path)


@pytest.fixture
def umask_027():
    previous = os.umask(0o027)
    yield
    os.umask(previous)


def test_new_files_respect_the_umask_like_numpy_save(tmp_path, umask_027):
    save_params(small_net(), tmp_path / "net.npz")
    np.save(tmp_path / "reference.npy", np.zeros(1))
    mode = stat.S_IMODE(os.stat(tmp_path / "net.npz").st_mode)
    assert mode == stat.S_IMODE(os.stat(tmp_path / "reference.npy").st_mode) == 0o640


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    path = tmp_path / "net.npz"
    save_params(small_net(), path)
    os.chmod(path, 0o604)
    save_params(small_net(), path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o604


def killed_save(path):
    """A process that dies while saving ``path``: it leaves its temporary file."""
    code = ("import os, sys; from convnet.checkpoint import _create_temporary; "
            "handle, name = _create_temporary(sys.argv[1]); os.write(handle, b'half a checkpoint'); os._exit(1)")
    subprocess.run([sys.executable, "-c", code, os.fspath(path)], cwd=ROOT, check=False)


def test_the_next_save_removes_the_temporaries_of_killed_saves(tmp_path):
    path = tmp_path / "net.npz"
    killed_save(path)
    (tmp_path / ".net.npz.x7k2p9q1.tmp").write_bytes(b"from an older convnet (mkstemp)")
    running = tmp_path / f".net.npz.{os.getppid()}-0123abcd.tmp"  # a save in progress elsewhere
    running.write_bytes(b"")
    other = tmp_path / ".other.npz.1-0123abcd.tmp"  # another checkpoint's
    other.write_bytes(b"")
    assert len(list(tmp_path.glob(".net.npz.*.tmp"))) == 3
    save_params(small_net(), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["net.npz", running.name, other.name])
    read_npz(path)
