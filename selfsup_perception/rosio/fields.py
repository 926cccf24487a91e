"""Message field extraction shared by the live nodes (rclpy) and bag reading (rosbags).

Both libraries expose ROS messages with the same field names, so these functions take either and
return plain Python/numpy values. No rclpy import: this stays in the ROS-free core.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from selfsup_perception.core.config import SensorConfig
from selfsup_perception.core.images import ImageError, decode_image, raw_to_rgb

IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')
SENSOR_TYPES = {'range': 'sensor_msgs/msg/Range', 'laser_scan': 'sensor_msgs/msg/LaserScan'}
ODOMETRY_TYPE = 'nav_msgs/msg/Odometry'


def stamp_seconds(header: Any) -> float:
    """builtin_interfaces/Time of a header as float seconds."""
    return float(header.stamp.sec) + float(header.stamp.nanosec) * 1e-9


def yaw_from_quaternion(x: float, y: float, z: float, w: float) -> float:
    """Heading (rotation about z) of a quaternion, in (-pi, pi]."""
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def odometry_pose(msg: Any) -> tuple[float, float, float]:
    """(x, y, yaw) of a nav_msgs/Odometry message."""
    pose = msg.pose.pose
    q = pose.orientation
    return float(pose.position.x), float(pose.position.y), yaw_from_quaternion(q.x, q.y, q.z, q.w)


def sensor_value(msg: Any, sensor: SensorConfig) -> float:
    """The reading a sensor's message carries: a Range's range, or beam ``index`` of a LaserScan.

    For a LaserScan in intensity mode the beam's intensity; a missing beam is NaN (unknown).
    """
    if sensor.msg_type == 'range':
        return float(msg.range)
    values = msg.intensities if sensor.mode == 'intensity' else msg.ranges
    return float(values[sensor.index]) if sensor.index < len(values) else math.nan


def image_to_rgb(msg: Any) -> np.ndarray:
    """RGB (H, W, 3) uint8 from a sensor_msgs/Image or CompressedImage; raises ``ImageError``."""
    if hasattr(msg, 'encoding'):
        return raw_to_rgb(
            msg.encoding,
            int(msg.height),
            int(msg.width),
            int(msg.step),
            _as_bytes(msg.data),
            bool(msg.is_bigendian),
        )
    if hasattr(msg, 'format'):
        return decode_image(_as_bytes(msg.data))
    raise ImageError(f'not an image message: {type(msg).__name__}')


def _as_bytes(data: Any) -> bytes | memoryview:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return data
    if isinstance(data, np.ndarray):
        return memoryview(np.ascontiguousarray(data, dtype=np.uint8))
    return memoryview(data)  # array.array('B') from rclpy
