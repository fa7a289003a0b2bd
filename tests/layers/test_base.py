import inspect
import typing

import numpy as np
import pytensor
import pytest

from convnet import layers
from convnet.layers import InputLayer, Layer, MergeLayer, get_output


class Scale(Layer):
    """A layer with one parameter per feature, for testing the base class."""

    def __init__(self, incoming, **kwargs):
        super().__init__(incoming, **kwargs)
        n = self.input_shape[1]
        self.W = self.add_param(np.ones(n, dtype="float32"), (n,), name="W")
        self.c = self.add_param(np.zeros(n, dtype="float32"), (n,), name="c", regularizable=False)
        self.s = self.add_param(np.ones(1, dtype="float32"), (1,), name="s", trainable=False)

    def get_output_for(self, input, **kwargs):
        return input * self.W + self.c


class Needs2D(Layer):
    def get_output_shape_for(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"expected a 2-D input, got shape {input_shape}")
        return input_shape


class Sum(MergeLayer):
    def get_output_shape_for(self, input_shapes):
        return input_shapes[0]

    def get_output_for(self, inputs, **kwargs):
        return sum(inputs)


def test_params_are_tagged_and_filtered():
    layer = Scale(InputLayer((None, 4)), name="scale")
    assert layer.get_params() == [layer.W, layer.c, layer.s]
    assert layer.get_params(trainable=True) == [layer.W, layer.c]
    assert layer.get_params(regularizable=True) == [layer.W, layer.s]
    assert layer.get_params(trainable=True, regularizable=False) == [layer.c]
    assert layer.W.name == "scale.W"


def test_add_param_accepts_shared_and_checks_shape():
    shared = pytensor.shared(np.zeros(4, dtype="float32"))
    layer = Layer(InputLayer((None, 4)))
    assert layer.add_param(shared, (4,), name="p") is shared
    with pytest.raises(ValueError, match=r"shape \(4,\).*\(5,\)"):
        layer.add_param(shared, (5,), name="p")


def test_construction_validates_shape_and_names_the_layer():
    with pytest.raises(ValueError, match=r"Needs2D 'flat': expected a 2-D input, got shape \(None, 1, 28, 28\)"):
        Needs2D(InputLayer((None, 1, 28, 28)), name="flat")
    with pytest.raises(ValueError, match="^Needs2D: expected"):
        Needs2D(InputLayer((None, 1, 28)))


class Crop(Needs2D):
    """Sets what its output shape depends on after ``super().__init__``."""

    def __init__(self, incoming, width, name=None):
        super().__init__(incoming, name=name)
        self.width = width

    def get_output_shape_for(self, input_shape):
        input_shape = super().get_output_shape_for(input_shape)
        if self.width > input_shape[1]:
            raise ValueError(f"width {self.width} exceeds the input's {input_shape[1]}")
        return (input_shape[0], self.width)


def test_shape_is_checked_once_the_outermost_constructor_has_finished():
    assert Crop(InputLayer((None, 5)), 3).output_shape == (None, 3)
    with pytest.raises(ValueError, match=r"^Crop 'c': width 6 exceeds the input's 5$"):
        Crop(InputLayer((None, 5)), 6, name="c")
    with pytest.raises(ValueError, match=r"^Crop: expected a 2-D input"):
        Crop(InputLayer((None, 5, 2)), 1)


def test_constructors_show_their_signatures():
    signature = inspect.signature(layers.Conv2DLayer)
    assert list(signature.parameters)[:3] == ["incoming", "num_filters", "filter_size"]
    assert signature.parameters["num_filters"].annotation is int
    assert repr(signature.parameters["W"].default) == "GlorotUniform()"
    assert list(inspect.signature(Crop).parameters) == ["incoming", "width", "name"]
    assert list(inspect.signature(Needs2D).parameters) == ["incoming", "name"]
    public_layers = [obj for name, obj in vars(layers).items()
                     if not name.startswith("_") and isinstance(obj, type) and issubclass(obj, Layer)]
    assert len(public_layers) > 30
    for cls in public_layers:
        parameters = inspect.signature(cls).parameters
        assert "args" not in parameters, cls
        # Every constructor is annotated, and the annotations resolve.
        hints = typing.get_type_hints(cls.__init__)
        assert set(parameters) - {"kwargs"} <= set(hints), cls


def test_non_positive_input_shape_is_rejected():
    with pytest.raises(ValueError, match=r"InputLayer 'in': shape \(None, 0\)"):
        InputLayer((None, 0), name="in")
    with pytest.raises(ValueError, match="non-positive input_shape"):
        Layer((None, -1))


def test_input_layer_variable_has_static_shape_and_floatX():
    l_in = InputLayer((None, 3, 5), name="x")
    assert l_in.input_var.type.shape == (None, 3, 5)
    assert l_in.input_var.dtype == pytensor.config.floatX == "float32"
    with pytest.raises(ValueError, match="input_var has 2 dimensions"):
        InputLayer((None, 3, 5), input_var=pytensor.tensor.matrix())


def test_merge_layer_output():
    a, b = InputLayer((None, 2)), InputLayer((None, 2))
    out = get_output(Sum([a, b]))
    f = pytensor.function([a.input_var, b.input_var], out, mode="FAST_COMPILE")
    np.testing.assert_allclose(f(np.ones((1, 2), "float32"), 2 * np.ones((1, 2), "float32")), 3)


# -- bad arguments: the error names the layer and the argument, at construction -------------------

from convnet import layers as L  # noqa: E402


def _input(shape=(None, 3, 8, 8)):
    return InputLayer(shape)


BAD_ARGUMENTS = [
    # factory(incoming, **arguments), the argument that is wrong, bad values
    (lambda l, **a: L.DenseLayer(l, **{"num_units": 4, **a}), "num_units", [2.5, None, "10", 0, True]),
    (lambda l, **a: L.DenseLayer(l, **{"num_units": 4, **a}), "num_leading_axes", [1.5, "1"]),
    (lambda l, **a: L.NINLayer(l, **{"num_units": 4, **a}), "num_units", [2.5, None, "10", -1]),
    (lambda l, **a: L.Conv2DLayer(l, **{"num_filters": 2, "filter_size": 3, **a}), "num_filters",
     [2.5, None, "4", 0, True]),
    (lambda l, **a: L.Conv2DLayer(l, **{"num_filters": 2, "filter_size": 3, **a}), "filter_size", [2.5, None]),
    (lambda l, **a: L.MaxPool2DLayer(l, **{"pool_size": 2, **a}), "pool_size", [2.5, None, "2"]),
    (lambda l, **a: L.ConcatLayer([l, l], **a), "axis", [1.5, None, "1"]),
    (lambda l, **a: L.FlattenLayer(l, **a), "outdim", [2.5, None, "2", 0]),
    (lambda l, **a: L.PadLayer(l, **{"width": 1, **a}), "batch_ndim", [2.5, None, "2"]),
    (lambda l, **a: L.SliceLayer(l, **{"indices": 0, **a}), "indices", [2.5, None, "0"]),
    (lambda l, **a: L.SliceLayer(l, **{"indices": 0, **a}), "axis", [2.5, None, "1"]),
    (lambda l, **a: L.FeaturePoolLayer(l, **{"pool_size": 3, **a}), "axis", [None, "1"]),
    (lambda l, **a: L.DropoutLayer(l, **a), "shared_axes", [None, 2.5]),
    (lambda l, **a: L.DimshuffleLayer(l, **a), "pattern", [0, None]),
    (lambda l, **a: L.ConcatLayer([l, l], **a), "cropping", [0, 2.5]),
]


@pytest.mark.parametrize("factory, argument, values", BAD_ARGUMENTS,
                         ids=[f"{i}-{argument}" for i, (_, argument, _) in enumerate(BAD_ARGUMENTS)])
def test_a_bad_argument_is_named_with_the_layer(factory, argument, values):
    for value in values:
        with pytest.raises((ValueError, TypeError)) as error:
            factory(_input(), name="probe", **{argument: value})
        message = str(error.value)
        assert message.split(":")[0].endswith("Layer 'probe'"), message
        assert f"{argument}=" in message or f"{argument} " in message, message
        assert repr(value) in message, message


@pytest.mark.parametrize("nonlinearity", ["relu", "softmax", 3])
def test_a_nonlinearity_that_is_not_callable_is_refused_at_construction(nonlinearity):
    with pytest.raises(TypeError, match=r"^DenseLayer 'fc': nonlinearity must be a callable .*got "
                                        + repr(nonlinearity)):
        L.DenseLayer(_input(), 4, nonlinearity=nonlinearity, name="fc")
    with pytest.raises(TypeError, match="nonlinearity must be a callable"):
        L.NonlinearityLayer(_input(), nonlinearity)


def test_a_nonlinearity_name_gets_a_hint():
    with pytest.raises(TypeError, match=r"convnet\.nonlinearities\.rectify"):
        L.Conv2DLayer(_input(), 2, 3, nonlinearity="relu")


@pytest.mark.parametrize("incoming, match", [
    (lambda: [_input()], r"got list \[InputLayer\]; a layer with several inputs is a merge layer"),
    (lambda: np.zeros((3, 4)), "got ndarray"),
    (lambda: [None, 4], "got list .*give a shape as a tuple"),
    (lambda: "input", "got str 'input'"),
])
def test_an_incoming_that_is_not_a_layer_or_shape_names_the_layer(incoming, match):
    with pytest.raises(TypeError, match=r"^DenseLayer 'fc': incoming must be a Layer or a shape tuple, " + match):
        L.DenseLayer(incoming(), 4, name="fc")


def test_merge_incomings_must_be_a_list_of_layers():
    with pytest.raises(TypeError, match=r"^ConcatLayer 'cat': incomings must be a list"):
        L.ConcatLayer(_input(), name="cat")
    with pytest.raises(TypeError, match=r"^ElemwiseSumLayer: incomings\[1\] must be a Layer or a shape tuple"):
        L.ElemwiseSumLayer([_input(), 3])
