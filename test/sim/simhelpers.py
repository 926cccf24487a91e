"""Helpers of the simulator tests: hand-made arenas, teleporting the robot, small fast simulations."""

from __future__ import annotations

import math
from pathlib import Path

import mujoco

from selfsup_perception.sim import SimParams, Simulation
from selfsup_perception.sim.world import Arena, Light, Obstacle, Surface

REPO = Path(__file__).resolve().parents[2]
CONFIG_PATH = REPO / 'config' / 'robot.yaml'
#: A tiny, rarely rendered camera: for tests about physics, sensors and odometry.
FAST = {'camera_width': 32, 'camera_height': 24, 'camera_rate': 1.0}


def place(simulation: Simulation, x: float, y: float, yaw: float) -> None:
    """Teleport the robot (at rest) to a pose."""
    simulation.data.qpos[:3] = [x, y, yaw]
    simulation.data.qvel[:] = 0.0
    mujoco.mj_forward(simulation.model, simulation.data)


def hand_made_arena(obstacles: tuple[Obstacle, ...] = (), size: float = 3.0) -> Arena:
    """A plain room with the given obstacles, lit from above, robot start at the centre."""
    plain = Surface('plaster', 1, 0.1, 0.2)
    light = Light((0.0, 0.0, 2.4), (0.0, 0.0), (1.0, 1.0, 1.0), 0.8, 50.0, 0.1, True)
    return Arena(
        seed=0,
        size=size,
        wall_height=2.5,
        floor=Surface('concrete', 2, 0.1, 0.2),
        floor_tile=1.0,
        wall=plain,
        skirting=(0.3, 0.3, 0.3),
        ceiling=(0.9, 0.9, 0.9),
        obstacles=obstacles,
        lights=(light,),
        ambient=0.3,
        start=(0.0, 0.0, 0.0),
    )


def cylinder(x: float, y: float, radius: float = 0.1, height: float = 0.3) -> Obstacle:
    return Obstacle('cylinder', x, y, 0.0, radius, radius, height, Surface('plain', 3, 0.1, 0.2))


def box(x: float, y: float, yaw: float, half_x: float, half_y: float, height: float = 0.3) -> Obstacle:
    return Obstacle('box', x, y, yaw, half_x, half_y, height, Surface('stripes', 4, 0.1, 0.2))


def footprint_distance(obstacle: Obstacle, x: float, y: float) -> float:
    """Distance from (x, y) to the obstacle's footprint (negative inside)."""
    dx, dy = x - obstacle.x, y - obstacle.y
    if obstacle.shape == 'cylinder':
        return math.hypot(dx, dy) - obstacle.half_x
    c, s = math.cos(obstacle.yaw), math.sin(obstacle.yaw)
    u, v = abs(c * dx + s * dy) - obstacle.half_x, abs(-s * dx + c * dy) - obstacle.half_y
    outside = math.hypot(max(u, 0.0), max(v, 0.0))
    return outside if outside > 0 else max(u, v)


def small(**overrides: object) -> SimParams:
    return SimParams(**{**FAST, **overrides})
