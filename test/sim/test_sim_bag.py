"""The bag writer: every topic written and readable with rosbags, layouts as documented, CLI errors."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore
from simhelpers import CONFIG_PATH

from selfsup_perception.cli.simulate import add_arguments, run
from selfsup_perception.core.segmentation import intrinsics_from_hfov as camera_matrix
from selfsup_perception.sim import simulate_to_bag

TYPESTORE = get_typestore(Stores.ROS2_JAZZY)


def _read(path: Path) -> dict[str, list[tuple[int, object]]]:
    messages: dict[str, list[tuple[int, object]]] = {}
    with Reader(path) as reader:
        for connection, timestamp, raw in reader.messages():
            message = TYPESTORE.deserialize_cdr(raw, connection.msgtype)
            messages.setdefault(connection.topic, []).append((timestamp, message))
    return messages


def test_bag_holds_every_topic_with_the_documented_layout(tmp_path: Path, robot_config) -> None:
    out = tmp_path / 'run'
    summary = simulate_to_bag(out, seed=1, seconds=2.0, config_path=CONFIG_PATH)
    messages = _read(out)
    proximity = {sensor.topic for sensor in robot_config.sensors}
    assert set(messages) == {
        '/camera/image_raw',
        '/camera/camera_info',
        '/odom',
        '/clock',
        '/ground_truth/obstacles',
        '/ground_truth/segmentation',
        *proximity,
    }
    # t = 0 to 2 s inclusive at the default rates.
    counts = {topic: len(items) for topic, items in messages.items()}
    assert counts['/camera/image_raw'] == counts['/ground_truth/obstacles'] == summary.frames == 21
    assert counts['/odom'] == 101
    assert counts['/clock'] == 201
    assert all(counts[topic] == 41 for topic in proximity)
    assert summary.messages == counts

    stamp, image = messages['/camera/image_raw'][5]
    assert (image.height, image.width, image.encoding, image.step) == (120, 160, 'rgb8', 480)
    assert image.header.stamp.sec * 10**9 + image.header.stamp.nanosec == stamp == 500_000_000
    info = messages['/camera/camera_info'][5][1]
    np.testing.assert_allclose(info.k.reshape(3, 3), camera_matrix(160, 120, 1.22))
    truth = messages['/ground_truth/obstacles'][5][1]
    assert (truth.height, truth.width, truth.encoding) == (
        len(robot_config.distances),
        len(robot_config.sensors),
        'mono8',
    )
    assert truth.header.stamp == image.header.stamp
    assert set(np.unique(truth.data)) <= {0, 1}
    segmentation = messages['/ground_truth/segmentation'][5][1]
    assert (segmentation.height, segmentation.width, segmentation.encoding) == (120, 160, 'mono8')
    assert segmentation.header.stamp == image.header.stamp
    assert set(np.unique(segmentation.data)) <= {0, 1, 2}
    for topic in proximity:
        for _, reading in messages[topic]:
            assert (
                reading.range == math.inf
                or reading.range == -math.inf
                or (reading.min_range <= reading.range <= reading.max_range)
            )
            assert reading.max_range == pytest.approx(0.12)
    odometry = messages['/odom'][-1][1]
    assert (odometry.header.frame_id, odometry.child_frame_id) == ('odom', 'base_link')
    assert odometry.twist.twist.linear.x == pytest.approx(0.15, abs=0.05)  # wandering forward
    assert not any(path.name.startswith('.') for path in tmp_path.iterdir())  # scratch folder removed


def test_compressed_bag_has_jpeg_images(tmp_path: Path) -> None:
    out = tmp_path / 'jpeg'
    simulate_to_bag(out, seed=2, seconds=0.3, compressed=True, camera_width=64, camera_height=48)
    messages = _read(out)
    assert '/camera/image_raw' not in messages
    _, compressed = messages['/camera/image_raw/compressed'][0]
    assert compressed.format == 'jpeg'
    decoded = cv2.imdecode(np.frombuffer(compressed.data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (48, 64, 3)


def test_existing_output_is_not_overwritten(tmp_path: Path) -> None:
    with pytest.raises(FileExistsError, match='already exists'):
        simulate_to_bag(tmp_path, seed=0, seconds=1.0)


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_cli_writes_a_bag_and_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / 'cli'
    args = _parse(
        '--seed',
        '4',
        '--minutes',
        '0.005',
        '--out',
        str(out),
        '--quiet',
        '--camera-width',
        '64',
        '--camera-height',
        '48',
        '--config',
        str(CONFIG_PATH),
    )
    assert run(args) == 0
    printed = capsys.readouterr().out
    assert f'wrote {out}' in printed
    assert 'frames: 4' in printed
    assert 'obstacle ratio' in printed
    assert (out / 'metadata.yaml').is_file()


@pytest.mark.parametrize(
    ('argv', 'name'),
    [
        (('--camera-rate', '0'), 'camera_rate'),
        (('--room-size', '-2'), 'room_size'),
        (('--minutes', '0'), 'minutes'),
        (('--min-obstacles', '80', '--max-obstacles', '80', '--room-size', '3'), 'max_obstacles'),
    ],
)
def test_cli_rejects_bad_parameters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], name: str
) -> None:
    out = tmp_path / 'bad'
    assert run(_parse('--out', str(out), '--quiet', *argv)) == 2
    assert f'error: {name}:' in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cli_reports_a_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(_parse('--out', str(tmp_path / 'bag'), '--config', str(tmp_path / 'missing.yaml'))) == 2
    assert 'missing.yaml' in capsys.readouterr().err
