"""Data sets for examples and tests: MNIST (with a bundled offline sample),
Fashion-MNIST, a reader for the idx file format they share, CIFAR-10 and
CIFAR-100, and a streaming loader for folders of images (one sub-folder per
class).

:func:`load_mnist` returns MNIST split into training (50,000), validation
(10,000) and test (10,000) images, as ``float32`` arrays of shape
``(N, 1, 28, 28)`` scaled to [0, 1], with ``int32`` labels. It looks for the
files in ``data_dir``, ``$CONVNET_DATA`` and ``~/.cache/convnet/mnist``,
downloads them when absent, and falls back to a class-balanced sample of
6,000 real MNIST images shipped with convnet when there is no network.

Examples
--------
>>> from convnet.datasets import load_mnist
>>> data = load_mnist(sample=True)
>>> X_train, y_train, X_val, y_val, X_test, y_test = data
>>> data.is_sample, X_train.shape, X_val.shape, X_test.shape
(True, (4000, 1, 28, 28), (1000, 1, 28, 28), (1000, 1, 28, 28))
"""
from .cifar import load_cifar10, load_cifar100
from .download import download_file, file_sha256
from .folder import ImageFolder
from .errors import ChecksumError, DataFileError, DownloadError, IdxFormatError, SampleDataWarning
from .idx import load_idx, save_idx
from .mnist import DatasetSplits, IdxFiles, cache_dir, load_fashion_mnist, load_idx_dataset, load_mnist

__all__ = [
    "load_mnist",
    "load_fashion_mnist",
    "load_idx_dataset",
    "load_cifar10",
    "load_cifar100",
    "ImageFolder",
    "DatasetSplits",
    "IdxFiles",
    "cache_dir",
    "load_idx",
    "save_idx",
    "download_file",
    "file_sha256",
    "DataFileError",
    "IdxFormatError",
    "ChecksumError",
    "DownloadError",
    "SampleDataWarning",
]
