"""How many images per second convnet.augmentation prepares.

Pushes synthetic batches through :class:`convnet.augmentation.BatchIterator`
with random affine maps, flips and (for colour images) PCA colour noise, with
1 and 2 worker threads, and prints a table. The consumer does nothing with the
batches, so the figures are the most the augmentation can feed a training loop.

Usage::

    python benchmarks/bench_augment.py [--workers 1 2] [--repeats 3]
"""
import argparse
import os
import time

import numpy as np

from convnet.augmentation import BatchIterator, Compose, PCAColor, RandomAffine, RandomFlip

# (label, images shape, number of images, batch size)
IMAGE_SETS = [
    ("3x224x224", (3, 224, 224), 256, 32),
    ("1x28x28", (1, 28, 28), 10000, 128),
]


def augmentation_for(X):
    """Random affine + flip, and PCA colour noise when the images have colour
    (PCAColor needs at least 2 channels, so 1-channel images go without)."""
    affine = RandomAffine(translate=(0.1, 0.1), translate_unit="fraction", rotate=15,
                          scale=(0.9, 1.1), shear=5)
    if X.shape[1] < 2:
        return Compose([affine, RandomFlip()]), "RandomAffine, RandomFlip"
    color = PCAColor(std=0.1).fit(X)
    return Compose([affine, RandomFlip(), color]), "RandomAffine, RandomFlip, PCAColor"


def images_per_second(X, transform, batch_size, workers, repeats):
    """The best of ``repeats`` epochs, in images per second."""
    batches = BatchIterator(X, batch_size=batch_size, shuffle=True, transform=transform, seed=0,
                            workers=workers)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in batches:
            pass
        best = min(best, time.perf_counter() - start)
    return len(X) / best


def augmentation_throughput(worker_counts, repeats):
    """One table row per image set and worker count."""
    rows = []
    for label, image_shape, n_images, batch_size in IMAGE_SETS:
        X = np.random.default_rng(0).random((n_images,) + image_shape, dtype=np.float32)
        transform, description = augmentation_for(X)
        for workers in worker_counts:
            rate = images_per_second(X, transform, batch_size, workers, repeats)
            rows.append((label, description, batch_size, workers, rate))
    return rows


def print_table(rows):
    header = ("images", "transform", "batch", "workers", "images/s", "ms/image")
    lines = [header] + [(label, description, str(batch), str(workers), f"{rate:,.0f}", f"{1e3 / rate:.3f}")
                        for label, description, batch, workers, rate in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for i, line in enumerate(lines):
        print(" | ".join(cell.ljust(width) if j < 2 else cell.rjust(width)
                         for j, (cell, width) in enumerate(zip(line, widths))))
        if i == 0:
            print("-+-".join("-" * width for width in widths))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="worker thread counts to measure (default: 1 2)")
    parser.add_argument("--repeats", type=int, default=3, help="epochs per measurement; the best counts")
    args = parser.parse_args()
    print(f"Augmentation throughput through BatchIterator ({os.cpu_count()} CPU cores, float32, "
          f"best of {args.repeats} epochs)\n")
    print_table(augmentation_throughput(args.workers, args.repeats))


if __name__ == "__main__":
    main()
