"""ImageFolder: listing, reading, streaming batches, errors."""
import numpy as np
import pytest

from convnet.augmentation import RandomFlip
from convnet.datasets import DataFileError, ImageFolder

Image = pytest.importorskip("PIL.Image")

COLOURS = {"blue": (0, 0, 255), "green": (0, 200, 0), "red": (250, 0, 0)}


@pytest.fixture
def folder(tmp_path):
    """3 classes of solid-colour images of various sizes (3, 4 and 5 images)."""
    for count, (name, colour) in enumerate(COLOURS.items(), start=3):
        (tmp_path / name).mkdir()
        for i in range(count):
            Image.new("RGB", (10 + i, 7), colour).save(tmp_path / name / f"{i}.png")
        (tmp_path / name / "notes.txt").write_text("not an image")
    return tmp_path


def test_lists_classes_and_files_without_reading(folder):
    images = ImageFolder(folder, image_size=4)
    assert images.class_names == ("blue", "green", "red")
    assert len(images) == 12
    assert images.labels.tolist() == [0] * 3 + [1] * 4 + [2] * 5
    assert images.files[3].name == "0.png" and images.files[3].parent.name == "green"


def test_load_resizes_and_crops_to_rgb_squares(folder):
    images = ImageFolder(folder, image_size=4).load([0, 11])
    assert images.shape == (2, 4, 4, 3) and images.dtype == np.uint8
    assert (images[0] == COLOURS["blue"]).all() and (images[1] == COLOURS["red"]).all()


def test_batches_stream_every_image_once_per_epoch(folder):
    images = ImageFolder(folder, image_size=4)
    batches = images.batch_iterator(batch_size=5, shuffle=True, seed=0)
    assert len(batches) == 3
    seen = [(Xb, yb) for Xb, yb in batches]
    X = np.concatenate([Xb for Xb, _ in seen])
    y = np.concatenate([yb for _, yb in seen])
    assert X.shape == (12, 3, 4, 4) and X.dtype == np.float32
    assert sorted(y.tolist()) == images.labels.tolist()
    assert y.tolist() != images.labels.tolist()  # shuffled
    # each image is the colour of its class, scaled to [0, 1]
    for image, label in zip(X, y):
        expected = np.array(COLOURS[images.class_names[label]], np.float32) / 255
        np.testing.assert_allclose(image[:, 0, 0], expected)


def test_preprocess_and_transform_and_indices(folder):
    images = ImageFolder(folder, image_size=4)
    calls = []

    def preprocess(batch):
        calls.append(batch.shape)
        return np.moveaxis(batch, -1, 1).astype(np.float32) - 100

    batches = images.batch_iterator(indices=[0, 5, 11], batch_size=2, preprocess=preprocess,
                                    transform=RandomFlip(), workers=0)
    out = list(batches)
    assert calls == [(2, 4, 4, 3), (1, 4, 4, 3)]
    assert [yb.tolist() for _, yb in out] == [[0, 1], [2]]
    assert out[0][0].min() == -100
    with pytest.raises(ValueError, match=r"indices must be a vector of image indices in \[0, 12\)"):
        images.batch_iterator(indices=[12])


def test_errors_name_the_folder_or_file(folder, tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        ImageFolder(tmp_path / "missing", 4)
    with pytest.raises(ValueError, match="image_size must be a positive integer"):
        ImageFolder(folder, 0)
    (folder / "empty").mkdir()
    with pytest.raises(ValueError, match="no images in .*empty"):
        ImageFolder(folder, 4)
    (folder / "empty" / "broken.png").write_bytes(b"not a png")
    images = ImageFolder(folder, 4)
    with pytest.raises(DataFileError, match="broken.png: not a readable image"):
        list(images.batch_iterator(indices=[[f.name for f in images.files].index("broken.png")]))
    with pytest.raises(ValueError, match="has no sub-folders"):
        ImageFolder(folder / "blue", 4)
