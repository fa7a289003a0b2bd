"""VGG-16/19: the published parameter counts, the model-zoo layer names,
the heads and the width multiplier."""
import gc

import numpy as np
import pytensor
import pytest

from convnet.layers import Conv2DLayer, DenseLayer, count_params
from convnet.modelzoo import NetworkDict, vgg, vgg16, vgg19, vgg_weight_layer_names

from .zoo_helpers import WIDTH, predict, small_vgg16

LASAGNE_VGG16_NAMES = [
    "input", "conv1_1", "conv1_2", "pool1", "conv2_1", "conv2_2", "pool2", "conv3_1", "conv3_2", "conv3_3",
    "pool3", "conv4_1", "conv4_2", "conv4_3", "pool4", "conv5_1", "conv5_2", "conv5_3", "pool5",
    "fc6", "fc6_dropout", "fc7", "fc7_dropout", "fc8", "prob",
]


@pytest.mark.parametrize("builder, expected", [(vgg16, 138_357_544), (vgg19, 143_667_240)])
def test_full_size_parameter_counts_match_the_papers_networks(builder, expected):
    net = builder()  # allocates the real ~550 MB of float32 parameters
    assert count_params(net["prob"]) == expected
    assert net["prob"].output_shape == (None, 1000)
    assert net["pool5"].output_shape == (None, 512, 7, 7)
    del net
    gc.collect()


def test_vgg16_has_the_lasagne_model_zoo_names_in_order():
    net = small_vgg16()
    assert isinstance(net, NetworkDict)
    assert list(net) == LASAGNE_VGG16_NAMES
    assert all(layer.name == name for name, layer in net.items())
    assert net.output_layer is net["prob"]


def test_convolutions_correlate_and_keep_the_size():
    net = small_vgg16(size=64)
    convs = [layer for layer in net.values() if isinstance(layer, Conv2DLayer)]
    assert len(convs) == 13
    assert all(not c.flip_filters and c.filter_size == (3, 3) and c.pad_widths() == (1, 1) for c in convs)
    assert net["conv5_3"].output_shape == (None, 32, 4, 4)
    assert net["pool5"].output_shape == (None, 32, 2, 2)


def test_vgg19_has_sixteen_convolutions():
    net = vgg19(input_shape=(None, 3, 32, 32), width_multiplier=WIDTH)
    convs = [name for name, layer in net.items() if isinstance(layer, Conv2DLayer)]
    assert convs == vgg_weight_layer_names(19)[:-3]
    assert len(convs) == 16


def test_width_multiplier_scales_filters_and_dense_units():
    net = vgg16(num_classes=7, input_shape=(None, 3, 32, 32), width_multiplier=0.25)
    assert [net[f"conv{g}_1"].num_filters for g in range(1, 6)] == [16, 32, 64, 128, 128]
    assert net["fc6"].num_units == net["fc7"].num_units == 1024
    assert net["fc8"].num_units == 7  # the classes are not scaled


def test_global_pool_head_takes_the_mean_of_pool5():
    net = small_vgg16(num_classes=3, size=64, head="global_pool")
    assert list(net)[-4:] == ["pool5", "global_pool", "fc8", "prob"]
    assert net["fc8"].W.get_value().shape == (32, 3)


def test_conv_head_takes_any_size_and_shares_the_dense_parameters():
    net = small_vgg16(size=64, head="conv")
    assert net["input"].output_shape == (None, 3, None, None)
    assert net["fc6"].filter_size == (2, 2)
    assert count_params(net["prob"]) == count_params(small_vgg16(size=64)["prob"])
    X = np.random.default_rng(0).random((1, 3, 96, 96)).astype(pytensor.config.floatX)
    prob = predict(net["prob"], X)
    assert prob.shape == (1, 2, 2, 2)
    np.testing.assert_allclose(prob.sum(axis=1), 1, rtol=1e-5)


def test_dense_layers_flatten_pool5():
    net = small_vgg16(size=64)
    assert isinstance(net["fc6"], DenseLayer)
    assert net["fc6"].W.get_value().shape == (32 * 2 * 2, 256)


@pytest.mark.parametrize("kwargs, message", [
    (dict(depth=11), "unknown VGG depth 11"),
    (dict(head="mlp"), "unknown head 'mlp'"),
    (dict(width_multiplier=0), "width_multiplier must be a positive number"),
    (dict(input_shape=(None, 3, 16, 16)), "MaxPool2DLayer 'pool5'"),
    (dict(num_classes=0), "DenseLayer 'fc8'"),
])
def test_bad_arguments_raise_naming_the_problem(kwargs, message):
    arguments = {"depth": 16, "input_shape": (None, 3, 32, 32), "width_multiplier": WIDTH, **kwargs}
    with pytest.raises(ValueError, match=message):
        vgg(**arguments)
