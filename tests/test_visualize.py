"""convnet.visualize: every plot renders to PNG; occlusion maps find what matters."""
import io
import sys

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


def test_plot_loss():
    net = NeuralNet(DenseLayer(InputLayer((None, 2)), 2, nonlinearity=softmax), update_learning_rate=0.1,
                    max_epochs=3, mode=MODE)
    X = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
    fig = visualize.plot_loss(net.fit(X, (X[:, 0] > 0).astype(np.int32)))
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["train loss", "valid loss"]
    assert len(fig.axes[0].get_lines()[1].get_xdata()) == 3
    assert render(fig).startswith(b"\x89PNG")


def test_plot_conv_weights_and_activity():
    conv = Conv2DLayer(InputLayer((None, 1, 10, 10)), num_filters=5, filter_size=3, name="conv1")
    fig = visualize.plot_conv_weights(conv, figsize=(4, 4))
    assert sum(len(ax.images) > 0 for ax in fig.axes) == 5
    assert render(fig).startswith(b"\x89PNG")
    x = np.random.default_rng(0).random((1, 10, 10)).astype(np.float32)
    fig = visualize.plot_conv_activity(conv, x, mode=MODE)
    assert sum(len(ax.images) > 0 for ax in fig.axes) == 6  # the input and 5 maps
    assert render(fig).startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="4-D weight"):
        visualize.plot_conv_weights(DenseLayer(InputLayer((None, 3)), 2))


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
    fig = visualize.plot_occlusion(top_left_detector(), images, [0, 1], square_length=3)
    assert len(fig.axes) == 6
    assert render(fig).startswith(b"\x89PNG")


def test_clear_message_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install convnet-lasagne\[plot\]"):
        visualize.plot_loss(None)
