"""Declarative training with a scikit-learn estimator, :class:`NeuralNet`
(after nolearn), its training handlers and parameter checkpoints.

Examples
--------
>>> from convnet.estimator import NeuralNet, EarlyStopping
>>> from convnet.layers import InputLayer, DenseLayer
>>> from convnet.nonlinearities import softmax
>>> net = NeuralNet(
...     layers=[('input', InputLayer), ('hidden', DenseLayer), ('output', DenseLayer)],
...     input_shape=(None, 1, 28, 28), hidden_num_units=100,
...     output_num_units=10, output_nonlinearity=softmax,
...     update_learning_rate=0.01, update_momentum=0.9,
...     max_epochs=20, on_epoch_finished=[EarlyStopping(patience=3)],
... )
>>> # net.fit(X_train, y_train).score(X_test, y_test)
"""
from .handlers import AdjustVariable, EarlyStopping, PrintLog, SaveBestWeights, SaveCheckpoint
from .net import NeuralNet, TrainSplit, objective

__all__ = [
    "NeuralNet",
    "TrainSplit",
    "objective",
    "EarlyStopping",
    "SaveBestWeights",
    "SaveCheckpoint",
    "AdjustVariable",
    "PrintLog",
]
