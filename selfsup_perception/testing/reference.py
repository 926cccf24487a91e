"""A direct, per-frame transcription of the labeling rule in plain Python.

It scans every later reading for every frame and distance, like the published reference code,
but with this project's rule (wrapped yaw, tolerances, earliest accepted reading). It is the
oracle the vectorised ``label_frames`` is tested against and the baseline it is benchmarked
against; it is far too slow for real use.
"""

from __future__ import annotations

import bisect
import itertools
import math

import numpy as np

from selfsup_perception.core.config import LabelingConfig
from selfsup_perception.core.labeling import UNKNOWN


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


class _Odometry:
    """Odometry (t, x, y, yaw) sorted by time with unique stamps; pose look-up by bisection."""

    def __init__(self, samples: list[tuple[float, float, float, float]], config: LabelingConfig) -> None:
        self.samples = samples
        self.t = [s[0] for s in samples]
        self.config = config
        self.piece = [0]
        for prev, cur in itertools.pairwise(samples):
            jump = math.hypot(cur[1] - prev[1], cur[2] - prev[2]) > config.max_odom_jump
            self.piece.append(self.piece[-1] + int(jump))

    def pose_at(self, t: float) -> tuple[float, float, float, int] | None:
        """Pose and teleport piece at time t, or None where undefined."""
        i = bisect.bisect_right(self.t, t) - 1
        if i < 0:
            return None
        ti, xi, yi, yawi = self.samples[i]
        if ti == t:
            return xi, yi, yawi, self.piece[i]
        if i + 1 >= len(self.samples):
            return None
        tn, xn, yn, yawn = self.samples[i + 1]
        if tn - ti > self.config.max_odom_gap or self.piece[i + 1] != self.piece[i]:
            return None
        a = (t - ti) / (tn - ti)
        return xi + a * (xn - xi), yi + a * (yn - yi), yawi + a * _wrap(yawn - yawi), self.piece[i]


def reference_labels(
    frame_t: list[float],
    odom: list[tuple[float, float, float, float]],
    readings: list[tuple[float, int, int]],
    config: LabelingConfig,
) -> np.ndarray:
    """Labels (F, K, S) for frames, odometry (t, x, y, yaw) and time-sorted (t, sensor, label)."""
    out = np.full((len(frame_t), len(config.distances), len(config.sensors)), UNKNOWN, np.int8)
    track = _Odometry(odom, config)
    for f, tf in enumerate(frame_t):
        pf = track.pose_at(tf)
        if pf is None:
            continue
        for k, d in enumerate(config.distances):
            for s in range(len(config.sensors)):
                for tr, sensor, label in readings:
                    if sensor != s or not tf - config.sync_tolerance <= tr <= tf + config.horizon:
                        continue
                    pr = track.pose_at(tr)
                    if pr is None or pr[3] != pf[3]:
                        continue
                    dx, dy = pr[0] - pf[0], pr[1] - pf[1]
                    c, sn = math.cos(pf[2]), math.sin(pf[2])
                    qx, qy = c * dx + sn * dy, c * dy - sn * dx
                    if (
                        abs(qx - d) < config.tolerance_forward
                        and abs(qy) < config.tolerance_lateral
                        and abs(_wrap(pr[2] - pf[2])) < config.tolerance_heading
                    ):
                        out[f, k, s] = label
                        break
    return out
