from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfsup_perception.core.config import SensorConfig
from selfsup_perception.core.images import ImageError
from selfsup_perception.rosio.fields import (
    image_to_rgb,
    odometry_pose,
    sensor_value,
    stamp_seconds,
    yaw_from_quaternion,
)
from selfsup_perception.testing.drives import MessageFactory

FACTORY = MessageFactory()


@given(st.floats(-math.pi + 1e-9, math.pi), st.floats(-50, 50), st.floats(-50, 50))
def test_odometry_pose_roundtrip(yaw, x, y):
    px, py, pyaw = odometry_pose(FACTORY.odometry(x, y, yaw, 0.0))
    assert (px, py) == (x, y)
    assert math.isclose(math.cos(pyaw), math.cos(yaw), abs_tol=1e-9)
    assert math.isclose(math.sin(pyaw), math.sin(yaw), abs_tol=1e-9)


@settings(max_examples=100)
@given(st.floats(0, 2e9, allow_nan=False))
def test_stamp_roundtrip_to_nanoseconds(stamp):
    header = FACTORY.header(stamp, 'x')
    assert 0 <= header.stamp.nanosec < 1_000_000_000
    assert abs(stamp_seconds(header) - stamp) < 1e-9 * max(1.0, stamp) + 1e-9


def test_yaw_of_identity_and_quarter_turn():
    assert yaw_from_quaternion(0, 0, 0, 1) == 0.0
    assert yaw_from_quaternion(0, 0, math.sin(math.pi / 4), math.cos(math.pi / 4)) == pytest.approx(math.pi / 2)


@given(st.floats(allow_nan=True, allow_infinity=True, width=32))
def test_range_and_laser_values(value):
    sensor = SensorConfig(name='s', topic='/s', threshold=0.1, max_range=0.12)
    got = sensor_value(FACTORY.range(value, 0.0, sensor), sensor)
    assert (math.isnan(got) and math.isnan(value)) or got == value
    laser = dataclasses.replace(sensor, msg_type='laser_scan', index=2)
    scan = FACTORY.laser_scan(np.array([0.5, 0.6, value, 0.7]), 0.0, 'l', 0.0, 0.1, 1.0)
    got = sensor_value(scan, laser)
    assert (math.isnan(got) and math.isnan(value)) or got == np.float32(value)
    short = FACTORY.laser_scan(np.array([0.5]), 0.0, 'l', 0.0, 0.1, 1.0)
    assert math.isnan(sensor_value(short, laser))


def test_image_messages_to_rgb():
    image = np.random.default_rng(1).integers(0, 255, (6, 8, 3), dtype=np.uint8)
    np.testing.assert_array_equal(image_to_rgb(FACTORY.image(image, 0.0, 'c')), image)
    np.testing.assert_array_equal(image_to_rgb(FACTORY.image(image, 0.0, 'c', encoding='bgr8')), image)
    assert image_to_rgb(FACTORY.compressed_image(image, 0.0, 'c')).shape == (6, 8, 3)
    with pytest.raises(ImageError, match='not an image'):
        image_to_rgb(FACTORY.clock(0.0))
