"""Tests of convnet.init: shapes, dtypes, sample statistics, errors."""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from convnet import init
from convnet.random import get_rng, set_rng
from convnet.utils import create_param


@pytest.fixture(autouse=True)
def seeded_rng():
    """Every test draws from a fixed seed; the previous generator is restored."""
    previous = get_rng()
    set_rng(np.random.RandomState(1234))
    yield
    set_rng(previous)


def assert_std_close(values, expected_std, mean=0.0):
    """Sample mean and std within 6 standard errors of the expected values
    (the standard error of a sample std is below std / sqrt(n) for the
    normal and uniform distributions)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    standard_error = expected_std / np.sqrt(values.size)
    assert abs(values.mean() - mean) < 6 * standard_error
    assert abs(values.std() - expected_std) < 6 * standard_error


ALL_INITIALIZERS = [
    init.Constant(0.5),
    init.Normal(),
    init.Uniform(),
    init.GlorotNormal(),
    init.GlorotUniform(),
    init.HeNormal(),
    init.HeUniform(),
    init.Orthogonal(),
    init.Sparse(),
]


@pytest.mark.parametrize("initializer", ALL_INITIALIZERS, ids=lambda i: type(i).__name__)
def test_shape_and_float32_dtype(initializer):
    w = initializer((20, 30))
    assert w.shape == (20, 30)
    assert w.dtype == np.float32
    assert isinstance(initializer, init.Initializer)


def test_call_is_sample():
    set_rng(np.random.RandomState(0))
    called = init.Normal()((4, 5))
    set_rng(np.random.RandomState(0))
    sampled = init.Normal().sample((4, 5))
    np.testing.assert_array_equal(called, sampled)


def test_same_seed_same_values():
    set_rng(np.random.RandomState(7))
    first = init.GlorotUniform()((10, 10))
    set_rng(np.random.RandomState(7))
    np.testing.assert_array_equal(init.GlorotUniform()((10, 10)), first)


def test_base_class_sample_is_abstract():
    with pytest.raises(NotImplementedError):
        init.Initializer()((2, 2))


def test_constant():
    np.testing.assert_array_equal(init.Constant(2.5)((2, 3)), np.full((2, 3), 2.5, dtype=np.float32))
    assert init.Constant()(4).tolist() == [0, 0, 0, 0]


def test_normal_statistics():
    assert_std_close(init.Normal(std=0.5, mean=2.0)((200, 100)), 0.5, mean=2.0)


def test_uniform_from_float_range():
    w = init.Uniform(range=0.3)((200, 100))
    assert w.min() >= -0.3 and w.max() <= 0.3
    assert_std_close(w, 0.3 / np.sqrt(3))


def test_uniform_from_tuple_range():
    w = init.Uniform(range=(1.0, 3.0))((200, 100))
    assert w.min() >= 1.0 and w.max() <= 3.0
    assert_std_close(w, 2.0 / np.sqrt(12), mean=2.0)


def test_uniform_from_std_and_mean():
    w = init.Uniform(std=0.2, mean=1.0)((200, 100))
    half_width = np.sqrt(3) * 0.2
    assert w.min() >= 1.0 - half_width - 1e-6 and w.max() <= 1.0 + half_width + 1e-6
    assert_std_close(w, 0.2, mean=1.0)


# (shape, c01b, fan_in, fan_out)
FANS = [
    ((300, 200), False, 300, 200),
    ((64, 16, 3, 3), False, 16 * 9, 64 * 9),
    ((32, 8, 5), False, 8 * 5, 32 * 5),
    ((16, 3, 3, 64), True, 16 * 9, 64 * 9),
]


@pytest.mark.parametrize("shape, c01b, fan_in, fan_out", FANS)
@pytest.mark.parametrize("gain, gain_value", [(1.0, 1.0), ("relu", np.sqrt(2)), (0.5, 0.5)])
@pytest.mark.parametrize("cls", [init.GlorotNormal, init.GlorotUniform])
def test_glorot_std(cls, gain, gain_value, shape, c01b, fan_in, fan_out):
    w = cls(gain=gain, c01b=c01b)(shape)
    assert w.shape == shape
    assert_std_close(w, gain_value * np.sqrt(2.0 / (fan_in + fan_out)))


@pytest.mark.parametrize("shape, c01b, fan_in, fan_out", FANS)
@pytest.mark.parametrize("gain, gain_value", [(1.0, 1.0), ("relu", np.sqrt(2)), (2, 2.0)])
@pytest.mark.parametrize("cls", [init.HeNormal, init.HeUniform])
def test_he_std(cls, gain, gain_value, shape, c01b, fan_in, fan_out):
    w = cls(gain=gain, c01b=c01b)(shape)
    assert w.shape == shape
    assert_std_close(w, gain_value * np.sqrt(1.0 / fan_in))


def test_glorot_uniform_bound():
    w = init.GlorotUniform()((50, 70))
    assert np.abs(w).max() <= np.sqrt(6.0 / (50 + 70))


def test_glorot_and_he_take_any_initializer_class():
    assert_std_close(init.Glorot(init.Normal, gain=3.0)((100, 300)), 3.0 * np.sqrt(2.0 / 400))
    assert_std_close(init.He(init.Uniform)((100, 300)), np.sqrt(1.0 / 100))


@pytest.mark.parametrize(
    "initializer, shape, message",
    [
        (init.GlorotUniform(), (10,), "GlorotUniform needs a shape of length 2 or more"),
        (init.GlorotNormal(), 10, "GlorotNormal needs a shape of length 2 or more"),
        (init.HeNormal(), (10,), "HeNormal needs a shape of length 2 or more"),
        (init.GlorotUniform(c01b=True), (3, 3, 3), "GlorotUniform needs a shape of length 4 with c01b=True"),
        (init.HeUniform(c01b=True), (3, 3), "HeUniform needs a shape of length 4 with c01b=True"),
        (init.Orthogonal(), (10,), "Orthogonal needs a shape of length 2 or more"),
        (init.Sparse(), (4, 5, 6), "Sparse needs a shape of length 2"),
    ],
)
def test_shape_errors_name_initializer_and_shape(initializer, shape, message):
    with pytest.raises(ValueError, match=message) as excinfo:
        initializer(shape)
    shape_tuple = (shape,) if isinstance(shape, int) else shape
    assert str(excinfo.value).endswith(f"got {shape_tuple!r}")


@pytest.mark.parametrize("cls", [init.GlorotUniform, init.HeNormal, init.Orthogonal])
def test_invalid_gain(cls):
    with pytest.raises(ValueError, match="gain must be a number or 'relu', got 'tanh'"):
        cls(gain="tanh")


@pytest.mark.parametrize("shape", [(10, 20), (20, 10), (15, 15)])
def test_orthogonal_matrix(shape):
    q = init.Orthogonal()(shape).astype(np.float64)
    if shape[0] <= shape[1]:
        np.testing.assert_allclose(q @ q.T, np.eye(shape[0]), atol=1e-5)
    else:
        np.testing.assert_allclose(q.T @ q, np.eye(shape[1]), atol=1e-5)


def test_orthogonal_flattens_trailing_axes():
    q = init.Orthogonal()((8, 2, 3, 3)).reshape(8, -1).astype(np.float64)
    np.testing.assert_allclose(q @ q.T, np.eye(8), atol=1e-5)


@pytest.mark.parametrize("gain, gain_value", [("relu", np.sqrt(2)), (3.0, 3.0)])
def test_orthogonal_gain(gain, gain_value):
    q = init.Orthogonal(gain=gain)((6, 6)).astype(np.float64)
    np.testing.assert_allclose(q @ q.T, gain_value**2 * np.eye(6), atol=1e-4)


def test_sparse_count_and_std():
    w = init.Sparse(sparsity=0.25, std=0.5)((40, 300))
    assert ((w != 0).sum(axis=0) == 10).all()
    assert_std_close(w[w != 0], 0.5)


def test_sparse_full_and_empty():
    assert (init.Sparse(sparsity=1.0)((5, 3)) != 0).all()
    assert (init.Sparse(sparsity=0.0)((5, 3)) == 0).all()


@pytest.mark.parametrize(
    "spec",
    [init.HeUniform(), lambda shape: np.ones(shape), np.ones((3, 4)),
     pytensor.shared(np.ones((3, 4), dtype="float32"))],
    ids=["initializer", "callable", "array", "shared"],
)
def test_create_param_accepts_initializers_and_alternatives(spec):
    param = create_param(spec, (3, 4), name="W")
    value = param.get_value()
    assert value.shape == (3, 4)
    assert value.dtype == np.float32


@pytest.mark.parametrize("spec", [init.HeUniform(), np.ones((3, 1))], ids=["initializer", "array"])
def test_created_params_have_static_shapes(spec):
    """As Lasagne's broadcastable flags did, and more: graphs know the sizes of
    parameters, so PyTensor drops the shape checks and broadcasting asserts
    it would otherwise compile and run. A value of another shape is refused."""
    param = create_param(spec, (3, 1), name="W")
    assert param.type.shape == (3, 1)
    row = pt.matrix("row", shape=(None, 4))
    assert (param + row).type.shape == (3, 4)
    with pytest.raises(TypeError, match=r"\(3, 1\)"):
        param.set_value(np.ones((4, 1), dtype=param.dtype))


@pytest.mark.parametrize("initializer, text", [
    (init.GlorotUniform(), "GlorotUniform()"),
    (init.HeNormal(gain="relu", c01b=True), f"HeNormal(gain={float(np.sqrt(2))!r}, c01b=True)"),
    (init.Constant(0.5), "Constant(val=0.5)"),
    (init.Uniform((0, 1)), "Uniform(range=(0, 1))"),
])
def test_repr_reads_as_the_constructor_call(initializer, text):
    assert repr(initializer) == text
