"""How many images per second convnet.augmentation prepares.

Pushes synthetic batches through :class:`convnet.augmentation.BatchIterator`
with random affine maps, flips and (for colour images) PCA colour noise, with
1 and 2 worker threads, and prints a table. The consumer does nothing with the
batches, so the figures are the most the augmentation can feed a training loop.

Then it trains the MNIST ``cnn`` of ``examples/mnist.py`` for one epoch with
the example's ``--augment`` batches and one without (after a warm-up epoch that
JIT-compiles), and prints the time ratio: augmentation runs in background
threads, so the ratio shows how much of it is hidden behind the training.
Target: at most 1.10.

Usage::

    python benchmarks/bench_augment.py [--workers 1 2] [--repeats 3] [--no-epoch]
"""
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from convnet.augmentation import BatchIterator, Compose, PCAColor, RandomAffine, RandomFlip

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

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


def mnist_epoch_seconds(repeats):
    """Seconds of one MNIST cnn training epoch without and with augmentation
    (the best of ``repeats`` epochs each, alternating)."""
    sys.path.insert(0, str(EXAMPLES))
    import mnist  # noqa: E402  (examples/mnist.py)

    from convnet.datasets import load_mnist

    data = load_mnist()
    train_fn = mnist.compile_training_function(mnist.build_cnn(), learning_rate=0.1)
    plain = mnist.training_batches(data.X_train, data.y_train, 500, augment=False)
    augmented = mnist.training_batches(data.X_train, data.y_train, 500, augment=True)
    mnist.train_epoch(train_fn, plain, desc="warm-up")
    best = {"plain": float("inf"), "augmented": float("inf")}
    for _ in range(repeats):
        for key, batches in (("plain", plain), ("augmented", augmented)):
            start = time.perf_counter()
            mnist.train_epoch(train_fn, batches, desc=key)
            best[key] = min(best[key], time.perf_counter() - start)
    return best["plain"], best["augmented"], len(data.y_train)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="worker thread counts to measure (default: 1 2)")
    parser.add_argument("--repeats", type=int, default=3, help="epochs per measurement; the best counts")
    parser.add_argument("--no-epoch", action="store_true", help="skip the MNIST training-epoch comparison")
    args = parser.parse_args()
    print(f"Augmentation throughput through BatchIterator ({os.cpu_count()} CPU cores, float32, "
          f"best of {args.repeats} epochs)\n")
    print_table(augmentation_throughput(args.workers, args.repeats))
    if not args.no_epoch:
        plain, augmented, n_images = mnist_epoch_seconds(args.repeats)
        print(f"\nMNIST cnn epoch ({n_images} images, batch 500): {plain:.1f} s without augmentation, "
              f"{augmented:.1f} s with --augment: ratio {augmented / plain:.2f} (target <= 1.10)")


if __name__ == "__main__":
    main()
