"""Bad parameters fail at start with a message that names the parameter."""

from __future__ import annotations

import dataclasses

import pytest

from selfsup_perception.core import resources
from selfsup_perception.core.config import LabelingConfig
from selfsup_perception.sim import SimParamError, SimParams, Simulation
from selfsup_perception.sim.params import DESCRIPTIONS


@pytest.mark.parametrize(
    ('name', 'value'),
    [
        ('room_size', -3.0),
        ('room_size', 0.5),
        ('camera_rate', 0.0),
        ('proximity_rate', -1.0),
        ('odom_rate', 1000.0),
        ('camera_width', 0),
        ('camera_height', 2.5),
        ('camera_hfov', 3.2),
        ('camera_mount_height', -0.1),
        ('camera_tilt', 2.0),
        ('min_obstacles', -1),
        ('proximity_noise', -0.01),
        ('forward_speed', 0.0),
        ('seed', -4),
        ('seed', True),
        ('room_size', float('nan')),
        ('room_size', 'big'),
    ],
)
def test_bad_parameter_is_named(name: str, value: object) -> None:
    with pytest.raises(SimParamError, match=rf'^{name}: '):
        SimParams(**{name: value})


def test_max_below_min_obstacles() -> None:
    with pytest.raises(SimParamError, match=r'^max_obstacles: must be >= min_obstacles'):
        SimParams(min_obstacles=5, max_obstacles=2)


def test_every_parameter_is_described() -> None:
    assert set(DESCRIPTIONS) == {item.name for item in dataclasses.fields(SimParams)}


def test_shipped_config_is_found() -> None:
    assert resources.robot_config().is_file()


def test_sensor_kinds_the_simulator_cannot_publish_are_rejected(robot_config: LabelingConfig) -> None:
    sensors = (dataclasses.replace(robot_config.sensors[0], msg_type='laser_scan'), *robot_config.sensors[1:])
    with pytest.raises(SimParamError, match=r'^config: sensors.left: .*msg_type'):
        Simulation(SimParams(), dataclasses.replace(robot_config, sensors=sensors))
    far = (dataclasses.replace(robot_config.sensors[0], x=0.5), *robot_config.sensors[1:])
    with pytest.raises(SimParamError, match=r'^config: sensors.left: mounted'):
        Simulation(SimParams(), dataclasses.replace(robot_config, sensors=far))
