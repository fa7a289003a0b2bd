"""The scikit-learn estimator :class:`NeuralNet` (after nolearn's)."""
import copy
import inspect
import json
import numbers
import time
from collections import OrderedDict

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.tensor.random.type import RandomGeneratorType
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import ClassifierTags, RegressorTags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
from tqdm.auto import tqdm

from ..augmentation import BatchIterator
from ..layers import InputLayer, Layer, get_all_params, get_output, summary
from ..random import get_rng, using_rng
from ..objectives import aggregate, categorical_crossentropy, squared_error
from ..regularization import l2 as l2_penalty
from ..regularization import regularize_network_params
from ..updates import nesterov_momentum
from ..utils import floatX
from .. import checkpoint
from .handlers import PrintLog

__all__ = ["NeuralNet", "TrainSplit", "objective"]

# Prefixes of the keyword arguments that go to the update rule and the objective.
_FUNCTION_PREFIXES = ("update", "objective")


def objective(layers, target, deterministic=False, loss_function=None, l2=0.0):
    """The default training objective of :class:`NeuralNet`: the mean loss of
    the output layer, plus optional L2 weight decay.

    Every objective has this signature: ``objective(layers, target,
    deterministic=False, **kwargs)``, returning a symbolic scalar; the net
    passes its ``objective_*`` arguments as ``kwargs`` (``objective_l2=1e-4``
    gives ``l2=1e-4``).

    Parameters
    ----------
    layers : OrderedDict
        The net's ``layers_``, ``name -> layer``; the last one is the output layer.
    target : TensorVariable
        The symbolic targets: an integer vector of class indices for
        classification, a float tensor for regression.
    deterministic : bool, optional
        True for evaluation (no dropout, batch normalization's averages).
    loss_function : callable, optional
        ``loss_function(predictions, targets)`` giving element- or item-wise
        losses; by default :func:`~convnet.objectives.categorical_crossentropy`
        for integer targets and :func:`~convnet.objectives.squared_error`
        otherwise.
    l2 : float, optional
        The coefficient of the L2 penalty on all regularizable parameters.

    Returns
    -------
    TensorVariable
        The scalar loss.

    Examples
    --------
    A custom objective, the mean absolute error:

    >>> import pytensor.tensor as pt
    >>> from convnet.layers import get_output
    >>> def mean_absolute_error(layers, target, deterministic=False):
    ...     predictions = get_output(list(layers.values())[-1], deterministic=deterministic)
    ...     return pt.mean(abs(predictions - target))
    >>> # NeuralNet(..., regression=True, objective=mean_absolute_error)
    """
    output_layer = next(reversed(layers.values()))
    predictions = get_output(output_layer, deterministic=deterministic)
    if loss_function is None:
        loss_function = categorical_crossentropy if target.dtype.startswith("int") else squared_error
    loss = aggregate(loss_function(predictions, target), mode="mean")
    if l2:
        loss = loss + l2 * regularize_network_params(output_layer, l2_penalty)
    return loss


class TrainSplit:
    """Hold out part of the training data as a validation set.

    Called by :class:`NeuralNet` as ``train_split(X, y, net)``, it returns
    ``X_train, X_valid, y_train, y_valid``; the split is the same at every
    call (``random_state``), so resumed training validates on the same data.
    Class labels (integer targets, as the net passes a classifier's) are
    split stratified; regression targets plainly.

    Parameters
    ----------
    eval_size : float, optional
        The fraction held out, between 0 and 1.
    stratify : bool, optional
        Keep the class proportions in both parts (integer targets only).
    random_state : int, optional
        Seed of the split.

    Examples
    --------
    >>> import numpy as np
    >>> X, y = np.zeros((10, 2)), np.array([0, 1] * 5)
    >>> X_train, X_valid, y_train, y_valid = TrainSplit(eval_size=0.2)(X, y, None)
    >>> len(X_train), sorted(y_valid.tolist())
    (8, [0, 1])
    """

    def __init__(self, eval_size=0.2, stratify=True, random_state=0):
        self.eval_size = eval_size
        self.stratify = stratify
        self.random_state = random_state

    def __repr__(self):
        return (f"TrainSplit(eval_size={self.eval_size!r}, stratify={self.stratify!r}, "
                f"random_state={self.random_state!r})")

    def __call__(self, X, y, net):
        stratify = self.stratify and np.asarray(y).dtype.kind in "iub"
        try:
            return train_test_split(X, y, test_size=self.eval_size, random_state=self.random_state,
                                    stratify=y if stratify else None)
        except ValueError as e:
            labels, counts = np.unique(y, return_counts=True) if stratify else ((), ())
            per_class = f" (samples per class: {dict(zip(labels.tolist(), counts.tolist()))})" if stratify else ""
            raise ValueError(f"{self!r} cannot split {len(X)} samples{per_class}: {e} Give more samples, "
                             "another eval_size, stratify=False, or NeuralNet(train_split=None) to train "
                             "without a validation set") from e


class NeuralNet(BaseEstimator):
    """A neural network as a scikit-learn estimator (classifier or regressor).

    The layers are given in one of two ways:

    * **declaratively**, as a list of ``(name, LayerClass)`` pairs whose
      arguments are keyword arguments prefixed with the layer's name
      (``input_shape=(None, 1, 28, 28)``, ``hidden_num_units=100``), or as
      ``(LayerClass, {argument: value})`` pairs (named by a ``"name"`` entry,
      or ``{class}{position}`` such as ``dense2``). Each layer takes the
      previous one as input unless it names others: ``{name}_incoming="conv1"``,
      or ``{name}_incomings=["a", "b"]`` for merge layers. The first layer is
      the input layer and the last one the output layer; ``LayerClass`` may be
      any callable that makes a layer. The layers are built at the first
      :meth:`fit` (or :meth:`initialize`).
    * **as a network**: ``layers=output_layer``, any layer built by hand
      (``batch_norm(...)``, custom layers), whose parameters are trained in place.

    The net has one input layer; ``X`` is an array of its shape.
    Classification targets are class labels, one per sample: integers
    ``0 .. num_units - 1`` index the output units directly; other labels
    (strings, ...) are mapped to the units in sorted order. Regression
    targets are arrays shaped like the output (a vector goes with a single
    output unit).

    Parameters
    ----------
    layers : list or Layer
        The layer specifications, or the output layer of a network.
    update : callable, optional
        An update rule from :mod:`convnet.updates`, called as
        ``update(loss, params, **update_args)``. Its arguments are given with
        the prefix ``update_``: ``update_learning_rate=0.01``,
        ``update_momentum=0.9``. A float becomes a shared variable (listed in
        :attr:`update_variables_`) that :class:`AdjustVariable` or a schedule
        changes without recompiling; a shared variable is used as it is; a
        callable is a schedule, called with the epoch number (from 1) before
        every epoch: ``update_learning_rate=lambda epoch: 0.1 * 0.95 ** epoch``.
    objective : callable, optional
        ``objective(layers, target, deterministic=False, **objective_args)``
        returning the scalar loss, with arguments prefixed ``objective_``;
        see :func:`objective`, the default (``objective_l2=1e-4`` adds
        weight decay).
    batch_iterator_train, batch_iterator_test : BatchIterator, optional
        Templates called as ``iterator(X, y)`` for the mini-batches of
        training, and of validation and prediction (see
        :class:`convnet.augmentation.BatchIterator`). The net trains with a
        fresh copy of each (:meth:`~convnet.augmentation.BatchIterator.restart`)
        and never changes the templates, so nets may share one.
    regression : bool, optional
        False: a classifier (softmax output, one unit per class); True: a
        regressor.
    max_epochs : int, optional
        The epochs :meth:`fit` trains for.
    train_split : callable or None, optional
        ``train_split(X, y, net)`` returning ``X_train, X_valid, y_train,
        y_valid``, by default a stratified 80/20 :class:`TrainSplit`; None
        trains on all the data, without validation.
    on_epoch_finished, on_training_finished : list of callable, optional
        Handlers ``handler(net, train_history)``, such as
        :class:`EarlyStopping`, :class:`SaveBestWeights` and
        :class:`AdjustVariable`, called after every epoch and when training
        ends. An epoch handler stops training by raising ``StopIteration``.
    mode : str or pytensor.compile.Mode, optional
        PyTensor's compilation mode; None uses the mode of convnet's device
        (:func:`convnet.config.get_mode`: convnet's CPU linker by default). ``"FAST_COMPILE"``
        compiles in a fraction of a second and runs slower.
    verbose : int, optional
        0 is silent; 1 prints the layers (:func:`convnet.layers.summary`), a
        progress bar per epoch (when standard error is a terminal) and a
        table row per epoch.
    random_state : int, numpy.random.RandomState or None, optional
        Seeds everything random in training: the initial parameters and the
        random streams of noise layers (for declared layers, built under
        ``numpy.random.RandomState(random_state)`` as after
        :func:`convnet.random.seed`), and the shuffling and augmentation of
        batch iterators made with ``seed=None``. Two fits with the same
        seed give the same ``train_history_`` and parameters, in any
        process. None: layers draw from :func:`convnet.random.get_rng` and
        the iterators' seed is drawn from it too (so :func:`convnet.random.seed`
        also makes such nets repeat themselves). A network given as a layer
        was initialised when it was built: only shuffling and augmentation
        follow ``random_state`` then.
    allow_nonfinite : bool, optional
        False (the default) refuses ``X`` and regression targets holding NaN
        or infinity in :meth:`fit`, :meth:`partial_fit` and :meth:`predict`,
        as scikit-learn's estimators do; True passes them on (for networks
        that handle them, such as masked inputs).
    **kwargs
        Layer arguments (``{layer}_{argument}``), update rule arguments
        (``update_{argument}``) and objective arguments
        (``objective_{argument}``). They are parameters of the estimator
        like the others (``get_params``, ``set_params``, grid searches).

    Attributes
    ----------
    layers_ : OrderedDict
        The network, ``name -> layer``, the output layer last.
    classes_ : numpy.ndarray
        The label of each output unit (classification).
    train_history_ : list of dict
        One dict per epoch: ``epoch``, ``train_loss``, ``valid_loss`` and
        ``valid_accuracy`` (with a validation set; accuracy for
        classification), ``dur`` (seconds).
    update_variables_ : dict
        The shared variables of the adjustable update arguments, by argument
        name (``"update_learning_rate"``); made when training starts.
    seed_ : list of int
        The seed of the training and test batch iterators (those made with
        ``seed=None``), fixed when the network is built.

    Notes
    -----
    A declared input layer's shape may leave sizes other than the batch
    size open: ``input_shape=(None, None)`` takes the number of features
    from the data of the first :meth:`fit` (as Keras does); ``initialize``
    and ``load_params_from`` need the full shape.

    The network is built once, at the first :meth:`fit`, :meth:`partial_fit`,
    :meth:`initialize` or :meth:`load_params_from`; later calls of ``fit``
    continue training from the current parameters, so training can be
    resumed from a checkpoint. :func:`sklearn.base.clone` gives an unbuilt
    copy (for a net given as a network: a copy of that network, with its
    current parameters). Changing a layer argument, ``layers``,
    ``regression`` or ``random_state`` with :meth:`set_params` discards the network and
    ``train_history_``; changing ``update``, ``objective``, ``mode`` or their
    arguments only recompiles.

    The compiled functions are made when first needed and are not pickled;
    the parameters are, so an unpickled net predicts as the original did.

    Training stops with ``FloatingPointError`` at the first batch whose loss
    is NaN or infinite (a diverging learning rate, bad data or a loss that
    does not fit the output), naming the epoch and the batch. The weights
    are then restored: to the best epoch's when an :class:`EarlyStopping` or
    :class:`SaveBestWeights` handler of this training holds them, else to
    those at the start of the epoch that failed; the update rule's state
    (momentum, ...) is reset with the compiled functions.

    Examples
    --------
    >>> from convnet.layers import InputLayer, DenseLayer
    >>> from convnet.nonlinearities import softmax
    >>> net = NeuralNet(
    ...     layers=[('input', InputLayer), ('hidden', DenseLayer), ('output', DenseLayer)],
    ...     input_shape=(None, 1, 28, 28),
    ...     hidden_num_units=100,
    ...     output_num_units=10, output_nonlinearity=softmax,
    ...     update_learning_rate=0.01, update_momentum=0.9,
    ...     max_epochs=10, mode="FAST_COMPILE",
    ... )
    >>> net.get_params()['hidden_num_units']
    100
    >>> # net.fit(X_train, y_train); net.predict(X_test)
    """

    def __init__(self, layers, update=nesterov_momentum, objective=objective,
                 batch_iterator_train=BatchIterator(batch_size=128, shuffle=True),
                 batch_iterator_test=BatchIterator(batch_size=128), regression=False, max_epochs=100,
                 train_split=TrainSplit(eval_size=0.2), on_epoch_finished=(), on_training_finished=(),
                 mode=None, verbose=0, random_state=None, allow_nonfinite=False, **kwargs):
        self.layers = layers
        self.update = update
        self.objective = objective
        self.batch_iterator_train = batch_iterator_train
        self.batch_iterator_test = batch_iterator_test
        self.regression = regression
        self.max_epochs = max_epochs
        self.train_split = train_split
        self.on_epoch_finished = on_epoch_finished
        self.on_training_finished = on_training_finished
        self.mode = mode
        self.verbose = verbose
        self.random_state = random_state
        self.allow_nonfinite = allow_nonfinite
        for key in kwargs:
            if hasattr(type(self), key):
                raise TypeError(f"NeuralNet: {key!r} is not a valid keyword argument")
        vars(self).update(kwargs)
        self._extra_param_names = list(kwargs)

    # -- scikit-learn parameters ---------------------------------------------------------------

    def get_params(self, deep=True):
        """The estimator's parameters, including the prefixed layer, update
        and objective arguments.

        ``deep`` changes nothing: no parameter is a nested estimator (a
        network given as ``layers`` is not one, although a Layer has a
        ``get_params`` method of its own).

        >>> from convnet.layers import InputLayer, DenseLayer
        >>> net = NeuralNet([('input', InputLayer), ('output', DenseLayer)],
        ...                 input_shape=(None, 4), output_num_units=2)
        >>> net.get_params()['output_num_units']
        2
        """
        params = super().get_params(deep=False)
        params.update((key, getattr(self, key)) for key in self._extra_param_names)
        return params

    def set_params(self, **params):
        """Set parameters, including new prefixed arguments.

        A name that is neither a parameter nor prefixed by a layer name,
        ``update_`` or ``objective_`` raises ``ValueError`` and changes nothing.

        >>> from convnet.layers import InputLayer, DenseLayer
        >>> net = NeuralNet([('input', InputLayer), ('output', DenseLayer)],
        ...                 input_shape=(None, 4), output_num_units=2)
        >>> net.set_params(output_num_units=3, update_learning_rate=0.1).output_num_units
        3
        """
        own = set(self._get_param_names())
        layers = params.get("layers", self.layers)
        new = [key for key in params if key not in own and "__" not in key]
        owners = {}
        if new and _valid_layers(layers):  # else fit reports the bad layers
            _check_prefixes(new, layers)
            owners = _assign(new, _layer_names(layers))
        for key in owners:
            if key not in self._extra_param_names:
                setattr(self, key, params[key])
                self._extra_param_names.append(key)
        super().set_params(**params)
        if {"layers", "regression", "random_state"} & set(params) or any(
                owner not in _FUNCTION_PREFIXES for owner in owners.values()):
            self._discard_network()
        elif {"update", "objective", "mode"} & set(params) or owners:
            self._discard_functions()
        return self

    def __sklearn_clone__(self):
        # sklearn.base.clone, except that a network given as ``layers`` is
        # deep-copied: a Layer's get_params is not an estimator's.
        params = {key: copy.deepcopy(value) if isinstance(value, Layer) else clone(value, safe=False)
                  for key, value in self.get_params(deep=False).items()}
        return type(self)(**params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        if self.regression:
            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
            tags.target_tags.multi_output = True
        else:
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags()
        return tags

    def __getstate__(self):
        state = super().__getstate__()
        for compiled in ("_functions", "update_variables_"):
            state.pop(compiled, None)
        return state

    def _discard_functions(self):
        for compiled in ("_functions", "update_variables_"):
            vars(self).pop(compiled, None)

    def _discard_network(self):
        self._discard_functions()
        for built in ("layers_", "classes_", "train_history_", "seed_", "n_features_in_"):
            vars(self).pop(built, None)

    def _prefixed_args(self, prefix):
        """The ``{prefix}_*`` arguments, without the prefix (the longest
        matching layer name owns an argument)."""
        owners = _assign(self._extra_param_names, _layer_names(self.layers))
        return {key[len(prefix) + 1:]: getattr(self, key) for key, owner in owners.items() if owner == prefix}

    # -- building -------------------------------------------------------------------------------

    def initialize(self):
        """Check the arguments and build the network, unless it is built.

        Compiles nothing. Raises ``ValueError`` for an unknown prefixed
        argument, a layer that cannot be built from its arguments, or update
        and objective arguments that do not fit those functions.

        Returns
        -------
        NeuralNet
            ``self``.
        """
        return self._initialize()

    def _initialize(self, sample_shape=None):
        """:meth:`initialize`; ``sample_shape``, the shape of one sample of
        the training data, fills the open (None) sizes of a declared input
        layer's shape."""
        if "layers_" in vars(self):
            return self
        _check_prefixes(self._extra_param_names, self.layers)
        with using_rng(self._layer_rng()):
            layers = (checkpoint.named_layers(self.layers) if isinstance(self.layers, Layer)
                      else self._build_declared_layers(sample_shape))
            seed = [int(get_rng().randint(2 ** 31))]
        _check_call(self.update, "update", (None, None), self._prefixed_args("update"))
        _check_call(self.objective, "objective", (None,), dict(target=None, deterministic=False,
                                                                **self._prefixed_args("objective")))
        inputs = [name for name, layer in layers.items() if isinstance(layer, InputLayer)]
        if len(inputs) != 1:
            raise ValueError(f"NeuralNet needs a network with exactly one input layer, got {len(inputs)}: {inputs}")
        output_shape = next(reversed(layers.values())).output_shape
        if not self.regression and (len(output_shape) != 2 or output_shape[1] is None):
            raise ValueError(f"a classifier's output layer must have shape (None, num_classes), got {output_shape}")
        self.layers_ = layers
        self.seed_ = seed
        self.train_history_ = []
        if not self.regression:
            self.classes_ = np.arange(output_shape[1])
        if self.verbose:
            self._print_layers()
        return self

    def _build_declared_layers(self, sample_shape=None):
        built = OrderedDict()
        previous = None
        for index, (name, factory, spec_args) in enumerate(_layer_specs(self.layers)):
            args = {**spec_args, **self._prefixed_args(name)}
            args.pop("name", None)
            if index == 0 and sample_shape is not None:
                args = _fill_input_shape(args, sample_shape)
            incoming = _incoming(name, args, built, previous)
            positional = () if index == 0 else (incoming,)
            factory_name = getattr(factory, "__name__", repr(factory))
            try:
                layer = factory(*positional, name=name, **args)
            except TypeError as e:
                raise ValueError(f"layer {name!r} ({factory_name}) cannot be built: {e}. Give its arguments "
                                 f"as {name}_<argument>=...") from e
            built[name] = layer
            previous = layer
        return built

    # -- randomness -----------------------------------------------------------------------------

    def _layer_rng(self):
        """The generator the network is built with: one seeded by
        ``random_state``, else convnet's global one."""
        state = self.random_state
        if state is None:
            return get_rng()
        if isinstance(state, np.random.RandomState):
            state = int(state.randint(2 ** 32))
        elif not isinstance(state, numbers.Integral) or isinstance(state, bool) or not 0 <= state < 2 ** 32:
            raise ValueError(f"NeuralNet: random_state must be None, an integer in [0, 2**32) or a "
                             f"numpy.random.RandomState, got {state!r}")
        return np.random.RandomState(int(state))

    def _batches(self, kind):
        """A fresh copy of the ``"train"`` or ``"test"`` batch iterator
        template, at the epoch training continues from, seeded from
        ``seed_`` unless the template has a seed (see
        :meth:`convnet.augmentation.BatchIterator.restart`). The template
        itself is never changed; a template without ``restart`` (any callable
        ``iterator(X, y)``) is deep-copied."""
        template = self.batch_iterator_train if kind == "train" else self.batch_iterator_test
        if not hasattr(template, "restart"):
            return copy.deepcopy(template)
        epoch = len(self.train_history_) if kind == "train" else 0
        return template.restart(epoch=epoch, seed=[*self.seed_, 0 if kind == "train" else 1])

    def _print_layers(self):
        table = summary(self._output_layer)
        print(f"# Neural network with {table.trainable_params:,} learnable parameters\n")
        print(table, end="\n\n", flush=True)

    # -- compiling ------------------------------------------------------------------------------

    @property
    def _input_layer(self):
        return next(layer for layer in self.layers_.values() if isinstance(layer, InputLayer))

    @property
    def _output_layer(self):
        return next(reversed(self.layers_.values()))

    def _function(self, kind):
        """The compiled ``"train"``, ``"eval"`` or ``"predict"`` function, made when first needed."""
        functions = vars(self).setdefault("_functions", {})
        if kind not in functions:
            functions[kind] = self._compile(kind)
        return functions[kind]

    def _compile(self, kind):
        inputs = self._input_layer.input_var
        if kind == "predict":
            return pytensor.function([inputs], get_output(self._output_layer, deterministic=True), mode=self.mode)
        if self.regression:
            ndim = len(self._output_layer.output_shape)
            target = pt.tensor("target", dtype=pytensor.config.floatX, shape=(None,) * ndim)
        else:
            target = pt.ivector("target")
        objective_args = self._prefixed_args("objective")
        if kind == "eval":
            loss = self.objective(self.layers_, target=target, deterministic=True, **objective_args)
            predictions = get_output(self._output_layer, deterministic=True)
            return pytensor.function([inputs, target], [loss, predictions], mode=self.mode)
        loss = self.objective(self.layers_, target=target, deterministic=False, **objective_args)
        params = get_all_params(self._output_layer, trainable=True)
        updates = self.update(loss, params, **self._update_args())
        return pytensor.function([inputs, target], loss, updates=updates, mode=self.mode)

    def _update_args(self):
        """The update rule's arguments, adjustable ones as shared variables
        (made once, kept in ``update_variables_``)."""
        args = self._prefixed_args("update")
        if "update_variables_" not in vars(self):
            variables = {}
            for arg, value in args.items():
                if isinstance(value, SharedVariable):
                    variables[arg] = value
                elif callable(value) or (isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral)):
                    start = value(1) if callable(value) else value
                    variables[arg] = pytensor.shared(floatX(start), name=f"update_{arg}")
            self.update_variables_ = {f"update_{arg}": variable for arg, variable in variables.items()}
        return {**args, **{key.removeprefix("update_"): var for key, var in self.update_variables_.items()}}

    # -- data -----------------------------------------------------------------------------------

    def _check_training_data(self, X, y, classes=None):
        """Build the network if needed (see :meth:`_initialize`) and return
        ``X`` and ``y`` checked as :meth:`_check_X` and :meth:`_check_y` do."""
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        X = self._validated(X, fitting=True)
        self._initialize(X.shape[1:])
        X = self._check_input_shape(X)
        return X, self._check_y(y, len(X), classes)

    def _validated(self, X, fitting=False):
        """``X`` as a float array: finite, real, dense, with samples (two
        when a validation set is split off for fitting); ``n_features_in_``
        is set at the first fit."""
        min_samples = 2 if fitting and self.train_split is not None else 1
        first_fit = fitting and not vars(self).get("train_history_")
        # NaN and infinity are refused by _check_finite, which names allow_nonfinite.
        return validate_data(self, X, reset=first_fit, dtype=pytensor.config.floatX, allow_nd=True,
                             ensure_min_samples=min_samples, ensure_min_features=1, ensure_all_finite=False)

    def _check_X(self, X):
        return self._check_input_shape(self._validated(X))

    def _check_input_shape(self, X):
        expected = self._input_layer.shape
        if X.ndim != len(expected) or any(e is not None and e != s for e, s in zip(expected, X.shape)):
            raise ValueError(f"X has shape {X.shape}, but the input layer expects {expected} (None: any size)")
        if len(X) == 0:
            raise ValueError("X has no samples")
        self._check_finite(X, "X")
        return X

    def _check_finite(self, values, name):
        """ValueError when ``values`` hold NaN or infinity, unless ``allow_nonfinite``."""
        if self.allow_nonfinite or values.dtype.kind not in "fc":
            return
        bad = ~np.isfinite(values)
        if bad.any():
            samples = np.flatnonzero(bad.reshape(len(values), -1).any(axis=1))
            kinds = " and ".join(kind for kind, found in (("NaN", np.isnan(values).any()),
                                                          ("infinity", np.isinf(values).any())) if found)
            raise ValueError(f"{name} holds {kinds} in {len(samples)} of {len(values)} samples (the first: "
                             f"sample {samples[0]}); remove or impute them, or pass allow_nonfinite=True if "
                             "the network is meant to take them")

    def _check_y(self, y, n_samples, classes=None):
        y = np.asarray(y)
        if y.ndim == 0:
            raise ValueError(f"y must have one target per sample, got a scalar {y!r}")
        if len(y) != n_samples:
            raise ValueError(f"X and y differ in length: {n_samples} samples and {len(y)} targets")
        if self.regression:
            return self._check_regression_targets(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if y.ndim == 1:
            check_classification_targets(y)
        if y.ndim != 1:
            raise ValueError(f"classification targets must be a vector of labels, got shape {y.shape}")
        if not self.train_history_ and (classes is not None or y.dtype.kind not in "iub"):
            labels = np.unique(y if classes is None else classes)
            if len(labels) != len(self.classes_):
                raise ValueError(f"got {len(labels)} distinct labels {labels.tolist()}, but the output layer has "
                                 f"{len(self.classes_)} units: one per class")
            self.classes_ = labels
        indices = np.searchsorted(self.classes_, y)
        valid = (indices < len(self.classes_)) & (self.classes_[np.minimum(indices, len(self.classes_) - 1)] == y)
        if not valid.all():
            raise ValueError(f"unknown labels {np.unique(y[~valid]).tolist()}: the output units stand for "
                             f"{self.classes_.tolist()}")
        return indices.astype(np.int32)

    def _check_regression_targets(self, y):
        y = np.asarray(y, dtype=pytensor.config.floatX)
        expected = self._output_layer.output_shape
        if y.ndim == 1 and expected[1:] == (1,):
            y = y[:, None]
        if y.ndim != len(expected) or any(e is not None and e != s for e, s in zip(expected[1:], y.shape[1:])):
            raise ValueError(f"regression targets have shape {y.shape}, but the output layer's shape is {expected}")
        self._check_finite(y, "y")
        return y

    # -- training -------------------------------------------------------------------------------

    def fit(self, X, y, epochs=None):
        """Train the network on ``X`` and ``y``.

        Builds the network on the first call; later calls continue from the
        current parameters (see the class notes).

        Parameters
        ----------
        X : array_like
            Samples, shaped as the input layer.
        y : array_like
            Class labels, or regression targets.
        epochs : int, optional
            Epochs to train for; default ``max_epochs``.

        Returns
        -------
        NeuralNet
            ``self``.
        """
        self._check_arguments(epochs=epochs)
        X, y = self._check_training_data(X, y)
        self._train(X, y, self.max_epochs if epochs is None else epochs)
        return self

    def partial_fit(self, X, y, classes=None):
        """Train one epoch on ``X`` and ``y``, continuing from the current parameters.

        Parameters
        ----------
        X, y : array_like
            As for :meth:`fit`.
        classes : array_like, optional
            All the labels, for the first call when they are not the integers
            ``0 .. num_units - 1`` and ``y`` may lack some.

        Returns
        -------
        NeuralNet
            ``self``.
        """
        self._check_arguments()
        X, y = self._check_training_data(X, y, classes)
        self._train(X, y, 1)
        return self

    def _check_arguments(self, epochs=None):
        """ValueError naming the first estimator argument (or ``fit``'s ``epochs``) of the
        wrong kind, before anything is built or trained."""
        counts = {"max_epochs": self.max_epochs, "verbose": self.verbose}
        if epochs is not None:
            counts["epochs"] = epochs
        for name, value in counts.items():
            smallest = 0 if name == "verbose" else 1
            if not isinstance(value, numbers.Integral) or (isinstance(value, bool) and name != "verbose") \
                    or value < smallest:
                kind = "a non-negative" if smallest == 0 else "a positive"
                raise ValueError(f"NeuralNet: {name} must be {kind} integer, got {name}={value!r}")
        for name in ("regression", "allow_nonfinite"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"NeuralNet: {name} must be True or False, got {name}={getattr(self, name)!r}")
        for name in ("update", "objective", "batch_iterator_train", "batch_iterator_test", "train_split"):
            value = getattr(self, name)
            if not callable(value) and not (name == "train_split" and value is None):
                raise ValueError(f"NeuralNet: {name} must be callable{' or None' if name == 'train_split' else ''}, "
                                 f"got {name}={value!r}")
        for name in ("on_epoch_finished", "on_training_finished"):
            bad = [handler for handler in _as_list(getattr(self, name)) if not callable(handler)]
            if bad:
                raise ValueError(f"NeuralNet: {name} must hold callables handler(net, train_history), "
                                 f"got {bad[0]!r}")

    def _train(self, X, y, epochs):
        if self.train_split is None:
            X_train, X_valid, y_train, y_valid = X, None, y, None
        else:
            X_train, X_valid, y_train, y_valid = self.train_split(X, y, self)
        train = self._function("train")
        epoch_handlers = ([PrintLog()] if self.verbose else []) + _as_list(self.on_epoch_finished)
        schedules = {key: getattr(self, key) for key in self.update_variables_ if callable(getattr(self, key))}
        batch_iterator = self._batches("train")
        for _ in range(epochs):
            epoch = len(self.train_history_) + 1
            for key, schedule in schedules.items():
                self.update_variables_[key].set_value(floatX(schedule(epoch)))
            started = time.perf_counter()
            epoch_start_params = self.get_all_params_values()
            batches = self._progress(batch_iterator(X_train, y_train), epoch)
            losses, sizes = [], []
            for Xb, yb in batches:
                losses.append(float(train(Xb, yb)))
                sizes.append(len(Xb))
                if not np.isfinite(losses[-1]):
                    batches.close()
                    self._stop_on_nonfinite_loss(losses[-1], epoch, len(losses), epoch_start_params)
                batches.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
            info = {"epoch": epoch, "train_loss": float(np.average(losses, weights=sizes))}
            if X_valid is not None:
                info.update(self._evaluate(X_valid, y_valid))
            info["dur"] = time.perf_counter() - started
            self.train_history_.append(info)
            try:
                for handler in epoch_handlers:
                    handler(self, self.train_history_)
            except StopIteration:
                break
        for handler in _as_list(self.on_training_finished):
            handler(self, self.train_history_)

    def _progress(self, batches, epoch):
        """A progress bar over one epoch's ``batches``, shown when verbose
        and standard error is a terminal (or in a notebook), so that log
        files get no carriage-return clutter."""
        # tqdm.auto's bar calls iter() on an iterable twice, which would start
        # two epochs of a BatchIterator: it gets a single iterator instead.
        total = len(batches) if hasattr(batches, "__len__") else None
        return tqdm(iter(batches), total=total, desc=f"epoch {epoch}", unit="batch", leave=False,
                    disable=None if self.verbose else True)

    def _stop_on_nonfinite_loss(self, loss, epoch, batch, epoch_start_params):
        """Restore finite weights and raise FloatingPointError naming ``epoch`` and ``batch``.

        The weights come from the first epoch handler that holds the best
        epoch's (``restore_best(net)`` returns that epoch, or None when it
        holds none), else from ``epoch_start_params``. The compiled functions
        are dropped: the update rule's state (momentum) has taken the
        non-finite step too.
        """
        restored = None
        for handler in _as_list(self.on_epoch_finished):
            restore_best = getattr(handler, "restore_best", None)
            best_epoch = restore_best(self) if restore_best is not None else None
            if best_epoch is not None:
                restored = f"the weights of the best epoch ({best_epoch}, kept by {type(handler).__name__})"
                break
        if restored is None:
            self.load_params_from(epoch_start_params)
            restored = f"the weights from the start of epoch {epoch}"
        self._discard_functions()
        raise FloatingPointError(
            f"the training loss is {loss} at epoch {epoch}, batch {batch}: training diverged or the data hold "
            f"NaN/infinity. Check the learning rate (a smaller update_learning_rate), the scale of X, the "
            f"targets and the loss function. Training stopped; {restored} are restored.")

    def _evaluate(self, X, y):
        """The mean validation loss (and accuracy, for classification) over ``X``."""
        evaluate = self._function("eval")
        losses, hits, sizes = [], [], []
        for Xb, yb in self._batches("test")(X, y):
            loss, predictions = evaluate(Xb, yb)
            losses.append(float(loss))
            sizes.append(len(Xb))
            if not self.regression:
                hits.append(np.mean(np.argmax(predictions, axis=1) == yb))
        result = {"valid_loss": float(np.average(losses, weights=sizes))}
        if not self.regression:
            result["valid_accuracy"] = float(np.average(hits, weights=sizes))
        return result

    # -- predicting -----------------------------------------------------------------------------

    def predict_proba(self, X):
        """The output layer's output for ``X`` (class probabilities for a
        classifier), computed deterministically (no dropout).

        Parameters
        ----------
        X : array_like
            Samples, shaped as the input layer.

        Returns
        -------
        numpy.ndarray
            One row per sample.
        """
        check_is_fitted(self, "layers_")
        X = self._check_X(X)
        predict = self._function("predict")
        return np.concatenate([predict(Xb) for Xb, _ in self._batches("test")(X)])

    def predict(self, X):
        """Class labels (classifier) or outputs (regressor) for ``X``.

        Parameters
        ----------
        X : array_like
            Samples, shaped as the input layer.

        Returns
        -------
        numpy.ndarray
        """
        output = self.predict_proba(X)
        return output if self.regression else self.classes_[np.argmax(output, axis=1)]

    def score(self, X, y, sample_weight=None):
        """Accuracy (classifier) or coefficient of determination R² (regressor).

        Parameters
        ----------
        X : array_like
            Samples.
        y : array_like
            True labels or targets.
        sample_weight : array_like, optional
            Weights of the samples.

        Returns
        -------
        float
        """
        y_pred = self.predict(X)
        if self.regression:
            y = np.asarray(y).reshape(y_pred.shape)
            return float(r2_score(y, y_pred, sample_weight=sample_weight))
        return float(accuracy_score(y, y_pred, sample_weight=sample_weight))

    # -- parameters -----------------------------------------------------------------------------

    def get_all_params_values(self):
        """Copies of all parameters, ``"{layer}.{parameter}" -> array``
        (see :mod:`convnet.checkpoint`); builds the net if needed.

        Returns
        -------
        OrderedDict
        """
        return checkpoint.param_values(self.initialize().layers_)

    def save_params_to(self, path):
        """Save all parameters to an ``.npz`` checkpoint, atomically.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (used as given).
        """
        checkpoint.save_params(self.initialize().layers_, path)

    def load_params_from(self, source):
        """Load all parameters, checking every name and shape first.

        Builds the net if needed; training (``fit``, ``partial_fit``) then
        continues from the loaded parameters.

        Parameters
        ----------
        source : str, os.PathLike, NeuralNet or Mapping
            A checkpoint file from :meth:`save_params_to`, another net, or a
            ``name -> array`` mapping from :meth:`get_all_params_values`.

        Raises
        ------
        ValueError
            On any missing, unexpected or wrongly shaped parameter, listing
            them all; no parameter is changed then.
        """
        if isinstance(source, NeuralNet):
            source = source.get_all_params_values()
        checkpoint.load_params(self.initialize().layers_, source)
        return self

    # -- training checkpoints -------------------------------------------------------------------

    _CHECKPOINT_FORMAT = "convnet.NeuralNet training state 1"

    def _training_state(self):
        """The shared variables a training checkpoint holds, by checkpoint
        key: ``param:`` the parameters, ``variable:`` the adjustable update
        arguments, ``state:`` the update rule's own state (momentum
        velocities, Adam's moments and step count), found among the shared
        variables of the compiled training function; and ``generator:``
        the random generators of noise layers. Compiles the training
        function if needed."""
        train = self._function("train")
        params = checkpoint.named_params(self.layers_)
        variables = self.update_variables_
        known = set(params.values()) | set(variables.values())
        state, generators = {}, {}
        for variable in train.get_shared():
            if variable in known:
                continue
            if isinstance(variable.type, RandomGeneratorType):
                generators[f"generator:{len(generators)}"] = variable
            else:
                state[f"state:{len(state)}:{variable.name or ''}"] = variable
        return {**{f"param:{k}": v for k, v in params.items()},
                **{f"variable:{k}": v for k, v in variables.items()}, **state}, generators

    def save_checkpoint(self, path):
        """Save the whole training state to an ``.npz`` file, atomically, so
        that :meth:`load_checkpoint` continues training exactly where it
        stopped.

        The file holds the parameters, the update rule's state (momentum
        velocities, Adam's moments), the adjustable update arguments
        (``update_variables_``), ``train_history_`` (and with it the epoch
        count that schedules, ``AdjustVariable`` and the batch iterators'
        shuffling and augmentation follow), ``seed_``, ``classes_`` and the
        states of the noise layers' random generators. Arrays are stored as
        such and the rest as JSON, without pickle. Handlers keep their own
        state (an :class:`EarlyStopping`'s best epoch is not saved).

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (used as given; conventionally ``.npz``).

        Examples
        --------
        >>> # net.fit(X, y, epochs=2); net.save_checkpoint('run.npz')
        >>> # later, in another process, a net made with the same arguments:
        >>> # net.load_checkpoint('run.npz').fit(X, y, epochs=3)  # as 5 epochs in one go
        """
        self.initialize()
        variables, generators = self._training_state()
        arrays = {key: variable.get_value() for key, variable in variables.items()}
        if not self.regression:
            arrays["classes_"] = np.asarray(self.classes_)
        meta = {
            "format": self._CHECKPOINT_FORMAT,
            "train_history": self.train_history_,
            "seed": self.seed_,
            "input_shape": list(self._input_layer.shape),
            "n_features_in": getattr(self, "n_features_in_", None),
            "generators": [variable.get_value(borrow=True).bit_generator.state for variable in generators.values()],
        }
        arrays["meta"] = np.frombuffer(json.dumps(meta, default=_json_value).encode(), dtype=np.uint8)
        checkpoint.write_npz(path, arrays)

    def load_checkpoint(self, path):
        """Restore a training state saved by :meth:`save_checkpoint`; the next
        :meth:`fit` or :meth:`partial_fit` continues from it exactly.

        The net must be made with the same arguments as the one that saved
        the file (layers, update rule; ``max_epochs`` and handlers may
        differ). Builds and compiles the net if needed.

        Parameters
        ----------
        path : str or os.PathLike
            A file written by :meth:`save_checkpoint`.

        Returns
        -------
        NeuralNet
            ``self``.

        Raises
        ------
        ValueError
            When the file is not such a checkpoint or does not fit this net
            (every mismatch is listed); nothing is changed then.
        """
        arrays = checkpoint.read_npz(path)
        try:
            meta = json.loads(arrays.pop("meta").tobytes())
            if meta.get("format") != self._CHECKPOINT_FORMAT:
                raise ValueError(f"format {meta.get('format')!r}, expected {self._CHECKPOINT_FORMAT!r}")
        except (KeyError, ValueError, AttributeError) as e:
            raise ValueError(f"{path} is not a NeuralNet training checkpoint: {e}") from None
        built = "layers_" in vars(self)
        try:
            self._initialize(tuple(meta["input_shape"][1:]))
            variables, generators = self._training_state()
            classes = arrays.pop("classes_", None)
            problems = checkpoint.mismatches(variables, arrays)
            states = meta["generators"]
            if len(states) != len(generators) or any(state.get("bit_generator") not in _BIT_GENERATORS
                                                     for state in states):
                problems.append(f"random generators: {len(states)} in the file, {len(generators)} in the network")
            if not self.regression and (classes is None or len(classes) != len(self.classes_)):
                problems.append(f"classes: {None if classes is None else len(classes)} in the file, "
                                f"{len(self.classes_)} output units")
            if problems:
                raise ValueError(f"the checkpoint {path} does not fit this net; nothing was loaded:\n  "
                                 + "\n  ".join(problems))
        except BaseException:
            if not built:
                self._discard_network()
            raise
        for key, variable in variables.items():
            variable.set_value(arrays[key].astype(variable.dtype))
        for variable, state in zip(generators.values(), states):
            variable.set_value(_generator_from_state(state), borrow=True)
        if classes is not None:
            self.classes_ = classes
        self.train_history_ = meta["train_history"]
        self.seed_ = meta["seed"]
        if meta["n_features_in"] is not None:
            self.n_features_in_ = meta["n_features_in"]
        return self


def _fill_input_shape(args, sample_shape):
    """The input layer's arguments with the open sizes (None) of its shape,
    other than the batch size, taken from ``sample_shape``."""
    shape = args.get("shape")
    if not isinstance(shape, (tuple, list)) or len(shape) != len(sample_shape) + 1:
        return args
    if all(size is not None for size in shape[1:]):
        return args
    filled = (shape[0],) + tuple(given if given is not None else int(size)
                                 for given, size in zip(shape[1:], sample_shape))
    return {**args, "shape": filled}


def _json_value(value):
    """NumPy scalars and arrays in a training history, as JSON values."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"a training checkpoint cannot store {value!r} ({type(value).__name__}) in train_history_")


# The bit generators a checkpoint may name (never an arbitrary attribute of numpy.random).
_BIT_GENERATORS = {name: getattr(np.random, name) for name in ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937")}


def _generator_from_state(state):
    generator = np.random.Generator(_BIT_GENERATORS[state["bit_generator"]]())
    generator.bit_generator.state = state
    return generator


def _as_list(handlers):
    return list(handlers) if isinstance(handlers, (list, tuple)) else [handlers]


def _layer_specs(layers):
    """``(name, factory, args)`` for every declared layer, or a ValueError."""
    specs = []
    for index, spec in enumerate(layers):
        if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str) and callable(spec[1]):
            specs.append((spec[0], spec[1], {}))
        elif isinstance(spec, tuple) and len(spec) == 2 and callable(spec[0]) and isinstance(spec[1], dict):
            factory, args = spec
            default_name = getattr(factory, "__name__", "layer").lower().removesuffix("layer") + str(index)
            specs.append((args.get("name") or default_name, factory, dict(args)))
        else:
            raise ValueError(f"layer specification #{index} must be ('name', LayerClass) or "
                             f"(LayerClass, {{argument: value}}), got {spec!r}")
    names = [name for name, _, _ in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"several layers are named {duplicates}")
    reserved = [name for name in names if name in _FUNCTION_PREFIXES]
    if reserved:
        raise ValueError(f"layer names {reserved} are reserved for the update rule's and objective's arguments")
    return specs


def _valid_layers(layers):
    try:
        _layer_names(layers)
    except ValueError:
        return False
    return True


def _layer_names(layers):
    if isinstance(layers, Layer):
        return []
    if not isinstance(layers, (list, tuple)) or not layers:
        raise ValueError(f"layers must be a non-empty list of layer specifications or an output Layer, "
                         f"got {layers!r}")
    return [name for name, _, _ in _layer_specs(layers)]


def _assign(keys, layer_names):
    """``key -> owner``: the longest layer name (or update/objective) that
    prefixes each key; None for keys without an owner."""
    owners = sorted([*layer_names, *_FUNCTION_PREFIXES], key=len, reverse=True)
    return {key: next((owner for owner in owners if key.startswith(f"{owner}_")), None) for key in keys}


def _check_prefixes(keys, layers):
    """Raise ValueError for the keys that neither a layer name nor update/objective prefixes."""
    names = _layer_names(layers)
    unknown = sorted(key for key, owner in _assign(keys, names).items() if owner is None)
    if unknown and isinstance(layers, Layer):
        raise ValueError(f"NeuralNet: unknown arguments {unknown}; a net given as a network takes only "
                         "'update_' and 'objective_' arguments (give layer arguments to the layers)")
    if unknown:
        raise ValueError(f"NeuralNet: unknown arguments {unknown}: no layer has such a prefix "
                         f"(layers: {', '.join(names)}; other prefixes: update_, objective_)")


def _incoming(name, args, built, previous):
    """The input of layer ``name``: the layers named by its ``incoming`` or
    ``incomings`` argument (removed from ``args``), else ``previous``."""
    for key in ("incomings", "incoming"):
        if key in args:
            wanted = args.pop(key)
            names = [wanted] if isinstance(wanted, str) else list(wanted)
            missing = [n for n in names if n not in built]
            if missing:
                raise ValueError(f"layer {name!r}: {key} {missing} must name layers declared before it "
                                 f"({', '.join(built)})")
            found = [built[n] for n in names]
            return found[0] if isinstance(wanted, str) else found
    return previous


def _check_call(function, prefix, args, kwargs):
    """Raise ValueError when ``function`` cannot be called with these arguments."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*args, **kwargs)
    except TypeError as e:
        name = getattr(function, "__name__", repr(function))
        raise ValueError(f"{prefix} function {name}: {e}. Give its arguments as {prefix}_<argument>=...") from None
