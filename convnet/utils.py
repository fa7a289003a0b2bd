"""Small helpers shared by the rest of convnet."""
import inspect
import numbers
from collections.abc import Iterable, Sequence
from typing import TypeVar

import numpy as np
from numpy.typing import ArrayLike
import pytensor
import pytensor.tensor as pt
from pytensor.graph.basic import Variable
from pytensor.graph.traversal import graph_inputs
from pytensor.compile.sharedvalue import SharedVariable

from .typing import ParamSpec, Shape, TensorLike

__all__ = [
    "floatX",
    "shared_empty",
    "as_tensor_expression",
    "as_theano_expression",
    "collect_shared_vars",
    "one_hot",
    "unique",
    "inspect_kwargs",
    "as_tuple",
    "compute_norms",
    "create_param",
    "int_types",
    "check_int",
    "shape_with_known_sizes",
    "unroll_scan",
]

int_types = (numbers.Integral, np.integer)

_T = TypeVar("_T")

def check_int(name, value, minimum=None):
    """``value`` as an int, or ``ValueError`` naming the argument ``name``.

    Booleans, floats (even whole ones), strings and None are refused, as is a
    value below ``minimum``.

    >>> check_int("num_units", 10, minimum=1)
    10
    >>> check_int("num_units", 2.5, minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: num_units must be a positive integer, got num_units=2.5 (float)
    """
    kind = {None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}.get(
        minimum, f"an integer >= {minimum}")
    if not isinstance(value, int_types) or isinstance(value, (bool, np.bool_)) or (
            minimum is not None and value < minimum):
        raise ValueError(f"{name} must be {kind}, got {name}={value!r} ({type(value).__name__})")
    return int(value)


def floatX(arr: ArrayLike) -> np.ndarray:
    """Return ``arr`` as a NumPy array of dtype ``pytensor.config.floatX``.

    >>> floatX([1, 2]).dtype
    dtype('float32')
    """
    return np.asarray(arr, dtype=pytensor.config.floatX)


def shared_empty(dim: int = 2, dtype: str | None = None) -> SharedVariable:
    """A shared variable holding an empty array of ``dim`` dimensions."""
    if dtype is None:
        dtype = pytensor.config.floatX
    return pytensor.shared(np.zeros((0,) * dim, dtype=dtype))


def as_tensor_expression(value: TensorLike) -> Variable:
    """Wrap ``value`` into a PyTensor tensor expression (no-op for variables)."""
    if isinstance(value, Variable):
        return value
    try:
        return pt.as_tensor_variable(value)
    except (TypeError, ValueError) as e:
        raise TypeError(f"Input of type {type(value)} is not a PyTensor expression") from e


as_theano_expression = as_tensor_expression


def collect_shared_vars(expressions: Variable | Iterable[Variable]) -> list[SharedVariable]:
    """Return the shared variables ``expressions`` depend on, in order, once each."""
    if isinstance(expressions, Variable):
        expressions = [expressions]
    return unique(v for v in graph_inputs(expressions) if isinstance(v, SharedVariable))


def one_hot(x: TensorLike, m: int | Variable | None = None) -> Variable:
    """One-hot encode the integer vector ``x`` into ``m`` columns (default ``max(x) + 1``).

    Works on NumPy arrays and on symbolic integer vectors.
    """
    if isinstance(x, Variable):
        if m is None:
            m = pt.cast(pt.max(x) + 1, "int32")
        return pt.eq(x.dimshuffle(0, "x"), pt.arange(m).dimshuffle("x", 0)).astype("int32")
    x = np.asarray(x)
    if m is None:
        m = int(x.max()) + 1
    return (x[:, None] == np.arange(m)[None, :]).astype("int32")


def inspect_kwargs(func):
    """The names of ``func``'s arguments that have a default value, in order
    (keyword-only ones last): the keyword arguments a caller may pass it.

    Lasagne's layers used it to ask which keyword arguments a convolution
    function accepts.

    Examples
    --------
    >>> def conv(input, filters, border_mode="valid", *, filter_flip=True):
    ...     pass
    >>> inspect_kwargs(conv)
    ['border_mode', 'filter_flip']
    """
    import inspect

    return [name for name, parameter in inspect.signature(func).parameters.items()
            if parameter.default is not inspect.Parameter.empty]


def unique(items: Iterable[_T]) -> list[_T]:
    """The items of ``items`` in order, each once (by identity-insensitive equality)."""
    seen = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def as_tuple(x: object, N: int, t: type | tuple[type, ...] | None = None) -> tuple:
    """Return ``x`` as a tuple of length ``N`` (repeating a scalar), of type ``t``.

    >>> as_tuple(3, 2)
    (3, 3)
    >>> as_tuple((1, 2), 2, int)
    (1, 2)
    """
    try:
        X = tuple(x)
    except TypeError:
        X = (x,) * N
    if t is not None and not all(isinstance(v, t) for v in X):
        type_name = t.__name__ if isinstance(t, type) else " or ".join(tt.__name__ for tt in t)
        raise TypeError(f"expected a single value or an iterable of {type_name}, got {x!r} instead")
    if len(X) != N:
        raise ValueError(f"expected a single value or an iterable with length {N}, got {x!r} instead")
    return X


def compute_norms(array: TensorLike, norm_axes: Sequence[int] | None = None) -> np.ndarray | Variable:
    """L2 norms of ``array`` (NumPy or symbolic) over ``norm_axes``.

    By default the axes are chosen as for weight matrices: axis 0 for 2-D
    (dense ``W``), all but the first for 3-, 4- and 5-D (conv filters).
    """
    ndim = array.ndim
    if norm_axes is not None:
        sum_over = tuple(norm_axes)
    elif ndim == 1:
        sum_over = ()
    elif ndim == 2:
        sum_over = (0,)
    elif ndim in (3, 4, 5):
        sum_over = tuple(range(1, ndim))
    else:
        raise ValueError(f"Unsupported tensor dimensionality {ndim}. Must specify `norm_axes`")
    if isinstance(array, Variable):
        return pt.sqrt(pt.sum(pt.sqr(array), axis=sum_over))
    return np.sqrt(np.sum(array**2, axis=sum_over))


def shape_with_known_sizes(x: Variable, known_shape: Shape) -> list[int | Variable]:
    """The shape of the tensor ``x`` as a list: the ints of ``known_shape``
    (such as a layer's declared shape) where known, ``x.shape[i]`` elsewhere.

    Graphs built with it keep their sizes constant where they can, which
    PyTensor's JAX backend needs for reshapes and random draws (it cannot use
    a size computed inside the compiled function).

    >>> import pytensor.tensor as pt
    >>> shape_with_known_sizes(pt.matrix(), (None, 3))[1]
    3
    """
    return [x.shape[axis] if size is None else size for axis, size in enumerate(known_shape)]


def create_param(spec: ParamSpec, shape: Sequence[int], name: str | None = None) -> Variable:
    """Create a parameter of ``shape`` from ``spec``.

    ``spec`` may be a NumPy array (copied into a new shared variable), a
    shared variable (used as is), another PyTensor expression (used as is, so
    parameters can be tied or computed) or a callable such as an initializer
    from :mod:`convnet.init`, called with ``shape``.

    A parameter made here (from an array or an initializer) has ``shape`` as
    its static shape, as Lasagne's broadcastable flags did for the size-1
    axes: compiled graphs then know every parameter's size and carry no shape
    checks for them, and ``set_value`` refuses a value of another shape.

    Raises ``ValueError`` naming ``name`` when the shape does not fit.
    """
    shape = tuple(shape)
    label = f"parameter {name!r}" if name else "parameter"
    if any(d <= 0 for d in shape):
        raise ValueError(f"Cannot create {label} with a non-positive shape: {shape}")

    if isinstance(spec, Variable):
        if spec.ndim != len(shape):
            raise ValueError(
                f"{label}: the given variable has {spec.ndim} dimensions, should have {len(shape)}"
            )
        if isinstance(spec, SharedVariable):
            actual = spec.get_value(borrow=True, return_internal_type=True).shape
            if tuple(actual) != shape:
                raise ValueError(f"{label}: the shared variable has shape {tuple(actual)}, should be {shape}")
        if name is not None and spec.name is None:
            spec.name = name
        return spec

    if isinstance(spec, np.ndarray):
        if spec.shape != shape:
            raise ValueError(f"{label}: the given array has shape {spec.shape}, should be {shape}")
        return pytensor.shared(floatX(spec) if spec.dtype.kind == "f" else spec, name=name, shape=shape)

    if callable(spec):
        arr = spec(shape)
        if isinstance(arr, Variable):
            return create_param(arr, shape, name)
        arr = np.asarray(arr)
        if arr.shape != shape:
            raise ValueError(f"{label}: the initializer returned shape {arr.shape}, should be {shape}")
        return pytensor.shared(floatX(arr) if arr.dtype.kind == "f" else arr, name=name, shape=shape)

    raise TypeError(f"{label}: cannot initialize from {type(spec).__name__}; give an array, "
                    "a PyTensor variable or a callable such as convnet.init.GlorotUniform()")


def settings_repr(obj: object, skip: Iterable[str] = ()) -> str:
    """``ClassName(arg=value, ...)`` for the constructor arguments of ``obj``
    that it stores under their own names and that differ from the defaults,
    so that defaults such as ``W=GlorotUniform()`` read as code in ``help()``
    and the documentation."""
    parameters = inspect.signature(type(obj)).parameters.values()
    settings = []
    for p in parameters:
        if p.name in skip or p.name not in vars(obj):
            continue
        value = vars(obj)[p.name]
        try:
            is_default = bool(value == p.default)
        except (TypeError, ValueError):  # arrays compare elementwise
            is_default = False
        if not is_default:
            settings.append(f"{p.name}={value!r}")
    return f"{type(obj).__name__}({', '.join(settings)})"


def unroll_scan(fn, sequences, outputs_info, non_sequences, n_steps, go_backwards=False):
    """A recurrence unrolled into ``n_steps`` copies of ``fn``'s graph: the
    same results as :func:`pytensor.scan` without a scan loop (longer to
    compile, often quicker to run for short sequences).

    Parameters
    ----------
    fn : callable
        Called as ``fn(*sequence_steps, *previous_outputs, *non_sequences)``;
        returns one output or a list of them.
    sequences : tensor or list of tensors
        Iterated over their first axis.
    outputs_info : list of tensors
        The initial values of the outputs.
    non_sequences : list
        Passed unchanged to every step.
    n_steps : int
        The number of steps (a known length).
    go_backwards : bool
        Run from the last step to the first; the outputs stay in the order
        the steps ran, as with ``scan``.

    Returns
    -------
    list of tensors
        One per output of ``fn``, steps stacked along a new first axis.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(4.0)
    >>> unroll_scan(lambda x_t, acc: acc + x_t, x, [np.float64(0.0)], [], 4)[0].eval()
    array([0., 1., 3., 6.])
    """
    if not isinstance(sequences, (list, tuple)):
        sequences = [sequences]
    steps = range(n_steps - 1, -1, -1) if go_backwards else range(n_steps)
    previous = list(outputs_info)
    outputs = []
    for i in steps:
        out = fn(*[s[i] for s in sequences], *previous, *non_sequences)
        previous = list(out) if isinstance(out, (list, tuple)) else [out]
        outputs.append(previous)
    return [pt.stack([step[k] for step in outputs]) for k in range(len(outputs[0]))]
