"""One simulated run: arena + robot + sensors + ground truth behind a single ``Simulation.step()`` API.

The bag writer and the ROS node are thin shells over this: each ``step()`` advances the physics to the
next moment a stream is due (camera, proximity, odometry, clock, each at its own rate) and returns
what is due then, stamped with the simulated time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np

from selfsup_perception.core.config import LabelingConfig
from selfsup_perception.core.segmentation import intrinsics_from_hfov
from selfsup_perception.sim.groundtruth import obstacle_ground_truth, segmentation_lookup
from selfsup_perception.sim.params import PHYSICS_RATE, SimParams
from selfsup_perception.sim.render import CameraRenderer
from selfsup_perception.sim.robot import (
    OdometrySample,
    Pose,
    WanderController,
    WheelOdometry,
    add_robot,
    check_sensors,
    noisy_ranges,
    true_ranges,
)
from selfsup_perception.sim.world import Arena, add_arena, generate_arena

#: The robot counts as stalled when it moves slower than this fraction of its command for STALL_TIME s.
STALL_FRACTION = 0.3
STALL_TIME = 0.5
#: Camera near clip plane (m): closer than the camera can get to any surface.
NEAR_CLIP = 0.005
_STREAMS = ('camera', 'proximity', 'odometry', 'clock')


@dataclass(frozen=True)
class CameraFrame:
    """A camera image with its ground truth, all taken at the same instant."""

    image: np.ndarray
    segmentation: np.ndarray
    obstacles: np.ndarray


@dataclass(frozen=True)
class SimOutput:
    """What is due at ``stamp`` (s of simulated time); streams not due are None (clock: False)."""

    stamp: float
    clock: bool = False
    camera: CameraFrame | None = None
    ranges: np.ndarray | None = None
    odometry: OdometrySample | None = None


class Simulation:
    """A seeded, deterministic run of the wandering robot in its procedural arena."""

    def __init__(self, params: SimParams, config: LabelingConfig, arena: Arena | None = None) -> None:
        """``arena`` replaces the one generated from ``params.seed`` (hand-made worlds, tests)."""
        check_sensors(config.sensors)
        self.params = params
        self.config = config
        self.sensors = config.sensors
        self.distances = config.distances
        self.arena = arena if arena is not None else generate_arena(params)
        spec = mujoco.MjSpec()
        spec.option.timestep = 1.0 / PHYSICS_RATE
        spec.visual.global_.offwidth = params.camera_width
        spec.visual.global_.offheight = params.camera_height
        spec.visual.quality.shadowsize = 1024
        spec.visual.quality.offsamples = 4
        classes = add_arena(spec, self.arena)
        add_robot(spec, params)
        self.model = spec.compile()
        # Clip planes are relative to the model's extent; the default near plane (~7 cm here) would cut
        # through obstacles right in front of the camera (it can be 2 cm from a surface).
        extent = self.model.stat.extent
        self.model.vis.map.znear = NEAR_CLIP / extent
        self.model.vis.map.zfar = (2 * self.arena.size + self.arena.wall_height) / extent
        self.data = mujoco.MjData(self.model)
        self.data.qpos[:3] = self.arena.start
        mujoco.mj_forward(self.model, self.data)
        entropy = [params.seed, 0x51D] + ([params.run] if params.run else [])
        rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(entropy).spawn(4)]
        self._sensor_rng = rngs[0]
        self._odometry = WheelOdometry(params.odom_noise, rngs[1])
        self._controller = WanderController(params, self.sensors, rngs[2])
        self._renderer = CameraRenderer(self.model, params, segmentation_lookup(self.model, classes), rngs[3])
        self.camera_matrix = intrinsics_from_hfov(params.camera_width, params.camera_height, params.camera_hfov)
        self._rates = {
            'camera': params.camera_rate,
            'proximity': params.proximity_rate,
            'odometry': params.odom_rate,
            'clock': params.clock_rate,
        }
        self._counts = dict.fromkeys(_STREAMS, 0)
        self._step = -1
        self._last_odometry_time = 0.0
        self._command = (0.0, 0.0)
        self._slow_since: float | None = None

    @property
    def time(self) -> float:
        """Simulated time (s) of the last output."""
        return max(self._step, 0) / PHYSICS_RATE

    @property
    def pose(self) -> Pose:
        """The robot's true pose (x, y, yaw) in the arena frame."""
        x, y, yaw = self.data.qpos[:3]
        return float(x), float(y), math.remainder(float(yaw), 2 * math.pi)

    def _due_step(self, stream: str) -> int:
        return round(self._counts[stream] * PHYSICS_RATE / self._rates[stream])

    def step(self) -> SimOutput:
        """Advance to the next instant at which any stream is due and return everything due then."""
        target = min(self._due_step(stream) for stream in _STREAMS)
        if target > self._step >= 0:
            mujoco.mj_step(self.model, self.data, nstep=target - self._step)
        self._step = target
        now = self.time
        due = [stream for stream in _STREAMS if self._due_step(stream) == target]
        for stream in due:
            self._counts[stream] += 1
        pose = self.pose
        ranges = None
        if 'proximity' in due:
            exact = true_ranges(self.model, self.data, self.sensors, pose)
            ranges = noisy_ranges(exact, self.sensors, self.params.proximity_noise, self._sensor_rng)
            self._drive(now, ranges)
        odometry = None
        if 'odometry' in due:
            odometry = self._odometry.update(pose, now - self._last_odometry_time)
            self._last_odometry_time = now
        camera = None
        if 'camera' in due:
            image, segmentation = self._renderer.render(self.data)
            obstacles = obstacle_ground_truth(
                self.model, self.data, self.arena, self.sensors, self.distances, pose
            )
            camera = CameraFrame(image, segmentation, obstacles)
        return SimOutput(now, 'clock' in due, camera, ranges, odometry)

    def _drive(self, now: float, ranges: np.ndarray) -> None:
        """Run the wander controller on fresh readings and set the drive actuators."""
        commanded = self._command[0]
        vx, vy = self.data.qvel[:2]
        yaw = self.data.qpos[2]
        speed = vx * math.cos(yaw) + vy * math.sin(yaw)
        if commanded > 0 and speed < STALL_FRACTION * commanded:
            self._slow_since = now if self._slow_since is None else self._slow_since
        else:
            self._slow_since = None
        stalled = self._slow_since is not None and now - self._slow_since > STALL_TIME
        if stalled:
            self._slow_since = None
        self._command = self._controller.command(now, ranges, stalled, 1.0 / self.params.proximity_rate)
        self.data.ctrl[:] = [self._command[0], 0.0, self._command[1]]

    def close(self) -> None:
        """Free the rendering context."""
        self._renderer.close()

    def __enter__(self) -> Simulation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
