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
