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
