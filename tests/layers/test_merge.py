import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from convnet.layers import (
    ConcatLayer,
    DenseLayer,
    ElemwiseMergeLayer,
    ElemwiseSumLayer,
    InputLayer,
    autocrop,
    autocrop_array_shapes,
    concat,
    get_output,
)


def random_input(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(pytensor.config.floatX)


def evaluate(layer, input_layers, arrays):
    fn = pytensor.function([l.input_var for l in input_layers], get_output(layer), mode="FAST_COMPILE")
    return fn(*arrays)


@pytest.mark.parametrize(
    "shapes, make_layer, expected_shape",
    [
        ([(None, 3), (None, 5)], lambda ls: ConcatLayer(ls), (None, 8)),
        ([(None, 3, 4), (3, 3, 1), (None, 3, 2)], lambda ls: ConcatLayer(ls, axis=-1), (3, 3, 7)),
        ([(None, 2, 3), (None, 2, None)], lambda ls: ConcatLayer(ls, axis=0), (None, 2, 3)),
        ([(None, 2, 6), (None, 3, 4)], lambda ls: ConcatLayer(ls, cropping=[None, None, "center"]), (None, 5, 4)),
        ([(None, 4), (None, 4)], lambda ls: ElemwiseSumLayer(ls), (None, 4)),
        ([(None, 3, 3), (3, 3, 3), (None, 3, None)], lambda ls: ElemwiseSumLayer(ls, [0.5, -1, 2]), (3, 3, 3)),
        ([(None, 3, 5), (None, 4, 4)], lambda ls: ElemwiseSumLayer(ls, cropping=[None, "lower", "upper"]),
         (None, 3, 4)),
        ([(None, 4), (None, 4)], lambda ls: ElemwiseMergeLayer(ls, pt.mul), (None, 4)),
    ],
    ids=["concat", "concat-last-axis", "concat-batch", "concat-cropped", "sum", "sum-coeffs", "sum-cropped", "mul"],
)
def test_shapes_and_layer_checks(check_layer, shapes, make_layer, expected_shape):
    input_layers = [InputLayer(s) for s in shapes]
    layer = make_layer(input_layers)
    assert layer.output_shape == expected_shape
    check_layer(layer, input_layers)


def test_concat_values():
    l_a, l_b = InputLayer((None, 2, 3)), InputLayer((None, 4, 3))
    a, b = random_input((5, 2, 3)), random_input((5, 4, 3), seed=1)
    np.testing.assert_array_equal(evaluate(concat([l_a, l_b]), [l_a, l_b], [a, b]), np.concatenate([a, b], axis=1))


def test_elemwise_sum_and_merge_values():
    input_layers = [InputLayer((None, 3)) for _ in range(3)]
    arrays = [random_input((2, 3), seed=i) for i in range(3)]
    weighted = evaluate(ElemwiseSumLayer(input_layers, coeffs=[2, 1, -0.5]), input_layers, arrays)
    np.testing.assert_allclose(weighted, 2 * arrays[0] + arrays[1] - 0.5 * arrays[2], rtol=1e-6)
    maximum = evaluate(ElemwiseMergeLayer(input_layers, pt.maximum), input_layers, arrays)
    np.testing.assert_array_equal(maximum, np.maximum.reduce(arrays))


def test_residual_sum_gets_gradients_through_both_paths(check_layer):
    l_in = InputLayer((None, 6))
    l_res = ElemwiseSumLayer([l_in, DenseLayer(l_in, num_units=6)])
    check_layer(l_res, l_in)


@pytest.mark.parametrize(
    "mode, start_of_larger",
    [("lower", 0), ("upper", 3), ("center", 1)],
)
def test_autocrop_values_and_shapes(mode, start_of_larger):
    a, b = pt.matrix("a"), pt.matrix("b")
    a_value, b_value = random_input((2, 7)), random_input((3, 4), seed=1)
    cropped_a, cropped_b = autocrop([a, b], [None, mode])
    fn = pytensor.function([a, b], [cropped_a, cropped_b], mode="FAST_COMPILE")
    result_a, result_b = fn(a_value, b_value)
    np.testing.assert_array_equal(result_a, a_value[:, start_of_larger:start_of_larger + 4])
    np.testing.assert_array_equal(result_b, b_value)
    assert autocrop_array_shapes([(2, 7), (3, 4)], [None, mode]) == [(2, 4), (3, 4)]
    assert autocrop_array_shapes([(None, 7), (3, None)], [mode]) == [(None, 7), (None, None)]


def test_autocrop_none_is_a_no_op():
    a = pt.matrix("a")
    assert autocrop([a], None) == [a]
    assert autocrop_array_shapes([(None, 3)], None) == [(None, 3)]


@pytest.mark.parametrize(
    "shapes, make_layer, message",
    [
        ([(None, 3, 4), (None, 5, 6)], lambda ls: ConcatLayer(ls, name="cat"),
         r"ConcatLayer 'cat'.*\[\(None, 3, 4\), \(None, 5, 6\)\] differ on axis 2"),
        ([(None, 3), (None, 3, 1)], lambda ls: ConcatLayer(ls, name="cat"),
         r"ConcatLayer 'cat'.*same number of dimensions.*\[\(None, 3\), \(None, 3, 1\)\]"),
        ([(None, 3), (None, 3)], lambda ls: ConcatLayer(ls, axis=2, name="cat"), r"ConcatLayer 'cat'.*axis 2"),
        ([(None, 4, 5), (None, 4, 6)], lambda ls: ElemwiseSumLayer(ls, name="res"),
         r"ElemwiseSumLayer 'res'.*\[\(None, 4, 5\), \(None, 4, 6\)\] differ on axis 2"),
        ([(2, 4), (3, 4)], lambda ls: ElemwiseSumLayer(ls, cropping=[None, "lower"], name="res"),
         r"ElemwiseSumLayer 'res'.*differ on axis 0 after cropping"),
        ([(None, 4), (None, 4)], lambda ls: ElemwiseSumLayer(ls, coeffs=[1, 2, 3], name="res"),
         r"ElemwiseSumLayer 'res'.*3 coeffs for 2 inputs"),
        ([(None, 4), (None, 4)], lambda ls: ElemwiseMergeLayer(ls, pt.add, cropping=["middle"], name="m"),
         r"ElemwiseMergeLayer 'm'.*cropping \['middle'\]"),
    ],
)
def test_mismatched_inputs_raise_at_construction(shapes, make_layer, message):
    with pytest.raises(ValueError, match=message):
        make_layer([InputLayer(s) for s in shapes])
