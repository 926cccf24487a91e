"""Embedding extractor (MobileNetV2 + spatial pyramid max pooling) and its end-to-end pretraining model.

Pyramid pooling keeps a fixed embedding length whatever the camera resolution (the length depends on
the channels only) and keeps where in the image a feature was, which the left/right sensors need. The
pooling is static MaxPool2D with sizes and strides computed from the feature map, so the graph has
static shapes and maps onto the Edge TPU.
"""

from __future__ import annotations

import keras
import numpy as np

from selfsup_perception.modelbuild.backbone import build_backbone, feature_map

SPP_LEVELS = (1, 2, 4)
DEFAULT_FEATURE_LAYER = 'block_16_project_BN'
UNKNOWN_LABEL = -1.0


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
        pooled.append(keras.layers.Flatten(name=f'spp_{bins}x{bins}_flat')(x))
    if len(pooled) == 1:
        return pooled[0]
    return keras.layers.Concatenate(name='spp')(pooled)


def embedding_length(channels: int, levels: tuple[int, ...] = SPP_LEVELS) -> int:
    """Length of the embedding for a feature map with ``channels`` channels."""
    return channels * sum(n * n for n in levels)


def build_embedding_extractor(
    input_size: tuple[int, int],
    alpha: float = 0.35,
    feature_layer: str = DEFAULT_FEATURE_LAYER,
    levels: tuple[int, ...] = SPP_LEVELS,
    weights: str | None = None,
) -> keras.Model:
    """Pixels (N, h, w, 3) -> embedding (N, L), L = channels of ``feature_layer`` x sum(n^2 for levels)."""
    backbone = build_backbone(input_size, alpha, weights)
    embedding = spatial_pyramid_pool(feature_map(backbone, feature_layer), tuple(levels))
    return keras.Model(backbone.inputs[0], embedding, name='embedding_extractor')


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


@keras.saving.register_keras_serializable(package='selfsup_perception')
class MaskedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy averaged over the known labels only; unknown labels are ``UNKNOWN_LABEL`` (-1).

    Every known label of the batch weighs the same (a frame with few known labels does not count more
    per label); a batch without any known label has loss 0.
    """

    def __init__(self, name: str = 'masked_binary_crossentropy', **kwargs: object) -> None:
        super().__init__(name=name, **kwargs)

    def call(self, y_true: keras.KerasTensor, y_pred: keras.KerasTensor) -> keras.KerasTensor:
        y_true = keras.ops.cast(y_true, y_pred.dtype)
        known = keras.ops.cast(keras.ops.greater_equal(y_true, 0.0), y_pred.dtype)
        eps = keras.config.epsilon()
        p = keras.ops.clip(y_pred, eps, 1.0 - eps)
        bce = -(y_true * keras.ops.log(p) + (1.0 - y_true) * keras.ops.log(1.0 - p))
        return keras.ops.divide_no_nan(keras.ops.sum(bce * known), keras.ops.sum(known))


def masked_targets(labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Targets for ``MaskedBinaryCrossentropy``: labels (0/1) where known, ``UNKNOWN_LABEL`` elsewhere."""
    return np.where(np.asarray(mask, bool), np.asarray(labels, np.float32), np.float32(UNKNOWN_LABEL))
