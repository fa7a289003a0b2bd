"""The three weight formats, read from files built here in the real layouts:
names, shapes, outputs against torch, and all-or-nothing errors."""
import sys

import numpy as np
import pytest

from convnet.layers import get_all_param_values, set_all_param_values
from convnet.modelzoo import Preprocessing, load_weights, read_weights, save_weights, vgg19
from convnet.modelzoo.preprocessing import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB

from .zoo_helpers import (MEAN_VALUE_BGR, SYNSET_WORDS, WIDTH, lasagne_param_values, predict, small_vgg16,
                         torch_vgg, write_lasagne_pickle)


def assert_params_equal(net, values):
    for got, expected in zip(get_all_param_values(net.output_layer), values, strict=True):
        np.testing.assert_array_equal(got, expected)


@pytest.fixture
def lasagne_file(tmp_path):
    """A Python 2 Lasagne pickle of a small VGG-16 (2 classes, 32x32) and its values."""
    values = lasagne_param_values(small_vgg16())
    path = tmp_path / "vgg16.pkl"
    write_lasagne_pickle(path, values)
    return path, values


@pytest.fixture
def torch_file(tmp_path):
    """torchvision's VGG-16 at 1/16 width for 64x64 inputs (pool5 is 2x2, so
    the flattening order of fc6 matters), saved with torch.save."""
    torch = pytest.importorskip("torch")
    model = torch_vgg(16, WIDTH, num_classes=3, pool5_size=2)
    path = tmp_path / "vgg16_torchvision.pth"
    torch.save(model.state_dict(), path)
    return path, model


# --- convnet's .npz ----------------------------------------------------------------


def test_npz_round_trip_by_layer_name(tmp_path):
    source = small_vgg16()
    path = tmp_path / "weights.npz"
    save_weights(source, path)
    target = small_vgg16()
    assert load_weights(target, path) is None  # .npz holds no pre-processing
    assert_params_equal(target, get_all_param_values(source.output_layer))
    with np.load(path) as archive:
        assert "conv1_1.W" in archive.files and "fc8.b" in archive.files


# --- Lasagne model-zoo pickles -------------------------------------------------------


def test_lasagne_pickle_needs_allow_pickle_and_says_why(lasagne_file):
    path, _ = lasagne_file
    net = small_vgg16()
    before = get_all_param_values(net.output_layer)
    with pytest.raises(ValueError, match="unpickling runs code stored in the file: pass allow_pickle=True"):
        load_weights(net, path)
    assert_params_equal(net, before)


def test_lasagne_pickle_loads_like_set_all_param_values(lasagne_file):
    path, values = lasagne_file
    net = small_vgg16()
    preprocessing = load_weights(net, path, allow_pickle=True)
    reference = small_vgg16()
    set_all_param_values(reference.output_layer, values)  # what Lasagne's recipes did
    assert_params_equal(net, get_all_param_values(reference.output_layer))
    assert preprocessing == Preprocessing.caffe(MEAN_VALUE_BGR)
    assert net.preprocessing is preprocessing
    assert net.class_names == SYNSET_WORDS


def test_lasagne_pickle_sets_caffe_preprocessing_bgr_minus_mean(lasagne_file):
    path, _ = lasagne_file
    net = small_vgg16()
    load_weights(net, path, allow_pickle=True)
    image = np.zeros((32, 32, 3), dtype=np.uint8)
    image[..., 0] = 200  # red
    X = net.preprocess(image)
    assert X.shape == (1, 3, 32, 32) and X.dtype == np.float32
    np.testing.assert_allclose(X[0, :, 5, 5], [0 - 103.939, 0 - 116.779, 200 - 123.68], rtol=1e-6)


def test_lasagne_pickle_of_vgg19_is_recognized_by_its_number_of_arrays(tmp_path):
    net = vgg19(num_classes=2, input_shape=(None, 3, 32, 32), width_multiplier=WIDTH)
    values = lasagne_param_values(net, seed=1)
    path = tmp_path / "vgg19.pkl"
    write_lasagne_pickle(path, values)
    load_weights(net, path, allow_pickle=True)
    assert_params_equal(net, values)


def test_lasagne_pickle_of_another_network_is_rejected(tmp_path):
    # read as positional arrays (Lasagne's order), which do not fit a VGG
    path = tmp_path / "other.pkl"
    write_lasagne_pickle(path, [np.zeros((3, 3), np.float32)] * 4)
    with pytest.raises(ValueError, match=r"other.pkl: set_all_param_values: the network has 32 parameters but 4"):
        load_weights(small_vgg16(), path, allow_pickle=True)


# --- torchvision state_dict ----------------------------------------------------------


def test_torchvision_state_dict_gives_torchs_outputs(torch_file):
    torch = pytest.importorskip("torch")
    path, model = torch_file
    net = small_vgg16(num_classes=3, size=64)
    assert load_weights(net, path) == Preprocessing.torchvision()
    W = model.state_dict()["classifier.0.weight"].numpy()
    np.testing.assert_array_equal(net["fc6"].W.get_value(), W.T)  # Linear (out, in) -> Dense (in, out)
    np.testing.assert_array_equal(net["conv1_1"].W.get_value(), model.state_dict()["features.0.weight"].numpy())
    X = np.random.default_rng(0).random((2, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        logits = model(torch.from_numpy(X)).numpy()
        features = model.features(torch.from_numpy(X)).numpy()
    pool5, fc8, prob = predict([net["pool5"], net["fc8"], net["prob"]], X)
    np.testing.assert_allclose(pool5, features, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fc8, logits, rtol=1e-4, atol=1e-6)
    probabilities = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    np.testing.assert_allclose(prob, probabilities, rtol=1e-4, atol=1e-6)


def test_torchvision_legacy_format_of_the_published_files(torch_file, tmp_path):
    """torchvision's published .pth files predate PyTorch 1.6's zip format."""
    torch = pytest.importorskip("torch")
    path, model = torch_file
    legacy = tmp_path / "vgg16-397923af.pth"
    torch.save(model.state_dict(), legacy, _use_new_zipfile_serialization=False)
    weights, expected = read_weights(legacy), read_weights(path)
    assert weights.format == "torchvision" and weights.preprocessing == Preprocessing.torchvision()
    assert list(weights.arrays) == list(expected.arrays)
    for key, value in expected.arrays.items():
        np.testing.assert_array_equal(weights.arrays[key], value)


def test_torchvision_preprocessing_is_imagenet_standardization(torch_file):
    path, _ = torch_file
    net = small_vgg16(num_classes=3, size=64)
    load_weights(net, path)
    images = np.random.default_rng(1).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    expected = (images.transpose(0, 3, 1, 2) / 255 - np.reshape(IMAGENET_MEAN_RGB, (3, 1, 1))) \
        / np.reshape(IMAGENET_STD_RGB, (3, 1, 1))
    np.testing.assert_allclose(net.preprocess(images), expected, rtol=1e-5, atol=1e-6)


def test_torchvision_weights_without_torch_say_what_is_missing(torch_file, monkeypatch):
    path, _ = torch_file
    monkeypatch.setitem(sys.modules, "torch", None)  # as if PyTorch were not installed
    with pytest.raises(ImportError, match="reading torchvision weights needs PyTorch"):
        load_weights(small_vgg16(num_classes=3, size=64), path)


def test_batch_normalized_torchvision_vgg_is_rejected_by_name(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "vgg16_bn.pth"
    torch.save({"features.0.weight": torch.zeros(4, 3, 3, 3), "features.1.running_mean": torch.zeros(4)}, path)
    with pytest.raises(ValueError, match=r"features\.1\.running_mean.*batch-normalized VGGs are not supported"):
        read_weights(path)


# --- mismatches change nothing ---------------------------------------------------------


@pytest.mark.parametrize("build, message", [
    (lambda: small_vgg16(num_classes=10), r"shape of fc8\.W: \(256, 2\) given, \(256, 10\) in the network"),
    (lambda: small_vgg16(channels=1), r"shape of conv1_1\.W: \(4, 3, 3, 3\) given, \(4, 1, 3, 3\) in the network"),
    (lambda: small_vgg16(size=64), r"shape of fc6\.W: \(32, 256\) given, \(128, 256\) in the network"),
])
@pytest.mark.parametrize("file_format", ["npz", "lasagne"])
def test_mismatch_names_the_layer_and_file_and_changes_nothing(tmp_path, build, message, file_format):
    source = small_vgg16()
    path = tmp_path / f"weights.{file_format}"
    if file_format == "npz":
        save_weights(source, path)
    else:
        write_lasagne_pickle(path, get_all_param_values(source.output_layer))
    net = build()
    before = get_all_param_values(net.output_layer)
    with pytest.raises(ValueError, match=message) as error:
        load_weights(net, path, allow_pickle=True)
    assert str(path) in str(error.value) and "nothing was loaded" in str(error.value)
    assert_params_equal(net, before)
    assert net.preprocessing is None


def test_torchvision_mismatch_changes_nothing(torch_file):
    path, _ = torch_file
    net = small_vgg16(num_classes=1000, size=64)
    before = get_all_param_values(net.output_layer)
    with pytest.raises(ValueError, match=r"shape of fc8\.W: \(256, 3\) given, \(256, 1000\) in the network"):
        load_weights(net, path)
    assert_params_equal(net, before)


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        load_weights(small_vgg16(), tmp_path / "nowhere.npz")


@pytest.mark.parametrize("file_format", ["npz", "lasagne", "torchvision"])
def test_truncated_file_is_reported_and_changes_nothing(tmp_path, file_format, request):
    net = small_vgg16()
    if file_format == "npz":
        path = tmp_path / "whole.npz"
        save_weights(net, path)
    else:
        path = request.getfixturevalue("lasagne_file" if file_format == "lasagne" else "torch_file")[0]
    truncated = tmp_path / f"truncated.{file_format}"
    data = path.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    before = get_all_param_values(net.output_layer)
    with pytest.raises(ValueError, match="truncated") as error:
        load_weights(net, truncated, allow_pickle=True)
    assert str(truncated) in str(error.value)
    assert_params_equal(net, before)


@pytest.mark.parametrize("content, message", [(b"", "the weights file is empty"),
                                               (b"GIF89a", "not a weights file")])
def test_empty_or_foreign_file_is_reported(tmp_path, content, message):
    path = tmp_path / "weights.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        load_weights(small_vgg16(), path)


# --- loading part of a file ---------------------------------------------------------------


def test_exclude_loads_the_convolutions_into_a_new_head(lasagne_file):
    path, values = lasagne_file
    net = small_vgg16(num_classes=5, size=64, head="global_pool")
    fc8_before = net["fc8"].W.get_value()
    load_weights(net, path, allow_pickle=True, exclude=["fc6", "fc7", "fc8"])
    np.testing.assert_array_equal(net["conv5_3"].W.get_value(), values[24])
    np.testing.assert_array_equal(net["fc8"].W.get_value(), fc8_before)
    assert net.class_names is None  # the new head has other classes
    assert net.preprocessing == Preprocessing.caffe(MEAN_VALUE_BGR)


def test_without_exclude_the_unexpected_layers_are_listed(lasagne_file):
    path, _ = lasagne_file
    net = small_vgg16(num_classes=5, head="global_pool")
    with pytest.raises(ValueError, match=r"unexpected: fc6\.W") as error:
        load_weights(net, path, allow_pickle=True)
    assert "shape of fc8.W" in str(error.value)


def test_read_weights_reports_format_and_converted_layouts(torch_file):
    path, model = torch_file
    weights = read_weights(path)
    assert weights.format == "torchvision"
    assert list(weights.arrays)[:3] == ["conv1_1.W", "conv1_1.b", "conv1_2.W"]
    assert weights.arrays["fc8.W"].shape == (256, 3)
    with pytest.raises(ValueError, match="unknown weights format 'caffe'"):
        read_weights(path, format="caffe")


def test_safetensors_weights_round_trip(tmp_path):
    from convnet.layers import get_all_param_values
    from convnet.modelzoo import load_weights, read_weights, save_weights, vgg16

    source = vgg16(num_classes=3, input_shape=(None, 3, 32, 32), width_multiplier=1 / 16)
    path = tmp_path / "small.safetensors"
    save_weights(source, path)
    weights = read_weights(path)
    assert weights.format == "safetensors" and list(weights.arrays)[:2] == ["conv1_1.W", "conv1_1.b"]
    target = vgg16(num_classes=3, input_shape=(None, 3, 32, 32), width_multiplier=1 / 16)
    assert load_weights(target, path) is None  # no pre-processing stored
    for a, b in zip(get_all_param_values(source["prob"]), get_all_param_values(target["prob"])):
        np.testing.assert_array_equal(a, b)
