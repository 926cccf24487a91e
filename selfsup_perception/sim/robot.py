"""A small differential-drive robot (Thymio-sized): body, drive, camera, proximity sensors, odometry, control.

The body moves on the floor plane (slide x, slide y, hinge yaw) pushed by velocity actuators acting
along its own axes, the way wheels would: forward drive, lateral wheel grip, turning. Obstacles stop
it through MuJoCo contacts, so it never passes through them. Sensor mounting poses come from
``config/robot.yaml`` (the labeler's config), so simulator and labeler agree on the geometry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import mujoco
import numpy as np

from selfsup_perception.core.config import SensorConfig
from selfsup_perception.core.geometry import wrap_angle
from selfsup_perception.sim.params import SimParamError, SimParams
from selfsup_perception.sim.world import ray_distance

BODY_RADIUS = 0.056
BODY_HEIGHT = 0.05
BODY_MASS = 0.27
WHEEL_BASE = 0.095
WHEEL_RADIUS = 0.022
#: Height of the proximity sensors' beams above the floor.
SENSOR_HEIGHT = 0.03
#: Closer than this a proximity sensor saturates and reports -inf (REP 117).
MIN_RANGE = 0.01
#: The wander controller turns away when a sensor reads closer than this (below the labels' threshold,
#: so the robot gets close enough to obstacles to record them).
AVOID_RANGE = 0.06
#: Geom group of the robot's own geoms: hidden from its camera and from ray casts.
ROBOT_GROUP = 3
#: How far ahead of the body's centre (base_link) the camera sits (``camera_mount_x`` of config/robot.yaml).
CAMERA_X = 0.032

Pose = tuple[float, float, float]


def check_sensors(sensors: Sequence[SensorConfig]) -> None:
    """The simulator models range sensors published as sensor_msgs/Range; reject anything else early."""
    for sensor in sensors:
        if sensor.mode != 'range' or sensor.msg_type != 'range':
            raise SimParamError(
                f'config: sensors.{sensor.name}: the simulator publishes sensor_msgs/Range readings '
                f'(msg_type: range, mode: range), got msg_type {sensor.msg_type!r}, mode {sensor.mode!r}'
            )
        if math.hypot(sensor.x, sensor.y) > BODY_RADIUS + 0.02:
            raise SimParamError(
                f'config: sensors.{sensor.name}: mounted {math.hypot(sensor.x, sensor.y):.3f} m '
                f'from the centre, outside the simulated robot (radius {BODY_RADIUS} m)'
            )


def camera_quaternion(tilt: float) -> np.ndarray:
    """MuJoCo camera orientation in the body frame: looking along +x, pitched down by ``tilt``."""
    right = np.array([0.0, -1.0, 0.0])
    up = np.array([math.sin(tilt), 0.0, math.cos(tilt)])
    back = np.cross(right, up)
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.column_stack([right, up, back]).ravel())
    return quat


def vertical_fov_deg(params: SimParams) -> float:
    """MuJoCo's ``fovy`` (deg) for the horizontal field of view and image aspect (square pixels)."""
    half = math.atan(math.tan(params.camera_hfov / 2) * params.camera_height / params.camera_width)
    return math.degrees(2 * half)


def add_robot(spec: mujoco.MjSpec, params: SimParams) -> None:
    """Add the robot body ``robot`` (joints x, y, yaw), its drive actuators and the camera ``camera``."""
    body = spec.worldbody.add_body(name='robot')
    body.add_joint(name='x', type=mujoco.mjtJoint.mjJNT_SLIDE, axis=[1, 0, 0])
    body.add_joint(name='y', type=mujoco.mjtJoint.mjJNT_SLIDE, axis=[0, 1, 0])
    body.add_joint(name='yaw', type=mujoco.mjtJoint.mjJNT_HINGE, axis=[0, 0, 1])
    visual = {'contype': 0, 'conaffinity': 0, 'group': ROBOT_GROUP, 'mass': 0.0}
    body.add_geom(
        name='robot_body',
        type=mujoco.mjtGeom.mjGEOM_CYLINDER,
        size=[BODY_RADIUS, BODY_HEIGHT / 2, 0],
        pos=[0, 0, 0.005 + BODY_HEIGHT / 2],
        mass=BODY_MASS,
        contype=2,
        conaffinity=1,
        group=ROBOT_GROUP,
        friction=[0.1, 0.005, 0.0001],
        solref=[0.004, 1.0],
        rgba=[0.95, 0.95, 0.93, 1],
    )
    for side in (1, -1):
        body.add_geom(
            type=mujoco.mjtGeom.mjGEOM_CYLINDER,
            size=[WHEEL_RADIUS, 0.006, 0],
            pos=[0, side * WHEEL_BASE / 2, WHEEL_RADIUS],
            quat=[0.7071068, 0.7071068, 0, 0],
            rgba=[0.15, 0.15, 0.15, 1],
            **visual,
        )
    body.add_geom(
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[0.008, 0.015, params.camera_mount_height / 2],
        pos=[0.02, 0, params.camera_mount_height / 2],
        rgba=[0.2, 0.2, 0.2, 1],
        **visual,
    )
    body.add_site(name='drive')
    body.add_camera(
        name='camera',
        pos=[CAMERA_X, 0, params.camera_mount_height],
        quat=list(camera_quaternion(params.camera_tilt)),
        fovy=vertical_fov_deg(params),
    )
    # Velocity servos: time constant ~0.05 s; force limits let contacts win against the drive.
    for name, target, gear, kv, limit in (
        ('forward', 'drive', [1, 0, 0, 0, 0, 0], 5.0, 2.0),
        ('lateral', 'drive', [0, 1, 0, 0, 0, 0], 5.0, 2.0),
    ):
        actuator = spec.add_actuator(name=name, target=target, trntype=mujoco.mjtTrn.mjTRN_SITE, gear=gear)
        actuator.set_to_velocity(kv=kv)
        actuator.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
        actuator.forcerange = [-limit, limit]
    turn = spec.add_actuator(name='turn', target='yaw', trntype=mujoco.mjtTrn.mjTRN_JOINT)
    turn.set_to_velocity(kv=0.01)
    turn.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
    turn.forcerange = [-0.05, 0.05]


def sensor_poses(sensors: Sequence[SensorConfig], pose: Pose, ahead: float = 0.0) -> list[Pose]:
    """World poses of the sensors when the robot is at ``pose`` moved ``ahead`` m along its heading."""
    x, y, yaw = pose
    c, s = math.cos(yaw), math.sin(yaw)
    x, y = x + ahead * c, y + ahead * s
    return [(x + c * m.x - s * m.y, y + s * m.x + c * m.y, yaw + m.yaw) for m in sensors]


def true_ranges(
    model: mujoco.MjModel,
    data: mujoco.MjData,
    sensors: Sequence[SensorConfig],
    pose: Pose,
    ahead: float = 0.0,
) -> np.ndarray:
    """Exact distance each sensor's beam travels to a wall or obstacle (inf beyond its max_range)."""
    ranges = np.full(len(sensors), math.inf)
    for index, ((x, y, yaw), sensor) in enumerate(
        zip(sensor_poses(sensors, pose, ahead), sensors, strict=True)
    ):
        distance = ray_distance(model, data, x, y, SENSOR_HEIGHT, yaw)
        if distance <= sensor.max_range:
            ranges[index] = distance
    return ranges


def noisy_ranges(
    exact: np.ndarray, sensors: Sequence[SensorConfig], noise: float, rng: np.random.Generator
) -> np.ndarray:
    """Readings as a real sensor reports them (REP 117): +inf out of range, -inf saturated, else noisy."""
    readings = exact + rng.normal(0.0, noise, exact.shape) if noise > 0 else exact.copy()
    max_range = np.array([s.max_range for s in sensors])
    readings[~np.isfinite(exact) | (readings > max_range)] = math.inf
    readings[readings < MIN_RANGE] = -math.inf
    return readings


@dataclass(frozen=True)
class OdometrySample:
    """Odometry pose in the ``odom`` frame (starts at 0, 0, 0) and body-frame velocities."""

    x: float
    y: float
    yaw: float
    linear: float
    angular: float


class WheelOdometry:
    """Dead reckoning from simulated wheel encoders, with the errors that make real odometry drift.

    Per run: each wheel's radius is mis-calibrated by ~0.3 % and the wheel base by ~0.5 % (systematic drift);
    per step: random slip proportional to the square root of the distance each wheel rolled.
    Sideways sliding (a push from a contact) is invisible to the encoders, as on a real robot.
    """

    def __init__(self, noise: float, rng: np.random.Generator) -> None:
        self._rng = rng
        self._noise = noise
        self._scale_left, self._scale_right, self._scale_base = 1.0 + noise * rng.normal(
            0.0, [0.003, 0.003, 0.005]
        )
        self._slip = 0.002 * noise
        self._x = self._y = self._yaw = 0.0
        self._last: Pose | None = None

    def update(self, pose: Pose, dt: float) -> OdometrySample:
        """Integrate the wheel motion from the previous true pose to ``pose`` (``dt`` s later)."""
        previous, self._last = self._last, pose
        if previous is None or dt <= 0:
            return OdometrySample(self._x, self._y, self._yaw, 0.0, 0.0)
        turn = float(wrap_angle(pose[2] - previous[2]))
        heading = previous[2] + turn / 2
        forward = (pose[0] - previous[0]) * math.cos(heading) + (pose[1] - previous[1]) * math.sin(heading)
        left = forward - turn * WHEEL_BASE / 2
        right = forward + turn * WHEEL_BASE / 2
        if self._noise > 0:
            left = left * self._scale_left + self._slip * math.sqrt(abs(left)) * self._rng.normal()
            right = right * self._scale_right + self._slip * math.sqrt(abs(right)) * self._rng.normal()
        forward = (left + right) / 2
        turn = (right - left) / (WHEEL_BASE * self._scale_base)
        mid = self._yaw + turn / 2
        self._x += forward * math.cos(mid)
        self._y += forward * math.sin(mid)
        self._yaw = float(wrap_angle(self._yaw + turn))
        return OdometrySample(self._x, self._y, self._yaw, forward / dt, turn / dt)


class WanderController:
    """Drive straight at ``forward_speed``; turn in place away from anything the sensors see closer than
    :data:`AVOID_RANGE` (or when stalled against something), and now and then turn at random.
    """

    def __init__(self, params: SimParams, sensors: Sequence[SensorConfig], rng: np.random.Generator) -> None:
        self._params = params
        self._rng = rng
        self._side = np.sign([s.yaw for s in sensors])
        self._turn_until = -1.0
        self._turn_direction = 1.0
        self._avoiding = False
        self._curvature = 0.0

    def _start_turn(self, now: float, direction: float, duration: float) -> None:
        self._turn_direction = direction
        self._turn_until = now + duration

    def command(self, now: float, readings: np.ndarray, stalled: bool, dt: float) -> tuple[float, float]:
        """(forward m/s, turn rad/s) for the next ``dt`` s, given the latest proximity readings."""
        params, rng = self._params, self._rng
        close = readings < AVOID_RANGE
        if close.any():
            if not self._avoiding:
                # Turn away from the side where the nearest obstacle is (straight ahead: either way).
                nearest = float(self._side[int(np.argmin(readings))])
                self._turn_direction = -nearest if nearest else float(rng.choice([-1.0, 1.0]))
                self._avoiding = True
            self._turn_until = now + rng.uniform(0.2, 1.0)
        elif self._avoiding:
            self._avoiding = False
        elif stalled:
            self._start_turn(now, float(rng.choice([-1.0, 1.0])), rng.uniform(0.5, 1.5))
        elif now >= self._turn_until and rng.random() < params.random_turn_rate * dt:
            self._start_turn(now, float(rng.choice([-1.0, 1.0])), rng.uniform(0.3, 2.0))
        if self._avoiding or now < self._turn_until:
            return 0.0, self._turn_direction * params.turn_speed
        if rng.random() < 0.5 * dt:
            # A new gentle curvature now and then: paths are not all straight lines.
            self._curvature = rng.uniform(-0.15, 0.15)
        return params.forward_speed, self._curvature
