"""Build the MNIST sample bundled with convnet from the real MNIST files.

Run it once, from a directory holding the four original ``.gz`` files::

    python -m convnet.datasets.make_mnist_sample --source DIR

It writes ``convnet/datasets/data/mnist_sample.npz`` (or ``--output``), a
compressed ``.npz`` with ``uint8`` arrays:

``train_images`` (5000, 28, 28), ``train_labels`` (5000,)
    500 training images per digit: first 4,000 (400 per digit) to train on,
    then 1,000 (100 per digit) that :func:`~convnet.datasets.load_mnist` uses
    for validation, each part in the original order.
``test_images`` (1000, 28, 28), ``test_labels`` (1000,)
    100 test images per digit, in the original order.
``train_indices``, ``test_indices`` (``uint16``)
    Where each image is in the original files.

The selection uses no random numbers: for each digit it takes images evenly
spaced over that digit's occurrences in the original file (so from all of
its writers), and every fifth of the chosen training images goes to the
validation part. With a given zlib, the output is reproducible byte for
byte (the zip archive's timestamps are fixed).

Examples
--------
>>> arrays = make_sample("/data/mnist")  # doctest: +SKIP
>>> write_npz("mnist_sample.npz", arrays)  # doctest: +SKIP
"""
import argparse
import io
import zipfile
from pathlib import Path

import numpy as np

from .download import file_sha256
from .idx import load_idx
from .mnist import MNIST_FILES, MNIST_SHA256

__all__ = ["make_sample", "write_npz", "main", "DEFAULT_OUTPUT"]

TRAIN_PER_DIGIT = 500
VALIDATION_EVERY = 5  # every 5th chosen training image (100 per digit) goes to validation
TEST_PER_DIGIT = 100
#: Where the sample is written by default: inside the package.
DEFAULT_OUTPUT = Path(__file__).parent / "data" / "mnist_sample.npz"


def _evenly_spaced_per_digit(labels, per_digit):
    """For each digit 0-9, the indices of ``per_digit`` of its images spread evenly over the file."""
    chosen = []
    for digit in range(10):
        occurrences = np.flatnonzero(labels == digit)
        if len(occurrences) < per_digit:
            raise ValueError(f"only {len(occurrences)} images of digit {digit}, need {per_digit}")
        positions = np.linspace(0, len(occurrences) - 1, per_digit).round().astype(np.int64)
        chosen.append(occurrences[positions])
    return chosen


def make_sample(source_dir):
    """Select the sample from the original MNIST files in ``source_dir``.

    Parameters
    ----------
    source_dir : str or os.PathLike
        A directory with the four original MNIST ``.gz`` files.

    Returns
    -------
    dict of numpy.ndarray
        The arrays to store, by name (see the module docstring).

    Raises
    ------
    ValueError
        If a file is not the original (its SHA-256 digest differs).
    """
    source_dir = Path(source_dir).expanduser()
    for filename in MNIST_FILES:
        if file_sha256(source_dir / filename) != MNIST_SHA256[filename]:
            raise ValueError(f"{source_dir / filename} is not the original MNIST file (SHA-256 differs)")
    train_images = load_idx(source_dir / MNIST_FILES.train_images)
    train_labels = load_idx(source_dir / MNIST_FILES.train_labels)
    test_images = load_idx(source_dir / MNIST_FILES.test_images)
    test_labels = load_idx(source_dir / MNIST_FILES.test_labels)

    per_digit = _evenly_spaced_per_digit(train_labels, TRAIN_PER_DIGIT)
    is_validation = np.arange(TRAIN_PER_DIGIT) % VALIDATION_EVERY == VALIDATION_EVERY - 1
    fit_indices = np.sort(np.concatenate([indices[~is_validation] for indices in per_digit]))
    validation_indices = np.sort(np.concatenate([indices[is_validation] for indices in per_digit]))
    train_indices = np.concatenate([fit_indices, validation_indices])
    test_indices = np.sort(np.concatenate(_evenly_spaced_per_digit(test_labels, TEST_PER_DIGIT)))
    return {
        "train_images": train_images[train_indices],
        "train_labels": train_labels[train_indices],
        "test_images": test_images[test_indices],
        "test_labels": test_labels[test_indices],
        "train_indices": train_indices.astype(np.uint16),
        "test_indices": test_indices.astype(np.uint16),
    }


def write_npz(path, arrays):
    """Save ``arrays`` as a compressed ``.npz`` whose bytes depend only on the arrays.

    Like :func:`numpy.savez_compressed`, but with a fixed timestamp on each
    archive member.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    arrays : dict of numpy.ndarray
        The arrays, by name.
    """
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array, allow_pickle=False)
            member = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(member, buffer.getvalue(), compress_type=zipfile.ZIP_DEFLATED)


def main(argv=None):
    """Command-line entry point: ``python -m convnet.datasets.make_mnist_sample --source DIR``."""
    parser = argparse.ArgumentParser(description="Build the MNIST sample bundled with convnet.")
    parser.add_argument("--source", required=True, type=Path, help="directory with the four MNIST .gz files")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"default: {DEFAULT_OUTPUT}")
    args = parser.parse_args(argv)
    arrays = make_sample(args.source)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_npz(args.output, arrays)
    print(f"wrote {args.output}: {len(arrays['train_labels'])} training and {len(arrays['test_labels'])} "
          f"test images, {args.output.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
