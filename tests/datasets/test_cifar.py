"""load_cifar10 / load_cifar100 on small archives the tests make, in the
published binary layout; no test reaches the network."""
import io
import tarfile

import numpy as np
import pytest

from convnet.datasets import ChecksumError, DataFileError, DownloadError, file_sha256, load_cifar10, load_cifar100

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def records(labels, seed):
    """Binary records: the label bytes of each image, then its R, G and B planes."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels, dtype=np.uint8).reshape(len(labels), -1)
    images = rng.integers(0, 256, (len(labels), 3, 32, 32), dtype=np.uint8)
    return np.concatenate([labels, images.reshape(len(labels), -1)], axis=1).tobytes(), images


def make_archive(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def cifar10_archive(directory, per_batch=4):
    """A CIFAR-10 archive of 5 x ``per_batch`` training and ``per_batch`` test images."""
    directory.mkdir(parents=True, exist_ok=True)
    members, train_images, train_labels = {}, [], []
    for i in range(1, 6):
        labels = [(i + j) % 10 for j in range(per_batch)]
        data, images = records(labels, seed=i)
        members[f"cifar-10-batches-bin/data_batch_{i}.bin"] = data
        train_images.append(images)
        train_labels += labels
    test_labels = [9 - j for j in range(per_batch)]
    data, test_images = records(test_labels, seed=9)
    members["cifar-10-batches-bin/test_batch.bin"] = data
    members["cifar-10-batches-bin/batches.meta.txt"] = ("\n".join(CIFAR10_NAMES) + "\n\n").encode()
    path = make_archive(directory / "cifar-10-binary.tar.gz", members)
    return path, np.concatenate(train_images), np.array(train_labels), test_images, np.array(test_labels)


def test_download_verify_and_load(tmp_path, no_env_data):
    archive, train_images, train_labels, test_images, test_labels = cifar10_archive(tmp_path / "mirror")
    data = load_cifar10(tmp_path / "data", mirrors=[archive.parent.as_uri()], checksum=file_sha256(archive),
                        n_validation=4, progress=False)
    assert (tmp_path / "data" / "cifar-10-binary.tar.gz").is_file()
    assert data.X_train.shape == (16, 3, 32, 32) and data.X_train.dtype == np.float32
    assert data.X_val.shape == (4, 3, 32, 32) and data.X_test.shape == (4, 3, 32, 32)
    # channel 0 is the red plane of each record, scaled to [0, 1]
    np.testing.assert_array_equal(data.X_train, train_images[:16] / np.float32(255))
    np.testing.assert_array_equal(data.X_test, test_images / np.float32(255))
    np.testing.assert_array_equal(np.concatenate([data.y_train, data.y_val]), train_labels)
    np.testing.assert_array_equal(data.y_test, test_labels)
    assert data.y_train.dtype == np.int32
    assert data.class_names == tuple(CIFAR10_NAMES)
    assert data.source == tmp_path / "data" / "cifar-10-binary.tar.gz" and not data.is_sample
    # found there the next time: no mirror needed
    again = load_cifar10(tmp_path / "data", mirrors=[], n_validation=4)
    np.testing.assert_array_equal(again.X_test, data.X_test)


def test_found_in_convnet_data_and_the_cache(tmp_path, monkeypatch, cache_root):
    monkeypatch.setenv("CONVNET_DATA", str(tmp_path / "env"))
    cifar10_archive(tmp_path / "env" / "cifar-10")
    assert load_cifar10(download=False, n_validation=1).source.parent == tmp_path / "env" / "cifar-10"
    monkeypatch.delenv("CONVNET_DATA")
    cifar10_archive(cache_root / "cifar-10")
    assert load_cifar10(download=False, n_validation=1).source.parent == cache_root / "cifar-10"


def test_a_wrong_digest_leaves_nothing(tmp_path, no_env_data):
    archive = cifar10_archive(tmp_path / "mirror")[0]
    with pytest.raises(DownloadError) as raised:
        load_cifar10(tmp_path / "data", mirrors=[archive.parent.as_uri()], checksum="0" * 64, progress=False)
    assert isinstance(raised.value.failures[0][1], ChecksumError)
    assert list((tmp_path / "data").iterdir()) == []


def test_the_default_digest_is_the_published_one(tmp_path, no_env_data):
    # a made archive is not the published one: the default checksum refuses it
    archive = cifar10_archive(tmp_path / "mirror")[0]
    with pytest.raises(DownloadError, match="SHA-256 digest .* is not the expected c4a38c50"):
        load_cifar10(tmp_path / "data", mirrors=[archive.parent.as_uri()], progress=False)


def test_missing_without_download(tmp_path, no_env_data):
    with pytest.raises(FileNotFoundError, match="cifar-10-binary.tar.gz is not in any of .*download=False"):
        load_cifar10(tmp_path / "nothing", download=False)


def test_no_mirror_reachable(tmp_path, no_env_data):
    with pytest.raises(DownloadError, match="could not download cifar-10-binary.tar.gz"):
        load_cifar10(tmp_path / "data", progress=False)


def test_corrupt_archives_name_the_file(tmp_path, no_env_data):
    directory = tmp_path / "data"
    archive = cifar10_archive(directory)[0]
    content = archive.read_bytes()
    archive.write_bytes(content[: len(content) // 2])
    with pytest.raises(DataFileError, match="cifar-10-binary.tar.gz is not a readable .tar.gz"):
        load_cifar10(directory, download=False)
    make_archive(archive, {"cifar-10-batches-bin/data_batch_1.bin": b"\0" * 3074})
    with pytest.raises(DataFileError, match="data_batch_1.bin holds 3074 bytes, not a whole number of 3073"):
        load_cifar10(directory, download=False)
    make_archive(archive, {"other/file.bin": b"\0"})
    with pytest.raises(DataFileError, match="has no file cifar-10-batches-bin/data_batch_1.bin"):
        load_cifar10(directory, download=False)


def test_n_validation_is_checked(tmp_path, no_env_data):
    cifar10_archive(tmp_path / "data")
    with pytest.raises(ValueError, match="n_validation must be in"):
        load_cifar10(tmp_path / "data", download=False, n_validation=20)


def test_cifar100_fine_and_coarse_labels(tmp_path, no_env_data):
    directory = tmp_path / "data"
    directory.mkdir()
    train, _ = records([[c, f] for c, f in zip(range(6), range(10, 16))], seed=1)
    test, _ = records([[19, 99], [0, 0]], seed=2)
    fine = "\n".join(f"fine{i}" for i in range(100)).encode()
    coarse = "\n".join(f"coarse{i}" for i in range(20)).encode()
    make_archive(directory / "cifar-100-binary.tar.gz", {
        "cifar-100-binary/train.bin": train, "cifar-100-binary/test.bin": test,
        "cifar-100-binary/fine_label_names.txt": fine, "cifar-100-binary/coarse_label_names.txt": coarse})
    data = load_cifar100(directory, download=False, n_validation=2)
    assert data.y_train.tolist() + data.y_val.tolist() == list(range(10, 16)) and data.y_test.tolist() == [99, 0]
    assert len(data.class_names) == 100
    coarse_data = load_cifar100(directory, label_mode="coarse", download=False, n_validation=2)
    assert coarse_data.y_train.tolist() == [0, 1, 2, 3] and coarse_data.class_names[19] == "coarse19"
    with pytest.raises(ValueError, match="label_mode must be 'fine' or 'coarse'"):
        load_cifar100(directory, label_mode="both")
