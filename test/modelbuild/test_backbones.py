"""The backbone table: every backbone gives stride-8/16/32 features and the embedding's layer, the FCN-8s
builds on each, the default's graph is the one the shipped models were made with, int8 exports of
non-default backbones map onto the Edge TPU, and cards name the backbone (older ones by alpha)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip('tensorflow')

import hashlib
import json

import keras
from modelbuild_helpers import smooth_images

from selfsup_perception.modelbuild.backbone import (
    FEATURE_LAYERS,
    build_backbone,
    recalibrate_batch_norm,
    stride_features,
)
from selfsup_perception.modelbuild.backbones import (
    BACKBONE_NAMES,
    DEFAULT_BACKBONE,
    ChannelShuffle,
    backbone_of,
    card_params,
    get_backbone,
)
from selfsup_perception.modelbuild.embedding import DEFAULT_FEATURE_LAYER, build_embedding_extractor
from selfsup_perception.modelbuild.export import convert_int8_tflite
from selfsup_perception.modelbuild.fcn import build_fcn
from selfsup_perception.modelbuild.ops import check_edgetpu

SIZE = (64, 64)


@pytest.mark.parametrize('name', BACKBONE_NAMES)
def test_every_backbone_gives_stride_8_16_32_features_and_an_embedding_layer(name: str) -> None:
    spec = get_backbone(name)
    model = build_backbone(SIZE, name)
    assert model.get_layer('pixels_to_unit') is not None  # raw pixels in, like the default
    features = stride_features(model, spec.feature_layers)
    assert sorted(features) == [8, 16, 32]
    for stride, tensor in features.items():
        assert tuple(tensor.shape[1:3]) == (SIZE[0] // stride, SIZE[1] // stride), (stride, spec.feature_layers)
    assert tuple(model.get_layer(spec.embedding_layer).output.shape[1:3]) == (2, 2)  # stride 32


@pytest.mark.parametrize('name', BACKBONE_NAMES)
def test_fcn8s_builds_and_runs_on_every_backbone(name: str) -> None:
    model = build_fcn('fcn8s', 3, SIZE, name)
    logits = model.predict(smooth_images(1, *SIZE).astype(np.float32), verbose=0)
    assert logits.shape == (1, *SIZE, 3)
    assert np.isfinite(logits).all()


def _fingerprint(model: keras.Model) -> dict[str, object]:
    names = '\n'.join(layer.name for layer in model.layers)
    shapes = json.dumps([list(w.shape) for w in model.weights])
    return {
        'layers': len(model.layers),
        'names_sha256': hashlib.sha256(names.encode()).hexdigest(),
        'weights': len(model.weights),
        'shapes_sha256': hashlib.sha256(shapes.encode()).hexdigest(),
        'params': int(model.count_params()),
    }


def test_the_default_backbone_builds_the_graph_of_the_shipped_models() -> None:
    # Recorded from build_fcn / build_embedding_extractor before the backbone option existed.
    assert _fingerprint(build_fcn('fcn8s', 3, SIZE)) == {
        'layers': 163,
        'names_sha256': 'a2c5f98969542ae2467bc4ccc9ebdbebac308731c2effa65a747ff24700c53d4',
        'weights': 269,
        'shapes_sha256': '791db255abdcbedeaf9ce2d46d7fb1586f2418503dafcb1f441dac4779fe1f21',
        'params': 417513,
    }
    assert _fingerprint(build_embedding_extractor((128, 128))) == {
        'layers': 159,
        'names_sha256': 'b58ee9a157e5990f2a1ce844b79e0ac1b286ace2d0c2043f2895affdbc24f53f',
        'weights': 255,
        'shapes_sha256': '566fbc8104882d5ea9fd504176c719fb39122f5fe5dfccb3eaa619961147eb44',
        'params': 261728,
    }
    spec = get_backbone(DEFAULT_BACKBONE)
    assert (spec.feature_layers, spec.embedding_layer) == (FEATURE_LAYERS, DEFAULT_FEATURE_LAYER)
    assert DEFAULT_FEATURE_LAYER == 'block_16_project_BN'


def test_channel_shuffle_interleaves_the_two_halves() -> None:
    x = np.arange(8, dtype=np.float32).reshape(1, 1, 1, 8)  # halves (0 1 2 3) and (4 5 6 7)
    shuffled = keras.ops.convert_to_numpy(ChannelShuffle()(x))
    np.testing.assert_array_equal(shuffled.ravel(), [0, 4, 1, 5, 2, 6, 3, 7])


def test_a_shufflenet_fcn_saves_and_loads(tmp_path: Path) -> None:
    model = build_fcn('fcn8s', 2, (32, 32), 'shufflenet_v2_0.5')
    model.save(tmp_path / 'm.keras')
    loaded = keras.saving.load_model(tmp_path / 'm.keras')
    image = smooth_images(1, 32, 32).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(image, verbose=0), model.predict(image, verbose=0), atol=1e-5)


def test_cards_name_the_backbone_and_old_cards_give_mobilenet_v2_by_alpha() -> None:
    assert card_params(DEFAULT_BACKBONE) == {'backbone': 'mobilenet_v2_0.35', 'alpha': 0.35}
    assert card_params('efficientnet_lite0') == {'backbone': 'efficientnet_lite0'}
    assert backbone_of({'alpha': 0.35, 'variant': 'fcn8s'}) == DEFAULT_BACKBONE
    assert backbone_of({'alpha': 1.0}) == 'mobilenet_v2_1.0'
    assert backbone_of({'backbone': 'shufflenet_v2_1.0', 'alpha': 0.35}) == 'shufflenet_v2_1.0'
    assert get_backbone('mobilenet_v2_0.75').feature_layers == FEATURE_LAYERS  # widths outside the table
    with pytest.raises(ValueError, match='unknown backbone'):
        get_backbone('resnet50')
    with pytest.raises(ValueError, match='weights'):
        build_backbone(SIZE, 'efficientnet_lite0', 'imagenet')  # no ImageNet weights for the ones built here


@pytest.mark.slow
@pytest.mark.parametrize('name', ['mobilenet_v3_small_minimalistic', 'efficientnet_lite0', 'shufflenet_v2_0.5'])
def test_int8_fcn8s_of_a_non_default_backbone_maps_onto_the_edge_tpu(name: str, tmp_path: Path) -> None:
    model = build_fcn('fcn8s', 3, SIZE, name)
    images = smooth_images(8, *SIZE, seed=1)
    recalibrate_batch_norm(model, images)
    path = tmp_path / f'{name}.tflite'
    path.write_bytes(convert_int8_tflite(model, images))
    report = check_edgetpu(path)
    assert report.ok, report.problems()
    if name.startswith('shufflenet'):
        assert {'SPLIT', 'TRANSPOSE', 'RESHAPE'} <= set(report.ops)  # the split and shuffle, all mapped


def test_the_backbone_option_on_the_command_line() -> None:
    import argparse

    from selfsup_perception.cli.model_options import add_training_arguments, training_options

    parser = argparse.ArgumentParser()
    add_training_arguments(parser, epochs=1, batch_size=2)
    assert training_options(parser.parse_args([]), flip=False).backbone == DEFAULT_BACKBONE
    args = parser.parse_args(['--backbone', 'efficientnet_lite0'])
    assert training_options(args, flip=False).backbone == 'efficientnet_lite0'
    with pytest.raises(SystemExit):
        parser.parse_args(['--backbone', 'resnet50'])
