"""The one way to run a segmentation model on a camera image: resize, run, find the class axis, arg-max.

Used by the segmenter node, ``selfsup evaluate-seg``, the benchmark and the demo report, so all see the same
masks. Models answer per-pixel class scores channels last (N, H, W, C: TFLite) or channels first
(N, C, H, W: many ONNX exports); the runner finds which on one blank frame when it is made. A split FCN
(a ``seg_backbone`` model and its numpy ``SegHead``) runs the backbone on the accelerator and the head here;
the head can be swapped while frames are being segmented (``swap_head``: one reference assignment).
"""

from __future__ import annotations

import math
import time

import numpy as np

from selfsup_perception.core.seghead import FeatureShapes, SegHead, SegHeadLoadError, split_features
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

    def __init__(self, backend: Backend, classes: int | None = None, head: SegHead | None = None) -> None:
        self.backend = backend
        self.last_inference_s = 0.0  # the model's own time on the last image (the backbone's, when split)
        self.last_head_s = 0.0  # the numpy head's time on the last image (split models only)
        card = backend.card
        self.head: SegHead | None = None
        self.shapes: FeatureShapes = {}
        if card is not None and card.kind == 'seg_backbone':
            if head is None:
                raise ValueError(f'{backend.name}: the model is a segmentation backbone; give its head '
                                 '(head_path / --head)')
            self.shapes = head.check_backbone(card, f'head for the {backend.name} backbone')
            self.head, self.class_axis, self.classes = head, 3, len(head.classes)
            self.grid = backend.input_shape[:2]
            if classes is not None and classes != self.classes:
                raise ValueError(f'{backend.name}: head has {self.classes} classes, {classes} expected')
            return
        if head is not None:
            raise ValueError(f'{backend.name}: a segmentation head needs a seg_backbone model, got '
                             f'{card.kind if card else "a model without a card"}')
        shape = backend.run(np.zeros((1, *backend.input_shape), np.uint8)).shape
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

    def swap_head(self, head: SegHead) -> None:
        """Use ``head`` from the next image on, once it fits the backbone (else ``SegHeadLoadError``; the
        head in use stays)."""
        if self.head is None or self.backend.card is None:
            raise ValueError(f'{self.backend.name}: not a split model; it has no head to swap')
        head.check_backbone(self.backend.card, 'new segmentation head')
        if head.classes != self.head.classes:
            raise SegHeadLoadError(f'new segmentation head: classes {head.classes}, in use {self.head.classes}')
        self.head = head

    def features(self, images: np.ndarray) -> np.ndarray:
        """The backbone's flat features (N, total) of RGB uint8 images (N, h, w, 3) of any one size."""
        return self.backend.run(np.stack([resize_to_input(image, self.backend.input_shape) for image in images]))

    def scores(self, rgb: np.ndarray) -> np.ndarray:
        """Class scores (H, W, C) float32 on the model's grid for one RGB uint8 image of any size."""
        batch = resize_to_input(rgb, self.backend.input_shape)[None]
        started = time.perf_counter()
        out = self.backend.run(batch)
        self.last_inference_s = time.perf_counter() - started
        head = self.head  # one read: a swap in another thread takes effect on the next image
        if head is not None:
            started = time.perf_counter()
            logits: np.ndarray = head.logits(split_features(out, self.shapes), self.grid)[0]
            self.last_head_s = time.perf_counter() - started
            return logits
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
