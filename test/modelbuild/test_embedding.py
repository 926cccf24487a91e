"""Embedding extractor: fixed length by pyramid pooling, pretraining head, masked BCE."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip('tensorflow')

import keras
from modelbuild_helpers import smooth_images

from selfsup_perception.modelbuild.embedding import (
    build_embedding_extractor,
    build_pretrain_model,
    embedding_extractor,
    embedding_length,
    masked_bce_terms,
    pool_geometry,
)
from selfsup_perception.modelbuild.sources import UNKNOWN_LABEL, masked_targets

STRIDE16 = 'block_13_expand_relu'


@pytest.mark.parametrize('size', [1, 2, 3, 4, 5, 7, 8, 11, 15, 30])
@pytest.mark.parametrize('bins', [1, 2, 4])
def test_pool_geometry_tiles_the_axis_into_bins(size: int, bins: int) -> None:
    if size < bins:
        with pytest.raises(ValueError, match='cannot be pooled'):
            pool_geometry(size, bins)
        return
    window, stride = pool_geometry(size, bins)
    assert (size - window) // stride + 1 == bins  # valid pooling gives exactly `bins` windows
    assert (bins - 1) * stride + window == size  # ... that reach the last cell
    assert window >= stride  # no cell skipped


def test_embedding_length_is_the_same_at_two_input_sizes() -> None:
    small = build_embedding_extractor((64, 64), feature_layer=STRIDE16)
    large = build_embedding_extractor((96, 128), feature_layer=STRIDE16)
    channels = small.get_layer(STRIDE16).output.shape[-1]
    assert small.output_shape == large.output_shape == (None, embedding_length(channels))
    assert large.predict(smooth_images(2, 96, 128).astype(np.float32), verbose=0).shape == (2, 21 * channels)


def test_pyramid_keeps_left_and_right_apart() -> None:
    extractor = build_embedding_extractor((64, 64), feature_layer=STRIDE16, levels=(2,))
    features = keras.Model(extractor.input, extractor.get_layer(STRIDE16).output)
    x = np.zeros((1, 64, 64, 3), np.float32)
    x[:, :, :24] = 255.0  # bright left part
    pooled = extractor.predict(x, verbose=0).reshape(2, 2, -1)  # (row, column, channel)
    grid = features.predict(x, verbose=0)[0]
    np.testing.assert_allclose(pooled[0, 0], grid[:2, :2].max((0, 1)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pooled[1, 1], grid[2:, 2:].max((0, 1)), rtol=1e-5, atol=1e-6)


def test_pretrain_model_outputs_one_probability_per_distance_and_sensor() -> None:
    extractor = build_embedding_extractor((64, 64), feature_layer=STRIDE16)
    model = build_pretrain_model(extractor, num_distances=21, num_sensors=5, hidden=8, dropout=0.1)
    p = model.predict(smooth_images(3, 64, 64).astype(np.float32), verbose=0)
    assert p.shape == (3, 21, 5)
    assert ((p > 0) & (p < 1)).all()


def test_the_extractor_comes_back_out_of_the_pretrain_model() -> None:
    for levels in ((1, 2), (2,)):
        extractor = build_embedding_extractor((64, 64), feature_layer=STRIDE16, levels=levels)
        model = build_pretrain_model(extractor, num_distances=3, num_sensors=2)
        again = embedding_extractor(model)
        x = smooth_images(2, 64, 64).astype(np.float32)
        np.testing.assert_array_equal(again.predict(x, verbose=0), extractor.predict(x, verbose=0))


def test_masked_bce_counts_known_labels_only() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, (4, 3, 2)).astype(np.uint8)
    mask = rng.random((4, 3, 2)) < 0.5
    y = masked_targets(labels, mask)
    assert (y[~mask] == UNKNOWN_LABEL).all()
    p = rng.uniform(0.05, 0.95, (4, 3, 2)).astype(np.float32)

    def loss(targets: np.ndarray, probabilities: np.ndarray) -> tuple[float, float]:
        total, count = masked_bce_terms(targets, probabilities)
        return float(total), float(count)

    expected = -np.sum(np.where(labels, np.log(p), np.log(1 - p))[mask])
    total, count = loss(y, p)
    assert count == mask.sum()
    assert total == pytest.approx(expected, rel=1e-5)
    scrambled = np.where(mask, p, rng.uniform(0.01, 0.99, p.shape)).astype(np.float32)
    assert loss(y, scrambled)[0] == pytest.approx(expected, rel=1e-5)  # unknown entries do not count
    assert loss(np.full_like(y, UNKNOWN_LABEL), p) == (0.0, 0.0)  # nothing known: nothing to count
