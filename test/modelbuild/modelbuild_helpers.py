"""Helpers for the model-building tests: smooth synthetic camera images (no downloads)."""

from __future__ import annotations

import cv2
import numpy as np


def smooth_images(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Blurry random RGB images (N, h, w, 3) uint8: natural-image-like low frequencies."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (count, max(2, height // 8), max(2, width // 8), 3), dtype=np.uint8)
    return np.stack([cv2.resize(c, (width, height), interpolation=cv2.INTER_LINEAR) for c in coarse])
