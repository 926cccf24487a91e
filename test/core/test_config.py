from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from selfsup_perception.core.config import (
    ConfigError,
    labeling_from_dict,
    labeling_from_stored,
    load_config,
    ros_parameters,
)

ROBOT = Path(__file__).resolve().parents[2] / 'config' / 'robot.yaml'


def _params() -> dict:
    return ros_parameters(yaml.safe_load(ROBOT.read_text()))


def test_robot_yaml_has_five_front_sensors(robot_config):
    assert robot_config.sensor_names == ('left', 'center_left', 'center', 'center_right', 'right')
    assert robot_config.distances[0] == 0.0
    assert robot_config.distances[-1] == pytest.approx(1.0)
    assert len(robot_config.distances) == 21
    yaws = [s.yaw for s in robot_config.sensors]
    assert yaws == sorted(yaws, reverse=True)  # left to right


@pytest.mark.parametrize(('path', 'value', 'message'), [
    (('labeling', 'horizon'), -1.0, 'labeling.horizon: must be > 0'),
    (('labeling', 'tolerance_forward'), 'wide', 'labeling.tolerance_forward: expected a number'),
    (('labeling', 'distances'), [0.0, 0.2, 0.1], 'labeling.distances: must be strictly increasing'),
    (('labeling', 'distances'), [], 'labeling.distances: expected a non-empty list'),
    (('labeling', 'sync_tolerance'), float('nan'), 'labeling.sync_tolerance: must be finite'),
    (('labeling', 'horizonn'), 1.0, 'labeling.horizonn: unknown setting'),
    (('sensors', 'left', 'threshold'), 0.5, 'sensors.left.threshold: a range threshold must be in'),
    (('sensors', 'left', 'msg_type'), 'sonar', 'sensors.left.msg_type: must be one of'),
    (('sensors', 'left', 'index'), -2, 'sensors.left.index: must be an integer >= 0'),
    (('sensors', 'names'), ['left', 'left'], 'sensors.names: duplicate names'),
    (('sensors', 'names'), ['left', 'ghost'], "sensors.ghost: missing settings for sensor 'ghost'"),
    (('labeling', 'reset_threshold'), 0.1, 'labeling.reset_threshold: must be >= labeling.reorder_window'),
])
def test_bad_values_name_the_key(path, value, message):
    params = _params()
    target = params
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ConfigError, match=message.replace('(', r'\(').replace(')', r'\)')):
        labeling_from_dict(params)


def test_missing_sensor_setting_is_named():
    params = _params()
    del params['sensors']['center']['topic']
    with pytest.raises(ConfigError, match='sensors.center.topic: missing'):
        labeling_from_dict(params)


def test_file_errors_name_the_file(tmp_path):
    bad = tmp_path / 'bad.yaml'
    bad.write_text('/**:\n  ros__parameters:\n    labeling: {horizon: 0}\n    sensors: {names: [a], a: '
                   '{topic: /a, threshold: 0.1, max_range: 0.2}}\n')
    with pytest.raises(ConfigError, match=r'bad.yaml: labeling.horizon: must be > 0'):
        load_config(bad)
    with pytest.raises(ConfigError, match='cannot read config file'):
        load_config(tmp_path / 'missing.yaml')
    (tmp_path / 'plain.yaml').write_text('labeling: {}\n')
    with pytest.raises(ConfigError, match='ros__parameters'):
        load_config(tmp_path / 'plain.yaml')


def test_node_section_overrides_global(tmp_path):
    text = ROBOT.read_text() + 'labeler:\n  ros__parameters:\n    labeling:\n      horizon: 3.0\n'
    path = tmp_path / 'c.yaml'
    path.write_text(text)
    assert load_config(path).horizon == 10.0
    assert load_config(path, node_name='labeler').horizon == 3.0


def test_a_stored_config_reads_back_as_it_was(robot_config):
    assert labeling_from_stored(robot_config.to_dict()) == robot_config
    with pytest.raises(ConfigError, match='stored labeling config'):
        labeling_from_stored({'distances': [0.0]})
