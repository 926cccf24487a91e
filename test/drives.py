"""Synthetic drives for tests whose values survive a trip through ROS messages exactly."""

from __future__ import annotations

import numpy as np

from selfsup_perception.bagio import MessageFactory
from selfsup_perception.core.config import LabelingConfig
from selfsup_perception.core.labeling import ODOMETRY, Recording
from selfsup_perception.core.messages import odometry_pose, stamp_seconds
from selfsup_perception.core.synthetic import DriveSpec, synthetic_drive


def message_exact_drive(config: LabelingConfig, spec: DriveSpec, seed: int) -> Recording:
    """A synthetic drive quantised like messages do it (ns stamps, quaternions, float32 ranges)."""
    recording = synthetic_drive(config, spec, seed)
    factory = MessageFactory()
    stamps = np.array([stamp_seconds(factory.header(t, '')) for t in recording.stamp.tolist()])
    values = recording.values.copy()
    for i in np.flatnonzero(recording.kind == ODOMETRY):
        values[i] = odometry_pose(factory.odometry(*values[i].tolist(), 0.0))
    readings = recording.kind >= 2
    values[readings, 0] = values[readings, 0].astype(np.float32)
    return Recording(recording.kind, stamps, values)
