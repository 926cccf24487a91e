"""Helpers for the model-building tests: smooth synthetic camera images (no downloads), labelled
frames and dataset files of them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from selfsup_perception.core.config import LabelingConfig, SensorConfig
from selfsup_perception.core.dataset import DatasetWriter, FrameRecord


def smooth_images(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Blurry random RGB images (N, h, w, 3) uint8: natural-image-like low frequencies."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (count, max(2, height // 8), max(2, width // 8), 3), dtype=np.uint8)
    return np.stack([cv2.resize(c, (width, height), interpolation=cv2.INTER_LINEAR) for c in coarse])


def labelled_frames(frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images where a bright left or right half means an obstacle on that side; 60 % labels unknown."""
    rng = np.random.default_rng(seed)
    images = smooth_images(frames, 64, 64, seed) // 2
    side = rng.integers(0, 2, frames)
    images[side == 0, :, :32] += 120
    images[side == 1, :, 32:] += 120
    labels = np.zeros((frames, 3, 2), np.uint8)
    labels[np.arange(frames), :, side] = 1
    return images, labels, rng.random(labels.shape) < 0.4


def labelled_dataset(path: Path, frames: int, seed: int = 0) -> Path:
    """A dataset file (``core.dataset``) of ``labelled_frames``: 3 distances x 2 sensors, PNG images."""
    config = LabelingConfig(
        sensors=(SensorConfig('left', '/left', 0.1, 0.2), SensorConfig('right', '/right', 0.1, 0.2)),
        distances=(0.0, 0.05, 0.1),
    )
    images, labels, mask = labelled_frames(frames, seed)
    with DatasetWriter(path, config, image_format='png') as writer:
        for i in range(frames):
            writer.append(FrameRecord(0.1 * i, images[i], np.where(mask[i], labels[i], -1).astype(np.int8)))
    return path
