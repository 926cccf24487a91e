"""The segmenter node with real rclpy: camera frames in, masks and a free-space scan out.

The committed tiny model (test/data/make_seg_test_model.py) is colour-coded: red pixels are floor, green
obstacle, blue wall. So a scene drawn here with the camera geometry (red floor, blue wall at a known
distance) has a known free-space scan.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from ros_probe import Probe, spin_until

from selfsup_perception.core.segmentation import (
    CameraMount,
    FreeSpaceScanner,
    camera_rays,
    class_mask,
    intrinsics_from_hfov,
    load_classes,
    resize_mask,
    scale_intrinsics,
)
from selfsup_perception.inference import create_backend, resize_to_input
from selfsup_perception.nodes.camera import Mailbox
from selfsup_perception.rosio.fields import image_to_rgb
from selfsup_perception.testing.drives import MessageFactory

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / 'test' / 'data' / 'tiny_seg.tflite'
IMAGE = 'sensor_msgs/msg/Image'
SIZE = (96, 128)  # camera image; the model takes 48x64 and answers on a 24x32 grid
GRID = (24, 32)
MOUNT = CameraMount(height=0.10, tilt=0.26)
HFOV = 1.22
WALL = 0.3


def scene(k: np.ndarray, size: tuple[int, int], wall: float, mount: CameraMount = MOUNT) -> np.ndarray:
    """RGB image of a red floor and a blue wall ``wall`` m ahead (perpendicular to x), drawn per pixel ray."""
    u, v = np.meshgrid(np.arange(size[1]), np.arange(size[0]))
    dx, _, dz = camera_rays(k, mount, u, v)
    with np.errstate(divide='ignore'):
        floor_t = np.where(dz < 0, mount.height / -dz, np.inf)
        wall_t = np.where(dx > 0, (wall - mount.x) / dx, np.inf)
    image = np.zeros((*size, 3), np.uint8)
    image[..., 0] = np.where(wall_t < floor_t, 0, 220)
    image[..., 2] = np.where(wall_t < floor_t, 220, 0)
    return image


def expected(rgb: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(grid class mask, scan ranges) computed offline, as the node should."""
    backend = create_backend('tflite', MODEL)
    grid = class_mask(backend.run(resize_to_input(rgb, backend.input_shape)[None]))[0]
    traversable = load_classes(ROOT / 'config' / 'classes_sim.yaml').traversable_table
    scanner = FreeSpaceScanner(scale_intrinsics(k, rgb.shape[:2], grid.shape), grid.shape, MOUNT, traversable)
    return grid, scanner.scan(grid)


def start(ros, *params: str):
    from selfsup_perception.nodes.segmenter import SegmenterNode

    args = ['--ros-args', '-p', f'model_path:={MODEL}', '-p', 'backend:=tflite']
    for param in params:
        args += ['-p', param]
    node = SegmenterNode(context=ros.context_, cli_args=args)
    ros.add_node(node)
    return node


def handled(node) -> int:
    c = node.diagnostics.counters
    return c['frames_out'] + c['bad_images'] + c['processing_errors']


def send(probe: Probe, node, topic: str, msg_type, name: str, msg, factory: MessageFactory) -> None:
    """Publish one serialized message and spin until the node's worker has handled it."""
    before = handled(node)
    probe.publisher(topic, msg_type).publish(bytes(factory.store.serialize_cdr(msg, name)))
    assert spin_until(probe.executor, lambda: handled(node) > before, 10.0), f'{topic}: frame not handled'


def pixels(msg) -> np.ndarray:
    channels = {'mono8': 1, 'rgb8': 3}[msg.encoding]
    data = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)[:, : msg.width * channels]
    return data.reshape(msg.height, msg.width, channels).squeeze(2) if channels == 1 else \
        data.reshape(msg.height, msg.width, 3)


def beam_angles(scan) -> np.ndarray:
    return scan.angle_min + scan.angle_increment * np.arange(len(scan.ranges))


def test_masks_overlay_and_scan_from_raw_images(ros):
    from sensor_msgs.msg import Image, LaserScan

    node = start(ros)
    probe = Probe(ros)
    received = {name: probe.subscribe(f'/segmenter/{name}', Image)
                for name in ('class_mask', 'color_mask', 'overlay')}
    scans = probe.subscribe('/segmenter/free_space_scan', LaserScan)
    probe.publisher('/camera/image_raw', Image)
    probe.wait_for_subscribers()
    assert spin_until(ros, lambda: node.color_mask_pub.get_subscription_count() > 0
                      and node.overlay_pub.get_subscription_count() > 0)
    factory = MessageFactory()
    k = intrinsics_from_hfov(SIZE[1], SIZE[0], HFOV)
    rgb = scene(k, SIZE, WALL)
    send(probe, node, '/camera/image_raw', Image, IMAGE, factory.image(rgb, 12.5, 'camera_optical_frame'), factory)
    assert spin_until(ros, lambda: all(received.values()) and scans)

    grid, ranges = expected(rgb, k)
    classes = load_classes(ROOT / 'config' / 'classes_sim.yaml')
    mask = received['class_mask'][0]
    assert (mask.encoding, mask.height, mask.width) == ('mono8', *SIZE)
    assert mask.header.frame_id == 'camera_optical_frame'
    assert (mask.header.stamp.sec, mask.header.stamp.nanosec) == (12, 500_000_000)
    np.testing.assert_array_equal(pixels(mask), resize_mask(grid, SIZE))
    assert set(np.unique(grid)) == {0, 2}  # the model sees floor and wall
    colour = received['color_mask'][0]
    assert (colour.encoding, colour.height, colour.width) == ('rgb8', *SIZE)
    np.testing.assert_array_equal(pixels(colour), classes.palette[resize_mask(grid, SIZE)])
    assert (received['overlay'][0].encoding, received['overlay'][0].height) == ('rgb8', SIZE[0])

    scan = scans[0]
    assert scan.header.frame_id == 'base_link'
    assert (scan.header.stamp.sec, scan.header.stamp.nanosec) == (12, 500_000_000)
    assert len(scan.ranges) == GRID[1]
    np.testing.assert_array_equal(np.asarray(scan.ranges, np.float32), ranges)
    finite = np.isfinite(ranges)
    assert finite.sum() >= GRID[1] // 2
    # Physical check on the coarse 24x32 grid: the wall lies WALL ahead (within the grid's resolution).
    ahead = np.asarray(scan.ranges)[finite] * np.cos(beam_angles(scan)[finite])
    np.testing.assert_allclose(ahead, WALL, rtol=0.1)
    node.destroy_node()


def test_compressed_camera_info_and_model_grid(ros):
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image, LaserScan

    # A wrong camera_hfov: until camera_info arrives the scan is off; then it must be right.
    node = start(ros, 'camera_transport:=compressed', 'mask_resolution:=model', 'camera_hfov:=0.6')
    probe = Probe(ros)
    masks = probe.subscribe('/segmenter/class_mask', Image)
    scans = probe.subscribe('/segmenter/free_space_scan', LaserScan)
    probe.publisher('/camera/image_raw/compressed', CompressedImage)
    probe.publisher('/camera/camera_info', CameraInfo)
    probe.wait_for_subscribers()
    factory = MessageFactory()
    k = intrinsics_from_hfov(SIZE[1], SIZE[0], HFOV)
    frame = factory.compressed_image(scene(k, SIZE, WALL), 1.0, 'camera', quality=95)
    send(probe, node, '/camera/image_raw/compressed', CompressedImage, 'sensor_msgs/msg/CompressedImage', frame,
         factory)
    # camera_info at twice the image size (as from a binned camera): K is scaled to the image.
    info = factory.camera_info(1.0, 'camera', 2 * SIZE[1], 2 * SIZE[0], scale_intrinsics(k, SIZE, (192, 256)))
    probe.publisher('/camera/camera_info', CameraInfo).publish(
        bytes(factory.store.serialize_cdr(info, 'sensor_msgs/msg/CameraInfo')))
    assert spin_until(ros, lambda: node.diagnostics.values['intrinsics'].startswith('camera_info'))
    send(probe, node, '/camera/image_raw/compressed', CompressedImage, 'sensor_msgs/msg/CompressedImage', frame,
         factory)
    assert spin_until(ros, lambda: len(masks) == 2 and len(scans) == 2)

    rgb = image_to_rgb(frame)
    grid, ranges = expected(rgb, k)
    assert (masks[1].height, masks[1].width) == GRID
    np.testing.assert_array_equal(pixels(masks[1]), grid)
    np.testing.assert_array_equal(np.asarray(scans[1].ranges, np.float32), ranges)
    _, before_info = expected(rgb, intrinsics_from_hfov(SIZE[1], SIZE[0], 0.6))
    np.testing.assert_array_equal(np.asarray(scans[0].ranges, np.float32), before_info)
    assert not np.array_equal(before_info, ranges, equal_nan=True)
    finite = np.isfinite(ranges)
    ahead = np.asarray(scans[1].ranges)[finite] * np.cos(beam_angles(scans[1])[finite])
    np.testing.assert_allclose(ahead, WALL, rtol=0.1)
    node.destroy_node()


def test_bad_images_are_counted_and_the_node_keeps_going(ros):
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image

    node = start(ros)
    probe = Probe(ros)
    masks = probe.subscribe('/segmenter/class_mask', Image)
    diagnostics = probe.subscribe('/diagnostics', DiagnosticArray)
    probe.publisher('/camera/image_raw', Image)
    probe.wait_for_subscribers()
    factory = MessageFactory()
    rgb = np.zeros((8, 10, 3), np.uint8)
    wrong_encoding = factory.image(rgb, 0.1, 'c')
    wrong_encoding.encoding = 'yuv422'
    empty = factory.image(rgb, 0.2, 'c')
    empty.height, empty.width, empty.step, empty.data = 0, 0, 0, np.zeros(0, np.uint8)
    short_step = factory.image(rgb, 0.3, 'c')
    short_step.step = 10 * 3 - 1  # less than a row of pixels
    long_step = factory.image(rgb, 0.4, 'c')
    long_step.step = 10 * 3 + 4  # rows longer than the data holds
    for bad in (wrong_encoding, empty, short_step, long_step):
        send(probe, node, '/camera/image_raw', Image, IMAGE, bad, factory)
    send(probe, node, '/camera/image_raw', Image, IMAGE, factory.image(rgb, 0.5, 'c'), factory)
    assert spin_until(ros, lambda: len(masks) == 1)
    assert masks[0].header.stamp.nanosec == 500_000_000
    counters = node.diagnostics.counters
    assert (counters['bad_images'], counters['frames_out'], counters['processing_errors']) == (4, 1, 0)
    node.diagnostics.publish()
    assert spin_until(ros, lambda: any(
        {kv.key: kv.value for kv in d.status[0].values}.get('bad_images') == '4' for d in diagnostics))
    values = {kv.key: kv.value for kv in diagnostics[-1].status[0].values}
    assert float(values['inference_ms']) > 0
    assert values['backend'] == 'tflite'
    node.destroy_node()


class SlowBackend:
    """Wraps the node's backend and holds each inference until the test releases it."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.input_shape = backend.input_shape
        self.name = backend.name
        self.entered, self.release = threading.Event(), threading.Event()

    def run(self, batch):
        self.entered.set()
        self.release.wait(10.0)
        return self.backend.run(batch)


def test_newest_frame_wins_under_load(ros):
    from sensor_msgs.msg import Image

    node = start(ros)
    slow = node.runner.backend = SlowBackend(node.runner.backend)
    probe = Probe(ros)
    masks = probe.subscribe('/segmenter/class_mask', Image)
    camera = probe.publisher('/camera/image_raw', Image)
    probe.wait_for_subscribers()
    factory = MessageFactory()
    for i in range(4):  # the first is taken by the (blocked) worker; the next ones queue in one slot
        before = node.diagnostics.counters['frames_in']
        frame = factory.image(np.full((8, 10, 3), 40 * i, np.uint8), float(i), 'c')
        camera.publish(bytes(factory.store.serialize_cdr(frame, IMAGE)))
        assert spin_until(ros, lambda b=before: node.diagnostics.counters['frames_in'] > b)
        assert slow.entered.wait(10.0)  # the worker holds the first frame before the next arrives
    slow.release.set()
    counters = node.diagnostics.counters
    assert spin_until(ros, lambda: len(masks) == 2 and counters['frames_out'] == 2)
    assert (counters['frames_in'], counters['frames_out'], counters['dropped_frames']) == (4, 2, 2)
    assert [m.header.stamp.sec for m in masks] == [0, 3]  # the first frame, then the newest
    node.destroy_node()


@pytest.mark.parametrize(('params', 'message'), [
    (['backend:=cuda'], 'backend: must be one of'),
    (["model_path:=''"], 'model_path: required'),
    ([f'model_path:={ROOT / "test/data/missing.tflite"}'], 'does not exist'),
    (['mask_resolution:=half'], 'mask_resolution'),
    (['scan_beams:=1'], 'scan_beams'),
    (['camera_tilt:=2.0'], 'camera_mount_x: camera tilt must be in'),
    ([f'classes_file:={ROOT / "test/data/missing.yaml"}'], 'classes_file: .*not a class list'),
])
def test_bad_parameters_fail_at_start(ros, params, message):
    from selfsup_perception.nodes.parameters import ParameterError

    with pytest.raises(ParameterError, match=message):
        start(ros, *params)


def test_classes_must_fit_the_model(ros, tmp_path):
    from selfsup_perception.nodes.parameters import ParameterError

    two = tmp_path / 'two.yaml'
    two.write_text('classes:\n  - {name: floor, color: [0, 0, 0], traversable: true}\n'
                   '  - {name: rest, color: [9, 9, 9]}\n')
    with pytest.raises(ParameterError, match=r'not \(1, H, W, 2\)'):
        start(ros, f'classes_file:={two}')
    none = tmp_path / 'none.yaml'
    none.write_text('classes:\n  - {name: a, color: [0, 0, 0]}\n  - {name: b, color: [1, 1, 1]}\n'
                    '  - {name: c, color: [2, 2, 2]}\n')
    with pytest.raises(ParameterError, match='no class traversable'):
        start(ros, f'classes_file:={none}')


def test_mailbox_keeps_only_the_newest():
    mailbox = Mailbox()
    assert [mailbox.put(i) for i in range(3)] == [False, True, True]
    assert mailbox.take() == 2
    assert mailbox.take(timeout=0.01) is None
    taken = []
    worker = threading.Thread(target=lambda: taken.append(mailbox.take()))
    worker.start()
    mailbox.put('frame')
    worker.join(5.0)
    assert taken == ['frame']
    mailbox.close()
    assert mailbox.take() is None


def test_a_model_whose_card_cannot_be_read_stops_the_node_at_start(ros, tmp_path):
    """A card nested too deeply (RecursionError in the JSON parser) is a parameter error, not a crash."""
    from selfsup_perception.nodes.parameters import ParameterError

    model = tmp_path / 'seg.tflite'
    model.write_bytes(MODEL.read_bytes())
    (tmp_path / 'seg.json').write_text('{"kind": "segmentation", "x": ' + '[' * 50_000 + ']' * 50_000 + '}')
    with pytest.raises(ParameterError, match='model_path/head_path/backend: .*nested too deeply'):
        start(ros, f'model_path:={model}')
    (tmp_path / 'seg.json').write_text('{"kind": "segmentation", "architecture": "a", "classes": 3}')
    with pytest.raises(ParameterError, match='classes must be a list'):
        start(ros, f'model_path:={model}')


SPLIT_BACKBONE = ROOT / 'models' / 'fcn8s_backbone.tflite'
SPLIT_HEAD = ROOT / 'models' / 'fcn8s_head.npz'


def biased_head(tmp_path: Path, name: str, favoured: int) -> Path:
    """The shipped head with one class's bias raised so far that every pixel is that class."""
    from selfsup_perception.core.seghead import SegHead

    head = SegHead.load(SPLIT_HEAD)
    weight, bias = head.scores[32]
    bias = bias.copy()
    bias[favoured] += 1e4
    head.scores[32] = (weight, bias)
    path = tmp_path / f'{name}.npz'
    head.save(path)
    return path


def test_split_model_swaps_heads_announced_or_set_and_refuses_bad_ones(ros, tmp_path):
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from selfsup_perception.nodes.common import MODEL_QOS

    floor_head, wall_head = biased_head(tmp_path, 'floor', 0), biased_head(tmp_path, 'wall', 2)
    node = start(ros, f'model_path:={SPLIT_BACKBONE}', f'head_path:={floor_head}', 'head_topic:=/test/seg_head')
    factory = MessageFactory()
    probe = Probe(ros, 'probe')
    masks = probe.subscribe('/segmenter/class_mask', Image)
    announce = probe.publisher('/test/seg_head', String, MODEL_QOS)
    probe.publisher('/camera/image_raw', Image)
    probe.wait_for_subscribers()
    image = np.full((120, 160, 3), 120, np.uint8)

    def frame_mask() -> np.ndarray:
        count = len(masks)
        send(probe, node, '/camera/image_raw', Image, IMAGE, factory.image(image, 1.0, 'camera'), factory)
        assert spin_until(probe.executor, lambda: len(masks) > count, 10.0)
        return pixels(masks[-1])

    assert (frame_mask() == 0).all()
    announce.publish(String(data=str(wall_head)))  # as the trainer announces a better head
    assert spin_until(probe.executor, lambda: node.diagnostics.counters['head_loads'] == 1, 10.0)
    assert (frame_mask() == 2).all()
    broken = tmp_path / 'broken.npz'
    broken.write_bytes(wall_head.read_bytes()[:200])
    (tmp_path / 'broken.json').write_text(wall_head.with_suffix('.json').read_text())
    for refused, bad in enumerate((broken, tmp_path / 'missing.npz', ROOT / 'models' / 'head.npz'), start=1):
        announce.publish(String(data=str(bad)))  # one at a time: the model topic keeps only the last
        assert spin_until(probe.executor, lambda n=refused: node.diagnostics.counters['heads_refused'] == n, 10.0)
    assert (frame_mask() == 2).all()  # the old head is kept
    assert node.diagnostics.counters['dropped_frames'] == 0


def test_a_backbone_needs_a_head(ros):
    from selfsup_perception.nodes.parameters import ParameterError

    with pytest.raises(ParameterError, match='give its head'):
        start(ros, f'model_path:={SPLIT_BACKBONE}')
    with pytest.raises(ParameterError, match='not a seg_backbone'):
        start(ros, f'head_path:={SPLIT_HEAD}')
