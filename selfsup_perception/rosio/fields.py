"""Message field extraction shared by the live nodes (rclpy) and bag reading (rosbags).

Both libraries expose ROS messages with the same field names, so these functions take either and
return plain Python/numpy values. No rclpy import: this stays in the ROS-free core. What a
conversion repairs or refuses is counted in a ``FieldCounts`` when one is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from selfsup_perception.core.config import SensorConfig
from selfsup_perception.core.images import ImageError, decode_image, raw_to_rgb

IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')
SENSOR_TYPES = {'range': 'sensor_msgs/msg/Range', 'laser_scan': 'sensor_msgs/msg/LaserScan'}
ODOMETRY_TYPE = 'nav_msgs/msg/Odometry'
QUATERNION_TOLERANCE = 1e-6  # |norm - 1| a quaternion may have before it counts as not unit (float32 drivers)


@dataclass
class FieldCounts:
    """Readings and poses the conversions repaired or refused (for /diagnostics and bag summaries).

    ``normalised_quaternions``: odometry orientations that were not unit quaternions, used normalised;
    ``invalid_quaternions``: zero or non-finite orientations (the pose becomes invalid: yaw NaN);
    ``invalid_readings``: finite ranges outside the message's own [min, max] (read as unknown, NaN).
    """

    normalised_quaternions: int = 0
    invalid_quaternions: int = 0
    invalid_readings: int = 0


def stamp_seconds(header: Any) -> float:
    """builtin_interfaces/Time of a header as float seconds."""
    return float(header.stamp.sec) + float(header.stamp.nanosec) * 1e-9


def yaw_from_quaternion(x: float, y: float, z: float, w: float) -> float:
    """Heading (rotation about z) of a quaternion, in (-pi, pi]."""
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def odometry_pose(msg: Any, counts: FieldCounts | None = None) -> tuple[float, float, float]:
    """(x, y, yaw) of a nav_msgs/Odometry message.

    A quaternion off unit length is normalised first (its yaw would be wrong otherwise); a zero or
    non-finite one gives yaw NaN, which the labelers drop as invalid odometry.
    """
    pose = msg.pose.pose
    q = pose.orientation
    x, y, z, w = float(q.x), float(q.y), float(q.z), float(q.w)
    norm = math.sqrt(x * x + y * y + z * z + w * w)
    if not (math.isfinite(norm) and norm > 1e-9):
        if counts is not None:
            counts.invalid_quaternions += 1
        yaw = math.nan
    else:
        if abs(norm - 1.0) > QUATERNION_TOLERANCE:
            x, y, z, w = x / norm, y / norm, z / norm, w / norm
            if counts is not None:
                counts.normalised_quaternions += 1
        yaw = yaw_from_quaternion(x, y, z, w)
    return float(pose.position.x), float(pose.position.y), yaw


def sensor_value(msg: Any, sensor: SensorConfig, counts: FieldCounts | None = None) -> float:
    """The reading a sensor's message carries: a Range's range, or beam ``index`` of a LaserScan.

    For a LaserScan in intensity mode the beam's intensity; a missing beam is NaN (unknown). A finite
    range outside the message's [min_range, max_range] (LaserScan: range_min, range_max) is invalid
    (REP 117) and read as NaN; +-inf keep their REP 117 meaning. Limits that are no interval are not used.
    """
    if sensor.msg_type == 'range':
        value, low, high = float(msg.range), float(msg.min_range), float(msg.max_range)
    elif sensor.mode == 'intensity':
        values = msg.intensities
        return float(values[sensor.index]) if sensor.index < len(values) else math.nan
    else:
        values = msg.ranges
        value = float(values[sensor.index]) if sensor.index < len(values) else math.nan
        low, high = float(msg.range_min), float(msg.range_max)
    limits = math.isfinite(low) and math.isfinite(high) and 0.0 <= low < high
    if limits and math.isfinite(value) and not low <= value <= high:
        if counts is not None:
            counts.invalid_readings += 1
        return math.nan
    return value


def image_to_rgb(msg: Any, max_pixels: int | None = None) -> np.ndarray:
    """RGB (H, W, 3) uint8 from a sensor_msgs/Image or CompressedImage; raises ``ImageError``.

    With ``max_pixels`` a larger image is refused before decoding (see ``core.images``).
    """
    if hasattr(msg, 'encoding'):
        return raw_to_rgb(
            msg.encoding,
            int(msg.height),
            int(msg.width),
            int(msg.step),
            _as_bytes(msg.data),
            bool(msg.is_bigendian),
            max_pixels,
        )
    if hasattr(msg, 'format'):
        return decode_image(_as_bytes(msg.data), max_pixels=max_pixels)
    raise ImageError(f'not an image message: {type(msg).__name__}')


def _as_bytes(data: Any) -> bytes | bytearray | memoryview:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return data
    if isinstance(data, np.ndarray):
        return memoryview(np.ascontiguousarray(data, dtype=np.uint8))  # type: ignore[arg-type]  # stubs: 3.12+
    return memoryview(data)  # array.array('B') from rclpy
