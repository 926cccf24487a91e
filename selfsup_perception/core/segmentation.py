"""Semantic segmentation without ROS: class masks, colours, the free-space scan and segmentation metrics.

The free-space scan turns a class mask into a planar laser scan: in each image column the first
non-traversable pixel from the bottom is where the obstacle meets the floor; its ray, intersected with
the floor plane (pinhole intrinsics K, camera height and downward pitch), gives a bearing and a range in
the robot's body frame (REP 103: x forward, y left, z up; angles counter-clockwise, metres, radians).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np
import yaml

IGNORE_INDEX = 255


class ClassListError(ValueError):
    """A class-list file or value is unreadable or invalid; the message names the file."""


@dataclass(frozen=True)
class ClassList:
    """Segmentation classes: id = position, an RGB colour each, and which ones the robot may drive on.

    ``ignore_index`` marks unlabelled pixels in evaluation data; ``traversable`` (one flag per class,
    empty = none) ends the free-space scan's columns at the first pixel of a class that is not.
    """

    names: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...]
    ignore_index: int = IGNORE_INDEX
    traversable: tuple[bool, ...] = ()

    def __post_init__(self) -> None:
        if not self.names or len(set(self.names)) != len(self.names) or not all(self.names):
            raise ClassListError(f'class names must be unique and non-empty, got {self.names}')
        if len(self.colors) != len(self.names) or any(
            len(c) != 3 or not all(0 <= v <= 255 for v in c) for c in self.colors
        ):
            raise ClassListError(f'need one [r, g, b] colour (0-255) per class, got {self.colors}')
        if not len(self.names) <= self.ignore_index <= 255:
            raise ClassListError(
                f'ignore_index {self.ignore_index} must be >= the number of classes and <= 255'
            )
        if not self.traversable:
            object.__setattr__(self, 'traversable', (False,) * len(self.names))
        if len(self.traversable) != len(self.names):
            raise ClassListError(f'need one traversable flag per class, got {self.traversable}')

    @property
    def palette(self) -> np.ndarray:
        """(256, 3) uint8 colour per class id; ids without a class are black."""
        table = np.zeros((256, 3), np.uint8)
        table[: len(self.colors)] = self.colors
        return table

    @property
    def traversable_table(self) -> np.ndarray:
        """(256,) bool per class id; ids without a class are not traversable."""
        table = np.zeros(256, bool)
        table[: len(self.traversable)] = self.traversable
        return table


def load_classes(path: str | os.PathLike[str]) -> ClassList:
    """Read a class-list YAML: ``classes: [{name, color: [r, g, b], traversable: bool}, ...]``, ``ignore_index``.

    ``traversable`` defaults to false, ``ignore_index`` to 255 (see config/classes_sim.yaml).
    """
    try:
        data = yaml.safe_load(Path(path).read_text(encoding='utf-8'))
        entries = data['classes']
        return ClassList(
            names=tuple(str(c['name']) for c in entries),
            colors=tuple(cast('tuple[int, int, int]', tuple(int(v) for v in c['color'])) for c in entries),
            ignore_index=int(data.get('ignore_index', IGNORE_INDEX)),
            traversable=tuple(_flag(c.get('traversable', False)) for c in entries),
        )
    except ClassListError as exc:
        raise ClassListError(f'{path}: {exc}') from exc
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ClassListError(
            f'{path}: not a class list (classes: [{{name, color: [r, g, b], traversable}}, ...]): {exc!r}'
        ) from exc


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ClassListError(f'traversable must be true or false, got {value!r}')
    return value


# --- masks -------------------------------------------------------------------------------------------


def class_mask(scores: np.ndarray, size: tuple[int, int] | None = None, axis: int = -1) -> np.ndarray:
    """uint8 class ids: arg-max of per-pixel ``scores`` (logits or probabilities alike) along ``axis``.

    ``scores`` is (H, W, C) or (N, H, W, C) (channels last; ``axis=1`` for (N, C, H, W)). With ``size``
    (height, width) the mask is resized to it with nearest neighbour (see ``resize_mask``).
    """
    scores = np.asarray(scores)
    if scores.ndim not in (3, 4) or not 2 <= scores.shape[axis] <= 256:
        raise ValueError(f'expected (N,) H, W, C scores with 2..256 classes on axis {axis}, got {scores.shape}')
    mask = np.argmax(scores, axis=axis).astype(np.uint8)
    return mask if size is None else resize_mask(mask, size)


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize class ids (H, W) or (N, H, W) to ``size`` (height, width) with nearest neighbour.

    cv2's INTER_NEAREST_EXACT aligns pixel centres (an integer upscale repeats each pixel) and never
    blends ids; returns ``mask`` itself when it already has that size.
    """
    mask = np.asarray(mask)
    height, width = int(size[0]), int(size[1])
    if mask.ndim not in (2, 3) or height <= 0 or width <= 0:
        raise ValueError(f'expected a (N,) H, W mask and a positive size, got {mask.shape} -> {size}')
    if mask.shape[-2:] == (height, width):
        return mask
    if mask.ndim == 3:
        return np.stack([resize_mask(m, size) for m in mask]) if len(mask) else np.zeros((0, height, width), mask.dtype)
    return cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)


def colorize(mask: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB: each class id painted with its ``palette`` row (``ClassList.palette``)."""
    return palette[np.asarray(mask, np.uint8)]


def overlay(rgb: np.ndarray, mask: np.ndarray, palette: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The camera image with the class colours blended in (weight ``alpha``); mask resized to the image."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f'alpha must be in [0, 1], got {alpha}')
    colours = colorize(resize_mask(mask, rgb.shape[:2]), palette)
    return cv2.addWeighted(rgb, 1.0 - alpha, colours, alpha, 0.0)


# --- camera geometry and the free-space scan ---------------------------------------------------------


@dataclass(frozen=True)
class CameraMount:
    """The camera on the robot: ``height`` above the floor (m), ``tilt`` = pitch below the horizon (rad,
    positive looks down), ``x`` = how far ahead of base_link it sits (m); no roll, on the centre line."""

    height: float
    tilt: float
    x: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.height) and self.height > 0):
            raise ValueError(f'camera height must be > 0 m, got {self.height}')
        if not (math.isfinite(self.tilt) and abs(self.tilt) < math.pi / 2):
            raise ValueError(f'camera tilt must be in (-pi/2, pi/2) rad, got {self.tilt}')
        if not math.isfinite(self.x):
            raise ValueError(f'camera x must be finite, got {self.x}')


def intrinsics_from_hfov(width: int, height: int, hfov: float) -> np.ndarray:
    """Pinhole K (3x3) of an ideal camera: square pixels, horizontal field of view ``hfov`` (rad),
    principal point at the image centre (pixel centres at integers, so ((w-1)/2, (h-1)/2))."""
    if width <= 0 or height <= 0 or not 0 < hfov < math.pi:
        raise ValueError(f'need a positive image size and 0 < hfov < pi, got {width}x{height}, {hfov}')
    focal = (width / 2) / math.tan(hfov / 2)
    return np.array([[focal, 0.0, (width - 1) / 2], [0.0, focal, (height - 1) / 2], [0.0, 0.0, 1.0]])


def scale_intrinsics(
    camera_matrix: np.ndarray, from_size: tuple[int, int], to_size: tuple[int, int]
) -> np.ndarray:
    """K of the same camera for an image resized from ``from_size`` to ``to_size`` (height, width).

    Pixel edges map to pixel edges: a pixel centre u becomes (u + 0.5) * s - 0.5.
    """
    k = check_intrinsics(camera_matrix).copy()
    sy, sx = to_size[0] / from_size[0], to_size[1] / from_size[1]
    k[0, :2] *= sx
    k[1, 1] *= sy
    k[0, 2] = (k[0, 2] + 0.5) * sx - 0.5
    k[1, 2] = (k[1, 2] + 0.5) * sy - 0.5
    return k


def check_intrinsics(camera_matrix: Any) -> np.ndarray:
    """K as a (3, 3) float array (from 9 numbers too); ValueError unless finite with fx, fy > 0."""
    k = np.asarray(camera_matrix, np.float64)
    if k.size != 9:
        raise ValueError(f'camera matrix needs 9 numbers, got {k.size}')
    k = k.reshape(3, 3)
    if not np.isfinite(k).all() or k[0, 0] <= 0 or k[1, 1] <= 0 or k[2, 2] != 1 or k[1, 0] or k[2, :2].any():
        raise ValueError(f'not a pinhole camera matrix (finite, fx, fy > 0, last row 0 0 1): {k.tolist()}')
    return k


def camera_rays(
    camera_matrix: np.ndarray, mount: CameraMount, u: np.ndarray, v: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directions (dx, dy, dz) in the body frame of the rays through pixel coordinates (u, v).

    Pixel centres are at integers, v grows downwards. The optical frame (z ahead, x right, y down)
    is pitched down about the body's y axis by ``mount.tilt``.
    """
    k = check_intrinsics(camera_matrix)
    b = (np.asarray(v, np.float64) - k[1, 2]) / k[1, 1]
    a = (np.asarray(u, np.float64) - k[0, 2] - k[0, 1] * b) / k[0, 0]
    cos, sin = math.cos(mount.tilt), math.sin(mount.tilt)
    return cos - b * sin, -a, -sin - b * cos


def ground_points(
    camera_matrix: np.ndarray, mount: CameraMount, u: np.ndarray, v: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) in the body frame where the rays through (u, v) meet the floor; NaN at/above the horizon."""
    dx, dy, dz = camera_rays(camera_matrix, mount, u, v)
    with np.errstate(divide='ignore', invalid='ignore'):
        t = np.where(dz < -1e-12, mount.height / -dz, np.nan)
    return mount.x + t * dx, t * dy


class FreeSpaceScanner:
    """Free-space scans from class masks of one size seen by one camera (every pixel's ground point is
    computed once).

    Per column, the first non-traversable pixel from the bottom is projected at its lower edge (the
    boundary with the floor pixel below it). Beams run counter-clockwise (right to left in the image)
    over the bearings the image sees on the floor. A column covers the beams between the bearings of its
    left and right edges (at least the nearest beam); a beam holds the nearest range of the columns
    covering it, +inf where a column sees floor up to the image top or the horizon, NaN where none does.
    """

    def __init__(
        self,
        camera_matrix: np.ndarray,
        mask_size: tuple[int, int],
        mount: CameraMount,
        traversable: np.ndarray,
        beams: int = 0,
        range_max: float = 10.0,
    ) -> None:
        height, width = int(mask_size[0]), int(mask_size[1])
        if height < 1 or width < 2 or beams == 1 or beams < 0:
            raise ValueError(f'need a mask of >= 1 x 2 pixels and 0 (= one per column) or >= 2 beams, '
                             f'got {mask_size}, {beams}')
        if not range_max > 0:
            raise ValueError(f'range_max must be > 0, got {range_max}')
        self.mask_size = (height, width)
        self.camera_matrix = check_intrinsics(camera_matrix)
        self.mount = mount
        self._traversable = np.zeros(256, bool)
        flags = np.asarray(traversable, bool)
        self._traversable[: flags.size] = flags
        rows = np.arange(height) + 0.5  # the lower edge of each pixel row
        x, y = ground_points(self.camera_matrix, mount, *np.meshgrid(np.arange(width, dtype=np.float64), rows))
        self._bearing, self._range = np.arctan2(y, x), np.hypot(x, y)
        x, y = ground_points(self.camera_matrix, mount, *np.meshgrid(np.arange(width + 1) - 0.5, rows))
        edges = np.arctan2(y, x)  # (height, width + 1): bearings of the column edges, NaN off the floor
        if np.isnan(edges).all():
            raise ValueError('the camera sees no floor: check the camera height, tilt and intrinsics')
        self.beams = beams or width
        self.angle_min, self.angle_max = float(np.nanmin(edges)), float(np.nanmax(edges))
        self.angle_increment = (self.angle_max - self.angle_min) / (self.beams - 1)
        self.range_min, self.range_max = 0.0, float(range_max)
        low, high = np.fmin(edges[:, :-1], edges[:, 1:]), np.fmax(edges[:, :-1], edges[:, 1:])
        seen = ~np.isnan(low)
        self._has_floor = seen.any(axis=0)
        # Beams each pixel's lower edge covers (an obstacle there), and each whole column (free floor).
        self._first, self._last = self._span(np.where(seen, low, 0.0), np.where(seen, high, 0.0))
        column_low = np.where(seen, low, np.inf).min(axis=0)
        column_high = np.where(seen, high, -np.inf).max(axis=0)
        self._free_first, self._free_last = self._span(np.where(self._has_floor, column_low, 0.0),
                                                       np.where(self._has_floor, column_high, 0.0))

    def _span(self, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First and last beam whose angle lies in [low, high], else the beam nearest to its middle."""
        first = np.ceil((low - self.angle_min) / self.angle_increment - 1e-9)
        last = np.floor((high - self.angle_min) / self.angle_increment + 1e-9)
        nearest = np.rint(((low + high) / 2 - self.angle_min) / self.angle_increment)
        narrow = last < first
        first, last = np.where(narrow, nearest, first), np.where(narrow, nearest, last)
        return np.clip(first, 0, self.beams - 1).astype(np.int64), np.clip(last, 0, self.beams - 1).astype(np.int64)

    def _obstacles(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per column the row of its first non-traversable pixel from the bottom, and its range (NaN: none
        below the horizon)."""
        mask = np.asarray(mask)
        if mask.shape != self.mask_size:
            raise ValueError(f'this scanner takes {self.mask_size} masks, got {mask.shape}')
        blocked = ~self._traversable[mask][::-1]
        first = blocked.argmax(axis=0)
        cols = np.arange(self.mask_size[1])
        row = self.mask_size[0] - 1 - first
        return row, np.where(blocked[first, cols], self._range[row, cols], np.nan)

    def columns(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per column (bearing, range) of the middle of its first non-traversable pixel's lower edge.

        A column with none below the horizon has range +inf and bearing NaN.
        """
        row, ranges = self._obstacles(mask)
        obstacle = ~np.isnan(ranges)
        bearings = self._bearing[row, np.arange(self.mask_size[1])]
        return np.where(obstacle, bearings, np.nan), np.where(obstacle, ranges, np.inf)

    def scan(self, mask: np.ndarray) -> np.ndarray:
        """(beams,) float32 LaserScan ranges of a class mask: nearest per beam, +inf free, NaN unseen."""
        row, ranges = self._obstacles(mask)
        out = np.full(self.beams, np.nan)
        free = np.isnan(ranges) & self._has_floor
        if free.any():
            cover = np.zeros(self.beams + 1, np.int64)
            np.add.at(cover, self._free_first[free], 1)
            np.add.at(cover, self._free_last[free] + 1, -1)
            out[np.cumsum(cover[:-1]) > 0] = np.inf
        cols = np.flatnonzero(~np.isnan(ranges))
        first, last = self._first[row[cols], cols], self._last[row[cols], cols]
        counts = last - first + 1
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        np.fmin.at(out, np.repeat(first, counts) + offsets, np.repeat(ranges[cols], counts))
        return out.astype(np.float32)


# --- metrics -----------------------------------------------------------------------------------------


def scan_agreement(truth: np.ndarray, predicted: np.ndarray, max_range: float = 1.5,
                   tolerance: float = 0.1) -> tuple[int, int]:
    """(beams within ``tolerance`` relative error, beams judged): judged are the beams whose true range
    is finite and below ``max_range`` (an obstacle seen behind visible floor)."""
    truth, predicted = np.asarray(truth, np.float64), np.asarray(predicted, np.float64)
    judged = np.isfinite(truth) & (truth < max_range)
    with np.errstate(invalid='ignore'):
        close = np.abs(predicted[judged] - truth[judged]) <= tolerance * truth[judged]
    return int(np.count_nonzero(close)), int(np.count_nonzero(judged))


def confusion_matrix(
    truth: np.ndarray, predicted: np.ndarray, num_classes: int, ignore_index: int = IGNORE_INDEX
) -> np.ndarray:
    """(C, C) int64 pixel counts, rows = true class, columns = predicted; ``ignore_index`` pixels left out."""
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    if truth.shape != predicted.shape:
        raise ValueError(f'truth {truth.shape} and prediction {predicted.shape} differ in shape')
    valid = truth != ignore_index
    t, p = truth[valid].astype(np.int64), predicted[valid].astype(np.int64)
    for name, ids in (('ground truth', t), ('prediction', p)):
        if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
            raise ValueError(
                f'{name} has class ids outside 0..{num_classes - 1} ({ignore_index} = ignore): '
                f'{sorted(set(np.unique(ids).tolist()) - set(range(num_classes)))[:10]}'
            )
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


def segmentation_scores(confusion: np.ndarray, names: Sequence[str] | None = None) -> dict[str, Any]:
    """Pixel accuracy, per-class IoU and mean IoU (over classes in the truth or the prediction) of a
    confusion matrix, JSON-ready: an undefined number (no pixels, class absent) is None."""
    confusion = np.asarray(confusion, np.int64)
    hits = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - hits
    iou = np.where(union > 0, hits / np.maximum(union, 1), np.nan)
    total = int(confusion.sum())
    return {
        'classes': list(names) if names is not None else [f'class {i}' for i in range(len(confusion))],
        'pixels': total,
        'pixel_accuracy': float(hits.sum() / total) if total else None,
        'mean_iou': float(np.nanmean(iou)) if (union > 0).any() else None,
        'iou': [None if math.isnan(v) else float(v) for v in iou],
        'confusion': confusion.tolist(),
    }


class ScannerCache:
    """The free-space scanner for an image and mask size, with camera_info's K (scaled to the image) when there
    is one, else ``hfov``'s; rebuilt only when a size or the camera_info object changes (the segmenter's)."""

    def __init__(self, hfov: float, mount: CameraMount, traversable: np.ndarray, beams: int = 0,
                 range_max: float = 10.0) -> None:
        self.hfov, self.mount, self.traversable, self.beams, self.range_max = hfov, mount, traversable, beams, range_max
        self._scanner: FreeSpaceScanner | None = None
        self._key: tuple[tuple[int, int], tuple[int, int]] | None = None
        self._info: tuple[np.ndarray, int, int] | None = None

    def get(self, image_size: tuple[int, int], grid_size: tuple[int, int],
            info: tuple[np.ndarray, int, int] | None) -> FreeSpaceScanner:
        """``info`` is (K, width, height) of the last camera_info, or None."""
        key = (image_size, grid_size)
        if self._scanner is None or key != self._key or info is not self._info:
            if info is None:
                k = intrinsics_from_hfov(image_size[1], image_size[0], self.hfov)
            else:
                k, width, height = info
                if width > 0 and height > 0 and (height, width) != image_size:
                    k = scale_intrinsics(k, (height, width), image_size)
            self._scanner = FreeSpaceScanner(scale_intrinsics(k, image_size, grid_size), grid_size, self.mount,
                                             self.traversable, self.beams, self.range_max)
            self._key, self._info = key, info
        return self._scanner
