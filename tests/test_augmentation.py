"""Tests of convnet.augmentation: the transforms' maths and conventions, their
randomness, and the threaded BatchIterator."""
import pickle
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convnet import augmentation
from convnet.augmentation import (
    BatchIterator,
    CenterCrop,
    Compose,
    GaussianNoise,
    PCAColor,
    RandomAffine,
    RandomCrop,
    RandomFlip,
    Transform,
)


def rng(seed=0):
    return np.random.default_rng(seed)


def correlated_images(n=20, size=6, offset=100.0, seed=0):
    """3-channel images whose pixel colours are correlated, around ``offset``."""
    mixing = np.array([[2.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.5, -0.5, 0.5]])
    pixels = rng(seed).standard_normal((n, size, size, 3)) @ mixing.T + offset
    return np.ascontiguousarray(pixels.transpose(0, 3, 1, 2))


def augment_threads():
    return [t for t in threading.enumerate() if t.name.startswith("convnet-augment")]


# --- PCAColor ---------------------------------------------------------------

def test_pca_fit_is_the_sample_covariance_of_the_pixels():
    X = correlated_images()
    color = PCAColor().fit(X)
    pixels = X.transpose(1, 0, 2, 3).reshape(3, -1)
    # Sample normalisation (n - 1), np.cov's default; ddof given explicitly.
    np.testing.assert_allclose(color.covariance_, np.cov(pixels, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(color.mean_, pixels.mean(axis=1), rtol=1e-12)
    assert color.n_pixels_ == pixels.shape[1]
    V, lam = color.eigenvectors_, color.eigenvalues_
    np.testing.assert_allclose(color.covariance_ @ V, V * lam, atol=1e-10)
    np.testing.assert_allclose(V.T @ V, np.eye(3), atol=1e-12)


def test_pca_streaming_fit_equals_one_shot_fit():
    X = correlated_images(n=23)
    whole = PCAColor().fit(X)
    for chunks in ([X[:1], X[1:8], X[8:]], (X[i:i + 5] for i in range(0, 23, 5))):
        streamed = PCAColor().fit(chunks)
        assert streamed.n_pixels_ == whole.n_pixels_
        for name in ("mean_", "covariance_", "eigenvalues_"):
            np.testing.assert_allclose(getattr(streamed, name), getattr(whole, name), rtol=1e-12)


def test_pca_noise_is_one_colour_shift_per_image_and_redrawn():
    X = correlated_images(n=8)
    color = PCAColor(std=0.5).fit(X)
    shift = color(X, rng()) - X
    np.testing.assert_allclose(shift, np.broadcast_to(shift[:, :, :1, :1], shift.shape), atol=1e-10)
    colours = shift[:, :, 0, 0]
    assert len(np.unique(colours.round(8), axis=0)) == len(X)
    redrawn = color(X, rng(1)) - X
    assert not np.allclose(redrawn, shift)


def test_pca_noise_lies_in_the_span_of_the_principal_components():
    X = correlated_images()
    X[:, 2] = X[:, 0] + X[:, 1]  # colours span a plane: one eigenvalue is 0
    color = PCAColor(std=1.0).fit(X)
    null_direction = np.array([1.0, 1.0, -1.0]) / np.sqrt(3)
    assert color.eigenvalues_[0] < 1e-9 * color.eigenvalues_[-1]
    np.testing.assert_allclose(np.abs(color.eigenvectors_[:, 0]), np.abs(null_direction), atol=1e-9)
    colours = (color(np.zeros((500, 3, 1, 1)), rng()))[:, :, 0, 0]
    assert np.abs(colours @ null_direction).max() < 1e-9 * np.abs(colours).max()


def test_pca_noise_covariance_is_v_diag_lambda2_std2_vt():
    std, draws = 0.3, 20000
    color = PCAColor(std=std).fit(correlated_images(offset=0.0))
    V, lam = color.eigenvectors_, color.eigenvalues_
    expected = V @ np.diag(lam**2 * std**2) @ V.T
    colours = color(np.zeros((draws, 3, 1, 1)), rng(7))[:, :, 0, 0]
    measured = colours.T @ colours / draws  # the noise has mean 0
    # For normal vectors, the estimate of entry (i, j) has variance
    # (S_ii S_jj + S_ij^2) / draws: allow 5 standard errors per entry.
    standard_error = np.sqrt((np.outer(np.diag(expected), np.diag(expected)) + expected**2) / draws)
    assert np.all(np.abs(measured - expected) < 5 * standard_error)


def test_pca_refuses_one_channel_and_use_before_fit():
    with pytest.raises(ValueError, match="at least 2 channels"):
        PCAColor().fit(np.zeros((2, 1, 4, 4)))
    with pytest.raises(ValueError, match="at least 2 channels"):
        PCAColor()(np.zeros((2, 1, 4, 4)), rng())
    with pytest.raises(RuntimeError, match="not fitted"):
        PCAColor()(np.zeros((2, 3, 4, 4)), rng())
    with pytest.raises(ValueError, match="fitted on 3-channel"):
        PCAColor().fit(correlated_images())(np.zeros((2, 4, 4, 4)), rng())
    with pytest.raises(ValueError, match="3 and 4 channels"):
        PCAColor().fit([np.zeros((2, 3, 4, 4)), np.zeros((2, 4, 4, 4))])


# --- geometry ----------------------------------------------------------------

@pytest.mark.parametrize("horizontal, vertical", [(True, False), (False, True), (True, True)])
def test_flips_are_exact_index_reversals(horizontal, vertical):
    X = rng().random((64, 2, 5, 7))
    out = RandomFlip(horizontal, vertical)(X, rng(1))
    candidates = {
        (h, v): X[:, :, ::(-1 if v else 1), ::(-1 if h else 1)]
        for h in {False, horizontal} for v in {False, vertical}
    }
    seen = set()
    for i in range(len(X)):
        matches = [key for key, flipped in candidates.items() if np.array_equal(out[i], flipped[i])]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == set(candidates)


def test_identity_affine_returns_the_input():
    X = rng().random((3, 2, 9, 8)).astype(np.float32)
    out = RandomAffine()(X, rng())
    assert out is not X
    np.testing.assert_array_equal(out, X)


@pytest.mark.parametrize("order", [0, 1])
def test_integer_translation_shifts_exactly(order):
    X = rng().random((2, 3, 8, 9))
    out = RandomAffine(translate=((2, 2), (-3, -3)), fill=-1.0, order=order)(X, rng())
    np.testing.assert_array_equal(out[:, :, 2:, :-3], X[:, :, :-2, 3:])
    assert np.all(out[:, :, :2, :] == -1) and np.all(out[:, :, :, -3:] == -1)


def test_translation_as_a_fraction_of_the_image_size():
    X = rng().random((2, 1, 8, 10))
    out = RandomAffine(translate=((0.25, 0.25), (-0.1, -0.1)), translate_unit="fraction")(X, rng())
    np.testing.assert_allclose(out[:, :, 2:, :-1], X[:, :, :-2, 1:], atol=1e-12)


@pytest.mark.parametrize("size", [(6, 6), (7, 7)])
@pytest.mark.parametrize("angle, turns", [(90, 1), (-90, -1), (180, 2)])
def test_rotation_matches_rot90_counter_clockwise(size, angle, turns):
    X = rng().random((3, 2) + size)
    out = RandomAffine(rotate=(angle, angle))(X, rng())
    np.testing.assert_allclose(out, np.rot90(X, k=turns, axes=(2, 3)), atol=1e-12)


def test_combined_map_is_scale_shear_rotate_translate_about_the_centre():
    # Bilinear interpolation reproduces a linear image exactly, so away from
    # the borders the output is the ramp evaluated at the mapped position.
    size, centre = 41, 20.0
    rows, columns = np.mgrid[:size, :size].astype(float)
    X = np.stack([rows, columns])[None]  # channel 0: row index, channel 1: column
    zoom, shear, angle, shift = 1.25, np.deg2rad(10), np.deg2rad(30), np.array([2.0, -1.5])
    affine = RandomAffine(translate=((2, 2), (-1.5, -1.5)), rotate=(30, 30), scale=(1.25, 1.25),
                          shear=(10, 10))
    out = affine(X, rng())[0]
    # Undo each effect in turn: translation, rotation, shear, scale.
    p = np.stack([rows - centre - shift[0], columns - centre - shift[1]])
    p = np.stack([np.cos(angle) * p[0] + np.sin(angle) * p[1], -np.sin(angle) * p[0] + np.cos(angle) * p[1]])
    p = np.stack([p[0], p[1] - np.tan(shear) * p[0]])
    source = p / zoom + centre
    inside = np.all((source >= 0) & (source <= size - 1), axis=0)
    np.testing.assert_allclose(out[:, inside], source[:, inside], atol=1e-9)


def test_affine_resamples_each_image_once(monkeypatch):
    from scipy import ndimage

    calls = []
    real = ndimage.affine_transform
    monkeypatch.setattr(ndimage, "affine_transform",
                        lambda *args, **kwargs: calls.append(1) or real(*args, **kwargs))
    RandomAffine(translate=2, rotate=10, scale=(0.9, 1.1), shear=5)(np.zeros((4, 3, 8, 8)), rng())
    assert len(calls) == 4 * 3  # one resampling per image and channel plane


def test_random_crop_with_padding_places_the_content():
    X = np.tile(np.arange(1.0, 31.0).reshape(1, 1, 5, 6), (200, 2, 1, 1))
    X[:, 1] *= -1
    out = RandomCrop(size=(5, 6), padding=(2, 1), fill=0.0)(X, rng())
    padded = np.pad(X[0], ((0, 0), (2, 2), (1, 1)))
    windows = {(top, left): padded[:, top:top + 5, left:left + 6] for top in range(5) for left in range(3)}
    seen = set()
    for image in out:
        matches = [place for place, window in windows.items() if np.array_equal(image, window)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == set(windows)


def test_random_crop_without_padding_stays_inside():
    X = rng().random((50, 1, 5, 6))
    out = RandomCrop((3, 4))(X, rng())
    for image, crop in zip(X, out):
        assert any(np.array_equal(crop, image[:, t:t + 3, l:l + 4]) for t in range(3) for l in range(3))


def test_center_crop_takes_the_middle():
    X = rng().random((2, 3, 6, 7))
    np.testing.assert_array_equal(CenterCrop((3, 4))(X, rng()), X[:, :, 1:4, 1:5])
    np.testing.assert_array_equal(CenterCrop(6)(X[..., :6], rng()), X[..., :6])


# --- randomness ----------------------------------------------------------------

def random_transforms():
    """(transform, whether its outcome is continuous), one of each kind."""
    return [
        (RandomAffine(translate=2, rotate=20, scale=(0.9, 1.1), shear=10), True),
        (RandomCrop(6, padding=2), False),
        (RandomFlip(vertical=True), False),
        (GaussianNoise(0.1), True),
        (PCAColor().fit(correlated_images()), True),
        (Compose([RandomCrop(7, padding=1), RandomFlip(), GaussianNoise(0.1)]), True),
    ]


@pytest.mark.parametrize("transform, continuous", random_transforms(), ids=lambda v: type(v).__name__)
def test_randomness_is_reproducible_and_differs_across_images(transform, continuous):
    image = correlated_images(n=1, size=8)[0]
    X = np.tile(image, (16, 1, 1, 1))
    out = transform(X, rng(3))
    np.testing.assert_array_equal(transform(X, rng(3)), out)
    assert not np.array_equal(transform(X, rng(4)), out)
    distinct = len({o.tobytes() for o in out})
    assert distinct == len(X) if continuous else distinct > 1


# --- errors --------------------------------------------------------------------

def test_crop_too_big_is_a_clear_error_at_first_use_or_construction():
    X = np.zeros((2, 1, 28, 28))
    with pytest.raises(ValueError, match=r"RandomCrop.*40x40 crop from 28x28 images padded to 32x32"):
        RandomCrop(40, padding=2)(X, rng())
    with pytest.raises(ValueError, match=r"CenterCrop.*30x30 crop from 28x28 images"):
        CenterCrop(30)(X, rng())
    with pytest.raises(ValueError, match=r"RandomCrop.*29x29 crop from 28x28 images"):
        BatchIterator(X, transform=Compose([RandomFlip(), RandomCrop(29)]))
    with pytest.raises(ValueError, match=r"CenterCrop.*24x24 crop from 20x20 images"):
        Compose([CenterCrop(20), CenterCrop(24)]).output_shape((None, 1, 28, 28))


@pytest.mark.parametrize("make", [
    lambda: RandomAffine(scale=(0, 1)),
    lambda: RandomAffine(scale=(1.2, 1.1)),
    lambda: RandomAffine(shear=90),
    lambda: RandomAffine(rotate=-5),
    lambda: RandomAffine(order=6),
    lambda: RandomAffine(translate_unit="inches"),
    lambda: RandomCrop(0),
    lambda: RandomCrop(4, padding=-1),
    lambda: RandomFlip(horizontal=False),
    lambda: GaussianNoise(-0.1),
    lambda: Compose([]),
    lambda: BatchIterator(batch_size=0),
    lambda: BatchIterator(np.zeros((3, 1)), np.zeros(4)),
])
def test_bad_settings_are_refused(make):
    with pytest.raises(ValueError):
        make()


def test_bad_batches_are_refused():
    with pytest.raises(TypeError, match="float32 or float64"):
        RandomFlip()(np.zeros((2, 1, 3, 3), dtype=np.uint8), rng())
    with pytest.raises(ValueError, match="rows, columns"):
        RandomFlip()(np.zeros((2, 3, 3)), rng())


# --- BatchIterator -----------------------------------------------------------------

def numbered(n):
    """Samples whose single pixel is their index, and the indices as labels."""
    return np.arange(n, dtype=np.float64).reshape(n, 1, 1, 1), np.arange(n)


def test_shuffled_epoch_visits_every_sample_once():
    X, y = numbered(103)
    batches = BatchIterator(X, y, batch_size=10, shuffle=True, seed=1)
    orders = []
    for _ in range(2):
        epoch = list(batches)
        assert [len(yb) for _, yb in epoch] == [10] * 10 + [3]
        for Xb, yb in epoch:
            np.testing.assert_array_equal(Xb[:, 0, 0, 0], yb)
        order = np.concatenate([yb for _, yb in epoch])
        np.testing.assert_array_equal(np.sort(order), y)
        orders.append(order)
    assert not np.array_equal(*orders)


def test_drop_last():
    X, y = numbered(10)
    kept, dropped = BatchIterator(X, y, batch_size=4), BatchIterator(X, y, batch_size=4, drop_last=True)
    assert (len(kept), len(dropped)) == (3, 2)
    assert [len(yb) for _, yb in kept] == [4, 4, 2]
    assert [len(yb) for _, yb in dropped] == [4, 4]
    assert [yb for _, yb in BatchIterator(X, batch_size=4)] == [None] * 3


def test_same_seed_same_stream_whatever_the_number_of_workers():
    X = correlated_images(n=37, size=8)
    y = np.arange(37)
    augment = Compose([RandomAffine(translate=1, rotate=15), RandomFlip(), GaussianNoise(0.05)])

    def stream(workers, seed=11):
        batches = BatchIterator(X, y, batch_size=8, shuffle=True, transform=augment, seed=seed,
                                workers=workers)
        return [pair for _ in range(2) for pair in batches]

    reference = stream(workers=1)
    for other in (stream(workers=2), stream(workers=0)):
        assert len(other) == len(reference) == 10
        for (Xa, ya), (Xb, yb) in zip(reference, other):
            np.testing.assert_array_equal(Xa, Xb)
            np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(stream(workers=1, seed=12)[0][0], reference[0][0])


class Sleepy(Transform):
    """Takes a random few milliseconds, so batches finish out of order."""

    def apply(self, X, rng):
        time.sleep(rng.uniform(0, 0.01))
        return X.copy()


def test_batches_are_delivered_in_order():
    X, y = numbered(40)
    batches = BatchIterator(X, y, batch_size=2, transform=Sleepy(), workers=4, prefetch=4, seed=0)
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in batches]), y)


def test_each_epoch_redraws_the_augmentation():
    X = correlated_images(n=4)
    batches = BatchIterator(X, batch_size=4, transform=PCAColor().fit(X), seed=0)
    (first, _), = list(batches)
    (second, _), = list(batches)
    assert not np.allclose(first, second)


def test_leaving_early_stops_the_threads():
    X, y = numbered(64)
    batches = BatchIterator(X, y, batch_size=2, transform=Sleepy(), workers=2, prefetch=3)

    def consume():
        for _ in batches:
            break
        abandoned = iter(batches)
        next(abandoned)
        del abandoned

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    consumer.join(timeout=20)
    assert not consumer.is_alive(), "leaving the loop early hung"
    assert augment_threads() == []


class FailsOnSample(Transform):
    def __init__(self, sample):
        self.sample = sample

    def apply(self, X, rng):
        if np.any(X == self.sample):
            raise ArithmeticError(f"cannot augment sample {self.sample}")
        return X.copy()


def test_worker_exception_reaches_the_consumer():
    X, y = numbered(60)
    received = []
    with pytest.raises(ArithmeticError, match="sample 25"):
        for _, yb in BatchIterator(X, y, batch_size=10, transform=FailsOnSample(25), workers=2):
            received.append(yb)
    assert [yb[0] for yb in received] == [0, 10]
    assert augment_threads() == []


@pytest.mark.parametrize("transform, error, match", [
    (lambda X, rng: None, TypeError, r"returned None instead of the batch"),
    (lambda X, rng: X[:-1], ValueError, r"returned float32 of shape \(9, 1, 4, 4\) for a batch of shape "
                                        r"\(10, 1, 4, 4\); it must return as many images"),
    (lambda X, rng: X.reshape(len(X), -1), ValueError, r"returned float32 of shape \(10, 16\).*with 4 dimensions"),
    (lambda X, rng: "images", ValueError, r"returned <U6 of shape \(\)"),
    (lambda X, rng: [object()] * len(X), ValueError, r"returned object"),
])
@pytest.mark.parametrize("workers", [0, 1])
def test_a_callable_transform_with_a_wrong_result_is_named_with_its_batch(transform, error, match, workers):
    X = np.zeros((30, 1, 4, 4), np.float32)
    with pytest.raises(error, match=r"transform <function .*> \(epoch 0, batch 0\) " + match):
        list(BatchIterator(X, batch_size=10, transform=transform, workers=workers))


def test_a_transform_whose_apply_breaks_its_output_shape_is_named():
    class Shrinks(Transform):
        def apply(self, X, rng):
            return X[:, :, 1:]

    with pytest.raises(ValueError, match=r"Shrinks\(\)\.apply returned shape \(2, 1, 3, 4\) for a batch of "
                                         r"shape \(2, 1, 4, 4\); its output_shape says \(2, 1, 4, 4\)"):
        Shrinks()(np.zeros((2, 1, 4, 4), np.float32), np.random.default_rng(0))


def test_template_called_with_data_gives_bound_copies_that_share_the_epochs():
    X, y = numbered(20)
    options = dict(batch_size=8, shuffle=True, transform=RandomFlip(), seed=5)
    template = BatchIterator(**options)
    with pytest.raises(TypeError, match="no data"):
        len(template)
    with pytest.raises(TypeError, match="no data"):
        iter(template)
    per_call = [pair for _ in range(2) for pair in template(X, y)]  # nolearn-style: bind each epoch
    bound_once = BatchIterator(X, y, **options)
    per_iteration = [pair for _ in range(2) for pair in bound_once]
    assert template.X is None and len(template(X, y)) == 3
    assert len(per_call) == len(per_iteration) == 6
    for (Xa, ya), (Xb, yb) in zip(per_call, per_iteration):
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_array_equal(Xa, Xb)
    assert not np.array_equal(per_call[0][1], per_call[3][1])  # the two epochs differ


def test_iterator_survives_pickling_mid_training():
    X, y = numbered(12)
    template = BatchIterator(batch_size=5, shuffle=True, transform=RandomFlip(), seed=2)
    list(template(X, y))
    restored = pickle.loads(pickle.dumps(template))  # estimators are pickled with their iterators
    for (Xa, ya), (Xb, yb) in zip(template(X, y), restored(X, y)):
        np.testing.assert_array_equal(Xa, Xb)
        np.testing.assert_array_equal(ya, yb)


# --- properties ---------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(images=st.integers(1, 5), channels=st.integers(1, 4), rows=st.integers(1, 9),
       columns=st.integers(1, 9), dtype=st.sampled_from([np.float32, np.float64]), data=st.data())
def test_transforms_give_the_announced_shape_and_dtype(images, channels, rows, columns, dtype, data):
    padding = data.draw(st.integers(0, 3), label="padding")
    crop = (data.draw(st.integers(1, rows + 2 * padding), label="crop rows"),
            data.draw(st.integers(1, columns + 2 * padding), label="crop columns"))
    transforms = [
        RandomAffine(translate=1, rotate=30, scale=(0.8, 1.2), shear=10, order=data.draw(st.integers(0, 3))),
        RandomCrop(crop, padding=padding),
        CenterCrop((data.draw(st.integers(1, rows)), data.draw(st.integers(1, columns)))),
        RandomFlip(horizontal=True, vertical=True),
        GaussianNoise(0.1),
        Compose([RandomCrop(crop, padding=padding), RandomFlip()]),
    ]
    X = np.random.default_rng(0).random((images, channels, rows, columns)).astype(dtype)
    if channels >= 2:
        transforms.append(PCAColor().fit(np.random.default_rng(1).random((3, channels, 2, 2))))
    original = X.copy()
    for transform in transforms:
        out = transform(X, rng())
        assert out.shape == transform.output_shape(X.shape)
        assert out.dtype == X.dtype
        np.testing.assert_array_equal(X, original)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 40), batch_size=st.integers(1, 12), drop_last=st.booleans(),
       shuffle=st.booleans(), workers=st.integers(0, 2))
def test_batch_sizes_add_up(n, batch_size, drop_last, shuffle, workers):
    X, y = numbered(n)
    batches = BatchIterator(X, y, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                            workers=workers, transform=RandomFlip())
    sizes = [len(yb) for Xb, yb in batches]
    assert len(sizes) == len(batches)
    assert sum(sizes) == (n - n % batch_size if drop_last else n)
    assert all(size == batch_size for size in sizes[:-1])


def test_batch_iterator_repr_shows_its_settings_not_its_data():
    assert repr(BatchIterator()) == "BatchIterator()"
    bound = BatchIterator(batch_size=4, transform=RandomFlip(), seed=0)(np.zeros((3, 1, 2, 2)))
    assert repr(bound) == "BatchIterator(batch_size=4, transform=RandomFlip(horizontal=True, vertical=False), seed=0)"
