"""SE(2) geometry for the labeler: angle wrapping, relative poses and odometry interpolation.

All functions are vectorised over numpy arrays; poses are (x, y, yaw) in metres and radians
(REP 103). Interpolation never extrapolates: a time outside the odometry, across a gap longer
than ``max_gap`` or across a teleport (``max_jump``) has no pose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TWO_PI = 2.0 * np.pi


def wrap_angle(angle: np.ndarray | float) -> np.ndarray:
    """Wrap angles to [-pi, pi)."""
    return np.mod(np.asarray(angle, dtype=np.float64) + np.pi, TWO_PI) - np.pi


def relative_pose(origin: tuple[float, float, float], pose: tuple[float, float, float]) -> tuple[float, float, float]:
    """``pose`` in the frame of ``origin`` (origin^-1 * pose), yaw wrapped: SE(2) poses (x, y, yaw)."""
    c, s = math.cos(origin[2]), math.sin(origin[2])
    dx, dy = pose[0] - origin[0], pose[1] - origin[1]
    return c * dx + s * dy, -s * dx + c * dy, float(wrap_angle(pose[2] - origin[2]))


@dataclass(frozen=True)
class PoseSamples:
    """Poses at requested times: ``defined`` is False where no pose exists (then x/y/yaw are NaN).

    ``piece`` numbers the stretches of odometry between teleports; two poses may only be related
    when their pieces are equal.
    """

    x: np.ndarray
    y: np.ndarray
    yaw: np.ndarray
    defined: np.ndarray
    piece: np.ndarray


class OdometryTrack:
    """Odometry samples sorted by time (strictly increasing), with gap and teleport limits."""

    def __init__(
        self,
        t: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        yaw: np.ndarray,
        max_gap: float,
        max_jump: float,
    ) -> None:
        self.t = np.asarray(t, dtype=np.float64)
        self.x = np.asarray(x, dtype=np.float64)
        self.y = np.asarray(y, dtype=np.float64)
        self.yaw = np.asarray(yaw, dtype=np.float64)
        if self.t.size > 1 and not np.all(np.diff(self.t) > 0):
            raise ValueError('odometry times must be strictly increasing')
        step = np.hypot(np.diff(self.x), np.diff(self.y))
        self.jump_after = step > max_jump
        # An interval (i, i+1) can be interpolated if short enough and not a teleport.
        self.interval_ok = (np.diff(self.t) <= max_gap) & ~self.jump_after
        self.sample_piece = np.concatenate(([0], np.cumsum(self.jump_after)))

    def __len__(self) -> int:
        return int(self.t.size)

    def poses_at(self, times: np.ndarray) -> PoseSamples:
        """Interpolate poses at ``times`` (x, y linearly, yaw along the shortest arc)."""
        times = np.asarray(times, dtype=np.float64)
        n = self.t.size
        nan = np.full(times.shape, np.nan)
        if n == 0:
            return PoseSamples(
                nan, nan.copy(), nan.copy(), np.zeros(times.shape, bool), np.zeros(times.shape, np.int64)
            )
        before = np.searchsorted(self.t, times, side='right') - 1  # last sample <= t
        clipped = np.clip(before, 0, n - 1)
        exact = (before >= 0) & (self.t[clipped] == times)
        after = np.minimum(clipped + 1, n - 1)
        inside = (before >= 0) & (before < n - 1)
        interval_ok = np.zeros(times.shape, bool)
        interval_ok[inside] = self.interval_ok[before[inside]]
        defined = exact | interval_ok
        t0 = self.t[clipped]
        span = self.t[after] - t0
        with np.errstate(invalid='ignore', divide='ignore'):
            alpha = np.where(exact | ~defined, 0.0, (times - t0) / np.where(span > 0, span, 1.0))
        x = self.x[clipped] + alpha * (self.x[after] - self.x[clipped])
        y = self.y[clipped] + alpha * (self.y[after] - self.y[clipped])
        yaw = self.yaw[clipped] + alpha * wrap_angle(self.yaw[after] - self.yaw[clipped])
        x[~defined] = np.nan
        y[~defined] = np.nan
        yaw[~defined] = np.nan
        return PoseSamples(x, y, yaw, defined, self.sample_piece[clipped])
