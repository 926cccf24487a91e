"""``selfsup pretrain``: end-to-end training on an npz export, then the extractor is exported with a card."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip('tensorflow')

from modelbuild_helpers import smooth_images

from selfsup_perception.core.modelcard import read_card, verify
from selfsup_perception.modelbuild import pretrain
from selfsup_perception.modelbuild.ops import check_edgetpu

pytestmark = pytest.mark.slow


def _npz(path: Path, frames: int = 40) -> Path:
    """Frames where a bright left or right half means an obstacle on that side; 60 % labels unknown."""
    rng = np.random.default_rng(0)
    images = smooth_images(frames, 64, 64) // 2
    side = rng.integers(0, 2, frames)
    images[side == 0, :, :32] += 120
    images[side == 1, :, 32:] += 120
    labels = np.zeros((frames, 3, 2), np.uint8)
    labels[np.arange(frames), :, side] = 1
    np.savez(
        path,
        images=images,
        labels=labels,
        mask=rng.random(labels.shape) < 0.4,
        stamps=np.arange(frames) * 0.1,
        distances=np.array([0.0, 0.05, 0.1]),
        sensors=np.array(['left', 'right']),
    )
    return path


def test_pretrain_exports_the_extractor(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    pretrain.add_arguments(parser)
    args = parser.parse_args(
        [
            str(_npz(tmp_path / 'a.npz')),
            '--out',
            str(tmp_path / 'models'),
            '--feature-layer',
            'block_13_expand_relu',
            '--epochs',
            '1',
            '--batch-size',
            '8',
            '--val-blocks',
            '2',
            '--guard',
            '0',
            '--calibration',
            '8',
            '--formats',
            'int8',
            'keras',
            '--hflip',
        ]
    )
    assert pretrain.run(args) == 0
    model = tmp_path / 'models' / 'embedding.tflite'
    card = verify(model)
    assert card == read_card(tmp_path / 'models' / 'embedding.keras')
    assert card.kind == 'embedding'
    assert card.input_size == (64, 64)
    assert card.embedding_size == 21 * 192  # block_13_expand_relu has 192 channels at alpha 0.35
    assert card.distances == (0.0, 0.05, 0.1)
    assert card.sensors == ('left', 'right')
    assert card.metrics['train_frames'] + card.metrics['val_frames'] == 40
    assert card.metrics['epochs'] == 1
    assert card.extra['architecture_params']['feature_layer'] == 'block_13_expand_relu'
    assert card.extra['tflite']['output']['shape'] == [1, card.embedding_size]
    assert check_edgetpu(model).ok
