"""``selfsup simulate``: run the simulator faster than real time and record a rosbag2 (MCAP).

Topics (stamps and bag times are simulated time; the bag starts at t = 0):

- ``/camera/image_raw`` (sensor_msgs/Image, rgb8): ``camera_width`` x ``camera_height`` at
  ``camera_rate`` Hz (default 160x120, 10 Hz). With ``--compressed``, ``/camera/image_raw/compressed``
  (sensor_msgs/CompressedImage, JPEG) instead.
- ``/camera/camera_info`` (sensor_msgs/CameraInfo): with every frame; ideal pinhole, K from the
  horizontal field of view (fx = fy, principal point at the image centre), no distortion.
- ``/proximity/<sensor>`` (the config's topics; sensor_msgs/Range): ``proximity_rate`` Hz (20);
  REP 117: +inf when nothing is within max_range, -inf when saturated (closer than min_range).
- ``/odom`` (nav_msgs/Odometry, frame ``odom``, child ``base_link``): ``odom_rate`` Hz (50); wheel
  odometry that drifts like a real robot's.
- ``/clock`` (rosgraph_msgs/Clock): ``clock_rate`` Hz (100). Replay with ``ros2 bag play BAG`` and
  ``use_sim_time`` (the recorded clock drives it; ``--clock`` would add a second /clock publisher).
- ``/ground_truth/obstacles`` (sensor_msgs/Image, mono8, frame ``base_link``): with every frame, same
  stamp. Height = number of distances, width = number of sensors (config order); pixel (row k,
  column s) = 1 if sensor s would read below its threshold with the robot moved distances[k] m
  ahead along its current heading (exact ray cast; a mounting point inside an obstacle or outside
  the room counts as 1), else 0.
- ``/ground_truth/segmentation`` (sensor_msgs/Image, mono8, camera size and frame): with every
  frame, same stamp; per-pixel class 0 floor, 1 obstacle, 2 wall.

Sensors (names, topics, mounting poses, max_range, thresholds) and the distances come from the
labeling config (``config/robot.yaml``), so the simulator and the labeler agree.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from selfsup_perception.core.config import load_config
from selfsup_perception.core.geometry import relative_pose
from selfsup_perception.core.resources import robot_config
from selfsup_perception.rosio.bags import BagWriter
from selfsup_perception.sim.messages import output_messages, topic_types
from selfsup_perception.sim.params import SimParamError, SimParams
from selfsup_perception.sim.robot import OdometrySample
from selfsup_perception.sim.simulation import SimOutput, Simulation


@dataclass(frozen=True)
class SimSummary:
    """What a recorded run contains, for the end-of-run report and for tests."""

    path: Path
    seed: int
    sim_seconds: float
    wall_seconds: float
    frames: int
    messages: dict[str, int] = field(default_factory=dict)
    obstacle_ratio: float = 0.0
    near_obstacle_ratio: float = 0.0
    proximity_obstacle_ratio: float = 0.0
    distance_travelled: float = 0.0
    odometry_error: float = 0.0

    @property
    def real_time_factor(self) -> float:
        """Simulated seconds per wall-clock second."""
        return self.sim_seconds / max(self.wall_seconds, 1e-9)

    def lines(self) -> list[str]:
        """Human-readable summary."""
        return [
            f'wrote {self.path}: {self.sim_seconds:.1f} s simulated in {self.wall_seconds:.1f} s '
            f'({self.real_time_factor:.1f}x real time), seed {self.seed}',
            f'frames: {self.frames}; messages: {sum(self.messages.values())} on {len(self.messages)} topics',
            f'ground truth obstacle ratio: {self.obstacle_ratio:.3f} over all distances, '
            f'{self.near_obstacle_ratio:.3f} at the nearest distance',
            f'proximity readings below threshold: {self.proximity_obstacle_ratio:.3f}',
            f'distance travelled: {self.distance_travelled:.2f} m; final odometry error: '
            f'{self.odometry_error:.3f} m',
        ]


class _Tally:
    """Running statistics of a recording, for the summary."""

    def __init__(self, simulation: Simulation, topics: dict[str, str]) -> None:
        self.counts = dict.fromkeys(topics, 0)
        self.frames = self.readings = self.close_readings = 0
        self.obstacle_sums = np.zeros(len(simulation.distances))
        self.thresholds = np.array([s.threshold for s in simulation.sensors])
        self.travelled = 0.0
        self.last_pose = simulation.pose
        self.odometry: OdometrySample | None = None

    def add(self, simulation: Simulation, output: SimOutput) -> None:
        if output.camera is not None:
            self.frames += 1
            self.obstacle_sums += output.camera.obstacles.mean(axis=1)
        if output.ranges is not None:
            self.readings += output.ranges.size
            self.close_readings += int(np.count_nonzero(output.ranges < self.thresholds))
            pose = simulation.pose
            self.travelled += math.hypot(pose[0] - self.last_pose[0], pose[1] - self.last_pose[1])
            self.last_pose = pose
        self.odometry = output.odometry or self.odometry

    def summary(self, simulation: Simulation, path: Path, seconds: float, wall_seconds: float) -> SimSummary:
        ratios = self.obstacle_sums / max(self.frames, 1)
        true = relative_pose(simulation.arena.start, simulation.pose)
        odometry = self.odometry
        return SimSummary(
            path=path,
            seed=simulation.params.seed,
            sim_seconds=seconds,
            wall_seconds=wall_seconds,
            frames=self.frames,
            messages=self.counts,
            obstacle_ratio=float(ratios.mean()),
            near_obstacle_ratio=float(ratios[0]),
            proximity_obstacle_ratio=self.close_readings / max(self.readings, 1),
            distance_travelled=self.travelled,
            odometry_error=math.hypot(odometry.x - true[0], odometry.y - true[1]) if odometry else 0.0,
        )


def _record(simulation: Simulation, path: Path, seconds: float, compressed: bool, progress: bool) -> _Tally:
    """Step the simulation up to ``seconds`` and write every output to a new bag at ``path``."""
    types = topic_types(simulation, compressed)
    tally = _Tally(simulation, types)
    total_frames = math.floor(seconds * simulation.params.camera_rate + 1e-9) + 1
    with (
        BagWriter(path) as writer,
        tqdm(total=total_frames, unit='frame', disable=not progress, leave=False) as bar,
    ):
        for topic, msgtype in types.items():
            writer.add_topic(topic, msgtype)
        while (output := simulation.step()).stamp <= seconds + 1e-9:
            for topic, message in output_messages(writer.kit, simulation, output, compressed):
                writer.write(topic, types[topic], message, output.stamp)
                tally.counts[topic] += 1
            tally.add(simulation, output)
            bar.update(output.camera is not None)
    return tally


def simulate_to_bag(
    out: str | Path,
    seed: int,
    seconds: float,
    config_path: str | Path | None = None,
    compressed: bool = False,
    progress: bool = False,
    **overrides: Any,
) -> SimSummary:
    """Simulate ``seconds`` s of arena ``seed`` and write the bag directory ``out`` (must not exist).

    ``config_path`` defaults to the shipped ``config/robot.yaml``; ``overrides`` are other
    :class:`SimParams` fields. Raises SimParamError, ConfigError, GLUnavailableError or
    FileExistsError before writing anything when an input is bad.
    """
    out = Path(out)
    if not seconds > 0 or not math.isfinite(seconds):
        raise SimParamError(f'seconds: must be a positive number, got {seconds!r}')
    if out.exists():
        raise FileExistsError(f'output bag {out} already exists; choose another path or remove it')
    config = load_config(config_path or robot_config())
    start = time.perf_counter()
    with Simulation(SimParams(seed=seed, **overrides), config) as simulation:
        # Written in a scratch folder beside ``out`` (the MCAP file is named after the bag's folder)
        # and moved into place when complete, so that a reader never sees half a bag.
        scratch = out.with_name(f'.{out.name}.partial')
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        try:
            tally = _record(simulation, scratch / out.name, seconds, compressed, progress)
            (scratch / out.name).replace(out)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return tally.summary(simulation, out, seconds, time.perf_counter() - start)
