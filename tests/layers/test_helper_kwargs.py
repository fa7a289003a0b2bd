"""get_output warns about keyword arguments no layer reads, as Lasagne did."""
import warnings

import pytest

from convnet.layers import BatchNormLayer, DenseLayer, DropoutLayer, InputLayer, Layer, get_output


def test_unused_keyword_warns_with_a_suggestion():
    net = DenseLayer(DropoutLayer(InputLayer((None, 3))), 2)
    with pytest.warns(UserWarning, match=r"unused kwargs:\n\tdeterminstic \(perhaps you meant deterministic\)"):
        get_output(net, determinstic=True)


def test_keywords_a_layer_names_or_lists_do_not_warn():
    class Custom(Layer):
        def __init__(self, incoming):
            super().__init__(incoming)
            self.get_output_kwargs = ["scale"]

        def get_output_for(self, input, **kwargs):
            return input * kwargs.get("scale", 1)

    net = Custom(BatchNormLayer(InputLayer((None, 3))))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        get_output(net, deterministic=True, batch_norm_use_averages=False, scale=2)
