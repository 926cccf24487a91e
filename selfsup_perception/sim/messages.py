"""Simulator outputs as standard ROS 2 messages, for both the bag writer (rosbags) and the node (rclpy).

Both bindings build messages from keyword arguments with the same field names; they differ only in
the message classes and in what they take for variable-length arrays, which :class:`MessageKit` holds.
Topics and layouts are documented in :mod:`selfsup_perception.sim.bagwriter`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from selfsup_perception.sim.robot import MIN_RANGE
from selfsup_perception.sim.simulation import SimOutput, Simulation

IMAGE_TOPIC = '/camera/image_raw'
COMPRESSED_TOPIC = '/camera/image_raw/compressed'
CAMERA_INFO_TOPIC = '/camera/camera_info'
ODOM_TOPIC = '/odom'
CLOCK_TOPIC = '/clock'
OBSTACLES_TOPIC = '/ground_truth/obstacles'
SEGMENTATION_TOPIC = '/ground_truth/segmentation'
CAMERA_FRAME = 'camera_optical_frame'
BASE_FRAME = 'base_link'
ODOM_FRAME = 'odom'
JPEG_QUALITY = 90
#: Beam width reported in sensor_msgs/Range (the simulated beams are single rays).
PROXIMITY_FOV = 0.05
_INFRARED = 1
_SENSOR_TYPES = {
    'image': 'sensor_msgs/msg/Image',
    'compressed': 'sensor_msgs/msg/CompressedImage',
    'camera_info': 'sensor_msgs/msg/CameraInfo',
    'range': 'sensor_msgs/msg/Range',
    'odometry': 'nav_msgs/msg/Odometry',
    'clock': 'rosgraph_msgs/msg/Clock',
}

#: Every message type the simulator builds (a binding must provide all of them).
MESSAGE_TYPES = (
    *_SENSOR_TYPES.values(),
    'builtin_interfaces/msg/Time',
    'std_msgs/msg/Header',
    'sensor_msgs/msg/RegionOfInterest',
    'geometry_msgs/msg/Point',
    'geometry_msgs/msg/Quaternion',
    'geometry_msgs/msg/Pose',
    'geometry_msgs/msg/PoseWithCovariance',
    'geometry_msgs/msg/Vector3',
    'geometry_msgs/msg/Twist',
    'geometry_msgs/msg/TwistWithCovariance',
)


@dataclass(frozen=True)
class MessageKit:
    """One binding's message classes (by ROS type name) and its converters for uint8[] and float64[]."""

    types: Mapping[str, Any]
    uint8_array: Callable[[np.ndarray], Any]
    float64_array: Callable[[np.ndarray], Any]

    def new(self, typename: str, **fields: Any) -> Any:
        return self.types[typename](**fields)


def topic_types(simulation: Simulation, compressed: bool) -> dict[str, str]:
    """Every topic the simulator publishes and its message type."""
    return {
        COMPRESSED_TOPIC if compressed else IMAGE_TOPIC: _SENSOR_TYPES[
            'compressed' if compressed else 'image'
        ],
        CAMERA_INFO_TOPIC: _SENSOR_TYPES['camera_info'],
        **{sensor.topic: _SENSOR_TYPES['range'] for sensor in simulation.sensors},
        ODOM_TOPIC: _SENSOR_TYPES['odometry'],
        CLOCK_TOPIC: _SENSOR_TYPES['clock'],
        OBSTACLES_TOPIC: _SENSOR_TYPES['image'],
        SEGMENTATION_TOPIC: _SENSOR_TYPES['image'],
    }


def _time(kit: MessageKit, stamp: float) -> Any:
    nanoseconds = round(stamp * 1e9)
    return kit.new('builtin_interfaces/msg/Time', sec=nanoseconds // 10**9, nanosec=nanoseconds % 10**9)


def _header(kit: MessageKit, stamp: float, frame_id: str) -> Any:
    return kit.new('std_msgs/msg/Header', stamp=_time(kit, stamp), frame_id=frame_id)


def image_message(kit: MessageKit, stamp: float, frame_id: str, array: np.ndarray) -> Any:
    """sensor_msgs/Image: rgb8 for (H, W, 3) arrays, mono8 for (H, W) arrays."""
    channels = 1 if array.ndim == 2 else array.shape[2]
    return kit.new(
        _SENSOR_TYPES['image'],
        header=_header(kit, stamp, frame_id),
        height=array.shape[0],
        width=array.shape[1],
        encoding='mono8' if channels == 1 else 'rgb8',
        is_bigendian=0,
        step=array.shape[1] * channels,
        data=kit.uint8_array(np.ascontiguousarray(array).ravel()),
    )


def compressed_message(kit: MessageKit, stamp: float, frame_id: str, rgb: np.ndarray) -> Any:
    """sensor_msgs/CompressedImage holding a JPEG of an RGB image."""
    ok, encoded = cv2.imencode(
        '.jpg', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    if not ok:
        raise RuntimeError('JPEG encoding of a camera frame failed')
    return kit.new(
        _SENSOR_TYPES['compressed'],
        header=_header(kit, stamp, frame_id),
        format='jpeg',
        data=kit.uint8_array(encoded.ravel()),
    )


def camera_info_message(kit: MessageKit, stamp: float, simulation: Simulation) -> Any:
    """sensor_msgs/CameraInfo of the ideal pinhole camera (no distortion)."""
    matrix = simulation.camera_matrix
    projection = np.hstack([matrix, np.zeros((3, 1))])
    roi = kit.new(
        'sensor_msgs/msg/RegionOfInterest', x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
    )
    return kit.new(
        _SENSOR_TYPES['camera_info'],
        header=_header(kit, stamp, CAMERA_FRAME),
        height=simulation.params.camera_height,
        width=simulation.params.camera_width,
        distortion_model='plumb_bob',
        d=kit.float64_array(np.zeros(5)),
        k=matrix.ravel().copy(),
        r=np.eye(3).ravel(),
        p=projection.ravel(),
        binning_x=0,
        binning_y=0,
        roi=roi,
    )


def range_message(
    kit: MessageKit, stamp: float, name: str, max_range: float, value: float, noise: float
) -> Any:
    """sensor_msgs/Range (REP 117: +inf nothing in range, -inf closer than min_range)."""
    return kit.new(
        _SENSOR_TYPES['range'],
        header=_header(kit, stamp, f'proximity_{name}'),
        radiation_type=_INFRARED,
        field_of_view=PROXIMITY_FOV,
        min_range=MIN_RANGE,
        max_range=max_range,
        range=float(value),
        variance=noise**2,
    )


def odometry_message(
    kit: MessageKit, stamp: float, x: float, y: float, yaw: float, linear: float, angular: float
) -> Any:
    """nav_msgs/Odometry in ``odom`` with child ``base_link``; covariances are rough, diagonal."""
    vector = 'geometry_msgs/msg/Vector3'
    pose = kit.new(
        'geometry_msgs/msg/Pose',
        position=kit.new('geometry_msgs/msg/Point', x=x, y=y, z=0.0),
        orientation=kit.new(
            'geometry_msgs/msg/Quaternion', x=0.0, y=0.0, z=math.sin(yaw / 2), w=math.cos(yaw / 2)
        ),
    )
    twist = kit.new(
        'geometry_msgs/msg/Twist',
        linear=kit.new(vector, x=linear, y=0.0, z=0.0),
        angular=kit.new(vector, x=0.0, y=0.0, z=angular),
    )
    pose_covariance = np.diag([1e-4, 1e-4, 1e6, 1e6, 1e6, 4e-4]).ravel()
    twist_covariance = np.diag([1e-4, 1e-4, 1e6, 1e6, 1e6, 4e-4]).ravel()
    return kit.new(
        _SENSOR_TYPES['odometry'],
        header=_header(kit, stamp, ODOM_FRAME),
        child_frame_id=BASE_FRAME,
        pose=kit.new('geometry_msgs/msg/PoseWithCovariance', pose=pose, covariance=pose_covariance),
        twist=kit.new('geometry_msgs/msg/TwistWithCovariance', twist=twist, covariance=twist_covariance),
    )


def output_messages(
    kit: MessageKit, simulation: Simulation, output: SimOutput, compressed: bool
) -> list[tuple[str, Any]]:
    """(topic, message) pairs for everything in one ``Simulation.step()`` output, in publishing order."""
    stamp = output.stamp
    messages: list[tuple[str, Any]] = []
    if output.clock:
        messages.append((CLOCK_TOPIC, kit.new(_SENSOR_TYPES['clock'], clock=_time(kit, stamp))))
    if output.odometry is not None:
        sample = output.odometry
        messages.append(
            (
                ODOM_TOPIC,
                odometry_message(kit, stamp, sample.x, sample.y, sample.yaw, sample.linear, sample.angular),
            )
        )
    if output.ranges is not None:
        noise = simulation.params.proximity_noise
        for sensor, value in zip(simulation.sensors, output.ranges, strict=True):
            messages.append(
                (sensor.topic, range_message(kit, stamp, sensor.name, sensor.max_range, value, noise))
            )
    if output.camera is not None:
        frame = output.camera
        if compressed:
            messages.append((COMPRESSED_TOPIC, compressed_message(kit, stamp, CAMERA_FRAME, frame.image)))
        else:
            messages.append((IMAGE_TOPIC, image_message(kit, stamp, CAMERA_FRAME, frame.image)))
        messages.append((CAMERA_INFO_TOPIC, camera_info_message(kit, stamp, simulation)))
        messages.append((OBSTACLES_TOPIC, image_message(kit, stamp, BASE_FRAME, frame.obstacles)))
        messages.append((SEGMENTATION_TOPIC, image_message(kit, stamp, CAMERA_FRAME, frame.segmentation)))
    return messages
