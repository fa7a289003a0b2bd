"""A folder of images, one sub-folder per class, read in batches as training
goes instead of all at once.

:class:`ImageFolder` lists the images of ``root/<class>/`` (the classes are
the sub-folders' names, sorted) without opening them; its
:meth:`~ImageFolder.batch_iterator` is a
:class:`~convnet.augmentation.BatchIterator` over image indices whose
transform reads each batch's files (with Pillow, in the iterator's
background threads), resizes them, pre-processes and augments them. Only the
batches in flight are in memory.

Examples
--------
>>> from convnet.datasets import ImageFolder
>>> folder = ImageFolder("flowers/", image_size=256)  # doctest: +SKIP
>>> folder.class_names, len(folder)  # doctest: +SKIP
(('daisy', 'rose', 'tulip'), 2400)
>>> for Xb, yb in folder.batch_iterator(batch_size=32, shuffle=True, seed=0):  # doctest: +SKIP
...     pass  # Xb: float32 (32, 3, 256, 256) in [0, 1]; yb: int32 class indices
"""
from pathlib import Path

import numpy as np

from ..augmentation import BatchIterator
from .errors import DataFileError

__all__ = ["ImageFolder", "IMAGE_SUFFIXES"]

#: The file name suffixes (lower case) taken for images.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".ppm", ".tif", ".tiff", ".webp"})


class ImageFolder:
    """The images of ``root/<class>/``, listed; read on demand.

    Parameters
    ----------
    root : str or os.PathLike
        A folder with one sub-folder of images per class.
    image_size : int
        Images are resized so that their shorter side is ``image_size`` and
        centre-cropped to ``image_size x image_size`` (RGB).
    suffixes : iterable of str, optional
        The file suffixes of images (default :data:`IMAGE_SUFFIXES`); other
        files are ignored.

    Attributes
    ----------
    class_names : tuple of str
        The sub-folders' names, sorted: class ``i`` is ``class_names[i]``.
    files : list of pathlib.Path
        The images, class by class, each class's files sorted by name.
    labels : numpy.ndarray
        The class index of each file, ``int32``.

    Raises
    ------
    FileNotFoundError
        When ``root`` is not a directory.
    ValueError
        When ``root`` has no sub-folder, or a sub-folder has no images (it
        is named).
    """

    def __init__(self, root, image_size, suffixes=IMAGE_SUFFIXES):
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise FileNotFoundError(f"ImageFolder: {self.root} is not a directory")
        if not isinstance(image_size, (int, np.integer)) or image_size < 1:
            raise ValueError(f"ImageFolder: image_size must be a positive integer, got {image_size!r}")
        self.image_size = int(image_size)
        suffixes = {suffix.lower() for suffix in suffixes}
        class_dirs = sorted(d for d in self.root.iterdir() if d.is_dir())
        if not class_dirs:
            raise ValueError(f"ImageFolder: {self.root} has no sub-folders; it needs one per class")
        self.class_names = tuple(d.name for d in class_dirs)
        self.files, labels = [], []
        for label, class_dir in enumerate(class_dirs):
            files = sorted(f for f in class_dir.iterdir() if f.is_file() and f.suffix.lower() in suffixes)
            if not files:
                raise ValueError(f"ImageFolder: no images in {class_dir} (suffixes {sorted(suffixes)})")
            self.files += files
            labels += [label] * len(files)
        self.labels = np.array(labels, dtype=np.int32)

    def __len__(self):
        return len(self.files)

    def __repr__(self):
        return (f"ImageFolder({str(self.root)!r}, image_size={self.image_size}: {len(self)} images of "
                f"{len(self.class_names)} classes)")

    def load(self, indices):
        """The images ``indices`` as ``uint8`` RGB, ``(n, image_size, image_size, 3)``.

        Raises
        ------
        DataFileError
            When a file is not an image Pillow can read (it is named).
        """
        from PIL import Image, ImageOps, UnidentifiedImageError

        size = (self.image_size, self.image_size)
        images = np.empty((len(indices), *size, 3), dtype=np.uint8)
        for row, index in enumerate(np.asarray(indices, dtype=np.intp)):
            path = self.files[index]
            try:
                with Image.open(path) as image:
                    images[row] = np.asarray(ImageOps.fit(image.convert("RGB"), size, Image.BILINEAR))
            except (UnidentifiedImageError, OSError) as error:
                raise DataFileError(f"{path}: not a readable image ({error})") from error
        return images

    def batch_iterator(self, indices=None, batch_size=32, shuffle=False, transform=None, preprocess=None,
                       seed=None, workers=2, **kwargs):
        """A :class:`~convnet.augmentation.BatchIterator` of ``(Xb, yb)`` read from the files.

        Each batch's images are read with :meth:`load`, then turned into
        ``float32`` NCHW by ``preprocess`` (default: divided by 255, so in
        [0, 1]), then given to ``transform``.

        Parameters
        ----------
        indices : array_like of int, optional
            The images to iterate over (a training or validation part); default all.
        batch_size, shuffle, seed, workers
            As for :class:`~convnet.augmentation.BatchIterator`; ``workers``
            threads read and transform batches ahead of the consumer.
        transform : Transform or callable, optional
            ``transform(X, rng)``: augmentation of the pre-processed batch.
        preprocess : callable, optional
            ``preprocess(images)`` from uint8 ``(n, rows, columns, 3)`` RGB to
            float32 ``(n, channels, rows, columns)``, e.g. a
            :class:`~convnet.modelzoo.Preprocessing`.
        **kwargs
            More :class:`~convnet.augmentation.BatchIterator` arguments (``prefetch``, ``drop_last``).

        Returns
        -------
        BatchIterator
            Iterating it is one epoch; ``len()`` is its number of batches.
        """
        indices = np.arange(len(self)) if indices is None else np.asarray(indices, dtype=np.intp)
        if indices.ndim != 1 or (len(indices) and (indices.min() < 0 or indices.max() >= len(self))):
            raise ValueError(f"ImageFolder: indices must be a vector of image indices in [0, {len(self)})")
        return BatchIterator(indices, self.labels[indices], batch_size=batch_size, shuffle=shuffle,
                             transform=_ReadBatch(self, preprocess, transform), seed=seed, workers=workers,
                             **kwargs)


class _ReadBatch:
    """The transform of :meth:`ImageFolder.batch_iterator`: image indices in,
    pre-processed and augmented images out."""

    def __init__(self, folder, preprocess, transform):
        self.folder = folder
        self.preprocess = preprocess
        self.transform = transform

    def __call__(self, indices, rng):
        images = self.folder.load(indices)
        if self.preprocess is None:
            X = np.moveaxis(images, -1, 1).astype(np.float32) / np.float32(255)
        else:
            X = np.asarray(self.preprocess(images), dtype=np.float32)
        return X if self.transform is None else self.transform(X, rng)
