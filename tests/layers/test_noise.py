import numpy as np
import pytensor
import pytest

import convnet
from convnet.layers import (
    DropoutLayer,
    GaussianNoiseLayer,
    InputLayer,
    dropout,
    dropout_channels,
    dropout_locations,
    get_output,
    spatial_dropout,
)

SHAPES = [(None, 5), (2, 3, 4), (None, 3, 4, 5)]


def compile_output(layer, l_in, **kwargs):
    return pytensor.function([l_in.input_var], get_output(layer, **kwargs), mode="FAST_COMPILE")


def ones(shape):
    return np.ones(shape, dtype=pytensor.config.floatX)


@pytest.mark.parametrize("deterministic", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    "make_layer",
    [lambda l: DropoutLayer(l), lambda l: DropoutLayer(l, shared_axes=(0, -1)), lambda l: GaussianNoiseLayer(l)],
    ids=["dropout", "dropout-shared", "gaussian"],
)
def test_layer_checks(check_layer, make_layer, shape, deterministic):
    l_in = InputLayer(shape)
    check_layer(make_layer(l_in), l_in, deterministic=deterministic)


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_preserves_the_mean_and_drops_a_fraction_p(p):
    l_in = InputLayer((None, 1000))
    result = compile_output(DropoutLayer(l_in, p=p), l_in)(ones((20, 1000)))
    retain = 1 - p
    assert set(np.unique(result)) <= {0, np.float32(1 / retain)}
    # Each value is Bernoulli(retain) / retain: mean 1, variance p / retain.
    tolerance = 5 * np.sqrt(p / retain / result.size)
    assert abs(result.mean() - 1) < tolerance
    assert abs((result == 0).mean() - p) < 5 * np.sqrt(p * retain / result.size)


def test_dropout_without_rescale_only_drops():
    l_in = InputLayer((None, 100))
    result = compile_output(DropoutLayer(l_in, p=0.5, rescale=False), l_in)(ones((10, 100)))
    assert set(np.unique(result)) == {0, 1}


@pytest.mark.parametrize(
    "layer_kwargs, output_kwargs",
    [
        ({"p": 0.5}, {"deterministic": True}),
        ({"p": 0}, {}),
        ({"sigma": 0}, {}),
        ({"sigma": 1}, {"deterministic": True}),
    ],
)
def test_identity_when_deterministic_or_no_noise(layer_kwargs, output_kwargs):
    l_in = InputLayer((None, 3, 4))
    layer = (DropoutLayer if "p" in layer_kwargs else GaussianNoiseLayer)(l_in, **layer_kwargs)
    assert get_output(layer, **output_kwargs) is l_in.input_var


def test_dropout_probability_can_be_a_shared_variable():
    p = pytensor.shared(np.float32(0.5))
    l_in = InputLayer((None, 100))
    fn = compile_output(DropoutLayer(l_in, p=p), l_in)
    assert set(np.unique(fn(ones((10, 100))))) == {0, 2}
    p.set_value(np.float32(0))
    np.testing.assert_array_equal(fn(ones((10, 100))), 1)


def test_shared_axes_share_the_mask():
    l_in = InputLayer((None, 8, 5, 6))
    result = compile_output(dropout_channels(l_in, p=0.5), l_in)(ones((4, 8, 5, 6)))
    per_channel = result[:, :, :1, :1]
    np.testing.assert_array_equal(result, np.broadcast_to(per_channel, result.shape))
    assert 0 < (per_channel == 0).mean() < 1
    located = compile_output(dropout_locations(l_in, p=0.5), l_in)(ones((4, 8, 5, 6)))
    np.testing.assert_array_equal(located, np.broadcast_to(located[:, :1], located.shape))


def test_dropout_helpers():
    l_in = InputLayer((None, 3, 4, 5, 6))
    assert dropout is DropoutLayer and spatial_dropout is dropout_channels
    assert dropout_channels(l_in).shared_axes == (2, 3, 4)
    assert dropout_locations(l_in, 0.3).shared_axes == (1,) and dropout_locations(l_in, 0.3).p == 0.3


def test_fresh_noise_each_call():
    l_in = InputLayer((None, 200))
    x = ones((2, 200))
    drop = compile_output(DropoutLayer(l_in), l_in)
    noise = compile_output(GaussianNoiseLayer(l_in), l_in)
    assert not np.array_equal(drop(x), drop(x))
    assert not np.array_equal(noise(x), noise(x))


def test_set_rng_makes_draws_reproducible():
    def draw_twice():
        convnet.random.set_rng(np.random.RandomState(1234))
        l_in = InputLayer((None, 50))
        fn = compile_output(GaussianNoiseLayer(DropoutLayer(l_in)), l_in)
        return [fn(ones((3, 50))) for _ in range(2)]

    try:
        first, second = draw_twice(), draw_twice()
    finally:
        convnet.random.set_rng(np.random)
    np.testing.assert_array_equal(first, second)


def test_gaussian_noise_statistics():
    l_in = InputLayer((None, 1000))
    sigma = 0.5
    noise = compile_output(GaussianNoiseLayer(l_in, sigma=sigma), l_in)(ones((50, 1000))) - 1
    n = noise.size
    assert abs(noise.mean()) < 5 * sigma / np.sqrt(n)
    assert abs(noise.std() - sigma) < 5 * sigma / np.sqrt(2 * n)


@pytest.mark.parametrize("p", [-0.1, 1, 1.5])
def test_bad_dropout_probability_raises(p):
    with pytest.raises(ValueError, match=r"DropoutLayer 'drop'.*p="):
        DropoutLayer(InputLayer((None, 3)), p=p, name="drop")
