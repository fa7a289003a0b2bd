"""The layer base classes: :class:`Layer` (one input) and :class:`MergeLayer`
(several inputs).

A layer knows the shape of its input and computes the shape and the symbolic
expression of its output. Subclasses implement :meth:`Layer.get_output_shape_for`
and :meth:`Layer.get_output_for`, and create parameters with
:meth:`Layer.add_param`::

    >>> import pytensor.tensor as pt
    >>> from convnet.layers import Layer, InputLayer
    >>> class DoubleLayer(Layer):
    ...     def get_output_for(self, input, **kwargs):
    ...         return 2 * input
    >>> DoubleLayer(InputLayer((None, 3))).output_shape
    (None, 3)

Every layer's output shape is computed once at construction, so an input a
layer cannot handle raises ``ValueError`` there, naming the layer.
"""
import functools
import inspect
import re
from collections import OrderedDict
from collections.abc import Sequence  # noqa: F401  (in the annotations)
from typing import TypeAlias

from pytensor.graph.basic import Variable

from ..typing import Shape
from ..utils import collect_shared_vars, create_param, unique

__all__ = ["Layer", "MergeLayer", "Incoming", "describe_layer"]


def describe_layer(cls: type, name: str | None) -> str:
    """How error messages name a layer: its class, and its name when given."""
    return f"{cls.__name__} {name!r}" if name else cls.__name__


def _checked_init(init):
    """Wrap a layer's ``__init__`` so that a finished construction computes the
    output shape (raising for shapes the layer cannot handle), checks that a
    ``nonlinearity`` is callable and prefixes any ``ValueError`` or ``TypeError``
    with the layer's class and name (Python's own TypeErrors with the arguments).

    Only the outermost ``__init__`` checks: a ``super().__init__`` call runs
    before the subclass has set what its output shape depends on.
    ``functools.wraps`` keeps the constructor's signature visible to
    ``inspect.signature``, ``help()``, IDEs and the documentation.
    """

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        if type(self).__init__ is not __init__:
            init(self, *args, **kwargs)
            return
        label = describe_layer(type(self), kwargs.get("name"))
        try:
            init(self, *args, **kwargs)
            self.output_shape  # noqa: B018  (raises for shapes the layer cannot handle)
            _check_nonlinearity(getattr(self, "nonlinearity", None))
        except (ValueError, TypeError) as e:
            if str(e).startswith(label):
                raise
            message = f"{label}: {e}"
            cls = type(self)
            if isinstance(e, TypeError) and not _names_an_argument(cls, str(e)):
                # Python's own TypeErrors ("'<=' not supported ...") do not say which argument.
                message += f" (called with {_describe_arguments(cls, args, kwargs)})"
            raise (ValueError if isinstance(e, ValueError) else TypeError)(message) from e

    return __init__


_NONLINEARITY_NAMES = {"relu": "rectify", "rectify": "rectify", "softmax": "softmax", "sigmoid": "sigmoid",
                       "tanh": "tanh", "elu": "elu", "selu": "selu", "softplus": "softplus",
                       "linear": "linear", "identity": "identity", "leaky_relu": "leaky_rectify"}


def _check_nonlinearity(nonlinearity):
    """TypeError for a nonlinearity that is not callable (a name such as ``"relu"``)."""
    if nonlinearity is None or callable(nonlinearity):
        return
    hint = ""
    if isinstance(nonlinearity, str) and nonlinearity.lower() in _NONLINEARITY_NAMES:
        hint = f" (for {nonlinearity!r}: convnet.nonlinearities.{_NONLINEARITY_NAMES[nonlinearity.lower()]})"
    raise TypeError(f"nonlinearity must be a callable from convnet.nonlinearities or None, got "
                    f"{nonlinearity!r}{hint}")


def _check_incoming(incoming, argument="incoming"):
    """TypeError unless ``incoming`` is a Layer or a shape tuple."""
    if isinstance(incoming, (Layer, tuple)):
        return
    hint = ""
    if isinstance(incoming, list) and all(isinstance(i, Layer) for i in incoming):
        hint = "; a layer with several inputs is a merge layer (ConcatLayer, ElemwiseSumLayer, ...)"
    elif isinstance(incoming, list):
        hint = "; give a shape as a tuple"
    raise TypeError(f"{argument} must be a Layer or a shape tuple, got {type(incoming).__name__} "
                    f"{_short_repr(incoming)}{hint}")


def _names_an_argument(cls, message):
    try:
        names = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return False
    return any(re.search(rf"\b{name}\b", message) for name in names if name not in ("self", "kwargs"))


def _describe_arguments(cls, args, kwargs):
    """``name=value, ...`` for the arguments of a layer call, its input(s) left out."""
    try:
        bound = inspect.signature(cls.__init__).bind(None, *args, **kwargs)
    except TypeError:
        return ", ".join([*map(_short_repr, args[1:]), *(f"{k}={_short_repr(v)}" for k, v in kwargs.items())])
    items = list(bound.arguments.items())[2:]  # self and the incoming(s)
    described = []
    for key, value in items:
        if bound.signature.parameters[key].kind is inspect.Parameter.VAR_KEYWORD:
            described += [f"{k}={_short_repr(v)}" for k, v in value.items()]
        else:
            described.append(f"{key}={_short_repr(value)}")
    return ", ".join(described) or "no other arguments"


def _short_repr(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Layer:
    """Base class for a layer with one input.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected input shape
        (``None`` for dimensions not known in advance).
    name : str, optional
        A name for the layer; used in error messages, parameter names and
        checkpoints.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in vars(cls):
            cls.__init__ = _checked_init(vars(cls)["__init__"])

    @_checked_init
    def __init__(self, incoming: "Incoming", name: str | None = None) -> None:
        _check_incoming(incoming)
        if isinstance(incoming, tuple):
            self.input_shape = incoming
            self.input_layer = None
        else:
            self.input_shape = incoming.output_shape
            self.input_layer = incoming
        self.name = name
        self.params = OrderedDict()
        self.get_output_kwargs = []
        if any(d is not None and d <= 0 for d in self.input_shape):
            raise ValueError(f"cannot create a layer with non-positive input_shape {self.input_shape}")

    def __repr__(self):
        return describe_layer(type(self), self.name)

    @property
    def output_shape(self):
        shape = self.get_output_shape_for(self.input_shape)
        if any(isinstance(s, Variable) for s in shape):
            raise ValueError(f"output shape {shape} contains symbolic values; shapes must be ints or None")
        return shape

    def get_params(self, unwrap_shared=True, **tags):
        """The layer's parameters, filtered by tags.

        ``get_params(trainable=True)`` returns those tagged ``trainable``;
        ``get_params(regularizable=False)`` those not tagged ``regularizable``.
        With ``unwrap_shared`` (default), parameters given as expressions are
        replaced by the shared variables they depend on.
        """
        only = {tag for tag, value in tags.items() if value}
        exclude = {tag for tag, value in tags.items() if not value}
        result = [p for p in self.params if only <= self.params[p] and not (exclude & self.params[p])]
        if unwrap_shared:
            return unique(v for p in result for v in collect_shared_vars(p))
        return result

    def get_output_shape_for(self, input_shape):
        """The shape of the output for an input of ``input_shape``.

        Raise ``ValueError`` for shapes the layer cannot handle.
        """
        return input_shape

    def get_output_for(self, input, **kwargs):
        """The symbolic output for the symbolic ``input``.

        Keyword arguments such as ``deterministic=True`` reach every layer
        through :func:`convnet.layers.get_output`.
        """
        raise NotImplementedError

    def add_param(self, spec, shape, name=None, **tags):
        """Create a parameter from ``spec`` (see :func:`convnet.utils.create_param`)
        and register it with tags (``trainable`` and ``regularizable`` default
        to True).
        """
        if name is not None and self.name is not None:
            name = f"{self.name}.{name}"
        param = create_param(spec, shape, name)
        tags["trainable"] = tags.get("trainable", True)
        tags["regularizable"] = tags.get("regularizable", True)
        self.params[param] = {tag for tag, value in tags.items() if value}
        return param


Incoming: TypeAlias = Layer | Shape
"""The layer feeding into a layer, or the shape of that layer's input."""


class MergeLayer(Layer):
    """Base class for a layer with several inputs.

    Parameters
    ----------
    incomings : list of Layer or tuple
        The layers (or shapes) feeding into this one.
    name : str, optional
        A name for the layer.
    """

    def __init__(self, incomings: "Sequence[Incoming]", name: str | None = None) -> None:
        if not isinstance(incomings, (list, tuple)):
            raise TypeError(f"incomings must be a list of Layers or shape tuples, got {type(incomings).__name__} "
                            f"{_short_repr(incomings)}")
        for index, incoming in enumerate(incomings):
            _check_incoming(incoming, f"incomings[{index}]")
        self.input_shapes = [i if isinstance(i, tuple) else i.output_shape for i in incomings]
        self.input_layers = [None if isinstance(i, tuple) else i for i in incomings]
        self.name = name
        self.params = OrderedDict()
        self.get_output_kwargs = []

    @property
    def output_shape(self):
        shape = self.get_output_shape_for(self.input_shapes)
        if any(isinstance(s, Variable) for s in shape):
            raise ValueError(f"output shape {shape} contains symbolic values; shapes must be ints or None")
        return shape

    def get_output_shape_for(self, input_shapes):
        raise NotImplementedError

    def get_output_for(self, inputs, **kwargs):
        raise NotImplementedError
