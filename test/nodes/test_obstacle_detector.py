"""The obstacle_detector node with real rclpy and the tiny test embedder: outputs, head swaps, overload, bad input."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import pytest
from ros_probe import Probe, spin_until

from selfsup_perception.core.head import Head
from selfsup_perception.core.modelcard import file_sha256
from selfsup_perception.testing.drives import MessageFactory

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / 'test' / 'data' / 'tiny_float.tflite'
IMAGE = 'sensor_msgs/msg/Image'


def save_head(path: Path, config, bias: float, sensors=None) -> Path:
    """A logistic head that ignores the image: P(obstacle) = sigmoid(bias) everywhere."""
    sensors = sensors or config.sensor_names
    outputs = len(config.distances) * len(sensors)
    Head(mean=np.zeros(16, np.float32), scale=np.ones(16, np.float32),
         layers=((np.zeros((16, outputs), np.float32), np.full(outputs, bias, np.float32)),),
         distances=config.distances, sensors=tuple(sensors), embedding_sha256=file_sha256(MODEL)).save(path)
    return path


@pytest.fixture
def heads(tmp_path: Path, robot_config) -> dict[str, Path]:
    return {'free': save_head(tmp_path / 'free.npz', robot_config, -4.0),
            'blocked': save_head(tmp_path / 'blocked.npz', robot_config, 4.0)}


def start(ros, *params: str, head: Path | None = None):
    from selfsup_perception.nodes.obstacle_detector import ObstacleDetectorNode

    args = ['--ros-args', '--params-file', str(ROOT / 'config/robot.yaml'), '-p', f'embedding_model:={MODEL}',
            '-p', 'backend:=tflite']
    if head is not None:
        args += ['-p', f'head_path:={head}']
    for param in params:
        args += ['-p', param]
    node = ObstacleDetectorNode(context=ros.context_, cli_args=args)
    ros.add_node(node)
    return node


class Camera:
    """Publishes test images to the detector and waits until it has taken each one."""

    def __init__(self, probe: Probe, node, topic: str = '/camera/image_raw', msg_type=None) -> None:
        from sensor_msgs.msg import Image

        self.node = node
        self.factory = MessageFactory()
        self.publisher = probe.publisher(topic, msg_type or Image)
        self.probe = probe

    def send(self, msg, type_name: str = IMAGE) -> None:
        before = self.node.diagnostics.counters['frames_in']
        self.publisher.publish(bytes(self.factory.store.serialize_cdr(msg, type_name)))
        assert spin_until(self.probe.executor, lambda: self.node.diagnostics.counters['frames_in'] > before, 5.0)

    def image(self, stamp: float, shape=(24, 40, 3)):
        pixels = np.random.default_rng(int(stamp * 10)).integers(0, 256, shape, dtype=np.uint8)
        return self.factory.image(pixels, stamp, 'camera')


def test_images_in_probabilities_and_scan_out_and_heads_swapped(ros, tmp_path, heads, robot_config):
    from sensor_msgs.msg import LaserScan
    from std_msgs.msg import Float32MultiArray, String

    from selfsup_perception.nodes.common import MODEL_QOS

    node = start(ros, head=heads['free'])
    probe = Probe(ros)
    probabilities = probe.subscribe('/obstacle_detector/probabilities', Float32MultiArray)
    scans = probe.subscribe('/obstacle_detector/scan', LaserScan)
    camera = Camera(probe, node)
    announce = probe.publisher('/trainer/model', String, MODEL_QOS)
    probe.wait_for_subscribers()

    camera.send(camera.image(12.5))
    assert spin_until(ros, lambda: scans and probabilities)
    dims = probabilities[0].layout.dim
    assert [(d.label, d.size, d.stride) for d in dims] == [('distance', 21, 105), ('sensor', 5, 5)]
    assert np.allclose(probabilities[0].data, 1 / (1 + math.exp(4.0)), atol=1e-6)
    scan = scans[0]
    assert (scan.header.stamp.sec, scan.header.stamp.nanosec, scan.header.frame_id) == (12, 500_000_000, 'base_link')
    assert scan.angle_min == pytest.approx(-0.6981, abs=1e-6)
    assert scan.angle_max == pytest.approx(0.6981, abs=1e-6)
    assert len(scan.ranges) == 5
    assert all(math.isinf(r) for r in scan.ranges)  # nothing passes the 0.5 threshold
    assert scan.range_max > 1.0

    # The trainer announces a new head mid-stream: the next outputs come from it.
    announce.publish(String(data=str(heads['blocked'])))
    assert spin_until(ros, lambda: node.diagnostics.counters['head_loads'] == 1)
    assert node.get_parameter('head_path').value == str(heads['blocked'])
    camera.send(camera.image(13.0))
    assert spin_until(ros, lambda: len(scans) == 2)
    assert list(scans[1].ranges) == [0.0] * 5
    assert np.allclose(probabilities[1].data, 1 / (1 + math.exp(-4.0)), atol=1e-6)

    # A corrupt head (truncated) is refused, counted, and the old head stays.
    corrupt = tmp_path / 'corrupt.npz'
    corrupt.write_bytes(heads['free'].read_bytes()[:100])
    (tmp_path / 'corrupt.json').write_bytes((tmp_path / 'free.json').read_bytes())
    announce.publish(String(data=str(corrupt)))
    assert spin_until(ros, lambda: node.diagnostics.counters['heads_refused'] == 1)
    assert node.get_parameter('head_path').value == str(heads['blocked'])
    camera.send(camera.image(13.5))
    assert spin_until(ros, lambda: len(scans) == 3)
    assert list(scans[2].ranges) == [0.0] * 5

    # Setting head_path swaps too; a head for other sensors is refused with the reason.
    other = save_head(tmp_path / 'other.npz', robot_config, 0.0, sensors=['a', 'b', 'c', 'd', 'e'])
    from rclpy.parameter import Parameter

    result = node.set_parameters([Parameter('head_path', Parameter.Type.STRING, str(other))])[0]
    assert not result.successful
    assert 'expected' in result.reason
    assert node.diagnostics.counters['heads_refused'] == 2
    assert node.set_parameters([Parameter('head_path', Parameter.Type.STRING, str(heads['free']))])[0].successful
    camera.send(camera.image(14.0))
    assert spin_until(ros, lambda: len(scans) == 4)
    assert all(math.isinf(r) for r in scans[3].ranges)
    assert node.diagnostics.counters['frames_out'] == 4
    assert float(node.diagnostics.values['inference_ms']) > 0
    node.destroy_node()


def test_overlay_only_while_subscribed(ros, heads):
    from sensor_msgs.msg import Image, LaserScan

    node = start(ros, head=heads['blocked'])
    probe = Probe(ros)
    scans = probe.subscribe('/obstacle_detector/scan', LaserScan)
    camera = Camera(probe, node)
    probe.wait_for_subscribers()
    camera.send(camera.image(1.0))
    assert spin_until(ros, lambda: scans)
    assert node.diagnostics.counters['overlays'] == 0
    overlays = probe.subscribe('/obstacle_detector/overlay', Image)
    assert spin_until(ros, lambda: node._overlay.get_subscription_count() > 0)
    camera.send(camera.image(2.0))
    assert spin_until(ros, lambda: overlays)
    overlay = overlays[0]
    assert (overlay.height, overlay.width, overlay.encoding) == (24, 40, 'rgb8')
    assert overlay.header.frame_id == 'camera'
    pixels = np.frombuffer(bytes(overlay.data), np.uint8).reshape(24, 40, 3)
    assert (pixels == 255).all(axis=2).any()  # nearest hits outlined
    assert node.diagnostics.counters['overlays'] == 1
    node.destroy_node()


def test_bad_images_are_counted_and_the_node_keeps_going(ros, heads):
    from sensor_msgs.msg import LaserScan

    node = start(ros, head=heads['free'])
    probe = Probe(ros)
    scans = probe.subscribe('/obstacle_detector/scan', LaserScan)
    camera = Camera(probe, node)
    probe.wait_for_subscribers()
    bad_encoding = camera.image(0.1)
    bad_encoding.encoding = 'yuv422'
    truncated = camera.image(0.2)
    truncated.data = truncated.data[:10]
    empty = camera.image(0.3)
    empty.height, empty.width, empty.data = 0, 0, np.zeros(0, np.uint8)
    for count, msg in enumerate((bad_encoding, truncated, empty), 1):
        camera.send(msg)
        assert spin_until(ros, lambda c=count: node.diagnostics.counters['bad_images'] == c)
    camera.send(camera.image(0.4))
    assert spin_until(ros, lambda: scans)
    assert scans[0].header.stamp.nanosec == 400_000_000
    assert node.diagnostics.counters['frames_dropped'] == 0
    assert node.diagnostics.counters['problems'] == 3
    node.destroy_node()


def test_compressed_transport_and_waiting_for_a_head(ros, heads):
    from sensor_msgs.msg import CompressedImage, LaserScan
    from std_msgs.msg import String

    from selfsup_perception.nodes.common import MODEL_QOS

    probe = Probe(ros)
    announce = probe.publisher('/trainer/model', String, MODEL_QOS)
    announce.publish(String(data=str(heads['blocked'])))  # before the node exists: transient local
    node = start(ros, 'camera_transport:=compressed')
    scans = probe.subscribe('/obstacle_detector/scan', LaserScan)
    camera = Camera(probe, node, '/camera/image_raw/compressed', CompressedImage)
    probe.wait_for_subscribers()
    assert spin_until(ros, lambda: node.head is not None)  # the late joiner got the announcement
    jpeg = camera.factory.compressed_image(np.full((24, 32, 3), 90, np.uint8), 3.0, 'camera')
    camera.send(jpeg, 'sensor_msgs/msg/CompressedImage')
    assert spin_until(ros, lambda: scans)
    assert list(scans[0].ranges) == [0.0] * 5
    garbage = camera.factory.compressed_image(np.zeros((8, 8, 3), np.uint8), 3.1, 'camera')
    garbage.data = garbage.data[:20]
    camera.send(garbage, 'sensor_msgs/msg/CompressedImage')
    assert spin_until(ros, lambda: node.diagnostics.counters['bad_images'] == 1)
    node.destroy_node()

    waiting = start(ros, 'model_topic:=/nobody/model')
    assert waiting.head is None
    camera = Camera(probe, waiting)
    assert spin_until(ros, lambda: camera.publisher.get_subscription_count() > 0)
    camera.send(camera.image(4.0))
    assert spin_until(ros, lambda: waiting.diagnostics.counters['frames_without_head'] == 1)
    waiting.destroy_node()


def test_under_overload_the_newest_frame_is_processed_and_the_rest_counted(ros, heads):
    from sensor_msgs.msg import LaserScan

    node = start(ros, head=heads['free'])
    probe = Probe(ros)
    scans = probe.subscribe('/obstacle_detector/scan', LaserScan)
    camera = Camera(probe, node)
    probe.wait_for_subscribers()
    busy, release = threading.Event(), threading.Event()
    run = node.embedder.run

    def slow_run(batch):
        busy.set()
        release.wait(10)
        return run(batch)

    node.embedder.run = slow_run  # the worker is stuck on the first frame while four more arrive
    camera.send(camera.image(1.0))
    assert spin_until(ros, busy.is_set)
    for stamp in (2.0, 3.0, 4.0, 5.0):
        camera.send(camera.image(stamp))
    release.set()
    assert spin_until(ros, lambda: len(scans) == 2)
    spin_until(ros, lambda: False, 0.2)
    assert [s.header.stamp.sec for s in scans] == [1, 5]
    counters = node.diagnostics.counters
    assert (counters['frames_in'], counters['frames_dropped'], counters['frames_out']) == (5, 3, 2)
    node.destroy_node()


@pytest.mark.parametrize(('param', 'message'), [
    ('threshold:=1.5', 'threshold: must be in'),
    ('backend:=gpu', 'backend: must be one of'),
    ('camera_transport:=theora', 'camera_transport'),
    ('embedding_model:=/nonexistent/model.tflite', 'embedding_model/backend/device'),
    ('head_path:=/nonexistent/head.npz', 'head_path: cannot load head'),
    ('sensors.center.yaw:=0.6981', 'point the same way'),
])
def test_bad_parameters_stop_the_node_at_start(ros, param, message):
    from selfsup_perception.nodes.parameters import ParameterError

    with pytest.raises(ParameterError, match=message):
        start(ros, param)


def test_any_head_that_fails_to_load_is_refused_and_the_old_one_kept(ros, tmp_path, heads):
    """An overlong path (OSError), a card whose training is 5, a card nested too deeply: each refused, counted."""
    import json

    from sensor_msgs.msg import LaserScan
    from std_msgs.msg import String

    from selfsup_perception.nodes.common import MODEL_QOS

    node = start(ros, head=heads['blocked'])
    probe = Probe(ros)
    scans = probe.subscribe('/obstacle_detector/scan', LaserScan)
    camera = Camera(probe, node)
    announce = probe.publisher('/trainer/model', String, MODEL_QOS)
    probe.wait_for_subscribers()
    card = json.loads((tmp_path / 'free.json').read_text())
    bad = {}
    for name, text in (('training', json.dumps({**card, 'training': 5})),
                       ('nested', '{"kind": "head", "x": ' + '[' * 50_000 + ']' * 50_000 + '}')):
        (tmp_path / f'{name}.npz').write_bytes(heads['free'].read_bytes())
        (tmp_path / f'{name}.json').write_text(text)
        bad[name] = tmp_path / f'{name}.npz'
    for count, path in enumerate([str(tmp_path / ('h' * 5000 + '.npz')), str(bad['training']),
                                  str(bad['nested'])], 1):
        announce.publish(String(data=path))
        assert spin_until(ros, lambda c=count: node.diagnostics.counters['heads_refused'] == c)
        assert node.get_parameter('head_path').value == str(heads['blocked'])
    camera.send(camera.image(1.0))
    assert spin_until(ros, lambda: scans)
    assert list(scans[0].ranges) == [0.0] * 5  # still the blocked head
    assert node.diagnostics.counters['callback_errors'] == 0
    node.destroy_node()


def test_images_larger_than_max_image_pixels_are_bad_images(ros, heads):
    from sensor_msgs.msg import CompressedImage, LaserScan

    node = start(ros, 'max_image_pixels:=1000', head=heads['free'])
    probe = Probe(ros)
    scans = probe.subscribe('/obstacle_detector/scan', LaserScan)
    camera = Camera(probe, node)
    probe.wait_for_subscribers()
    camera.send(camera.image(1.0, shape=(40, 40, 3)))  # 1600 pixels
    assert spin_until(ros, lambda: node.diagnostics.counters['bad_images'] == 1)
    camera.send(camera.image(2.0, shape=(24, 40, 3)))  # 960 pixels
    assert spin_until(ros, lambda: scans)
    assert node.diagnostics.counters['frames_out'] == 1
    node.destroy_node()

    node = start(ros, 'max_image_pixels:=1000', 'camera_transport:=compressed', head=heads['free'])
    compressed = Camera(probe, node, '/camera/image_raw/compressed', CompressedImage)
    assert spin_until(ros, lambda: compressed.publisher.get_subscription_count() > 0)
    jpeg = compressed.factory.compressed_image(np.zeros((40, 40, 3), np.uint8), 3.0, 'camera')
    compressed.send(jpeg, 'sensor_msgs/msg/CompressedImage')
    assert spin_until(ros, lambda: node.diagnostics.counters['bad_images'] == 1)
    assert node.diagnostics.counters['frames_out'] == 0
    node.destroy_node()
