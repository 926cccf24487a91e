"""Fit camera images to a model's input size."""

from __future__ import annotations

import cv2
import numpy as np


def resize_to_input(image: np.ndarray, size: tuple[int, int] | tuple[int, int, int]) -> np.ndarray:
    """Resize an RGB uint8 image (H, W, 3) to ``size`` = (height, width[, 3]) with area interpolation.

    INTER_AREA averages the pixels a model pixel covers (no aliasing when shrinking a camera frame).
    Returns the image itself when it already has that size.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}')
    height, width = int(size[0]), int(size[1])
    if image.shape[:2] == (height, width):
        return image
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
