"""convnet.checkpoint's safetensors files: checked against the reference
``safetensors`` package when it is installed, and for malformed files."""
import json
import struct

import numpy as np
import pytest

from convnet.checkpoint import load_params, read_safetensors, save_params, write_safetensors
from convnet.layers import DenseLayer, InputLayer, get_all_param_values

ARRAYS = {
    "conv.W": np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2),
    "b": np.array([1.5, -2.0], dtype=np.float64),
    "counts": np.array([[1, 2], [3, 4]], dtype=np.int64),
    "mask": np.array([True, False]),
    "scalar": np.array(3, dtype=np.int32),
    "empty": np.zeros((0, 3), dtype=np.float16),
}


def test_round_trip_keeps_values_dtypes_and_metadata(tmp_path):
    path = tmp_path / "a.safetensors"
    write_safetensors(path, ARRAYS, {"framework": "convnet"})
    arrays, metadata = read_safetensors(path, with_metadata=True)
    assert metadata == {"framework": "convnet"}
    assert set(arrays) == set(ARRAYS)
    for key, value in ARRAYS.items():
        assert arrays[key].dtype == value.dtype and arrays[key].shape == value.shape
        np.testing.assert_array_equal(arrays[key], value)
    (size,) = struct.unpack("<Q", path.read_bytes()[:8])
    assert size % 8 == 0  # the data is 8-byte aligned


def test_the_reference_package_reads_what_we_write_and_we_read_what_it_writes(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    ours = tmp_path / "ours.safetensors"
    write_safetensors(ours, ARRAYS)
    loaded = safetensors_numpy.load_file(str(ours))
    for key, value in ARRAYS.items():
        np.testing.assert_array_equal(loaded[key], value)
        assert loaded[key].dtype == value.dtype
    theirs = tmp_path / "theirs.safetensors"
    safetensors_numpy.save_file(ARRAYS, str(theirs), metadata={"k": "v"})
    arrays, metadata = read_safetensors(theirs, with_metadata=True)
    assert metadata == {"k": "v"}
    for key, value in ARRAYS.items():
        np.testing.assert_array_equal(arrays[key], value)


def test_network_parameters_travel_through_safetensors(tmp_path):
    path = tmp_path / "net.safetensors"
    source = DenseLayer(InputLayer((None, 4)), 3, name="out")
    save_params(source, path)
    assert sorted(read_safetensors(path)) == ["out.W", "out.b"]
    target = DenseLayer(InputLayer((None, 4)), 3, name="out")
    load_params(target, path)
    for a, b in zip(get_all_param_values(source), get_all_param_values(target)):
        np.testing.assert_array_equal(a, b)


def malformed(tmp_path, header, data=b""):
    text = json.dumps(header).encode()
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


@pytest.mark.parametrize("header, data, match", [
    ({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4, "does not follow"),
    ({"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8, "fit its shape"),
    ({"x": {"dtype": "X9", "shape": [1], "data_offsets": [0, 1]}}, b"\0", "malformed header"),
    ({"x": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}, b"\0\0", "bytes after the last tensor"),
])
def test_malformed_files_are_refused(tmp_path, header, data, match):
    with pytest.raises(ValueError, match=match):
        read_safetensors(malformed(tmp_path, header, data))


def test_truncated_and_non_json_headers(tmp_path):
    path = tmp_path / "t.safetensors"
    path.write_bytes(struct.pack("<Q", 100) + b"{}")
    with pytest.raises(ValueError, match="header claims 100 bytes"):
        read_safetensors(path)
    path.write_bytes(struct.pack("<Q", 2) + b"\xff\xfe")
    with pytest.raises(ValueError, match="not JSON"):
        read_safetensors(path)


def test_unsupported_dtype_writes_nothing(tmp_path):
    path = tmp_path / "c.safetensors"
    with pytest.raises(ValueError, match="cannot store 'z' of dtype complex64"):
        write_safetensors(path, {"z": np.zeros(2, np.complex64)})
    assert list(tmp_path.iterdir()) == []
