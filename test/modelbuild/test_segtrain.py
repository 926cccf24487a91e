"""``selfsup train-seg`` / ``export-seg``: train an FCN on an npz, export it, re-export at another size."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip('tensorflow')

from modelbuild_helpers import smooth_images

from selfsup_perception.cli import export_seg, train_seg
from selfsup_perception.core.modelcard import verify
from selfsup_perception.core.segmentation import confusion_matrix
from selfsup_perception.modelbuild import segtrain
from selfsup_perception.modelbuild.export import tflite_io
from selfsup_perception.modelbuild.ops import check_edgetpu

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _parse(add: object, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add(parser)
    return parser.parse_args(argv)


def test_segmentation_metrics_ignore_unlabelled_pixels() -> None:
    truth = np.array([[0, 1, 255], [2, 2, 1]])
    predicted = np.array([[0, 1, 2], [2, 1, 1]])
    metrics = segtrain.segmentation_metrics(confusion_matrix(truth, predicted, 3, 255))
    assert metrics['pixel_accuracy'] == pytest.approx(4 / 5)
    assert metrics['iou'] == pytest.approx([1.0, 2 / 3, 1 / 2])
    assert metrics['mean_iou'] == pytest.approx((1 + 2 / 3 + 1 / 2) / 3)


def test_train_then_export_at_another_size(tmp_path: Path) -> None:
    images = smooth_images(20, 64, 64)
    segmentation = np.zeros((20, 64, 64), np.uint8)
    segmentation[:, :24] = 2  # wall above, floor below, an obstacle blob
    segmentation[:, 40:56, 20:36] = 1
    segmentation[:, :, :2] = 255
    images[segmentation == 1] = (200, 40, 40)
    data = tmp_path / 'seg.npz'
    np.savez(data, images=images, segmentation=segmentation, stamps=np.arange(20.0))
    out = tmp_path / 'models'
    args = _parse(
        train_seg.add_arguments,
        [
            str(data),
            '--classes',
            str(ROOT / 'config' / 'classes_sim.yaml'),
            '--input-size',
            '64',
            '64',
            '--out',
            str(out),
            '--epochs',
            '1',
            '--batch-size',
            '4',
            '--val-blocks',
            '2',
            '--guard',
            '0',
            '--calibration',
            '4',
            '--formats',
            'int8',
            'keras',
        ],
    )
    assert train_seg.run(args) == 0
    card = verify(out / 'fcn8s.tflite')
    assert card.kind == 'segmentation'
    assert card.classes == ('floor', 'obstacle', 'wall')
    assert card.extra['traversable'] == [True, False, False]
    assert 0 <= card.metrics['pixel_accuracy'] <= 1
    assert tflite_io(out / 'fcn8s.tflite')['output']['shape'] == [1, 64, 64, 3]

    args = _parse(
        export_seg.add_arguments,
        [
            str(out / 'fcn8s.keras'),
            '--calibration-data',
            str(data),
            '--input-size',
            '96',
            '128',
            '--out',
            str(out),
            '--calibration',
            '4',
            '--formats',
            'int8',
            '--output-type',
            'int8',
        ],
    )
    assert export_seg.run(args) == 0
    exported = out / 'fcn8s_96x128.tflite'
    io = tflite_io(exported)
    assert io['output']['shape'] == [1, 96, 128, 3]
    assert io['output']['dtype'] == 'int8'
    assert check_edgetpu(exported).ok
    card = verify(exported)
    assert card.input_size == (96, 128)
    assert card.metrics['measured_at_input_size'] == [64, 64]
