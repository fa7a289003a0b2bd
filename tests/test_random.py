"""Tests of convnet.random: seed() makes initialisation and noise streams repeat."""
import numpy as np
import pytensor
import pytest

import convnet
from convnet.init import GlorotUniform
from convnet.layers import DenseLayer, DropoutLayer, InputLayer, get_all_param_values, get_output


@pytest.fixture(autouse=True)
def restore_rng():
    previous = convnet.random.get_rng()
    yield
    convnet.random.set_rng(previous)


def build_and_draw():
    """Initial weights and two dropout masks of a network built after the seed."""
    l_drop = DropoutLayer(DenseLayer(InputLayer((None, 5)), 6, W=GlorotUniform()), p=0.5)
    sample = pytensor.function([l_drop.input_layer.input_layer.input_var], get_output(l_drop), mode="FAST_COMPILE")
    X = np.ones((4, 5), dtype=pytensor.config.floatX)
    return get_all_param_values(l_drop), sample(X), sample(X)


def test_seed_makes_a_script_repeat_itself():
    convnet.random.seed(3)
    first = build_and_draw()
    convnet.random.seed(3)
    again = build_and_draw()
    for a, b in zip(first[0], again[0]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(first[1], again[1])
    np.testing.assert_array_equal(first[2], again[2])
    # the stream advances between calls, and another seed gives other numbers
    assert not np.array_equal(first[1], first[2])
    convnet.random.seed(4)
    assert not np.array_equal(build_and_draw()[0][0], first[0][0])


def test_seed_is_the_same_as_set_rng_with_a_random_state():
    convnet.random.seed(12)
    a = convnet.random.get_rng().rand(3)
    np.testing.assert_array_equal(a, np.random.RandomState(12).rand(3))


@pytest.mark.parametrize("bad", [-1, 2 ** 32, 1.0, "1", None, True])
def test_seed_rejects_what_is_not_a_seed(bad):
    with pytest.raises(ValueError, match="convnet.random.seed needs an integer"):
        convnet.random.seed(bad)


def test_using_rng_restores_the_previous_generator_even_on_errors():
    outer = convnet.random.get_rng()
    inner = np.random.RandomState(0)
    with pytest.raises(RuntimeError):
        with convnet.random.using_rng(inner):
            assert convnet.random.get_rng() is inner
            raise RuntimeError
    assert convnet.random.get_rng() is outer


def test_using_rng_is_per_thread():
    import threading
    outer, inner, other = (np.random.RandomState(i) for i in range(3))
    convnet.random.set_rng(outer)
    inside, release = threading.Event(), threading.Event()
    seen = {}

    def worker():
        with convnet.random.using_rng(other):
            inside.set()
            release.wait(10)
            seen["worker"] = convnet.random.get_rng()

    with convnet.random.using_rng(inner):
        thread = threading.Thread(target=worker)
        thread.start()
        inside.wait(10)
        seen["main"] = convnet.random.get_rng()  # while the worker is in its own block
        release.set()
        thread.join()
    assert seen == {"main": inner, "worker": other}
    assert convnet.random.get_rng() is outer
