"""Synthetic 2-D drives: a robot wandering among round obstacles, with odometry and range readings.

No rendering and no physics: just enough geometry to exercise the labeler with realistic message
streams (rates, noise, dropouts, reordering) in tests and benchmarks, in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from selfsup_perception.core.config import LabelingConfig
from selfsup_perception.core.labeling import FRAME, ODOMETRY, Recording


@dataclass(frozen=True)
class DriveSpec:
    """Rates (Hz), speeds (m/s, rad/s), the world and the message-stream imperfections."""

    duration: float = 60.0
    camera_rate: float = 10.0
    odom_rate: float = 50.0
    sensor_rate: float = 20.0
    speed: float = 0.15
    turn_rate: float = 0.3
    room: float = 3.0
    obstacles: int = 12
    range_noise: float = 0.003
    dropout: float = 0.0
    reorder_window: float = 0.0


def _ray_hits(
    origin: np.ndarray, angle: np.ndarray, centres: np.ndarray, radii: np.ndarray, room: float
) -> np.ndarray:
    """Distance along each ray (origin (N,2), angle (N,)) to the nearest circle or room wall."""
    direction = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    rel = centres[None, :, :] - origin[:, None, :]
    along = np.einsum('nd,nmd->nm', direction, rel)
    closest = np.sum(rel * rel, axis=2) - along**2
    inside = radii[None, :] ** 2 - closest
    with np.errstate(invalid='ignore'):
        hit = along - np.sqrt(inside)
    hit = np.where((inside >= 0) & (hit >= 0), hit, np.inf)
    half = room / 2
    with np.errstate(divide='ignore', invalid='ignore'):
        wall_x = np.where(direction[:, 0] > 0, half - origin[:, 0], -half - origin[:, 0]) / direction[:, 0]
        wall_y = np.where(direction[:, 1] > 0, half - origin[:, 1], -half - origin[:, 1]) / direction[:, 1]
    walls = np.minimum(np.where(wall_x > 0, wall_x, np.inf), np.where(wall_y > 0, wall_y, np.inf))
    nearest: np.ndarray = np.minimum(hit.min(axis=1), walls)
    return nearest


def synthetic_drive(config: LabelingConfig, spec: DriveSpec, seed: int) -> Recording:
    """Generate a recording in arrival order (frames carry their index as payload)."""
    rng = np.random.default_rng(seed)
    half = spec.room / 2
    centres = rng.uniform(-half + 0.3, half - 0.3, size=(spec.obstacles, 2))
    radii = rng.uniform(0.05, 0.2, size=spec.obstacles)
    dt = 1.0 / spec.odom_rate
    n = int(spec.duration * spec.odom_rate) + 1
    t = np.arange(n) * dt
    # A wander with a smoothly changing turn rate; the robot reflects off the room's walls.
    turn = np.convolve(rng.normal(0, spec.turn_rate, n), np.ones(25) / 5, mode='same')
    x, y, yaw = np.zeros(n), np.zeros(n), np.zeros(n)
    for i in range(1, n):
        yaw[i] = yaw[i - 1] + turn[i] * dt
        x[i] = x[i - 1] + spec.speed * dt * np.cos(yaw[i])
        y[i] = y[i - 1] + spec.speed * dt * np.sin(yaw[i])
        if abs(x[i]) > half - 0.1 or abs(y[i]) > half - 0.1:
            yaw[i] += np.pi
            x[i], y[i] = x[i - 1], y[i - 1]
    events: list[tuple[int, float, tuple[float, ...]]] = [
        (ODOMETRY, t[i], (x[i], y[i], yaw[i])) for i in range(n)
    ]
    frame_t = np.arange(0.0, spec.duration, 1.0 / spec.camera_rate)
    events += [(FRAME, ft, (float(i),)) for i, ft in enumerate(frame_t)]
    sensor_t = np.arange(0.0, spec.duration, 1.0 / spec.sensor_rate)
    px, py = np.interp(sensor_t, t, x), np.interp(sensor_t, t, y)
    pyaw = np.interp(sensor_t, t, yaw)
    for s, sensor in enumerate(config.sensors):
        c, sn = np.cos(pyaw), np.sin(pyaw)
        origin = np.stack([px + c * sensor.x - sn * sensor.y, py + sn * sensor.x + c * sensor.y], axis=1)
        distance = _ray_hits(origin, pyaw + sensor.yaw, centres, radii, spec.room)
        distance = distance + rng.normal(0, spec.range_noise, distance.size)
        value = np.where(distance <= sensor.max_range, np.maximum(distance, 0.0), np.inf)
        keep = rng.random(sensor_t.size) >= spec.dropout
        events += [(2 + s, st, (v,)) for st, v, k in zip(sensor_t, value, keep, strict=True) if k]
    stamps = np.array([e[1] for e in events])
    arrival = stamps + rng.uniform(0, spec.reorder_window, stamps.size) if spec.reorder_window else stamps
    order = np.argsort(arrival, kind='stable')
    return Recording.from_events(events[i] for i in order)
