"""A split segmentation model whose features are block colours, and worlds with pixel self-labels, for tests.

``ColourBackbone`` is a backend (the ``Backend`` protocol) whose 'features' at strides 8, 16 and 32 are the mean
RGB of each block scaled into [0, 6] (as ReLU6 maps are); ``colour_head`` reads green as floor, red as obstacle
and blue as wall, as a head trained in green-floored worlds would. ``write_red_floor_dataset`` records a world
whose floor is red (below a horizon row) and walls blue, with pixel self-labels on part of each: a head
fine-tuned on it must learn that red is floor.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from selfsup_perception.core.config import LabelingConfig
from selfsup_perception.core.dataset import DatasetWriter, FrameRecord
from selfsup_perception.core.modelcard import ModelCard
from selfsup_perception.core.pixel_labels import FLOOR, OBSTACLE, UNKNOWN
from selfsup_perception.core.seghead import SegHead

INPUT = (48, 64)
CLASSES = ('floor', 'obstacle', 'wall')
STRIDES = (8, 16, 32)


class ColourBackbone:
    """Block-mean colours as the feature maps of a split-FCN backbone (no model file)."""

    name = 'colour-test-backbone'

    def __init__(self, sha256: str = 'colour') -> None:
        self.shapes = {s: (math.ceil(INPUT[0] / s), math.ceil(INPUT[1] / s), 3) for s in STRIDES}
        self.card: ModelCard | None = ModelCard(
            kind='seg_backbone', architecture='fcn8s_colour_test', input_size=INPUT, classes=CLASSES,
            sha256={'tflite': sha256},
            extra={'feature_shapes': {str(s): list(v) for s, v in self.shapes.items()},
                   'traversable': [True, False, False]})

    def load(self, model_path: str | os.PathLike[str]) -> None:
        """Nothing to load."""

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (*INPUT, 3)

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    def run(self, batch: np.ndarray) -> np.ndarray:
        maps = []
        for stride, (h, w, _) in self.shapes.items():
            padded = np.zeros((len(batch), h * stride, w * stride, 3), np.float32)
            padded[:, : INPUT[0], : INPUT[1]] = batch
            blocks = padded.reshape(len(batch), h, stride, w, stride, 3).mean(axis=(2, 4)) * (6.0 / 255.0)
            maps.append(blocks.reshape(len(batch), -1))
        return np.concatenate(maps, axis=1).astype(np.float32)


def colour_head(sha256: str = 'colour') -> SegHead:
    """Green -> floor, red -> obstacle, blue -> wall at stride 32; skip scores zero (as the FCN starts them)."""
    bilinear = np.zeros((4, 4, 3, 3), np.float32)
    taps = np.array([0.25, 0.75, 0.75, 0.25], np.float32)
    bilinear[:, :, np.arange(3), np.arange(3)] = np.outer(taps, taps)[:, :, None]
    reading = np.array([[0, 3, 0], [3, 0, 0], [0, 0, 3]], np.float32)  # rows: R, G, B; columns: classes
    zero = (np.zeros((3, 3), np.float32), np.zeros(3, np.float32))
    return SegHead('fcn8s', CLASSES, {32: (reading, np.zeros(3, np.float32)), 16: zero, 8: zero},
                   {16: bilinear, 8: bilinear.copy()}, backbone_sha256=sha256)


def red_floor_frame(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, true classes, pixel self-labels): blue wall above a random horizon, red floor below."""
    horizon = int(rng.integers(12, 30))
    image = np.zeros((*INPUT, 3), np.uint8)
    image[:horizon] = (30, 40, 200)
    image[horizon:] = (200, 40, 60)
    image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
    truth = np.where(np.arange(INPUT[0])[:, None] < horizon, 2, 0).repeat(INPUT[1], axis=1).astype(np.uint8)
    labels = np.full(INPUT, UNKNOWN, np.uint8)
    labels[horizon + 8 :, 16:48] = FLOOR  # where the robot drove: the floor nearest the camera
    labels[max(0, horizon - 6) : horizon, 24:40] = OBSTACLE  # where a sensor hit the wall
    return image, truth, labels


def write_red_floor_dataset(path: Path, config: LabelingConfig, frames: int, *, seed: int = 0,
                            start: int = 0) -> None:
    """Append ``frames`` red-floor frames 0.1 s apart with their pixel self-labels and true classes."""
    rng = np.random.default_rng(seed)
    shape = (len(config.distances), len(config.sensors))
    writer = DatasetWriter(path, config, image_format='png')
    try:
        for i in range(start, start + frames):
            image, truth, labels = red_floor_frame(rng)
            writer.append(FrameRecord(stamp=0.1 * i, image=image, labels=np.full(shape, -1, np.int8),
                                      segmentation=truth, pixel_labels=labels))
    finally:
        writer.close()
