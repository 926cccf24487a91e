"""Small labelled datasets whose labels follow the image, for tests of training, evaluation and the trainer."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from selfsup_perception.core.config import LabelingConfig
from selfsup_perception.core.dataset import DatasetWriter, FrameRecord


def write_dataset(path: Path, config: LabelingConfig, frames: int, *, start: int = 0, seed: int = 0,
                  ground_truth: bool = False) -> None:
    """Append ``frames`` frames 0.1 s apart whose labels follow the image: bright texture = obstacle.

    About half of the labels are unknown; the tiny test embedder separates bright from dark easily.
    """
    rng = np.random.default_rng(seed)
    shape = (len(config.distances), len(config.sensors))
    writer = DatasetWriter(path, config, image_format='png')
    try:
        for i in range(start, start + frames):
            level = rng.uniform(0, 1)
            image = (rng.integers(0, 256, (32, 32, 3)) * level).astype(np.uint8)
            obstacle = np.full(shape, int(level > 0.5), np.int8)
            labels = np.where(rng.random(shape) < 0.5, obstacle, np.int8(-1))
            writer.append(FrameRecord(stamp=0.1 * i, image=image, labels=labels,
                                      ground_truth=obstacle.astype(np.uint8) if ground_truth else None))
    finally:
        writer.close()
