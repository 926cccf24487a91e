"""Self-supervised pixel labels on the simulator: scored against the rendered classes, by hand and on a run."""

from __future__ import annotations

import numpy as np
import pytest

from selfsup_perception.core.config import pixel_labels_from_dict
from selfsup_perception.core.pixel_labels import FLOOR, OBSTACLE, UNKNOWN, frame_camera
from selfsup_perception.sim.params import SimParams
from selfsup_perception.sim.pixel_agreement import (
    measure_pixel_labels,
    pixel_agreement,
    pixel_label_example,
    simulated_camera,
)
from selfsup_perception.sim.robot import CAMERA_X


def test_agreement_counts_by_hand(robot_config):
    pixels = pixel_labels_from_dict(robot_config.extra)
    camera = frame_camera(pixels, 12, 16)
    truth = np.full((12, 16), 2, np.uint8)  # wall
    truth[8:] = 0  # floor at the bottom
    truth[6:8, :4] = 1  # an obstacle
    labels = np.full((12, 16), UNKNOWN, np.uint8)
    labels[10:, 4:8] = FLOOR  # 8 right
    labels[7, 4:6] = FLOOR  # 2 wrong (wall)
    labels[6:8, 2:4] = OBSTACLE  # 4 right (obstacle)
    labels[9, 12:14] = OBSTACLE  # 2 wrong (floor)
    labels[2, 0] = OBSTACLE  # 1 right (wall)
    result = pixel_agreement([(labels, truth)], camera, edges=(0.5,))
    assert result.frames == 1
    assert result.floor_precision == pytest.approx(8 / 10)
    assert result.obstacle_precision == pytest.approx(5 / 7)
    assert result.coverage == pytest.approx(8 / (4 * 16))
    assert int(result.true_floor.sum()) == 64
    rows = result.per_band()
    assert [r['band'] for r in rows] == ['0.0-0.5 m', '>= 0.5 m']
    assert sum(int(r['floor_labels']) for r in rows) == 10
    with pytest.raises(ValueError, match='band edges'):
        pixel_agreement([], camera, edges=(0.5, 0.2))
    with pytest.raises(ValueError, match='must both be'):
        pixel_agreement([(labels[:2], truth)], camera)


def test_simulated_camera_is_the_simulators():
    params = SimParams(camera_width=64, camera_height=48, camera_tilt=0.3)
    camera = simulated_camera(params, pixel_labels_from_dict({}))
    assert (camera.width, camera.height, camera.mount.tilt, camera.mount.x) == (64, 48, 0.3, CAMERA_X)


@pytest.mark.slow
def test_pixel_labels_are_precise_on_a_simulated_run(robot_config):
    """A short run in a tuning world: the targets (floor >= 0.98, obstacle >= 0.90) with labels to spare."""
    result = measure_pixel_labels(20_005, 40.0, robot_config, pixel_labels_from_dict(robot_config.extra))
    assert result.frames == 401
    assert result.floor_labels.sum() > 100_000
    assert result.obstacle_labels.sum() > 1_000
    assert result.floor_precision >= 0.98
    assert result.obstacle_precision >= 0.90
    assert result.coverage > 0.05


def test_example_picture_shows_labelled_frames(robot_config):
    sheet = pixel_label_example(20_005, 6.0, robot_config, pixel_labels_from_dict(robot_config.extra), count=2,
                                columns=1, scale=1)
    assert sheet.shape == (2 * 120 + 4, 2 * 160, 3)
    assert sheet.dtype == np.uint8
