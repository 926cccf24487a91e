"""Shared fixtures: the shipped config, and synthetic recordings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from selfsup_perception.core.config import LabelingConfig, load_config

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault('MUJOCO_GL', 'egl')


@pytest.fixture(scope='session')
def robot_config() -> LabelingConfig:
    return load_config(ROOT / 'config' / 'robot.yaml')
