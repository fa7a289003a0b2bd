"""Tests of convnet.ops.batchnorm: values and every gradient against an
independent reference, agreement of the Python / CPU-linker / Numba / JAX
implementations, second derivatives, NaN, float32 accuracy and errors.

The reference takes each statistic with explicit loops over the positions of
the kept axes (a slice of the input per position, in float64), and the
gradients from finite differences (``verify_grad``) or from PyTensor's own
derivative of the formula written with elementwise Ops and reductions, the
graph ``BatchNormLayer`` built before these Ops.
"""
import itertools

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.gradient import verify_grad

import convnet.linker
from convnet.linker import _TieredFunction
from convnet.ops.batchnorm import BatchNormGeometry, BatchNormTrain, BatchNormTrainGrad, batch_norm_train
from convnet.ops.batchnorm.ops import _gradient_formula

# --- Reference --------------------------------------------------------------------


def reference_batch_norm(x, gamma, beta, axes, epsilon):
    """``(out, mean, inv_std)`` with one explicit loop over the kept positions."""
    x = np.asarray(x, np.float64)
    kept = [a for a in range(x.ndim) if a not in axes]
    stats_shape = tuple(x.shape[a] for a in kept)
    out = np.empty_like(x)
    mean, inv_std = np.empty(stats_shape), np.empty(stats_shape)
    for position in itertools.product(*(range(n) for n in stats_shape)):
        index = [slice(None)] * x.ndim
        for axis, i in zip(kept, position):
            index[axis] = i
        values = x[tuple(index)]
        m = values.sum() / values.size
        s = 1 / np.sqrt(((values - m) ** 2).sum() / values.size + epsilon)
        mean[position], inv_std[position] = m, s
        out[tuple(index)] = (values - m) * s * gamma[position] + beta[position]
    return out, mean, inv_std


def formula_batch_norm(x, gamma, beta, axes, epsilon):
    """The same with PyTensor's elementwise Ops and reductions (BatchNormLayer's old graph)."""
    kept = iter(range(gamma.ndim))
    pattern = ["x" if a in axes else next(kept) for a in range(x.ndim)]
    mean = x.mean(axes)
    inv_std = 1 / pt.sqrt(x.var(axes) + epsilon)
    out = (x - mean.dimshuffle(pattern)) * (gamma * inv_std).dimshuffle(pattern) + beta.dimshuffle(pattern)
    return out, mean, inv_std


EPSILON = 1e-4
"""BatchNormLayer's default: the kernels compiled for one test serve the others (and the layers' tests)."""

GEOMETRIES = [
    ((5, 3, 4, 6), (0, 2, 3)),  # per channel of images (the usual)
    ((7, 4), (0,)),  # per unit of a dense layer
    ((4, 3, 5, 2), (1, 2)),  # kept axes apart: the kernels read a transposed copy
    ((3, 4, 5), (0, 1, 2)),  # every axis: scalar statistics
    ((2, 3, 4, 3, 2), (0, 2, 3, 4)),  # volumes
    ((3, 5, 4), (2,)),  # the last axis only
]


def symbols(shape, axes, dtype="float64"):
    kept = len(shape) - len(axes)
    return (pt.tensor("x", dtype=dtype, shape=(None,) * len(shape)),
            pt.tensor("gamma", dtype=dtype, shape=(None,) * kept),
            pt.tensor("beta", dtype=dtype, shape=(None,) * kept))


def values(shape, axes, rng, dtype="float64"):
    stats_shape = BatchNormGeometry(axes, len(shape)).stats_shape(shape)
    return (rng.standard_normal(shape).astype(dtype) * 3 + 2, rng.standard_normal(stats_shape).astype(dtype),
            rng.standard_normal(stats_shape).astype(dtype))


# --- Geometry -----------------------------------------------------------------------


def test_geometry_layouts():
    g = BatchNormGeometry((0, 2, 3), 4)
    assert g.kept == (1,) and g.permutation == (0, 1, 2, 3)
    assert g.layout((8, 3, 5, 7)) == (8, 3, 35) and g.count((8, 3, 5, 7)) == 280
    g = BatchNormGeometry((-1, 1), 4)  # negative axes, any order
    assert g.axes == (1, 3) and g.kept == (0, 2) and g.permutation == (1, 3, 0, 2)
    assert g.layout((2, 3, 4, 5)) == (15, 8, 1) and g.stats_shape((2, 3, 4, 5)) == (2, 4)
    g = BatchNormGeometry((0, 1), 2)
    assert g.kept == () and g.layout((3, 4)) == (1, 1, 12) and g.stats_shape((3, 4)) == ()
    np.testing.assert_array_equal(BatchNormGeometry((1,), 3).broadcast(np.arange(6).reshape(2, 3)),
                                  np.arange(6).reshape(2, 1, 3))


@pytest.mark.parametrize("axes, ndim", [((), 4), ((0, 0), 4), ((4,), 4), ((-5,), 4), ((0.5,), 2), ((0,), 0),
                                        (None, 2)])
def test_geometry_rejects_bad_axes(axes, ndim):
    with pytest.raises(ValueError, match="axes|dimension"):
        BatchNormGeometry(axes, ndim)


# --- Values and gradients -------------------------------------------------------------


@pytest.mark.parametrize("shape, axes", GEOMETRIES)
def test_forward_matches_reference(shape, axes):
    x, gamma, beta = symbols(shape, axes)
    fed = values(shape, axes, np.random.default_rng(0))
    results = pytensor.function([x, gamma, beta], batch_norm_train(x, gamma, beta, axes, EPSILON),
                                mode="FAST_COMPILE")(*fed)
    for result, reference in zip(results, reference_batch_norm(*fed, axes, EPSILON)):
        np.testing.assert_allclose(result, reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape, axes", [GEOMETRIES[0], GEOMETRIES[1], GEOMETRIES[3]])
def test_gradients_by_finite_differences(shape, axes):
    """Through all three outputs: the statistics depend on x too. (Kept
    axes apart are checked against the formula's gradients below.)"""
    rng = np.random.default_rng(1)
    stats_shape = BatchNormGeometry(axes, len(shape)).stats_shape(shape)
    weights = [rng.standard_normal(shape), rng.standard_normal(stats_shape), rng.standard_normal(stats_shape)]

    def cost(x, gamma, beta):
        out, mean, inv_std = batch_norm_train(x, gamma, beta, axes, EPSILON)
        return (out * weights[0]).sum() + (mean * weights[1]).sum() + (inv_std * weights[2]).sum()

    verify_grad(cost, list(values(shape, axes, rng)), rng=rng, mode="FAST_COMPILE")


@pytest.mark.parametrize("shape, axes", GEOMETRIES[:3])
def test_second_derivatives_match_the_formula(shape, axes):
    x, gamma, beta = symbols(shape, axes)
    w = pt.tensor("w", dtype=x.dtype, shape=(None,) * len(shape))

    def second(implementation):
        out, mean, inv_std = implementation(x, gamma, beta, axes, EPSILON)
        d_x, d_gamma = pytensor.grad((out * w).sum() + (mean ** 2).sum() + inv_std.sum(), [x, gamma])
        return pytensor.grad((d_x ** 2).sum() + (d_gamma ** 3).sum(), [x, gamma, beta, w], disconnected_inputs="ignore")

    rng = np.random.default_rng(2)
    fed = [*values(shape, axes, rng), rng.standard_normal(shape)]
    ours = pytensor.function([x, gamma, beta, w], second(batch_norm_train), mode="FAST_COMPILE",
                             on_unused_input="ignore")(*fed)
    theirs = pytensor.function([x, gamma, beta, w], second(formula_batch_norm), mode="FAST_COMPILE",
                               on_unused_input="ignore")(*fed)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


def test_running_averages_and_their_gradients():
    """The new running averages, and gradients through them (to the old
    averages and, through the statistics, to x), by finite differences."""
    rng = np.random.default_rng(8)
    shape, axes = GEOMETRIES[0]
    x, gamma, beta = values(shape, axes, rng)
    old_mean, old_inv_std = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    *stats, new_mean, new_inv_std = pytensor.function(
        [], batch_norm_train(x, gamma, beta, axes, EPSILON, old_mean, old_inv_std, alpha=0.3), mode="FAST_COMPILE")()
    _, mean, inv_std = reference_batch_norm(x, gamma, beta, axes, EPSILON)
    np.testing.assert_allclose(new_mean, 0.7 * old_mean + 0.3 * mean)
    np.testing.assert_allclose(new_inv_std, 0.7 * old_inv_std + 0.3 * inv_std)
    weights = [rng.standard_normal(shape), rng.standard_normal(3), rng.standard_normal(3)]

    def cost(x, running_mean, running_inv_std):
        out, _, _, new_mean, new_inv_std = batch_norm_train(x, gamma, beta, axes, EPSILON, running_mean,
                                                            running_inv_std, alpha=0.3)
        return (out * weights[0]).sum() + (new_mean * weights[1]).sum() + (new_inv_std * weights[2]).sum()

    verify_grad(cost, [x, old_mean, old_inv_std], rng=rng, mode="FAST_COMPILE")


def test_gradient_op_by_finite_differences():
    rng = np.random.default_rng(3)
    op = BatchNormTrainGrad(BatchNormGeometry((0, 2), 3))
    shape = (4, 3, 5)
    weights = [rng.standard_normal(shape), rng.standard_normal(3), rng.standard_normal(3)]

    def cost(*inputs):
        return sum((output * weight).sum() for output, weight in zip(op(*inputs), weights))

    inputs = [rng.standard_normal(shape), rng.standard_normal(shape), rng.standard_normal(3),
              rng.standard_normal(3), rng.uniform(0.5, 2, 3)]
    verify_grad(cost, inputs, rng=rng, mode="FAST_COMPILE")


def test_gradient_op_matches_its_formula():
    g = BatchNormGeometry((0, 2, 3), 4)
    inputs = [pt.tensor4(), pt.tensor4(), pt.vector(), pt.vector(), pt.vector()]
    rng = np.random.default_rng(4)
    fed = [rng.standard_normal((3, 2, 4, 4)), rng.standard_normal((3, 2, 4, 4)), rng.standard_normal(2),
           rng.standard_normal(2), rng.uniform(0.5, 2, 2)]
    fed = [value.astype(inputs[0].dtype) for value in fed]
    ours = pytensor.function(inputs, BatchNormTrainGrad(g)(*inputs), mode="FAST_COMPILE")(*fed)
    theirs = pytensor.function(inputs, list(_gradient_formula(g, *inputs)), mode="FAST_COMPILE")(*fed)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


# --- Every backend against the reference ---------------------------------------------


BACKEND_GEOMETRIES = [(*GEOMETRIES[0], True), (*GEOMETRIES[2], False)]
"""Per channel of images with running averages (as BatchNormLayer trains),
and kept axes apart (a transposed copy) without: each is a kernel of its
own, compiled for seconds on every backend."""

ALPHA = 0.1


def test_backends_agree_with_reference(backend_mode):
    """One function per backend: each geometry's outputs and the gradients
    of ``sum(out * u) + sum(mean * a) + sum(inv_std * b)`` with respect to x,
    gamma and beta, in float32, against the float64 reference (the
    gradients: PyTensor's of the formula, in float64); and the new running
    averages."""
    rng = np.random.default_rng(5)
    fed, outputs, references = {}, [], []
    for shape, axes, with_averages in BACKEND_GEOMETRIES:
        x, gamma, beta = symbols(shape, axes, "float32")
        u = pt.tensor(dtype="float32", shape=(None,) * len(shape))
        a, b, running_mean, running_inv_std = (pt.tensor(dtype="float32", shape=(None,) * gamma.ndim)
                                               for _ in range(4))
        stats_shape = BatchNormGeometry(axes, len(shape)).stats_shape(shape)
        given = dict(zip([x, gamma, beta], values(shape, axes, rng, "float32")))
        given.update({u: rng.standard_normal(shape).astype("float32"),
                      a: rng.standard_normal(stats_shape).astype("float32"),
                      b: rng.standard_normal(stats_shape).astype("float32")})
        running = ()
        if with_averages:
            given.update({running_mean: rng.standard_normal(stats_shape).astype("float32"),
                          running_inv_std: rng.uniform(0.5, 2, stats_shape).astype("float32")})
            running = (running_mean, running_inv_std)
        fed.update(given)
        out, mean, inv_std, *new_averages = batch_norm_train(x, gamma, beta, axes, EPSILON, *running, alpha=ALPHA)
        outputs += [out, mean, inv_std,
                    *pytensor.grad((out * u).sum() + (mean * a).sum() + (inv_std * b).sum(), [x, gamma, beta]),
                    *new_averages]
        expected = reference_batch_norm(given[x], given[gamma], given[beta], axes, EPSILON)
        references += expected
        wide = {v: pt.tensor(dtype="float64", shape=v.type.shape) for v in (x, gamma, beta, u, a, b)}
        f_out, f_mean, f_inv_std = formula_batch_norm(wide[x], wide[gamma], wide[beta], axes, EPSILON)
        cost = (f_out * wide[u]).sum() + (f_mean * wide[a]).sum() + (f_inv_std * wide[b]).sum()
        references += pytensor.function(list(wide.values()), pytensor.grad(cost, [wide[x], wide[gamma], wide[beta]]),
                                        mode="FAST_COMPILE")(*(given[v].astype("float64") for v in wide))
        references += [(1 - ALPHA) * given[average] + ALPHA * statistic
                       for average, statistic in zip(running, expected[1:])]
    function = pytensor.function(list(fed), outputs, mode=backend_mode)
    results = function(*fed.values())
    if backend_mode == "CONVNET_CPU":  # the compiled kernels, not the NumPy code run meanwhile
        convnet.linker.compiler.wait()
        results = function(*fed.values())
        tiered = [thunk.function for thunk in function.vm.thunks
                  if isinstance(getattr(thunk, "function", None), _TieredFunction)
                  and isinstance(thunk.function.op, (BatchNormTrain, BatchNormTrainGrad))]
        assert len(tiered) == 2 * len(BACKEND_GEOMETRIES) and all(t.dispatcher is not None for t in tiered)
    assert len(results) == len(references) == 6 * len(BACKEND_GEOMETRIES) + 2
    for index, (result, reference) in enumerate(zip(results, references)):
        assert np.asarray(result).dtype == np.float32
        np.testing.assert_allclose(np.asarray(result), reference, rtol=1e-4, atol=1e-4, err_msg=f"output {index}")


def test_backends_reject_statistics_of_the_wrong_size(backend_mode):
    x, gamma, beta = pt.tensor4("x"), pt.vector("gamma"), pt.vector("beta")
    function = pytensor.function([x, gamma, beta], batch_norm_train(x, gamma, beta, (0, 2, 3), EPSILON)[0],
                                 mode=backend_mode)
    with pytest.raises(ValueError, match="gamma|kept axes"):
        function(np.ones((2, 3, 2, 2), x.dtype), np.ones(4, x.dtype), np.ones(4, x.dtype))


def test_nan_is_not_hidden(backend_mode):
    """A NaN makes its own channel's statistics, output and gradients NaN, and no other's."""
    x, gamma, beta = pt.tensor4("x"), pt.vector("gamma"), pt.vector("beta")
    out, mean, inv_std = batch_norm_train(x, gamma, beta, (0, 2, 3), EPSILON)
    grads = pytensor.grad(out.sum() + (out ** 2).sum(), [x, gamma, beta])
    function = pytensor.function([x, gamma, beta], [out, mean, inv_std, *grads], mode=backend_mode)
    value = np.arange(24, dtype=x.dtype).reshape(2, 3, 2, 2)
    value[1, 2, 0, 1] = np.nan
    results = [np.asarray(r) for r in function(value, np.ones(3, x.dtype), np.zeros(3, x.dtype))]
    for result in results:
        channels = result if result.ndim == 1 else result.transpose(1, 0, 2, 3)
        assert np.isnan(channels[2]).all() and not np.isnan(channels[:2]).any()


# --- Numerics -----------------------------------------------------------------------


def test_float32_statistics_are_accumulated_in_float64():
    """A large offset and a small spread: a float32 sum of squared deviations
    would lose the variance; the kernels keep it to float32 precision."""
    rng = np.random.default_rng(6)
    value = (1000 + rng.standard_normal((256, 4, 16, 16)) * 0.01).astype("float32")
    x = pt.tensor4("x")
    _, expected_mean, expected_inv_std = reference_batch_norm(value, np.ones(4), np.zeros(4), (0, 2, 3), EPSILON)
    for mode in ("FAST_COMPILE", "CONVNET_CPU"):
        function = pytensor.function([x], batch_norm_train(x, np.ones(4, x.dtype), np.zeros(4, x.dtype), (0, 2, 3),
                                                           EPSILON)[1:], mode=mode)
        function(value)
        convnet.linker.compiler.wait()  # then the compiled kernel, not the NumPy code run meanwhile
        mean, inv_std = function(value)
        np.testing.assert_allclose(mean, expected_mean, rtol=1e-6)
        np.testing.assert_allclose(inv_std, expected_inv_std, rtol=2e-4)


def test_dtypes():
    """The widest dtype of the arguments; integers normalize in floatX."""
    out, mean, _ = batch_norm_train(pt.matrix(dtype="float32"), np.ones(3), np.zeros(3, "float32"), 0)
    assert out.dtype == mean.dtype == "float64"
    out, _, _ = batch_norm_train(pt.matrix(dtype="int32"), pt.vector(dtype="int8"), pt.vector(dtype="int8"), 0)
    assert out.dtype == pytensor.config.floatX


# --- Bad input ----------------------------------------------------------------------


def test_static_shapes_are_checked_when_the_graph_is_built():
    x = pt.tensor("x", shape=(None, 3, 4, 4))
    with pytest.raises(ValueError, match=r"gamma must have the shape of the kept axes \(1,\), \(3,\), got \(5,\)"):
        batch_norm_train(x, np.ones(5, x.dtype), np.zeros(3, x.dtype), (0, 2, 3))
    with pytest.raises(ValueError, match="beta must have the shape"):
        batch_norm_train(x, np.ones(3, x.dtype), np.zeros((3, 1), x.dtype), (0, 2, 3))
    with pytest.raises(ValueError, match="distinct axes of the 4-dimensional input"):
        batch_norm_train(x, np.ones(3, x.dtype), np.zeros(3, x.dtype), (0, 4))


def test_ops_refuse_what_they_cannot_compute():
    g = BatchNormGeometry((0,), 2)
    with pytest.raises(TypeError, match="floating-point"):
        BatchNormTrain(g)(pt.imatrix(), pt.ivector(), pt.ivector())
    with pytest.raises(ValueError, match="2-d input got a 3-d input"):
        BatchNormTrain(g)(pt.tensor3(), pt.vector(), pt.vector())
    with pytest.raises(TypeError, match="dtype"):
        BatchNormTrain(g)(pt.dmatrix(), pt.fvector(), pt.dvector())
    with pytest.raises(ValueError, match="epsilon"):
        BatchNormTrain(g, epsilon=-1)
    with pytest.raises(TypeError, match="BatchNormGeometry"):
        BatchNormTrainGrad((0,))
    with pytest.raises(ValueError, match="alpha"):
        BatchNormTrain(g, alpha=1.5)
    with pytest.raises(TypeError, match="takes 5 inputs"):
        BatchNormTrain(g, alpha=0.1)(pt.matrix(), pt.vector(), pt.vector())
    with pytest.raises(ValueError, match="both running_mean and running_inv_std"):
        batch_norm_train(pt.matrix(), pt.vector(), pt.vector(), 0, running_mean=pt.vector())
    with pytest.raises(ValueError, match=r"running_inv_std must have the shape of the kept axes"):
        batch_norm_train(pt.tensor("x", shape=(None, 3)), np.ones(3), np.zeros(3), 0, 1e-4, np.zeros(3), np.ones(4))


def test_numba_functions_are_cacheable_under_the_kernel_cache_key():
    from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key

    from convnet.ops.kernel_cache import kernel_cache_key

    x = pt.tensor4("x")
    out, mean, inv_std = batch_norm_train(x, pt.vector(), pt.vector(), (0, 2, 3))
    nodes = [out.owner, batch_norm_train(x, pt.vector(), pt.vector(), (0, 2, 3), epsilon=1e-5)[0].owner,
             batch_norm_train(x, pt.matrix(), pt.matrix(), (0, 1))[0].owner,
             BatchNormTrainGrad(out.owner.op.geometry)(x, x, pt.vector(), mean, inv_std)[0].owner]
    keys = []
    for node in nodes:
        _, key = numba_funcify_and_cache_key(node.op, node=node)
        assert key == kernel_cache_key(node.op, node, "batchnorm/geometry.py", "batchnorm/ops.py",
                                       "batchnorm/numba_backend.py")
        keys.append(key)
    assert len(set(keys)) == len(keys)
