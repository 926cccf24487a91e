"""Test inputs: messages built with a short call each, and drives that survive a trip through messages."""

from __future__ import annotations

from typing import Any

import numpy as np

from selfsup_perception.core.config import LabelingConfig, SensorConfig
from selfsup_perception.core.labeling import ODOMETRY, Recording
from selfsup_perception.rosio import messages as rosmsg
from selfsup_perception.rosio.fields import odometry_pose, stamp_seconds
from selfsup_perception.testing.synthetic import DriveSpec, synthetic_drive


class MessageFactory:
    """rosbags messages (serialise with ``.store.serialize_cdr`` and publish the bytes from rclpy)."""

    def __init__(self) -> None:
        self.kit = rosmsg.rosbags_kit()
        self.store = self.kit.store

    def header(self, stamp: float, frame_id: str) -> Any:
        return rosmsg.header(self.kit, stamp, frame_id)

    def image(self, pixels: np.ndarray, stamp: float, frame_id: str, encoding: str | None = None) -> Any:
        return rosmsg.image_message(self.kit, stamp, frame_id, pixels, encoding)

    def compressed_image(self, rgb: np.ndarray, stamp: float, frame_id: str, quality: int = 90) -> Any:
        return rosmsg.compressed_message(self.kit, stamp, frame_id, rgb, quality)

    def camera_info(self, stamp: float, frame_id: str, width: int, height: int, k: np.ndarray) -> Any:
        return rosmsg.camera_info_message(self.kit, stamp, frame_id, width, height, k)

    def range(self, value: float, stamp: float, sensor: SensorConfig) -> Any:
        return rosmsg.range_message(self.kit, stamp, sensor, value)

    def laser_scan(self, ranges: np.ndarray, stamp: float, frame_id: str, angle_min: float, angle_increment: float,
                   range_max: float) -> Any:
        return rosmsg.laser_scan_message(self.kit, stamp, frame_id, ranges, angle_min, angle_increment, range_max)

    def odometry(self, x: float, y: float, yaw: float, stamp: float) -> Any:
        return rosmsg.odometry_message(self.kit, stamp, x, y, yaw)

    def clock(self, stamp: float) -> Any:
        return rosmsg.clock_message(self.kit, stamp)


def message_exact_drive(config: LabelingConfig, spec: DriveSpec, seed: int) -> Recording:
    """A synthetic drive quantised like messages do it (ns stamps, quaternions, float32 ranges)."""
    recording = synthetic_drive(config, spec, seed)
    factory = MessageFactory()
    stamps = np.array([stamp_seconds(factory.header(t, '')) for t in recording.stamp.tolist()])
    values = recording.values.copy()
    for i in np.flatnonzero(recording.kind == ODOMETRY):
        x, y, yaw = values[i].tolist()
        values[i] = odometry_pose(factory.odometry(x, y, yaw, 0.0))
    readings = recording.kind >= 2
    values[readings, 0] = values[readings, 0].astype(np.float32)
    return Recording(recording.kind, stamps, values)
