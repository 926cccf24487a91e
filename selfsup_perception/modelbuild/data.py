"""What model building reads besides the frame sources: class lists, ``.npz`` arrays, time-blocked
splits, resizing, calibration images. The training frames themselves are streamed (``sources``)."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import yaml

from selfsup_perception.core import segmentation
from selfsup_perception.core.head import time_blocked_split
from selfsup_perception.core.segmentation import ClassList, ClassListError

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')


class DataError(ValueError):
    """Training data is missing, malformed or inconsistent; the message names the file."""


def load_classes(path: str | Path) -> ClassList:
    """The class list (``core.segmentation.load_classes``), with model building's error type; a model's
    card records the traversable flags, so they must be given for every class or for none."""
    try:
        classes = segmentation.load_classes(path)
    except ClassListError as exc:
        raise DataError(str(exc)) from exc
    entries = yaml.safe_load(Path(path).read_text(encoding='utf-8'))['classes']
    if len({'traversable' in entry for entry in entries}) > 1:
        raise DataError(f'{path}: traversable must be true/false for every class or for none')
    return classes


def read_npz(path: str | Path, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays ``names`` of an ``.npz`` (no pickles; other members are not loaded); all must be there."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in names if name in npz.files}
            stored = npz.files
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f'{path}: not a readable .npz: {exc}') from exc
    missing = [name for name in names if name not in arrays]
    if missing:
        raise DataError(f'{path}: lacks the arrays {missing} (has {sorted(stored)})')
    return arrays


def split_frames(
    stamps: np.ndarray, fraction: float, blocks: int, guard: float
) -> tuple[np.ndarray, np.ndarray]:
    """Time-blocked (train, validation) indices (``core.head.time_blocked_split``); never random."""
    train, val = time_blocked_split(stamps, fraction, blocks, guard)
    if not len(train) or (fraction > 0 and not len(val)):
        raise DataError(
            f'{len(stamps)} frames are too few for a {fraction:.0%} validation split in {blocks} blocks'
        )
    return train, val


def resize_images(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Images (N, H, W, 3) to (N, h, w, 3) with area interpolation (unchanged if already that size)."""
    if images.shape[1:3] == tuple(size) or not len(images):
        return images.reshape(-1, *size, 3)
    return np.stack([cv2.resize(im, (size[1], size[0]), interpolation=cv2.INTER_AREA) for im in images])
