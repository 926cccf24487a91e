"""From the head's probabilities to what a robot acts on: nearest obstacle per sensor, scan beams, overlay.

ROS-free: the ``obstacle_detector`` node wraps these in messages. Probabilities are (K, S): distance
ahead (increasing) x sensor, as the head predicts them for one frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from selfsup_perception.core.config import SensorConfig
from selfsup_perception.core.pixel_labels import PinholeCamera, project_floor

YAW_TOLERANCE = math.radians(0.5)  # a sensor this close to a scan beam's angle is on that beam
MAX_BEAMS = 360


def nearest_obstacles(probs: np.ndarray, distances: Sequence[float] | np.ndarray, threshold: float) -> np.ndarray:
    """(S,) float32: per sensor the nearest distance whose probability is >= ``threshold``, +inf when none.

    ``distances`` must be increasing (as the labeling config guarantees); NaN never passes.
    """
    probs = np.asarray(probs, dtype=np.float32)
    steps = np.asarray(distances, dtype=np.float32)
    if probs.ndim != 2 or probs.shape[0] != steps.size:
        raise ValueError(f'expected probabilities ({steps.size}, sensors), got {probs.shape}')
    hit = probs >= threshold
    nearest: np.ndarray = np.where(hit.any(axis=0), steps[hit.argmax(axis=0)], np.float32(np.inf)).astype(np.float32)
    return nearest


@dataclass(frozen=True)
class ScanLayout:
    """Evenly spaced LaserScan beams holding one beam per sensor: ``beams[s]`` is sensor s's beam.

    Beams that belong to no sensor (sensors not evenly spaced) read NaN: no information.
    """

    angle_min: float
    angle_increment: float
    count: int
    beams: tuple[int, ...]

    @property
    def angle_max(self) -> float:
        return self.angle_min + self.angle_increment * (self.count - 1)

    def ranges(self, per_sensor: np.ndarray) -> np.ndarray:
        """(count,) float32 beam ranges from (S,) per-sensor ranges."""
        ranges = np.full(self.count, np.nan, np.float32)
        ranges[list(self.beams)] = per_sensor
        return ranges


def scan_layout(yaws: Sequence[float], tolerance: float = YAW_TOLERANCE) -> ScanLayout:
    """The coarsest evenly spaced beam grid (from the rightmost sensor, counter-clockwise) that has a
    beam within ``tolerance`` of every sensor's yaw; raises ValueError when sensors share a direction.
    """
    yaws_array = np.asarray(yaws, dtype=np.float64)
    if yaws_array.ndim != 1 or not yaws_array.size or not np.isfinite(yaws_array).all():
        raise ValueError(f'need one finite yaw per sensor, got {list(yaws)}')
    lowest = float(yaws_array.min())
    if yaws_array.size == 1:
        return ScanLayout(lowest, 0.0, 1, (0,))
    smallest_gap = float(np.diff(np.sort(yaws_array)).min())
    if smallest_gap <= 2 * tolerance:
        raise ValueError(f'two sensors point the same way (yaws {list(yaws)} rad): one beam per sensor needs '
                         f'directions more than {math.degrees(2 * tolerance):.1f} deg apart')
    span = float(yaws_array.max()) - lowest
    for divisions in range(1, MAX_BEAMS):
        index = np.round((yaws_array - lowest) / (smallest_gap / divisions))
        if index.max() >= MAX_BEAMS:
            break
        increment = span / index.max()  # the first and last beams exactly on the outermost sensors
        if (np.abs(lowest + index * increment - yaws_array) <= tolerance).all():
            return ScanLayout(lowest, increment, int(index.max()) + 1, tuple(int(i) for i in index))
    raise ValueError(f'sensor yaws {list(yaws)} rad fit no scan of at most {MAX_BEAMS} even beams')


def draw_overlay(image: np.ndarray, probs: np.ndarray, yaws: Sequence[float], threshold: float,
                 alpha: float = 0.4) -> np.ndarray:
    """A copy of RGB ``image`` with the probabilities painted over it, for a person to look at.

    One column per sensor, the leftmost sensor (largest yaw) on the left; one row per distance, the
    nearest at the bottom (further up the image is further ahead); red = obstacle, green = free. The
    nearest cell passing ``threshold`` in each column is outlined in white.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or not image.size:
        raise ValueError(f'expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}')
    probs = np.asarray(probs, dtype=np.float32)
    if probs.ndim != 2 or probs.shape[1] != len(yaws):
        raise ValueError(f'expected probabilities (distances, {len(yaws)}), got {probs.shape}')
    height, width = image.shape[:2]
    rows, columns = probs.shape
    grid = np.nan_to_num(probs[::-1, np.argsort(-np.asarray(yaws), kind='stable')], nan=0.0).clip(0, 1)
    colours = np.stack([grid * 255, (1 - grid) * 255, np.zeros_like(grid)], axis=-1).astype(np.uint8)
    painted = cv2.resize(colours, (width, height), interpolation=cv2.INTER_NEAREST)
    out = cv2.addWeighted(image, 1 - alpha, painted, alpha, 0)
    for column in range(columns):
        hits = np.flatnonzero(grid[:, column] >= threshold)
        if hits.size:
            row = int(hits.max())  # the bottom-most passing cell is the nearest distance
            top_left = (column * width // columns, row * height // rows)
            bottom_right = ((column + 1) * width // columns - 1, (row + 1) * height // rows - 1)
            cv2.rectangle(out, top_left, bottom_right, (255, 255, 255), 1)
    return out


def obstacle_floor_points(nearest: np.ndarray, sensors: Sequence[SensorConfig]) -> tuple[np.ndarray, np.ndarray]:
    """Robot-frame floor points (x, y) of each sensor's nearest obstacle: the label at distance d means the
    sensor fires once the robot has driven d ahead, so the obstacle is its threshold range along the beam from
    the sensor's pose moved d forward (NaN where no obstacle is predicted)."""
    d = np.where(np.isfinite(nearest), nearest, np.nan)
    reach = np.array([s.threshold if s.mode == 'range' else s.max_range for s in sensors])
    yaw = np.array([s.yaw for s in sensors])
    x = d + np.array([s.x for s in sensors]) + reach * np.cos(yaw)
    y = np.array([s.y for s in sensors]) + reach * np.sin(yaw)
    return x, np.where(np.isnan(d), np.nan, y)


def draw_obstacle_points(image: np.ndarray, camera: PinholeCamera, sensors: Sequence[SensorConfig],
                         predicted: np.ndarray, truth: np.ndarray | None = None) -> np.ndarray:
    """A copy of ``image`` with each sensor's predicted nearest obstacle (filled dot) and the ground truth's
    (ring) drawn where they lie on the floor, joined by a line when both are in view: what the robot believes,
    at a glance. ``predicted`` and ``truth`` are nearest distances per sensor (+inf: none)."""
    out = np.ascontiguousarray(image).copy()
    hues = np.array([[[int(180 * i / max(len(sensors), 1)), 220, 255] for i in range(len(sensors))]], np.uint8)
    colours = [tuple(int(c) for c in rgb) for rgb in cv2.cvtColor(hues, cv2.COLOR_HSV2RGB)[0]]
    points = {}
    for name, nearest in (('predicted', predicted), ('truth', truth)):
        if nearest is None:
            continue
        x, y = obstacle_floor_points(np.asarray(nearest, float), sensors)
        u, v, inside = project_floor(camera, np.nan_to_num(x, nan=-1.0), np.nan_to_num(y))
        points[name] = [(round(float(a)), round(float(b))) if ok and not np.isnan(px) else None
                        for a, b, ok, px in zip(u, v, inside, x, strict=True)]
    radius = max(2, image.shape[1] // 60)
    for i, colour in enumerate(colours):
        p = points.get('predicted', [None] * len(sensors))[i]
        t = points.get('truth', [None] * len(sensors))[i]
        if p is not None and t is not None:
            cv2.line(out, p, t, colour, 1, cv2.LINE_AA)
        if t is not None:
            cv2.circle(out, t, radius + 1, (255, 255, 255), 1, cv2.LINE_AA)
            cv2.circle(out, t, radius, colour, 1, cv2.LINE_AA)
        if p is not None:
            cv2.circle(out, p, radius, colour, -1, cv2.LINE_AA)
            cv2.circle(out, p, radius, (0, 0, 0), 1, cv2.LINE_AA)
    return out
