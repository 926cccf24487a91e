"""The Edge TPU op check reads .tflite files without TensorFlow and names what keeps them off the TPU."""

from __future__ import annotations

from pathlib import Path

import pytest
from modelbuild_helpers import smooth_images

from selfsup_perception.modelbuild.ops import DYNAMIC_SHAPE_OPS, EDGETPU_OPS, check_edgetpu, read_ops

DATA = Path(__file__).resolve().parents[1] / 'data'


def test_full_integer_model_passes() -> None:
    report = check_edgetpu(DATA / 'tiny_int8.tflite')
    assert report.ok, report.problems()
    assert set(report.ops) <= EDGETPU_OPS
    assert read_ops(DATA / 'tiny_int8.tflite') == list(report.ops)


def test_float_model_is_not_edge_tpu_ready() -> None:
    report = check_edgetpu(DATA / 'tiny_float.tflite')
    assert not report.ok
    assert report.float_tensors
    assert any('float tensors' in line for line in report.problems())


def test_not_a_tflite_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / 'x.tflite'
    path.write_bytes(b'\x00' * 64)
    with pytest.raises(ValueError, match='not a TFLite'):
        check_edgetpu(path)


def test_strided_slice_is_rejected(tmp_path: Path) -> None:
    pytest.importorskip('tensorflow')
    import keras

    from selfsup_perception.modelbuild.export import convert_int8_tflite

    image = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding='same')(image)
    x = keras.layers.Lambda(lambda t: t[:, 1:-1:2, ::2, :])(x)  # a strided crop: STRIDED_SLICE
    path = tmp_path / 'strided.tflite'
    path.write_bytes(convert_int8_tflite(keras.Model(image, x), smooth_images(4, 16, 16)))
    report = check_edgetpu(path)
    assert not report.ok
    assert 'STRIDED_SLICE' in report.ops
    assert 'STRIDED_SLICE' in DYNAMIC_SHAPE_OPS
    assert report.offending == {'STRIDED_SLICE': 'computes shapes at run time (the graph must be static)'}
    assert report.problems() == ['STRIDED_SLICE: computes shapes at run time (the graph must be static)']
