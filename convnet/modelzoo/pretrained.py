"""Published pretrained weights: where they live, their checksums, and a
verified download into the cache.

:data:`PRETRAINED` lists the weight files convnet knows:

* ``"vgg16-lasagne"``, ``"vgg19-lasagne"``: the Lasagne Recipes model zoo's
  pickles, converted by Lasagne from the authors' Caffe models (their MD5
  digests, as the Recipes publish them; BGR images minus the mean pixel).
  Reading them unpickles, so :func:`load_pretrained` needs
  ``allow_pickle=True``.
* ``"vgg16-torchvision"``, ``"vgg19-torchvision"``: torchvision's ImageNet
  weights (SHA-256 digests; the first 8 digits are in the file names; RGB
  images normalized per channel). Reading them needs PyTorch.

The VGG weights are published for non-commercial use only (see
https://www.robots.ox.ac.uk/~vgg/research/very_deep/); convnet does not
redistribute them, it downloads them on request.

:func:`fetch_weights` downloads a file once into
:func:`~convnet.datasets.cache_dir` (``~/.cache/convnet/modelzoo``) through
:func:`~convnet.datasets.download_file` -- checked against its digest,
moved into place atomically -- and checks the cached copy again at every
call; :func:`load_pretrained` also loads it into a network.

Examples
--------
>>> from convnet.modelzoo import vgg16, load_pretrained
>>> net = vgg16()  # doctest: +SKIP
>>> load_pretrained(net, "vgg16-torchvision")  # doctest: +SKIP
Preprocessing(channel_order='RGB', ...)
"""
import logging
from pathlib import Path
from typing import NamedTuple

from ..datasets.download import download_file, file_sha256
from ..datasets.mnist import cache_dir
from .weights import load_weights

__all__ = ["PretrainedWeights", "PRETRAINED", "fetch_weights", "load_pretrained"]

logger = logging.getLogger(__name__)


class PretrainedWeights(NamedTuple):
    """A published weights file."""

    #: The builder the weights fit (``"vgg16"``, ``"vgg19"``).
    model: str
    #: Its format, one of :data:`~convnet.modelzoo.WEIGHT_FORMATS`.
    format: str
    #: The file name, on the mirrors and in the cache.
    filename: str
    #: Base URLs the file is downloaded from, tried in order.
    mirrors: tuple
    #: The expected digest: SHA-256 in hexadecimal, or ``"md5:<hex>"``.
    digest: str


#: The published weight files convnet knows, by name: ``{name: PretrainedWeights}``.
PRETRAINED = {
    "vgg16-lasagne": PretrainedWeights("vgg16", "lasagne", "vgg16.pkl",
                                       ("https://s3.amazonaws.com/lasagne/recipes/pretrained/imagenet/",),
                                       "md5:57858ec9bb7435e99c78a0520e6c5d3e"),
    "vgg19-lasagne": PretrainedWeights("vgg19", "lasagne", "vgg19.pkl",
                                       ("https://s3.amazonaws.com/lasagne/recipes/pretrained/imagenet/",),
                                       "md5:cb8ee699c50a64f8fef2a82bfbb307c5"),
    "vgg16-torchvision": PretrainedWeights("vgg16", "torchvision", "vgg16-397923af.pth",
                                           ("https://download.pytorch.org/models/",),
                                           "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0"),
    "vgg19-torchvision": PretrainedWeights("vgg19", "torchvision", "vgg19-dcbb9e9d.pth",
                                           ("https://download.pytorch.org/models/",),
                                           "dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44"),
}


def _entry(name):
    try:
        return PRETRAINED[name]
    except KeyError:
        raise ValueError(f"no pretrained weights named {name!r}; known: {', '.join(sorted(PRETRAINED))}") from None


def _matches(path, digest):
    algorithm, _, expected = digest.rpartition(":")
    return file_sha256(path, algorithm or "sha256") == expected.lower()


def fetch_weights(name, directory=None, *, download=True, timeout=None, progress=True):
    """The path of weights file ``name``, downloaded and verified if needed.

    A copy in ``directory`` whose digest matches is used as it is; a copy
    that does not match is replaced by a new download (with a warning in
    the log).

    Parameters
    ----------
    name : str
        A key of :data:`PRETRAINED`.
    directory : str or os.PathLike, optional
        Where to keep the file; default ``cache_dir("modelzoo")``.
    download : bool, optional
        Download the file when there is no good copy (default True).
    timeout : float, optional
        Seconds to wait for a mirror before trying the next.
    progress : bool, optional
        Show a download progress bar (default True).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        For an unknown ``name``.
    FileNotFoundError
        When there is no good copy and ``download`` is False.
    DownloadError
        When no mirror delivered the file intact (a
        :class:`~convnet.datasets.ChecksumError` among its failures for a
        wrong digest).

    Examples
    --------
    >>> path = fetch_weights("vgg16-torchvision")  # doctest: +SKIP
    >>> path.name  # doctest: +SKIP
    'vgg16-397923af.pth'
    """
    entry = _entry(name)
    directory = cache_dir("modelzoo") if directory is None else Path(directory).expanduser()
    path = directory / entry.filename
    if path.is_file():
        if _matches(path, entry.digest):
            return path
        logger.warning("%s does not have the digest %s; downloading it again", path, entry.digest)
    if not download:
        raise FileNotFoundError(f"no verified copy of {entry.filename} in {directory}, and download=False")
    return download_file(entry.filename, directory, entry.mirrors, entry.digest, timeout=timeout,
                         progress=progress)


def load_pretrained(net, name, *, allow_pickle=False, exclude=(), directory=None, download=True, timeout=None,
                    progress=True):
    """Fetch weights file ``name`` (:func:`fetch_weights`) and load it into
    ``net`` (:func:`~convnet.modelzoo.load_weights`).

    Parameters
    ----------
    net : NetworkDict, Mapping or Layer
        A network of the weights' architecture, e.g. ``vgg16()`` for
        ``"vgg16-torchvision"``.
    name : str
        A key of :data:`PRETRAINED`.
    allow_pickle : bool, optional
        Needed for the Lasagne pickles (unpickling runs code from the file;
        the file's digest is checked first).
    exclude : iterable of str, optional
        Layers to leave alone, e.g. ``['fc6', 'fc7', 'fc8']`` for a new head.
    directory, download, timeout, progress
        As for :func:`fetch_weights`.

    Returns
    -------
    Preprocessing
        The pre-processing the weights expect (also set on a NetworkDict).

    Examples
    --------
    >>> from convnet.modelzoo import vgg19
    >>> net = vgg19(num_classes=5, input_shape=(None, 3, 160, 160), head="global_pool")  # doctest: +SKIP
    >>> load_pretrained(net, "vgg19-torchvision", exclude=["fc6", "fc7", "fc8"])  # doctest: +SKIP
    """
    entry = _entry(name)
    path = fetch_weights(name, directory, download=download, timeout=timeout, progress=progress)
    return load_weights(net, path, format=entry.format, allow_pickle=allow_pickle, exclude=exclude)
