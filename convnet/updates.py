"""Update rules: functions that build the update dictionary of a training step.

Each function takes a scalar loss (or a list of gradients, one per
parameter) and a list of parameters (shared variables), and returns an
``OrderedDict`` mapping each parameter -- and any state the rule keeps, such
as a velocity -- to its new value, ready for ``pytensor.function(...,
updates=updates)``:

* :func:`sgd`, :func:`momentum`, :func:`nesterov_momentum`
* :func:`adagrad`, :func:`rmsprop`, :func:`adadelta`
* :func:`adam`, :func:`adamax`, :func:`amsgrad`

:func:`apply_momentum` and :func:`apply_nesterov_momentum` add momentum to
the updates of any rule. :func:`norm_constraint` limits the norms of a
tensor's slices (max-norm regularization of weights, or gradient clipping)
and :func:`total_norm_constraint` the joint norm of several tensors (gradient
clipping for recurrent networks). :func:`get_or_compute_grads` is the
helper all rules use to accept a loss or gradients.

Hyperparameters (learning rate, momentum, betas, ...) may be Python numbers
or symbolic scalars such as shared variables, which change a schedule
without recompiling. They are cast to ``floatX``, and every update is cast to
the dtype of the variable it updates, so float32 parameters stay float32.

Examples
--------
>>> import numpy as np
>>> import pytensor
>>> import pytensor.tensor as pt
>>> import convnet
>>> from convnet.utils import floatX
>>> W = pytensor.shared(floatX(np.ones((3, 2))), name='W')
>>> b = pytensor.shared(floatX(np.zeros(2)), name='b')
>>> x = pt.matrix('x')
>>> loss = pt.mean(pt.sqr(pt.dot(x, W) + b))
>>> lr = pytensor.shared(floatX(0.01), name='learning_rate')
>>> updates = convnet.updates.nesterov_momentum(loss, [W, b], learning_rate=lr)
>>> train = pytensor.function([x], loss, updates=updates)
>>> lr.set_value(floatX(lr.get_value() * 0.5))  # a schedule: halve it, no recompiling

Momentum can be added to rules that do not have it:

>>> updates = convnet.updates.rmsprop(loss, [W, b], learning_rate=0.001)
>>> updates = convnet.updates.apply_momentum(updates, [W, b], momentum=0.9)
>>> len(updates)  # W, b, their accumulators and their velocities
6

**Different learning rates for different parameters.** Each rule only
updates the parameters it is given, so to train one group of parameters
slower than another -- say, to fine-tune pretrained layers at a tenth of the
learning rate of the new layers on top -- build the updates of each group
and merge them::

    updates = convnet.updates.nesterov_momentum(loss, new_params, learning_rate=lr)
    updates.update(convnet.updates.nesterov_momentum(loss, old_params, learning_rate=0.1 * lr))

where, for example, ``old_params = convnet.layers.get_all_params(pretrained,
trainable=True)`` and ``new_params`` are the other trainable parameters of
the network. If ``lr`` is a shared variable, both groups follow its schedule.
The groups must not overlap.
"""
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Variable
from pytensor.tensor.variable import TensorVariable

from .utils import floatX

__all__ = [
    "get_or_compute_grads",
    "sgd",
    "apply_momentum",
    "momentum",
    "apply_nesterov_momentum",
    "nesterov_momentum",
    "adagrad",
    "rmsprop",
    "adadelta",
    "adam",
    "adamax",
    "amsgrad",
    "norm_constraint",
    "total_norm_constraint",
]


def get_or_compute_grads(loss_or_grads: TensorVariable | Sequence[TensorVariable], params: Sequence[SharedVariable]) -> list[TensorVariable]:
    """The gradients of the loss with respect to `params`, or the given ones.

    Parameters
    ----------
    loss_or_grads : TensorVariable or list of TensorVariable
        A scalar loss, or a list (or tuple) of gradients, one per parameter.
    params : list of SharedVariable
        The parameters.

    Returns
    -------
    list of TensorVariable
        The given gradients, or ``pytensor.grad(loss_or_grads, params)``.

    Raises
    ------
    ValueError
        If a parameter is not a shared variable (it could not be updated), or
        the number of gradients differs from the number of parameters.

    Examples
    --------
    >>> import numpy as np
    >>> import pytensor
    >>> w = pytensor.shared(np.float32(3.0))
    >>> [g.eval() for g in get_or_compute_grads(w ** 2, [w])]
    [array(6., dtype=float32)]
    """
    params = list(params)
    not_shared = [f"{i} ({p.name or type(p).__name__})" for i, p in enumerate(params)
                  if not isinstance(p, SharedVariable)]
    if not_shared:
        raise ValueError(
            f"params must contain shared variables only, but those at position {', '.join(not_shared)} "
            "are not. If they are expressions of shared variables, "
            "convnet.utils.collect_shared_vars() finds those."
        )
    if isinstance(loss_or_grads, (list, tuple)):
        if len(loss_or_grads) != len(params):
            raise ValueError(f"got {len(loss_or_grads)} gradient expressions for {len(params)} parameters")
        return list(loss_or_grads)
    return pytensor.grad(loss_or_grads, params)


def _hyperparameter(value):
    """A number or symbolic scalar as a scalar of dtype ``floatX``, so that it
    does not turn float32 updates into float64."""
    if isinstance(value, Variable):
        return value if value.dtype == pytensor.config.floatX else pt.cast(value, pytensor.config.floatX)
    return pt.constant(floatX(value))


def _zeros_like(param, role):
    """A shared variable of zeros shaped like `param`, holding an update
    rule's state (`role` names it, after the parameter)."""
    value = param.get_value(borrow=True)
    name = f"{param.name}.{role}" if param.name else role
    return pytensor.shared(np.zeros(value.shape, dtype=value.dtype), shape=param.type.shape, name=name)


def _cast_to_variable_dtypes(updates):
    """`updates` with every new value cast to the dtype of its variable."""
    return OrderedDict(
        (var, value if value.dtype == var.dtype else pt.cast(value, var.dtype)) for var, value in updates.items()
    )


def sgd(loss_or_grads: TensorVariable | Sequence[TensorVariable], params: Sequence[SharedVariable],
        learning_rate: float | Variable) -> OrderedDict[SharedVariable, Variable]:
    """Stochastic gradient descent: ``param := param - learning_rate * gradient``.

    Parameters
    ----------
    loss_or_grads : TensorVariable or list of TensorVariable
        A scalar loss, or the gradients, one per parameter.
    params : list of SharedVariable
        The parameters to update.
    learning_rate : float or symbolic scalar
        The step size.

    Returns
    -------
    OrderedDict
        Each parameter mapped to its update.

    Examples
    --------
    >>> import numpy as np
    >>> import pytensor
    >>> w = pytensor.shared(np.float32(3.0))
    >>> step = pytensor.function([], [], updates=sgd(w ** 2, [w], learning_rate=0.25))
    >>> step(); w.get_value()
    []
    array(1.5, dtype=float32)
    """
    grads = get_or_compute_grads(loss_or_grads, params)
    learning_rate = _hyperparameter(learning_rate)
    updates = OrderedDict((param, param - learning_rate * grad) for param, grad in zip(params, grads))
    return _cast_to_variable_dtypes(updates)


def _add_momentum(updates, params, momentum, nesterov, steps=None):
    """Momentum for the parameters of `updates`, given the step each would
    take without it, ``step = updates[param] - param`` (or ``steps[param]``)::

        velocity := momentum * velocity + step
        param := param + velocity                    (classical)
        param := param + momentum * velocity + step  (Nesterov)
    """
    if params is None:
        params = list(updates.keys())
    momentum = _hyperparameter(momentum)
    updates = OrderedDict(updates)
    for param in params:
        velocity = _zeros_like(param, "velocity")
        step = updates[param] - param if steps is None else steps[param]
        new_velocity = momentum * velocity + step
        updates[velocity] = new_velocity
        updates[param] = param + (momentum * new_velocity + step if nesterov else new_velocity)
    return _cast_to_variable_dtypes(updates)


def _sgd_with_momentum(loss_or_grads, params, learning_rate, momentum, nesterov):
    """:func:`sgd` with momentum, the step ``-learning_rate * gradient``
    written out: ``(param - learning_rate * gradient) - param`` is the same
    once PyTensor has simplified it, but that takes it 2 ms a parameter
    (0.2 s for a ResNet-32) whenever a new training function is compiled."""
    grads = get_or_compute_grads(loss_or_grads, params)
    learning_rate = _hyperparameter(learning_rate)
    steps = {param: -learning_rate * grad for param, grad in zip(params, grads)}
    return _add_momentum(OrderedDict.fromkeys(params), params, momentum, nesterov, steps)


def apply_momentum(updates: Mapping[SharedVariable, Variable], params: Sequence[SharedVariable] | None = None,
                   momentum: float | Variable = 0.9) -> OrderedDict[SharedVariable, Variable]:
    """Add classical momentum to an update dictionary.

    With ``step = updates[param] - param`` the step a rule would take::

        velocity := momentum * velocity + step
        param := param + velocity

    Parameters
    ----------
    updates : OrderedDict
        Parameters mapped to their updates, e.g. from :func:`sgd`.
    params : list of SharedVariable, optional
        The parameters to add momentum to; all keys of `updates` by default.
        Give them when `updates` also updates a rule's state (such as
        :func:`rmsprop`'s accumulators), which should not get momentum.
    momentum : float or symbolic scalar
        How much of the previous velocity to keep. Higher momentum smooths
        over more steps and makes them larger; scale the learning rate by
        ``1 - momentum`` to counter that.

    Returns
    -------
    OrderedDict
        A copy of `updates` with momentum for `params`, including the
        updates of the velocities.

    See Also
    --------
    momentum : SGD with momentum.

    Examples
    --------
    >>> import numpy as np
    >>> import pytensor
    >>> w = pytensor.shared(np.float32(3.0))
    >>> updates = apply_momentum(rmsprop(w ** 2, [w]), [w], momentum=0.9)
    >>> len(updates)  # w, rmsprop's accumulator and w's velocity
    3
    """
    return _add_momentum(updates, params, momentum, nesterov=False)


def momentum(loss_or_grads: TensorVariable | Sequence[TensorVariable], params: Sequence[SharedVariable],
             learning_rate: float | Variable, momentum: float | Variable = 0.9) -> OrderedDict[SharedVariable, Variable]:
    """Stochastic gradient descent with classical momentum::

        velocity := momentum * velocity - learning_rate * gradient
        param := param + velocity

    Parameters
    ----------
    loss_or_grads : TensorVariable or list of TensorVariable
        A scalar loss, or the gradients, one per parameter.
    params : list of SharedVariable
        The parameters to update.
    learning_rate : float or symbolic scalar
        The step size.
    momentum : float or symbolic scalar
        How much of the previous velocity to keep (see :func:`apply_momentum`).

    Returns
    -------
    OrderedDict
        Each parameter and its velocity mapped to its update.

    See Also
    --------
    apply_momentum : Momentum for any rule.
    nesterov_momentum : Nesterov's variant.

    Examples
    --------
    >>> import numpy as np
    >>> import pytensor
    >>> w = pytensor.shared(np.float32(3.0))
    >>> updates = momentum(w ** 2, [w], learning_rate=0.1, momentum=0.9)
    """
    return _sgd_with_momentum(loss_or_grads, params, learning_rate, momentum, nesterov=False)


def apply_nesterov_momentum(updates: Mapping[SharedVariable, Variable],
                            params: Sequence[SharedVariable] | None = None, momentum: float | Variable = 0.9) -> OrderedDict[SharedVariable, Variable]:
    """Add Nesterov momentum to an update dictionary.

    With ``step = updates[param] - param`` the step a rule would take::

        velocity := momentum * velocity + step
        param := param + momentum * velocity + step

    Parameters
    ----------
    updates : OrderedDict
        Parameters mapped to their updates, e.g. from :func:`sgd`.
    params : list of SharedVariable, optional
        The parameters to add momentum to; all keys of `updates` by default.
        Give them when `updates` also updates a rule's state (such as
        :func:`rmsprop`'s accumulators), which should not get momentum.
    momentum : float or symbolic scalar
        How much of the previous velocity to keep (see :func:`apply_momentum`).

    Returns
    -------
    OrderedDict
        A copy of `updates` with Nesterov momentum for `params`, including the
        updates of the velocities.

    Notes
    -----
    Nesterov's accelerated gradient evaluates the gradient at the position
    the momentum is about to take the parameters to. This formulation (from
    https://github.com/lisa-lab/pylearn2/pull/136#issuecomment-10381617)
    is equivalent but evaluates it at the current parameters.

    See Also
    --------
    nesterov_momentum : SGD with Nesterov momentum.

    Examples
    --------
    >>> import numpy as np
    >>> import pytensor
    >>> w = pytensor.shared(np.float32(3.0))
    >>> updates = apply_nesterov_momentum(adagrad(w ** 2, [w]), [w], momentum=0.9)
    """
    return _add_momentum(updates, params, momentum, nesterov=True)


def nesterov_momentum(loss_or_grads: TensorVariable | Sequence[TensorVariable], params: Sequence[SharedVariable],
                      learning_rate: float | Variable, momentum: float | Variable = 0.9) -> OrderedDict[SharedVariable, Variable]:
    """Stochastic gradient descent with Nesterov momentum::

        velocity := momentum * velocity - learning_rate * gradient
        param := param + momentum * velocity - learning_rate * gradient

    Parameters
    ----------
    loss_or_grads : TensorVariable or list of TensorVariable
        A scalar loss, or the gradients, one per parameter.
    params : list of SharedVariable
        The parameters to update.
    learning_rate : float or symbolic scalar
        The step size.
    momentum : float or symbolic scalar
        How much of the previous velocity to keep (see :func:`apply_momentum`).

    Returns
    -------
    OrderedDict
        Each parameter and its velocity mapped to its update.

    See Also
    --------
    apply_nesterov_momentum : Nesterov momentum for any rule.

    Examples
    --------
    >>> import numpy as np
    >>> import pytensor
    >>> w = pytensor.shared(np.float32(3.0))
    >>> updates = nesterov_momentum(w ** 2, [w], learning_rate=0.1, momentum=0.9)
    """
    return _sgd_with_momentum(loss_or_grads, params, learning_rate, momentum, nesterov=True)


def adagrad(loss_or_grads: TensorVariable | Sequence[TensorVariable], params: Sequence[SharedVariable],
            learning_rate: float | Variable = 1.0, epsilon: float | Variable = 1e-6) -> OrderedDict[SharedVariable, Variable]:
    """Adagrad (Duchi et al., 2011): scale each parameter's step by the inverse square root of
    its accumulated squared gradients::

        accu := accu + gradient ** 2
        param := param - learning_rate * gradient / sqrt(accu + epsilon)

    Parameters
    ----------
    loss_or_grads : TensorVariable or list of TensorVariable
        A scalar loss, or the gradients, one per parameter.
    params : list of SharedVariable
        The parameters to update.
    learning_rate : float or symbolic scalar
        The step size.
    epsilon : float or symbolic scalar
        Added for numerical stability (not in the original formula; see Dyer).

    Returns
    -------
    OrderedDict
        Each parameter and its accumulator mapped to its update.

    Notes
    -----
    The effective learning rate decreases monotonically.

    References
    ----------
    * Duchi, Hazan and Singer (2011): Adaptive subgradient methods for
      online learning and stochastic optimization. JMLR 12:2121-2159.
    * Chris Dyer: Notes on AdaGrad.

    Examples
    --------
    >>> import numpy as np
    >>> import pytensor
    >>> w = pytensor.shared(np.float32(3.0))
    >>> updates = adagrad(w ** 2, [w], learning_rate=0.1)
    """
    grads = get_or_compute_grads(loss_or_grads, params)
    learning_rate, epsilon = _hyperparameter(learning_rate), _hyperparameter(epsilon)
    updates = OrderedDict()
    for param, grad in zip(params, grads):
        accu = _zeros_like(param, "accu")
        accu_new = accu + grad**2
        updates[accu] = accu_new
        updates[param] = param - learning_rate * grad / pt.sqrt(accu_new + epsilon)
    return _cast_to_variable_dtypes(updates)


def rmsprop(loss_or_grads: TensorVariable | Sequence[TensorVariable], params: Sequence[SharedVariable],
            learning_rate: float | Variable = 1.0, rho: float | Variable = 0.9, epsilon: float | Variable = 1e-6) -> OrderedDict[SharedVariable, Variable]:
    """RMSProp (Tieleman and Hinton, 2012): scale each parameter's step by the inverse root of a
    moving average of its squared gradients::

        accu := rho * accu + (1 - rho) * gradient ** 2
        param := param - learning_rate * gradient / sqrt(accu + epsilon)

    Parameters
    ----------
    loss_or_grads : TensorVariable or list of TensorVariable
        A scalar loss, or the gradients, one per parameter.
    params : list of SharedVariable
        The parameters to update.
    learning_rate : float or symbolic scalar
        The step size.
    rho : float or symbolic scalar
        Decay of the moving average, in [0, 1): close to 1 averages over many
        steps.
    epsilon : float or symbolic scalar
        Added for numerical stability.

    Returns
    -------
    OrderedDict
        Each parameter and its accumulator mapped to its update.

    References
    ----------
    * Tieleman and Hinton (2012): Neural Networks for Machine Learning,
      Lecture 6.5 - rmsprop. Coursera.

    Examples
    --------
    >>> import numpy as np
    >>> import pytensor
    >>> w = pytensor.shared(np.float32(3.0))
    >>> updates = rmsprop(w ** 2, [w], learning_rate=0.01)
    """
    grads = get_or_compute_grads(loss_or_grads, params)
    learning_rate, rho, epsilon = map(_hyperparameter, (learning_rate, rho, epsilon))
    updates = OrderedDict()
    for param, grad in zip(params, grads):
        accu = _zeros_like(param, "accu")
        accu_new = rho * accu + (1 - rho) * grad**2
        updates[accu] = accu_new
        updates[param] = param - learning_rate * grad / pt.sqrt(accu_new + epsilon)
    return _cast_to_variable_dtypes(updates)


def adadelta(loss_or_grads: TensorVariable | Sequence[TensorVariable], params: Sequence[SharedVariable],
             learning_rate: float | Variable = 1.0, rho: float | Variable = 0.95, epsilon: float | Variable = 1e-6) -> OrderedDict[SharedVariable, Variable]:
    """Adadelta (Zeiler, 2012): scale each step by the ratio of the root mean squares of
    past steps and of gradients::

        accu := rho * accu + (1 - rho) * gradient ** 2
        step := gradient * sqrt(delta_accu + epsilon) / sqrt(accu + epsilon)
        param := param - learning_rate * step
        delta_accu := rho * delta_accu + (1 - rho) * step ** 2

    Parameters
    ----------
    loss_or_grads : TensorVariable or list of TensorVariable
        A scalar loss, or the gradients, one per parameter.
    params : list of SharedVariable
        The parameters to update.
    learning_rate : float or symbolic scalar
        Scales the step; the paper has none (1.0), which is usually best.
    rho : float or symbolic scalar
        Decay of the moving averages, in [0, 1).
    epsilon : float or symbolic scalar
        Added for numerical stability; it also makes the first step nonzero.

    Returns
    -------
    OrderedDict
        Each parameter and its two accumulators mapped to their updates.

    Notes
    -----
    ``rho=0.95`` and ``epsilon=1e-6`` are the paper's suggestions.

    References
    ----------
    * Zeiler (2012): ADADELTA: An Adaptive Learning Rate Method.
      arXiv:1212.5701.

    Examples
    --------
    >>> import numpy as np
    >>> import pytensor
    >>> w = pytensor.shared(np.float32(3.0))
    >>> updates = adadelta(w ** 2, [w])
    """
    grads = get_or_compute_grads(loss_or_grads, params)
    learning_rate, rho, epsilon = map(_hyperparameter, (learning_rate, rho, epsilon))
    updates = OrderedDict()
    for param, grad in zip(params, grads):
        accu = _zeros_like(param, "accu")
        delta_accu = _zeros_like(param, "delta_accu")
        accu_new = rho * accu + (1 - rho) * grad**2
        step = grad * pt.sqrt(delta_accu + epsilon) / pt.sqrt(accu_new + epsilon)
        updates[accu] = accu_new
        updates[param] = param - learning_rate * step
        updates[delta_accu] = rho * delta_accu + (1 - rho) * step**2
    return _cast_to_variable_dtypes(updates)


def _adam_family(loss_or_grads, params, learning_rate, beta1, beta2, epsilon, variant):
    """Adam and its variants, which share the step count ``t``, the first
    moment ``m`` and the bias correction::

        m := beta1 * m + (1 - beta1) * gradient
        param := param - learning_rate * correction(t) * m / (denominator + epsilon)

    `variant` is ``'adam'``, ``'adamax'`` or ``'amsgrad'`` and chooses the
    denominator and its state.
    """
    grads = get_or_compute_grads(loss_or_grads, params)
    learning_rate, beta1, beta2, epsilon = map(_hyperparameter, (learning_rate, beta1, beta2, epsilon))
    t_prev = pytensor.shared(floatX(0.0), name=f"{variant}.t")
    t = t_prev + 1
    if variant == "adamax":
        step_size = learning_rate / (1 - beta1**t)
    else:
        step_size = learning_rate * pt.sqrt(1 - beta2**t) / (1 - beta1**t)
    updates = OrderedDict()
    for param, grad in zip(params, grads):
        m_prev = _zeros_like(param, "m")
        m = beta1 * m_prev + (1 - beta1) * grad
        updates[m_prev] = m
        if variant == "adamax":
            u_prev = _zeros_like(param, "u")
            u = pt.maximum(beta2 * u_prev, abs(grad))
            updates[u_prev] = u
            denominator = u
        else:
            v_prev = _zeros_like(param, "v")
            v = beta2 * v_prev + (1 - beta2) * grad**2
            updates[v_prev] = v
            if variant == "amsgrad":
                v_hat_prev = _zeros_like(param, "v_hat")
                v = pt.maximum(v_hat_prev, v)
                updates[v_hat_prev] = v
            denominator = pt.sqrt(v)
        updates[param] = param - step_size * m / (denominator + epsilon)
    updates[t_prev] = t
    return _cast_to_variable_dtypes(updates)


def adam(loss_or_grads: TensorVariable | Sequence[TensorVariable], params: Sequence[SharedVariable],
         learning_rate: float | Variable = 0.001, beta1: float | Variable = 0.9, beta2: float | Variable = 0.999, epsilon: float | Variable = 1e-8) -> OrderedDict[SharedVariable, Variable]:
    """Adam (Kingma and Ba, 2014)::

        t := t + 1
        m := beta1 * m + (1 - beta1) * gradient
        v := beta2 * v + (1 - beta2) * gradient ** 2
        param := param - learning_rate * sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
                         * m / (sqrt(v) + epsilon)

    Parameters
    ----------
    loss_or_grads : TensorVariable or list of TensorVariable
        A scalar loss, or the gradients, one per parameter.
    params : list of SharedVariable
        The parameters to update.
    learning_rate : float or symbolic scalar
        The step size.
    beta1 : float or symbolic scalar
        Decay of the first moment estimate.
    beta2 : float or symbolic scalar
        Decay of the second moment estimate.
    epsilon : float or symbolic scalar
        Added for numerical stability.

    Returns
    -------
    OrderedDict
        Each parameter, its moment estimates and the step count mapped to
        their updates.

    Notes
    -----
    The paper's additional hyperparameter lambda, only needed for the
    convergence proof, is omitted.

    References
    ----------
    * Kingma and Ba (2014): Adam: A Method for Stochastic Optimization.
      arXiv:1412.6980.

    Examples
    --------
    >>> import numpy as np
    >>> import pytensor
    >>> w = pytensor.shared(np.float32(3.0))
    >>> updates = adam(w ** 2, [w], learning_rate=0.01)
    """
    return _adam_family(loss_or_grads, params, learning_rate, beta1, beta2, epsilon, "adam")


def adamax(loss_or_grads: TensorVariable | Sequence[TensorVariable], params: Sequence[SharedVariable],
           learning_rate: float | Variable = 0.002, beta1: float | Variable = 0.9, beta2: float | Variable = 0.999, epsilon: float | Variable = 1e-8) -> OrderedDict[SharedVariable, Variable]:
    """Adamax (Kingma and Ba, 2014), the variant of Adam based on the infinity norm::

        t := t + 1
        m := beta1 * m + (1 - beta1) * gradient
        u := max(beta2 * u, abs(gradient))
        param := param - learning_rate / (1 - beta1 ** t) * m / (u + epsilon)

    Parameters
    ----------
    loss_or_grads : TensorVariable or list of TensorVariable
        A scalar loss, or the gradients, one per parameter.
    params : list of SharedVariable
        The parameters to update.
    learning_rate : float or symbolic scalar
        The step size.
    beta1 : float or symbolic scalar
        Decay of the first moment estimate.
    beta2 : float or symbolic scalar
        Decay of the infinity-norm estimate.
    epsilon : float or symbolic scalar
        Added for numerical stability.

    Returns
    -------
    OrderedDict
        Each parameter, its moment estimates and the step count mapped to
        their updates.

    References
    ----------
    * Kingma and Ba (2014): Adam: A Method for Stochastic Optimization.
      arXiv:1412.6980.

    Examples
    --------
    >>> import numpy as np
    >>> import pytensor
    >>> w = pytensor.shared(np.float32(3.0))
    >>> updates = adamax(w ** 2, [w])
    """
    return _adam_family(loss_or_grads, params, learning_rate, beta1, beta2, epsilon, "adamax")


def amsgrad(loss_or_grads: TensorVariable | Sequence[TensorVariable], params: Sequence[SharedVariable],
            learning_rate: float | Variable = 0.001, beta1: float | Variable = 0.9, beta2: float | Variable = 0.999, epsilon: float | Variable = 1e-8) -> OrderedDict[SharedVariable, Variable]:
    """AMSGrad (Reddi et al., 2018), Adam with a non-decreasing second moment estimate::

        t := t + 1
        m := beta1 * m + (1 - beta1) * gradient
        v := beta2 * v + (1 - beta2) * gradient ** 2
        v_hat := max(v_hat, v)
        param := param - learning_rate * sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
                         * m / (sqrt(v_hat) + epsilon)

    Parameters
    ----------
    loss_or_grads : TensorVariable or list of TensorVariable
        A scalar loss, or the gradients, one per parameter.
    params : list of SharedVariable
        The parameters to update.
    learning_rate : float or symbolic scalar
        The step size.
    beta1 : float or symbolic scalar
        Decay of the first moment estimate.
    beta2 : float or symbolic scalar
        Decay of the second moment estimate.
    epsilon : float or symbolic scalar
        Added for numerical stability.

    Returns
    -------
    OrderedDict
        Each parameter, its moment estimates and the step count mapped to
        their updates.

    References
    ----------
    * Reddi, Kale and Kumar (2018): On the Convergence of Adam and
      Beyond. ICLR. https://openreview.net/forum?id=ryQu7f-RZ

    Examples
    --------
    >>> import numpy as np
    >>> import pytensor
    >>> w = pytensor.shared(np.float32(3.0))
    >>> updates = amsgrad(w ** 2, [w])
    """
    return _adam_family(loss_or_grads, params, learning_rate, beta1, beta2, epsilon, "amsgrad")


def norm_constraint(tensor_var: Variable, max_norm: float | Variable, norm_axes: Sequence[int] | None = None,
                    epsilon: float = 1e-7) -> TensorVariable:
    """Rescale the slices of a tensor whose L2 norm exceeds `max_norm` to
    that norm (max-norm weight constraint, or gradient clipping).

    Parameters
    ----------
    tensor_var : TensorVariable
        A parameter's update, a gradient, or another tensor.
    max_norm : float or symbolic scalar
        The largest norm allowed.
    norm_axes : sequence of int, optional
        The axes to compute norms over. By default axis 0 for a matrix (the
        weights into each unit of a dense layer) and all axes but the first
        for 3-, 4- and 5-D tensors (each filter of a convolution).
    epsilon : float
        Added to the norms before dividing by them.

    Returns
    -------
    TensorVariable
        `tensor_var` with the slices whose norm exceeds `max_norm` rescaled.

    Raises
    ------
    ValueError
        If `norm_axes` is not given and `tensor_var` is not 2- to 5-D.

    Examples
    --------
    >>> import numpy as np
    >>> import pytensor
    >>> from convnet.utils import compute_norms, floatX
    >>> W = pytensor.shared(floatX(np.random.randn(100, 200)))
    >>> step = pytensor.function([], [], updates=[(W, norm_constraint(W + 100, 10))])
    >>> _ = step()
    >>> bool(np.isclose(compute_norms(W.get_value()).max(), 10))
    True
    """
    ndim = tensor_var.ndim
    if norm_axes is not None:
        sum_over = tuple(norm_axes)
    elif ndim == 2:
        sum_over = (0,)
    elif ndim in (3, 4, 5):
        sum_over = tuple(range(1, ndim))
    else:
        raise ValueError(f"norm_constraint: no default norm axes for a {ndim}-d tensor; give norm_axes")
    norms = pt.sqrt(pt.sum(pt.sqr(tensor_var), axis=sum_over, keepdims=True))
    target_norms = pt.clip(norms, 0, _hyperparameter(max_norm))
    return tensor_var * (target_norms / (_hyperparameter(epsilon) + norms))


def total_norm_constraint(tensor_vars: Sequence[Variable], max_norm: float | Variable, epsilon: float = 1e-7,
                          return_norm: bool = False) -> list[TensorVariable] | tuple[list[TensorVariable], TensorVariable]:
    """Rescale a list of tensors together if their joint L2 norm exceeds
    `max_norm`, so that it equals `max_norm`.

    Clipping the joint norm of all gradients is common when training
    recurrent networks (Sutskever et al., 2014).

    Parameters
    ----------
    tensor_vars : list of TensorVariable
        The tensors, e.g. the gradients of all parameters.
    max_norm : float or symbolic scalar
        The largest joint norm allowed.
    epsilon : float
        Added to the norm before dividing by it.
    return_norm : bool
        Also return the joint norm before rescaling (useful to monitor).

    Returns
    -------
    tensor_vars_scaled : list of TensorVariable
        The rescaled tensors.
    norm : TensorVariable
        The joint norm before rescaling; only if `return_norm` is True.

    References
    ----------
    * Sutskever, Vinyals and Le (2014): Sequence to sequence learning
      with neural networks. NIPS.

    Examples
    --------
    >>> import numpy as np
    >>> import pytensor
    >>> from convnet.utils import floatX
    >>> W = pytensor.shared(floatX(np.ones((3, 4))))
    >>> b = pytensor.shared(floatX(np.ones(4)))
    >>> loss = ((W + b) ** 2).sum()
    >>> grads = total_norm_constraint(pytensor.grad(loss, [W, b]), max_norm=5)
    >>> updates = sgd(grads, [W, b], learning_rate=0.1)
    """
    norm = pt.sqrt(sum(pt.sum(pt.sqr(tensor)) for tensor in tensor_vars))
    target_norm = pt.clip(norm, 0, _hyperparameter(max_norm))
    multiplier = target_norm / (_hyperparameter(epsilon) + norm)
    tensor_vars_scaled = [tensor * multiplier for tensor in tensor_vars]
    if return_norm:
        return tensor_vars_scaled, norm
    return tensor_vars_scaled
