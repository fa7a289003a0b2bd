"""Exceptions and warnings raised by :mod:`convnet.datasets`.

Every error about the content of a file names that file in its message.

Examples
--------
>>> from convnet.datasets import load_idx
>>> from convnet.datasets.errors import DataFileError
>>> try:
...     load_idx("not-an-idx-file.txt")
... except DataFileError as error:
...     print("unreadable:", error)
... except FileNotFoundError:
...     print("no such file")
no such file
"""

__all__ = ["DataFileError", "IdxFormatError", "ChecksumError", "DownloadError", "SampleDataWarning"]


class DataFileError(ValueError):
    """A data file is corrupt, truncated or inconsistent with its companions."""


class IdxFormatError(DataFileError):
    """A file is not a valid idx file: bad magic number, bad gzip data, or a
    size that does not match the dimensions in its header."""


class ChecksumError(DataFileError):
    """A downloaded file's SHA-256 digest is not the expected one."""


class DownloadError(OSError):
    """No mirror delivered a file.

    The message lists each URL tried with its failure; ``failures`` holds
    them as ``(url, exception)`` pairs, e.g. a :class:`ChecksumError` for a
    mirror that served a corrupt file.
    """

    def __init__(self, message, failures=()):
        super().__init__(message)
        self.failures = list(failures)


class SampleDataWarning(UserWarning):
    """:func:`~convnet.datasets.load_mnist` fell back to the bundled sample of MNIST."""
