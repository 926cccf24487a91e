"""Augmentations: each one changes the image as its docstring says and keeps shape and dtype, colour ones
never touch the target, flips move image and target together, and a seed gives the same result."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip('tensorflow')

import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from modelbuild_helpers import smooth_images

from selfsup_perception.modelbuild.augment import (
    Augmentation,
    augment,
    augment_colours,
    random_blur,
    random_brightness,
    random_contrast,
    random_hue,
    random_jpeg,
    random_noise,
    random_saturation,
)

seeds = st.tuples(st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1))
IMAGE = smooth_images(1, 24, 32, seed=3)[0]


def _float(image: np.ndarray) -> tf.Tensor:
    return tf.constant(image.astype(np.float32) / 255.0)


def _seed(seed: tuple[int, int]) -> tf.Tensor:
    return tf.constant(seed, tf.int64)


def _chroma(x: np.ndarray) -> np.ndarray:
    return x.max(-1) - x.min(-1)


def _hue(x: np.ndarray) -> np.ndarray:
    return tf.image.rgb_to_hsv(x).numpy()[..., 0]


@settings(max_examples=10, deadline=None)
@given(seeds)
def test_brightness_shifts_every_pixel_alike_within_its_range(seed: tuple[int, int]) -> None:
    x = _float(IMAGE) * 0.5 + 0.25  # nothing clips
    y = random_brightness(x, 32.0, _seed(seed)).numpy()
    shift = y - x.numpy()
    assert y.shape == x.shape
    assert y.dtype == np.float32
    assert np.ptp(shift) < 1e-5
    assert abs(shift.mean()) <= 32 / 255 + 1e-6


@settings(max_examples=10, deadline=None)
@given(seeds)
def test_contrast_scales_deviations_from_the_mean_within_its_range(seed: tuple[int, int]) -> None:
    x = _float(IMAGE)
    y = random_contrast(x, 0.3, _seed(seed)).numpy()
    centred = x.numpy() - x.numpy().mean((0, 1))
    factor = (y - y.mean((0, 1))).std() / centred.std()
    assert 0.7 - 1e-4 <= factor <= 1.3 + 1e-4
    np.testing.assert_allclose(y.mean((0, 1)), x.numpy().mean((0, 1)), atol=1e-5)


@settings(max_examples=10, deadline=None)
@given(seeds)
def test_saturation_scales_colourfulness_and_leaves_greys_grey(seed: tuple[int, int]) -> None:
    x = _float(IMAGE) * 0.6 + 0.2
    y = random_saturation(x, 0.4, _seed(seed)).numpy()
    ratio = _chroma(y).sum() / _chroma(x.numpy()).sum()
    assert 0.6 - 1e-3 <= ratio <= 1.4 + 1e-3
    grey = tf.fill((4, 4, 3), 0.5)
    np.testing.assert_allclose(random_saturation(grey, 0.4, _seed(seed)).numpy(), 0.5, atol=1e-6)


@settings(max_examples=10, deadline=None)
@given(seeds)
def test_hue_rotates_colours_within_its_range_and_leaves_greys_grey(seed: tuple[int, int]) -> None:
    x = tf.constant([[[0.8, 0.2, 0.2], [0.2, 0.7, 0.3]]], tf.float32)
    y = random_hue(x, 0.05, _seed(seed)).numpy()
    turn = (_hue(y) - _hue(x.numpy()) + 0.5) % 1.0 - 0.5
    assert np.abs(turn).max() <= 0.05 + 1e-4
    assert np.ptp(turn) < 1e-3  # one rotation for the whole image
    np.testing.assert_allclose(y.max(-1), x.numpy().max(-1), atol=1e-5)  # value kept
    grey = tf.fill((2, 2, 3), 0.4)
    np.testing.assert_allclose(random_hue(grey, 0.05, _seed(seed)).numpy(), 0.4, atol=1e-6)


@settings(max_examples=10, deadline=None)
@given(seeds)
def test_noise_is_zero_mean_with_a_bounded_spread(seed: tuple[int, int]) -> None:
    x = _float(IMAGE)
    noise = random_noise(x, 6.0, _seed(seed)).numpy() - x.numpy()
    assert noise.shape == x.shape
    assert noise.std() <= 6.0 / 255 * 1.1
    assert abs(noise.mean()) <= 4 * noise.std() / np.sqrt(noise.size) + 1e-9


def test_noise_and_blur_reach_their_ranges() -> None:
    x = _float(IMAGE)
    spreads = [(random_noise(x, 6.0, _seed((0, s))).numpy() - x.numpy()).std() * 255 for s in range(40)]
    assert min(spreads) < 1.5 < 4.5 < max(spreads)  # the std is drawn from [0, 6] levels


def _sharpness(x: np.ndarray) -> float:
    return float(np.abs(np.diff(x, axis=0)).mean() + np.abs(np.diff(x, axis=1)).mean())


@settings(max_examples=10, deadline=None)
@given(seeds)
def test_blur_smooths_without_moving_the_image(seed: tuple[int, int]) -> None:
    rng = np.random.default_rng(seed[0])
    x = tf.constant(rng.random((20, 24, 3), np.float32))  # sharp: independent pixels
    y = random_blur(x, 1.0, _seed(seed)).numpy()
    assert y.shape == x.shape
    assert _sharpness(y) <= _sharpness(x.numpy()) + 1e-6
    np.testing.assert_allclose(y.mean(), x.numpy().mean(), atol=0.01)  # a normalised kernel
    impulse = np.zeros((9, 9, 3), np.float32)
    impulse[4, 4] = 1.0
    blurred = random_blur(tf.constant(impulse), 1.0, _seed(seed)).numpy()
    assert np.unravel_index(blurred[..., 0].argmax(), (9, 9)) == (4, 4)  # centred, no shift


def test_jpeg_changes_detail_but_not_the_picture() -> None:
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((32, 32, 3), np.float32))
    y = random_jpeg(x, 50, _seed((1, 2))).numpy()
    assert y.shape == x.shape
    assert y.dtype == np.float32
    error = np.abs(y - x.numpy())
    assert error.mean() > 0.01  # noise does not survive JPEG
    smooth = _float(IMAGE)
    assert np.abs(random_jpeg(smooth, 50, _seed((1, 2))).numpy() - smooth.numpy()).mean() < 0.02


@settings(max_examples=10, deadline=None)
@given(seeds)
def test_colour_augmentation_keeps_shape_and_dtype_and_is_deterministic(seed: tuple[int, int]) -> None:
    augmentation = Augmentation()
    image = tf.constant(IMAGE)
    first = augment_colours(image, augmentation, _seed(seed)).numpy()
    assert first.shape == IMAGE.shape
    assert first.dtype == np.uint8
    assert not np.array_equal(first, IMAGE)
    np.testing.assert_array_equal(augment_colours(image, augmentation, _seed(seed)).numpy(), first)
    other = augment_colours(image, augmentation, _seed((seed[0], seed[1] ^ 1))).numpy()
    assert not np.array_equal(other, first)


def test_turned_off_augmentation_is_the_identity() -> None:
    image = tf.constant(IMAGE)
    np.testing.assert_array_equal(augment_colours(image, Augmentation.off(), _seed((3, 4))).numpy(), IMAGE)


@settings(max_examples=10, deadline=None)
@given(seeds)
def test_colour_augmentations_leave_the_mask_alone(seed: tuple[int, int]) -> None:
    mask = np.random.default_rng(seed[0]).integers(0, 3, IMAGE.shape[:2]).astype(np.uint8)
    image, target = augment(tf.constant(IMAGE), tf.constant(mask), Augmentation(flip=False), _seed(seed))
    np.testing.assert_array_equal(target.numpy(), mask)
    assert not np.array_equal(image.numpy(), IMAGE)


def test_flips_move_image_and_mask_together() -> None:
    image = np.zeros((8, 12, 3), np.uint8)
    image[:, :3] = 200  # a bright left band
    mask = (image[..., 0] > 0).astype(np.uint8)
    flips = dataclasses.replace(Augmentation.off(), flip=True)
    flipped = 0
    for s in range(20):
        out, target = augment(tf.constant(image), tf.constant(mask), flips, _seed((s, 0)), lambda m: m[:, ::-1])
        np.testing.assert_array_equal(target.numpy(), (out.numpy()[..., 0] > 0).astype(np.uint8))
        flipped += int(target.numpy()[0, -1])
    assert 0 < flipped < 20
    with pytest.raises(ValueError, match='flip_target'):
        augment(tf.constant(image), tf.constant(mask), flips, _seed((0, 0)))


def test_augmentation_runs_inside_tf_data() -> None:
    images = smooth_images(4, 16, 16)
    data = tf.data.Dataset.from_tensor_slices((images, np.zeros((4, 3, 2), np.float32))).enumerate()
    augmented = data.map(lambda i, ex: augment(ex[0], ex[1], Augmentation(), tf.stack([tf.constant(7, tf.int64), i])))
    batches = [(x.numpy(), y.numpy()) for x, y in augmented]
    again = [(x.numpy(), y.numpy()) for x, y in augmented]
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(batches, again, strict=True))
    assert all(x.shape == (16, 16, 3) and x.dtype == np.uint8 for x, _ in batches)


@pytest.mark.parametrize(
    ('field', 'value'), [('hue', 0.6), ('contrast', 1.0), ('saturation', -0.1), ('jpeg_quality', 101), ('blur', -1.0)]
)
def test_ranges_out_of_bounds_are_refused(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        Augmentation(**{field: value})
