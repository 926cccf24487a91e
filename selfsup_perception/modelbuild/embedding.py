"""Embedding extractor (a backbone, default MobileNetV2, + spatial pyramid max pooling) and its end-to-end
pretraining model.

Pyramid pooling keeps a fixed embedding length whatever the camera resolution (the length depends on
the channels only) and keeps where in the image a feature was, which the left/right sensors need. The
pooling is static MaxPool2D with sizes and strides computed from the feature map, so the graph has
static shapes and maps onto the Edge TPU.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from selfsup_perception.modelbuild.backbone import build_backbone, feature_map
from selfsup_perception.modelbuild.backbones import DEFAULT_BACKBONE, get_backbone

SPP_LEVELS = (1, 2, 4)
DEFAULT_FEATURE_LAYER = get_backbone(DEFAULT_BACKBONE).embedding_layer  # 'block_16_project_BN'
EMBEDDING_LAYER = 'spp'


def pool_geometry(size: int, bins: int) -> tuple[int, int]:
    """Window and stride that cut ``size`` cells into exactly ``bins`` windows covering all of them.

    stride = size // bins, window = size - (bins - 1) * stride: the windows tile the axis from the
    first cell to the last, neighbours overlap by fewer than ``bins`` cells.
    """
    if size < bins:
        raise ValueError(
            f'a feature map of {size} cells cannot be pooled into {bins} bins: use a larger input'
        )
    stride = size // bins
    return size - (bins - 1) * stride, stride


def spatial_pyramid_pool(
    features: keras.KerasTensor, levels: tuple[int, ...] = SPP_LEVELS
) -> keras.KerasTensor:
    """Max-pool ``features`` (N, h, w, c) into n x n bins per level, flattened and concatenated."""
    _, height, width, _ = features.shape
    pooled = []
    for bins in levels:
        (kh, sh), (kw, sw) = pool_geometry(height, bins), pool_geometry(width, bins)
        x = keras.layers.MaxPool2D((kh, kw), (sh, sw), padding='valid', name=f'spp_{bins}x{bins}')(features)
        flat = EMBEDDING_LAYER if len(levels) == 1 else f'spp_{bins}x{bins}_flat'
        pooled.append(keras.layers.Flatten(name=flat)(x))
    if len(pooled) == 1:
        return pooled[0]
    return keras.layers.Concatenate(name=EMBEDDING_LAYER)(pooled)


def embedding_length(channels: int, levels: tuple[int, ...] = SPP_LEVELS) -> int:
    """Length of the embedding for a feature map with ``channels`` channels."""
    return channels * sum(n * n for n in levels)


def build_embedding_extractor(
    input_size: tuple[int, int],
    backbone: str = DEFAULT_BACKBONE,
    feature_layer: str | None = None,
    levels: tuple[int, ...] = SPP_LEVELS,
    weights: str | None = None,
) -> keras.Model:
    """Pixels (N, h, w, 3) -> embedding (N, L), L = channels of ``feature_layer`` x sum(n^2 for levels);
    ``feature_layer`` defaults to the backbone's ``embedding_layer`` (``backbones.BACKBONES``)."""
    model = build_backbone(input_size, backbone, weights)
    layer = feature_layer or get_backbone(backbone).embedding_layer
    embedding = spatial_pyramid_pool(feature_map(model, layer), tuple(levels))
    return keras.Model(model.inputs[0], embedding, name='embedding_extractor')


def build_pretrain_model(
    extractor: keras.Model, num_distances: int, num_sensors: int, hidden: int = 0, dropout: float = 0.0
) -> keras.Model:
    """Extractor + small dense head with one sigmoid per (distance, sensor): output (N, K, S)."""
    x = extractor.output
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name='head_dropout')(x)
    if hidden > 0:
        x = keras.layers.Dense(hidden, activation='relu', name='head_hidden')(x)
    x = keras.layers.Dense(num_distances * num_sensors, activation='sigmoid', name='head_logistic')(x)
    probabilities = keras.layers.Reshape((num_distances, num_sensors), name='obstacle_probabilities')(x)
    return keras.Model(extractor.input, probabilities, name='embedding_pretrain')


def masked_bce_terms(targets: tf.Tensor, probabilities: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Binary cross-entropy summed over the known labels (targets >= 0; ``UNKNOWN_LABEL`` is -1) and
    their count: the loss is their ratio, so every known label weighs the same (a frame with few
    known labels does not count more per label)."""
    targets = tf.cast(targets, tf.float32)
    known = tf.cast(targets >= 0.0, tf.float32)
    eps = keras.config.epsilon()
    p = tf.clip_by_value(tf.cast(probabilities, tf.float32), eps, 1.0 - eps)
    bce = -(targets * tf.math.log(p) + (1.0 - targets) * tf.math.log(1.0 - p))
    return tf.reduce_sum(bce * known), tf.reduce_sum(known)


def embedding_extractor(model: keras.Model) -> keras.Model:
    """The extractor inside a pretraining model (``build_pretrain_model``): pixels -> embedding."""
    return keras.Model(model.inputs[0], model.get_layer(EMBEDDING_LAYER).output, name='embedding_extractor')
