"""Model cards: paths, round trip, sha256 verification and clear errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from selfsup_perception.core.modelcard import (
    ModelCard,
    ModelCardError,
    ModelLoadError,
    Normalisation,
    card_path,
    model_base,
    model_format,
    read_card,
    verify,
    with_sha256,
    write_card,
)

DATA = Path(__file__).resolve().parents[1] / 'data'


def test_all_formats_of_a_model_share_one_card(tmp_path: Path) -> None:
    for name, fmt in (('m.v2.tflite', 'tflite'), ('m.v2.onnx', 'onnx'), ('m.v2_edgetpu.tflite', 'edgetpu')):
        assert model_format(tmp_path / name) == fmt
        assert model_base(tmp_path / name) == tmp_path / 'm.v2'
        assert card_path(tmp_path / name) == tmp_path / 'm.v2.json'


def test_round_trip_keeps_unknown_keys(tmp_path: Path) -> None:
    model = tmp_path / 'seg.onnx'
    model.write_bytes(b'model bytes')
    card = ModelCard(
        kind='segmentation',
        architecture='fcn8s-mobilenetv2',
        input_size=(96, 128),
        normalisation=Normalisation(),
        classes=('floor', 'obstacle', 'wall'),
        made_by={'command': 'selfsup train-seg'},
        metrics={'miou': 0.8},
        extra={'future_key': [1, 2]},
    )
    write_card(model, with_sha256(card, model))
    loaded = read_card(model)
    assert loaded.classes == card.classes
    assert loaded.input_size == (96, 128)
    assert loaded.extra == {'future_key': [1, 2]}
    assert loaded.sha256 == {'onnx': hashlib.sha256(b'model bytes').hexdigest()}
    assert verify(model) == loaded
    assert json.loads(card_path(model).read_text())['future_key'] == [1, 2]


def test_committed_test_models_match_their_cards() -> None:
    for name in ('tiny_float.tflite', 'tiny_float.onnx', 'tiny_int8.tflite', 'tiny_nchw.onnx'):
        card = verify(DATA / name)
        assert card is not None
        assert card.embedding_size == 16


def test_verify_refuses_changed_files_and_bad_cards(tmp_path: Path) -> None:
    model = tmp_path / 'emb.tflite'
    model.write_bytes(b'x' * 100)
    with pytest.raises(ModelCardError, match='no model card'):
        verify(model)
    assert verify(model, require=False) is None
    card = ModelCard(kind='embedding', architecture='a', embedding_size=8)
    write_card(model, card)
    with pytest.raises(ModelCardError, match="no sha256 for format 'tflite'"):
        verify(model)
    assert verify(model, require=False) == card
    write_card(model, with_sha256(card, model))
    model.write_bytes(b'x' * 99)
    with pytest.raises(ModelCardError, match='corrupt, truncated or was replaced'):
        verify(model, require=False)
    for text, message in (
        ('{not json', 'not readable JSON'),
        ('[1, 2]', 'JSON object'),
        ('{"architecture": "a"}', "lacks the key 'kind'"),
        ('{"kind": "toaster", "architecture": "a"}', 'card kind must be one of'),
        ('{"kind": "head", "architecture": "a", "input_size": [0, 3]}', 'input_size'),
        ('{"kind": "head", "architecture": "a", "normalisation": {"mean": [1]}}', 'normalisation'),
    ):
        card_path(model).write_text(text)
        with pytest.raises(ModelCardError, match=message):
            read_card(model)
    with pytest.raises(ModelLoadError, match='does not exist'):
        verify(tmp_path / 'absent.tflite')


def test_normalisation_is_validated() -> None:
    with pytest.raises(ModelCardError, match='std > 0'):
        Normalisation((0.0, 0.0, 0.0), (1.0, 0.0, 1.0))


@pytest.mark.parametrize('text', [
    '[' * 100_000 + ']' * 100_000,  # json.loads: RecursionError
    '{"kind": "head", "architecture": "a", "metrics": [1]}',
    '{"kind": "head", "architecture": "a", "classes": "floor"}',
    ' ' * (2 << 20) + '{}',
])
def test_unreadable_cards_raise_model_card_errors(tmp_path: Path, text: str) -> None:
    model = tmp_path / 'm.onnx'
    card_path(model).write_text(text)
    with pytest.raises(ModelCardError):
        read_card(model)


def test_an_overlong_model_path_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match='model file'):
        verify(tmp_path / ('m' * 5000 + '.onnx'))
