"""The pixel labels' check on realistic data: self-supervised pixel labels against the simulator's classes.

A simulated run is fed, message by message in publishing order, to the streaming labeler (the node's
driver); every finished frame's pixel labels are compared with the ground-truth segmentation rendered with
that frame. Per band of distance from the robot: precision of the floor labels (true class floor), of the
obstacle labels (true class obstacle or wall) and coverage (share of the true floor pixels labelled floor).
A floor pixel's distance is that of its ground point; an obstacle label's is that of the lowest obstacle
label of its image column (where that face meets the floor); pixels above the horizon fall in the last band.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from selfsup_perception.core.config import LabelingConfig, PixelLabelConfig
from selfsup_perception.core.labeling import LabeledFrame, StreamingLabeler
from selfsup_perception.core.pixel_labels import FLOOR, OBSTACLE, UNKNOWN, PinholeCamera, frame_camera
from selfsup_perception.core.segmentation import ground_points
from selfsup_perception.reports.pixel_labels import pixel_label_sheet
from selfsup_perception.sim.params import SimParams
from selfsup_perception.sim.robot import CAMERA_X
from selfsup_perception.sim.simulation import Simulation
from selfsup_perception.sim.world import FLOOR as TRUE_FLOOR

#: Upper edges (m) of the distance bands; the last band is open.
DEFAULT_BANDS = (0.3, 0.6, 1.0, 1.5)


@dataclass(frozen=True)
class PixelAgreement:
    """Pixel counts per distance band (``edges``: upper band edges, one more band above the last)."""

    edges: tuple[float, ...]
    frames: int
    floor_labels: np.ndarray
    floor_correct: np.ndarray
    obstacle_labels: np.ndarray
    obstacle_correct: np.ndarray
    true_floor: np.ndarray
    true_floor_labelled: np.ndarray

    @staticmethod
    def _ratio(hits: np.ndarray, total: np.ndarray) -> float:
        return float(hits.sum() / total.sum()) if total.sum() else math.nan

    @property
    def floor_precision(self) -> float:
        return self._ratio(self.floor_correct, self.floor_labels)

    @property
    def obstacle_precision(self) -> float:
        return self._ratio(self.obstacle_correct, self.obstacle_labels)

    @property
    def coverage(self) -> float:
        return self._ratio(self.true_floor_labelled, self.true_floor)

    def per_band(self) -> list[dict[str, float | str | int]]:
        """One row per band: its name, precisions, coverage and label counts (NaN where nothing counted)."""
        lows = (0.0, *self.edges)
        highs = (*self.edges, math.inf)
        rows: list[dict[str, float | str | int]] = []
        for i, (low, high) in enumerate(zip(lows, highs, strict=True)):
            band = f'{low:.1f}-{high:.1f} m' if math.isfinite(high) else f'>= {low:.1f} m'
            rows.append({
                'band': band,
                'floor_precision': self._ratio(self.floor_correct[i : i + 1], self.floor_labels[i : i + 1]),
                'floor_labels': int(self.floor_labels[i]),
                'obstacle_precision': self._ratio(self.obstacle_correct[i : i + 1], self.obstacle_labels[i : i + 1]),
                'obstacle_labels': int(self.obstacle_labels[i]),
                'coverage': self._ratio(self.true_floor_labelled[i : i + 1], self.true_floor[i : i + 1]),
            })
        return rows


def pixel_agreement(
    pairs: Iterable[tuple[np.ndarray, np.ndarray]], camera: PinholeCamera, edges: Sequence[float] = DEFAULT_BANDS
) -> PixelAgreement:
    """Compare (pixel labels, true classes) pairs of one camera; classes 0 floor, 1 obstacle, 2 wall."""
    edges = tuple(float(e) for e in edges)
    if list(edges) != sorted(set(edges)) or not edges or edges[0] <= 0:
        raise ValueError(f'band edges must be positive and strictly increasing, got {edges}')
    shape = (camera.height, camera.width)
    v, u = np.mgrid[0 : camera.height, 0 : camera.width].astype(np.float64)
    gx, gy = ground_points(np.reshape(camera.matrix, (3, 3)), camera.mount, u, v)
    ground = np.where(np.isnan(gx), np.inf, np.hypot(gx, gy))
    band_of_pixel = np.searchsorted(edges, ground, side='right')
    n_bands = len(edges) + 1
    counts = {name: np.zeros(n_bands, np.int64) for name in
              ('floor_labels', 'floor_correct', 'obstacle_labels', 'obstacle_correct', 'true_floor',
               'true_floor_labelled')}
    frames = 0
    rows = np.arange(camera.height)[:, None]
    for labels, truth in pairs:
        if labels.shape != shape or truth.shape != shape:
            raise ValueError(f'labels {labels.shape} and truth {truth.shape} must both be {shape}')
        frames += 1
        floor, obstacle = labels == FLOOR, labels == OBSTACLE
        true_floor = truth == TRUE_FLOOR
        # An obstacle label's band: that of the lowest obstacle label in its column.
        lowest = np.where(obstacle, rows, -1).max(axis=0)
        column_band = band_of_pixel[np.maximum(lowest, 0), np.arange(camera.width)]
        obstacle_band = np.broadcast_to(column_band[None, :], shape)
        for name, mask, bands in (
            ('floor_labels', floor, band_of_pixel),
            ('floor_correct', floor & true_floor, band_of_pixel),
            ('obstacle_labels', obstacle, obstacle_band),
            ('obstacle_correct', obstacle & ~true_floor, obstacle_band),
            ('true_floor', true_floor, band_of_pixel),
            ('true_floor_labelled', true_floor & floor, band_of_pixel),
        ):
            counts[name] += np.bincount(bands[mask], minlength=n_bands)
    return PixelAgreement(edges=edges, frames=frames, **counts)


def simulated_camera(params: SimParams, pixels: PixelLabelConfig) -> PinholeCamera:
    """The simulator's camera: its intrinsics (as its camera_info) and its real mounting."""
    mounted = dataclasses.replace(pixels, camera_hfov=params.camera_hfov, camera_tilt=params.camera_tilt,
                                  camera_mount_height=params.camera_mount_height, camera_mount_x=CAMERA_X)
    return frame_camera(mounted, params.camera_height, params.camera_width)


@dataclass(frozen=True)
class SimulatedFrame:
    """A simulated camera frame with its self-supervised pixel labels and true classes (same size)."""

    stamp: float
    image: np.ndarray
    labels: np.ndarray
    truth: np.ndarray


def simulated_pixel_labels(
    params: SimParams, seconds: float, config: LabelingConfig, pixels: PixelLabelConfig
) -> Iterator[SimulatedFrame]:
    """Every frame of a run with its pixel labels, made by the streaming labeler (the node's driver) as the
    messages come, in the order the simulator publishes them."""
    camera = simulated_camera(params, pixels)
    labeler = StreamingLabeler(config, pixels=pixels)
    pending: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def finished(frames: list[LabeledFrame]) -> Iterator[SimulatedFrame]:
        for done in frames:
            image, truth = pending.pop(done.payload)
            assert done.pixel_labels is not None  # every frame has the camera
            yield SimulatedFrame(done.stamp, image, done.pixel_labels, truth)

    frame = 0
    with Simulation(params, config) as simulation:
        while (output := simulation.step()).stamp <= seconds + 1e-9:
            stamp = output.stamp
            if output.odometry is not None:
                labeler.add_odometry(stamp, output.odometry.x, output.odometry.y, output.odometry.yaw)
            if output.ranges is not None:
                for index, value in enumerate(output.ranges):
                    labeler.add_reading(index, stamp, float(value))
            if output.camera is not None:
                pending[frame] = (output.camera.image, output.camera.segmentation)
                labeler.add_frame(stamp, frame, camera)
                frame += 1
            yield from finished(labeler.pop_finished())
    yield from finished(labeler.flush())


def measure_pixel_labels(
    seed: int,
    seconds: float,
    config: LabelingConfig,
    pixels: PixelLabelConfig,
    edges: Sequence[float] = DEFAULT_BANDS,
    **overrides: object,
) -> PixelAgreement:
    """Simulate ``seconds`` s of world ``seed`` (other ``SimParams`` in ``overrides``) and score its labels."""
    params = SimParams(seed=seed, **overrides)  # type: ignore[arg-type]
    frames = simulated_pixel_labels(params, seconds, config, pixels)
    return pixel_agreement(((f.labels, f.truth) for f in frames), simulated_camera(params, pixels), edges)


def pixel_label_example(
    seed: int,
    seconds: float,
    config: LabelingConfig,
    pixels: PixelLabelConfig,
    count: int = 4,
    columns: int = 2,
    scale: int = 2,
) -> np.ndarray:
    """A picture (RGB) of ``count`` frames of a run with their pixel labels beside the true classes: frames
    evenly spread over those that got both floor and obstacle labels (else over those with any label)."""
    frames = [f for f in simulated_pixel_labels(SimParams(seed=seed), seconds, config, pixels)
              if (f.labels != UNKNOWN).any()]
    both = [f for f in frames if (f.labels == FLOOR).any() and (f.labels == OBSTACLE).any()]
    pool = both if len(both) >= count else frames
    if not pool:
        raise ValueError(f'world {seed}: no frame got pixel labels in {seconds:g} s')
    chosen = [pool[int(i)] for i in np.linspace(0, len(pool) - 1, min(count, len(pool))).round()]
    return pixel_label_sheet([f.image for f in chosen], [f.labels for f in chosen], [f.truth for f in chosen],
                             [f'world {seed}, t = {f.stamp:.1f} s' for f in chosen], columns=columns, scale=scale)
