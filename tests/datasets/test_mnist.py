"""load_mnist and friends: where files are looked for, downloading into the cache,
the bundled sample and the offline fallback to it, and the real MNIST files."""
import os
import warnings

import numpy as np
import pytest

from convnet.datasets import (
    DataFileError,
    DatasetSplits,
    DownloadError,
    IdxFiles,
    IdxFormatError,
    SampleDataWarning,
    cache_dir,
    load_fashion_mnist,
    load_idx_dataset,
    load_mnist,
    save_idx,
)
from convnet.datasets import make_mnist_sample, mnist
from convnet.datasets.mnist import MNIST_FILES, MNIST_SHA256

SAMPLE_FILE = os.path.join(os.path.dirname(mnist.__file__), "data", "mnist_sample.npz")


def assert_splits_match(data, arrays, n_validation):
    """``data`` holds the MNIST-like ``arrays`` (by file name), scaled and split."""
    train_images = arrays[MNIST_FILES.train_images].astype(np.float32)[:, None] / 255
    train_labels = arrays[MNIST_FILES.train_labels]
    n_train = len(train_labels) - n_validation
    np.testing.assert_array_equal(data.X_train, train_images[:n_train])
    np.testing.assert_array_equal(data.X_val, train_images[n_train:])
    np.testing.assert_array_equal(data.y_train, train_labels[:n_train])
    np.testing.assert_array_equal(data.y_val, train_labels[n_train:])
    np.testing.assert_array_equal(data.X_test, arrays[MNIST_FILES.test_images].astype(np.float32)[:, None] / 255)
    np.testing.assert_array_equal(data.y_test, arrays[MNIST_FILES.test_labels])
    for X, y in [(data.X_train, data.y_train), (data.X_val, data.y_val), (data.X_test, data.y_test)]:
        assert X.dtype == np.float32 and y.dtype == np.int32
    assert not data.is_sample


# -- the bundled sample -----------------------------------------------------


def test_sample_shapes_dtypes_and_class_balance():
    data = load_mnist(sample=True)
    assert isinstance(data, DatasetSplits) and data.is_sample
    X_train, y_train, X_val, y_val, X_test, y_test = data
    assert X_train.shape == (4000, 1, 28, 28) and X_val.shape == (1000, 1, 28, 28)
    assert X_test.shape == (1000, 1, 28, 28)
    for X, y, per_digit in [(X_train, y_train, 400), (X_val, y_val, 100), (X_test, y_test, 100)]:
        assert X.dtype == np.float32 and y.dtype == np.int32
        assert X.min() == 0 and X.max() == 1
        assert np.bincount(y, minlength=10).tolist() == [per_digit] * 10
    assert "train=4000, val=1000, test=1000" in repr(data)


def test_sample_file_is_compact_uint8():
    assert os.path.getsize(SAMPLE_FILE) < 1_500_000
    with np.load(SAMPLE_FILE) as arrays:
        assert arrays["train_images"].shape == (5000, 28, 28) and arrays["train_images"].dtype == np.uint8
        assert arrays["test_images"].shape == (1000, 28, 28) and arrays["test_labels"].dtype == np.uint8


def test_sample_with_another_validation_size():
    data = load_mnist(sample=True, n_validation=500)
    assert (len(data.X_train), len(data.X_val)) == (4500, 500)
    with pytest.raises(ValueError, match="n_validation must be in"):
        load_mnist(sample=True, n_validation=5000)


def test_offline_falls_back_to_the_sample_and_warns_once(no_env_data, cache_root):
    with pytest.warns(SampleDataWarning, match="not available.*could not download") as record:
        data = load_mnist(progress=False)
    assert data.is_sample and len(data.X_train) == 4000
    assert len(record) == 1
    message = str(record[0].message)
    assert str(cache_dir("mnist")) in message and "CONVNET_DATA" in message and "sample=True" in message
    assert record[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_mnist(progress=False).is_sample
        assert load_mnist(download=False).is_sample
    assert list((cache_root / "mnist").iterdir()) == []


def test_no_fallback_when_not_allowed(no_env_data, closed_mirror_url):
    with pytest.raises(DownloadError, match="could not download train-images-idx3-ubyte.gz"):
        load_mnist(allow_sample=False, mirrors=[closed_mirror_url], progress=False)
    with pytest.raises(FileNotFoundError, match="the mnist files are not in any of .*download=False"):
        load_mnist(download=False, allow_sample=False)


def test_no_download_attempt_with_download_false(no_env_data, mirror_server):
    with pytest.warns(SampleDataWarning, match="download=False"):
        assert load_mnist(download=False, mirrors=[mirror_server.url("mnist")]).is_sample
    assert mirror_server.requests == []


# -- finding and downloading the files --------------------------------------


def test_downloads_into_the_cache_and_reuses_it(no_env_data, mirror_server, synthetic_mnist, cache_root):
    arrays, contents, digests = synthetic_mnist
    corrupt = {f: body[:-1] + bytes([body[-1] ^ 1]) for f, body in contents.items()}
    mirror_server.mirrors.update(corrupt=corrupt, good=contents)
    mirrors = [mirror_server.url("corrupt"), mirror_server.url("good")]

    data = load_mnist(mirrors=mirrors, checksums=digests, n_validation=5, progress=False)
    assert_splits_match(data, arrays, n_validation=5)
    assert data.source == cache_root / "mnist"
    assert sorted(os.listdir(data.source)) == sorted(MNIST_FILES)
    assert len(mirror_server.requests) == 8  # each file: the corrupt copy, then the good one

    again = load_mnist(mirrors=mirrors, checksums=digests, n_validation=5, progress=False)
    assert_splits_match(again, arrays, n_validation=5)
    assert len(mirror_server.requests) == 8


def test_the_default_mirrors_and_digests_are_module_constants(no_env_data, mirror_server, synthetic_mnist,
                                                             monkeypatch):
    arrays, contents, digests = synthetic_mnist
    mirror_server.mirrors["good"] = contents
    monkeypatch.setattr(mnist, "MNIST_MIRRORS", (mirror_server.url("good"),))
    monkeypatch.setattr(mnist, "MNIST_SHA256", digests)
    assert_splits_match(load_mnist(n_validation=10, progress=False), arrays, n_validation=10)


def test_downloads_only_missing_files_into_data_dir(no_env_data, mirror_server, synthetic_mnist, tmp_path):
    arrays, contents, digests = synthetic_mnist
    mirror_server.mirrors["good"] = contents
    data_dir = tmp_path / "my-data"
    data_dir.mkdir()
    (data_dir / MNIST_FILES.test_labels).write_bytes(contents[MNIST_FILES.test_labels])
    data = load_mnist(data_dir, mirrors=[mirror_server.url("good")], checksums=digests, n_validation=5,
                      progress=False)
    assert_splits_match(data, arrays, n_validation=5)
    assert data.source == data_dir and sorted(os.listdir(data_dir)) == sorted(MNIST_FILES)
    assert f"/good/{MNIST_FILES.test_labels}" not in mirror_server.requests


def test_a_corrupt_download_is_never_kept(no_env_data, mirror_server, synthetic_mnist, cache_root):
    arrays, contents, digests = synthetic_mnist
    mirror_server.mirrors["corrupt"] = {f: body[:-1] + bytes([body[-1] ^ 1]) for f, body in contents.items()}
    with pytest.raises(DownloadError, match="SHA-256 digest"):
        load_mnist(mirrors=[mirror_server.url("corrupt")], checksums=digests, allow_sample=False, progress=False)
    assert list((cache_root / "mnist").iterdir()) == []


def test_search_order(monkeypatch, tmp_path, mnist_like_files):
    """data_dir, then $CONVNET_DATA/mnist, then $CONVNET_DATA, then the cache; the first complete set wins."""
    env_dir = tmp_path / "env"
    locations = {
        "data_dir": tmp_path / "data-dir",
        "env/mnist": env_dir / "mnist",
        "env": env_dir,
        "cache": cache_dir("mnist"),
    }
    monkeypatch.setenv("CONVNET_DATA", str(env_dir))
    for n_train, (name, directory) in enumerate(locations.items(), start=20):
        mnist_like_files(directory, n_train=n_train)
    for n_train, (name, directory) in enumerate(locations.items(), start=20):
        data = load_mnist(locations["data_dir"] if name == "data_dir" else None, n_validation=5, download=False)
        assert (data.source, len(data.X_train) + len(data.X_val)) == (directory, n_train), name
        if name != "data_dir":
            os.remove(directory / MNIST_FILES.train_images)  # incomplete: the next location is used


def test_data_dir_with_gunzipped_files(no_env_data, tmp_path, mnist_like_files):
    arrays = mnist_like_files(tmp_path)
    for filename in MNIST_FILES:
        save_idx(tmp_path / filename.removesuffix(".gz"), arrays[filename])
        os.remove(tmp_path / filename)
    assert_splits_match(load_mnist(tmp_path, n_validation=3, download=False), arrays, n_validation=3)


def test_corrupt_local_files_raise_naming_the_file(no_env_data, tmp_path, mnist_like_files):
    mnist_like_files(tmp_path)
    images = tmp_path / MNIST_FILES.test_images
    images.write_bytes(images.read_bytes()[:100])
    with pytest.raises(IdxFormatError, match=f"{images}: corrupt or truncated gzip data"):
        load_mnist(tmp_path, n_validation=3)


def test_image_label_count_mismatch_raises(no_env_data, tmp_path, mnist_like_files):
    mnist_like_files(tmp_path)
    save_idx(tmp_path / MNIST_FILES.train_labels, np.zeros(29, dtype=np.uint8))
    with pytest.raises(DataFileError, match="train-images-idx3-ubyte.gz holds 30 images but .*"
                                            "train-labels-idx1-ubyte.gz holds 29 labels"):
        load_mnist(tmp_path, n_validation=3)


@pytest.mark.parametrize("bad_label", [10, 255])
def test_labels_outside_the_classes_raise_naming_the_file(no_env_data, tmp_path, mnist_like_files, bad_label):
    arrays = mnist_like_files(tmp_path)
    labels = arrays[MNIST_FILES.test_labels].copy()
    labels[[3, 7]] = bad_label
    save_idx(tmp_path / MNIST_FILES.test_labels, labels)
    with pytest.raises(DataFileError, match=rf"t10k-labels-idx1-ubyte.gz: 2 labels are outside the classes "
                                            rf"\[0, 10\): \[{bad_label}\] \(the first at index 3\)"):
        load_mnist(tmp_path, n_validation=3)


def test_load_idx_dataset_checks_labels_against_num_classes(no_env_data, tmp_path, mnist_like_files):
    arrays = mnist_like_files(tmp_path)
    labels = arrays[MNIST_FILES.train_labels].astype(np.int32)
    labels[0] = 25
    save_idx(tmp_path / MNIST_FILES.train_labels, labels)
    assert load_idx_dataset("letters", MNIST_FILES, tmp_path, n_validation=3, download=False).y_train[0] == 25
    with pytest.raises(DataFileError, match=r"1 labels are outside the classes \[0, 20\): \[25\]"):
        load_idx_dataset("letters", MNIST_FILES, tmp_path, n_validation=3, download=False, num_classes=20)
    labels[0] = -1
    save_idx(tmp_path / MNIST_FILES.train_labels, labels)
    with pytest.raises(DataFileError, match=r"1 labels are negative: \[-1\]"):
        load_idx_dataset("letters", MNIST_FILES, tmp_path, n_validation=3, download=False)


def test_swapped_files_raise(no_env_data, tmp_path, mnist_like_files):
    arrays = mnist_like_files(tmp_path)
    save_idx(tmp_path / MNIST_FILES.test_images, arrays[MNIST_FILES.test_labels])
    with pytest.raises(DataFileError, match="t10k-images-idx3-ubyte.gz: expected uint8 images of shape"):
        load_mnist(tmp_path, n_validation=3)


def test_fashion_mnist_only_looks_in_its_own_directory(monkeypatch, tmp_path, mnist_like_files):
    mnist_like_files(tmp_path / "env")  # MNIST files at the root of $CONVNET_DATA are not Fashion-MNIST
    monkeypatch.setenv("CONVNET_DATA", str(tmp_path / "env"))
    with pytest.raises(FileNotFoundError, match="fashion-mnist"):
        load_fashion_mnist(download=False)
    arrays = mnist_like_files(tmp_path / "env" / "fashion-mnist", seed=1)
    assert_splits_match(load_fashion_mnist(n_validation=4, download=False), arrays, n_validation=4)


def test_load_idx_dataset_with_other_file_names(no_env_data, tmp_path, mnist_like_files):
    arrays = mnist_like_files(tmp_path)
    files = IdxFiles(*(f"emnist-digits-{f}" for f in MNIST_FILES))
    for old, new in zip(MNIST_FILES, files):
        os.rename(tmp_path / old, tmp_path / new)
    data = load_idx_dataset("emnist-digits", files, tmp_path, n_validation=6, download=False)
    assert_splits_match(data, arrays, n_validation=6)
    with pytest.raises(ValueError, match="no SHA-256 digest"):
        load_idx_dataset("emnist-digits", files, tmp_path / "elsewhere")


# -- the real MNIST files ---------------------------------------------------


@pytest.mark.slow
def test_real_mnist(mnist_dir):
    data = load_mnist(mnist_dir, allow_sample=False)
    assert not data.is_sample and data.source == mnist_dir
    X_train, y_train, X_val, y_val, X_test, y_test = data
    assert X_train.shape == (50000, 1, 28, 28) and X_val.shape == (10000, 1, 28, 28)
    assert X_test.shape == (10000, 1, 28, 28)
    for X, y in [(X_train, y_train), (X_val, y_val), (X_test, y_test)]:
        assert X.dtype == np.float32 and y.dtype == np.int32
        assert X.min() == 0 and X.max() == 1
        assert set(np.unique(y)) == set(range(10))
    assert (X_train.mean(), y_test[:10].tolist()) == (pytest.approx(0.1309, abs=1e-3), [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])

    # The bundled sample holds real MNIST images, at the recorded positions.
    sample = load_mnist(sample=True)
    with np.load(SAMPLE_FILE) as arrays:
        train_indices, test_indices = arrays["train_indices"], arrays["test_indices"]
    all_train_X = np.concatenate([X_train, X_val])
    all_train_y = np.concatenate([y_train, y_val])
    np.testing.assert_array_equal(np.concatenate([sample.X_train, sample.X_val]), all_train_X[train_indices])
    np.testing.assert_array_equal(np.concatenate([sample.y_train, sample.y_val]), all_train_y[train_indices])
    np.testing.assert_array_equal(sample.X_test, X_test[test_indices])
    assert len(np.unique(train_indices)) == 5000 and len(np.unique(test_indices)) == 1000


def test_known_digests_match_the_shared_checksum_file(mnist_dir):
    sums_file = mnist_dir / "SHA256SUMS"
    if not sums_file.is_file():
        pytest.skip("no SHA256SUMS next to the MNIST files")
    listed = dict(reversed(line.split()) for line in sums_file.read_text().splitlines() if line.strip())
    assert listed == MNIST_SHA256


@pytest.mark.slow
def test_make_mnist_sample_reproduces_the_bundled_sample(mnist_dir, tmp_path, capsys):
    output = tmp_path / "sample.npz"
    make_mnist_sample.main(["--source", str(mnist_dir), "--output", str(output)])
    assert "5000 training and 1000 test images" in capsys.readouterr().out
    with np.load(output) as made, np.load(SAMPLE_FILE) as bundled:
        assert sorted(made.files) == sorted(bundled.files)
        for name in bundled.files:
            np.testing.assert_array_equal(made[name], bundled[name], err_msg=name)
