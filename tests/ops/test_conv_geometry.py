"""convnet.ops.conv.geometry: the one object with a convolution's parameters and shape rules."""
import dataclasses

import pytest

from convnet.ops.conv import ConvGeometry, conv_output_length


def test_create_normalises_parameters():
    g = ConvGeometry.create(3, border_mode="same", subsample=2, filter_dilation=(1, 2, 1))
    assert g == ConvGeometry(3, "half", (2, 2, 2), True, (1, 2, 1))
    assert ConvGeometry.create(2, "valid").border_mode == (0, 0)
    assert ConvGeometry.create(1, 3, filter_flip=0) == ConvGeometry(1, (3,), (1,), False, (1,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.subsample = (1, 1, 1)
    with pytest.raises(ValueError, match="1, 2 or 3 spatial dimensions, got 4"):
        ConvGeometry.create(4)


@pytest.mark.parametrize("border_mode", ["valid", "full", "half", (1, 0, 2)])
def test_sizes_agree_with_conv_output_length_and_invert(border_mode):
    g = ConvGeometry.create(3, border_mode, subsample=(1, 2, 3), filter_dilation=(2, 1, 1))
    filters, inputs = (3, 2, 4), (9, 10, 11)
    pads = g.padding(filters)
    outputs = g.output_sizes(inputs, filters)
    assert outputs == tuple(conv_output_length(i, f, s, p, d) for i, f, s, p, d
                            in zip(inputs, filters, g.subsample, pads, g.filter_dilation))
    smallest = g.smallest_input_sizes(outputs, filters)
    assert g.output_sizes(smallest, filters) == outputs
    assert all(0 <= i - s < st for i, s, st in zip(inputs, smallest, g.subsample))
    assert g.output_sizes((None, 10, 11), filters)[0] is None


def test_lifted_geometry_adds_unit_axes():
    g = ConvGeometry.create(1, 2, subsample=3, filter_flip=False, filter_dilation=2)
    assert g.lifted(3) == ConvGeometry(3, (0, 0, 2), (1, 1, 3), False, (1, 1, 2))
    half = ConvGeometry.create(1, "half").lifted(3)
    assert half.padding((1, 1, 5)) == (0, 0, 2)


def test_shape_problem_names_the_arguments():
    g = ConvGeometry.create(2)
    assert g.shape_problem((1, 3, 8, 8), (4, 3, 3, 3)) is None
    assert g.shape_problem((None, 3, None, 8), (4, None, 3, 3)) is None
    assert g.shape_problem((1, 3, 8, 8), (4, 3, 3, 3), (1, 4, 5, 6), "input_shape") == (
        "output_grad has 5 rows but convolving input_shape gives 6 "
        "(input_shape (1, 3, 8, 8), filters (4, 3, 3, 3), output_grad (1, 4, 5, 6))")
    with pytest.raises(ValueError, match=r"^f: input has 2 channels but filters has 3 input channels"):
        g.check_shapes((1, 2, 8, 8), (4, 3, 3, 3), where="f")
