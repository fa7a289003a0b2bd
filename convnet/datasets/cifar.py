"""CIFAR-10 and CIFAR-100 as train / validation / test arrays.

The data sets of A. Krizhevsky (2009), *Learning Multiple Layers of Features
from Tiny Images*: 60,000 colour images of 32x32 pixels, 50,000 to train and
10,000 to test, in 10 classes (CIFAR-10) or 100 fine classes grouped in 20
coarse ones (CIFAR-100).

The loaders read the *binary* archives, ``cifar-10-binary.tar.gz`` and
``cifar-100-binary.tar.gz`` (fixed-size records: label bytes then 3,072
pixel bytes, the red, green and blue planes in row order), straight from the
``.tar.gz``: nothing is unpickled and nothing is extracted. The archives are
looked for in ``data_dir``, ``$CONVNET_DATA/<name>`` and the user cache
directory, and downloaded when absent through
:func:`~convnet.datasets.download_file`, which verifies their SHA-256 digests
and moves them into place atomically.

No sample of CIFAR is bundled with convnet: the data set is published
without a licence, so convnet does not redistribute any of its images. When
the archive can be neither found nor downloaded the loaders raise (see
:func:`load_cifar10`).

Examples
--------
>>> from convnet.datasets import load_cifar10
>>> data = load_cifar10()  # doctest: +SKIP
>>> data.X_train.shape, data.class_names[:3]  # doctest: +SKIP
((40000, 3, 32, 32), ('airplane', 'automobile', 'bird'))
"""
import tarfile

import numpy as np

from .download import download_file
from .errors import DataFileError
from .mnist import DATA_ENV_VAR, DatasetSplits, _candidate_dirs, _make_splits

__all__ = ["load_cifar10", "load_cifar100", "CIFAR10_ARCHIVE", "CIFAR100_ARCHIVE", "CIFAR_MIRRORS"]

#: The CIFAR-10 binary archive: file name and SHA-256 digest.
CIFAR10_ARCHIVE = ("cifar-10-binary.tar.gz", "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd")
#: The CIFAR-100 binary archive: file name and SHA-256 digest.
CIFAR100_ARCHIVE = ("cifar-100-binary.tar.gz", "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec")
#: Where the archives are downloaded from, tried in order.
CIFAR_MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)

_IMAGE_BYTES = 3 * 32 * 32
_CIFAR10_MEMBERS = {"train": [f"cifar-10-batches-bin/data_batch_{i}.bin" for i in range(1, 6)],
                    "test": ["cifar-10-batches-bin/test_batch.bin"],
                    "names": "cifar-10-batches-bin/batches.meta.txt"}
_CIFAR100_MEMBERS = {"train": ["cifar-100-binary/train.bin"], "test": ["cifar-100-binary/test.bin"],
                     "names": {"fine": "cifar-100-binary/fine_label_names.txt",
                               "coarse": "cifar-100-binary/coarse_label_names.txt"}}


def load_cifar10(data_dir=None, *, n_validation=10_000, download=True, mirrors=None, checksum=None,
                 timeout=None, progress=True):
    """Load CIFAR-10 as float32 RGB images in [0, 1] and int32 labels, split three ways.

    ``cifar-10-binary.tar.gz`` is looked for in ``data_dir``, then
    ``$CONVNET_DATA/cifar-10``, then :func:`~convnet.datasets.cache_dir`
    (``~/.cache/convnet/cifar-10``), and downloaded when in none of them --
    into ``data_dir`` when given, else into the cache directory. The
    validation set is the last ``n_validation`` training images.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        A directory to look for the archive in first, and to download it into.
    n_validation : int, optional
        How many of the 50,000 training images to hold out (default 10,000,
        the last of the five training batches).
    download : bool, optional
        Download the archive when it is not found (default True).
    mirrors : sequence of str, optional
        Base URLs to download from, in order; default :data:`CIFAR_MIRRORS`.
    checksum : str, optional
        The archive's expected SHA-256 digest; default that of the published archive.
    timeout : float, optional
        Seconds to wait for a mirror before trying the next.
    progress : bool, optional
        Show a download progress bar (default True).

    Returns
    -------
    DatasetSplits
        Images of shape ``(N, 3, 32, 32)`` (RGB), ``class_names`` the ten
        class names.

    Raises
    ------
    DataFileError
        If the archive found is corrupt or truncated, or lacks a member;
        the message names the archive (and the member).
    OSError
        :class:`~convnet.datasets.errors.DownloadError` when every mirror
        failed (a :class:`~convnet.datasets.errors.ChecksumError` among its
        failures for a wrong digest), :class:`FileNotFoundError` when the
        archive is missing and ``download`` is False.

    Examples
    --------
    >>> X_train, y_train, X_val, y_val, X_test, y_test = load_cifar10()  # doctest: +SKIP
    """
    archive = _find_archive("cifar-10", CIFAR10_ARCHIVE[0], data_dir, download, mirrors,
                            checksum or CIFAR10_ARCHIVE[1], timeout, progress)
    return _load("cifar-10", archive, _CIFAR10_MEMBERS["train"], _CIFAR10_MEMBERS["test"],
                  _CIFAR10_MEMBERS["names"], label_bytes=1, label_index=0, n_validation=n_validation)


def load_cifar100(data_dir=None, *, label_mode="fine", n_validation=10_000, download=True, mirrors=None,
                  checksum=None, timeout=None, progress=True):
    """Load CIFAR-100 as float32 RGB images in [0, 1] and int32 labels, split three ways.

    As :func:`load_cifar10`, with ``cifar-100-binary.tar.gz`` (looked for
    under ``cifar-100``).

    Parameters
    ----------
    label_mode : {"fine", "coarse"}, optional
        The 100 fine classes or the 20 coarse ones.
    data_dir, n_validation, download, mirrors, checksum, timeout, progress
        As for :func:`load_cifar10`.

    Returns
    -------
    DatasetSplits

    Raises
    ------
    ValueError
        For another ``label_mode``.
    DataFileError, OSError
        As for :func:`load_cifar10`.

    Examples
    --------
    >>> data = load_cifar100(label_mode="coarse")  # doctest: +SKIP
    >>> len(data.class_names)  # doctest: +SKIP
    20
    """
    if label_mode not in ("fine", "coarse"):
        raise ValueError(f"label_mode must be 'fine' or 'coarse', got {label_mode!r}")
    archive = _find_archive("cifar-100", CIFAR100_ARCHIVE[0], data_dir, download, mirrors,
                            checksum or CIFAR100_ARCHIVE[1], timeout, progress)
    return _load("cifar-100", archive, _CIFAR100_MEMBERS["train"], _CIFAR100_MEMBERS["test"],
                 _CIFAR100_MEMBERS["names"][label_mode], label_bytes=2,
                 label_index=1 if label_mode == "fine" else 0, n_validation=n_validation)


def _find_archive(name, filename, data_dir, download, mirrors, checksum, timeout, progress):
    candidates = _candidate_dirs(name, data_dir, search_env_root=False)
    for directory in candidates:
        if (directory / filename).is_file():
            return directory / filename
    if not download:
        searched = ", ".join(str(d) for d in candidates)
        raise FileNotFoundError(f"{filename} is not in any of {searched} (${DATA_ENV_VAR}/{name} is searched "
                                "too when set), and download=False")
    directory = candidates[0] if data_dir is not None else candidates[-1]
    return download_file(filename, directory, CIFAR_MIRRORS if mirrors is None else mirrors, checksum,
                         timeout=timeout, progress=progress)


def _load(name, archive, train_members, test_members, names_member, *, label_bytes, label_index, n_validation):
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = {member.name.removeprefix("./"): member for member in tar.getmembers()}

            def read(member_name):
                member = members.get(member_name)
                if member is None or not member.isfile():
                    raise DataFileError(f"{archive}: the archive has no file {member_name}; is it the "
                                        f"{name} binary version?")
                return tar.extractfile(member).read()

            train = [_records(read(m), m, archive, label_bytes) for m in train_members]
            test = [_records(read(m), m, archive, label_bytes) for m in test_members]
            class_names = tuple(line.strip() for line in read(names_member).decode().splitlines() if line.strip())
    except (tarfile.TarError, EOFError, OSError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise DataFileError(f"{archive} is not a readable .tar.gz archive ({error})") from error
    train_images = np.concatenate([images for images, _ in train])
    train_labels = np.concatenate([labels[:, label_index] for _, labels in train])
    test_images = np.concatenate([images for images, _ in test])
    test_labels = np.concatenate([labels[:, label_index] for _, labels in test])
    for labels in (train_labels, test_labels):
        if labels.max() >= len(class_names):
            raise DataFileError(f"{archive}: label {labels.max()} found, but {names_member} names "
                                f"{len(class_names)} classes")
    return _make_splits(train_images, train_labels, test_images, test_labels, n_validation,
                        is_sample=False, source=archive, class_names=class_names)


def _records(data, member, archive, label_bytes):
    """``(images, labels)`` of one binary batch: uint8 ``(N, 3, 32, 32)`` and ``(N, label_bytes)``."""
    record = label_bytes + _IMAGE_BYTES
    if len(data) == 0 or len(data) % record:
        raise DataFileError(f"{archive}: {member} holds {len(data)} bytes, not a whole number of "
                            f"{record}-byte records")
    rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, record)
    return rows[:, label_bytes:].reshape(-1, 3, 32, 32), rows[:, :label_bytes]
