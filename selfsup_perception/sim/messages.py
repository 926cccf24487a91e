"""Simulator outputs as (topic, message) pairs, for the bag writer (rosbags) and the node (rclpy) alike.

Messages are built by :mod:`selfsup_perception.rosio.messages` with the binding's ``MessageKit``. Topics and
layouts are documented in :mod:`selfsup_perception.sim.bagwriter`.
"""

from __future__ import annotations

from typing import Any

from selfsup_perception.rosio.messages import (
    CAMERA_INFO,
    CLOCK,
    COMPRESSED_IMAGE,
    IMAGE,
    ODOMETRY,
    RANGE,
    MessageKit,
    camera_info_message,
    clock_message,
    compressed_message,
    image_message,
    odometry_message,
    range_message,
)
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
JPEG_QUALITY = 90
#: Beam width reported in sensor_msgs/Range (the simulated beams are single rays).
PROXIMITY_FOV = 0.05


def topic_types(simulation: Simulation, compressed: bool) -> dict[str, str]:
    """Every topic the simulator publishes and its message type."""
    return {
        COMPRESSED_TOPIC if compressed else IMAGE_TOPIC: COMPRESSED_IMAGE if compressed else IMAGE,
        CAMERA_INFO_TOPIC: CAMERA_INFO,
        **{sensor.topic: RANGE for sensor in simulation.sensors},
        ODOM_TOPIC: ODOMETRY,
        CLOCK_TOPIC: CLOCK,
        OBSTACLES_TOPIC: IMAGE,
        SEGMENTATION_TOPIC: IMAGE,
    }


def output_messages(
    kit: MessageKit, simulation: Simulation, output: SimOutput, compressed: bool
) -> list[tuple[str, Any]]:
    """(topic, message) pairs for everything in one ``Simulation.step()`` output, in publishing order."""
    stamp = output.stamp
    messages: list[tuple[str, Any]] = []
    if output.clock:
        messages.append((CLOCK_TOPIC, clock_message(kit, stamp)))
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
                (sensor.topic, range_message(kit, stamp, sensor, value, MIN_RANGE, PROXIMITY_FOV, noise**2))
            )
    if output.camera is not None:
        frame = output.camera
        if compressed:
            messages.append((COMPRESSED_TOPIC, compressed_message(kit, stamp, CAMERA_FRAME, frame.image, JPEG_QUALITY)))
        else:
            messages.append((IMAGE_TOPIC, image_message(kit, stamp, CAMERA_FRAME, frame.image)))
        params = simulation.params
        messages.append((CAMERA_INFO_TOPIC, camera_info_message(kit, stamp, CAMERA_FRAME, params.camera_width,
                                                                params.camera_height, simulation.camera_matrix)))
        messages.append((OBSTACLES_TOPIC, image_message(kit, stamp, BASE_FRAME, frame.obstacles)))
        messages.append((SEGMENTATION_TOPIC, image_message(kit, stamp, CAMERA_FRAME, frame.segmentation)))
    return messages
