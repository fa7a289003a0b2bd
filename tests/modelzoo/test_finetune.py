"""Fine-tuning helpers: a new head, frozen layers, two learning rates, and
dense layers turned into convolutions."""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from convnet import objectives, updates
from convnet.layers import (Conv2DLayer, DenseLayer, ExpressionLayer, GlobalPoolLayer, InputLayer, count_params,
                            get_all_params, get_output)
from convnet.modelzoo import (Preprocessing, fc_to_conv, freeze, load_weights, replace_head, resnet_cifar,
                              save_weights, softmax_over_channels, split_params)

from .zoo_helpers import predict, small_vgg16

rng = np.random.default_rng(0)


def images(n, size):
    return rng.random((n, 3, size, size)).astype(pytensor.config.floatX)


# --- replace_head --------------------------------------------------------------------


def test_replace_head_puts_global_pooling_and_a_new_classifier_on_pool5():
    net = small_vgg16(num_classes=1000)
    net.preprocessing = Preprocessing.caffe()
    net.class_names = ["a class"] * 1000
    new = replace_head(net, num_classes=3)
    assert list(new)[-5:] == ["conv5_3", "pool5", "global_pool", "fc8", "prob"]
    assert "fc6" not in new and "fc7_dropout" not in new
    assert isinstance(new["global_pool"], GlobalPoolLayer) and new["global_pool"].input_layer is new["pool5"]
    assert isinstance(new["fc8"], DenseLayer) and new["fc8"].W.get_value().shape == (32, 3)
    assert new["conv1_1"].W is net["conv1_1"].W  # the pretrained parameters are shared
    assert new.preprocessing is net.preprocessing and new.class_names is None
    assert new["input"].output_shape == (None, 3, None, None)


def test_replaced_head_takes_any_input_size():
    new = replace_head(small_vgg16(), num_classes=3)
    for size in (32, 64):
        prob = predict(new["prob"], images(2, size))
        assert prob.shape == (2, 3)
        np.testing.assert_allclose(prob.sum(axis=1), 1, rtol=1e-5)


def test_replace_head_on_an_output_layer_and_a_chosen_base():
    net = small_vgg16()
    output = replace_head(net["prob"], num_classes=4, base=net["conv5_3"], input_shape=(None, 3, 32, 32))
    assert output.output_shape == (None, 4)
    assert output.input_layer.input_layer.input_layer.name == "conv5_3"


def test_replace_head_of_a_resnet_keeps_its_blocks():
    net = resnet_cifar(1)
    new = replace_head(net, num_classes=100, classifier_name="fc")
    assert new["global_pool"].input_layer is new["stage3_block1_relu"]
    assert new["prob"].output_shape == (None, 100)


def test_replace_head_errors():
    net = small_vgg16()
    with pytest.raises(ValueError, match="no layer named 'conv9_9'"):
        replace_head(net, 2, base="conv9_9")
    with pytest.raises(ValueError, match=r"the kept layers \['prob'\]"):
        replace_head({"input": net["input"], "conv1_1": net["conv1_1"], "prob": net["conv1_2"]}, 2, base="prob")
    l_in = InputLayer((None, 3, 8, 8), name="input")
    with pytest.raises(ValueError, match="no DenseLayer or GlobalPoolLayer"):
        replace_head(Conv2DLayer(l_in, 4, 3, name="conv"), 2)


# --- freeze and split_params -------------------------------------------------------------


def test_freeze_up_to_a_layer_inclusive():
    net = small_vgg16()
    frozen = freeze(net, up_to="conv4_3")
    names = [f"conv{g}_{i}" for g, count in zip(range(1, 5), (2, 2, 3, 3)) for i in range(1, count + 1)]
    assert [p.name for p in frozen] == [f"{n}.{p}" for n in names for p in ("W", "b")]
    trainable = {p.name for p in get_all_params(net["prob"], trainable=True)}
    assert trainable == {f"{n}.{p}" for n in ("conv5_1", "conv5_2", "conv5_3", "fc6", "fc7", "fc8")
                         for p in ("W", "b")}
    assert len(get_all_params(net["prob"])) == 32  # frozen parameters are still parameters
    assert freeze(net, up_to="conv4_3") == []
    with pytest.raises(ValueError, match="no layer named 'conv6_1'"):
        freeze(net, up_to="conv6_1")


def test_split_params_into_pretrained_and_new_trainable_groups():
    net = replace_head(small_vgg16(), num_classes=3)
    freeze(net, up_to="conv1_2")
    pretrained, new = split_params(net, ["global_pool", "fc8", "prob"])
    assert [p.name for p in new] == ["fc8.W", "fc8.b"]
    assert [p.name for p in pretrained][:2] == ["conv2_1.W", "conv2_1.b"]
    assert len(pretrained) == 26 - 4
    assert split_params(net, "fc8") == (pretrained, new)
    with pytest.raises(ValueError, match="no layer named 'fc9'"):
        split_params(net, ["fc9"])


def test_two_learning_rates_pretrained_layers_step_a_tenth():
    # float64, so that the tiny steps of the first layers are exact enough to compare
    with pytensor.config.change_flags(floatX="float64"):
        net = small_vgg16(num_classes=2, head="global_pool")
        pretrained, new = split_params(net, ["fc8"])
        y = pt.ivector("y")
        loss = objectives.categorical_crossentropy(get_output(net["prob"]), y).mean()
        learning_rate = pytensor.shared(0.01)
        step = updates.nesterov_momentum(loss, new, learning_rate)
        step.update(updates.nesterov_momentum(loss, pretrained, 0.1 * learning_rate))
        # the outputs are computed before the updates are applied
        train_fn = pytensor.function([net["input"].input_var, y], pytensor.grad(loss, pretrained + new),
                                     updates=step, mode="FAST_COMPILE")
    before = [p.get_value() for p in pretrained + new]
    gradients = train_fn(rng.random((4, 3, 32, 32)), np.array([0, 1, 0, 1], dtype=np.int32))
    # the first Nesterov step from zero velocity is -(1 + momentum) * rate * gradient
    for param, old, gradient in zip(pretrained + new, before, gradients):
        rate = 0.01 if param in new else 0.001
        np.testing.assert_allclose(param.get_value() - old, -1.9 * rate * gradient, rtol=1e-6, atol=1e-15)


# --- fc_to_conv ----------------------------------------------------------------------------


@pytest.mark.parametrize("flip_filters", [False, True])
def test_fc_to_conv_gives_the_dense_outputs_at_the_original_size(flip_filters):
    net = small_vgg16(num_classes=5, size=64)  # pool5 is 2x2: fc6 becomes 2x2 filters
    conv_net = fc_to_conv(net, flip_filters=flip_filters)
    assert list(conv_net) == list(net)
    assert conv_net["fc6"].filter_size == (2, 2) and conv_net["fc7"].filter_size == (1, 1)
    assert conv_net["fc6"].flip_filters is flip_filters
    conv_fc8, conv_prob, fc8, prob = predict([conv_net["fc8"], conv_net["prob"], net["fc8"], net["prob"]],
                                             images(2, 64))
    assert conv_prob.shape == (2, 5, 1, 1)
    np.testing.assert_allclose(conv_fc8[:, :, 0, 0], fc8, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(conv_prob[:, :, 0, 0], prob, rtol=1e-4, atol=1e-6)


def test_fc_to_conv_slides_over_larger_images():
    conv_net = fc_to_conv(small_vgg16(num_classes=5, size=64))
    prob = predict(conv_net["prob"], images(1, 128))
    assert prob.shape == (1, 5, 3, 3)  # pool5 4x4, 2x2 windows: 3x3 positions
    np.testing.assert_allclose(prob.sum(axis=1), 1, rtol=1e-5)
    fixed = fc_to_conv(small_vgg16(num_classes=5, size=64), input_shape=(None, 3, 96, 96))
    assert fixed["prob"].output_shape == (None, 5, 2, 2)


def test_fc_to_conv_shares_the_parameters_and_their_files(tmp_path):
    net = small_vgg16(size=64)
    conv_net = fc_to_conv(net)
    assert count_params(conv_net["prob"]) == count_params(net["prob"])
    assert conv_net["fc6"].get_params() == [net["fc6"].W, net["fc6"].b]
    path = tmp_path / "dense.npz"
    save_weights(net, path)
    load_weights(conv_net, path)  # the same names and shapes
    freeze(net, up_to="fc6")
    assert conv_net["fc6"].get_params(trainable=True) == []  # the tags are shared too


def test_fc_to_conv_on_an_output_layer():
    net = small_vgg16(size=64)
    output = fc_to_conv(net["prob"], input_shape=(None, 3, 64, 64))
    assert output.output_shape == (None, 2, 1, 1)


def test_fc_to_conv_needs_dense_layers_on_feature_maps():
    with pytest.raises(ValueError, match="DenseLayer 'fc8'.*not a \\(batch, channels, rows, columns\\) feature map"):
        fc_to_conv(small_vgg16(head="global_pool"))
    l_in = InputLayer((None, 3, 8, 8), name="input")
    dense = DenseLayer(Conv2DLayer(l_in, 4, 3, name="conv"), 10, name="fc")
    with pytest.raises(ValueError, match="cannot convert ExpressionLayer 'double'"):
        fc_to_conv(ExpressionLayer(dense, lambda x: 2 * x, name="double"))


def test_softmax_over_channels_normalizes_every_position():
    x = pt.tensor4("x")
    values = rng.normal(size=(2, 4, 3, 3)).astype(x.dtype)
    p = softmax_over_channels(x).eval({x: values})
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    expected = np.exp(values) / np.exp(values).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(p, expected, rtol=1e-5)
