"""Read and write the idx file format of the MNIST database.

An idx file is a 4-byte magic number -- two zero bytes, a type code and the
number of dimensions -- followed by one big-endian ``uint32`` per dimension
and the array's elements in C order, big-endian. The type codes are

====  ===========  ====  ===========
code  dtype        code  dtype
====  ===========  ====  ===========
0x08  ``uint8``    0x0C  ``int32``
0x09  ``int8``     0x0D  ``float32``
0x0B  ``int16``    0x0E  ``float64``
====  ===========  ====  ===========

MNIST, Fashion-MNIST, EMNIST and KMNIST are all distributed as gzipped idx
files; :func:`load_idx` reads gzipped and raw files alike.

Examples
--------
>>> import numpy as np, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "digits-idx3-ubyte.gz")
>>> save_idx(path, np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
>>> load_idx(path).shape
(2, 3, 4)
"""
import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from .errors import IdxFormatError

__all__ = ["load_idx", "save_idx", "IDX_DTYPES"]

#: The element type of each idx type code (as stored: big-endian).
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


def load_idx(path):
    """Read an idx file, gzipped or not, into a NumPy array.

    Whether the file is gzipped is decided by its first two bytes, not by its
    name.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.

    Returns
    -------
    numpy.ndarray
        A new, writable array in native byte order with the dtype and the
        shape given by the file's header.

    Raises
    ------
    IdxFormatError
        If the gzip data is corrupt or truncated, the magic number is not one
        of an idx file, or the amount of data does not match the header. The
        message names the file.
    FileNotFoundError
        If there is no such file.

    Examples
    --------
    >>> images = load_idx("train-images-idx3-ubyte.gz")  # doctest: +SKIP
    >>> images.shape, images.dtype  # doctest: +SKIP
    ((60000, 28, 28), dtype('uint8'))
    """
    path = Path(path)
    data = path.read_bytes()
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise IdxFormatError(f"{path}: corrupt or truncated gzip data ({error})") from error
    return _parse_idx(data, path)


def _parse_idx(data, path):
    """The array stored in the uncompressed idx bytes ``data`` read from ``path``."""
    if len(data) < 4:
        raise IdxFormatError(f"{path}: only {len(data)} bytes, too short for an idx file")
    zeros, type_code, ndim = struct.unpack(">HBB", data[:4])
    if zeros != 0 or type_code not in IDX_DTYPES:
        codes = ", ".join(f"0x{code:02X}" for code in IDX_DTYPES)
        raise IdxFormatError(
            f"{path}: bad magic number 0x{data[:4].hex().upper()}; an idx file starts with two zero "
            f"bytes, a type code ({codes}) and the number of dimensions"
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise IdxFormatError(
            f"{path}: truncated header: {ndim} dimensions need {header_size} bytes but the file has {len(data)}"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header_size])
    dtype = IDX_DTYPES[type_code]
    count = math.prod(shape)
    expected_size = count * dtype.itemsize
    actual_size = len(data) - header_size
    if actual_size != expected_size:
        problem = "truncated" if actual_size < expected_size else "longer than its header says"
        raise IdxFormatError(
            f"{path}: {problem}: the header declares a {dtype.name} array of shape {shape} "
            f"({expected_size} bytes) but {actual_size} bytes follow the header"
        )
    array = np.frombuffer(data, dtype=dtype, count=count, offset=header_size)
    return array.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def save_idx(path, array):
    """Write ``array`` as an idx file, gzipped when ``path`` ends with ``.gz``.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (replaced if it exists).
    array : array_like
        An array whose dtype is one of those of :data:`IDX_DTYPES` (``uint8``,
        ``int8``, ``int16``, ``int32``, ``float32`` or ``float64``), with at
        most 255 dimensions each shorter than 2**32.

    Raises
    ------
    TypeError
        If the dtype has no idx type code.
    ValueError
        If the shape cannot be stored in an idx header.

    Examples
    --------
    >>> save_idx("labels-idx1-ubyte", np.array([3, 1, 4], dtype=np.uint8))  # doctest: +SKIP
    """
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise TypeError(f"idx files cannot store {array.dtype}; use one of {sorted(d.name for d in codes)}")
    if array.ndim > 255 or any(n >= 2**32 for n in array.shape):
        raise ValueError(f"an idx header cannot store the shape {array.shape}")
    header = struct.pack(f">HBB{array.ndim}I", 0, codes[native], array.ndim, *array.shape)
    data = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[codes[native]]).tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
