"""Plots for looking at a network: learning curves, convolution filters,
feature maps and occlusion sensitivity.

These functions need matplotlib (``pip install convnet-lasagne[plot]``), which is
imported only when one is called. Each returns the
:class:`matplotlib.figure.Figure` it drew. They compose: :func:`plot_loss`
draws into a given ``ax=``, and the plots made of a grid of images fill a
given ``fig=`` (a figure or a sub-figure from ``fig.subfigures()``);
without them a new figure is made with ``matplotlib.pyplot`` (so
``plt.show()`` shows it, and ``fig.savefig(...)`` saves it). Every image of
values comes with a colour bar whose scale is labelled.

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import matplotlib.pyplot as plt
>>> import numpy as np
>>> from convnet.layers import InputLayer, Conv2DLayer
>>> from convnet.visualize import plot_conv_weights, plot_conv_activity
>>> conv = Conv2DLayer(InputLayer((None, 3, 12, 12)), num_filters=4, filter_size=3, name='conv1')
>>> fig = plt.figure(figsize=(10, 5))
>>> left, right = fig.subfigures(1, 2)
>>> _ = plot_conv_weights(conv, fig=left)  # RGB filters in colour
>>> _ = plot_conv_activity(conv, np.zeros((1, 3, 12, 12), 'float32'), fig=right, mode='FAST_COMPILE')
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


def _figure(fig, figsize):
    """``fig``, or a new pyplot figure of ``figsize``."""
    return _pyplot().figure(figsize=figsize) if fig is None else fig


def _grid(fig, count, extra_rows=0):
    """A square-ish grid of at least ``count`` axes without ticks in ``fig``,
    plus ``extra_rows`` rows on top; the 2-D array of axes."""
    columns = int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns)) + extra_rows
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return axes


def _symmetric_limit(values):
    """The largest magnitude in ``values`` (1 when all are 0): a colour scale
    from -limit to +limit keeps 0 at its middle."""
    return float(np.max(np.abs(values))) or 1.0


def _show_image(ax, image, **kwargs):
    """Draw a ``(channels, rows, columns)`` input image: RGB for 3 channels
    (stretched to [0, 1]), else its first channel in grey."""
    if image.shape[0] == 3:
        low, high = image.min(), image.max()
        return ax.imshow(np.transpose((image - low) / (high - low or 1), (1, 2, 0)), **kwargs)
    return ax.imshow(image[0], cmap="gray", **kwargs)


def _single_image(x):
    x = np.asarray(x, dtype=pytensor.config.floatX)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or len(x) != 1:
        raise ValueError(f"expected one image shaped (channels, rows, columns) or (1, channels, rows, columns), "
                         f"got shape {x.shape}")
    return x


def plot_loss(net, ax=None, figsize=(6, 4), accuracy=True, best="valid_loss"):
    """Plot the training and validation loss of each epoch, the validation
    accuracy on a second axis, and mark the best epoch.

    Parameters
    ----------
    net : NeuralNet
        A trained net (its ``train_history_``).
    ax : matplotlib.axes.Axes, optional
        The axes to draw into; default a new figure's.
    figsize : tuple, optional
        The size in inches of a new figure.
    accuracy : bool, optional
        Also plot ``valid_accuracy`` (in %, right axis), when recorded.
    best : str or None, optional
        The ``train_history_`` key whose lowest value marks the best epoch
        (a dotted line and a dot, with the epoch in the legend), or None;
        ``"train_loss"`` is used when ``best`` is not recorded.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> # fig = plot_loss(net); fig.savefig('loss.png')
    >>> # fig, (left, right) = plt.subplots(1, 2); plot_loss(net_a, ax=left); plot_loss(net_b, ax=right)
    """
    history = net.train_history_
    if not history:
        raise ValueError("plot_loss needs a trained net: its train_history_ is empty")
    if ax is None:
        _, ax = _pyplot().subplots(figsize=figsize)
    epochs = [entry["epoch"] for entry in history]
    lines = []
    for key, label, colour in (("train_loss", "train loss", "tab:blue"), ("valid_loss", "valid loss", "tab:orange")):
        if key in history[-1]:
            lines += ax.plot(epochs, [entry[key] for entry in history], color=colour, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if best is not None:
        key = best if best in history[-1] else "train_loss"
        values = [entry[key] for entry in history]
        index = int(np.nanargmin(values))
        ax.axvline(epochs[index], color="0.4", linestyle=":", linewidth=1)
        lines += ax.plot([epochs[index]], [values[index]], "o", color="tab:red",
                         label=f"best {key.replace('_', ' ')} (epoch {epochs[index]})")
    if accuracy and "valid_accuracy" in history[-1]:
        right = ax.twinx()
        lines += right.plot(epochs, [100 * entry["valid_accuracy"] for entry in history], color="tab:green",
                            linestyle="--", label="valid accuracy")
        right.set_ylabel("valid accuracy (%)")
    # above the plot, where no curve of either axis runs through it
    ax.legend(handles=lines, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    ax.grid(True, alpha=0.3)
    return ax.figure


def plot_conv_weights(layer, channel=None, fig=None, figsize=(6, 6)):
    """Show the filters of a 2-D convolution layer, one tile each, with a
    colour bar of the weights' scale.

    Filters over 3 input channels (a first layer on RGB images) are shown in
    colour: each channel is mapped linearly, 0 to mid-grey, the largest
    magnitude of all filters to 0 or full intensity. Other filters are shown
    one input channel at a time on a blue-white-red scale centred on 0.

    Parameters
    ----------
    layer : Layer
        A layer with a 4-D weight ``W``, ``(filters, channels, rows, columns)``,
        such as :class:`~convnet.layers.Conv2DLayer`.
    channel : int, optional
        The input channel to show; default all three in colour when there
        are three, else channel 0.
    fig : matplotlib.figure.Figure or SubFigure, optional
        The figure to fill; default a new one.
    figsize : tuple, optional
        The size in inches of a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> # plot_conv_weights(net.layers_['conv1'])
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    W = getattr(layer, "W", None)
    if W is None or W.ndim != 4:
        raise ValueError(f"{layer!r} has no 4-D weight W (filters, channels, rows, columns) to show")
    weights = W.get_value()
    if channel is not None and not 0 <= channel < weights.shape[1]:
        raise ValueError(f"channel {channel} does not exist: {layer!r} has {weights.shape[1]} input channels")
    colour = channel is None and weights.shape[1] == 3
    weights = weights if colour else weights[:, channel or 0]
    limit = _symmetric_limit(weights)
    fig = _figure(fig, figsize)
    axes = _grid(fig, len(weights))
    for ax, weight in zip(axes.flat, weights):
        if colour:
            ax.imshow(np.transpose(0.5 + weight / (2 * limit), (1, 2, 0)), interpolation="nearest")
        else:
            ax.imshow(weight, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    scale = ScalarMappable(Normalize(-limit, limit), cmap="gray" if colour else "RdBu_r")
    fig.colorbar(scale, ax=axes.ravel().tolist(), shrink=0.8,
                 label="weight (each of R, G, B)" if colour else "weight")
    fig.suptitle(f"{layer.name or type(layer).__name__}: "
                 + ("RGB filters" if colour else f"filters of input channel {channel or 0}"))
    return _root(fig)


def _root(fig):
    """The figure a (sub-)figure belongs to."""
    return getattr(fig, "figure", None) or fig


def plot_conv_activity(layer, x, fig=None, figsize=(6, 8), mode=None):
    """Show the input image and the feature maps a layer computes from it,
    all maps on one scale, with its colour bar.

    Parameters
    ----------
    layer : Layer
        A layer with a 4-D output (``(batch, maps, rows, columns)``) in a
        network with one input layer.
    x : numpy.ndarray
        One image, ``(channels, rows, columns)`` or ``(1, channels, rows, columns)``.
    fig : matplotlib.figure.Figure or SubFigure, optional
        The figure to fill; default a new one.
    figsize : tuple, optional
        The size in inches of a new figure.
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
    x = _single_image(x)
    inputs = [l for l in get_all_layers(layer) if isinstance(l, InputLayer)]
    if len(inputs) != 1:
        raise ValueError(f"{layer!r} must lie in a network with one input layer, found {len(inputs)}")
    activity = pytensor.function([inputs[0].input_var], get_output(layer, deterministic=True), mode=mode)(x)
    if activity.ndim != 4:
        raise ValueError(f"{layer!r} outputs {activity.ndim}-D arrays; feature maps need 4-D "
                         "(batch, maps, rows, columns)")
    maps = activity[0]
    low, high = float(maps.min()), float(maps.max())
    fig = _figure(fig, figsize)
    axes = _grid(fig, len(maps), extra_rows=1)
    _show_image(axes[0, 0], x[0], interpolation="nearest")
    axes[0, 0].set_title("input")
    image = None
    for ax, feature_map in zip(axes[1:].flat, maps):
        image = ax.imshow(feature_map, cmap="magma", vmin=low, vmax=high if high > low else low + 1,
                          interpolation="nearest")
    fig.colorbar(image, ax=axes[1:].ravel().tolist(), shrink=0.8, label="activation")
    fig.suptitle(f"feature maps of {layer.name or type(layer).__name__}")
    return _root(fig)


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


def _grey(image):
    """A ``(channels, rows, columns)`` image as grey levels in [0, 1]."""
    grey = image.mean(axis=0)
    low, high = grey.min(), grey.max()
    return (grey - low) / (high - low or 1)


def plot_occlusion(net, X, y, square_length=7, fig=None, figsize=None):
    """Plot occlusion heat maps (see :func:`occlusion_heatmap`): for each
    image, the image, the map of the class probability when occluded (with
    its colour bar), and the image in grey with the regions whose occlusion
    lowers the probability in red, opaque in proportion to the drop.

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
    fig : matplotlib.figure.Figure or SubFigure, optional
        The figure to fill; default a new one.
    figsize : tuple, optional
        The size in inches of a new figure; by default 3 inches per image row.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> # plot_occlusion(net, X_test[:3], y_test[:3])
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    X = np.asarray(X, dtype=pytensor.config.floatX)
    if X.ndim != 4 or len(X) != len(y):
        raise ValueError(f"expected images (images, channels, rows, columns) and one label each, "
                         f"got X of shape {X.shape} and {len(y)} labels")
    fig = _figure(fig, figsize or (10, 3 * len(X)))
    axes = fig.subplots(len(X), 3, squeeze=False)
    red = np.array([0.85, 0.1, 0.1])
    for row, image, label in zip(axes, X, y):
        heat = occlusion_heatmap(net, image, label, square_length)
        unoccluded = net.predict_proba(image[None])[0, np.flatnonzero(net.classes_ == label)[0]]
        drop = np.clip(unoccluded - heat, 0, None) / (unoccluded or 1)
        _show_image(row[0], image, interpolation="nearest")
        row[0].set_title(f"image (class {label})")
        mapped = row[1].imshow(heat, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        fig.colorbar(mapped, ax=row[1], shrink=0.9, label=f"P({label}) when occluded")
        row[1].set_title(f"P({label}) = {unoccluded:.2f} unoccluded")
        overlay = np.empty(heat.shape + (4,))
        overlay[..., :3] = red
        overlay[..., 3] = 0.85 * drop
        row[2].imshow(_grey(image), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        row[2].imshow(overlay, interpolation="nearest")
        fig.colorbar(ScalarMappable(Normalize(0, 100), cmap=_red_ramp()), ax=row[2], shrink=0.9,
                     label="drop in probability (%)")
        row[2].set_title("where occlusion hurts")
        for ax in row:
            ax.axis("off")
    return _root(fig)


def _red_ramp():
    """White to the overlay's red: the colour bar of the overlay's opacity."""
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("occlusion_drop", [(1, 1, 1), (0.85 * 0.85 + 0.15, 0.235, 0.235)])
