"""The models in models/: intact, Edge TPU compilable, and consistent with each other and the config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from selfsup_perception.core.config import load_config
from selfsup_perception.core.head import Head
from selfsup_perception.core.modelcard import verify
from selfsup_perception.inference import create_backend
from selfsup_perception.modelbuild.ops import check_edgetpu

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / 'models'
INT8 = sorted(MODELS.glob('*.tflite'))


def test_the_shipped_models_are_there():
    assert {p.name for p in INT8} >= {'embedding.tflite', 'fcn8s.tflite'}
    assert (MODELS / 'head.npz').is_file()


@pytest.mark.parametrize('model', INT8, ids=lambda p: p.name)
def test_int8_models_map_onto_the_edge_tpu_and_match_their_cards(model):
    report = check_edgetpu(model)
    assert report.ok, report.problems()
    card = verify(model)
    assert card is not None
    for sibling in model.parent.glob(model.stem + '.onnx'):
        verify(sibling)


def test_head_fits_the_embedding_and_the_config():
    config = load_config(ROOT / 'config/robot.yaml')
    embedding = verify(MODELS / 'embedding.tflite')
    head = Head.load(MODELS / 'head.npz', embedder=embedding)
    assert head.distances == config.distances
    assert head.sensors == config.sensor_names
    backend = create_backend('tflite', MODELS / 'embedding.tflite')
    frame = np.full((1, *backend.input_shape[:2], 3), 128, np.uint8)
    probabilities = head.predict(backend.run(frame))
    assert probabilities.shape == (1, len(config.distances), len(config.sensors))
    assert np.all((probabilities >= 0) & (probabilities <= 1))


def test_segmentation_model_has_the_simulator_classes():
    card = verify(MODELS / 'fcn8s.tflite')
    assert list(card.classes) == ['floor', 'obstacle', 'wall']


@pytest.mark.parametrize('backbone', ['fcn8s_backbone.tflite', 'fcn8s_backbone.onnx', 'fcn8s_backbone_240x320.tflite'])
def test_the_split_fcn8s_computes_what_the_whole_one_does(backbone):
    """Backbone + shipped head pick the whole int8 FCN-8s's class on nearly every pixel, at both sizes."""
    from selfsup_perception.core.seghead import SegHead
    from selfsup_perception.inference.segmentation import SegmentationRunner

    model = create_backend('auto', MODELS / backbone)
    split = SegmentationRunner(model, head=SegHead.load(MODELS / 'fcn8s_head.npz', backbone=model.card))
    whole_name = 'fcn8s_240x320.tflite' if '240x320' in backbone else 'fcn8s.tflite'
    whole = SegmentationRunner(create_backend('tflite', MODELS / whole_name))
    rng = np.random.default_rng(0)
    images = [np.clip(rng.normal(120, 40, (120, 160, 3)), 0, 255).astype(np.uint8) for _ in range(3)]
    images.append(np.repeat(np.linspace(40, 220, 120)[:, None, None], 160, 1).repeat(3, 2).astype(np.uint8))
    agreement = np.mean([(split.mask(image) == whole.mask(image)).mean() for image in images])
    assert agreement > 0.95
