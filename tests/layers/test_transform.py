"""TransformerLayer and TPSTransformerLayer against an independent NumPy
sampler (and SciPy's thin plate spline), on every backend."""
import numpy as np
import pytensor
import pytest
from scipy.interpolate import RBFInterpolator

from convnet import init
from convnet.layers import (DenseLayer, FlattenLayer, InputLayer, TPSTransformerLayer, TransformerLayer,
                            get_output)

# np.pad's modes are the border modes: edge repeats the border pixel, reflect
# mirrors about it without repeating it, wrap tiles the image.
NUMPY_PAD_MODE = {"nearest": "edge", "mirror": "reflect", "wrap": "wrap"}


def numpy_sample(image, xs, ys, border_mode):
    """Bilinear samples of ``image`` (channels, rows, columns) at the
    normalised positions ``xs``, ``ys`` (-1: first pixel, 1: last), one output
    pixel at a time, from an image padded far enough by np.pad."""
    channels, rows, cols = image.shape
    margin = 8 * max(rows, cols)
    padded = np.pad(image.astype(np.float64), ((0, 0), (margin, margin), (margin, margin)),
                    mode=NUMPY_PAD_MODE[border_mode])
    out = np.empty((channels,) + xs.shape)
    for index in np.ndindex(xs.shape):
        column = (xs[index] + 1) / 2 * (cols - 1)
        row = (ys[index] + 1) / 2 * (rows - 1)
        c0, r0 = int(np.floor(column)), int(np.floor(row))
        fx, fy = column - c0, row - r0
        square = padded[:, margin + r0:margin + r0 + 2, margin + c0:margin + c0 + 2]
        out[(slice(None),) + index] = ((1 - fy) * ((1 - fx) * square[:, 0, 0] + fx * square[:, 0, 1])
                                       + fy * ((1 - fx) * square[:, 1, 0] + fx * square[:, 1, 1]))
    return out


def output_grid(rows, cols):
    return np.meshgrid(np.linspace(-1, 1, cols), np.linspace(-1, 1, rows))


def numpy_affine(images, thetas, out_size, border_mode):
    xt, yt = output_grid(*out_size)
    out = []
    for image, theta in zip(images, thetas.reshape(-1, 2, 3)):
        xs = theta[0, 0] * xt + theta[0, 1] * yt + theta[0, 2]
        ys = theta[1, 0] * xt + theta[1, 1] * yt + theta[1, 2]
        out.append(numpy_sample(image, xs, ys, border_mode))
    return np.stack(out)


def numpy_tps(images, offsets, control_points, out_size, border_mode):
    """SciPy's thin plate spline through the moved control points (its kernel
    r**2 log r is half of Bookstein's r**2 log r**2: the same interpolant)."""
    side = int(np.sqrt(control_points))
    cx, cy = np.meshgrid(np.linspace(-1, 1, side), np.linspace(-1, 1, side))
    source = np.stack([cx.ravel(), cy.ravel()], axis=1)
    xt, yt = output_grid(*out_size)
    out = []
    for image, offset in zip(images, offsets.reshape(-1, 2, control_points)):
        spline = RBFInterpolator(source, source + offset.T, kernel="thin_plate_spline", degree=1)
        moved = spline(np.stack([xt.ravel(), yt.ravel()], axis=1))
        out.append(numpy_sample(image, moved[:, 0].reshape(xt.shape), moved[:, 1].reshape(xt.shape),
                                border_mode))
    return np.stack(out)


def _random(shape, seed=0, scale=1.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype("float32")


def _compile(layer, l_in, l_loc, mode="FAST_COMPILE"):
    return pytensor.function([l_in.input_var, l_loc.input_var], get_output(layer), mode=mode)


IDENTITY = np.array([1, 0, 0, 0, 1, 0], dtype="float32")
# Zoomed out, sheared and shifted: many positions fall outside the input.
THETAS = np.array([[1.7, 0.3, 0.4, -0.2, 1.4, -0.6], [0.8, -0.5, -0.9, 0.6, 1.9, 0.7]], dtype="float32")


@pytest.mark.parametrize("border_mode", ["nearest", "mirror", "wrap"])
def test_affine_matches_numpy_sampler(border_mode):
    l_in, l_loc = InputLayer((None, 2, 5, 7)), InputLayer((None, 6))
    layer = TransformerLayer(l_in, l_loc, downsample_factor=(1, 0.5), border_mode=border_mode)
    x = _random((2, 2, 5, 7))
    out = _compile(layer, l_in, l_loc)(x, THETAS)
    assert out.shape == (2, 2, 5, 14) and layer.output_shape == (None, 2, 5, 14)
    np.testing.assert_allclose(out, numpy_affine(x, THETAS, (5, 14), border_mode), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("border_mode", ["nearest", "mirror", "wrap"])
def test_tps_matches_scipy_spline(border_mode):
    l_in, l_loc = InputLayer((None, 2, 6, 5)), InputLayer((None, 18))
    layer = TPSTransformerLayer(l_in, l_loc, control_points=9, downsample_factor=1.5, border_mode=border_mode)
    x, offsets = _random((2, 2, 6, 5)), _random((2, 18), seed=1, scale=0.6)
    out = _compile(layer, l_in, l_loc)(x, offsets)
    assert out.shape == (2, 2, 4, 3) and layer.output_shape == (None, 2, 4, 3)
    np.testing.assert_allclose(out, numpy_tps(x, offsets, 9, (4, 3), border_mode), rtol=1e-3, atol=1e-4)


def test_every_backend_matches_the_references(backend_mode):
    # One graph with every border mode and both transforms: one compile per backend.
    l_in, l_affine, l_tps = InputLayer((None, 2, 5, 7)), InputLayer((None, 6)), InputLayer((None, 8))
    modes = ["nearest", "mirror", "wrap"]
    layers = [TransformerLayer(l_in, l_affine, downsample_factor=(1, 0.5), border_mode=m) for m in modes]
    layers += [TPSTransformerLayer(l_in, l_tps, control_points=4, border_mode=m, precompute_grid=m == "wrap")
               for m in modes]
    f = pytensor.function([l_in.input_var, l_affine.input_var, l_tps.input_var], get_output(layers),
                          mode=backend_mode)
    x, offsets = _random((2, 2, 5, 7)), _random((2, 8), seed=1, scale=0.6)
    outputs = f(x, THETAS, offsets)
    for mode, out in zip(modes, outputs[:3]):
        np.testing.assert_allclose(out, numpy_affine(x, THETAS, (5, 14), mode), rtol=1e-4, atol=1e-5)
    for mode, out in zip(modes, outputs[3:]):
        np.testing.assert_allclose(out, numpy_tps(x, offsets, 4, (5, 7), mode), rtol=1e-3, atol=1e-4)


def test_identity_returns_the_input_and_a_known_shift_moves_it():
    l_in, l_loc = InputLayer((None, 3, 6, 5)), InputLayer((None, 6))
    f = _compile(TransformerLayer(l_in, l_loc), l_in, l_loc)
    x = _random((2, 3, 6, 5))
    np.testing.assert_allclose(f(x, np.stack([IDENTITY] * 2)), x, atol=1e-6)
    # Reading two columns to the right: x_s = x_t + 2 * (2 / (columns - 1)); 'nearest' repeats the last column.
    shift = IDENTITY.copy()
    shift[2] = 2 * 2 / 4
    shifted = np.concatenate([x[..., 2:], x[..., -1:], x[..., -1:]], axis=-1)
    np.testing.assert_allclose(f(x, np.stack([shift] * 2)), shifted, atol=1e-5)
    # Mirror about the last column and wrap around to the first.
    for mode, tail in [("mirror", x[..., [3, 2]]), ("wrap", x[..., [0, 1]])]:
        g = _compile(TransformerLayer(l_in, l_loc, border_mode=mode), l_in, l_loc)
        np.testing.assert_allclose(g(x, np.stack([shift] * 2)), np.concatenate([x[..., 2:], tail], axis=-1),
                                   atol=1e-5)


@pytest.mark.parametrize("precompute_grid", [True, False])
def test_tps_zero_offsets_are_the_identity(precompute_grid):
    l_in, l_loc = InputLayer((None, 2, 7, 6)), InputLayer((None, 32))
    layer = TPSTransformerLayer(l_in, l_loc, precompute_grid=precompute_grid)
    x = _random((2, 2, 7, 6))
    np.testing.assert_allclose(_compile(layer, l_in, l_loc)(x, np.zeros((2, 32), "float32")), x, atol=1e-5)


def test_tps_gives_the_same_output_whether_the_grid_is_precomputed_or_not():
    l_in, l_loc = InputLayer((None, 2, 7, 6)), InputLayer((None, 32))
    x, offsets = _random((2, 2, 7, 6)), _random((2, 32), seed=3, scale=0.3)
    outputs = [_compile(TPSTransformerLayer(l_in, l_loc, precompute_grid=p), l_in, l_loc)(x, offsets)
               for p in (True, False)]
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-4, atol=1e-5)
    l_unknown = InputLayer((None, 2, None, None))
    layer = TPSTransformerLayer(l_unknown, l_loc)
    assert layer.precompute_grid is False and layer.output_shape == (None, 2, None, None)
    np.testing.assert_allclose(_compile(layer, l_unknown, l_loc)(x, offsets), outputs[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("make, theta", [
    (lambda l_in, l_loc: TransformerLayer(l_in, l_loc, downsample_factor=(1.5, 1), border_mode="mirror"),
     [0.9, 0.13, 0.11, -0.07, 1.2, -0.11]),
    (lambda l_in, l_loc: TPSTransformerLayer(l_in, l_loc, control_points=4, border_mode="wrap"),
     np.linspace(-0.21, 0.23, 8)),
    (lambda l_in, l_loc: TPSTransformerLayer(l_in, l_loc, control_points=4, precompute_grid=False),
     np.linspace(-0.21, 0.23, 8)),
], ids=["affine", "tps", "tps-graph-grid"])
def test_gradients_match_finite_differences(make, theta, check_gradients):
    # (no sampling position on a pixel boundary, where the bilinear interpolation has a kink)
    layer = make(InputLayer((None, 2, 5, 4)), InputLayer((None, len(theta))))
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 4))
    check_gradients(lambda x, t: layer.get_output_for([x, t]), [x, np.stack([theta] * 2)])


@pytest.mark.parametrize("layer_class, size", [(TransformerLayer, 6), (TPSTransformerLayer, 32)])
def test_declared_shapes_and_gradients_reach_the_localization_network(layer_class, size, backend_mode,
                                                                      check_layer):
    l_in = InputLayer((None, 1, 6, 6))
    bias = IDENTITY if size == 6 else np.zeros(size, "float32")
    l_loc = DenseLayer(FlattenLayer(l_in), size, W=init.Normal(0.1), b=bias, nonlinearity=None)
    check_layer(layer_class(l_in, l_loc, downsample_factor=0.5), l_in, batch=2, mode=backend_mode)


def test_bad_arguments_are_refused_naming_the_layer():
    l_in, l_loc, l_tps = InputLayer((None, 3, 8, 8)), InputLayer((None, 6)), InputLayer((None, 32))
    cases = [
        (TransformerLayer, (l_in, InputLayer((None, 5))), {}, r"localization network must have output shape "
                                                               r"\(batch_size, 6\), got \(None, 5\)"),
        (TransformerLayer, (l_in, InputLayer((None, 2, 3))), {}, "localization network"),
        (TransformerLayer, (InputLayer((None, 3, 8)), l_loc), {}, "4-dimensional"),
        (TransformerLayer, (l_in, l_loc), {"border_mode": "constant"}, "border_mode must be one of"),
        (TransformerLayer, (l_in, l_loc), {"downsample_factor": 0}, "downsample_factor must be a positive number"),
        (TransformerLayer, (l_in, l_loc), {"downsample_factor": 9}, "leaves no output"),
        (TPSTransformerLayer, (l_in, l_tps), {"control_points": 15}, "perfect square"),
        (TPSTransformerLayer, (l_in, l_tps), {"control_points": 1}, "control_points must be an integer >= 4"),
        (TPSTransformerLayer, (l_in, l_loc), {}, r"\(batch_size, 32\), got \(None, 6\)"),
        (TPSTransformerLayer, (InputLayer((None, 3, None, 8)), l_tps), {"precompute_grid": True},
         "precompute_grid=True needs known input rows and columns"),
        (TPSTransformerLayer, (l_in, l_tps), {"precompute_grid": "yes"}, "precompute_grid must be"),
    ]
    for cls, args, kwargs, message in cases:
        with pytest.raises(ValueError, match=f"^{cls.__name__}.*{message}"):
            cls(*args, **kwargs)


def test_lasagne_namespace_resolves_the_transformers():
    import convnet.legacy
    convnet.legacy.install()
    try:
        import lasagne
        from lasagne.layers.local import LocallyConnected2DLayer
        from lasagne.layers.special import TPSTransformerLayer as SpecialTPS
        assert lasagne.layers.TransformerLayer is TransformerLayer and SpecialTPS is TPSTransformerLayer
        assert LocallyConnected2DLayer is lasagne.layers.LocallyConnected2DLayer
    finally:
        convnet.legacy.uninstall()


def test_mirror_of_a_single_column_reads_that_column():
    l_in, l_loc = InputLayer((None, 1, 3, 1)), InputLayer((None, 6))
    f = _compile(TransformerLayer(l_in, l_loc, border_mode="mirror"), l_in, l_loc)
    x = _random((1, 1, 3, 1))
    theta = IDENTITY.copy()
    theta[2] = 0.7
    np.testing.assert_allclose(f(x, theta[None]), x, atol=1e-6)
