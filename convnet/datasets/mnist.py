"""MNIST and Fashion-MNIST as train / validation / test arrays, ready for a convnet.

:func:`load_mnist` finds the four MNIST files in a directory you name, in
``$CONVNET_DATA`` or in the user cache directory; downloads them (checking
their SHA-256 digests) when they are in none of these; and, when they cannot
be had, falls back to a sample of 6,000 real MNIST images bundled with
convnet, so that examples and tests also run offline.

The mirrors, digests and file names are module constants that can be
replaced (or passed as arguments), e.g. to use a local mirror.

Examples
--------
>>> from convnet.datasets import load_mnist
>>> X_train, y_train, X_val, y_val, X_test, y_test = load_mnist(sample=True)
>>> X_train.shape, X_train.dtype, y_train.dtype
((4000, 1, 28, 28), dtype('float32'), dtype('int32'))
"""
import importlib.resources
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .download import download_file
from .errors import DataFileError, SampleDataWarning
from .idx import load_idx

__all__ = [
    "load_mnist",
    "load_fashion_mnist",
    "load_idx_dataset",
    "DatasetSplits",
    "IdxFiles",
    "cache_dir",
    "MNIST_FILES",
    "MNIST_SHA256",
    "MNIST_MIRRORS",
    "FASHION_MNIST_SHA256",
    "FASHION_MNIST_MIRRORS",
    "DATA_ENV_VAR",
]


class IdxFiles(NamedTuple):
    """The names of the four idx files of an MNIST-like data set."""

    train_images: str
    train_labels: str
    test_images: str
    test_labels: str


#: The file names of MNIST, which Fashion-MNIST shares.
MNIST_FILES = IdxFiles(
    train_images="train-images-idx3-ubyte.gz",
    train_labels="train-labels-idx1-ubyte.gz",
    test_images="t10k-images-idx3-ubyte.gz",
    test_labels="t10k-labels-idx1-ubyte.gz",
)

#: SHA-256 digests of the MNIST files, by file name.
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

#: Where MNIST is downloaded from, tried in order.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

#: SHA-256 digests of the Fashion-MNIST files, by file name.
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
    "train-labels-idx1-ubyte.gz": "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
    "t10k-images-idx3-ubyte.gz": "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
    "t10k-labels-idx1-ubyte.gz": "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
}

#: Where Fashion-MNIST is downloaded from, tried in order.
FASHION_MNIST_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)

#: The environment variable naming a directory with data sets.
DATA_ENV_VAR = "CONVNET_DATA"

_SAMPLE_RESOURCE = "data/mnist_sample.npz"
_FULL_MNIST_VALIDATION = 10_000
_SAMPLE_VALIDATION = 1_000
_sample_warning_issued = False


@dataclass(frozen=True, eq=False, repr=False)
class DatasetSplits:
    """Training, validation and test arrays of an image classification data set.

    Unpacks like the 6-tuple ``(X_train, y_train, X_val, y_val, X_test,
    y_test)`` of the Lasagne MNIST tutorial's ``load_dataset()``. Images are
    ``float32`` arrays of shape ``(N, 1, rows, cols)`` scaled to [0, 1];
    labels are ``int32`` vectors.

    Attributes
    ----------
    X_train, y_train : numpy.ndarray
        The images and labels to train on.
    X_val, y_val : numpy.ndarray
        The validation images and labels (the end of the original training set).
    X_test, y_test : numpy.ndarray
        The test images and labels.
    is_sample : bool
        True for the small sample of MNIST bundled with convnet.
    source : pathlib.Path
        The directory the files were read from, the bundled sample file, or
        the archive (CIFAR).
    class_names : tuple of str or None
        The name of each label, when the data set names them (CIFAR).

    Examples
    --------
    >>> data = load_mnist(sample=True)
    >>> data.is_sample, len(data.X_val)
    (True, 1000)
    >>> X_train, y_train, X_val, y_val, X_test, y_test = data
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    is_sample: bool
    source: Path
    class_names: tuple = None

    def __iter__(self):
        return iter((self.X_train, self.y_train, self.X_val, self.y_val, self.X_test, self.y_test))

    def __repr__(self):
        return (
            f"{type(self).__name__}(train={len(self.X_train)}, val={len(self.X_val)}, test={len(self.X_test)}, "
            f"image_shape={self.X_train.shape[1:]}, is_sample={self.is_sample}, source={str(self.source)!r})"
        )


def cache_dir(name="mnist"):
    """The user cache directory that data set ``name`` is downloaded into.

    ``$XDG_CACHE_HOME/convnet/<name>`` when ``$XDG_CACHE_HOME`` is an absolute
    path, else ``~/.cache/convnet/<name>``. It is not created here.

    Parameters
    ----------
    name : str, optional
        The data set's directory name, e.g. ``"mnist"`` or ``"fashion-mnist"``.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> cache_dir("mnist")  # doctest: +SKIP
    PosixPath('/home/me/.cache/convnet/mnist')
    """
    base = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return base / "convnet" / name


def load_mnist(data_dir=None, sample=False, *, n_validation=None, download=True, allow_sample=True,
               mirrors=None, checksums=None, timeout=None, progress=True):
    """Load MNIST as float32 images in [0, 1] and int32 labels, split three ways.

    The four files (``train-images-idx3-ubyte.gz``,
    ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``,
    ``t10k-labels-idx1-ubyte.gz``; gunzipped copies without the ``.gz`` do as
    well) are looked for in

    1. ``data_dir``, when given;
    2. ``$CONVNET_DATA/mnist``, then ``$CONVNET_DATA`` itself, when that
       environment variable is set;
    3. the user cache directory, :func:`cache_dir` (``~/.cache/convnet/mnist``).

    The first directory with all four wins. When none has them they are
    downloaded -- into ``data_dir`` when given, else into the cache directory
    -- from the first of ``mirrors`` that delivers each file with the right
    SHA-256 digest. When that fails too (no network), the bundled sample is
    returned instead, with a :class:`~convnet.datasets.errors.SampleDataWarning`
    (issued once per process).

    The validation set is the last ``n_validation`` images of the 60,000
    training images (default 10,000, leaving 50,000 to train on); the test set
    is the 10,000 test images.

    The bundled sample is 6,000 real MNIST images, class-balanced: 5,000 from
    the training set, of which the last 1,000 (100 per digit) form the
    validation set by default, leaving 4,000 (400 per digit) to train on; and
    1,000 from the test set (100 per digit).

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        A directory to look for the files in first, and to download them into.
    sample : bool, optional
        Return the bundled sample straight away, without looking for or
        downloading the full data set, and without a warning.
    n_validation : int, optional
        How many images from the end of the training set to hold out for
        validation: default 10,000 for the full set, 1,000 for the sample.
    download : bool, optional
        Download the files when they are not found (default True). With False,
        missing files mean the sample (or an error, see ``allow_sample``).
    allow_sample : bool, optional
        Fall back to the sample when the full data set cannot be had (default
        True). With False, that raises the error instead.
    mirrors : sequence of str, optional
        Base URLs to download from, in order; default :data:`MNIST_MIRRORS`.
    checksums : dict, optional
        The expected SHA-256 digest of each file, by file name; default
        :data:`MNIST_SHA256`.
    timeout : float, optional
        Seconds to wait for a mirror before trying the next; default
        :data:`convnet.datasets.download.DEFAULT_TIMEOUT`.
    progress : bool, optional
        Show download progress bars (default True).

    Returns
    -------
    DatasetSplits
        ``X_train, y_train, X_val, y_val, X_test, y_test`` (it unpacks as this
        6-tuple), images of shape ``(N, 1, 28, 28)``, plus ``is_sample`` and
        ``source``.

    Raises
    ------
    DataFileError
        If a file that was found is corrupt, truncated or not an idx file, or
        the image and label files disagree; the message names the file(s).
    OSError
        If the full data set cannot be had and ``allow_sample`` is False:
        :class:`~convnet.datasets.errors.DownloadError` when every mirror
        failed, :class:`FileNotFoundError` when ``download`` is False.

    Examples
    --------
    >>> X_train, y_train, X_val, y_val, X_test, y_test = load_mnist()  # doctest: +SKIP
    >>> X_train.shape, X_val.shape, X_test.shape  # doctest: +SKIP
    ((50000, 1, 28, 28), (10000, 1, 28, 28), (10000, 1, 28, 28))
    >>> load_mnist(sample=True).X_test.shape
    (1000, 1, 28, 28)
    """
    if sample:
        return _load_sample(n_validation)
    try:
        return _load_splits(
            "mnist",
            MNIST_FILES,
            data_dir,
            search_env_root=True,
            n_validation=_FULL_MNIST_VALIDATION if n_validation is None else n_validation,
            download=download,
            mirrors=MNIST_MIRRORS if mirrors is None else mirrors,
            checksums=MNIST_SHA256 if checksums is None else checksums,
            timeout=timeout,
            progress=progress,
        )
    except OSError as error:
        if not allow_sample:
            raise
        _warn_sample_fallback(error)
        return _load_sample(n_validation)


def load_fashion_mnist(data_dir=None, *, n_validation=10_000, download=True, mirrors=None, checksums=None,
                       timeout=None, progress=True):
    """Load Fashion-MNIST as float32 images in [0, 1] and int32 labels, split three ways.

    Zalando's Fashion-MNIST has the same file names, sizes and format as
    MNIST. The files are looked for in ``data_dir``, then
    ``$CONVNET_DATA/fashion-mnist``, then :func:`cache_dir`
    (``~/.cache/convnet/fashion-mnist``), and downloaded when absent, as by
    :func:`load_mnist`; there is no bundled sample to fall back to.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        A directory to look for the files in first, and to download them into.
    n_validation : int, optional
        How many images from the end of the 60,000 training images to hold out
        for validation (default 10,000).
    download : bool, optional
        Download the files when they are not found (default True).
    mirrors : sequence of str, optional
        Base URLs to download from, in order; default :data:`FASHION_MNIST_MIRRORS`.
    checksums : dict, optional
        The expected SHA-256 digest of each file, by file name; default
        :data:`FASHION_MNIST_SHA256`.
    timeout : float, optional
        Seconds to wait for a mirror before trying the next.
    progress : bool, optional
        Show download progress bars (default True).

    Returns
    -------
    DatasetSplits

    Raises
    ------
    DataFileError
        If a file is corrupt or the files disagree.
    OSError
        :class:`~convnet.datasets.errors.DownloadError` when every mirror
        failed, :class:`FileNotFoundError` when the files are missing and
        ``download`` is False.

    Examples
    --------
    >>> X_train, y_train, X_val, y_val, X_test, y_test = load_fashion_mnist()  # doctest: +SKIP
    """
    return _load_splits(
        "fashion-mnist",
        MNIST_FILES,
        data_dir,
        search_env_root=False,
        n_validation=n_validation,
        download=download,
        mirrors=FASHION_MNIST_MIRRORS if mirrors is None else mirrors,
        checksums=FASHION_MNIST_SHA256 if checksums is None else checksums,
        timeout=timeout,
        progress=progress,
    )


def load_idx_dataset(name, files, data_dir=None, *, n_validation=10_000, download=True, mirrors=(),
                     checksums=None, timeout=None, progress=True):
    """Load any MNIST-like data set stored as four idx files.

    The images must be ``uint8`` arrays of shape ``(N, rows, cols)`` and the
    labels integer vectors of the same length. The files are looked for in
    ``data_dir``, then ``$CONVNET_DATA/<name>``, then ``cache_dir(name)``,
    and downloaded from ``mirrors`` when absent.

    Parameters
    ----------
    name : str
        The data set's directory name under ``$CONVNET_DATA`` and the cache.
    files : IdxFiles
        The names of the training images, training labels, test images and
        test labels files.
    data_dir : str or os.PathLike, optional
        A directory to look for the files in first, and to download them into.
    n_validation : int, optional
        How many images from the end of the training set to hold out for
        validation (default 10,000).
    download : bool, optional
        Download the files when they are not found (default True).
    mirrors : sequence of str, optional
        Base URLs to download from, in order.
    checksums : dict, optional
        The expected SHA-256 digest of each file, by file name; needed to
        download a file.
    timeout : float, optional
        Seconds to wait for a mirror before trying the next.
    progress : bool, optional
        Show download progress bars (default True).

    Returns
    -------
    DatasetSplits

    Raises
    ------
    DataFileError
        If a file is corrupt or the files disagree.
    OSError
        :class:`~convnet.datasets.errors.DownloadError` when every mirror
        failed, :class:`FileNotFoundError` when the files are missing and
        ``download`` is False.
    ValueError
        If a file must be downloaded but ``checksums`` has no digest for it.

    Examples
    --------
    >>> kmnist = load_idx_dataset("kmnist", MNIST_FILES, "~/data/kmnist", download=False)  # doctest: +SKIP
    """
    return _load_splits(name, IdxFiles(*files), data_dir, search_env_root=False, n_validation=n_validation,
                        download=download, mirrors=mirrors, checksums=checksums or {}, timeout=timeout,
                        progress=progress)


def _load_splits(name, files, data_dir, *, search_env_root, n_validation, download, mirrors, checksums,
                 timeout, progress):
    """Find (or download) the four ``files`` of data set ``name`` and split them."""
    candidates = _candidate_dirs(name, data_dir, search_env_root)
    directory = next((d for d in candidates if all(_existing_file(d, f) for f in files)), None)
    if directory is None:
        directory = candidates[0] if data_dir is not None else candidates[-1]
        missing = [f for f in files if _existing_file(directory, f) is None]
        if not download:
            searched = ", ".join(str(d) for d in candidates)
            raise FileNotFoundError(f"the {name} files are not in any of {searched}, and download=False")
        unknown = [f for f in missing if f not in checksums]
        if unknown:
            raise ValueError(f"cannot download {', '.join(unknown)}: no SHA-256 digest given in checksums")
        for filename in missing:
            download_file(filename, directory, mirrors, checksums[filename], timeout=timeout, progress=progress)
    paths = IdxFiles(*(_existing_file(directory, f) for f in files))
    train_images, train_labels = _read_pair(paths.train_images, paths.train_labels)
    test_images, test_labels = _read_pair(paths.test_images, paths.test_labels)
    return _make_splits(train_images, train_labels, test_images, test_labels, n_validation,
                        is_sample=False, source=directory)


def _candidate_dirs(name, data_dir, search_env_root):
    """The directories to look for data set ``name`` in, in order."""
    candidates = [] if data_dir is None else [Path(data_dir).expanduser()]
    env_dir = os.environ.get(DATA_ENV_VAR)
    if env_dir:
        env_dir = Path(env_dir).expanduser()
        candidates += [env_dir / name, env_dir] if search_env_root else [env_dir / name]
    return candidates + [cache_dir(name)]


def _existing_file(directory, filename):
    """``directory / filename``, or its gunzipped copy, if it is a file; else None."""
    for path in (directory / filename, directory / filename.removesuffix(".gz")):
        if path.is_file():
            return path
    return None


def _read_pair(images_path, labels_path):
    """The images and labels in two idx files, checked to be an image set and its labels."""
    images = load_idx(images_path)
    labels = load_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataFileError(
            f"{images_path}: expected uint8 images of shape (N, rows, cols), found {images.dtype} "
            f"of shape {images.shape}"
        )
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataFileError(f"{labels_path}: expected a vector of integer labels, found {labels.dtype} "
                            f"of shape {labels.shape}")
    if len(images) != len(labels):
        raise DataFileError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels")
    return images, labels


def _make_splits(train_images, train_labels, test_images, test_labels, n_validation, *, is_sample, source,
                 class_names=None):
    """A :class:`DatasetSplits` from uint8 image arrays and integer label vectors."""
    if not 0 <= n_validation < len(train_images):
        raise ValueError(f"n_validation must be in [0, {len(train_images)}), the number of training images; "
                         f"got {n_validation}")
    X = _as_float_images(train_images)
    y = train_labels.astype(np.int32)
    n_train = len(X) - n_validation
    return DatasetSplits(X[:n_train], y[:n_train], X[n_train:], y[n_train:],
                         _as_float_images(test_images), test_labels.astype(np.int32),
                         is_sample=is_sample, source=source, class_names=class_names)


def _as_float_images(images):
    """uint8 images ``(N, rows, cols)`` (or ``(N, channels, rows, cols)``)
    as float32 ``(N, channels, rows, cols)`` in [0, 1]."""
    X = images.astype(np.float32)
    if X.ndim == 3:
        X = X[:, np.newaxis]
    X /= np.float32(255)
    return X


def _load_sample(n_validation):
    """The MNIST sample bundled with convnet, as :class:`DatasetSplits`."""
    resource = importlib.resources.files(__package__).joinpath(_SAMPLE_RESOURCE)
    with importlib.resources.as_file(resource) as path, np.load(path) as arrays:
        return _make_splits(arrays["train_images"], arrays["train_labels"], arrays["test_images"],
                            arrays["test_labels"], _SAMPLE_VALIDATION if n_validation is None else n_validation,
                            is_sample=True, source=path)


def _warn_sample_fallback(reason):
    """Warn, the first time in this process, that the sample replaces the full MNIST."""
    global _sample_warning_issued
    if _sample_warning_issued:
        return
    _sample_warning_issued = True
    warnings.warn(
        f"The full MNIST data set is not available ({reason}). load_mnist() returns the sample bundled "
        "with convnet instead: 5,000 training images (the last 1,000 of them for validation) and 1,000 "
        "test images, enough to run examples but not to reach full accuracy. To use all 70,000 images, "
        f"run load_mnist() once with network access (the files are saved in {cache_dir('mnist')}), or put "
        f"the four files {', '.join(MNIST_FILES)} in a directory and pass it as data_dir or set "
        f"${DATA_ENV_VAR} to it. Pass sample=True to use the sample without this warning.",
        SampleDataWarning,
        stacklevel=3,
    )
