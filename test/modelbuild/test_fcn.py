"""FCN-32s/16s/8s: bilinear transposed convolutions, output sizes, loss with an ignore index."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip('tensorflow')

import keras
import tensorflow as tf

from selfsup_perception.modelbuild.fcn import (
    VARIANTS,
    BilinearUpsampling,
    bilinear_kernel,
    build_fcn,
    segmentation_loss_terms,
)


@pytest.mark.parametrize('factor', [2, 8, 32])
def test_bilinear_transposed_conv_reproduces_bilinear_resize(factor: int) -> None:
    rows, cols = np.meshgrid(np.arange(6.0), np.arange(7.0), indexing='ij')
    smooth = np.stack([0.5 * rows + 0.3 * cols, np.sin(rows / 3) + np.cos(cols / 4)], -1)[None].astype(
        np.float32
    )
    layer = keras.layers.Conv2DTranspose(
        2, 2 * factor, strides=factor, padding='same', use_bias=False, kernel_initializer=BilinearUpsampling()
    )
    upsampled = keras.ops.convert_to_numpy(layer(smooth))
    resized = tf.image.resize(smooth, (6 * factor, 7 * factor), method='bilinear').numpy()
    inner = slice(factor, -factor)  # the transposed conv pads with zeros where resize clamps to the edge
    np.testing.assert_allclose(upsampled[:, inner, inner], resized[:, inner, inner], atol=1e-5)


def test_bilinear_kernel_is_per_channel_and_sums_to_stride_squared() -> None:
    kernel = bilinear_kernel(4, 3)
    assert kernel.shape == (8, 8, 3, 3)
    assert kernel[:, :, 0, 1].max() == 0.0  # channels do not mix
    assert kernel[:, :, 2, 2].sum() == pytest.approx(16.0)  # each output pixel gets weights summing to 1


@pytest.mark.parametrize('variant', list(VARIANTS))
@pytest.mark.parametrize('size', [(96, 128), (100, 120)])
def test_output_has_the_input_size(variant: str, size: tuple[int, int]) -> None:
    model = build_fcn(variant, num_classes=3, input_size=size)
    assert model.output_shape == (None, *size, 3)
    upsamplings = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    trainable = {layer.name: layer.trainable for layer in upsamplings}
    assert trainable.pop('upscore_final') is False  # fixed bilinear, as in the paper
    assert all(trainable.values())
    assert len(trainable) == {'fcn32s': 0, 'fcn16s': 1, 'fcn8s': 2}[variant]


def test_segmentation_loss_ignores_the_ignore_index() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 4, 5, 3)).astype(np.float32)
    truth = rng.integers(0, 3, (2, 4, 5)).astype(np.uint8)
    truth[:, :2] = 255
    valid = truth != 255
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -np.take_along_axis(log_p, np.where(valid, truth, 0)[..., None].astype(int), -1)[..., 0][
        valid
    ].sum()
    terms = segmentation_loss_terms()
    total, count = terms(truth, logits)
    assert float(count) == valid.sum()
    assert float(total) == pytest.approx(expected, rel=1e-5)
    changed = logits.copy()
    changed[:, :2] = rng.normal(size=changed[:, :2].shape)
    assert float(terms(truth, changed)[0]) == pytest.approx(expected, rel=1e-5)
