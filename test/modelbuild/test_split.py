"""Splitting a trained FCN: backbone (exported, int8) + numpy head compute what the whole FCN computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip('tensorflow')

from modelbuild_helpers import smooth_images

from selfsup_perception.core.modelcard import verify
from selfsup_perception.core.resources import sim_classes
from selfsup_perception.core.seghead import SegHead, split_features
from selfsup_perception.modelbuild.backbones import DEFAULT_BACKBONE
from selfsup_perception.modelbuild.export import run_onnx, run_tflite
from selfsup_perception.modelbuild.fcn import build_fcn
from selfsup_perception.modelbuild.ops import check_edgetpu
from selfsup_perception.modelbuild.segtrain import SegmentationOptions, train_segmentation
from selfsup_perception.modelbuild.split import SplitOptions, split_fcn, split_model
from selfsup_perception.modelbuild.training import ExportOptions, TrainingOptions

pytestmark = pytest.mark.slow
CLASSES = ('floor', 'obstacle', 'wall')


@pytest.mark.parametrize(('variant', 'backbone'), [('fcn8s', DEFAULT_BACKBONE), ('fcn16s', DEFAULT_BACKBONE),
                                                 ('fcn32s', DEFAULT_BACKBONE), ('fcn8s', 'efficientnet_lite0'),
                                                 ('fcn8s', 'shufflenet_v2_0.5'),
                                                 ('fcn8s', 'mobilenet_v3_small_minimalistic')])
def test_backbone_and_numpy_head_equal_the_whole_fcn(variant: str, backbone: str) -> None:
    fcn = build_fcn(variant, 3, (64, 96), backbone)
    rng = np.random.default_rng(0)
    for layer in fcn.layers:  # skip scores start at zero: make every head weight matter
        if layer.name.startswith(('score_', 'upscore_to_')):
            layer.set_weights([rng.normal(scale=0.3, size=w.shape).astype(np.float32) for w in layer.get_weights()])
    features, head, shapes = split_model(fcn, variant, CLASSES, backbone)
    images = smooth_images(3, 64, 96).astype(np.float32)
    whole = fcn.predict(images, verbose=0)
    ours = head.logits(split_features(features.predict(images, verbose=0), shapes), (64, 96))
    np.testing.assert_allclose(ours, whole, rtol=1e-3, atol=1e-3 * float(np.abs(whole).max()))


def test_split_exports_an_edgetpu_backbone_and_a_head_that_loads_against_it(tmp_path: Path) -> None:
    images = smooth_images(12, 64, 64)
    segmentation = np.zeros((12, 64, 64), np.uint8)
    segmentation[:, :24] = 2
    segmentation[:, 40:56, 20:36] = 1
    data = tmp_path / 'seg.npz'
    np.savez(data, images=images, segmentation=segmentation, stamps=np.arange(12.0))
    out = tmp_path / 'models'
    train_segmentation(SegmentationOptions(
        sources=(data,), classes=sim_classes(), input_size=(64, 64),
        export=ExportOptions(out, calibration=4, formats=('keras',)),
        training=TrainingOptions(epochs=1, batch_size=4, val_blocks=2, guard=0.0)))
    result = split_fcn(SplitOptions(out / 'fcn8s.keras', data, ExportOptions(out, calibration=4,
                                                                             formats=('int8', 'onnx'))))
    backbone = result.paths['int8']
    assert check_edgetpu(backbone).ok
    card = verify(backbone)
    assert card.kind == 'seg_backbone'
    assert card.extra['feature_shapes'] == {'8': [8, 8, 96], '16': [4, 4, 192], '32': [2, 2, 1280]}
    head = SegHead.load(result.head_path, backbone=card)
    assert card.metrics['split_agreement']['int8'] > 0.9
    shapes = {int(s): tuple(v) for s, v in card.extra['feature_shapes'].items()}
    onnx = head.logits(split_features(run_onnx(result.paths['onnx'], images[:2]), shapes), (64, 64))
    int8 = head.logits(split_features(run_tflite(backbone, images[:2]), shapes), (64, 64))
    assert (onnx.argmax(-1) == int8.argmax(-1)).mean() > 0.9


def test_train_seg_and_split_seg_carry_a_non_default_backbone_through_the_cards(tmp_path: Path) -> None:
    images = smooth_images(8, 64, 64)
    segmentation = np.zeros((8, 64, 64), np.uint8)
    segmentation[:, :24] = 2
    data = tmp_path / 'seg.npz'
    np.savez(data, images=images, segmentation=segmentation, stamps=np.arange(8.0))
    out = tmp_path / 'models'
    trained = train_segmentation(SegmentationOptions(
        sources=(data,), classes=sim_classes(), input_size=(64, 64),
        export=ExportOptions(out, calibration=4, formats=('keras',)),
        training=TrainingOptions(backbone='shufflenet_v2_0.5', epochs=1, batch_size=4, val_blocks=2, guard=0.0)))
    assert trained.card is not None
    assert trained.card.architecture == 'fcn8s_shufflenet_v2_0.5'
    assert trained.card.extra['architecture_params']['backbone'] == 'shufflenet_v2_0.5'
    assert 'alpha' not in trained.card.extra['architecture_params']
    result = split_fcn(SplitOptions(out / 'fcn8s.keras', data, ExportOptions(out, calibration=4, formats=('int8',))))
    assert result.card.architecture == 'fcn8s_shufflenet_v2_0.5_backbone'
    assert result.card.extra['feature_shapes'] == {'8': [8, 8, 48], '16': [4, 4, 96], '32': [2, 2, 1024]}
    assert check_edgetpu(result.paths['int8']).ok
