"""Ground truth per camera frame: what each proximity sensor would see d metres ahead, and pixel classes.

Obstacles (``/ground_truth/obstacles``): for distance d_k and sensor s, 1 if the sensor, mounted on the
robot moved d_k along its current heading, would read a range below its threshold (an exact ray cast in
the world, no noise), or if that mounting point lies inside an obstacle or outside the room; else 0.
Segmentation (``/ground_truth/segmentation``): MuJoCo's per-pixel geom ids mapped to 0 floor,
1 obstacle, 2 wall (walls, skirting, ceiling, and anything else that is not floor or obstacle).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import mujoco
import numpy as np

from selfsup_perception.core.config import SensorConfig
from selfsup_perception.sim.robot import Pose, sensor_poses, true_ranges
from selfsup_perception.sim.world import WALL, Arena

_GEOM_TYPE = int(mujoco.mjtObj.mjOBJ_GEOM)


def obstacle_ground_truth(
    model: mujoco.MjModel,
    data: mujoco.MjData,
    arena: Arena,
    sensors: Sequence[SensorConfig],
    distances: Sequence[float],
    pose: Pose,
) -> np.ndarray:
    """(len(distances), len(sensors)) uint8: 1 where sensor s would see an obstacle at distance d ahead."""
    thresholds = np.array([s.threshold for s in sensors])
    truth = np.zeros((len(distances), len(sensors)), np.uint8)
    for row, ahead in enumerate(distances):
        ranges = true_ranges(model, data, sensors, pose, ahead)
        inside = [not arena.is_free(x, y) for x, y, _ in sensor_poses(sensors, pose, ahead)]
        truth[row] = (ranges < thresholds) | np.array(inside)
    return truth


def segmentation_lookup(model: mujoco.MjModel, classes: Mapping[str, int]) -> np.ndarray:
    """Class per geom id, shifted by one so that index 0 is the background (geom id -1): a wall."""
    lookup = np.full(model.ngeom + 1, WALL, np.uint8)
    for name, label in classes.items():
        lookup[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, name) + 1] = label
    return lookup


def segmentation_classes(ids: np.ndarray, lookup: np.ndarray) -> np.ndarray:
    """(H, W) uint8 classes from MuJoCo's segmentation render ((H, W, 2): object id, object type)."""
    geom = np.where(ids[..., 1] == _GEOM_TYPE, ids[..., 0], -1)
    return lookup[geom + 1]  # type: ignore[no-any-return]  # numpy types fancy indexing as Any
