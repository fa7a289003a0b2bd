"""Pre-processing objects: the conventions of the weights, image layouts and
the network's preprocess()."""
import numpy as np
import pytest

from convnet.modelzoo import CAFFE_VGG_MEAN_BGR, NetworkDict, Preprocessing

from .zoo_helpers import small_vgg16

rng = np.random.default_rng(0)
IMAGES_NHWC = rng.integers(0, 256, (2, 5, 6, 3), dtype=np.uint8)


def test_caffe_convention_reverses_channels_and_subtracts_the_mean_pixel():
    X = Preprocessing.caffe()(IMAGES_NHWC)
    expected = IMAGES_NHWC[..., ::-1].transpose(0, 3, 1, 2) - np.reshape(CAFFE_VGG_MEAN_BGR, (3, 1, 1))
    assert X.dtype == np.float32 and X.shape == (2, 3, 5, 6)
    np.testing.assert_allclose(X, expected, rtol=1e-6, atol=1e-4)


def test_layouts_give_the_same_batch():
    p = Preprocessing.torchvision()
    nhwc = p(IMAGES_NHWC)
    np.testing.assert_array_equal(p(IMAGES_NHWC.transpose(0, 3, 1, 2)), nhwc)
    np.testing.assert_array_equal(p(IMAGES_NHWC[1]), nhwc[1:])
    np.testing.assert_array_equal(p(IMAGES_NHWC.transpose(0, 3, 1, 2), layout="NCHW"), nhwc)


def test_ambiguous_and_wrong_layouts_are_errors():
    p = Preprocessing.caffe()
    with pytest.raises(ValueError, match="cannot tell the layout of images of shape \\(1, 3, 4, 3\\)"):
        p(np.zeros((1, 3, 4, 3), np.uint8))
    assert p(np.zeros((1, 3, 4, 3), np.uint8), layout="NHWC").shape == (1, 3, 3, 4)
    with pytest.raises(ValueError, match="expected 3 channels"):
        p(np.zeros((4, 4, 1), np.uint8))
    with pytest.raises(ValueError, match="layout must be one of"):
        p(IMAGES_NHWC, layout="CHW")
    with pytest.raises(ValueError, match="needs 3-dimensional images"):
        p(IMAGES_NHWC, layout="HWC")


def test_bad_parameters_are_errors():
    with pytest.raises(ValueError, match="channel_order must be 'RGB' or 'BGR'"):
        Preprocessing("GBR")
    with pytest.raises(ValueError, match="mean has 3 channels but std has 1"):
        Preprocessing(mean=(1, 2, 3), std=(1,))
    with pytest.raises(ValueError, match="std must be positive"):
        Preprocessing(std=(1, 0, 1))


def test_network_preprocess_needs_a_preprocessing():
    net = small_vgg16()
    with pytest.raises(ValueError, match="this network has no pre-processing"):
        net.preprocess(IMAGES_NHWC)
    net.preprocessing = Preprocessing.torchvision()
    np.testing.assert_array_equal(net.preprocess(IMAGES_NHWC), Preprocessing.torchvision()(IMAGES_NHWC))


def test_network_dict_is_an_ordered_dict_of_named_layers():
    net = small_vgg16()
    copy = NetworkDict(net.items(), preprocessing=Preprocessing.caffe())
    assert list(copy) == list(net) and copy.output_layer is net["prob"]
    assert copy.preprocessing == Preprocessing.caffe() != Preprocessing.torchvision()
