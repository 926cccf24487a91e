from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from selfsup_perception.cli import main
from selfsup_perception.core.dataset import Dataset
from selfsup_perception.core.labeling import label_recording
from selfsup_perception.rosio.bag2dataset import BagError, BagTopics, bag_to_dataset
from selfsup_perception.rosio.bags import BagWriter, write_recording
from selfsup_perception.rosio.messages import RANGE, range_message
from selfsup_perception.testing.drives import message_exact_drive
from selfsup_perception.testing.synthetic import DriveSpec


@pytest.fixture(scope='module')
def drive(robot_config):
    return message_exact_drive(robot_config, DriveSpec(duration=20, reorder_window=0.2, dropout=0.1), seed=7)


def _expected(drive, config):
    frames, _ = label_recording(drive, config)
    return {f.stamp: f.labels for f in frames}


def _stored(path):
    with Dataset(path) as dataset:
        data = dataset.read_all(images=True)
    labels = np.where(data.mask, data.labels.astype(np.int8), -1)
    return data, dict(zip(data.stamps.tolist(), labels, strict=True))


@pytest.mark.parametrize(('storage', 'compressed'), [('mcap', False), ('sqlite3', True)])
def test_bag_labels_equal_the_offline_labeler(tmp_path, robot_config, drive, storage, compressed):
    write_recording(tmp_path / 'bag', drive, robot_config.sensors, storage=storage, compressed=compressed)
    summary = bag_to_dataset(tmp_path / 'bag', robot_config, tmp_path / 'd.db')
    data, stored = _stored(tmp_path / 'd.db')
    expected = _expected(drive, robot_config)
    assert summary.frames == len(expected) == 200
    assert sorted(stored) == sorted(expected)
    for stamp, labels in expected.items():
        np.testing.assert_array_equal(stored[stamp], labels)
    assert data.images.shape == (200, 120, 160, 3)
    assert int(summary.labels_known.sum()) == sum(int((v >= 0).sum()) for v in expected.values())


def test_thymio_style_laser_scan(tmp_path, robot_config, drive):
    laser = dataclasses.replace(
        robot_config,
        sensors=tuple(dataclasses.replace(s, topic=f'/proximity/{s.name}_scan', msg_type='laser_scan')
                      for s in robot_config.sensors))
    write_recording(tmp_path / 'bag', drive, laser.sensors)
    bag_to_dataset(tmp_path / 'bag', laser, tmp_path / 'd.db')
    _, stored = _stored(tmp_path / 'd.db')
    assert sum(int((v >= 0).sum()) for v in stored.values()) == sum(
        int((v >= 0).sum()) for v in _expected(drive, robot_config).values())


def test_missing_topic_and_wrong_type_are_clear(tmp_path, robot_config, drive):
    write_recording(tmp_path / 'bag', drive, robot_config.sensors)
    with pytest.raises(BagError, match=r'topic /cam is not in the bag \(it has: .*/camera/image_raw'):
        bag_to_dataset(tmp_path / 'bag', robot_config, tmp_path / 'd.db', BagTopics(camera='/cam'))
    with BagWriter(tmp_path / 'bad') as bag:
        bag.write('/camera/image_raw', RANGE, range_message(bag.kit, 0.0, robot_config.sensors[0], 0.1), 0.0)
    with pytest.raises(BagError, match='topic /camera/image_raw has type sensor_msgs/msg/Range, expected'):
        bag_to_dataset(tmp_path / 'bad', robot_config, tmp_path / 'd2.db')
    with pytest.raises(BagError, match='no such bag'):
        bag_to_dataset(tmp_path / 'nothing', robot_config, tmp_path / 'd3.db')


def test_cli_bag2dataset_and_export(tmp_path, robot_config, drive, capsys):
    config = 'config/robot.yaml'
    write_recording(tmp_path / 'bag', drive, robot_config.sensors)
    assert main(['bag2dataset', str(tmp_path / 'bag'), '--config', config, '--out', str(tmp_path / 'd.db')]) == 0
    out = capsys.readouterr().out
    assert 'frames: 200' in out
    assert 'positive ratio' in out
    assert ' 0.50 m:' in out
    assert main(['dataset', 'export', str(tmp_path / 'd.db'), '--npz', str(tmp_path / 'd.npz')]) == 0
    arrays = np.load(tmp_path / 'd.npz', allow_pickle=False)
    assert arrays['images'].shape == (200, 120, 160, 3)
    assert arrays['labels'].shape == arrays['mask'].shape == (200, 21, 5)
    assert main(['dataset', 'info', str(tmp_path / 'd.db')]) == 0
    assert main(['bag2dataset', str(tmp_path / 'none'), '--config', config, '--out', str(tmp_path / 'x.db')]) == 2
    assert 'error: ' in capsys.readouterr().out
