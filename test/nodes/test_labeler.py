"""The labeler node with real rclpy: a probe publishes a drive, the dataset must equal offline labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ros_probe import Probe, spin_until

from selfsup_perception.core.dataset import Dataset
from selfsup_perception.core.labeling import FRAME, ODOMETRY, label_recording
from selfsup_perception.testing.drives import MessageFactory, message_exact_drive
from selfsup_perception.testing.synthetic import DriveSpec

ROOT = Path(__file__).resolve().parents[2]


def _received(node) -> int:
    s = node.labeler.stats
    return (node.diagnostics.counters['frames_in'] + s.odometry + s.readings + s.unknown_readings
            + s.late_messages + s.duplicate_odometry + s.invalid_stamps + s.invalid_odometry)


def _start_labeler(ros, tmp_path, *extra: str):
    from selfsup_perception.nodes.labeler import LabelerNode

    node = LabelerNode(context=ros.context_, cli_args=[
        '--ros-args', '--params-file', str(ROOT / 'config/robot.yaml'),
        '-p', f'dataset_path:={tmp_path / "d.db"}', *extra])
    ros.add_node(node)
    return node


def _publish_drive(probe: Probe, node, recording, config, factory: MessageFactory) -> None:
    from nav_msgs.msg import Odometry
    from rclpy.serialization import serialize_message  # noqa: F401  (import check: rclpy present)
    from sensor_msgs.msg import Image, Range

    store = factory.store
    for kind, stamp, values in zip(recording.kind.tolist(), recording.stamp.tolist(),
                                   recording.values.tolist(), strict=True):
        if kind == FRAME:
            image = np.full((12, 16, 3), int(values[0]) % 256, np.uint8)
            topic, ros_type, name, msg = '/camera/image_raw', Image, 'sensor_msgs/msg/Image', \
                factory.image(image, stamp, 'camera')
        elif kind == ODOMETRY:
            topic, ros_type, name, msg = '/odom', Odometry, 'nav_msgs/msg/Odometry', factory.odometry(*values, stamp)
        else:
            sensor = config.sensors[kind - 2]
            topic, ros_type, name, msg = sensor.topic, Range, 'sensor_msgs/msg/Range', \
                factory.range(values[0], stamp, sensor)
        before = _received(node)
        probe.publisher(topic, ros_type).publish(bytes(store.serialize_cdr(msg, name)))
        assert spin_until(probe.executor, lambda b=before: _received(node) > b, 5.0), f'{topic} not delivered'


@pytest.mark.slow
def test_node_dataset_equals_offline_labels(ros, tmp_path, robot_config):
    from nav_msgs.msg import Odometry
    from sensor_msgs.msg import Image, Range

    node = _start_labeler(ros, tmp_path)
    probe = Probe(ros)
    probe.publisher('/camera/image_raw', Image)
    probe.publisher('/odom', Odometry)
    for sensor in robot_config.sensors:
        probe.publisher(sensor.topic, Range)
    probe.wait_for_subscribers()
    recording = message_exact_drive(robot_config, DriveSpec(duration=15, dropout=0.1), seed=11)
    _publish_drive(probe, node, recording, robot_config, MessageFactory())
    node.destroy_node()  # flushes the pending frames into the dataset
    expected, _ = label_recording(recording, robot_config)
    with Dataset(tmp_path / 'd.db') as dataset:
        data = dataset.read_all()
    assert data.stamps.tolist() == [f.stamp for f in expected]
    labels = np.where(data.mask, data.labels.astype(np.int8), -1)
    np.testing.assert_array_equal(labels, np.stack([f.labels for f in expected]))
    assert int(data.mask.sum()) > 300
    np.testing.assert_array_equal(data.images[3], np.full((12, 16, 3), 3, np.uint8))


def test_bad_input_is_counted_and_the_node_keeps_going(ros, tmp_path, robot_config):
    from diagnostic_msgs.msg import DiagnosticArray
    from nav_msgs.msg import Odometry
    from sensor_msgs.msg import Image, Range

    node = _start_labeler(ros, tmp_path, '-p', 'finalize_batch:=1', '-p', 'labeling.horizon:=1.0')
    probe = Probe(ros)
    diagnostics = probe.subscribe('/diagnostics', DiagnosticArray)
    factory = MessageFactory()
    camera, odom = probe.publisher('/camera/image_raw', Image), probe.publisher('/odom', Odometry)
    front = probe.publisher('/proximity/center', Range)
    probe.wait_for_subscribers()
    store = factory.store

    def send(publisher, name, msg):
        before = _received(node)
        publisher.publish(bytes(store.serialize_cdr(msg, name)))
        spin_until(ros, lambda: _received(node) > before, 2.0)

    good = factory.image(np.zeros((4, 4, 3), np.uint8), 0.0, 'c')
    bad_encoding = factory.image(np.zeros((4, 4, 3), np.uint8), 0.1, 'c')
    bad_encoding.encoding = 'yuv422'
    truncated = factory.image(np.zeros((4, 4, 3), np.uint8), 0.2, 'c')
    truncated.data = truncated.data[:10]
    empty = factory.image(np.zeros((4, 4, 3), np.uint8), 0.3, 'c')
    empty.height, empty.width, empty.data = 0, 0, np.zeros(0, np.uint8)
    for image in (good, bad_encoding, truncated, empty):
        send(camera, 'sensor_msgs/msg/Image', image)
    for t in np.arange(0.0, 3.0, 0.02):
        send(odom, 'nav_msgs/msg/Odometry', factory.odometry(0.1 * t, 0.0, 0.0, float(t)))
    send(front, 'sensor_msgs/msg/Range', factory.range(float('nan'), 2.95, robot_config.sensors[2]))
    send(odom, 'nav_msgs/msg/Odometry', factory.odometry(5.0, 0.0, 0.0, 3.02))  # teleport
    send(odom, 'nav_msgs/msg/Odometry', factory.odometry(5.0, 0.0, 0.0, 0.5))  # time backwards
    send(camera, 'sensor_msgs/msg/Image', factory.image(np.zeros((4, 4, 3), np.uint8), 0.6, 'c'))
    spin_until(ros, lambda: len(diagnostics) > 0 and node.diagnostics.counters['time_resets'] > 0, 3.0)
    counters = node.diagnostics.counters
    assert counters['bad_images'] == 3
    assert counters['unknown_readings'] == 1
    assert counters['odometry_jumps'] == 1
    assert counters['time_resets'] == 1
    node.diagnostics.publish()
    assert spin_until(ros, lambda: any(
        {kv.key: kv.value for kv in d.status[0].values}.get('bad_images') == '3' for d in diagnostics), 3.0)
    node.destroy_node()
    with Dataset(tmp_path / 'd.db') as dataset:
        assert len(dataset) == 2  # the good frame before the reset and the one after: nothing lost
