"""Ground truth: obstacles d metres ahead per sensor, and segmentation aligned with the camera image."""

from __future__ import annotations

import math

import numpy as np
import pytest
from simhelpers import box, cylinder, hand_made_arena, place

from selfsup_perception.sim import SimParams, Simulation
from selfsup_perception.sim.groundtruth import obstacle_ground_truth
from selfsup_perception.sim.world import FLOOR, OBSTACLE, SKIRTING_DEPTH, WALL

CENTER = 2  # column of the centre sensor (config order: left, center_left, center, center_right, right)


def _truth(simulation: Simulation) -> np.ndarray:
    return obstacle_ground_truth(
        simulation.model,
        simulation.data,
        simulation.arena,
        simulation.sensors,
        simulation.distances,
        simulation.pose,
    )


def test_wall_right_in_front_is_an_obstacle_at_small_distances(robot_config) -> None:
    with Simulation(SimParams(), robot_config, hand_made_arena()) as simulation:
        wall = 1.5 - SKIRTING_DEPTH
        place(simulation, wall - 0.055 - 0.05, 0.0, 0.0)  # centre sensor 5 cm from the wall
        truth = _truth(simulation)
        assert truth.shape == (len(robot_config.distances), len(robot_config.sensors))
        assert truth[0, CENTER] == 1
        assert np.all(
            truth[np.array(robot_config.distances) >= 0.1] == 1
        )  # sensors inside or beyond the wall
        place(simulation, wall - 0.055 - 0.05, 0.0, math.pi)  # turned around: free for over a metre
        assert np.all(_truth(simulation) == 0)


def test_obstacle_ahead_appears_at_the_right_distance(robot_config) -> None:
    arena = hand_made_arena((cylinder(0.8, 0.0, radius=0.1),))
    with Simulation(SimParams(), robot_config, arena) as simulation:
        place(simulation, 0.0, 0.0, 0.0)  # centre sensor 0.645 m from the cylinder's surface
        truth = _truth(simulation)
        distances = np.array(robot_config.distances)
        gap = 0.8 - 0.1 - 0.055
        threshold = robot_config.sensors[CENTER].threshold
        # 1 from where the beam reaches it until the sensor would be past it (inside counts as seen).
        seen = (distances > gap - threshold) & (distances < gap + 0.2)
        np.testing.assert_array_equal(truth[:, CENTER], seen.astype(np.uint8))
        assert truth[0].sum() == 0


def test_ground_truth_ahead_matches_what_the_robot_finds_there(robot_config) -> None:
    obstacles = (cylinder(0.7, 0.15, radius=0.12), box(0.9, -0.25, 0.6, 0.15, 0.1))
    with Simulation(SimParams(), robot_config, hand_made_arena(obstacles)) as simulation:
        heading = 0.1
        place(simulation, 0.0, 0.0, heading)
        ahead = _truth(simulation)
        for row, d in enumerate(robot_config.distances):
            place(simulation, d * math.cos(heading), d * math.sin(heading), heading)
            np.testing.assert_array_equal(_truth(simulation)[0], ahead[row], err_msg=f'd = {d}')
        assert ahead.any()


def _project(simulation: Simulation, point: tuple[float, float, float]) -> tuple[int, int]:
    """Pixel (column, row) of a world point in the robot camera (pinhole K of camera_info)."""
    params = simulation.params
    x, y, yaw = simulation.pose
    c, s = math.cos(yaw), math.sin(yaw)
    camera = np.array([x + 0.032 * c, y + 0.032 * s, params.camera_mount_height])
    v = np.array(point) - camera
    v = np.array([c * v[0] + s * v[1], -s * v[0] + c * v[1], v[2]])  # robot frame: x forward, y left, z up
    tilt = params.camera_tilt
    forward = np.array([math.cos(tilt), 0.0, -math.sin(tilt)])
    right = np.array([0.0, -1.0, 0.0])
    down = np.array([-math.sin(tilt), 0.0, -math.cos(tilt)])
    k = simulation.camera_matrix
    depth = v @ forward
    column = round(k[0, 0] * (v @ right) / depth + k[0, 2])
    row = round(k[1, 1] * (v @ down) / depth + k[1, 2])
    assert 0 <= column < params.camera_width
    assert 0 <= row < params.camera_height
    return column, row


def test_segmentation_classes_align_with_the_camera(robot_config) -> None:
    arena = hand_made_arena((cylinder(0.7, 0.0, radius=0.1, height=0.3), box(0.9, 0.45, 0.3, 0.1, 0.1)))
    with Simulation(SimParams(camera_noise=0.0), robot_config, arena) as simulation:
        place(simulation, 0.0, 0.0, 0.0)
        frame = simulation.step().camera
        classes = frame.segmentation
        assert classes.shape == frame.image.shape[:2] == (120, 160)
        assert set(np.unique(classes)) == {FLOOR, OBSTACLE, WALL}
        column, row = _project(simulation, (0.6, 0.0, 0.05))  # the cylinder's front, low
        assert classes[row, column] == OBSTACLE
        column, row = _project(simulation, (0.3, 0.05, 0.0))  # floor before it
        assert classes[row, column] == FLOOR
        column, row = _project(simulation, (1.5, -0.4, 0.2))  # the far wall
        assert classes[row, column] == WALL
        # The image changes where the classes change: obstacle edges are image edges.
        rgb = frame.image.astype(float)
        obstacle = classes == OBSTACLE
        assert np.abs(rgb[obstacle].mean(axis=0) - rgb[classes == FLOOR].mean(axis=0)).max() > 10
        edge_columns = np.flatnonzero(np.diff(obstacle[row - 20].astype(int)))
        assert edge_columns.size >= 2


@pytest.mark.parametrize('seed', [0, 1000])
def test_every_class_shows_up_while_wandering(robot_config, seed: int) -> None:
    seen = set()
    with Simulation(SimParams(seed=seed, camera_rate=2.0), robot_config) as simulation:
        while simulation.time < 20.0 and seen != {FLOOR, OBSTACLE, WALL}:
            frame = simulation.step().camera
            if frame is not None:
                seen |= set(np.unique(frame.segmentation).tolist())
    assert seen == {FLOOR, OBSTACLE, WALL}


def test_a_surface_touching_the_robot_is_not_clipped_away(robot_config) -> None:
    arena = hand_made_arena((box(0.3, 0.0, 0.0, 0.1, 0.3, height=0.4),))
    with Simulation(SimParams(camera_noise=0.0), robot_config, arena) as simulation:
        place(simulation, 0.2 - 0.056 - 0.001, 0.0, 0.0)  # body 1 mm from the box: camera 2.5 cm from it
        classes = simulation.step().camera.segmentation
        assert np.all(classes[:, 20:140] == OBSTACLE)
