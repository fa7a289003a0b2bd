"""convnet.modelzoo.pretrained: the registry's checksums, verified downloads
into the cache, loading. Files are made here and served from file:// URLs."""
import re

import numpy as np
import pytest

from convnet.datasets import DownloadError, file_sha256
from convnet.layers import get_all_param_values
from convnet.modelzoo import PRETRAINED, PretrainedWeights, fetch_weights, load_pretrained, pretrained

from .zoo_helpers import lasagne_param_values, small_vgg16, write_lasagne_pickle


def test_registry_entries_are_well_formed():
    assert {"vgg16-lasagne", "vgg19-lasagne", "vgg16-torchvision", "vgg19-torchvision"} <= set(PRETRAINED)
    for name, entry in PRETRAINED.items():
        assert entry.model in ("vgg16", "vgg19") and name.startswith(entry.model)
        assert all(mirror.startswith("https://") and mirror.endswith("/") for mirror in entry.mirrors)
        assert re.fullmatch(r"[0-9a-f]{64}|md5:[0-9a-f]{32}", entry.digest), name
        if entry.format == "torchvision":
            # torchvision names its files after the first digits of their SHA-256
            assert entry.filename == f"{entry.model}-{entry.digest[:8]}.pth"


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A small VGG-16 Lasagne pickle on a file:// mirror, registered as 'small'."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    values = lasagne_param_values(small_vgg16(num_classes=2))
    write_lasagne_pickle(mirror / "small.pkl", values)
    entry = PretrainedWeights("vgg16", "lasagne", "small.pkl", (mirror.as_uri() + "/",),
                              "md5:" + file_sha256(mirror / "small.pkl", "md5"))
    monkeypatch.setitem(PRETRAINED, "small", entry)
    return mirror, values


def test_fetch_downloads_once_and_checks_the_cached_copy(served, tmp_path, monkeypatch):
    mirror, _ = served
    cache = tmp_path / "cache"
    path = fetch_weights("small", cache, progress=False)
    assert path == cache / "small.pkl"
    assert path.read_bytes() == (mirror / "small.pkl").read_bytes()
    # a good cached copy is used without the mirror
    monkeypatch.setitem(PRETRAINED, "small", PRETRAINED["small"]._replace(mirrors=()))
    assert fetch_weights("small", cache, download=False) == path
    # a damaged copy is not used
    path.write_bytes(b"damaged")
    with pytest.raises(FileNotFoundError, match="no verified copy of small.pkl"):
        fetch_weights("small", cache, download=False)
    with pytest.raises(DownloadError):
        fetch_weights("small", cache, progress=False)  # and no mirror left to repair it


def test_a_damaged_copy_is_downloaded_again(served, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "small.pkl").write_bytes(b"damaged")
    path = fetch_weights("small", cache, progress=False)
    assert path.read_bytes() == (served[0] / "small.pkl").read_bytes()


def test_a_wrong_checksum_leaves_nothing(served, tmp_path, monkeypatch):
    monkeypatch.setitem(PRETRAINED, "small", PRETRAINED["small"]._replace(digest="md5:" + "0" * 32))
    with pytest.raises(DownloadError, match="MD5 digest .* is not the expected 0000"):
        fetch_weights("small", tmp_path / "cache", progress=False)
    assert list((tmp_path / "cache").iterdir()) == []


def test_load_pretrained_loads_the_verified_file(served, tmp_path):
    _, values = served
    net = small_vgg16(num_classes=2)
    with pytest.raises(ValueError, match="allow_pickle"):
        load_pretrained(net, "small", directory=tmp_path / "cache", progress=False)
    preprocessing = load_pretrained(net, "small", directory=tmp_path / "cache", allow_pickle=True, progress=False)
    assert preprocessing.channel_order == "BGR"
    for loaded, expected in zip(get_all_param_values(net["prob"]), values):
        np.testing.assert_array_equal(loaded, expected)


def test_unknown_name(tmp_path):
    with pytest.raises(ValueError, match="no pretrained weights named 'vgg17'; known: .*vgg16-lasagne"):
        fetch_weights("vgg17", tmp_path)


def test_the_default_directory_is_the_cache(monkeypatch, tmp_path, served):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert fetch_weights("small", progress=False) == tmp_path / "xdg" / "convnet" / "modelzoo" / "small.pkl"
    assert pretrained.cache_dir("modelzoo") == tmp_path / "xdg" / "convnet" / "modelzoo"
