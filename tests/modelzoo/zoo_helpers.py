"""Builders of weight files in the real formats (written here independently
of convnet.modelzoo's readers) and of torchvision's VGG in plain torch.nn."""
import io
import pickle
import struct

import numpy as np
import pytest

from convnet.layers import get_all_param_values
from convnet.modelzoo import vgg16

# Small enough for a test: VGG-16 at 1/16 width (4 to 32 filters, 256 units).
WIDTH = 1 / 16

# torchvision.models.vgg's configurations, as torchvision writes them.
TORCHVISION_CFGS = {
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}

SYNSET_WORDS = ["n01440764 tench, Tinca tinca", "n01443537 goldfish, Carassius auratus"]
MEAN_VALUE_BGR = np.array([103.939, 116.779, 123.68])


def small_vgg16(num_classes=2, size=32, channels=3, head="dense"):
    return vgg16(num_classes=num_classes, input_shape=(None, channels, size, size), head=head,
                 width_multiplier=WIDTH)


class Python2Pickler(pickle._Pickler):
    """Pickles as Python 2 did: ``str`` and ``bytes`` as Python 2 byte strings
    (BINSTRING), so that Python 3 reads them only with ``encoding='latin1'``;
    NumPy's reconstructor under its Python 2 module name."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str


def write_lasagne_pickle(path, param_values, synset_words=SYNSET_WORDS, mean_value=MEAN_VALUE_BGR):
    """A Lasagne model-zoo pickle (``vgg16.pkl``'s layout), as Python 2 wrote it."""
    model = {"param values": list(param_values), "synset words": list(synset_words), "mean value": mean_value}
    buffer = io.BytesIO()
    Python2Pickler(buffer, protocol=2).dump(model)
    path.write_bytes(buffer.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))


def lasagne_param_values(net, seed=0):
    """Random values for ``net``'s parameters in get_all_params order."""
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 0.1, v.shape).astype(np.float32) for v in get_all_param_values(net.output_layer)]


def torch_vgg(depth, width_multiplier, num_classes, pool5_size):
    """torchvision's VGG (features, avgpool, classifier) at a reduced width,
    its adaptive pooling at ``pool5_size`` (7 in torchvision, for 224x224)."""
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class VGG(nn.Module):
        def __init__(self):
            super().__init__()
            layers, channels = [], 3
            for v in TORCHVISION_CFGS[depth]:
                if v == "M":
                    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                else:
                    width = max(1, round(v * width_multiplier))
                    layers += [nn.Conv2d(channels, width, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                    channels = width
            units = max(1, round(4096 * width_multiplier))
            self.features = nn.Sequential(*layers)
            self.avgpool = nn.AdaptiveAvgPool2d((pool5_size, pool5_size))
            self.classifier = nn.Sequential(
                nn.Linear(channels * pool5_size * pool5_size, units), nn.ReLU(True), nn.Dropout(),
                nn.Linear(units, units), nn.ReLU(True), nn.Dropout(),
                nn.Linear(units, num_classes),
            )

        def forward(self, x):
            x = self.avgpool(self.features(x))
            return self.classifier(torch.flatten(x, 1))

    torch.manual_seed(0)
    return VGG().eval()


def predict(layers, X):
    """The deterministic outputs of one layer or a list of layers (of one or
    several networks with one input layer each) for ``X``, from a single
    function compiled in FAST_COMPILE."""
    import pytensor
    import pytensor.tensor as pt

    from convnet.layers import get_output

    X = np.asarray(X, dtype=pytensor.config.floatX)
    X_var = pt.tensor("X", dtype=X.dtype, shape=(None,) * X.ndim)
    outputs = [get_output(layer, X_var, deterministic=True) for layer in np.atleast_1d(layers)]
    values = pytensor.function([X_var], outputs, mode="FAST_COMPILE")(X)
    return values if isinstance(layers, (list, tuple)) else values[0]
