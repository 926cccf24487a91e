"""Fixtures for the inference tests: the tiny committed models (test/data) and images for them."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[1] / 'data'


@pytest.fixture
def images() -> np.ndarray:
    """Three 32x32 RGB uint8 images, the tiny models' input size."""
    return np.random.default_rng(3).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A writable copy of test/data's models and cards."""
    for path in DATA.iterdir():
        if path.suffix in ('.tflite', '.onnx', '.json'):
            shutil.copy(path, tmp_path / path.name)
    return tmp_path


@pytest.fixture
def edgetpu_model(model_dir: Path) -> Path:
    """A stand-in for an edgetpu_compiler output: the int8 model carrying the Edge TPU custom-op name.

    (LiteRT ignores bytes after the flatbuffer, so the CPU interpreter still runs it.)
    """
    path = model_dir / 'tiny_int8_edgetpu.tflite'
    path.write_bytes((model_dir / 'tiny_int8.tflite').read_bytes() + b'edgetpu-custom-op')
    return path
