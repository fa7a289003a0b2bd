"""The CIFAR residual networks of He et al.: depth, shapes, parameter count,
both shortcut options, and a training step."""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from convnet import objectives, updates
from convnet.layers import (BatchNormLayer, Conv2DLayer, DenseLayer, ElemwiseSumLayer, count_params, get_all_params,
                            get_output)
from convnet.modelzoo import NetworkDict, resnet_cifar


def test_resnet20_has_twenty_weight_layers_and_the_published_size():
    net = resnet_cifar(3)
    assert isinstance(net, NetworkDict)
    weight_layers = [l for l in net.values() if isinstance(l, (Conv2DLayer, DenseLayer))]
    assert len(weight_layers) == 6 * 3 + 2
    assert count_params(net["prob"], trainable=True) == 269_722  # "0.27M" in He et al.'s table 6
    assert sum(isinstance(l, ElemwiseSumLayer) for l in net.values()) == 9
    assert all(l.b is None for l in net.values() if isinstance(l, Conv2DLayer))  # batch norm's beta instead


def test_resnet_stages_halve_the_size_and_double_the_filters():
    net = resnet_cifar(2, num_classes=100)
    assert net["conv1_bn_nonlin"].output_shape == (None, 16, 32, 32)
    assert net["stage1_block2_relu"].output_shape == (None, 16, 32, 32)
    assert net["stage2_block1_relu"].output_shape == (None, 32, 16, 16)
    assert net["stage3_block2_relu"].output_shape == (None, 64, 8, 8)
    assert list(net)[-3:] == ["global_pool", "fc", "prob"]
    assert net["prob"].output_shape == (None, 100)


def test_option_a_shortcut_subsamples_and_pads_channels_with_zeros():
    net = resnet_cifar(1, shortcut="A")
    shortcut = net["stage2_block1_shortcut_pad"]
    x = pt.tensor4("x")
    f = pytensor.function([x], get_output(shortcut, {net["stage1_block1_relu"]: x}), mode="FAST_COMPILE")
    values = np.random.default_rng(0).random((2, 16, 32, 32)).astype(x.dtype)
    out = f(values)
    assert out.shape == (2, 32, 16, 16)
    np.testing.assert_array_equal(out[:, 8:24], values[:, :, ::2, ::2])
    assert not out[:, :8].any() and not out[:, 24:].any()


def test_option_b_projects_with_a_batch_normalized_strided_convolution():
    net = resnet_cifar(3, shortcut="B")
    projection = net["stage2_block1_shortcut"]
    assert isinstance(projection, Conv2DLayer) and projection.filter_size == (1, 1) and projection.stride == (2, 2)
    assert isinstance(net["stage2_block1_shortcut_bn"], BatchNormLayer)
    assert "stage2_block2_shortcut" not in net  # identity where the shape stays
    # the two projections: 16*32 and 32*64 weights, each with batch-norm's beta and gamma
    assert count_params(net["prob"], trainable=True) == 269_722 + 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64


def test_resnet_trains_a_step():
    net = resnet_cifar(1, num_classes=4, input_shape=(None, 3, 16, 16))
    y = pt.ivector("y")
    loss = objectives.categorical_crossentropy(get_output(net["prob"]), y).mean()
    params = get_all_params(net["prob"], trainable=True)
    train = pytensor.function([net["input"].input_var, y], loss, mode="FAST_COMPILE",
                              updates=updates.nesterov_momentum(loss, params, learning_rate=0.05))
    rng = np.random.default_rng(0)
    X = rng.random((8, 3, 16, 16)).astype(pytensor.config.floatX)
    labels = rng.integers(0, 4, 8).astype(np.int32)
    running_mean = net["conv1_bn"].mean.get_value()
    losses = [float(train(X, labels)) for _ in range(3)]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    assert not np.array_equal(net["conv1_bn"].mean.get_value(), running_mean)  # batch norm's averages move


@pytest.mark.parametrize("kwargs, message", [
    (dict(n=0), "n \\(residual blocks per stage\\) must be a positive integer"),
    (dict(n=3, shortcut="C"), "shortcut must be one of \\('A', 'B'\\)"),
    (dict(n=1, input_shape=(None, 3, 32)), "Conv2DLayer 'conv1'"),
])
def test_resnet_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        resnet_cifar(**kwargs)
