"""convnet.visualize: every plot renders to PNG; occlusion maps find what matters."""
import io
import sys
from types import SimpleNamespace

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from convnet import visualize  # noqa: E402
from convnet.estimator import NeuralNet  # noqa: E402
from convnet.layers import Conv2DLayer, DenseLayer, InputLayer  # noqa: E402
from convnet.nonlinearities import softmax  # noqa: E402

MODE = "FAST_COMPILE"


def render(fig):
    """The figure as PNG bytes (and closed)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def top_left_detector():
    """A 6x6-image classifier whose class 0 depends only on the top-left 2x2
    pixels: occluding them moves the probability from class 0 to class 1."""
    net = NeuralNet(DenseLayer(InputLayer((None, 1, 6, 6)), num_units=2, nonlinearity=softmax, name="output"),
                    mode=MODE, update_learning_rate=0.1)
    weights = np.zeros((36, 2), np.float32)
    weights[[0, 1, 6, 7], 0] = 5.0
    return net.load_params_from({"output.W": weights, "output.b": np.array([0.0, 2.0], np.float32)})


def colourbar_labels(fig):
    """The labels of the colour bars in ``fig``."""
    return [ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>"]


def trained_net(max_epochs=4):
    net = NeuralNet(DenseLayer(InputLayer((None, 2)), 2, nonlinearity=softmax), update_learning_rate=0.1,
                    max_epochs=max_epochs, mode=MODE, random_state=0)
    X = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
    return net.fit(X, (X[:, 0] > 0).astype(np.int32))


def test_plot_loss_with_accuracy_and_the_best_epoch():
    net = trained_net()
    fig = visualize.plot_loss(net)
    left, right = fig.axes
    labels = [line.get_label() for line in left.get_lines()]
    assert labels[:2] == ["train loss", "valid loss"]
    losses = [entry["valid_loss"] for entry in net.train_history_]
    best = int(np.argmin(losses)) + 1
    assert f"best valid loss (epoch {best})" in labels
    marker = next(line for line in left.get_lines() if line.get_label().startswith("best"))
    assert marker.get_xdata()[0] == best and marker.get_ydata()[0] == min(losses)
    np.testing.assert_allclose(right.get_lines()[0].get_ydata(),
                               [100 * entry["valid_accuracy"] for entry in net.train_history_])
    assert right.get_ylabel() == "valid accuracy (%)"
    assert len(left.get_legend().get_texts()) == 4  # both axes' lines in one legend
    assert render(fig).startswith(b"\x89PNG")
    fig = visualize.plot_loss(net, accuracy=False, best=None)
    assert len(fig.axes) == 1 and len(fig.axes[0].get_lines()) == 2
    plt.close(fig)


def test_plot_loss_draws_into_a_given_axes():
    net = trained_net(2)
    fig, (a, b) = plt.subplots(1, 2)
    assert visualize.plot_loss(net, ax=b) is fig
    assert not a.get_lines() and b.get_lines()
    plt.close(fig)
    with pytest.raises(ValueError, match="train_history_ is empty"):
        visualize.plot_loss(NeuralNet(DenseLayer(InputLayer((None, 2)), 2), update_learning_rate=0.1).initialize())


def test_plot_conv_weights_grey_and_rgb():
    conv = Conv2DLayer(InputLayer((None, 1, 10, 10)), num_filters=5, filter_size=3, name="conv1")
    fig = visualize.plot_conv_weights(conv, figsize=(4, 4))
    images = [image for ax in fig.axes for image in ax.images]
    assert len(images) == 5
    limit = np.abs(conv.W.get_value()).max()
    assert images[0].get_clim() == (-limit, limit)  # one symmetric scale, 0 in the middle
    assert colourbar_labels(fig) == ["weight"]
    assert render(fig).startswith(b"\x89PNG")
    rgb = Conv2DLayer(InputLayer((None, 3, 10, 10)), num_filters=4, filter_size=3, name="rgb")
    fig = visualize.plot_conv_weights(rgb)
    arrays = [image.get_array() for ax in fig.axes for image in ax.images]
    assert len(arrays) == 4 and all(a.shape == (3, 3, 3) for a in arrays)
    W = rgb.W.get_value()
    np.testing.assert_allclose(arrays[1], np.transpose(0.5 + W[1] / (2 * np.abs(W).max()), (1, 2, 0)))
    assert colourbar_labels(fig) == ["weight (each of R, G, B)"]
    assert render(fig).startswith(b"\x89PNG")
    fig = visualize.plot_conv_weights(rgb, channel=2)
    assert [ax.images[0].get_array().ndim for ax in fig.axes if ax.images] == [2] * 4
    plt.close(fig)
    with pytest.raises(ValueError, match="channel 3 does not exist"):
        visualize.plot_conv_weights(rgb, channel=3)
    with pytest.raises(ValueError, match="4-D weight"):
        visualize.plot_conv_weights(DenseLayer(InputLayer((None, 3)), 2))


def test_plot_conv_activity_fills_a_given_figure():
    conv = Conv2DLayer(InputLayer((None, 1, 10, 10)), num_filters=5, filter_size=3, name="conv1")
    x = np.random.default_rng(0).random((1, 10, 10)).astype(np.float32)
    fig = plt.figure(figsize=(8, 4))
    left, right = fig.subfigures(1, 2)
    assert visualize.plot_conv_activity(conv, x, fig=right, mode=MODE) is fig
    assert visualize.plot_conv_weights(conv, fig=left) is fig
    images = [image for ax in right.axes for image in ax.images]
    assert len(images) == 6  # the input and 5 maps
    clims = {image.get_clim() for image in images[1:]}
    assert len(clims) == 1  # all maps on one scale
    assert sorted(colourbar_labels(fig)) == ["activation", "weight"]
    assert render(fig).startswith(b"\x89PNG")


def test_occlusion_heatmap_finds_the_pixels_that_matter():
    net = top_left_detector()
    image = np.ones((1, 6, 6), np.float32)
    heat = visualize.occlusion_heatmap(net, image, target=0, square_length=3)
    assert heat.shape == (6, 6)
    unoccluded = net.predict_proba(image[None])[0, 0]
    far = heat[3:, 3:]
    np.testing.assert_allclose(far, unoccluded, rtol=1e-5)
    assert heat[0, 0] < unoccluded - 0.5 and heat.argmin() == 0
    with pytest.raises(ValueError, match="odd"):
        visualize.occlusion_heatmap(net, image, target=0, square_length=4)
    with pytest.raises(ValueError, match="not one of the net's classes"):
        visualize.occlusion_heatmap(net, image, target=7)


def test_plot_occlusion():
    images = np.ones((2, 1, 6, 6), np.float32)
    net = top_left_detector()
    fig = visualize.plot_occlusion(net, images, [0, 1], square_length=3)
    assert len([ax for ax in fig.axes if ax.get_label() != "<colorbar>"]) == 6
    assert colourbar_labels(fig) == ["P(0) when occluded", "drop in probability (%)",
                                     "P(1) when occluded", "drop in probability (%)"]
    # the overlay is red where occluding lowers P(0) (the top-left corner) and clear elsewhere
    overlay = fig.axes[2].images[1].get_array()
    assert overlay[0, 0, 3] > 0.5 and overlay[5, 5, 3] == 0
    assert tuple(overlay[0, 0, :3]) == pytest.approx((0.85, 0.1, 0.1))
    assert render(fig).startswith(b"\x89PNG")


def test_clear_message_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install convnet-lasagne\[plot\]"):
        visualize.plot_loss(SimpleNamespace(train_history_=[{"epoch": 1, "train_loss": 1.0}]))
