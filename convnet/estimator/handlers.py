"""Training handlers for :class:`~convnet.estimator.NeuralNet`.

A handler is any callable ``handler(net, train_history)``, given to the net
in ``on_epoch_finished`` (called after every epoch) or
``on_training_finished`` (called once when ``fit`` ends). ``train_history``
is ``net.train_history_``, the list of per-epoch dicts with the keys
``epoch``, ``train_loss``, ``dur`` and, with a validation set,
``valid_loss`` and (for classification) ``valid_accuracy``. An
``on_epoch_finished`` handler stops training by raising ``StopIteration``.

Examples
--------
>>> from convnet.estimator import NeuralNet, EarlyStopping, AdjustVariable
>>> handlers = [EarlyStopping(patience=5), AdjustVariable('update_learning_rate', 0.03, 0.001)]
>>> # NeuralNet(..., update_learning_rate=0.03, on_epoch_finished=handlers)
"""
import sys

import numpy as np

from ..utils import floatX

__all__ = ["PrintLog", "EarlyStopping", "SaveBestWeights", "SaveCheckpoint", "AdjustVariable"]


def _monitored(handler, history, monitor):
    """The ``monitor`` values of all epochs, or a ValueError naming ``handler``."""
    if monitor not in history[-1]:
        raise ValueError(f"{type(handler).__name__} monitors {monitor!r}, which this training does not record "
                         f"(it records {', '.join(history[-1])}); a validation set (train_split) gives "
                         "valid_loss and valid_accuracy")
    return [entry[monitor] for entry in history]


def _improved(values, lower_is_better):
    """Whether the last value is strictly better than all earlier ones."""
    *earlier, last = values
    if not earlier:
        return True
    return last < min(earlier) if lower_is_better else last > max(earlier)


class PrintLog:
    """Print a table row per epoch: epoch, train loss, valid loss, their
    ratio, valid accuracy and duration.

    :class:`~convnet.estimator.NeuralNet` prints with it when ``verbose`` is
    on. The header comes with the first epoch of a training history. The
    best losses and accuracy so far are highlighted with ANSI colours when
    standard output is a terminal.

    Examples
    --------
    >>> PrintLog()(None, [{'epoch': 1, 'train_loss': 0.5, 'dur': 1.25}])
      epoch    train loss    dur
    -------  ------------  -----
          1       0.50000   1.2s
    """

    BEST_TRAIN = "\033[94m"
    BEST_VALID = "\033[32m"
    END = "\033[0m"

    def __call__(self, net, train_history):
        entry = train_history[-1]
        columns = [("epoch", 7, f"{entry['epoch']:>7}")]
        columns.append(self._value(train_history, "train_loss", "train loss", 12, ".5f", self.BEST_TRAIN, True))
        if "valid_loss" in entry:
            columns.append(self._value(train_history, "valid_loss", "valid loss", 12, ".5f", self.BEST_VALID, True))
            ratio = entry["train_loss"] / entry["valid_loss"] if entry["valid_loss"] else float("inf")
            columns.append(("train/val", 9, f"{ratio:>9.4f}"))
        if "valid_accuracy" in entry:
            columns.append(self._value(train_history, "valid_accuracy", "valid acc", 9, ".2%", self.BEST_VALID, False))
        columns.append(("dur", 5, f"{entry['dur']:>4.1f}s"))
        if len(train_history) == 1:
            print("  ".join(f"{title:>{width}}" for title, width, _ in columns))
            print("  ".join("-" * width for _, width, _ in columns))
        print("  ".join(cell for _, _, cell in columns), flush=True)

    def _value(self, history, key, title, width, spec, colour, lower_is_better):
        cell = f"{history[-1][key]:>{width}{spec}}"
        if sys.stdout.isatty() and _improved([entry[key] for entry in history], lower_is_better):
            cell = f"{colour}{cell}{self.END}"
        return title, width, cell


class EarlyStopping:
    """Stop training when the monitored value has not improved for
    ``patience`` epochs, and restore the weights of the best epoch.

    Parameters
    ----------
    patience : int, optional
        Epochs without improvement to wait before stopping.
    monitor : str, optional
        The ``train_history_`` key to watch.
    lower_is_better : bool, optional
        False for scores such as ``"valid_accuracy"``.

    Attributes
    ----------
    best_epoch_ : int
        The best epoch so far.
    best_value_ : float
        Its monitored value.

    Notes
    -----
    The handler keeps the best epoch's weights in memory. Its record starts
    afresh at the first epoch of a training history, so one handler may
    serve several nets trained one after the other.

    Examples
    --------
    >>> from convnet.estimator import NeuralNet
    >>> # NeuralNet(..., max_epochs=100, on_epoch_finished=[EarlyStopping(patience=10)])
    """

    def __init__(self, patience=5, monitor="valid_loss", lower_is_better=True):
        if patience < 1:
            raise ValueError(f"patience must be at least 1, got {patience!r}")
        self.patience = patience
        self.monitor = monitor
        self.lower_is_better = lower_is_better
        self.best_epoch_ = None
        self.best_value_ = None
        self._best_params = None

    def __call__(self, net, train_history):
        value = _monitored(self, train_history, self.monitor)[-1]
        epoch = train_history[-1]["epoch"]
        if len(train_history) == 1 or self.best_epoch_ is None or _improved([self.best_value_, value],
                                                                              self.lower_is_better):
            self.best_epoch_, self.best_value_ = epoch, value
            self._best_params = net.get_all_params_values()
        elif epoch - self.best_epoch_ >= self.patience:
            net.load_params_from(self._best_params)
            if net.verbose:
                print(f"Early stopping: best {self.monitor} {self.best_value_:.6f} at epoch {self.best_epoch_}; "
                      "its weights are restored.")
            raise StopIteration


class SaveBestWeights:
    """Save the parameters to ``path`` whenever the monitored value improves.

    The file is a checkpoint as :meth:`NeuralNet.save_params_to
    <convnet.estimator.NeuralNet.save_params_to>` writes, replaced atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file (conventionally ``.npz``).
    monitor : str, optional
        The ``train_history_`` key to watch.
    lower_is_better : bool, optional
        False for scores such as ``"valid_accuracy"``.

    Examples
    --------
    >>> # NeuralNet(..., on_epoch_finished=[SaveBestWeights('best.npz')])
    >>> # later: net.load_params_from('best.npz')
    """

    def __init__(self, path, monitor="valid_loss", lower_is_better=True):
        self.path = path
        self.monitor = monitor
        self.lower_is_better = lower_is_better

    def __call__(self, net, train_history):
        if _improved(_monitored(self, train_history, self.monitor), self.lower_is_better):
            net.save_params_to(self.path)


class SaveCheckpoint:
    """Save the whole training state every ``every`` epochs, so that a run
    that is stopped can be resumed exactly (see :meth:`NeuralNet.save_checkpoint
    <convnet.estimator.NeuralNet.save_checkpoint>`).

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file, replaced atomically each time.
    every : int, optional
        Save after the epochs whose number is a multiple of ``every``.

    Examples
    --------
    >>> # net = NeuralNet(..., on_epoch_finished=[SaveCheckpoint('run.npz')])
    >>> # after an interruption, a net made with the same arguments resumes:
    >>> # net.load_checkpoint('run.npz').fit(X, y, epochs=net.max_epochs - len(net.train_history_))
    """

    def __init__(self, path, every=1):
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        self.path = path
        self.every = every

    def __call__(self, net, train_history):
        if train_history[-1]["epoch"] % self.every == 0:
            net.save_checkpoint(self.path)


class AdjustVariable:
    """Change an update hyperparameter linearly from ``start`` to ``stop``
    over ``net.max_epochs`` epochs, without recompiling.

    After epoch ``e`` (counted from 1) the hyperparameter is set to
    ``numpy.linspace(start, stop, max_epochs)[e]`` for the next epoch (the
    last value once past the end). Epoch 1 runs with the net's own value, so
    give the net ``start``: then epoch ``e`` runs with the ``e``-th value of
    the line.

    Parameters
    ----------
    name : str
        The net's argument, e.g. ``"update_learning_rate"``; it must be one of
        ``net.update_variables_`` (an ``update_*`` argument given as a float,
        a shared variable or a schedule).
    start, stop : float
        The first and last values.

    Examples
    --------
    >>> from convnet.estimator import NeuralNet
    >>> # NeuralNet(..., update_learning_rate=0.03, update_momentum=0.9, max_epochs=50,
    >>> #           on_epoch_finished=[AdjustVariable('update_learning_rate', 0.03, 0.0001),
    >>> #                              AdjustVariable('update_momentum', 0.9, 0.999)])
    """

    def __init__(self, name, start, stop):
        self.name = name
        self.start = start
        self.stop = stop

    def __call__(self, net, train_history):
        if self.name not in net.update_variables_:
            raise ValueError(f"AdjustVariable: {self.name!r} is not an adjustable update argument of this net; "
                             f"those are {sorted(net.update_variables_)} (update_* arguments given as floats, "
                             "shared variables or schedules)")
        values = np.linspace(self.start, self.stop, net.max_epochs)
        epoch = train_history[-1]["epoch"]
        net.update_variables_[self.name].set_value(floatX(values[min(epoch, len(values) - 1)]))
