"""Shared fixtures: the shipped config, and a models folder of test models under the shipped names."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from selfsup_perception.core.config import LabelingConfig, load_config

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault('MUJOCO_GL', 'egl')


@pytest.fixture(scope='session')
def robot_config() -> LabelingConfig:
    return load_config(ROOT / 'config' / 'robot.yaml')


@pytest.fixture
def tiny_models_dir(tmp_path: Path) -> Path:
    """A models folder with the tiny test embedding and segmentation models under the shipped names, and the
    shipped split FCN-8s (no tiny one exists); the test trains a head for the tiny embedding."""
    data, shipped = ROOT / 'test' / 'data', ROOT / 'models'
    models = tmp_path / 'models'
    models.mkdir()
    for suffix in ('tflite', 'onnx', 'json'):
        shutil.copy(data / f'tiny_float.{suffix}', models / f'embedding.{suffix}')
        shutil.copy(data / f'tiny_seg.{suffix}', models / f'fcn8s.{suffix}')
    for name in ('fcn8s_backbone.tflite', 'fcn8s_backbone.onnx', 'fcn8s_backbone.json', 'fcn8s_head.npz',
                 'fcn8s_head.json'):
        shutil.copy(shipped / name, models / name)
    return models
