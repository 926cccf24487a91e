"""The robot: proximity sensors, physics contacts, odometry drift, wander controller."""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest
from simhelpers import footprint_distance, hand_made_arena, place, small

from selfsup_perception.core.geometry import relative_pose
from selfsup_perception.sim import SimParams, Simulation
from selfsup_perception.sim.robot import (
    AVOID_RANGE,
    BODY_RADIUS,
    MIN_RANGE,
    WanderController,
    WheelOdometry,
    noisy_ranges,
    true_ranges,
)
from selfsup_perception.sim.world import SKIRTING_DEPTH

ROOM = 3.0
WALL = ROOM / 2 - SKIRTING_DEPTH  # where a horizontal sensor beam meets the +x wall


def test_sensors_measure_a_close_wall(robot_config) -> None:
    with Simulation(small(), robot_config, hand_made_arena(size=ROOM)) as simulation:
        x = WALL - 0.055 - 0.05
        place(simulation, x, 0.0, 0.0)
        exact = true_ranges(simulation.model, simulation.data, robot_config.sensors, simulation.pose)
        for sensor, measured in zip(robot_config.sensors, exact, strict=True):
            expected = (WALL - x - sensor.x) / math.cos(sensor.yaw)
            if expected <= sensor.max_range:
                assert measured == pytest.approx(expected, abs=1e-6)
            else:
                assert measured == math.inf
        assert exact[2] == pytest.approx(0.05, abs=1e-6)
        readings = noisy_ranges(exact, robot_config.sensors, 0.002, np.random.default_rng(0))
        assert abs(readings[2] - 0.05) < 0.01


def test_sensors_report_plus_infinity_in_free_space(robot_config) -> None:
    with Simulation(small(), robot_config, hand_made_arena(size=ROOM)) as simulation:
        place(simulation, 0.0, 0.0, 0.3)
        exact = true_ranges(simulation.model, simulation.data, robot_config.sensors, simulation.pose)
        readings = noisy_ranges(exact, robot_config.sensors, 0.002, np.random.default_rng(0))
        assert np.all(exact == math.inf)
        assert np.all(readings == math.inf)


def test_readings_follow_rep_117(robot_config) -> None:
    exact = np.array([0.5 * MIN_RANGE, 0.05, 0.119, math.inf, 0.12])
    readings = noisy_ranges(exact, robot_config.sensors, 0.0, np.random.default_rng(0))
    assert readings[0] == -math.inf
    np.testing.assert_array_equal(readings[1:], [0.05, 0.119, math.inf, 0.12])


def test_driving_into_a_wall_is_stopped_by_contacts(robot_config) -> None:
    with Simulation(small(), robot_config, hand_made_arena(size=ROOM)) as simulation:
        place(simulation, WALL - 0.3, 0.0, 0.0)
        simulation.data.ctrl[:] = [0.5, 0.0, 0.0]  # faster than the controller ever drives
        mujoco.mj_step(simulation.model, simulation.data, nstep=1500)
        x = simulation.data.qpos[0]
        assert x > WALL - 0.3 + 0.1  # it did drive
        assert x + BODY_RADIUS < WALL + 0.002


@pytest.mark.parametrize('seed', [0, 1000])
def test_wandering_for_a_minute_never_passes_through_obstacles(robot_config, seed: int) -> None:
    params = small(seed=seed, room_size=2.5, min_obstacles=6, max_obstacles=8)
    with Simulation(params, robot_config) as simulation:
        arena = simulation.arena
        limit = arena.size / 2 - SKIRTING_DEPTH - BODY_RADIUS + 0.002
        closest, travelled, last = math.inf, 0.0, simulation.pose
        while simulation.time < 60.0:
            simulation.step()
            x, y, _ = simulation.pose
            assert abs(x) < limit
            assert abs(y) < limit
            for obstacle in arena.obstacles:
                gap = footprint_distance(obstacle, x, y) - BODY_RADIUS
                assert gap > -0.002, (simulation.time, obstacle)
                closest = min(closest, gap)
            contacts = simulation.data.contact[: simulation.data.ncon]
            assert all(contact.dist > -0.002 for contact in contacts)
            travelled += math.hypot(x - last[0], y - last[1])
            last = simulation.pose
        assert travelled > 3.0  # it wandered, it did not get stuck
        assert closest < 0.1  # and it went close to obstacles


def test_odometry_drift_is_present_but_bounded(robot_config) -> None:
    with Simulation(small(seed=3), robot_config) as simulation:
        odometry, travelled, last = None, 0.0, simulation.pose
        while simulation.time < 30.0:
            output = simulation.step()
            odometry = output.odometry or odometry
            travelled += math.hypot(simulation.pose[0] - last[0], simulation.pose[1] - last[1])
            last = simulation.pose
        true = relative_pose(simulation.arena.start, simulation.pose)
        error = math.hypot(odometry.x - true[0], odometry.y - true[1])
        assert travelled > 2.0
        assert 1e-3 < error < 0.15 * travelled


def _arc(steps: int) -> list[tuple[float, float, float]]:
    """True poses along a curving path with a turn in place, 50 Hz."""
    poses, x, y, yaw = [], 0.3, -0.2, 0.4
    for k in range(steps):
        v, w = (0.15, 0.3) if k < steps // 2 else (0.0, 1.5) if k < steps * 3 // 4 else (0.15, -0.2)
        x, y, yaw = (
            x + v * 0.02 * math.cos(yaw + w * 0.01),
            y + v * 0.02 * math.sin(yaw + w * 0.01),
            yaw + w * 0.02,
        )
        poses.append((x, y, yaw))
    return poses


def test_perfect_odometry_follows_the_true_path() -> None:
    odometry = WheelOdometry(0.0, np.random.default_rng(0))
    poses = _arc(400)
    for pose in poses:
        sample = odometry.update(pose, 0.02)
    true = relative_pose(poses[0], poses[-1])
    assert sample.x == pytest.approx(true[0], abs=1e-9)
    assert sample.y == pytest.approx(true[1], abs=1e-9)
    assert sample.yaw == pytest.approx(true[2], abs=1e-9)


def test_noisy_odometry_drifts_differently_per_seed() -> None:
    errors = []
    for seed in (1, 2):
        odometry = WheelOdometry(1.0, np.random.default_rng(seed))
        poses = _arc(1000)
        for pose in poses:
            sample = odometry.update(pose, 0.02)
        true = relative_pose(poses[0], poses[-1])
        errors.append((sample.x - true[0], sample.y - true[1]))
    assert errors[0] != errors[1]
    assert all(0 < math.hypot(*e) < 0.2 for e in errors)  # 2.3 m travelled


def test_controller_turns_away_from_what_it_sees(robot_config) -> None:
    params = SimParams(random_turn_rate=0.0)
    controller = WanderController(params, robot_config.sensors, np.random.default_rng(0))
    clear = np.full(5, math.inf)
    assert controller.command(0.0, clear, False, 0.05)[0] == params.forward_speed
    left_close = clear.copy()
    left_close[0] = AVOID_RANGE / 2
    assert controller.command(0.05, left_close, False, 0.05) == (0.0, -params.turn_speed)
    right = WanderController(params, robot_config.sensors, np.random.default_rng(0))
    right_close = clear.copy()
    right_close[4] = -math.inf
    assert right.command(0.0, right_close, False, 0.05) == (0.0, params.turn_speed)
