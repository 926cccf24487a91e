"""Pictures of self-supervised pixel labels: camera frames with their floor / obstacle labels painted over.

Plain numpy + OpenCV (no matplotlib): each frame is enlarged, its labelled pixels tinted (floor green,
obstacle red; unknown pixels keep the camera image), optionally beside the true classes, in a grid.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from selfsup_perception.core.pixel_labels import FLOOR, OBSTACLE

#: Label colours (RGB): floor, obstacle.
LABEL_COLOURS = {FLOOR: (40, 200, 60), OBSTACLE: (230, 40, 40)}
#: Colours (RGB) of the true classes floor, obstacle, wall.
TRUTH_COLOURS = ((90, 160, 90), (220, 60, 40), (150, 150, 170))


def label_overlay(image: np.ndarray, labels: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """(H, W, 3) uint8 RGB: ``image`` with its labelled pixels tinted, unknown ones untouched."""
    if image.shape[:2] != labels.shape or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'need an (H, W, 3) image and (H, W) labels of the same size, got {image.shape}, '
                         f'{labels.shape}')
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f'alpha must be in [0, 1], got {alpha}')
    out = image.astype(np.float32)
    for label, colour in LABEL_COLOURS.items():
        mask = labels == label
        out[mask] = (1 - alpha) * out[mask] + alpha * np.asarray(colour, np.float32)
    drawn: np.ndarray = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return drawn


def _tile(rgb: np.ndarray, scale: int, caption: str) -> np.ndarray:
    big = cv2.resize(rgb, (rgb.shape[1] * scale, rgb.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
    if caption:
        cv2.putText(big, caption, (3, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.2 + 0.1 * scale, (255, 255, 255), 1, cv2.LINE_AA)
    return big


def pixel_label_sheet(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    truths: Sequence[np.ndarray] | None = None,
    captions: Sequence[str] | None = None,
    columns: int = 2,
    scale: int = 2,
) -> np.ndarray:
    """A grid (RGB uint8) of frames with their labels overlaid; with ``truths`` each frame's true classes
    beside it. Frames must share one size."""
    if not images or len(images) != len(labels) or (truths is not None and len(truths) != len(images)):
        raise ValueError('need one label image (and one truth, if given) per frame, at least one frame')
    if columns < 1 or scale < 1:
        raise ValueError(f'columns and scale must be >= 1, got {columns}, {scale}')
    palette = np.zeros((256, 3), np.uint8)
    palette[: len(TRUTH_COLOURS)] = TRUTH_COLOURS
    tiles = []
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        parts = [_tile(label_overlay(image, label), scale, captions[i] if captions else '')]
        if truths is not None:
            parts.append(_tile(palette[truths[i]], scale, 'true classes'))
        tiles.append(np.concatenate(parts, axis=1))
    gap = 4
    height, width = tiles[0].shape[:2]
    if any(t.shape[:2] != (height, width) for t in tiles):
        raise ValueError('all frames must have the same size')
    rows = -(-len(tiles) // columns)
    sheet = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        sheet[r * (height + gap) : r * (height + gap) + height, c * (width + gap) : c * (width + gap) + width] = tile
    return sheet


def save_png(rgb: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write an RGB picture as PNG (to a temporary file renamed into place)."""
    path = Path(path)
    ok, blob = cv2.imencode('.png', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise ValueError(f'cannot encode a {rgb.shape} picture as PNG')
    tmp = path.with_name(path.name + '.tmp')
    tmp.write_bytes(blob.tobytes())
    tmp.replace(path)
    return path
