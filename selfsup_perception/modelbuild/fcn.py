"""FCN-32s/16s/8s (Long, Shelhamer, Darrell 2015) on a backbone (default MobileNetV2), with static shapes.

1x1 score convolutions on the last (stride 32), stride-16 and stride-8 features; the 2x upsamplings
are learnable transposed convolutions initialised as bilinear interpolation, the final one is fixed
bilinear (as in the paper); skip scores start at zero so training starts from the coarser net.
Every upsampling is a 'same' transposed convolution whose output size is computed from static
shapes (the export traces a batch-1 graph, so no SHAPE/PACK ops appear); where the stride does not
divide the wanted size, a fixed SLICE crops the surplus at the bottom/right, which keeps the output
aligned with the input pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from selfsup_perception.core.seghead import bilinear_taps
from selfsup_perception.modelbuild.backbone import build_backbone, stride_features
from selfsup_perception.modelbuild.backbones import DEFAULT_BACKBONE, get_backbone

VARIANTS = {'fcn32s': 32, 'fcn16s': 16, 'fcn8s': 8}
IGNORE_INDEX = 255


def bilinear_kernel(factor: int, channels: int) -> np.ndarray:
    """Conv2DTranspose kernel (k, k, channels, channels), k = 2f - f % 2, that upsamples each channel
    by ``factor`` with bilinear interpolation (half-pixel centres, like resize without align_corners)."""
    taps = bilinear_taps(factor)
    kernel = np.zeros((len(taps), len(taps), channels, channels), np.float32)
    kernel[:, :, np.arange(channels), np.arange(channels)] = np.outer(taps, taps)[:, :, None]
    return kernel


@keras.saving.register_keras_serializable(package='selfsup_perception')
class BilinearUpsampling(keras.initializers.Initializer):
    """Initialiser of a square Conv2DTranspose kernel (k, k, c, c) as per-channel bilinear upsampling."""

    def __call__(self, shape: tuple[int, ...], dtype: str | None = None) -> keras.KerasTensor:
        size, _, out_channels, in_channels = shape
        if out_channels != in_channels or shape[1] != size:
            raise ValueError(
                f'bilinear init needs a square kernel with as many inputs as outputs, got {shape}'
            )
        return keras.ops.convert_to_tensor(bilinear_kernel((size + 1) // 2, in_channels), dtype=dtype)

    def get_config(self) -> dict[str, Any]:
        return {}


@keras.saving.register_keras_serializable(package='selfsup_perception')
class FixedCrop(keras.layers.Layer):
    """Keep the top-left (height, width) of the feature map: one static SLICE op in TFLite."""

    def __init__(self, height: int, width: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.height, self.width = height, width

    def call(self, inputs: keras.KerasTensor) -> keras.KerasTensor:
        batch, _, _, channels = inputs.shape
        start = (0, 0, 0, 0)
        return keras.ops.slice(inputs, start, (batch if batch else -1, self.height, self.width, channels))

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], self.height, self.width, input_shape[3])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), 'height': self.height, 'width': self.width}


def upsample(
    x: keras.KerasTensor, factor: int, size: tuple[int, int], name: str, trainable: bool = True
) -> keras.KerasTensor:
    """Transposed convolution by ``factor`` initialised bilinear, cropped to ``size`` (h, w) if larger."""
    height, width, channels = x.shape[1:]
    if size[0] > height * factor or size[1] > width * factor:
        raise ValueError(f'{name}: cannot upsample {(height, width)} x{factor} to {size}')
    layer = keras.layers.Conv2DTranspose(
        channels,
        2 * factor - factor % 2,
        strides=factor,
        padding='same',
        use_bias=False,
        kernel_initializer=BilinearUpsampling(),
        name=name,
    )
    layer.trainable = trainable
    x = layer(x)
    if (height * factor, width * factor) != tuple(size):
        x = FixedCrop(*size, name=f'{name}_crop')(x)
    return x


def build_fcn(
    variant: str,
    num_classes: int,
    input_size: tuple[int, int],
    backbone: str = DEFAULT_BACKBONE,
    weights: str | None = None,
    feature_layers: dict[int, str] | None = None,
) -> keras.Model:
    """FCN ``variant`` ('fcn32s', 'fcn16s', 'fcn8s') on ``backbone`` (a name of ``backbones.BACKBONES``;
    skip features: its ``feature_layers`` unless given): pixels (N, h, w, 3) -> class logits (N, h, w, C)."""
    if variant not in VARIANTS:
        raise ValueError(f'variant must be one of {tuple(VARIANTS)}, got {variant!r}')
    model = build_backbone(input_size, backbone, weights)
    features = stride_features(model, feature_layers or get_backbone(backbone).feature_layers)
    score = keras.layers.Conv2D(num_classes, 1, name='score_32')(features[32])
    for stride in (16, 8):
        if stride < VARIANTS[variant]:
            break
        skip = keras.layers.Conv2D(num_classes, 1, kernel_initializer='zeros', name=f'score_{stride}')(
            features[stride]
        )
        up = upsample(score, 2, tuple(skip.shape[1:3]), name=f'upscore_to_{stride}')
        score = keras.layers.Add(name=f'fuse_{stride}')([up, skip])
    logits = upsample(score, VARIANTS[variant], input_size, name='upscore_final', trainable=False)
    return keras.Model(model.inputs[0], logits, name=variant)


def segmentation_loss_terms(
    ignore_index: int = IGNORE_INDEX,
) -> Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]:
    """(masks, logits) -> pixel-wise softmax cross-entropy summed over the pixels not labelled
    ``ignore_index``, and their count (the loss is the ratio)."""

    def terms(masks: tf.Tensor, logits: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        masks = tf.cast(masks, tf.int32)
        valid = masks != ignore_index
        labels = tf.where(valid, masks, tf.zeros_like(masks))
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, tf.cast(logits, tf.float32))
        valid = tf.cast(valid, tf.float32)
        return tf.reduce_sum(loss * valid), tf.reduce_sum(valid)

    return terms
