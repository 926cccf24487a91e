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
    FieldCounts,
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
    """A reading within the message's limits, +-inf (REP 117) or NaN passes; a finite one outside is NaN, counted."""
    sensor = SensorConfig(name='s', topic='/s', threshold=0.1, max_range=0.12)
    inside = not math.isfinite(value) or 0.0 <= value <= np.float32(0.12)
    expected = value if inside else math.nan
    counts = FieldCounts()
    got = sensor_value(FACTORY.range(value, 0.0, sensor), sensor, counts)
    assert (math.isnan(got) and math.isnan(expected)) or got == expected
    laser = dataclasses.replace(sensor, msg_type='laser_scan', index=2)
    scan = FACTORY.laser_scan(np.array([0.5, 0.6, value, 0.7]), 0.0, 'l', 0.0, 0.1, 1.0)
    inside_scan = not math.isfinite(value) or 0.0 <= np.float32(value) <= 1.0
    expected = np.float32(value) if inside_scan else math.nan
    got = sensor_value(scan, laser, counts)
    assert (math.isnan(got) and math.isnan(expected)) or got == expected
    assert counts.invalid_readings == (not inside) + (not inside_scan)
    short = FACTORY.laser_scan(np.array([0.5]), 0.0, 'l', 0.0, 0.1, 1.0)
    assert math.isnan(sensor_value(short, laser))


def test_readings_outside_the_message_limits_are_invalid():
    sensor = SensorConfig(name='s', topic='/s', threshold=0.1, max_range=0.12)
    counts = FieldCounts()
    msg = FACTORY.range(0.05, 0.0, sensor)
    msg.min_range = 0.02
    for value, expected in ((0.05, 0.05), (0.01, math.nan), (0.5, math.nan), (-math.inf, -math.inf),
                            (math.inf, math.inf)):
        msg.range = value
        got = sensor_value(msg, sensor, counts)
        assert got == expected or (math.isnan(got) and math.isnan(expected))
    assert counts.invalid_readings == 2
    msg.min_range, msg.max_range, msg.range = 0.0, 0.0, 0.5  # limits that are no interval are not used
    assert sensor_value(msg, sensor, counts) == 0.5
    intensity = dataclasses.replace(sensor, msg_type='laser_scan', mode='intensity')
    scan = FACTORY.laser_scan(np.array([0.5]), 0.0, 'l', 0.0, 0.1, 1.0)
    scan.intensities = np.array([4000.0], np.float32)  # intensities have no range limits
    assert sensor_value(scan, intensity, counts) == 4000.0
    assert counts.invalid_readings == 2


@given(st.floats(0.01, 100.0), st.floats(-math.pi + 1e-6, math.pi - 1e-6))
def test_non_unit_quaternions_are_normalised_and_counted(scale, yaw):
    msg = FACTORY.odometry(1.0, 2.0, yaw, 0.0)
    q = msg.pose.pose.orientation
    q.z, q.w = q.z * scale, q.w * scale
    counts = FieldCounts()
    x, y, got = odometry_pose(msg, counts)
    assert (x, y) == (1.0, 2.0)
    assert math.isclose(math.cos(got), math.cos(yaw), abs_tol=1e-9)
    assert math.isclose(math.sin(got), math.sin(yaw), abs_tol=1e-9)
    assert counts.normalised_quaternions == (abs(scale - 1.0) > 1e-6)


def test_zero_or_nan_quaternions_make_the_pose_invalid():
    counts = FieldCounts()
    for values in ((0.0, 0.0, 0.0, 0.0), (0.0, 0.0, math.nan, 1.0)):
        msg = FACTORY.odometry(1.0, 2.0, 0.0, 0.0)
        q = msg.pose.pose.orientation
        q.x, q.y, q.z, q.w = values
        assert math.isnan(odometry_pose(msg, counts)[2])
    assert (counts.invalid_quaternions, counts.normalised_quaternions) == (2, 0)


def test_image_messages_to_rgb():
    image = np.random.default_rng(1).integers(0, 255, (6, 8, 3), dtype=np.uint8)
    np.testing.assert_array_equal(image_to_rgb(FACTORY.image(image, 0.0, 'c')), image)
    np.testing.assert_array_equal(image_to_rgb(FACTORY.image(image, 0.0, 'c', encoding='bgr8')), image)
    assert image_to_rgb(FACTORY.compressed_image(image, 0.0, 'c')).shape == (6, 8, 3)
    with pytest.raises(ImageError, match='not an image'):
        image_to_rgb(FACTORY.clock(0.0))
