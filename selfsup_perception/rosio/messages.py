"""Standard ROS 2 messages built the same way for either binding: ``rosbags`` (bags) or ``rclpy`` (live).

Both bindings construct messages from keyword arguments with the same field names; they differ only
in the message classes and in what they take for variable-length arrays, which ``MessageKit`` holds.
The simulator (bag writer and node), the synthetic bags and the tests' probes all build here.
"""

from __future__ import annotations

import array
import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from selfsup_perception.core.config import SensorConfig
from selfsup_perception.core.images import encode_image, rgb_to_raw

IMAGE = 'sensor_msgs/msg/Image'
COMPRESSED_IMAGE = 'sensor_msgs/msg/CompressedImage'
CAMERA_INFO = 'sensor_msgs/msg/CameraInfo'
RANGE = 'sensor_msgs/msg/Range'
LASER_SCAN = 'sensor_msgs/msg/LaserScan'
ODOMETRY = 'nav_msgs/msg/Odometry'
CLOCK = 'rosgraph_msgs/msg/Clock'
INFRARED = 1  # sensor_msgs/Range radiation_type

#: Every message type built here (a binding must provide all of them).
MESSAGE_TYPES = (
    IMAGE, COMPRESSED_IMAGE, CAMERA_INFO, RANGE, LASER_SCAN, ODOMETRY, CLOCK,
    'builtin_interfaces/msg/Time', 'std_msgs/msg/Header', 'sensor_msgs/msg/RegionOfInterest',
    'geometry_msgs/msg/Point', 'geometry_msgs/msg/Quaternion', 'geometry_msgs/msg/Pose',
    'geometry_msgs/msg/PoseWithCovariance', 'geometry_msgs/msg/Vector3', 'geometry_msgs/msg/Twist',
    'geometry_msgs/msg/TwistWithCovariance',
)


@dataclass(frozen=True)
class MessageKit:
    """One binding's message classes (by ROS type name) and its converters for uint8[], float32[], float64[]."""

    types: Mapping[str, Any]
    uint8_array: Callable[[np.ndarray], Any]
    float32_array: Callable[[np.ndarray], Any]
    float64_array: Callable[[np.ndarray], Any]
    store: Any = None  # the rosbags typestore (serialisation), None for rclpy

    def new(self, typename: str, **fields: Any) -> Any:
        return self.types[typename](**fields)


def rosbags_kit() -> MessageKit:
    """Message classes of the rosbags Jazzy typestore (numpy arrays for array fields)."""
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    return MessageKit(store.types, lambda a: np.asarray(a, np.uint8), lambda a: np.asarray(a, np.float32),
                      lambda a: np.asarray(a, np.float64), store)


def rclpy_kit() -> MessageKit:
    """Message classes of the installed ROS 2 Python packages (``array.array`` for array fields)."""
    types = {}
    for name in MESSAGE_TYPES:
        package, _, message = name.split('/')
        types[name] = getattr(importlib.import_module(f'{package}.msg'), message)
    return MessageKit(
        types,
        lambda a: array.array('B', np.asarray(a, np.uint8).tobytes()),
        lambda a: array.array('f', np.asarray(a, np.float32).tobytes()),
        lambda a: array.array('d', np.asarray(a, np.float64).tobytes()),
    )


def time_message(kit: MessageKit, stamp: float) -> Any:
    """builtin_interfaces/Time of float seconds (rounded to the nanosecond)."""
    nanoseconds = round(stamp * 1e9)
    return kit.new('builtin_interfaces/msg/Time', sec=nanoseconds // 10**9, nanosec=nanoseconds % 10**9)


def header(kit: MessageKit, stamp: float, frame_id: str) -> Any:
    return kit.new('std_msgs/msg/Header', stamp=time_message(kit, stamp), frame_id=frame_id)


def image_message(kit: MessageKit, stamp: float, frame_id: str, pixels: np.ndarray,
                  encoding: str | None = None) -> Any:
    """sensor_msgs/Image: rgb8 for (H, W, 3) arrays, mono8 for (H, W) arrays (or ``encoding``: bgr8)."""
    encoding = encoding or ('mono8' if pixels.ndim == 2 else 'rgb8')
    height, width, step, data = rgb_to_raw(pixels, encoding)
    return kit.new(IMAGE, header=header(kit, stamp, frame_id), height=height, width=width, encoding=encoding,
                   is_bigendian=0, step=step, data=kit.uint8_array(np.frombuffer(data, np.uint8)))


def compressed_message(kit: MessageKit, stamp: float, frame_id: str, rgb: np.ndarray, quality: int = 90) -> Any:
    """sensor_msgs/CompressedImage holding a JPEG of an RGB image."""
    blob = np.frombuffer(encode_image(rgb, 'jpeg', quality), np.uint8)
    return kit.new(COMPRESSED_IMAGE, header=header(kit, stamp, frame_id), format='jpeg',
                   data=kit.uint8_array(blob))


def camera_info_message(kit: MessageKit, stamp: float, frame_id: str, width: int, height: int,
                        camera_matrix: np.ndarray) -> Any:
    """sensor_msgs/CameraInfo of an ideal pinhole camera (no distortion)."""
    matrix = np.asarray(camera_matrix, np.float64).reshape(3, 3)
    roi = kit.new('sensor_msgs/msg/RegionOfInterest', x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    return kit.new(
        CAMERA_INFO, header=header(kit, stamp, frame_id), height=height, width=width, distortion_model='plumb_bob',
        d=kit.float64_array(np.zeros(5)), k=matrix.ravel().copy(), r=np.eye(3).ravel(),
        p=np.hstack([matrix, np.zeros((3, 1))]).ravel(), binning_x=0, binning_y=0, roi=roi,
    )


def range_message(kit: MessageKit, stamp: float, sensor: SensorConfig, value: float, min_range: float = 0.0,
                  field_of_view: float = 0.05, variance: float = 0.0) -> Any:
    """sensor_msgs/Range of a proximity sensor (REP 117: +inf nothing in range, -inf too close)."""
    return kit.new(RANGE, header=header(kit, stamp, f'proximity_{sensor.name}'), radiation_type=INFRARED,
                   field_of_view=field_of_view, min_range=min_range, max_range=sensor.max_range, range=float(value),
                   variance=variance)


def laser_scan_message(kit: MessageKit, stamp: float, frame_id: str, ranges: Sequence[float] | np.ndarray,
                       angle_min: float, angle_increment: float, range_max: float) -> Any:
    """sensor_msgs/LaserScan (e.g. one beam per proximity sensor, Thymio or Gazebo style)."""
    values = np.asarray(ranges, np.float32)
    return kit.new(
        LASER_SCAN, header=header(kit, stamp, frame_id), angle_min=angle_min,
        angle_max=angle_min + angle_increment * max(values.size - 1, 0), angle_increment=angle_increment,
        time_increment=0.0, scan_time=0.0, range_min=0.0, range_max=range_max, ranges=kit.float32_array(values),
        intensities=kit.float32_array(np.zeros(0, np.float32)),
    )


def odometry_message(kit: MessageKit, stamp: float, x: float, y: float, yaw: float, linear: float = 0.0,
                     angular: float = 0.0) -> Any:
    """nav_msgs/Odometry in ``odom`` with child ``base_link``; covariances rough and diagonal."""
    vector = 'geometry_msgs/msg/Vector3'
    pose = kit.new(
        'geometry_msgs/msg/Pose', position=kit.new('geometry_msgs/msg/Point', x=x, y=y, z=0.0),
        orientation=kit.new('geometry_msgs/msg/Quaternion', x=0.0, y=0.0, z=math.sin(yaw / 2), w=math.cos(yaw / 2)),
    )
    twist = kit.new('geometry_msgs/msg/Twist', linear=kit.new(vector, x=linear, y=0.0, z=0.0),
                    angular=kit.new(vector, x=0.0, y=0.0, z=angular))
    covariance = np.diag([1e-4, 1e-4, 1e6, 1e6, 1e6, 4e-4]).ravel()
    return kit.new(
        ODOMETRY, header=header(kit, stamp, 'odom'), child_frame_id='base_link',
        pose=kit.new('geometry_msgs/msg/PoseWithCovariance', pose=pose, covariance=covariance),
        twist=kit.new('geometry_msgs/msg/TwistWithCovariance', twist=twist, covariance=covariance),
    )


def clock_message(kit: MessageKit, stamp: float) -> Any:
    return kit.new(CLOCK, clock=time_message(kit, stamp))
