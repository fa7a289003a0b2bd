"""Download files from a list of mirrors, checking their SHA-256 digests.

A file is streamed into a temporary file next to its destination (named
``.<filename>.<random>.part``) while its digest is computed, and only moved
to its final name, atomically with :func:`os.replace`, once the digest
matches. A broken connection, a timeout or a wrong digest deletes the
temporary file and moves on to the next mirror, so a partial or corrupt
download is never left under the final name.

Only the standard library (:mod:`urllib`) and :mod:`tqdm` are used.

Examples
--------
>>> from convnet.datasets.download import download_file
>>> download_file(
...     "t10k-labels-idx1-ubyte.gz", "~/data/mnist",
...     mirrors=["https://ossci-datasets.s3.amazonaws.com/mnist/"],
...     sha256="f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
... )  # doctest: +SKIP
PosixPath('/home/me/data/mnist/t10k-labels-idx1-ubyte.gz')
"""
import hashlib
import http.client
import logging
import os
import tempfile
import urllib.request
from pathlib import Path

from tqdm import tqdm

from .errors import ChecksumError, DownloadError

__all__ = ["download_file", "file_sha256", "DEFAULT_TIMEOUT"]

#: Seconds to wait for a mirror to connect or send more data before trying the next one.
DEFAULT_TIMEOUT = 10.0

_CHUNK_SIZE = 1 << 16
_USER_AGENT = "convnet-datasets (Python urllib)"

logger = logging.getLogger(__name__)


def download_file(filename, dest_dir, mirrors, sha256, *, timeout=None, progress=True):
    """Download ``filename`` into ``dest_dir`` from the first mirror that serves it intact.

    The mirrors are tried in order; the URL tried is the mirror's URL, a
    ``/`` and ``filename``. A mirror fails when it cannot be reached, answers
    with an HTTP error, stalls for more than ``timeout`` seconds, sends fewer
    bytes than it announced, or sends data whose SHA-256 digest is not
    ``sha256``; the next one is then tried (and a warning logged).

    Parameters
    ----------
    filename : str
        The file's name, both on the mirrors and in ``dest_dir``.
    dest_dir : str or os.PathLike
        The directory to put the file in (created if needed; ``~`` expanded).
    mirrors : sequence of str
        Base URLs (``https://``, ``http://`` or ``file://``), tried in order.
    sha256 : str
        The expected SHA-256 digest of the file, in hexadecimal. A digest
        written ``"md5:<hex>"`` is an MD5 digest instead, for files whose
        publishers give only that (Lasagne's model-zoo pickles).
    timeout : float, optional
        Seconds to wait for a connection or for more data; default
        :data:`DEFAULT_TIMEOUT`.
    progress : bool, optional
        Show a :mod:`tqdm` progress bar on standard error (default True).

    Returns
    -------
    pathlib.Path
        The downloaded file, ``dest_dir / filename``.

    Raises
    ------
    DownloadError
        If every mirror failed; the message lists each URL with its failure,
        and its ``failures`` attribute holds them as ``(url, exception)``
        pairs. Nothing new is left under the final name and no temporary
        file remains.

    Examples
    --------
    >>> path = download_file("t10k-labels-idx1-ubyte.gz", "/tmp/mnist",
    ...                      ["https://ossci-datasets.s3.amazonaws.com/mnist/"],
    ...                      "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6")  # doctest: +SKIP
    """
    if timeout is None:
        timeout = DEFAULT_TIMEOUT
    target = Path(dest_dir).expanduser() / filename
    target.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for mirror in mirrors:
        url = f"{mirror.rstrip('/')}/{filename}"
        try:
            _download_verified(url, target, sha256.lower(), timeout, progress)
        except (OSError, http.client.HTTPException, ChecksumError) as error:
            failures.append((url, error))
            logger.warning("could not download %s (%s); trying the next mirror", url, error)
        else:
            return target
    tried = "\n  ".join(f"{url}: {error}" for url, error in failures) or "(no mirrors given)"
    raise DownloadError(f"could not download {filename} from any mirror:\n  {tried}", failures)


def _download_verified(url, target, sha256, timeout, progress):
    """Stream ``url`` to a temporary file and move it to ``target`` if its digest is ``sha256``."""
    algorithm, _, expected = sha256.rpartition(":")
    algorithm = algorithm or "sha256"
    if algorithm not in ("sha256", "md5"):
        raise ValueError(f"unknown digest algorithm {algorithm!r} in {sha256!r}: sha256 or md5")
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    temp_path = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as response:
            length_header = response.headers.get("Content-Length")
            announced = int(length_header) if length_header is not None else None
            digest = hashlib.new(algorithm)
            received = 0
            with tqdm(total=announced, desc=target.name, unit="B", unit_scale=True, unit_divisor=1024,
                      disable=not progress) as bar:
                while chunk := response.read(_CHUNK_SIZE):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            if announced is not None and received != announced:
                raise ConnectionError(f"connection closed after {received} of {announced} bytes")
            if digest.hexdigest() != expected:
                raise ChecksumError(
                    f"{'SHA-256' if algorithm == 'sha256' else 'MD5'} digest {digest.hexdigest()} is not the "
                    f"expected {expected}; "
                    "the download is corrupt or the mirror serves a different file"
                )
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp_path, 0o644)  # mkstemp made it private
        os.replace(temp_path, target)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise


def file_sha256(path, algorithm="sha256"):
    """The SHA-256 digest of a file, in hexadecimal.

    Parameters
    ----------
    path : str or os.PathLike
        The file to hash.
    algorithm : {"sha256", "md5"}, optional
        Another digest of the file, MD5.

    Returns
    -------
    str
        64 lowercase hexadecimal digits (32 for MD5).

    Examples
    --------
    >>> file_sha256("train-labels-idx1-ubyte.gz")  # doctest: +SKIP
    '3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c'
    """
    digest = hashlib.new(algorithm)
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()
