"""Lasagne scripts' parameter files (np.savez(*get_all_param_values(net)))
and Recipes-style pickles of any architecture load in Lasagne's order."""
import pickle

import numpy as np
import pytest

from convnet import layers as L
from convnet.modelzoo import load_weights


def build():
    l_in = L.InputLayer((None, 1, 6, 6))
    conv = L.batch_norm(L.Conv2DLayer(l_in, 2, 3))
    seq = L.ReshapeLayer(conv, ([0], 2, 16))
    return L.DenseLayer(L.LSTMLayer(seq, 3, only_return_final=True), 2)


def lasagne_order(net):
    """The parameter names in Lasagne's order, written out by hand."""
    gates = [f"{w}{g}" for g in ("ingate", "forgetgate", "cell", "outgate") for w in ("W_in_to_", "W_hid_to_", "b_")]
    return (["W", "beta", "gamma", "mean", "inv_std"] + gates
            + ["W_cell_to_ingate", "W_cell_to_forgetgate", "W_cell_to_outgate", "cell_init", "hid_init", "W", "b"])


def test_savez_of_all_param_values_loads_in_lasagnes_order(tmp_path):
    source, target = build(), build()
    assert [p.name for p in L.get_all_params(source)] == lasagne_order(source)
    path = tmp_path / "model.npz"
    np.savez(path, *L.get_all_param_values(source))  # as Lasagne's examples/mnist.py suggests
    load_weights(target, path)
    for a, b in zip(L.get_all_param_values(source), L.get_all_param_values(target)):
        np.testing.assert_array_equal(a, b)


def test_recipes_pickle_of_any_architecture_loads(tmp_path):
    source, target = build(), build()
    path = tmp_path / "model.pkl"
    with open(path, "wb") as f:
        pickle.dump({"param values": L.get_all_param_values(source), "mean value": None}, f, protocol=2)
    load_weights(target, path, allow_pickle=True)
    np.testing.assert_array_equal(L.get_all_param_values(target)[-2], L.get_all_param_values(source)[-2])


def test_a_mismatch_loads_nothing(tmp_path):
    target = build()
    before = L.get_all_param_values(target)
    values = L.get_all_param_values(build())
    values[3] = np.zeros(5, values[3].dtype)  # the batch norm mean with a wrong shape
    path = tmp_path / "bad.npz"
    np.savez(path, *values)
    with pytest.raises(ValueError, match="bad.npz: set_all_param_values: value 3 .* has shape"):
        load_weights(target, path)
    for a, b in zip(before, L.get_all_param_values(target)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="no layer can be excluded"):
        load_weights(target, path, exclude=["x"])
