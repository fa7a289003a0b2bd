"""convnet.legacy: the importer and ``python -m convnet.legacy``."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import convnet
import convnet.legacy

ROOT = Path(convnet.__file__).parents[1]

LEGACY_SCRIPT = '''
import sys
import numpy as np
import theano
import theano.tensor as T
import lasagne
from lasagne.layers import InputLayer, DenseLayer, get_output, get_all_params
from theano.sandbox.rng_mrg import MRG_RandomStreams

print("argv", sys.argv[1:])
lasagne.random.set_rng(np.random.RandomState(0))
x = T.matrix("x")
y = T.ivector("y")
net = DenseLayer(InputLayer((None, 4), input_var=x), 3, nonlinearity=lasagne.nonlinearities.softmax)
loss = T.nnet.categorical_crossentropy(get_output(net), y).mean()
updates = lasagne.updates.sgd(loss, get_all_params(net, trainable=True), learning_rate=0.5)
train = theano.function([x, y], loss, updates=updates, mode="FAST_COMPILE")
rng = np.random.RandomState(1)
data = rng.randn(60, 4).astype(theano.config.floatX)
labels = (data[:, 0] > 0).astype("int32") + (data[:, 1] > 1).astype("int32")
losses = [float(train(data, labels)) for _ in range(30)]
print("loss", losses[0], losses[-1])
srng = MRG_RandomStreams(seed=3)
mask = theano.function([], srng.binomial((1000,), p=0.25, dtype=theano.config.floatX), mode="FAST_COMPILE")()
print("mask", mask.dtype, float(mask.mean()))
print("pygpu", theano.gpuarray.pygpu_activated, "floatX", theano.config.floatX)
'''


def _run(args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "convnet.legacy", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_runner_runs_an_unmodified_legacy_script(tmp_path):
    (tmp_path / "train.py").write_text(textwrap.dedent(LEGACY_SCRIPT))
    done = _run(["train.py", "a", "--b"], tmp_path)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert lines["argv"] == "['a', '--b']"
    first, last = map(float, lines["loss"].split())
    assert last < 0.6 * first
    dtype, mean = lines["mask"].split()
    assert dtype == "float32" and abs(float(mean) - 0.25) < 0.05
    assert lines["pygpu"] == "False floatX float32"


def test_runner_reports_a_missing_script_and_usage(tmp_path):
    done = _run(["missing.py"], tmp_path)
    assert done.returncode == 2
    assert "no such script 'missing.py'" in done.stderr and "usage:" in done.stderr
    assert _run([], tmp_path).returncode == 2


def test_runner_propagates_the_scripts_errors(tmp_path):
    (tmp_path / "bad.py").write_text("import lasagne.layers.no_such_module\n")
    done = _run(["bad.py"], tmp_path)
    assert done.returncode != 0
    assert "No module named 'lasagne.layers.no_such_module'" in done.stderr
    assert "'convnet.layers.no_such_module'" in done.stderr


@pytest.fixture
def installed():
    convnet.legacy.install()
    yield
    convnet.legacy.uninstall()


def test_install_aliases_modules_without_copies(installed):
    import lasagne.layers.conv
    import lasagne.objectives
    import theano
    import theano.tensor as T
    from theano.tensor.signal import pool

    import convnet.layers.conv
    assert lasagne.layers.conv is convnet.layers.conv
    assert lasagne.objectives is convnet.objectives
    assert lasagne.layers.Conv2DLayer is convnet.layers.Conv2DLayer
    # the real modules keep their own spec (relative imports inside them work)
    assert convnet.layers.conv.__spec__.name == "convnet.layers.conv"
    assert theano.tensor is T and T.signal.pool is pool
    import theano.ifelse  # not defined by convnet: PyTensor's module

    assert sys.modules["theano.ifelse"] is sys.modules["pytensor.ifelse"]


def test_uninstall_removes_the_aliases(installed):
    import lasagne  # noqa: F401

    convnet.legacy.uninstall()
    assert "lasagne" not in sys.modules and not convnet.legacy.is_installed()
    assert "convnet.layers" in sys.modules
    convnet.legacy.install()
    assert convnet.legacy.is_installed()


def test_backend_named_layer_modules_import_as_in_model_zoo_code(installed):
    from lasagne.layers.corrmm import Conv2DMMLayer  # noqa: F401
    from lasagne.layers.cuda_convnet import Conv2DCCLayer  # noqa: F401
    from lasagne.layers.dnn import Conv2DDNNLayer as ConvLayer

    import convnet.layers.dnn
    assert ConvLayer is convnet.layers.dnn.Conv2DDNNLayer
