"""Plots for looking at a network: learning curves, convolution filters,
feature maps and occlusion sensitivity.

These functions need matplotlib (``pip install convnet-lasagne[plot]``), which is
imported only when one is called. Each returns the
:class:`matplotlib.figure.Figure` it drew, made with ``matplotlib.pyplot``
(so ``plt.show()`` shows it, and ``fig.savefig(...)`` saves it).

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import numpy as np
>>> from convnet.layers import InputLayer, Conv2DLayer
>>> from convnet.visualize import plot_conv_weights, plot_conv_activity
>>> conv = Conv2DLayer(InputLayer((None, 1, 12, 12)), num_filters=4, filter_size=3, name='conv1')
>>> fig = plot_conv_weights(conv)
>>> fig = plot_conv_activity(conv, np.zeros((1, 1, 12, 12), 'float32'), mode='FAST_COMPILE')
"""
import numpy as np
import pytensor

from .layers import InputLayer, get_all_layers, get_output

__all__ = ["plot_loss", "plot_conv_weights", "plot_conv_activity", "occlusion_heatmap", "plot_occlusion"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("convnet.visualize needs matplotlib: install it with "
                          "`pip install convnet-lasagne[plot]` (or `pip install matplotlib`)") from e
    return plt


def _grid(plt, count, figsize, extra_rows=0):
    """A figure with a square-ish grid of at least ``count`` axes, without ticks,
    plus ``extra_rows`` rows on top; returns the figure and the 2-D array of axes."""
    columns = int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns)) + extra_rows
    fig, axes = plt.subplots(rows, columns, figsize=figsize, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes


def _show_image(ax, image, **kwargs):
    """Draw a ``(channels, rows, columns)`` image: RGB for 3 channels, else
    the first channel in grey."""
    if image.shape[0] == 3:
        low, high = image.min(), image.max()
        ax.imshow(np.transpose((image - low) / (high - low or 1), (1, 2, 0)), **kwargs)
    else:
        ax.imshow(image[0], cmap="gray", **kwargs)


def _single_image(x):
    x = np.asarray(x, dtype=pytensor.config.floatX)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or len(x) != 1:
        raise ValueError(f"expected one image shaped (channels, rows, columns) or (1, channels, rows, columns), "
                         f"got shape {x.shape}")
    return x


def plot_loss(net, figsize=(6, 4)):
    """Plot the training and validation loss of each epoch.

    Parameters
    ----------
    net : NeuralNet
        A trained net (its ``train_history_``).
    figsize : tuple, optional
        The figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> # fig = plot_loss(net); fig.savefig('loss.png')
    """
    plt = _pyplot()
    history = net.train_history_
    fig, ax = plt.subplots(figsize=figsize)
    for key, label in (("train_loss", "train loss"), ("valid_loss", "valid loss")):
        entries = [entry for entry in history if key in entry]
        if entries:
            ax.plot([entry["epoch"] for entry in entries], [entry[key] for entry in entries], label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    return fig


def plot_conv_weights(layer, figsize=(6, 6), channel=0):
    """Show the filters of a 2-D convolution layer, one tile each.

    Parameters
    ----------
    layer : Layer
        A layer with a 4-D weight ``W``, ``(filters, channels, rows, columns)``,
        such as :class:`~convnet.layers.Conv2DLayer`.
    figsize : tuple, optional
        The figure size in inches.
    channel : int, optional
        The input channel whose weights are shown.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> # plot_conv_weights(net.layers_['conv1'])
    """
    plt = _pyplot()
    W = getattr(layer, "W", None)
    if W is None or W.ndim != 4:
        raise ValueError(f"{layer!r} has no 4-D weight W (filters, channels, rows, columns) to show")
    weights = W.get_value()[:, channel]
    fig, axes = _grid(plt, len(weights), figsize)
    for ax, weight in zip(axes.flat, weights):
        ax.imshow(weight, cmap="gray", interpolation="nearest")
    fig.suptitle(f"{layer!r}, input channel {channel}")
    return fig


def plot_conv_activity(layer, x, figsize=(6, 8), mode=None):
    """Show the input image and the feature maps a layer computes from it.

    Parameters
    ----------
    layer : Layer
        A layer with a 4-D output (``(batch, maps, rows, columns)``) in a
        network with one input layer.
    x : numpy.ndarray
        One image, ``(channels, rows, columns)`` or ``(1, channels, rows, columns)``.
    figsize : tuple, optional
        The figure size in inches.
    mode : str, optional
        PyTensor compilation mode of the function computing the maps (None:
        that of convnet's device, see :func:`convnet.config.get_mode`).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> # plot_conv_activity(net.layers_['conv1'], X[:1])
    """
    plt = _pyplot()
    x = _single_image(x)
    inputs = [l for l in get_all_layers(layer) if isinstance(l, InputLayer)]
    if len(inputs) != 1:
        raise ValueError(f"{layer!r} must lie in a network with one input layer, found {len(inputs)}")
    activity = pytensor.function([inputs[0].input_var], get_output(layer, deterministic=True), mode=mode)(x)
    if activity.ndim != 4:
        raise ValueError(f"{layer!r} outputs {activity.ndim}-D arrays; feature maps need 4-D "
                         "(batch, maps, rows, columns)")
    maps = activity[0]
    fig, axes = _grid(plt, len(maps), figsize, extra_rows=1)
    _show_image(axes[0, 0], x[0], interpolation="nearest")
    axes[0, 0].set_title("input")
    for ax, feature_map in zip(axes[1:].flat, maps):
        ax.imshow(feature_map, cmap="gray", interpolation="nearest")
    fig.suptitle(f"activity of {layer!r}")
    return fig


def occlusion_heatmap(net, x, target, square_length=7):
    """How much each part of an image matters to a classifier (Zeiler and
    Fergus, 2014).

    For every pixel, a square of side ``square_length`` centred on it is set
    to 0 and the net's probability of the ``target`` class is computed; low
    values mark the regions the prediction depends on.

    Parameters
    ----------
    net : NeuralNet
        A trained classifier.
    x : numpy.ndarray
        One image, ``(channels, rows, columns)`` or ``(1, channels, rows, columns)``.
    target : label
        The class whose probability is mapped (one of ``net.classes_``).
    square_length : int, optional
        The side of the occluding square; odd.

    Returns
    -------
    numpy.ndarray
        ``(rows, columns)``: the probability of ``target`` with the square
        centred on each pixel.

    Examples
    --------
    >>> # heat = occlusion_heatmap(net, X_test[0], y_test[0]); heat.shape
    """
    if square_length < 1 or square_length % 2 == 0:
        raise ValueError(f"square_length must be a positive odd number, got {square_length}")
    columns_of_target = np.flatnonzero(net.classes_ == target)
    if len(columns_of_target) != 1:
        raise ValueError(f"target {target!r} is not one of the net's classes {net.classes_.tolist()}")
    image = _single_image(x)[0]
    _, rows, columns = image.shape
    half = square_length // 2
    heat = np.empty((rows, columns))
    for i in range(rows):
        occluded = np.repeat(image[None], columns, axis=0)
        for j in range(columns):
            occluded[j, :, max(i - half, 0):i + half + 1, max(j - half, 0):j + half + 1] = 0
        heat[i] = net.predict_proba(occluded)[:, columns_of_target[0]]
    return heat


def plot_occlusion(net, X, y, square_length=7, figsize=None):
    """Plot occlusion heat maps (see :func:`occlusion_heatmap`): for each
    image, the image, the map and the map over the image.

    Parameters
    ----------
    net : NeuralNet
        A trained classifier.
    X : numpy.ndarray
        Images, ``(images, channels, rows, columns)``.
    y : array_like
        Their true labels (the mapped classes).
    square_length : int, optional
        The side of the occluding square; odd.
    figsize : tuple, optional
        The figure size in inches; by default 3 inches per image row.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> # plot_occlusion(net, X_test[:3], y_test[:3])
    """
    plt = _pyplot()
    X = np.asarray(X, dtype=pytensor.config.floatX)
    if X.ndim != 4 or len(X) != len(y):
        raise ValueError(f"expected images (images, channels, rows, columns) and one label each, "
                         f"got X of shape {X.shape} and {len(y)} labels")
    fig, axes = plt.subplots(len(X), 3, figsize=figsize or (9, 3 * len(X)), squeeze=False)
    for row, image, label in zip(axes, X, y):
        heat = occlusion_heatmap(net, image, label, square_length)
        _show_image(row[0], image)
        row[0].set_title(f"image (class {label})")
        row[1].imshow(heat, cmap="viridis", vmin=0, vmax=1)
        row[1].set_title("probability when occluded")
        _show_image(row[2], image)
        row[2].imshow(heat, cmap="viridis", alpha=0.5, vmin=0, vmax=1)
        row[2].set_title("overlay")
        for ax in row:
            ax.axis("off")
    return fig
