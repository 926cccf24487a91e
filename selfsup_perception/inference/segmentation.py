"""The one way to run a segmentation model on a camera image: resize, run, find the class axis, arg-max.

Used by the segmenter node, ``selfsup evaluate-seg`` and the demo report, so all three see the same
masks. Models answer per-pixel class scores channels last (N, H, W, C: TFLite) or channels first
(N, C, H, W: many ONNX exports); the runner finds which on one blank frame when it is made.
"""

from __future__ import annotations

import math
import time

import numpy as np

from selfsup_perception.core.segmentation import class_mask
from selfsup_perception.inference.base import Backend
from selfsup_perception.inference.preprocess import resize_to_input

MAX_CLASSES = 256  # class ids are uint8


class SegmentationRunner:
    """A loaded segmentation backend and where its class scores lie.

    ``classes`` is the number of classes the caller expects (e.g. its class list); without it the
    model card's classes decide, else the layout whose grid has the input image's aspect ratio. A
    model whose output fits neither layout raises ``ValueError`` saying what it gives.
    """

    def __init__(self, backend: Backend, classes: int | None = None) -> None:
        self.backend = backend
        self.last_inference_s = 0.0  # the model's own time on the last image
        shape = backend.run(np.zeros((1, *backend.input_shape), np.uint8)).shape
        card = backend.card
        expected = classes or (len(card.classes) if card is not None and card.classes else None)
        if len(shape) != 4:
            raise ValueError(f'{backend.name}: output {shape} is not per-pixel class scores (1, H, W, C) '
                             'or (1, C, H, W)')
        if expected is not None:
            if expected not in (shape[1], shape[3]):
                raise ValueError(f'{backend.name}: output {shape} is not (1, H, W, {expected}) or '
                                 f'(1, {expected}, H, W) for {expected} classes')
            self.class_axis = 3 if shape[3] == expected else 1
        else:
            self.class_axis = _class_axis(shape, backend.input_shape[:2], backend.name)
        self.classes = int(shape[self.class_axis])
        self.grid = (int(shape[2]), int(shape[3])) if self.class_axis == 1 else (int(shape[1]), int(shape[2]))

    def scores(self, rgb: np.ndarray) -> np.ndarray:
        """Class scores (H, W, C) float32 on the model's grid for one RGB uint8 image of any size."""
        batch = resize_to_input(rgb, self.backend.input_shape)[None]
        started = time.perf_counter()
        out = self.backend.run(batch)
        self.last_inference_s = time.perf_counter() - started
        return np.moveaxis(out[0], 0, -1) if self.class_axis == 1 else out[0]

    def mask(self, rgb: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """Class ids (H, W) uint8 on the model's grid, or resized to ``size`` (height, width) by nearest."""
        return class_mask(self.scores(rgb), size=size)


def _class_axis(shape: tuple[int, ...], input_size: tuple[int, int], name: str) -> int:
    """3 or 1: the axis that can hold 2..256 class scores and leaves a grid shaped like the input (ties: 3)."""
    def mismatch(axis: int) -> float:
        height, width = shape[1:3] if axis == 3 else shape[2:4]
        return abs(math.log(height * input_size[1] / (width * input_size[0])))

    axes = [axis for axis in (3, 1) if 2 <= shape[axis] <= MAX_CLASSES and min(shape[1:]) > 0]
    if not axes:
        raise ValueError(f'{name}: output {shape} has no axis of 2..{MAX_CLASSES} class scores')
    return min(axes, key=mismatch)
