"""Downloads from local HTTP mirrors: digest checks, fallback to the next mirror,
and atomic writes that never leave a partial or corrupt file behind."""
import hashlib
import logging
import os
import stat

import pytest

from convnet.datasets import ChecksumError, DownloadError, download_file, file_sha256
from convnet.datasets import download as download_module

FILENAME = "payload-idx1-ubyte.gz"
PAYLOAD = bytes(range(256)) * 1000
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def served(mirror_server):
    """Mirrors: ``good`` (the file), ``corrupt`` (one byte changed), ``truncated``, ``stalled``, ``empty``."""
    corrupt = bytearray(PAYLOAD)
    corrupt[1000] ^= 0xFF
    mirror_server.mirrors.update(
        good={FILENAME: PAYLOAD},
        corrupt={FILENAME: bytes(corrupt)},
        truncated={FILENAME: PAYLOAD},
        empty={},
    )
    return mirror_server


def test_downloads_and_verifies(served, tmp_path):
    path = download_file(FILENAME, tmp_path / "new" / "dir", [served.url("good")], PAYLOAD_SHA256, progress=False)
    assert path == tmp_path / "new" / "dir" / FILENAME
    assert path.read_bytes() == PAYLOAD
    assert os.listdir(path.parent) == [FILENAME]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


@pytest.mark.parametrize("bad_mirror", ["corrupt", "truncated", "empty"])
def test_a_bad_mirror_is_skipped_and_leaves_nothing(served, tmp_path, caplog, bad_mirror):
    mirrors = [served.url(bad_mirror), served.url("good")]
    with caplog.at_level(logging.WARNING, logger=download_module.__name__):
        path = download_file(FILENAME, tmp_path, mirrors, PAYLOAD_SHA256, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert os.listdir(tmp_path) == [FILENAME]
    assert served.requests == [f"/{bad_mirror}/{FILENAME}", f"/good/{FILENAME}"]
    expected_reason = {"corrupt": "SHA-256 digest", "truncated": "connection closed after", "empty": "404"}
    assert expected_reason[bad_mirror] in caplog.text
    assert "trying the next mirror" in caplog.text


def test_only_bad_mirrors_raise_and_leave_nothing(served, tmp_path, closed_mirror_url):
    mirrors = [served.url("corrupt"), served.url("truncated"), served.url("empty"), closed_mirror_url]
    with pytest.raises(DownloadError, match=f"could not download {FILENAME} from any mirror") as error:
        download_file(FILENAME, tmp_path, mirrors, PAYLOAD_SHA256, progress=False)
    message = str(error.value)
    for mirror in mirrors:
        assert mirror + FILENAME in message
    assert f"is not the expected {PAYLOAD_SHA256}" in message
    assert [url for url, _ in error.value.failures] == [mirror + FILENAME for mirror in mirrors]
    assert isinstance(error.value.failures[0][1], ChecksumError)
    assert os.listdir(tmp_path) == []


def test_an_existing_file_survives_a_failed_download(served, tmp_path):
    (tmp_path / FILENAME).write_bytes(b"old")
    with pytest.raises(DownloadError):
        download_file(FILENAME, tmp_path, [served.url("corrupt")], PAYLOAD_SHA256, progress=False)
    assert os.listdir(tmp_path) == [FILENAME]
    assert (tmp_path / FILENAME).read_bytes() == b"old"


def test_a_stalled_mirror_times_out(served, tmp_path):
    mirrors = [served.url("stalled"), served.url("good")]
    path = download_file(FILENAME, tmp_path, mirrors, PAYLOAD_SHA256, timeout=0.3, progress=False)
    assert path.read_bytes() == PAYLOAD


def test_an_interrupted_download_removes_its_temporary_file(served, tmp_path, monkeypatch):
    class InterruptingBar:
        def __init__(self, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc_info):
            return False

        def update(self, n):
            assert len(os.listdir(tmp_path)) == 1 and os.listdir(tmp_path)[0].endswith(".part")
            raise KeyboardInterrupt

    monkeypatch.setattr(download_module, "tqdm", InterruptingBar)
    with pytest.raises(KeyboardInterrupt):
        download_file(FILENAME, tmp_path, [served.url("good")], PAYLOAD_SHA256)
    assert os.listdir(tmp_path) == []


def test_file_sha256(tmp_path):
    (tmp_path / "f").write_bytes(PAYLOAD)
    assert file_sha256(tmp_path / "f") == PAYLOAD_SHA256
