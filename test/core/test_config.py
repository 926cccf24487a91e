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
    (('pixel_labels', 'footprint', 'shape'), 'hexagon', 'pixel_labels.footprint.shape: must be one of'),
    (('pixel_labels', 'beam_width'), -0.1, 'pixel_labels.beam_width: must be > 0'),
    (('camera_tilt', ), 3.0, 'camera_tilt: must be in'),
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


@pytest.mark.parametrize(('body', 'message'), [
    ('    labeling: ' + '[' * 50000 + ']' * 50000, 'nested too deeply to be a config file'),
    ('    labeling: ' + '{a: ' * 3000 + '1' + '}' * 3000, 'nested too deeply to be a config file'),
    ('    labeling: {horizon: 1' + '0' * 400 + '}', r'labeling.horizon: too large, got 1000.*000$'),
    ('    labeling: {1: 2, horizonn: 3}', 'labeling.1: unknown setting'),
    ('    labeling: {distances: "' + 'x' * 5000 + '"}', r"labeling.distances: expected a non-empty list, got 'x.{10,40}'$"),
    ('    labeling: {[1]: 2}', r'not valid YAML: found unhashable key \(line 3, column 16\)$'),
    ('    sensors: {names: [a], a: {topic: /a, threshold: 0.1, max_range: 1, 7: x, zz: 1}}', 'sensors.a.7: unknown sensor setting'),
])
def test_hostile_files_give_one_line_errors(tmp_path, body, message):
    path = tmp_path / 'c.yaml'
    path.write_text('/**:\n  ros__parameters:\n' + body + '\n')
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path)
    assert '\n' not in str(caught.value)
    assert str(caught.value).startswith(f'{path}: ')
    assert len(str(caught.value)) < 300


def test_a_file_that_is_not_text_is_named(tmp_path):
    path = tmp_path / 'c.yaml'
    path.write_bytes(b'\xff\xfe\x00binary')
    with pytest.raises(ConfigError, match=rf'^{path}: not a text file'):
        load_config(path)


def test_a_stored_config_reads_back_as_it_was(robot_config):
    assert labeling_from_stored(robot_config.to_dict()) == robot_config
    with pytest.raises(ConfigError, match='stored labeling config'):
        labeling_from_stored({'distances': [0.0]})
