"""Fixtures for the dataset tests: an isolated cache, local HTTP mirrors, small
synthetic MNIST-like files. No test here reaches beyond 127.0.0.1."""
import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from convnet.datasets import cifar, download, mnist, save_idx
from convnet.datasets.mnist import MNIST_FILES


def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


@pytest.fixture(autouse=True)
def isolated_downloads(monkeypatch, tmp_path):
    """Keep every test away from the real cache, the network and earlier warnings."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(mnist, "MNIST_MIRRORS", (closed_port_url(),))
    monkeypatch.setattr(mnist, "FASHION_MNIST_MIRRORS", (closed_port_url(),))
    monkeypatch.setattr(cifar, "CIFAR_MIRRORS", (closed_port_url(),))
    monkeypatch.setattr(download, "DEFAULT_TIMEOUT", 2.0)
    monkeypatch.setattr(mnist, "_sample_warning_issued", False)


@pytest.fixture
def closed_mirror_url():
    """A mirror URL on 127.0.0.1 that refuses connections."""
    return closed_port_url()


@pytest.fixture
def no_env_data(monkeypatch):
    """Unset $CONVNET_DATA, so that only data_dir and the (temporary) cache are searched."""
    monkeypatch.delenv("CONVNET_DATA", raising=False)


@pytest.fixture
def cache_root(tmp_path):
    """The directory that ``cache_dir()`` points into during a test."""
    return tmp_path / "xdg-cache" / "convnet"


class _MirrorHandler(BaseHTTPRequestHandler):
    """Serves ``server.mirrors[mirror][filename]`` at ``/<mirror>/<filename>``.

    Mirrors named ``truncated`` send half of each file after announcing all of
    it; mirrors named ``stalled`` never answer.
    """

    def do_GET(self):
        self.server.requests.append(self.path)
        mirror, _, filename = self.path.strip("/").partition("/")
        if mirror == "stalled":
            self.server.release.wait()
            return
        body = self.server.mirrors.get(mirror, {}).get(filename)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if mirror == "truncated" else body)

    def log_message(self, format, *args):
        pass


class MirrorServer:
    """A local HTTP server with named mirrors; ``url(name)`` is a mirror's base URL."""

    def __init__(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _MirrorHandler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, client_address: None
        self.httpd.mirrors = {}
        self.httpd.requests = []
        self.httpd.release = threading.Event()
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def mirrors(self):
        return self.httpd.mirrors

    @property
    def requests(self):
        return self.httpd.requests

    def url(self, mirror):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{mirror}/"


@pytest.fixture
def mirror_server():
    server = MirrorServer()
    server.thread.start()
    yield server
    server.httpd.release.set()
    server.httpd.shutdown()
    server.httpd.server_close()


def make_mnist_like(n_train, n_test, seed=0):
    """Random uint8 images and digit labels shaped like MNIST, as idx-ready arrays by file name."""
    rng = np.random.default_rng(seed)
    return {
        MNIST_FILES.train_images: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        MNIST_FILES.train_labels: (np.arange(n_train) % 10).astype(np.uint8),
        MNIST_FILES.test_images: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        MNIST_FILES.test_labels: (np.arange(n_test) % 10).astype(np.uint8),
    }


def write_mnist_like(directory, n_train=30, n_test=10, seed=0):
    """Write a small MNIST-like set of four ``.gz`` idx files into ``directory``; return the arrays."""
    directory.mkdir(parents=True, exist_ok=True)
    arrays = make_mnist_like(n_train, n_test, seed)
    for filename, array in arrays.items():
        save_idx(directory / filename, array)
    return arrays


@pytest.fixture
def mnist_like_files():
    """``write(directory, n_train=30, n_test=10, seed=0)``: write a small MNIST-like set, return its arrays."""
    return write_mnist_like


@pytest.fixture
def synthetic_mnist(tmp_path):
    """A small MNIST-like set: ``(arrays, file contents, SHA-256 digests)``, each by file name."""
    arrays = write_mnist_like(tmp_path / "synthetic")
    contents = {f: (tmp_path / "synthetic" / f).read_bytes() for f in arrays}
    digests = {f: hashlib.sha256(body).hexdigest() for f, body in contents.items()}
    return arrays, contents, digests
