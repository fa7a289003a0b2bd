"""The input pre-processing that pretrained weights expect.

Weights are only as good as the inputs they are fed: VGG-16 converted from
Caffe (the Lasagne model zoo) wants BGR images on the 0-255 scale minus the
mean pixel; torchvision's wants RGB images scaled to [0, 1] and standardized
with the ImageNet mean and standard deviation. A :class:`Preprocessing`
object holds these numbers and turns ``uint8`` RGB images, as Pillow reads
them, into the network's ``float32`` NCHW input. The weight loaders of
:mod:`convnet.modelzoo` return the one that matches the file and attach it to
the network (``net.preprocessing``).

Examples
--------
>>> import numpy as np
>>> images = np.full((2, 4, 4, 3), 255, dtype=np.uint8)   # two white RGB images, NHWC
>>> Preprocessing.torchvision()(images).shape
(2, 3, 4, 4)
>>> Preprocessing.caffe()(images)[0, :, 0, 0].round(2)     # BGR minus the mean pixel
array([151.06, 138.22, 131.32], dtype=float32)
"""
import numpy as np

__all__ = ["Preprocessing", "CAFFE_VGG_MEAN_BGR", "IMAGENET_MEAN_RGB", "IMAGENET_STD_RGB"]

#: The mean pixel of the ImageNet training set that Caffe's VGG models (and
#: the Lasagne model zoo's ``vgg16.pkl``/``vgg19.pkl``, ``'mean value'``)
#: subtract, in BGR order on the 0-255 scale.
CAFFE_VGG_MEAN_BGR = (103.939, 116.779, 123.68)
#: torchvision's ImageNet mean, RGB, on the 0-1 scale.
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
#: torchvision's ImageNet standard deviation, RGB, on the 0-1 scale.
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)

_LAYOUTS = ("HWC", "NHWC", "NCHW")


class Preprocessing:
    """Turns RGB images into a network's input: ``((scaled - mean) / std)``
    in the channel order of the weights.

    Applied to images ``x`` (RGB, any dtype, usually ``uint8`` 0-255), the
    output is ``(reorder(x * scale) - mean) / std`` as ``float32`` NCHW, where
    ``reorder`` reverses the channels for ``channel_order='BGR'``.

    Parameters
    ----------
    channel_order : {'RGB', 'BGR'}
        The channel order the weights were trained with. Inputs are RGB;
        ``'BGR'`` reverses them.
    scale : float
        Multiplies the pixel values first (``1 / 255`` maps 0-255 to 0-1).
    mean : sequence of float
        Subtracted per channel after scaling, in ``channel_order``.
    std : sequence of float
        Divides per channel after subtracting the mean, in ``channel_order``.

    Raises
    ------
    ValueError
        For an unknown channel order, or ``mean`` and ``std`` of different
        lengths or ``std`` with a non-positive entry.

    Examples
    --------
    >>> import numpy as np
    >>> p = Preprocessing('RGB', scale=1 / 255, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    >>> p(np.array([[[0, 255, 255]]], dtype=np.uint8))[0, :, 0, 0]   # one HWC pixel
    array([-1.,  1.,  1.], dtype=float32)
    """

    def __init__(self, channel_order="RGB", scale=1.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)):
        if channel_order not in ("RGB", "BGR"):
            raise ValueError(f"Preprocessing: channel_order must be 'RGB' or 'BGR', got {channel_order!r}")
        mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        std = np.asarray(std, dtype=np.float64).reshape(-1)
        if mean.shape != std.shape:
            raise ValueError(f"Preprocessing: mean has {mean.size} channels but std has {std.size}")
        if np.any(std <= 0):
            raise ValueError(f"Preprocessing: std must be positive, got {std.tolist()}")
        self.channel_order = channel_order
        self.scale = float(scale)
        self.mean = mean
        self.std = std

    @classmethod
    def caffe(cls, mean=CAFFE_VGG_MEAN_BGR):
        """Caffe's convention (the Lasagne model zoo's VGG pickles): BGR on
        the 0-255 scale, minus the mean pixel ``mean`` (BGR).

        >>> Preprocessing.caffe()
        Preprocessing(channel_order='BGR', scale=1.0, mean=[103.939, 116.779, 123.68], std=[1.0, 1.0, 1.0])
        """
        return cls("BGR", 1.0, mean, np.ones(len(mean)))

    @classmethod
    def torchvision(cls):
        """torchvision's convention: RGB scaled to [0, 1], standardized with
        the ImageNet mean and standard deviation.

        >>> Preprocessing.torchvision().channel_order
        'RGB'
        """
        return cls("RGB", 1 / 255, IMAGENET_MEAN_RGB, IMAGENET_STD_RGB)

    @property
    def num_channels(self):
        """The number of channels the images must have."""
        return self.mean.size

    def __repr__(self):
        mean = [round(float(m), 6) for m in self.mean]
        std = [round(float(s), 6) for s in self.std]
        return f"Preprocessing(channel_order={self.channel_order!r}, scale={self.scale!r}, mean={mean}, std={std})"

    def __eq__(self, other):
        return (isinstance(other, Preprocessing) and self.channel_order == other.channel_order
                and self.scale == other.scale and np.array_equal(self.mean, other.mean)
                and np.array_equal(self.std, other.std))

    def _as_nchw(self, images, layout):
        """``images`` as an NCHW array, with the layout given or inferred."""
        c = self.num_channels
        if layout is None:
            if images.ndim == 3:
                layout = "HWC"
            elif images.ndim == 4 and images.shape[3] == c and images.shape[1] != c:
                layout = "NHWC"
            elif images.ndim == 4 and images.shape[1] == c and images.shape[3] != c:
                layout = "NCHW"
            else:
                raise ValueError(f"Preprocessing: cannot tell the layout of images of shape {images.shape} "
                                 f"({c} channels); pass layout='HWC', 'NHWC' or 'NCHW'")
        if layout not in _LAYOUTS:
            raise ValueError(f"Preprocessing: layout must be one of {_LAYOUTS}, got {layout!r}")
        if images.ndim != len(layout):
            raise ValueError(f"Preprocessing: layout {layout!r} needs {len(layout)}-dimensional images, "
                             f"got shape {images.shape}")
        if layout == "HWC":
            images = images[np.newaxis]
        if layout != "NCHW":
            images = images.transpose(0, 3, 1, 2)
        if images.shape[1] != c:
            raise ValueError(f"Preprocessing: expected {c} channels (RGB), got images of shape {images.shape} "
                             f"in layout {layout!r}")
        return images

    def __call__(self, images, layout=None):
        """Pre-process RGB images for the network.

        Parameters
        ----------
        images : array_like
            RGB images: one ``(rows, columns, channels)`` image, or a batch
            ``(images, rows, columns, channels)`` or ``(images, channels,
            rows, columns)``.
        layout : {None, 'HWC', 'NHWC', 'NCHW'}
            The layout of ``images``; None infers it from the shape (from
            the position of the axis of size 3) and raises when both fit.

        Returns
        -------
        numpy.ndarray
            ``float32`` images ``(images, channels, rows, columns)``; a
            single HWC image becomes a batch of one.
        """
        x = self._as_nchw(np.asarray(images), layout).astype(np.float32) * np.float32(self.scale)
        if self.channel_order == "BGR":
            x = x[:, ::-1]
        mean = self.mean.astype(np.float32)[:, None, None]
        std = self.std.astype(np.float32)[:, None, None]
        return (x - mean) / std
