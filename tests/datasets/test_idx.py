"""The idx reader and writer: dtypes, dimensions, gzip, and clear errors for bad files."""
import gzip
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from convnet.datasets import IdxFormatError, load_idx, save_idx

IDX_DTYPES = ["uint8", "int8", "int16", "int32", "float32", "float64"]


def idx_bytes(type_code, shape, payload):
    """An idx file's bytes, written by hand from its parts."""
    return struct.pack(f">HBB{len(shape)}I", 0, type_code, len(shape), *shape) + payload


@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("dtype", IDX_DTYPES)
@pytest.mark.parametrize("shape", [(), (5,), (2, 3), (2, 1, 3, 4)])
def test_save_load_round_trip(tmp_path, dtype, shape, compressed):
    array = (np.arange(int(np.prod(shape))) - 3).astype(dtype).reshape(shape)
    path = tmp_path / ("array-idx" + (".gz" if compressed else ""))
    save_idx(path, array)
    loaded = load_idx(path)
    assert loaded.dtype == np.dtype(dtype) and loaded.dtype.isnative
    assert loaded.shape == shape
    np.testing.assert_array_equal(loaded, array)
    assert loaded.flags.writeable


@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "gz"])
def test_reads_hand_written_big_endian_files(tmp_path, compressed):
    files = {
        "int16": (idx_bytes(0x0B, (2, 3), struct.pack(">6h", -3, -2, -1, 0, 1, 300)),
                  np.array([[-3, -2, -1], [0, 1, 300]], dtype=np.int16)),
        "float64": (idx_bytes(0x0E, (2,), struct.pack(">2d", 0.5, -1e300)), np.array([0.5, -1e300])),
        "uint8": (idx_bytes(0x08, (1, 2, 2), bytes([0, 127, 128, 255])),
                  np.array([[[0, 127], [128, 255]]], dtype=np.uint8)),
    }
    for name, (data, expected) in files.items():
        path = tmp_path / name
        path.write_bytes(gzip.compress(data) if compressed else data)
        loaded = load_idx(path)
        assert loaded.dtype == expected.dtype
        np.testing.assert_array_equal(loaded, expected)


def test_gzip_is_recognised_by_content_not_name(tmp_path):
    array = np.arange(6, dtype=np.int32).reshape(2, 3)
    save_idx(tmp_path / "a.gz", array)
    save_idx(tmp_path / "b", array)
    (tmp_path / "a.gz").rename(tmp_path / "compressed-without-suffix")
    (tmp_path / "b").rename(tmp_path / "raw-with-suffix.gz")
    np.testing.assert_array_equal(load_idx(tmp_path / "compressed-without-suffix"), array)
    np.testing.assert_array_equal(load_idx(tmp_path / "raw-with-suffix.gz"), array)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x00\x00", "too short"),
        (b"PK\x03\x04" + bytes(20), "bad magic number 0x504B0304"),
        (idx_bytes(0x0A, (2,), bytes(2)), "bad magic number 0x00000A01"),
        (b"\x01" + idx_bytes(0x08, (2,), bytes(2))[1:], "bad magic number"),
        (idx_bytes(0x08, (2, 3), b"")[:8], "truncated header"),
        (idx_bytes(0x08, (2, 3), bytes(5)), "truncated: the header declares a uint8 array of shape (2, 3)"),
        (idx_bytes(0x0C, (2,), bytes(7)), "truncated"),
        (idx_bytes(0x08, (2, 3), bytes(7)), "longer than its header says"),
    ],
    ids=["short", "zip-file", "unknown-type", "nonzero-prefix", "header", "data", "partial-int32", "trailing"],
)
def test_invalid_files_raise_naming_the_file(tmp_path, data, message):
    path = tmp_path / "broken-idx1-ubyte"
    path.write_bytes(data)
    with pytest.raises(IdxFormatError, match="broken-idx1-ubyte") as error:
        load_idx(path)
    assert message in str(error.value)
    assert isinstance(error.value, ValueError)


def test_truncated_and_corrupt_gzip_raise_naming_the_file(tmp_path):
    save_idx(tmp_path / "good.gz", np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8))
    compressed = (tmp_path / "good.gz").read_bytes()
    (tmp_path / "truncated.gz").write_bytes(compressed[: len(compressed) // 2])
    corrupt = bytearray(compressed)
    corrupt[len(corrupt) // 2] ^= 0xFF
    (tmp_path / "corrupt.gz").write_bytes(bytes(corrupt))
    for name in ("truncated.gz", "corrupt.gz"):
        with pytest.raises(IdxFormatError, match=f"{name}: corrupt or truncated gzip data"):
            load_idx(tmp_path / name)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_idx(tmp_path / "absent.gz")


@pytest.mark.parametrize("dtype", ["uint16", "bool", "complex64", "int64"])
def test_save_idx_rejects_types_idx_cannot_hold(tmp_path, dtype):
    with pytest.raises(TypeError, match="idx files cannot store"):
        save_idx(tmp_path / "x", np.zeros(3, dtype=dtype))


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(st.sampled_from(IDX_DTYPES).map(np.dtype), hnp.array_shapes(min_dims=0, max_dims=4, max_side=5)))
def test_round_trip_property(array):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "array-idx"
        save_idx(path, array)
        np.testing.assert_array_equal(load_idx(path), array)
