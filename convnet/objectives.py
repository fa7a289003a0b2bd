"""Loss functions and evaluation measures.

Five functions build element- or item-wise losses from predictions and
targets: :func:`binary_crossentropy`, :func:`categorical_crossentropy`,
:func:`squared_error`, :func:`binary_hinge_loss` and
:func:`multiclass_hinge_loss`. :func:`aggregate` turns such a loss into the
scalar an update rule from :mod:`convnet.updates` needs (calling ``.mean()``
does the same for the default mode).

Two functions measure accuracy, for validation rather than training (their
gradient is zero): :func:`binary_accuracy` and :func:`categorical_accuracy`.

Predictions and targets must have the same number of dimensions, except that
class-index targets have one dimension less than the class scores they index,
and a target vector goes with a single-column prediction matrix. Other
combinations raise ``TypeError`` when the expression is built.

Examples
--------
>>> import pytensor
>>> import pytensor.tensor as pt
>>> from convnet.objectives import categorical_crossentropy, aggregate
>>> predictions = pt.matrix('predictions')  # e.g. the output of a softmax layer
>>> targets = pt.ivector('targets')         # the correct class of each row
>>> loss = aggregate(categorical_crossentropy(predictions, targets), mode='mean')
>>> loss.ndim
0
"""
import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.basic import Variable
from pytensor.tensor.variable import TensorVariable

from .ops.checks import CheckClassIndices, CheckNotEmpty
from .typing import TensorLike
from .utils import as_tensor_expression, floatX

__all__ = [
    "binary_crossentropy",
    "categorical_crossentropy",
    "squared_error",
    "huber_loss",
    "aggregate",
    "binary_hinge_loss",
    "multiclass_hinge_loss",
    "binary_accuracy",
    "categorical_accuracy",
]

#: Predictions are clipped to ``[EPSILON, 1 - EPSILON]`` before taking logs.
EPSILON = 1e-7


def align_targets(predictions: TensorLike, targets: TensorLike) -> tuple[TensorVariable, TensorVariable]:
    """Turn a target vector into a column when the predictions are a single
    column, so that a network with one output unit pairs with a target vector
    element by element instead of broadcasting to a matrix.

    Parameters
    ----------
    predictions : TensorVariable
        The network's predictions.
    targets : TensorVariable
        The corresponding targets.

    Returns
    -------
    predictions, targets : TensorVariable
        `predictions` unchanged, and `targets` as a column if `predictions` is
        a single column (static shape ``(n, 1)``) and `targets` a vector,
        else unchanged.
    """
    predictions = as_tensor_expression(predictions)
    targets = as_tensor_expression(targets)
    if predictions.ndim == 2 and predictions.type.shape[1] == 1 and targets.ndim == 1:
        targets = targets.dimshuffle(0, "x")
    return predictions, targets


def _as_float_like(reference, values):
    """`values` cast to the dtype of `reference` if they are integers or
    booleans, so that integer targets or masks do not turn a float32 loss
    into float64."""
    if values.dtype.startswith(("int", "uint", "bool")):
        return pt.cast(values, reference.dtype)
    return values


def _elementwise_pair(function_name, predictions, targets):
    """Align and check the arguments of an element-wise loss: the same number
    of dimensions, or a scalar target."""
    predictions, targets = align_targets(predictions, targets)
    if targets.ndim not in (0, predictions.ndim):
        hint = ""
        if predictions.ndim == 2 and targets.ndim == 1:
            hint = (" (for a network with one output unit whose output is not known to have a single "
                    "column, pass predictions.flatten() or targets.dimshuffle(0, 'x'))")
        raise TypeError(
            f"{function_name}: rank mismatch between targets ({targets.ndim}-d) and predictions "
            f"({predictions.ndim}-d); they must have the same number of dimensions{hint}"
        )
    return predictions, _as_float_like(predictions, targets)


def _class_indices(function_name, predictions, targets, check_labels):
    """The target class indices: `targets` (checked, see
    :func:`_check_class_indices`) if they have one dimension less than
    `predictions`, or the argmax of one-hot `targets` with the same dimensions."""
    if targets.ndim == predictions.ndim:
        return pt.argmax(targets, axis=-1)
    return _check_class_indices(function_name, predictions, targets, check_labels)


def _check_class_indices(function_name, predictions, targets, check_labels):
    """`targets` as class indices: TypeError now for a wrong rank or dtype and, with
    `check_labels`, IndexError when the function runs for a label outside
    ``[0, n_classes)`` (which would otherwise select no class: an infinite or
    meaningless loss that still updates the weights)."""
    if targets.ndim != predictions.ndim - 1:
        raise TypeError(
            f"{function_name}: rank mismatch between targets ({targets.ndim}-d) and predictions "
            f"({predictions.ndim}-d); give {predictions.ndim - 1}-d integer class indices "
            f"or {predictions.ndim}-d one-hot targets"
        )
    if not targets.dtype.startswith(("int", "uint")):
        raise TypeError(
            f"{function_name}: targets with one dimension less than predictions must be integer "
            f"class indices, got dtype {targets.dtype}"
        )
    if not check_labels:
        return targets
    return CheckClassIndices(function_name)(targets, predictions.shape[-1])


def _one_hot_mask(function_name, predictions, targets, check_labels):
    """A boolean tensor shaped like `predictions`, true at the target class:
    from class indices, or from one-hot `targets` of the same dimensions."""
    predictions = as_tensor_expression(predictions)
    targets = as_tensor_expression(targets)
    if targets.ndim == predictions.ndim:
        return pt.neq(targets, 0)
    targets = _check_class_indices(function_name, predictions, targets, check_labels)
    return pt.eq(pt.shape_padright(targets), pt.arange(predictions.shape[-1]))


def _clip_probabilities(predictions, eps):
    return pt.clip(predictions, eps, 1 - eps)


def binary_crossentropy(predictions: TensorLike, targets: TensorLike, eps: float = EPSILON) -> TensorVariable:
    """Element-wise binary cross-entropy
    :math:`L = -t \\log(p) - (1 - t) \\log(1 - p)`.

    Parameters
    ----------
    predictions : TensorVariable
        Predictions in (0, 1), such as the output of a sigmoid layer.
    targets : TensorVariable
        Targets in [0, 1], such as ground-truth labels.
    eps : float
        Predictions are clipped to ``[eps, 1 - eps]`` so that a saturated
        prediction gives a large finite loss instead of ``inf`` or ``nan``.
        Inside that range the loss and its gradient are exact.

    Returns
    -------
    TensorVariable
        The element-wise loss.

    Raises
    ------
    TypeError
        If `targets` and `predictions` differ in number of dimensions (other
        than a target vector for a single-column prediction matrix).

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([0.5, 1.0], dtype='float32')
    >>> t = np.array([1.0, 1.0], dtype='float32')
    >>> binary_crossentropy(p, t).eval().round(4)
    array([0.6931, 0.    ], dtype=float32)
    """
    predictions, targets = _elementwise_pair("binary_crossentropy", predictions, targets)
    p = _clip_probabilities(predictions, eps)
    return -(targets * pt.log(p) + (1 - targets) * pt.log1p(-p))


def categorical_crossentropy(predictions: TensorLike, targets: TensorLike, eps: float = EPSILON,
                             check_labels: bool = True) -> TensorVariable:
    """Item-wise categorical cross-entropy
    :math:`L_i = -\\sum_j t_{i,j} \\log(p_{i,j})`.

    Parameters
    ----------
    predictions : TensorVariable
        Class probabilities along the last axis, such as the output of a
        softmax layer: usually a ``(batch, classes)`` matrix.
    targets : TensorVariable
        Either integer class indices with one dimension less than
        `predictions` (a vector for a matrix of predictions), or target
        probabilities (such as one-hot rows) shaped like `predictions`. Both
        give the same loss for the same classes; indices are cheaper.
    eps : float
        Predictions are clipped to ``[eps, 1 - eps]`` so that a zero
        probability for the target class gives a large finite loss
        (``-log(eps)``, about 16) instead of ``inf``, and no ``nan``
        gradients. Inside that range the loss and its gradient are exact.
    check_labels : bool
        Raise ``IndexError`` when the compiled function meets a class index
        outside ``[0, n_classes)``, naming the label and the class count (on
        the Python and Numba backends; JAX cannot raise on values). It costs
        well under 1 % of a training step; False leaves it out of the graph.

    Returns
    -------
    TensorVariable
        The loss per item: `predictions` without its last axis.

    Raises
    ------
    TypeError
        If `targets` has neither the dimensions of `predictions` nor one
        less, or class indices are not integers.
    IndexError
        When the function runs, for a class index outside ``[0, n_classes)``
        (with `check_labels`).

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.25, 0.75], [0.5, 0.5]], dtype='float32')
    >>> categorical_crossentropy(p, np.array([1, 0], dtype='int32')).eval().round(4)
    array([0.2877, 0.6931], dtype=float32)
    """
    predictions = as_tensor_expression(predictions)
    targets = as_tensor_expression(targets)
    p = _clip_probabilities(predictions, eps)
    if targets.ndim == predictions.ndim:
        return -pt.sum(_as_float_like(p, targets) * pt.log(p), axis=-1)
    targets = _check_class_indices("categorical_crossentropy", predictions, targets, check_labels)
    # A one-hot mask rather than take_along_axis, whose gradient PyTensor's
    # JAX backend cannot compile (it needs a traced batch size as a shape).
    is_target = pt.eq(pt.shape_padright(targets), pt.arange(predictions.shape[-1]))
    return -pt.log(pt.sum(pt.switch(is_target, p, 0), axis=-1))


def squared_error(a: TensorLike, b: TensorLike) -> TensorVariable:
    """Element-wise squared difference :math:`L = (a - b)^2`.

    Parameters
    ----------
    a, b : TensorVariable
        The tensors to compare, usually predictions and targets; `b` may also
        be a scalar.

    Returns
    -------
    TensorVariable
        The element-wise squared difference.

    Raises
    ------
    TypeError
        If `a` and `b` differ in number of dimensions (other than a vector
        `b` for a single-column `a`, or a scalar `b`).

    Examples
    --------
    >>> import numpy as np
    >>> squared_error(np.array([1., 2.], dtype='float32'), np.array([3., 2.], dtype='float32')).eval()
    array([4., 0.], dtype=float32)
    """
    a, b = _elementwise_pair("squared_error", a, b)
    return pt.square(a - b)


def huber_loss(predictions: TensorLike, targets: TensorLike, delta: float = 1) -> TensorVariable:
    """Element-wise Huber loss: quadratic for small errors, linear for large
    ones, :math:`L = \\frac{1}{2} (p - t)^2` where :math:`|p - t| \\le
    \\delta`, else :math:`\\delta (|p - t| - \\frac{\\delta}{2})`.

    Parameters
    ----------
    predictions, targets : TensorVariable
        The predictions and the targets (same dimensions, a vector for a
        single-column prediction, or a scalar target).
    delta : scalar
        Where the loss turns from quadratic to linear (positive).

    Returns
    -------
    TensorVariable
        The element-wise loss.

    Raises
    ------
    ValueError
        For a ``delta`` that is not positive.
    TypeError
        As :func:`squared_error`.

    Examples
    --------
    >>> import numpy as np
    >>> huber_loss(np.array([0.5, 3.0]), np.array([0.0, 0.0])).eval()
    array([0.125, 2.5  ])
    """
    if isinstance(delta, (int, float, np.number)) and not delta > 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    predictions, targets = _elementwise_pair("huber_loss", predictions, targets)
    abs_diff = abs(targets - predictions)
    return pt.switch(abs_diff <= delta, 0.5 * pt.square(abs_diff), delta * (abs_diff - delta / 2.0))


def aggregate(loss: TensorLike, weights: TensorLike | None = None, mode: str = "mean") -> TensorVariable:
    """Aggregate an element- or item-wise loss into a scalar.

    Parameters
    ----------
    loss : TensorVariable
        The loss to aggregate.
    weights : TensorVariable or array, optional
        Weights for each element or item, broadcastable to the shape of
        `loss`. Binary weights mask entries out (masked entries must still be
        valid numbers; NaNs propagate).
    mode : {'mean', 'sum', 'normalized_sum'}
        Average, sum, or sum divided by the sum of `weights` (which requires
        `weights`).

    Returns
    -------
    TensorVariable
        The scalar loss.

    Raises
    ------
    ValueError
        For an unknown `mode`, or ``'normalized_sum'`` without `weights`;
        when the function runs, for ``'mean'`` of a loss with no elements (a
        batch of 0 samples), whose mean is undefined.

    Notes
    -----
    With ``'normalized_sum'`` the loss of a batch has about the same size
    whatever its weights, but a data point then counts more when it shares a
    batch with low-weighted or masked points.

    Examples
    --------
    >>> import numpy as np
    >>> loss = np.array([1., 2., 3.], dtype='float32')
    >>> float(aggregate(loss, weights=np.array([1, 1, 0]), mode='normalized_sum').eval())
    1.5
    """
    if mode not in ("mean", "sum", "normalized_sum"):
        raise ValueError(f"aggregate: mode must be 'mean', 'sum' or 'normalized_sum', got {mode!r}")
    if mode == "normalized_sum" and weights is None:
        raise ValueError("aggregate: mode='normalized_sum' requires weights")
    loss = as_tensor_expression(loss)
    if weights is not None:
        weights = as_tensor_expression(weights if isinstance(weights, Variable) else floatX(weights))
        weights = _as_float_like(loss, weights)
        loss = loss * weights
    if mode == "mean":
        # The mean of no elements is NaN: an empty batch raises instead.
        return CheckNotEmpty("aggregate")(loss).mean()
    if mode == "sum":
        return loss.sum()
    return loss.sum() / weights.sum()


def binary_hinge_loss(predictions: TensorLike, targets: TensorLike, delta: float = 1, log_odds: bool | None = None,
                      binary: bool = True) -> TensorVariable:
    """Element-wise binary hinge loss :math:`L_i = \\max(0, \\delta - t_i p_i)`,
    with :math:`t_i \\in \\{-1, 1\\}` and :math:`p_i` the log-odds.

    Parameters
    ----------
    predictions : TensorVariable
        Log-odds (the input of a sigmoid, e.g. a linear output layer) if
        `log_odds` is True, probabilities in (0, 1) (a sigmoid's output) if
        it is False.
    targets : TensorVariable
        Targets in {0, 1} if `binary`, else in {-1, 1}.
    delta : float
        The margin.
    check_labels : bool
        Raise ``IndexError`` when the compiled function meets a class index
        outside ``[0, n_classes)``, naming the label and the class count (on
        the Python and Numba backends; JAX cannot raise on values). False leaves
        it out of the graph.
    log_odds : bool or None
        Whether `predictions` are log-odds. ``None`` means True but warns
        (``FutureWarning``): the default will change to False, so say which.
    binary : bool
        Whether `targets` are in {0, 1} (True) or in {-1, 1} (False).

    Returns
    -------
    TensorVariable
        The element-wise loss.

    Raises
    ------
    TypeError
        If `targets` and `predictions` differ in number of dimensions.

    Notes
    -----
    An alternative to :func:`binary_crossentropy` for binary
    classification; a drop-in replacement only with ``log_odds=False``.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([2.0, 0.5, -1.0], dtype='float32')
    >>> t = np.array([1, 1, 1], dtype='float32')
    >>> binary_hinge_loss(p, t, log_odds=True).eval()
    array([0. , 0.5, 2. ], dtype=float32)
    """
    if log_odds is None:
        warnings.warn(
            "binary_hinge_loss: the default of log_odds will change from True to False; pass "
            "log_odds=True for log-odds predictions (linear outputs) or log_odds=False for "
            "probabilities (sigmoid outputs)",
            FutureWarning,
            stacklevel=2,
        )
        log_odds = True
    predictions, targets = _elementwise_pair("binary_hinge_loss", predictions, targets)
    if not log_odds:
        predictions = pt.log(predictions) - pt.log1p(-predictions)
    if binary:
        targets = 2 * targets - 1
    return pt.maximum(delta - predictions * targets, 0)


def multiclass_hinge_loss(predictions: TensorLike, targets: TensorLike, delta: float = 1,
                          check_labels: bool = True) -> TensorVariable:
    """Item-wise multi-class hinge loss
    :math:`L_i = \\max(0, \\max_{j \\ne t_i} p_{i,j} - p_{i,t_i} + \\delta)`.

    Parameters
    ----------
    predictions : TensorVariable
        Class scores along the last axis, usually a ``(batch, classes)``
        matrix.
    targets : TensorVariable
        Integer class indices with one dimension less than `predictions`, or
        one-hot targets shaped like `predictions` (other values in [0, 1] do
        not work).
    delta : float
        The margin.
    check_labels : bool
        Raise ``IndexError`` when the compiled function meets a class index
        outside ``[0, n_classes)``, naming the label and the class count (on
        the Python and Numba backends; JAX cannot raise on values). False leaves
        it out of the graph.

    Returns
    -------
    TensorVariable
        The loss per item.

    Raises
    ------
    TypeError
        If `targets` has neither the dimensions of `predictions` nor one
        less, or class indices are not integers.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.2, 0.7, 0.1], [0.6, 0.3, 0.1]], dtype='float32')
    >>> multiclass_hinge_loss(p, np.array([1, 1], dtype='int32')).eval().round(4)
    array([0.5, 1.3], dtype=float32)
    """
    predictions = as_tensor_expression(predictions)
    is_target = _one_hot_mask("multiclass_hinge_loss", predictions, targets, check_labels)
    correct = pt.sum(pt.switch(is_target, predictions, 0), axis=-1)
    best_other = pt.max(pt.switch(is_target, -pt.inf, predictions), axis=-1)
    return pt.maximum(best_other - correct + delta, 0)


def binary_accuracy(predictions: TensorLike, targets: TensorLike, threshold: float = 0.5) -> TensorVariable:
    """Element-wise binary accuracy: 1 where ``predictions >= threshold``
    matches the target, else 0.

    Parameters
    ----------
    predictions : TensorVariable
        Predictions in [0, 1], the probability of the positive class.
    targets : TensorVariable
        Targets in {0, 1}.
    threshold : float
        Predictions at or above it count as the positive class.

    Returns
    -------
    TensorVariable
        0 or 1 per element, of dtype ``floatX`` (so ``.mean()`` is the
        accuracy, in ``floatX``).

    Raises
    ------
    TypeError
        If `targets` and `predictions` differ in number of dimensions.

    Notes
    -----
    For validation and testing only: its gradient is zero everywhere.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([0.2, 0.6, 0.9], dtype='float32')
    >>> binary_accuracy(p, np.array([0, 0, 1])).eval()
    array([1., 0., 1.], dtype=float32)
    """
    predictions, targets = _elementwise_pair("binary_accuracy", predictions, targets)
    return pt.cast(pt.eq(pt.ge(predictions, threshold), targets), pytensor.config.floatX)


def categorical_accuracy(predictions: TensorLike, targets: TensorLike, top_k: int = 1,
                         check_labels: bool = True) -> TensorVariable:
    """Item-wise categorical accuracy: 1 where the target class has the
    highest prediction (or is among the `top_k` highest), else 0.

    Parameters
    ----------
    predictions : TensorVariable
        Class scores along the last axis, usually a ``(batch, classes)``
        matrix.
    targets : TensorVariable
        Integer class indices with one dimension less than `predictions`, or
        one-hot targets shaped like `predictions`.
    top_k : int
        Count an item as correct if its target class is among the `top_k`
        highest predictions.
    check_labels : bool
        Raise ``IndexError`` when the compiled function meets a class index
        outside ``[0, n_classes)``, naming the label and the class count (on
        the Python and Numba backends; JAX cannot raise on values). False leaves
        it out of the graph.

    Returns
    -------
    TensorVariable
        0 or 1 per item, of dtype ``floatX``.

    Raises
    ------
    TypeError
        If `targets` has neither the dimensions of `predictions` nor one
        less, or class indices are not integers.

    Notes
    -----
    For validation and testing only: its gradient is zero everywhere.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.1, 0.3, 0.6], [0.5, 0.3, 0.2]], dtype='float32')
    >>> t = np.array([1, 0], dtype='int32')
    >>> categorical_accuracy(p, t).eval()
    array([0., 1.], dtype=float32)
    >>> categorical_accuracy(p, t, top_k=2).eval()
    array([1., 1.], dtype=float32)
    """
    predictions = as_tensor_expression(predictions)
    targets = _class_indices("categorical_accuracy", predictions, as_tensor_expression(targets),
                             check_labels)
    if top_k == 1:
        correct = pt.eq(pt.argmax(predictions, axis=-1), targets)
    else:
        top = pt.argsort(predictions, axis=-1)[..., -top_k:]
        correct = pt.any(pt.eq(top, pt.shape_padright(targets)), axis=-1)
    return pt.cast(correct, pytensor.config.floatX)
