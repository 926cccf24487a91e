"""``selfsup pretrain``: end-to-end training on an npz export or dataset files, then the extractor is
exported with a card; the typed entry point returns the results as values."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip('tensorflow')

from modelbuild_helpers import labelled_dataset, labelled_frames

from selfsup_perception.cli import pretrain as pretrain_cli
from selfsup_perception.core.modelcard import read_card, verify
from selfsup_perception.modelbuild import pretrain
from selfsup_perception.modelbuild.augment import Augmentation
from selfsup_perception.modelbuild.ops import check_edgetpu
from selfsup_perception.modelbuild.training import ExportOptions, TrainingOptions

pytestmark = pytest.mark.slow


def _npz(path: Path, frames: int = 40) -> Path:
    images, labels, mask = labelled_frames(frames)
    np.savez(
        path,
        images=images,
        labels=labels,
        mask=mask,
        stamps=np.arange(frames) * 0.1,
        distances=np.array([0.0, 0.05, 0.1]),
        sensors=np.array(['left', 'right']),
    )
    return path


def test_pretrain_exports_the_extractor(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    pretrain_cli.add_arguments(parser)
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
    assert pretrain_cli.run(args) == 0
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


def test_typed_pretraining_on_dataset_files_returns_values(tmp_path: Path) -> None:
    datasets = (labelled_dataset(tmp_path / 'a.db', 30, seed=1), labelled_dataset(tmp_path / 'b.db', 30, seed=2))
    options = pretrain.PretrainOptions(
        datasets=datasets,
        export=ExportOptions(tmp_path / 'models', calibration=4, formats=('keras',)),
        input_size=(48, 48),
        feature_layer='block_6_expand_relu',
        levels=(1, 2),
        training=TrainingOptions(epochs=2, batch_size=8, val_blocks=2, guard=0.0, shuffle_buffer=16,
                                 augmentation=Augmentation(flip=True)),
    )
    result = pretrain.pretrain_embedding(options)
    assert set(result.paths) == {'keras'}
    assert result.card is not None
    assert read_card(result.paths['keras']).metrics == result.metrics
    assert result.metrics['train_frames'] + result.metrics['val_frames'] == 60
    assert result.history.epochs == result.metrics['epochs'] <= 2
    assert len(result.history.loss) == len(result.history.val_loss) == result.history.epochs
    assert result.model.output_shape == (None, result.card.embedding_size)
    assert result.card.extra['pretraining']['augmentation']['flip'] is True
    assert result.card.input_size == (48, 48)


def test_pretrain_on_another_backbone_pools_its_embedding_layer(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    pretrain_cli.add_arguments(parser)
    args = parser.parse_args([str(_npz(tmp_path / 'a.npz', 24)), '--out', str(tmp_path / 'models'),
                              '--backbone', 'efficientnet_lite0', '--levels', '1', '2', '--epochs', '1',
                              '--batch-size', '8', '--val-blocks', '2', '--guard', '0', '--calibration', '4',
                              '--formats', 'keras'])
    assert pretrain_cli.run(args) == 0
    card = read_card(tmp_path / 'models' / 'embedding.keras')
    assert card.architecture == 'efficientnet_lite0_spp'
    assert card.extra['architecture_params']['backbone'] == 'efficientnet_lite0'
    assert card.extra['architecture_params']['feature_layer'] == 'block7a_project_bn'
    assert card.embedding_size == 320 * (1 + 4)  # the last block's 320 channels, levels 1 and 2
