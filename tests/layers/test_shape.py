import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from convnet.layers import (
    DimshuffleLayer,
    FlattenLayer,
    InputLayer,
    PadLayer,
    ReshapeLayer,
    SliceLayer,
    dimshuffle,
    flatten,
    get_output,
    pad,
    reshape,
)


def compile_output(layer, l_in):
    return pytensor.function([l_in.input_var], get_output(layer), mode="FAST_COMPILE")


def random_input(shape):
    return np.random.default_rng(0).standard_normal(shape).astype(pytensor.config.floatX)


@pytest.mark.parametrize(
    "input_shape, make_layer, expected_shape",
    [
        ((None, 4, 6), lambda l: ReshapeLayer(l, ([0], 3, -1)), (None, 3, 8)),
        ((None, 4, 6), lambda l: ReshapeLayer(l, ([0], [2], [1])), (None, 6, 4)),
        ((None, 4, 6), lambda l: ReshapeLayer(l, (-1, 2)), (None, 2)),
        ((2, 4, 6), lambda l: ReshapeLayer(l, (-1, 2)), (24, 2)),
        ((None, 4, None), lambda l: ReshapeLayer(l, ([0], 2, 2, [2])), (None, 2, 2, None)),
        ((None, 4, None), lambda l: ReshapeLayer(l, ([2], -1, [0])), (None, 4, None)),
        ((None, 3, 4, 5), lambda l: FlattenLayer(l), (None, 60)),
        ((None, 3, 4, 5), lambda l: FlattenLayer(l, outdim=3), (None, 3, 20)),
        ((2, 3, 4), lambda l: FlattenLayer(l, outdim=1), (24,)),
        ((None, 3, None), lambda l: FlattenLayer(l), (None, None)),
        ((None, 3, 1, 5), lambda l: DimshuffleLayer(l, (0, 3, "x", 1)), (None, 5, 1, 3)),
        ((None, 3, 4), lambda l: DimshuffleLayer(l, (2, 0, 1)), (4, None, 3)),
        ((None, 3, 4, 5), lambda l: PadLayer(l, 1), (None, 3, 6, 7)),
        ((None, 3, 4, 5), lambda l: PadLayer(l, [(2, 0)], val=1.5), (None, 3, 6, 5)),
        ((None, 3, 4), lambda l: PadLayer(l, [(0, 1), 2], batch_ndim=1), (None, 4, 8)),
        ((None, 3, 4), lambda l: SliceLayer(l, 1), (None, 3)),
        ((None, 3, 4), lambda l: SliceLayer(l, slice(None, None, -2), axis=1), (None, 2, 4)),
        ((None, 3, 4), lambda l: SliceLayer(l, slice(1, 3), axis=0), (None, 3, 4)),
    ],
)
def test_shapes_and_layer_checks(check_layer, input_shape, make_layer, expected_shape):
    l_in = InputLayer(input_shape)
    layer = make_layer(l_in)
    assert layer.output_shape == expected_shape
    check_layer(layer, l_in)


def test_aliases():
    assert (reshape, flatten, dimshuffle, pad) == (ReshapeLayer, FlattenLayer, DimshuffleLayer, PadLayer)


@pytest.mark.parametrize(
    "make_layer, numpy_function",
    [
        (lambda l: ReshapeLayer(l, ([0], -1, [1])), lambda x: x.reshape(x.shape[0], -1, x.shape[1])),
        (lambda l: ReshapeLayer(l, (-1,)), lambda x: x.reshape(-1)),
        (lambda l: FlattenLayer(l), lambda x: x.reshape(x.shape[0], -1)),
        (lambda l: DimshuffleLayer(l, ("x", 2, 0, 1)), lambda x: x.transpose(2, 0, 1)[None]),
        (lambda l: PadLayer(l, [1, (0, 2)], val=-1, batch_ndim=1),
         lambda x: np.pad(x, ((0, 0), (1, 1), (0, 2)), constant_values=-1)),
        (lambda l: SliceLayer(l, -1, axis=1), lambda x: x[:, -1]),
        (lambda l: SliceLayer(l, slice(0, None, 3)), lambda x: x[..., ::3]),
    ],
    ids=["reshape", "reshape-1d", "flatten", "dimshuffle", "pad", "slice-index", "slice"],
)
def test_values_match_numpy(make_layer, numpy_function):
    l_in = InputLayer((None, 3, 8))
    x = random_input((2, 3, 8))
    np.testing.assert_array_equal(compile_output(make_layer(l_in), l_in)(x), numpy_function(x))


def test_reshape_with_symbolic_size():
    l_in = InputLayer((None, 12))
    rows = pt.iscalar("rows")
    layer = ReshapeLayer(l_in, ([0], rows, -1))
    assert layer.output_shape == (None, None, None)
    fn = pytensor.function([l_in.input_var, rows], get_output(layer), mode="FAST_COMPILE")
    assert fn(random_input((2, 12)), 4).shape == (2, 4, 3)


def test_dimshuffle_checks_dropped_unknown_size_at_run_time():
    l_in = InputLayer((None, None, 3))
    layer = DimshuffleLayer(l_in, (0, 2))
    assert layer.output_shape == (None, 3)
    fn = compile_output(layer, l_in)
    assert fn(random_input((2, 1, 3))).shape == (2, 3)
    with pytest.raises(AssertionError, match="SpecifyShape"):
        fn(random_input((2, 2, 3)))


@pytest.mark.parametrize(
    "shape, message",
    [
        (([0], 5, -1), r"\(None, 4, 6\) to \(\[0\], 5, -1\)"),
        (([0], 5, 5), r"\(None, 4, 6\) to \(\[0\], 5, 5\): the total sizes differ"),
        (([3], -1), r"\[3\].*\(None, 4, 6\) has 3 dimensions"),
        (([0], -1, -1), "-1 only once"),
        (([0], 0, 24), "positive or -1"),
        (([0, 1], 24), "one-element lists"),
        (([0], 2.5), "entries must be"),
    ],
)
def test_impossible_reshape_raises_at_construction(shape, message):
    with pytest.raises(ValueError, match=r"ReshapeLayer 'reshape1'.*" + message):
        ReshapeLayer(InputLayer((None, 4, 6)), shape, name="reshape1")


@pytest.mark.parametrize(
    "make_layer, message",
    [
        (lambda l: FlattenLayer(l, outdim=4, name="bad"), "outdim=4"),
        (lambda l: FlattenLayer(l, outdim=0, name="bad"), "outdim=0"),
        (lambda l: DimshuffleLayer(l, (0, 1), name="bad"), r"drops dimension 2 of size 4.*\(None, 3, 4\)"),
        (lambda l: DimshuffleLayer(l, (0, 1, 2, 3), name="bad"), "refers to dimension 3"),
        (lambda l: DimshuffleLayer(l, (0, 1, 1, 2), name="bad"), "more than once"),
        (lambda l: PadLayer(l, [1, 1], name="bad"), r"does not fit.*\(None, 3, 4\)"),
        (lambda l: PadLayer(l, -1, name="bad"), "non-negative"),
        (lambda l: SliceLayer(l, 4, name="bad"), r"index 4 is out of range for axis 2 of input shape \(None, 3, 4\)"),
        (lambda l: SliceLayer(l, slice(5, None), name="bad"), "selects nothing"),
        (lambda l: SliceLayer(l, 0, axis=3, name="bad"), "axis 3"),
    ],
)
def test_bad_arguments_raise_at_construction(make_layer, message):
    with pytest.raises(ValueError, match=r"Layer 'bad'.*" + message):
        make_layer(InputLayer((None, 3, 4)))
