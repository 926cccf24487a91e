"""Real CPU inference through the TFLite and ONNX backends on the tiny test models."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from selfsup_perception.core.modelcard import ModelCardError, ModelLoadError, Normalisation
from selfsup_perception.inference import Backend, ONNXBackend, TFLiteBackend, resize_to_input
from selfsup_perception.inference.base import TensorSpec, pixel_table


def test_float_tflite_and_onnx_agree(model_dir: Path, images: np.ndarray) -> None:
    tflite = TFLiteBackend()
    tflite.load(model_dir / 'tiny_float.tflite')
    reference = tflite.run(images)
    assert reference.shape == (3, 16)
    assert reference.dtype == np.float32
    for name in ('tiny_float.onnx', 'tiny_nchw.onnx'):
        onnx = ONNXBackend('onnx-cpu')
        onnx.load(model_dir / name)
        assert onnx.input_shape == (32, 32, 3)
        np.testing.assert_allclose(onnx.run(images), reference, atol=1e-5)


def test_int8_model_takes_uint8_pixels_and_returns_floats(model_dir: Path, images: np.ndarray) -> None:
    backend = TFLiteBackend(threads=2)
    backend.load(model_dir / 'tiny_int8.tflite')
    assert backend.input_dtype == np.uint8
    assert isinstance(backend, Backend)
    out = backend.run(images)
    reference = TFLiteBackend()
    reference.load(model_dir / 'tiny_float.tflite')
    expected = reference.run(images)
    assert out.dtype == np.float32
    # Quantisation error: a few output steps (the output scale is ~0.0044).
    np.testing.assert_allclose(out, expected, atol=0.03)


def test_batches_loop_over_a_batch_one_model(model_dir: Path, images: np.ndarray) -> None:
    backend = TFLiteBackend()
    backend.load(model_dir / 'tiny_int8.tflite')
    together = backend.run(images)
    one_by_one = np.concatenate([backend.run(images[i : i + 1]) for i in range(len(images))])
    np.testing.assert_array_equal(together, one_by_one)


def test_run_checks_its_input(model_dir: Path, images: np.ndarray) -> None:
    backend = ONNXBackend()
    with pytest.raises(RuntimeError, match='load'):
        backend.run(images)
    backend.load(model_dir / 'tiny_float.onnx')
    for bad in (images.astype(np.float32), images[0], images[:, :16], images[:0]):
        with pytest.raises(ValueError, match='expected uint8 images'):
            backend.run(bad)


def test_normalisation_comes_from_the_card_unless_given(model_dir: Path, images: np.ndarray) -> None:
    from_card = TFLiteBackend()
    from_card.load(model_dir / 'tiny_float.tflite')
    assert from_card.card is not None
    assert from_card.card.normalisation == Normalisation()
    raw = TFLiteBackend(normalisation=Normalisation((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)))
    raw.load(model_dir / 'tiny_float.tflite')
    assert not np.allclose(raw.run(images), from_card.run(images))


def test_missing_card_loads_unverified_with_a_warning(
    model_dir: Path, images: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    (model_dir / 'tiny_float.json').unlink()
    backend = TFLiteBackend()
    with caplog.at_level(logging.WARNING):
        backend.load(model_dir / 'tiny_float.tflite')
    assert 'unverified' in caplog.text
    assert backend.run(images).shape == (3, 16)


@pytest.mark.parametrize('name', ['tiny_float.tflite', 'tiny_float.onnx'])
@pytest.mark.parametrize('damage', ['truncated', 'random', 'empty'])
def test_corrupt_models_raise_model_load_error(model_dir: Path, name: str, damage: str) -> None:
    path = model_dir / name
    data = path.read_bytes()
    content = {
        'truncated': data[: len(data) // 2],
        'random': np.random.default_rng(0).integers(0, 256, len(data), dtype=np.uint8).tobytes(),
        'empty': b'',
    }[damage]
    path.write_bytes(content)
    backend = TFLiteBackend() if name.endswith('.tflite') else ONNXBackend()
    with pytest.raises(ModelCardError, match='corrupt'):
        backend.load(path)
    (model_dir / 'tiny_float.json').unlink()  # without a card the runtime itself must refuse it cleanly
    with pytest.raises(ModelLoadError, match=name):
        backend.load(path)


def test_card_input_size_must_match_the_model(model_dir: Path) -> None:
    card = model_dir / 'tiny_int8.json'
    card.write_text(card.read_text().replace('32,\n    32', '64,\n    64'))
    with pytest.raises(ModelLoadError, match='card says'):
        TFLiteBackend().load(model_dir / 'tiny_int8.tflite')


def test_pixel_table_quantises_normalised_pixels() -> None:
    path = Path('m.tflite')
    norm = Normalisation()
    uint8 = pixel_table(norm, TensorSpec((1, 8, 8, 3), np.dtype(np.uint8), 2 / 255, 127), path)
    assert uint8.shape == (3, 256)
    assert uint8.dtype == np.uint8
    assert np.abs(uint8.astype(int) - np.arange(256)).max() <= 1  # [-1, 1] input: pixels almost unchanged
    int8 = pixel_table(norm, TensorSpec((1, 8, 8, 3), np.dtype(np.int8), 1 / 200, 0), path)
    assert int8.min() == -128
    assert int8.max() == 127  # clipped
    floats = pixel_table(norm, TensorSpec((1, 8, 8, 3), np.dtype(np.float32)), path)
    np.testing.assert_allclose(floats[:, [0, 255]], [[-1, 1]] * 3)
    raw = pixel_table(norm, TensorSpec((1, 8, 8, 3), np.dtype(np.uint8)), path)
    np.testing.assert_array_equal(raw[1], np.arange(256))
    with pytest.raises(ModelLoadError, match='without quantisation'):
        pixel_table(norm, TensorSpec((1, 8, 8, 3), np.dtype(np.int8)), path)


def test_resize_to_input() -> None:
    image = np.full((120, 160, 3), 200, np.uint8)
    resized = resize_to_input(image, (32, 48))
    assert resized.shape == (32, 48, 3)
    assert resized.dtype == np.uint8
    assert (resized == 200).all()
    assert resize_to_input(image, (120, 160, 3)) is image
    with pytest.raises(ValueError, match='RGB uint8'):
        resize_to_input(image[..., 0], (32, 32))
