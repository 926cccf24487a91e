"""Camera and domain augmentations as TensorFlow ops, one example at a time (for ``tf.data.Dataset.map``).

Both trainers (``pretrain`` and ``train-seg``) use these, so the embedding and the FCNs see the same
variation. Every random draw is stateless: it comes from the example's seed (shape (2,) int), so a
seed gives the same augmented example on every run and every machine. Each augmentation applies to
every image, its strength drawn uniformly from its range (the neutral value included); a range of 0
(JPEG: a lowest quality of 100) turns it off. Order: flip, blur, brightness, contrast, saturation,
hue, noise, JPEG (optics, exposure, colour processing, sensor noise, compression).

Default ranges (``Augmentation()``), in the units of the fields:

- ``flip``: mirror left-right with probability 1/2 (geometric: the target follows it); off by default
- ``blur``: Gaussian blur, sigma in [0, 1.0] pixels of the model input
- ``brightness``: shift in [-32, 32] pixel levels (of 0..255)
- ``contrast``: factor in [0.7, 1.3] around the image's mean
- ``saturation``: factor in [0.6, 1.4]
- ``hue``: rotation in [-0.05, 0.05] of the colour circle (+-18 degrees)
- ``noise``: Gaussian pixel noise, standard deviation in [0, 6] pixel levels
- ``jpeg_quality``: re-encoded as JPEG at a quality in [50, 100]

Colour augmentations never touch the target (a segmentation mask or obstacle labels).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import tensorflow as tf

_SEEDS = 8  # sub-seeds split from an example's seed: the flip, six colour steps, JPEG


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the augmentations (see the module docstring for units and defaults)."""

    flip: bool = False
    blur: float = 1.0
    brightness: float = 32.0
    contrast: float = 0.3
    saturation: float = 0.4
    hue: float = 0.05
    noise: float = 6.0
    jpeg_quality: int = 50

    def __post_init__(self) -> None:
        limits = {
            'blur': (self.blur, 0.0, 10.0),
            'brightness': (self.brightness, 0.0, 255.0),
            'contrast': (self.contrast, 0.0, 0.99),
            'saturation': (self.saturation, 0.0, 0.99),
            'hue': (self.hue, 0.0, 0.5),
            'noise': (self.noise, 0.0, 255.0),
            'jpeg_quality': (self.jpeg_quality, 0, 100),
        }
        for name, (value, low, high) in limits.items():
            if not low <= value <= high:
                raise ValueError(f'augmentation {name} must be in [{low}, {high}], got {value}')

    @classmethod
    def off(cls) -> Augmentation:
        """No augmentation at all."""
        return cls(flip=False, blur=0.0, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0, noise=0.0,
                   jpeg_quality=100)


def _split(seed: tf.Tensor) -> tf.Tensor:
    return tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), _SEEDS)


def random_blur(image: tf.Tensor, max_sigma: float, seed: tf.Tensor) -> tf.Tensor:
    """Separable Gaussian blur of a float (H, W, 3) image, sigma uniform in [0, ``max_sigma``] pixels
    (sigma near 0 leaves the image as it is); borders are mirrored."""
    sigma = tf.random.stateless_uniform([], seed, 0.0, max_sigma)
    radius = max(1, math.ceil(3 * max_sigma))
    taps = tf.range(-radius, radius + 1, dtype=tf.float32)
    kernel = tf.exp(-0.5 * tf.square(taps / tf.maximum(sigma, 1e-3)))
    kernel = kernel / tf.reduce_sum(kernel)
    channels = tf.shape(image)[-1]
    rows = tf.tile(tf.reshape(kernel, (-1, 1, 1, 1)), tf.stack([1, 1, channels, 1]))
    cols = tf.reshape(rows, (1, -1, channels, 1))
    padded = tf.pad(image[None], [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode='SYMMETRIC')
    blurred = tf.nn.depthwise_conv2d(padded, rows, [1, 1, 1, 1], 'VALID')
    return tf.nn.depthwise_conv2d(blurred, cols, [1, 1, 1, 1], 'VALID')[0]


def random_brightness(image: tf.Tensor, max_levels: float, seed: tf.Tensor) -> tf.Tensor:
    """Add one shift in [-``max_levels``, ``max_levels``] pixel levels to a float [0, 1] image."""
    return tf.image.stateless_random_brightness(image, max_levels / 255.0, seed)


def random_contrast(image: tf.Tensor, amount: float, seed: tf.Tensor) -> tf.Tensor:
    """Scale a float image's deviations from its mean by a factor in [1 - ``amount``, 1 + ``amount``]."""
    return tf.image.stateless_random_contrast(image, 1.0 - amount, 1.0 + amount, seed)


def random_saturation(image: tf.Tensor, amount: float, seed: tf.Tensor) -> tf.Tensor:
    """Scale a float RGB image's saturation by a factor in [1 - ``amount``, 1 + ``amount``]."""
    return tf.image.stateless_random_saturation(image, 1.0 - amount, 1.0 + amount, seed)


def random_hue(image: tf.Tensor, max_delta: float, seed: tf.Tensor) -> tf.Tensor:
    """Rotate a float RGB image's hue by up to ``max_delta`` of the colour circle either way."""
    return tf.image.stateless_random_hue(image, max_delta, seed)


def random_noise(image: tf.Tensor, max_levels: float, seed: tf.Tensor) -> tf.Tensor:
    """Add Gaussian noise, its standard deviation uniform in [0, ``max_levels``] pixel levels, per pixel."""
    strength, pixels = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    std = tf.random.stateless_uniform([], strength, 0.0, max_levels / 255.0)
    return image + std * tf.random.stateless_normal(tf.shape(image), pixels)


def random_jpeg(image: tf.Tensor, min_quality: int, seed: tf.Tensor) -> tf.Tensor:
    """Encode and decode a float [0, 1] image as JPEG at a quality in [``min_quality``, 100]."""
    return tf.image.stateless_random_jpeg_quality(image, min_quality, 100, seed)


def augment_colours(image: tf.Tensor, augmentation: Augmentation, seed: tf.Tensor) -> tf.Tensor:
    """The colour and domain augmentations of a uint8 (H, W, 3) image, in the module's order; uint8 out."""
    seeds = _split(seed)
    x = tf.image.convert_image_dtype(image, tf.float32)
    steps: list[tuple[float, Callable[[tf.Tensor, tf.Tensor], tf.Tensor]]] = [
        (augmentation.blur, lambda x, s: random_blur(x, augmentation.blur, s)),
        (augmentation.brightness, lambda x, s: random_brightness(x, augmentation.brightness, s)),
        (augmentation.contrast, lambda x, s: random_contrast(x, augmentation.contrast, s)),
        (augmentation.saturation, lambda x, s: random_saturation(x, augmentation.saturation, s)),
        (augmentation.hue, lambda x, s: random_hue(x, augmentation.hue, s)),
        (augmentation.noise, lambda x, s: random_noise(x, augmentation.noise, s)),
    ]
    for index, (amount, step) in enumerate(steps):
        if amount > 0:
            x = tf.clip_by_value(step(x, seeds[index + 1]), 0.0, 1.0)
    if augmentation.jpeg_quality < 100:
        x = random_jpeg(x, augmentation.jpeg_quality, seeds[_SEEDS - 1])
    return tf.cast(tf.round(tf.clip_by_value(x, 0.0, 1.0) * 255.0), tf.uint8)


def augment(
    image: tf.Tensor,
    target: tf.Tensor,
    augmentation: Augmentation,
    seed: tf.Tensor,
    flip_target: Callable[[tf.Tensor], tf.Tensor] | None = None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """One training example augmented: the flip (if on) mirrors image and target together (``flip_target``
    mirrors the target: a mask's columns, or the sensor axis of obstacle labels), then the colours."""
    if augmentation.flip:
        if flip_target is None:
            raise ValueError('flipping images needs flip_target to flip their targets as well')
        flip = tf.random.stateless_uniform([], _split(seed)[0]) < 0.5
        image = tf.cond(flip, lambda: tf.reverse(image, [1]), lambda: image)
        target = tf.cond(flip, lambda: flip_target(target), lambda: target)
    return augment_colours(image, augmentation, seed), target
