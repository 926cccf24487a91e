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


class Sender:
    """Publishes serialized messages to the labeler and spins until it has taken each one."""

    def __init__(self, ros, node, topics: dict) -> None:
        self.ros, self.node, self.factory = ros, node, MessageFactory()
        self.probe = Probe(ros)
        self.publishers = {topic: self.probe.publisher(topic, msg_type) for topic, msg_type in topics.items()}
        self.probe.wait_for_subscribers()

    def send(self, topic: str, name: str, msg) -> None:
        before = _received(self.node) + _handled(self.node)
        self.publishers[topic].publish(bytes(self.factory.store.serialize_cdr(msg, name)))
        assert spin_until(self.ros, lambda: _received(self.node) + _handled(self.node) > before, 5.0)


def _handled(node) -> int:
    c = node.diagnostics.counters
    s = node.labeler.stats
    return c['bad_images'] + c['wrong_image_size'] + c['callback_errors'] + s.stamp_outliers + node.labeler.held


def _topics(robot_config) -> dict:
    from nav_msgs.msg import Odometry
    from sensor_msgs.msg import Image, Range

    return {'/camera/image_raw': Image, '/odom': Odometry, robot_config.sensors[2].topic: Range}


def test_one_far_off_odometry_stamp_neither_resets_nor_finalises(ros, tmp_path, robot_config):
    """Odometry stamped 0 (then 2^31 - 1) mid-drive: dropped and counted; pending frames stay pending."""
    node = _start_labeler(ros, tmp_path, '-p', 'finalize_batch:=1', '-p', 'labeling.horizon:=1.0')
    sender = Sender(ros, node, _topics(robot_config))
    factory = sender.factory
    for t in np.arange(10.0, 12.0, 0.1):
        sender.send('/odom', 'nav_msgs/msg/Odometry', factory.odometry(0.1 * t, 0.0, 0.0, float(t)))
    sender.send('/camera/image_raw', 'sensor_msgs/msg/Image', factory.image(np.zeros((4, 4, 3), np.uint8), 11.9, 'c'))
    assert node.labeler.pending == 1
    for count, bogus in enumerate((0.0, float(2**31 - 1)), 1):
        sender.send('/odom', 'nav_msgs/msg/Odometry', factory.odometry(5.0, 0.0, 0.0, bogus))
        sender.send('/odom', 'nav_msgs/msg/Odometry', factory.odometry(1.21, 0.0, 0.0, 12.0 + 0.1 * count))
        assert node.labeler.stats.stamp_outliers == count
        assert (node.labeler.stats.time_resets, node.labeler.pending) == (0, 1)  # still waiting for its horizon
    node.diagnostics.publish()
    assert node.diagnostics.counters['stamp_outliers'] == 2
    node.destroy_node()


def test_odometry_and_reading_repairs_are_counted(ros, tmp_path, robot_config):
    node = _start_labeler(ros, tmp_path)
    sender = Sender(ros, node, _topics(robot_config))
    factory = sender.factory
    odom = factory.odometry(0.0, 0.0, 0.5, 1.0)
    odom.pose.pose.orientation.z *= 3.0  # not a unit quaternion
    odom.pose.pose.orientation.w *= 3.0
    sender.send('/odom', 'nav_msgs/msg/Odometry', odom)
    zero = factory.odometry(0.0, 0.0, 0.0, 1.1)
    zero.pose.pose.orientation.w = 0.0
    sender.send('/odom', 'nav_msgs/msg/Odometry', zero)
    sender.send('/odom', 'nav_msgs/msg/Odometry', factory.odometry(0.0, 0.0, 0.0, 2.0))  # 0.9 s after the last
    sensor = robot_config.sensors[2]
    for value in (0.5, 0.05):  # beyond the message's max_range 0.12, then a real reading
        sender.send(sensor.topic, 'sensor_msgs/msg/Range', factory.range(value, 2.0, sensor))
    node._after_input()
    counters = node.diagnostics.counters
    assert (counters['normalised_quaternions'], counters['invalid_odometry'], counters['odometry_gaps'],
            counters['odometry_jumps']) == (1, 1, 1, 0)
    assert (counters['invalid_readings'], counters['unknown_readings'], node.labeler.stats.readings) == (1, 1, 1)
    assert node.labeler.stats.odometry == 2
    node.destroy_node()


def test_one_image_size_per_dataset(ros, tmp_path, robot_config):
    node = _start_labeler(ros, tmp_path)
    sender = Sender(ros, node, _topics(robot_config))
    image = sender.factory.image
    sender.send('/camera/image_raw', 'sensor_msgs/msg/Image', image(np.zeros((4, 6, 3), np.uint8), 1.0, 'c'))
    sender.send('/camera/image_raw', 'sensor_msgs/msg/Image', image(np.zeros((8, 6, 3), np.uint8), 1.1, 'c'))
    assert node.diagnostics.counters['wrong_image_size'] == 1
    assert node.labeler.stats.frames == 1
    node.destroy_node()
    reopened = _start_labeler(ros, tmp_path)  # the dataset holds 6x4 images now
    assert reopened.image_size == (4, 6)
    sender = Sender(ros, reopened, _topics(robot_config))
    sender.send('/camera/image_raw', 'sensor_msgs/msg/Image', image(np.zeros((5, 5, 3), np.uint8), 2.0, 'c'))
    sender.send('/camera/image_raw', 'sensor_msgs/msg/Image', image(np.zeros((4, 6, 3), np.uint8), 2.1, 'c'))
    assert (reopened.diagnostics.counters['wrong_image_size'], reopened.labeler.stats.frames) == (1, 1)
    reopened.destroy_node()
    with Dataset(tmp_path / 'd.db') as dataset:
        assert {tuple(i.shape) for i in dataset.read_all().images} == {(4, 6, 3)}
        assert len(dataset) == 2


def test_an_exception_while_handling_a_message_is_counted_and_the_node_goes_on(ros, tmp_path, robot_config):
    import sqlite3

    node = _start_labeler(ros, tmp_path, '-p', 'finalize_batch:=1', '-p', 'labeling.horizon:=0.5')
    sender = Sender(ros, node, _topics(robot_config))
    factory = sender.factory
    add_odometry = node.labeler.add_odometry

    def broken(*args):
        raise RuntimeError('odometry handler broke')

    node.labeler.add_odometry = broken
    sender.send('/odom', 'nav_msgs/msg/Odometry', factory.odometry(0.0, 0.0, 0.0, 0.0))
    assert node.diagnostics.counters['callback_errors'] == 1
    node.labeler.add_odometry = add_odometry
    append, failing = node.dataset.append, [True]

    def flaky(record):
        if failing.pop() if failing else False:
            raise sqlite3.OperationalError('disk I/O error')
        return append(record)

    node.dataset.append = flaky
    for stamp in (0.0, 0.1):
        sender.send('/camera/image_raw', 'sensor_msgs/msg/Image',
                    factory.image(np.zeros((4, 4, 3), np.uint8), stamp, 'c'))
    for t in np.arange(0.0, 2.0, 0.05):
        sender.send('/odom', 'nav_msgs/msg/Odometry', factory.odometry(0.0, 0.0, 0.0, float(t)))
    assert node.diagnostics.counters['store_errors'] == 1
    assert node.diagnostics.counters['frames_out'] == 1  # the frame after the failing one was stored
    node.destroy_node()


@pytest.mark.parametrize(('change', 'message'), [
    ({'labeling': {'horizon': 'ten'}}, "labeling.horizon: .*'ten'"),
    ({'sensors': {'names': []}}, 'no sensors are configured.*--params-file'),
    ({'dataset_path': 'NOT_SQLITE'}, 'dataset_path: .*not.db cannot be used as a dataset'),
    ({'dataset_path': '/proc/no/such/dir/d.db'}, 'dataset_path: .*cannot be used as a dataset'),
    ({'dataset_path': 'BAD_SCHEMA'}, 'dataset_path: .*schema.db cannot be used as a dataset'),
])
def test_bad_inputs_stop_the_node_at_start_naming_them(ros, tmp_path, robot_config, change, message):
    """Each as a parameters file says it (a file's values win over -p): the error names the input."""
    import sqlite3

    import yaml

    from selfsup_perception.core.dataset import DatasetWriter
    from selfsup_perception.nodes.labeler import LabelerNode
    from selfsup_perception.nodes.parameters import ParameterError

    (tmp_path / 'not.db').write_bytes(b'this is no SQLite file' * 100)
    DatasetWriter(tmp_path / 'schema.db', robot_config).close()
    with sqlite3.connect(tmp_path / 'schema.db') as db:
        db.execute("UPDATE meta SET value = 'abc' WHERE key = 'schema_version'")
    document = yaml.safe_load((ROOT / 'config/robot.yaml').read_text())
    params = document['/**']['ros__parameters']
    params['dataset_path'] = str(tmp_path / 'd.db')
    for key, value in change.items():
        if isinstance(value, dict):
            params[key].update(value)
        else:
            params[key] = {'NOT_SQLITE': str(tmp_path / 'not.db'), 'BAD_SCHEMA': str(tmp_path / 'schema.db')}.get(
                value, value)
    (tmp_path / 'params.yaml').write_text(yaml.safe_dump(document))
    with pytest.raises(ParameterError, match=message):
        LabelerNode(context=ros.context_, cli_args=['--ros-args', '--params-file', str(tmp_path / 'params.yaml')])


def test_without_a_config_the_node_says_how_to_give_one(ros, tmp_path):
    from selfsup_perception.nodes.labeler import LabelerNode
    from selfsup_perception.nodes.parameters import ParameterError

    with pytest.raises(ParameterError, match=r'sensors.names: no sensors are configured.*robot\.yaml'):
        LabelerNode(context=ros.context_, cli_args=['--ros-args', '-p', f'dataset_path:={tmp_path / "d.db"}'])
