from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from selfsup_perception.cli import main
from selfsup_perception.core.dataset import Dataset, DatasetWriter
from selfsup_perception.core.labeling import ODOMETRY, Recording, StreamingLabeler, label_recording
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


def test_every_missing_or_mistyped_topic_in_one_error(tmp_path, robot_config, drive):
    write_recording(tmp_path / 'bag', drive, robot_config.sensors)
    with pytest.raises(BagError, match=r'topics not in the bag: /cam, /od \(the bag has: .*/camera/image_raw'):
        bag_to_dataset(tmp_path / 'bag', robot_config, tmp_path / 'd.db', BagTopics(camera='/cam', odometry='/od'))
    with BagWriter(tmp_path / 'bad') as bag:
        bag.write('/camera/image_raw', RANGE, range_message(bag.kit, 0.0, robot_config.sensors[0], 0.1), 0.0)
    with pytest.raises(BagError) as caught:
        bag_to_dataset(tmp_path / 'bad', robot_config, tmp_path / 'd2.db')
    message = str(caught.value)
    assert 'topics not in the bag: /odom, ' + ', '.join(s.topic for s in robot_config.sensors) in message
    assert '/camera/image_raw has type sensor_msgs/msg/Range, expected sensor_msgs/msg/Image or' in message
    with pytest.raises(BagError, match='no such bag'):
        bag_to_dataset(tmp_path / 'nothing', robot_config, tmp_path / 'd3.db')
    assert not (tmp_path / 'd.db').exists()  # nothing written for a bag that cannot be used


def test_a_bare_mcap_is_read_and_its_folder_explained(tmp_path, robot_config, drive):
    write_recording(tmp_path / 'bag', drive, robot_config.sensors)
    (tmp_path / 'copied').mkdir()
    bare = tmp_path / 'copied' / 'run.mcap'
    next((tmp_path / 'bag').glob('*.mcap')).rename(bare)
    with pytest.raises(BagError, match=rf'copied: a folder without metadata.yaml holding run.mcap: pass the file '
                                       rf'itself, e.g. {bare}$'):
        bag_to_dataset(tmp_path / 'copied', robot_config, tmp_path / 'd.db')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(BagError, match=r'not a rosbag2 folder \(no metadata.yaml\) and no .mcap/.db3/.bag file'):
        bag_to_dataset(tmp_path / 'empty', robot_config, tmp_path / 'd.db')
    assert bag_to_dataset(bare, robot_config, tmp_path / 'd.db').frames == 200


def _odometry_shifted(drive, start, stop, dx=0.0, drop=False):
    """The drive with odometry in [start, stop) dropped (a gap), or odometry from ``start`` on moved by dx."""
    odometry = (drive.kind == ODOMETRY) & (drive.stamp >= start) & (drive.stamp < stop)
    values = drive.values.copy()
    values[odometry, 0] += dx
    keep = ~odometry if drop else np.ones(drive.kind.size, bool)
    return Recording(drive.kind[keep], drive.stamp[keep], values[keep])


def gaps_and_jumps(recording, config):
    """(gaps, jumps) as the offline labeler counts them, checked against the streaming one."""
    _, stats = label_recording(recording, config)
    streaming = StreamingLabeler(config)
    for kind, stamp, values in zip(recording.kind.tolist(), recording.stamp.tolist(), recording.values.tolist(),
                                   strict=True):
        streaming.add(kind, stamp, values)
    streaming.flush()
    assert (streaming.stats.odometry_gaps, streaming.stats.odometry_jumps) == (stats.odometry_gaps,
                                                                                stats.odometry_jumps)
    return stats.odometry_gaps, stats.odometry_jumps


def test_odometry_gaps_and_jumps_are_counted_apart(tmp_path, robot_config, drive):
    gap = _odometry_shifted(drive, 5.0, 7.0, drop=True)  # 2 s without odometry, the robot moves 0.3 m
    teleport = _odometry_shifted(drive, 12.0, 99.0, dx=1.0)
    assert gaps_and_jumps(gap, robot_config) == (1, 0)  # a move across a gap is the gap's, not a jump too
    assert gaps_and_jumps(teleport, robot_config) == (0, 1)
    assert gaps_and_jumps(_odometry_shifted(teleport, 5.0, 7.0, drop=True), robot_config) == (1, 1)
    write_recording(tmp_path / 'bag', gap, robot_config.sensors)
    lines = bag_to_dataset(tmp_path / 'bag', robot_config, tmp_path / 'd.db').lines(robot_config.distances)
    assert 'odometry gaps (longer than max_odom_gap = 0.5 s): 1' in lines
    assert not [line for line in lines if line.startswith('odometry jumps')]


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
    assert 'error: ' in capsys.readouterr().err


def test_cli_refuses_an_out_that_is_not_a_dataset_like_it(tmp_path, robot_config, drive, capsys):
    config = 'config/robot.yaml'
    write_recording(tmp_path / 'bag', drive, robot_config.sensors)
    notes = tmp_path / 'notes.txt'
    notes.write_text('mine\n')
    other = tmp_path / 'other.db'
    DatasetWriter(other, dataclasses.replace(robot_config, distances=(0.0, 0.5))).close()
    for out, message in ((notes, 'notes.txt: not a readable dataset (file is not a database)'),
                         (other, 'other.db: was labelled with other distances ([0.0, 0.5])')):
        assert main(['bag2dataset', str(tmp_path / 'bag'), '--config', config, '--out', str(out)]) == 2
        captured = capsys.readouterr()
        assert message in captured.err
        assert len(captured.err.splitlines()) == 1
        assert 'pass 1/2' not in captured.err  # refused before the bag is read
    assert notes.read_text() == 'mine\n'


def test_cli_same_bag_twice_stores_each_frame_once(tmp_path, robot_config, drive, capsys):
    args = ['bag2dataset', str(tmp_path / 'bag'), '--config', 'config/robot.yaml', '--out', str(tmp_path / 'd.db')]
    write_recording(tmp_path / 'bag', drive, robot_config.sensors)
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 1
    captured = capsys.readouterr()
    assert 'frames: 0 ' in captured.out
    assert 'frames already in the dataset (same segment and stamp), skipped: 200' in captured.out
    assert 'error: no frame could be stored' in captured.err
    with Dataset(tmp_path / 'd.db') as dataset:
        assert len(dataset) == 200


def test_cli_help_names_every_bag_form(capsys):
    with pytest.raises(SystemExit):
        main(['bag2dataset', '--help'])
    text = ' '.join(capsys.readouterr().out.split())
    assert 'rosbag2 folder (mcap or sqlite3 storage), a bare .mcap or .db3 file, or a ROS 1 .bag' in text
