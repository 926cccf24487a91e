"""Probabilities -> nearest obstacle per sensor, scan beam layout, and the overlay drawing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from selfsup_perception.core.obstacles import draw_overlay, nearest_obstacles, scan_layout

DISTANCES = (0.0, 0.25, 0.5, 0.75)
ROBOT_YAWS = (0.6981, 0.3491, 0.0, -0.3491, -0.6981)  # left .. right, as config/robot.yaml


def test_nearest_distance_passing_the_threshold_per_sensor() -> None:
    probs = np.array([[0.1, 0.2, 0.9],
                      [0.6, 0.2, 0.1],
                      [0.9, 0.5, 0.1],
                      [0.1, 0.2, 0.9]], np.float32)
    nearest = nearest_obstacles(probs, DISTANCES, 0.5)
    assert nearest.dtype == np.float32
    assert nearest.tolist() == [0.25, 0.5, 0.0]  # the nearest passing one, not the most probable; >= passes
    assert nearest_obstacles(probs, DISTANCES, 0.95).tolist() == [math.inf] * 3
    assert nearest_obstacles(np.full((4, 2), np.nan), DISTANCES, 0.5).tolist() == [math.inf] * 2
    with pytest.raises(ValueError, match=r'expected probabilities \(4, sensors\)'):
        nearest_obstacles(probs[:3], DISTANCES, 0.5)


@settings(max_examples=50, deadline=None)
@given(probs=arrays(np.float32, st.tuples(st.just(4), st.integers(1, 6)), elements=st.floats(0, 1, width=32)),
       threshold=st.floats(0.01, 1))
def test_nearest_agrees_with_a_plain_loop(probs: np.ndarray, threshold: float) -> None:
    expected = [next((d for d, p in zip(DISTANCES, column, strict=True) if p >= threshold), math.inf)
                for column in probs.T]
    assert nearest_obstacles(probs, DISTANCES, threshold).tolist() == pytest.approx(expected)


def test_scan_layout_of_evenly_spaced_sensors() -> None:
    layout = scan_layout(ROBOT_YAWS)
    assert layout.count == 5
    assert layout.angle_min == pytest.approx(-0.6981)
    assert layout.angle_increment == pytest.approx(0.3491, abs=1e-4)
    assert layout.angle_max == pytest.approx(0.6981)
    assert layout.beams == (4, 3, 2, 1, 0)  # counter-clockwise from the right: left is the last beam
    ranges = layout.ranges(np.array([0.1, 0.2, np.inf, 0.4, 0.5], np.float32))
    assert ranges.tolist() == pytest.approx([0.5, 0.4, math.inf, 0.2, 0.1])


def test_scan_layout_of_uneven_sensors_leaves_unknown_beams_nan() -> None:
    yaws = [math.radians(a) for a in (50, 20, 0)]
    layout = scan_layout(yaws)
    assert layout.angle_increment == pytest.approx(math.radians(10))
    assert layout.count == 6
    assert layout.beams == (5, 2, 0)
    ranges = layout.ranges(np.array([1.0, 2.0, 3.0], np.float32))
    assert ranges[[0, 2, 5]].tolist() == [3.0, 2.0, 1.0]
    assert np.isnan(ranges[[1, 3, 4]]).all()
    single = scan_layout([0.3])
    assert (single.count, single.angle_min, single.angle_increment, single.beams) == (1, 0.3, 0.0, (0,))


def test_scan_layout_refusals() -> None:
    with pytest.raises(ValueError, match='point the same way'):
        scan_layout([0.0, 0.001, 0.5])
    with pytest.raises(ValueError, match='one finite yaw per sensor'):
        scan_layout([])
    with pytest.raises(ValueError, match='one finite yaw per sensor'):
        scan_layout([0.0, math.nan])
    with pytest.raises(ValueError, match='fit no scan'):
        scan_layout([0.0, 0.1, 0.1 * math.pi], tolerance=1e-9)  # irrational ratio: no even grid fits


def test_overlay_paints_columns_left_to_right_and_outlines_the_nearest_hit() -> None:
    image = np.full((42, 50, 3), 128, np.uint8)
    probs = np.zeros((3, 5), np.float32)
    probs[1, 0] = 1.0  # left sensor: obstacle at the middle distance
    out = draw_overlay(image, probs, ROBOT_YAWS, 0.5)
    assert out.shape == image.shape
    assert out.dtype == np.uint8
    assert (image == 128).all()  # the input is untouched
    left_middle = out[20, 5]
    right_middle = out[20, 45]
    assert left_middle[0] > left_middle[1]  # red: obstacle
    assert right_middle[1] > right_middle[0]  # green: free
    assert (out[14, 0:10] == 255).all()  # the white outline of the nearest passing cell (top edge)
    assert not (out == 255).all(axis=2)[:, 10:].any()  # no outline where nothing passes
    with pytest.raises(ValueError, match='RGB uint8'):
        draw_overlay(np.zeros((4, 4), np.uint8), probs, ROBOT_YAWS, 0.5)
    with pytest.raises(ValueError, match=r'expected probabilities \(distances, 5\)'):
        draw_overlay(image, probs[:, :3], ROBOT_YAWS, 0.5)


def test_obstacle_points_are_drawn_where_they_lie_on_the_floor() -> None:
    from selfsup_perception.core.config import PixelLabelConfig, load_config
    from selfsup_perception.core.obstacles import draw_obstacle_points, obstacle_floor_points
    from selfsup_perception.core.pixel_labels import frame_camera, project_floor
    from selfsup_perception.core.resources import robot_config

    sensors = load_config(robot_config()).sensors
    camera = frame_camera(PixelLabelConfig(), 120, 160)
    near = np.full(len(sensors), np.inf)
    centre = len(sensors) // 2
    near[centre] = 0.1
    far = near.copy()
    far[centre] = 0.6
    x, _y = obstacle_floor_points(near, sensors)
    assert np.isnan(x[0])
    assert x[centre] > 0.1
    (u_near, v_near), (_u_far, v_far) = (project_floor(camera, *obstacle_floor_points(d, sensors))[:2]
                                        for d in (near, far))
    assert v_far[centre] < v_near[centre]  # further ahead is higher in the image
    assert abs(u_near[centre] - 80) < 2  # the centre sensor looks straight ahead
    image = np.zeros((120, 160, 3), np.uint8)
    drawn = draw_obstacle_points(image, camera, sensors, near, truth=far)
    changed = np.flatnonzero(drawn.any(axis=2).any(axis=1))
    assert changed.min() <= v_far[centre] <= changed.max()
    assert changed.min() <= v_near[centre] <= changed.max()
    assert not draw_obstacle_points(image, camera, sensors, np.full(len(sensors), np.inf)).any()
