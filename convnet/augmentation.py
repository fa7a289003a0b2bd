"""Data augmentation on the fly: random transforms of image batches, and a
mini-batch iterator that applies them in background threads.

A transform is called as ``transform(X, rng)`` on a batch ``X`` of images in
NCHW layout, ``(images, channels, rows, columns)``, of dtype ``float32`` or
``float64``, with a :class:`numpy.random.Generator` ``rng``. It returns a new
array of the same dtype (the input is never modified) whose shape
:meth:`Transform.output_shape` gives in advance. Each image gets its own random
parameters. Transforms change images only: labels are left to the caller.

Geometric conventions (``RandomAffine``, crops, flips), for an image shown the
usual way, row 0 at the top (as ``matplotlib.pyplot.imshow`` does):

* sizes, paddings and translations are given as ``(rows, columns)`` pairs, the
  order of the array axes: ``(vertical, horizontal)``;
* a positive translation moves the content down and to the right;
* a positive rotation turns the content counter-clockwise, like
  ``np.rot90(X, k=1, axes=(2, 3))``;
* a positive shear angle tilts vertical lines counter-clockwise by that angle
  and keeps horizontal lines horizontal;
* a scale above 1 enlarges the content (zooms in).

Examples
--------
>>> import numpy as np
>>> from convnet.augmentation import BatchIterator, Compose, RandomCrop, RandomFlip
>>> X = np.random.default_rng(0).random((100, 3, 32, 32), dtype=np.float32)
>>> y = np.arange(100)
>>> augment = Compose([RandomCrop(32, padding=4), RandomFlip()])
>>> batches = BatchIterator(X, y, batch_size=32, shuffle=True, transform=augment, seed=0)
>>> len(batches)
4
>>> [Xb.shape[0] for Xb, yb in batches]
[32, 32, 32, 4]
"""
import copy
import itertools
import numbers
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .utils import as_tuple, int_types, settings_repr

__all__ = [
    "Transform",
    "Compose",
    "RandomAffine",
    "RandomCrop",
    "CenterCrop",
    "RandomFlip",
    "GaussianNoise",
    "PCAColor",
    "BatchIterator",
]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _nchw(input_shape, owner):
    """``input_shape`` as a 4-tuple, or a ValueError naming ``owner``."""
    shape = tuple(input_shape)
    if len(shape) != 4:
        raise ValueError(f"{owner!r} expects batches shaped (images, channels, rows, columns), "
                         f"got shape {shape}")
    return shape


def _int_at_least(value, name, minimum):
    if not isinstance(value, int_types) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _non_negative(value, name):
    if not isinstance(value, numbers.Real) or value < 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    return float(value)


def _size_pair(value, name, minimum):
    """An int or a (rows, columns) pair of ints, each at least ``minimum``."""
    pair = as_tuple(value, 2, int_types)
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return tuple(int(v) for v in pair)


def _ordered_pair(value, name):
    """A ``(low, high)`` pair of floats with ``low <= high``."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a (low, high) pair of numbers, got {value!r}") from None
    if low > high:
        raise ValueError(f"{name} must have low <= high, got {value!r}")
    return low, high


def _symmetric_range(value, name):
    """``a`` means ``(-a, a)``; a ``(low, high)`` pair is kept as it is."""
    if isinstance(value, numbers.Real):
        bound = _non_negative(value, name)
        return -bound, bound
    return _ordered_pair(value, name)


def _crop_output_shape(owner, input_shape, size, padding):
    """The shape of ``size`` crops of ``input_shape`` images padded by
    ``padding``, or a ValueError naming ``owner`` when they do not fit."""
    images, channels, rows, columns = _nchw(input_shape, owner)
    padded = (rows + 2 * padding[0], columns + 2 * padding[1])
    if size[0] > padded[0] or size[1] > padded[1]:
        where = f"{rows}x{columns} images"
        if padding != (0, 0):
            where += f" padded to {padded[0]}x{padded[1]}"
        raise ValueError(f"{owner!r} cannot cut a {size[0]}x{size[1]} crop from {where}")
    return (images, channels) + tuple(size)


def _crop(X, size, tops, lefts, fill):
    """Cut a ``size`` window from each image of ``X``, the i-th with its top
    left corner at ``(tops[i], lefts[i])`` (which may lie outside the image);
    the parts of a window outside its image are ``fill``."""
    height, width = size
    rows, columns = X.shape[2:]
    out = np.full(X.shape[:2] + (height, width), fill, dtype=X.dtype)
    for image, window, top, left in zip(X, out, tops, lefts):
        first_row, first_column = max(top, 0), max(left, 0)
        end_row = max(min(top + height, rows), first_row)
        end_column = max(min(left + width, columns), first_column)
        window[:, first_row - top:end_row - top, first_column - left:end_column - left] = (
            image[:, first_row:end_row, first_column:end_column])
    return out


class Transform:
    """Base class of the transforms: a random function of a batch of images.

    Calling ``transform(X, rng)`` checks that ``X`` is a 4-D ``float32`` or
    ``float64`` array whose shape the transform accepts, then returns
    :meth:`apply`'s result. To write a transform, subclass this class,
    implement :meth:`apply` and, if the transform changes the image size,
    :meth:`output_shape`. ``apply`` must draw all its randomness from ``rng``
    and must not change the transform's attributes: the
    :class:`BatchIterator`'s threads call one transform concurrently.

    Examples
    --------
    >>> import numpy as np
    >>> class Invert(Transform):
    ...     def apply(self, X, rng):
    ...         return 1 - X
    >>> Invert()(np.zeros((2, 1, 4, 4)), np.random.default_rng(0)).max()
    np.float64(1.0)
    """

    def __call__(self, X, rng):
        X = np.asarray(X)
        if X.ndim != 4:
            raise ValueError(f"{self!r} expects batches shaped (images, channels, rows, columns), "
                             f"got a {X.ndim}-D array")
        if X.dtype not in _FLOAT_DTYPES:
            raise TypeError(f"{self!r} expects float32 or float64 images, got {X.dtype}")
        expected = self.output_shape(X.shape)
        result = self.apply(X, rng)
        if not isinstance(result, np.ndarray) or result.shape != tuple(expected):
            got = f"shape {result.shape}" if isinstance(result, np.ndarray) else repr(type(result).__name__)
            raise ValueError(f"{self!r}.apply returned {got} for a batch of shape {X.shape}; its output_shape "
                             f"says {tuple(expected)}")
        return result

    def output_shape(self, input_shape):
        """The shape of the batch the transform makes from an ``input_shape`` batch.

        Parameters
        ----------
        input_shape : tuple of 4 ints
            ``(images, channels, rows, columns)``; ``images`` may be ``None``.

        Returns
        -------
        tuple of 4 ints

        Raises
        ------
        ValueError
            When the transform cannot make its output from such a batch.
        """
        return _nchw(input_shape, self)

    def apply(self, X, rng):
        """Transform the batch ``X`` (already checked) with randomness from ``rng``.

        Parameters
        ----------
        X : numpy.ndarray
            Images, shape ``(images, channels, rows, columns)``.
        rng : numpy.random.Generator
            The source of all random draws.

        Returns
        -------
        numpy.ndarray
            A new array of ``X``'s dtype and shape ``output_shape(X.shape)``.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement apply(X, rng)")

    def __repr__(self):
        settings = ", ".join(f"{name}={value!r}" for name, value in vars(self).items()
                             if not name.endswith("_"))
        return f"{type(self).__name__}({settings})"


class Compose(Transform):
    """Apply several transforms one after the other, with the same generator.

    Parameters
    ----------
    transforms : sequence of Transform
        Applied in order; at least one.

    Examples
    --------
    >>> augment = Compose([RandomCrop(24, padding=2), RandomFlip()])
    >>> augment.output_shape((None, 3, 28, 28))
    (None, 3, 24, 24)
    """

    def __init__(self, transforms):
        self.transforms = list(transforms)
        if not self.transforms:
            raise ValueError("Compose needs at least one transform")
        for transform in self.transforms:
            if not isinstance(transform, Transform):
                raise TypeError(f"Compose takes Transform instances, got {transform!r}")

    def output_shape(self, input_shape):
        shape = _nchw(input_shape, self)
        for transform in self.transforms:
            shape = transform.output_shape(shape)
        return shape

    def apply(self, X, rng):
        for transform in self.transforms:
            X = transform(X, rng)
        return X


class RandomAffine(Transform):
    """Random translation, rotation, scaling and shear of each image.

    Each image gets its own parameters, drawn uniformly from the given ranges.
    They are combined into one affine map about the image centre (scale, then
    shear, then rotate, then translate) and the image is resampled once with
    :func:`scipy.ndimage.affine_transform`. Pixels that come from outside the
    image are ``fill``. See the module docstring for the sign conventions.

    Every range is given either as a number ``a``, meaning ``(-a, a)``, or as
    a ``(low, high)`` pair; a pair with ``low == high`` fixes the value.

    Parameters
    ----------
    translate : number or pair, optional
        Range of the shift. One range for both axes, or a ``(rows, columns)``
        pair of ranges: ``translate=(2, 4)`` shifts by up to 2 rows and up to
        4 columns either way; ``translate=((3, 3), (0, 0))`` moves every image
        3 rows down. In pixels, or in fractions of the image height and width
        when ``translate_unit="fraction"``.
    rotate : number or pair, optional
        Range of the rotation angle, in degrees; positive is counter-clockwise.
    scale : pair, optional
        ``(low, high)`` range of the zoom factor, both positive; above 1
        enlarges the content.
    shear : number or pair, optional
        Range of the shear angle, in degrees, strictly between -90 and 90.
    fill : float, optional
        The value of pixels that come from outside the image.
    order : int, optional
        Spline interpolation order, 0 to 5 (0: nearest, 1: bilinear).
    translate_unit : {"pixels", "fraction"}, optional
        The unit of ``translate``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> turn = RandomAffine(rotate=(90, 90))
    >>> np.allclose(turn(X, np.random.default_rng(0)), np.rot90(X, k=1, axes=(2, 3)))
    True
    >>> shift = RandomAffine(translate=((1, 1), (0, 0)), fill=-1)
    >>> shift(X, np.random.default_rng(0))[0, 0, :2]
    array([[-1., -1., -1., -1.],
           [ 0.,  1.,  2.,  3.]])
    """

    def __init__(self, translate=0.0, rotate=0.0, scale=(1.0, 1.0), shear=0.0, fill=0.0, order=1,
                 translate_unit="pixels"):
        self.translate = tuple(_symmetric_range(axis_range, "translate")
                               for axis_range in as_tuple(translate, 2))
        self.rotate = _symmetric_range(rotate, "rotate")
        self.scale = _ordered_pair(scale, "scale")
        if self.scale[0] <= 0:
            raise ValueError(f"scale must be positive, got {scale!r}")
        self.shear = _symmetric_range(shear, "shear")
        if max(abs(angle) for angle in self.shear) >= 90:
            raise ValueError(f"shear must lie strictly between -90 and 90 degrees, got {shear!r}")
        self.fill = float(fill)
        if order not in range(6):
            raise ValueError(f"order must be an integer from 0 to 5, got {order!r}")
        self.order = int(order)
        if translate_unit not in ("pixels", "fraction"):
            raise ValueError(f'translate_unit must be "pixels" or "fraction", got {translate_unit!r}')
        self.translate_unit = translate_unit

    def _sample_maps(self, rng, images, rows, columns):
        """Draw the parameters of ``images`` images of ``rows`` x ``columns``
        pixels; return ``(matrices, offsets)``, shaped ``(images, 2, 2)`` and
        ``(images, 2)``: output pixel ``p`` of image ``i`` is read at input
        position ``matrices[i] @ p + offsets[i]``, as
        :func:`scipy.ndimage.affine_transform` expects."""
        angles = np.deg2rad(rng.uniform(*self.rotate, images))
        shears = np.tan(np.deg2rad(rng.uniform(*self.shear, images)))
        zooms = rng.uniform(*self.scale, images)
        shifts = np.stack([rng.uniform(*axis_range, images) for axis_range in self.translate], axis=1)
        if self.translate_unit == "fraction":
            shifts *= (rows, columns)
        cos, sin, zero, one = np.cos(angles), np.sin(angles), np.zeros(images), np.ones(images)
        rotation = np.stack([cos, -sin, sin, cos], axis=1).reshape(images, 2, 2)
        shearing = np.stack([one, zero, shears, one], axis=1).reshape(images, 2, 2)
        forward = rotation @ shearing * zooms[:, None, None]
        matrices = np.linalg.inv(forward)
        centre = np.array([(rows - 1) / 2, (columns - 1) / 2])
        offsets = centre - np.einsum("nij,nj->ni", matrices, centre + shifts)
        # Drop the rounding errors of sin and cos (cos(90°) is 6e-17, not 0):
        # maps that send pixels onto pixels, such as quarter turns, must not
        # read a border pixel a hair outside the image and get ``fill``.
        return matrices.round(12), offsets.round(12)

    def apply(self, X, rng):
        # Imported here: scipy.ndimage costs 0.3 s, and most scripts that import
        # this module (for crops and flips) never warp an image.
        from scipy import ndimage

        images, _, rows, columns = X.shape
        matrices, offsets = self._sample_maps(rng, images, rows, columns)
        out = np.empty_like(X)
        for image, result, matrix, offset in zip(X, out, matrices, offsets):
            for channel, result_channel in zip(image, result):
                ndimage.affine_transform(channel, matrix, offset, output=result_channel,
                                         order=self.order, mode="constant", cval=self.fill)
        return out


class RandomCrop(Transform):
    """Cut a window of fixed size at a random place of each (padded) image.

    Each image is padded with ``fill`` by ``padding`` pixels on every side and
    a ``size`` window is cut at a uniformly drawn position, every position
    that keeps the window inside the padded image being equally likely.

    Parameters
    ----------
    size : int or (rows, columns) pair of ints
        The output image size.
    padding : int or (rows, columns) pair of ints, optional
        Pixels added above and below, and left and right.
    fill : float, optional
        The value of the padding.

    Examples
    --------
    >>> import numpy as np
    >>> crop = RandomCrop(32, padding=4)
    >>> crop(np.zeros((8, 3, 32, 32), np.float32), np.random.default_rng(0)).shape
    (8, 3, 32, 32)
    """

    def __init__(self, size, padding=0, fill=0.0):
        self.size = _size_pair(size, "size", 1)
        self.padding = _size_pair(padding, "padding", 0)
        self.fill = float(fill)

    def output_shape(self, input_shape):
        return _crop_output_shape(self, input_shape, self.size, self.padding)

    def apply(self, X, rng):
        images, _, rows, columns = X.shape
        (pad_rows, pad_columns), (height, width) = self.padding, self.size
        tops = rng.integers(0, rows + 2 * pad_rows - height, images, endpoint=True) - pad_rows
        lefts = rng.integers(0, columns + 2 * pad_columns - width, images, endpoint=True) - pad_columns
        return _crop(X, self.size, tops, lefts, self.fill)


class CenterCrop(Transform):
    """Cut the central window of fixed size from each image (not random).

    When the margin is odd, the window is half a pixel nearer the top (left).

    Parameters
    ----------
    size : int or (rows, columns) pair of ints
        The output image size, at most the input size.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(25.0).reshape(1, 1, 5, 5)
    >>> CenterCrop(3)(X, np.random.default_rng(0))[0, 0]
    array([[ 6.,  7.,  8.],
           [11., 12., 13.],
           [16., 17., 18.]])
    """

    def __init__(self, size):
        self.size = _size_pair(size, "size", 1)

    def output_shape(self, input_shape):
        return _crop_output_shape(self, input_shape, self.size, (0, 0))

    def apply(self, X, rng):
        top = (X.shape[2] - self.size[0]) // 2
        left = (X.shape[3] - self.size[1]) // 2
        return X[:, :, top:top + self.size[0], left:left + self.size[1]].copy()


class RandomFlip(Transform):
    """Mirror each image with probability 1/2, left-right and/or upside down.

    The two flips are drawn independently for every image.

    Parameters
    ----------
    horizontal : bool, optional
        Reverse the columns (left-right mirror).
    vertical : bool, optional
        Reverse the rows (upside down).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.tile(np.arange(3.0), (4, 1, 1, 1))  # 4 images of 1 x 3 pixels
    >>> RandomFlip()(X, np.random.default_rng(0))[:, 0, 0]
    array([[0., 1., 2.],
           [2., 1., 0.],
           [2., 1., 0.],
           [2., 1., 0.]])
    """

    def __init__(self, horizontal=True, vertical=False):
        if not (horizontal or vertical):
            raise ValueError("RandomFlip needs horizontal=True or vertical=True")
        self.horizontal = bool(horizontal)
        self.vertical = bool(vertical)

    def apply(self, X, rng):
        out = X.copy()
        if self.horizontal:
            flipped = rng.random(len(X)) < 0.5
            out[flipped] = out[flipped, :, :, ::-1]
        if self.vertical:
            flipped = rng.random(len(X)) < 0.5
            out[flipped] = out[flipped, :, ::-1, :]
        return out


class GaussianNoise(Transform):
    """Add independent normal noise of standard deviation ``std`` to every value.

    Parameters
    ----------
    std : float
        Standard deviation of the noise, in the units of the pixel values.

    Examples
    --------
    >>> import numpy as np
    >>> noisy = GaussianNoise(0.1)(np.zeros((100, 3, 8, 8)), np.random.default_rng(0))
    >>> round(float(noisy.std()), 2)
    0.1
    """

    def __init__(self, std):
        self.std = _non_negative(std, "std")

    def apply(self, X, rng):
        noise = rng.standard_normal(X.shape, dtype=X.dtype)
        noise *= self.std
        noise += X
        return noise


class PCAColor(Transform):
    """Colour augmentation along the principal components of the pixel
    colours (Krizhevsky, Sutskever and Hinton, 2012).

    :meth:`fit` computes the covariance matrix of the pixel values over a
    training set, each pixel being a vector of its ``C`` channel values, and
    its eigenvalues ``λ`` (variances, in ascending order, as
    :func:`numpy.linalg.eigh` returns them) and unit eigenvectors ``V`` (the
    columns of a ``C``-by-``C`` matrix). Then, every time an image is
    transformed, ``α`` is drawn from ``N(0, std**2)`` (``C`` values, once per
    image) and ``V @ (α * λ)`` is added to every pixel of that image. So the
    noise of one image is the same at all its pixels, and over many draws has
    covariance ``V @ diag(λ**2 * std**2) @ V.T``. As ``λ`` are variances, the
    size of the noise grows with the square of the scale of the pixel values:
    fit on data scaled as the network will see it. ``std=0.1`` is the paper's
    value.

    Any number of channels from 2 up works; 1-channel images have no colour
    to change and are refused.

    Parameters
    ----------
    std : float, optional
        Standard deviation of ``α``.

    Attributes
    ----------
    mean_ : numpy.ndarray, shape (C,)
        Mean pixel of the training set.
    covariance_ : numpy.ndarray, shape (C, C)
        Sample covariance of the pixels (normalised by the number of pixels
        minus one, as :func:`numpy.cov` does by default).
    eigenvalues_ : numpy.ndarray, shape (C,)
        Eigenvalues of ``covariance_`` (rounding errors below 0 set to 0).
    eigenvectors_ : numpy.ndarray, shape (C, C)
        The matching unit eigenvectors, as columns.
    n_pixels_ : int
        The number of pixels ``fit`` saw.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((50, 3, 8, 8))
    >>> color = PCAColor(std=0.1).fit(X)
    >>> out = color(X[:2], np.random.default_rng(1))
    >>> shift = out - X[:2]
    >>> np.allclose(shift, shift[:, :, :1, :1])  # one colour shift per image
    True
    """

    def __init__(self, std=0.1):
        self.std = _non_negative(std, "std")

    def fit(self, X):
        """Compute the pixel covariance and its eigen-decomposition.

        Streaming: the data may come in chunks, and only a running mean and
        scatter matrix (sum of outer products of centred pixels) are kept, so
        the training set need not fit in memory. Chunks are merged exactly
        (Chan, Golub and LeVeque's pairwise update), so fitting chunk by chunk
        gives the same result as fitting all at once. Each chunk is converted
        to ``float64`` while it is processed.

        Parameters
        ----------
        X : numpy.ndarray or iterable of numpy.ndarray
            Images shaped ``(images, channels, rows, columns)``, or an
            iterable (a list, a generator) of such chunks with the same
            number of channels. Any real dtype.

        Returns
        -------
        PCAColor
            ``self``, fitted.
        """
        chunks = [X] if isinstance(X, np.ndarray) else X
        channels, count, mean, scatter = None, 0, 0.0, 0.0
        for chunk in chunks:
            chunk = np.asarray(chunk)
            if chunk.ndim != 4:
                raise ValueError(f"{self!r}.fit expects arrays shaped (images, channels, rows, columns) "
                                 f"or an iterable of them, got a {chunk.ndim}-D array")
            if channels is None:
                channels = self._check_channels(chunk.shape[1])
            elif chunk.shape[1] != channels:
                raise ValueError(f"{self!r}.fit got chunks with {channels} and {chunk.shape[1]} channels")
            pixels = np.moveaxis(chunk, 1, -1).reshape(-1, channels).astype(np.float64)
            chunk_mean = pixels.mean(axis=0)
            pixels -= chunk_mean
            total = count + len(pixels)
            delta = chunk_mean - mean
            mean = mean + delta * (len(pixels) / total)
            scatter = scatter + pixels.T @ pixels + np.outer(delta, delta) * (count * len(pixels) / total)
            count = total
        if count < 2:
            raise ValueError(f"{self!r}.fit needs at least 2 pixels, got {count}")
        self.mean_ = mean
        self.covariance_ = scatter / (count - 1)
        eigenvalues, self.eigenvectors_ = np.linalg.eigh(self.covariance_)
        self.eigenvalues_ = np.clip(eigenvalues, 0.0, None)
        self.n_pixels_ = count
        return self

    def _check_channels(self, channels):
        if channels < 2:
            raise ValueError(f"{self!r} needs images with at least 2 channels (colour), got {channels}")
        return channels

    def output_shape(self, input_shape):
        shape = _nchw(input_shape, self)
        self._check_channels(shape[1])
        if hasattr(self, "eigenvalues_") and shape[1] != len(self.eigenvalues_):
            raise ValueError(f"{self!r} was fitted on {len(self.eigenvalues_)}-channel images, "
                             f"got {shape[1]} channels")
        return shape

    def apply(self, X, rng):
        if not hasattr(self, "eigenvalues_"):
            raise RuntimeError(f"{self!r} is not fitted: call its fit(X_train) method first")
        alphas = rng.normal(0.0, self.std, (len(X), len(self.eigenvalues_)))
        shifts = (alphas * self.eigenvalues_) @ self.eigenvectors_.T
        return X + shifts.astype(X.dtype)[:, :, None, None]


def _checked_batch(result, X, transform, epoch, index):
    """``result`` of ``transform(X, rng)`` as an array of as many images as ``X``, with as many
    dimensions; else an error naming the transform and the batch (a wrong result would
    otherwise pair images with the wrong labels, or fail later far from its cause)."""
    where = f"transform {transform!r} (epoch {epoch}, batch {index})"
    if result is None:
        raise TypeError(f"{where} returned None instead of the batch; a callable transform must return "
                        "the transformed images (did it change X in place without returning it?)")
    try:
        array = np.asarray(result)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{where} returned {type(result).__name__}, not an array of images: {e}") from e
    # A batch of images keeps its dimensions; a batch of references (file
    # indices, as ImageFolder's reader gets) becomes images.
    ndim_changed = X.ndim > 1 and array.ndim != X.ndim
    if array.dtype.kind not in "fiub" or ndim_changed or array.ndim == 0 or len(array) != len(X):
        dimensions = f", with {X.ndim} dimensions" if X.ndim > 1 else ""
        raise ValueError(f"{where} returned {array.dtype} of shape {array.shape} for a batch of shape {X.shape}; "
                         f"it must return as many images as it gets ({len(X)}){dimensions}")
    return array


class BatchIterator:
    """Mini-batches of a data set, augmented in background threads.

    Each ``iter()`` is a new epoch, which yields ``(Xb, yb)`` pairs (``yb`` is
    ``None`` without ``y``) in order, the last one smaller unless
    ``drop_last``. With a ``transform``, ``Xb`` is ``transform(X[batch], rng)``
    and ``yb`` is ``y[batch]``, unchanged. ``workers`` threads prepare the
    batches: NumPy and SciPy release the GIL, so the augmentation overlaps the
    consumer's work (a compiled training step). While the consumer holds a
    batch, ``prefetch`` finished batches wait for it and each worker prepares
    another, so at most ``prefetch + workers`` batches are held in advance.

    Reproducible: batch ``b`` of epoch ``e`` is transformed with a generator
    seeded by ``numpy.random.SeedSequence(seed, spawn_key=(e, b))`` and epoch
    ``e`` is shuffled with one seeded by ``spawn_key=(e,)``, so the same seed
    gives the same stream whatever the number of workers.

    The threads are stopped when an epoch ends, when the consumer leaves the
    loop early (``break``) or when an exception occurs; an exception raised
    while preparing a batch is raised to the consumer when it reaches that
    batch.

    **Interface for estimators.** This is the object convnet's estimators
    take as ``batch_iterator_train`` and ``batch_iterator_test``:

    * ``bi(X, y=None)`` returns a copy of ``bi`` bound to that data, with the
      same settings. So ``bi`` may be built without data, as a template:
      ``BatchIterator(batch_size=128, transform=..., seed=0)``. Copies share
      the epoch counter and the seed of ``bi``: calling ``bi(X, y)`` once per
      epoch (as nolearn-style training loops do) gives every epoch its own
      shuffle and augmentation, exactly as iterating one bound copy would.
    * ``iter(bound)`` runs one epoch; ``len(bound)`` is its number of batches.

    Parameters
    ----------
    X : array_like, optional
        Samples along the first axis; NCHW images when a ``transform`` is given.
    y : array_like, optional
        Targets, as many as ``X``.
    batch_size : int, optional
    shuffle : bool, optional
        Visit the samples in a new random order every epoch.
    transform : Transform or callable, optional
        ``transform(Xb, rng)`` gives the augmented batch: an array with as
        many images and dimensions as ``Xb`` (anything else raises, naming the
        epoch and batch). When ``X`` is given, a :class:`Transform` checks
        here that it can handle its images.
    seed : int, optional
        Seed of the shuffles and transforms; ``None`` draws a fresh one.
    prefetch : int, optional
        The number of finished batches that may wait for the consumer.
    workers : int, optional
        Threads that prepare batches; 0 prepares each batch in the consumer's
        thread when it is requested (for debugging).
    drop_last : bool, optional
        Skip the last batch when it is smaller than ``batch_size``.

    Examples
    --------
    >>> import numpy as np
    >>> template = BatchIterator(batch_size=4, shuffle=True, transform=RandomFlip(), seed=0)
    >>> X, y = np.zeros((10, 1, 2, 2)), np.arange(10)
    >>> batches = template(X, y)
    >>> len(batches)
    3
    >>> sorted(np.concatenate([yb for Xb, yb in batches]).tolist()) == list(range(10))
    True
    """

    def __init__(self, X=None, y=None, batch_size=128, shuffle=False, transform=None, seed=None,
                 prefetch=2, workers=1, drop_last=False):
        self.batch_size = _int_at_least(batch_size, "batch_size", 1)
        self.shuffle = bool(shuffle)
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be a Transform or a callable f(X, rng), got {transform!r}")
        self.transform = transform
        self.seed = seed
        self.prefetch = _int_at_least(prefetch, "prefetch", 0)
        self.workers = _int_at_least(workers, "workers", 0)
        self.drop_last = bool(drop_last)
        self._entropy = np.random.SeedSequence(seed).entropy
        self._next_epoch = [0]  # a list, so that bound copies share it
        self._bind(X, y)

    def _bind(self, X, y):
        if X is None and y is not None:
            raise ValueError("BatchIterator got y without X")
        self.X = None if X is None else np.asarray(X)
        self.y = None if y is None else np.asarray(y)
        if self.y is not None and len(self.y) != len(self.X):
            raise ValueError(f"X and y differ in length: {len(self.X)} and {len(self.y)}")
        if self.X is not None and isinstance(self.transform, Transform):
            self.transform.output_shape((None,) + self.X.shape[1:])

    def restart(self, epoch=0, seed=None):
        """A copy of this iterator with an epoch counter of its own, at ``epoch``.

        Estimators train with such a copy, so the template they were given
        is never changed and two nets given one template do not share its
        epoch counter.

        Parameters
        ----------
        epoch : int, optional
            The epoch the copy's next ``iter()`` runs (its shuffle and
            augmentation): the number of epochs already trained, when
            training resumes.
        seed : int or sequence of int, optional
            A seed for the copy when this iterator was made with
            ``seed=None``; an iterator given a seed keeps its own.

        Examples
        --------
        >>> template = BatchIterator(np.arange(6), batch_size=3, shuffle=True, seed=0)
        >>> first = [b.tolist() for b, _ in template.restart()]
        >>> first == [b.tolist() for b, _ in template.restart()]
        True
        >>> first == [b.tolist() for b, _ in template.restart(epoch=1)]
        False
        """
        fresh = copy.copy(self)
        if seed is not None and self.seed is None:
            fresh._entropy = np.random.SeedSequence(seed).entropy
        fresh._next_epoch = [_int_at_least(epoch, "epoch", 0)]
        return fresh

    def __call__(self, X, y=None):
        """A copy of this iterator bound to ``X`` and ``y`` (see the class docstring)."""
        bound = copy.copy(self)
        bound._bind(X, y)
        return bound

    def __repr__(self):
        return settings_repr(self, skip=("X", "y"))

    def _require_data(self):
        if self.X is None:
            raise TypeError("this BatchIterator has no data: call it with the data, "
                            "batches = iterator(X, y), and iterate over the result")

    def __len__(self):
        self._require_data()
        if self.drop_last:
            return len(self.X) // self.batch_size
        return -(-len(self.X) // self.batch_size)

    def __iter__(self):
        self._require_data()
        epoch = self._next_epoch[0]
        self._next_epoch[0] += 1
        order = None
        if self.shuffle:
            order = self._generator(epoch).permutation(len(self.X))
        return self._epoch_batches(epoch, order)

    def _generator(self, *key):
        return np.random.default_rng(np.random.SeedSequence(self._entropy, spawn_key=key))

    def _batch(self, epoch, index, order):
        samples = slice(index * self.batch_size, (index + 1) * self.batch_size)
        if order is not None:
            samples = order[samples]
        Xb = self.X[samples]
        yb = None if self.y is None else self.y[samples]
        if self.transform is not None:
            Xb = _checked_batch(self.transform(Xb, self._generator(epoch, index)), Xb, self.transform, epoch, index)
        return Xb, yb

    def _epoch_batches(self, epoch, order):
        jobs = ((epoch, index, order) for index in range(len(self)))
        if self.workers == 0:
            for job in jobs:
                yield self._batch(*job)
            return
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="convnet-augment")
        try:
            pending = deque(pool.submit(self._batch, *job)
                            for job in itertools.islice(jobs, self.prefetch + self.workers))
            while pending:
                batch = pending.popleft().result()
                pending.extend(pool.submit(self._batch, *job) for job in itertools.islice(jobs, 1))
                yield batch
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
