import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from convnet.layers import (
    DenseLayer,
    InputLayer,
    Layer,
    MergeLayer,
    count_params,
    get_all_layers,
    get_all_param_values,
    get_all_params,
    get_output,
    get_output_shape,
    set_all_param_values,
)


class Affine(Layer):
    def __init__(self, incoming, units, **kwargs):
        super().__init__(incoming, **kwargs)
        self.W = self.add_param(np.full((self.input_shape[1], units), 0.5, "float32"), (self.input_shape[1], units), "W")
        self.b = self.add_param(np.zeros(units, "float32"), (units,), "b", regularizable=False)
        self.units = units

    def get_output_shape_for(self, input_shape):
        return (input_shape[0], self.units)

    def get_output_for(self, input, deterministic=False, **kwargs):
        out = input @ self.W + self.b
        return out if deterministic else out + 100


class Concat(MergeLayer):
    def get_output_shape_for(self, input_shapes):
        return (input_shapes[0][0], sum(s[1] for s in input_shapes))

    def get_output_for(self, inputs, **kwargs):
        return pytensor.tensor.concatenate(inputs, axis=1)


@pytest.fixture
def diamond():
    l_in = InputLayer((None, 3), name="in")
    left = Affine(l_in, 2, name="left")
    right = Affine(l_in, 4, name="right")
    out = Concat([left, right], name="cat")
    top = Affine(out, 1, name="top")
    return l_in, left, right, out, top


def test_get_all_layers_is_topological_and_unique(diamond):
    l_in, left, right, out, top = diamond
    assert get_all_layers(top) == [l_in, left, right, out, top]
    assert get_all_layers([left, top]) == [l_in, left, right, out, top]
    assert get_all_layers(top, treat_as_input=[out]) == [out, top]


def test_get_all_layers_handles_deep_nets():
    layer = InputLayer((None, 2))
    for _ in range(3000):
        layer = Layer(layer)
    assert len(get_all_layers(layer)) == 3001


def test_get_output_passes_kwargs_and_replaces_inputs(diamond):
    l_in, left, right, out, top = diamond
    x = np.ones((2, 3), "float32")
    det = pytensor.function([l_in.input_var], get_output(top, deterministic=True), mode="FAST_COMPILE")
    np.testing.assert_allclose(det(x), np.full((2, 1), 0.5 * (2 * 1.5 + 4 * 1.5)))
    train = pytensor.function([l_in.input_var], get_output(left), mode="FAST_COMPILE")
    np.testing.assert_allclose(train(x), 101.5)
    # a constant replaces the input layer; a dict replaces any layer's output
    np.testing.assert_allclose(get_output(left, x, deterministic=True).eval(), 1.5)
    np.testing.assert_allclose(get_output(top, {out: np.zeros((1, 6), "float32")}, deterministic=True).eval(), 0)


def test_get_output_single_input_needs_single_input_layer(diamond):
    a, b = InputLayer((None, 2)), InputLayer((None, 2))
    with pytest.raises(ValueError, match="2 input layers"):
        get_output(Concat([a, b]), np.zeros((1, 2), "float32"))


def test_get_output_shape(diamond):
    l_in, left, right, out, top = diamond
    assert get_output_shape(out) == (None, 6)
    assert get_output_shape([left, out], (7, 3)) == [(7, 2), (7, 6)]


def test_params_count_and_values(diamond):
    l_in, left, right, out, top = diamond
    assert get_all_params(top) == [left.W, left.b, right.W, right.b, top.W, top.b]
    assert get_all_params(top, regularizable=True) == [left.W, right.W, top.W]
    assert count_params(top) == 3 * 2 + 2 + 3 * 4 + 4 + 6 * 1 + 1
    values = get_all_param_values(top)
    values[0][:] = 7  # copies: the network is unchanged
    assert np.all(left.W.get_value() == 0.5)
    set_all_param_values(top, values)
    assert np.all(left.W.get_value() == 7)


def test_set_all_param_values_rejects_bad_input_and_changes_nothing(diamond):
    top = diamond[-1]
    before = get_all_param_values(top)
    bad_shape = [np.zeros_like(v) for v in before]
    bad_shape[3] = np.zeros(5, "float32")
    with pytest.raises(ValueError, match=r"right.b has shape \(5,\), the parameter has shape \(4,\)"):
        set_all_param_values(top, bad_shape)
    with pytest.raises(ValueError, match="6 parameters but 5 values"):
        set_all_param_values(top, before[:5])
    for b, a in zip(before, get_all_param_values(top)):
        np.testing.assert_array_equal(a, b)


# -- bad inputs to get_output name the layer --------------------------------------------------------


def test_get_output_input_of_the_wrong_ndim_names_the_input_layer():
    l_in = InputLayer((None, 4), name="pixels")
    l_out = DenseLayer(l_in, 3)
    with pytest.raises(ValueError, match=r"the input for InputLayer 'pixels' has shape \(None, None, None\) "
                                         r"\(3-d\), but the layer's output shape is \(None, 4\)"):
        get_output(l_out, pt.tensor3())
    with pytest.raises(ValueError, match=r"InputLayer 'pixels' has shape \(2, 5\)"):
        get_output(l_out, np.zeros((2, 5), "float32"))
    with pytest.raises(ValueError, match=r"the input for DenseLayer 'hidden'"):
        hidden = DenseLayer(l_in, 5, name="hidden")
        get_output(DenseLayer(hidden, 2), {hidden: pt.tensor3()})


def test_get_output_refuses_dict_keys_outside_the_network():
    l_in = InputLayer((None, 4))
    l_out = DenseLayer(l_in, 3)
    stranger = InputLayer((None, 4), name="stranger")
    with pytest.raises(ValueError, match=r"not in this network: \[InputLayer 'stranger'\]"):
        get_output(l_out, {stranger: pt.matrix()})
    with pytest.raises(ValueError, match=r"keys of inputs must be layers, got \['input'\]"):
        get_output(l_out, {"input": pt.matrix()})


def test_get_output_names_the_layer_whose_output_fails():
    class Picky(DenseLayer):
        def get_output_for(self, input, **kwargs):
            raise ValueError("cannot take this")

    with pytest.raises(ValueError, match=r"^get_output: Picky 'p': cannot take this"):
        get_output(Picky(InputLayer((None, 4)), 2, name="p"))
