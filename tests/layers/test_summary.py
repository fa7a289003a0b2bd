"""Tests of convnet.layers.summary: rows, parameter counts, receptive fields."""
import numpy as np
import pytest

from convnet.layers import (BatchNormLayer, ConcatLayer, Conv2DLayer, DenseLayer, DilatedConv2DLayer,
                            GlobalPoolLayer, InputLayer, LocallyConnected2DLayer, Pool2DLayer,
                            TransformerLayer, TransposedConv2DLayer,
                            Upscale2DLayer, count_params, summary)


def receptive_field_by_gradient(l_in, l_out, shape):
    """The receptive field of the centre output, measured: the extent of the
    input pixels whose change changes it (a NumPy-free reference: the
    symbolic gradient's support)."""
    import pytensor
    from convnet.layers import get_output
    out = get_output(l_out, deterministic=True)
    centre = tuple(s // 2 for s in l_out.output_shape[2:])
    grad = pytensor.grad(out[0, 0][centre], l_in.input_var)
    g = pytensor.function([l_in.input_var], grad, mode="FAST_COMPILE")(
        np.random.default_rng(0).random(shape).astype("float32") + 0.5)
    rows, cols = np.nonzero(np.abs(g[0]).sum(axis=0))
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def test_rows_counts_and_text():
    l_in = InputLayer((None, 3, 16, 16), name="input")
    l_conv = Conv2DLayer(l_in, 4, 3, name="conv")
    l_bn = BatchNormLayer(l_conv, name="bn")
    l_out = DenseLayer(GlobalPoolLayer(l_bn), 5, name="output")
    table = summary(l_out)
    assert [row.name for row in table] == ["input", "conv", "bn", "layer3", "output"]
    assert [row.type for row in table][1:3] == ["Conv2DLayer", "BatchNormLayer"]
    assert table.rows[1].params == 4 * 3 * 9 + 4
    assert table.total_params == count_params(l_out)
    assert table.trainable_params == count_params(l_out, trainable=True)
    assert table.non_trainable_params == 8  # batch norm's mean and inv_std
    assert table.rows[1].output_shape == (None, 4, 14, 14)
    text = str(table)
    assert text.splitlines()[0].split() == ["name", "type", "output", "shape", "params", "receptive", "field"]
    assert f"total parameters: {table.total_params:,}" in text
    assert "(None, 4, 14, 14)" in text and "all" in text


def conv(incoming, filters, size, **kwargs):
    """A linear convolution: no ReLU to zero the gradient of some pixels."""
    return Conv2DLayer(incoming, filters, size, nonlinearity=None, **kwargs)


@pytest.mark.parametrize("build", [
    lambda l: Pool2DLayer(conv(conv(l, 2, 3), 2, 3, stride=2), 2, mode="average_inc_pad"),
    lambda l: DilatedConv2DLayer(conv(l, 2, 5, pad="same"), 2, 3, dilation=2, nonlinearity=None),
    lambda l: conv(Pool2DLayer(conv(l, 2, (3, 5)), (2, 3), mode="average_inc_pad"), 2, 3),
    lambda l: LocallyConnected2DLayer(conv(l, 2, 3, stride=2), 2, (3, 5), nonlinearity=None),
])
def test_receptive_field_matches_the_gradient_support(build):
    shape = (1, 1, 40, 40)
    l_in = InputLayer(shape)
    l_out = build(l_in)
    assert summary(l_out).rows[-1].receptive_field == receptive_field_by_gradient(l_in, l_out, shape)


def test_receptive_field_of_merges_upscaling_and_dense_layers():
    l_in = InputLayer((None, 1, 16, 16))
    a = Conv2DLayer(l_in, 1, 3, pad="same")
    b = Conv2DLayer(l_in, 1, 5, pad="same")
    merged = ConcatLayer([a, b])
    up = Upscale2DLayer(merged, 2)
    out = Conv2DLayer(up, 1, 3, pad="same")
    fields = [row.receptive_field for row in summary(out)]
    assert fields[3] == (5, 5)      # the widest input of the merge
    assert fields[-1] == (6, 6)     # 5 + (3 - 1) * 1/2 after a factor-2 upscaling
    assert summary(DenseLayer(InputLayer((None, 4)), 2)).rows[0].receptive_field is None
    transposed = TransposedConv2DLayer(l_in, 1, 4, stride=2)
    assert summary(transposed).rows[-1].receptive_field == (2, 2)
    warped = TransformerLayer(a, InputLayer((None, 6)))
    assert summary(warped).rows[-1].receptive_field == "all"


def test_net_verbose_prints_the_summary(capsys):
    from convnet.estimator import NeuralNet
    from convnet.nonlinearities import softmax
    NeuralNet([("input", InputLayer), ("output", DenseLayer)], input_shape=(None, 4), output_num_units=3,
              output_nonlinearity=softmax, update_learning_rate=0.1, verbose=1).initialize()
    out = capsys.readouterr().out
    assert "receptive field" in out and "total parameters: 15" in out
