"""Exports: int8 TFLite maps onto the Edge TPU (ops, uint8 input, static shapes), float TFLite and ONNX
reproduce Keras, int8 approximately, and each card records the right sha256."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip('tensorflow')
pytest.importorskip('tf2onnx')

import keras
from modelbuild_helpers import smooth_images

from selfsup_perception.core.modelcard import ModelCard, file_sha256, read_card, verify
from selfsup_perception.modelbuild.backbone import recalibrate_batch_norm
from selfsup_perception.modelbuild.embedding import build_embedding_extractor
from selfsup_perception.modelbuild.export import (
    ExportError,
    convert_int8_tflite,
    export_model,
    run_onnx,
    run_tflite,
    tflite_io,
)
from selfsup_perception.modelbuild.fcn import build_fcn
from selfsup_perception.modelbuild.ops import check_edgetpu

pytestmark = pytest.mark.slow
EMBEDDING_SIZE = (128, 128)  # the default feature layer has stride 32: 4 x 4 cells for the 4 x 4 level
FCN_SIZE = (96, 128)
ALL_FORMATS = ('int8', 'float', 'onnx', 'keras')


def _build(kind: str) -> tuple[keras.Model, tuple[int, int]]:
    if kind == 'embedding':
        return build_embedding_extractor(EMBEDDING_SIZE), EMBEDDING_SIZE
    return build_fcn(kind, 3, FCN_SIZE), FCN_SIZE


@pytest.fixture(scope='module')
def exported(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[keras.Model, dict[str, Path], np.ndarray]]:
    """Every model kind exported once: all formats for embedding and fcn8s, int8 for fcn32s/16s."""
    keras.utils.set_random_seed(0)
    out = tmp_path_factory.mktemp('models')
    models = {}
    for kind in ('embedding', 'fcn32s', 'fcn16s', 'fcn8s'):
        model, size = _build(kind)
        images = smooth_images(12, *size, seed=1)
        recalibrate_batch_norm(model, images)  # realistic activation ranges for an untrained net
        card = ModelCard(
            kind='embedding' if kind == 'embedding' else 'segmentation',
            architecture=kind,
            input_size=size,
            metrics={'val_loss': 0.5},
        )
        formats = ALL_FORMATS if kind in ('embedding', 'fcn8s') else ('int8',)
        models[kind] = model, export_model(model, out, kind, card, images, formats), images
    return models


@pytest.mark.parametrize('kind', ['embedding', 'fcn32s', 'fcn16s', 'fcn8s'])
def test_int8_model_maps_onto_the_edge_tpu(exported: dict, kind: str) -> None:
    _, paths, images = exported[kind]
    report = check_edgetpu(paths['int8'])
    assert report.ok, report.problems()
    assert report.subgraphs == 1
    io = tflite_io(paths['int8'])
    assert io['input'] == {'dtype': 'uint8', 'shape': [1, *images.shape[1:]], 'scale': 1.0, 'zero_point': 0}
    assert io['output']['dtype'] == 'uint8'
    if kind != 'embedding':
        assert 'TRANSPOSE_CONV' in report.ops


@pytest.mark.parametrize('kind', ['embedding', 'fcn8s'])
def test_float_tflite_and_onnx_reproduce_keras(exported: dict, kind: str) -> None:
    model, paths, images = exported[kind]
    reference = model.predict(images[:3].astype(np.float32), verbose=0)
    tolerance = 1e-4 * np.ptp(reference)
    np.testing.assert_allclose(run_tflite(paths['float'], images[:3]), reference, atol=tolerance)
    np.testing.assert_allclose(run_onnx(paths['onnx'], images[:3]), reference, atol=tolerance)


@pytest.mark.parametrize('kind', ['embedding', 'fcn32s', 'fcn16s', 'fcn8s'])
def test_int8_tflite_follows_keras(exported: dict, kind: str) -> None:
    # Untrained random weights are chaotic: int8 rounding grows through 17 blocks, so only a loose bound
    # holds here (it still catches a wrong input or output quantisation: correlation ~0).
    model, paths, images = exported[kind]
    reference = model.predict(images[-3:].astype(np.float32), verbose=0)
    quantised = run_tflite(paths['int8'], images[-3:])
    assert np.corrcoef(reference.ravel(), quantised.ravel())[0, 1] > 0.5


def test_int8_tflite_approximates_a_shallow_extractor(tmp_path: Path) -> None:
    keras.utils.set_random_seed(0)
    model = build_embedding_extractor((64, 64), feature_layer='block_3_project_BN')
    images = smooth_images(8, 64, 64, seed=2)
    recalibrate_batch_norm(model, images)
    path = tmp_path / 'shallow.tflite'
    path.write_bytes(convert_int8_tflite(model, images))
    reference = model.predict(images[:3].astype(np.float32), verbose=0)
    quantised = run_tflite(path, images[:3])
    assert np.corrcoef(reference.ravel(), quantised.ravel())[0, 1] > 0.98
    assert np.abs(quantised - reference).mean() < 0.2 * reference.std()  # a few output quantisation steps


@pytest.mark.parametrize('kind', ['embedding', 'fcn8s'])
def test_cards_hold_the_sha256_of_each_file(exported: dict, kind: str) -> None:
    _, paths, images = exported[kind]
    card = read_card(paths['int8'])
    assert card.sha256 == {
        'tflite': file_sha256(paths['int8']),
        'onnx': file_sha256(paths['onnx']),
        'keras': file_sha256(paths['keras']),
    }
    assert card.input_size == images.shape[1:3]
    assert card.metrics == {'val_loss': 0.5}
    assert card.extra['tflite']['input']['scale'] == 1.0
    assert card.made_by['versions']['tensorflow']
    for fmt in ('int8', 'onnx', 'keras', 'float'):
        verify(paths[fmt])
    assert read_card(paths['float']).sha256 == {'tflite': file_sha256(paths['float'])}
    assert paths['int8'].with_suffix('.json').exists()
    assert paths['float'].with_suffix('.json').exists()
    assert not list(paths['int8'].parent.glob('*.tmp'))


def test_export_refuses_calibration_images_of_another_size(tmp_path: Path) -> None:
    model = build_fcn('fcn32s', 2, (64, 64))
    card = ModelCard(kind='segmentation', architecture='fcn32s')
    with pytest.raises(ExportError, match='calibration images'):
        export_model(model, tmp_path, 'x', card, smooth_images(2, 32, 32), ('int8',))
    assert not list(tmp_path.iterdir())
