"""``selfsup bag2dataset``: label a recording into a dataset file.

Reads a rosbag2 folder (mcap or sqlite3 storage), a bare ``.mcap`` or ``.db3`` file, or a ROS 1
``.bag``. Two passes over the bag keep memory small: the first collects stamps, odometry and readings
and labels every frame with the offline labeler; the second decodes the images and stores each frame
with its labels (and the simulator's ground truth when the bag carries it).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from selfsup_perception.core.config import (
    LabelingConfig,
    PixelLabelConfig,
    pixel_labels_from_dict,
)
from selfsup_perception.core.dataset import DatasetWriter, FrameRecord, FrameRejectedError
from selfsup_perception.core.errors import InputError
from selfsup_perception.core.images import ImageError
from selfsup_perception.core.labeling import (
    FRAME,
    ODOMETRY,
    LabeledFrame,
    Recording,
    label_recording,
)
from selfsup_perception.core.pixel_labels import PinholeCamera, frame_camera
from selfsup_perception.rosio.fields import (
    IMAGE_TYPES,
    ODOMETRY_TYPE,
    SENSOR_TYPES,
    image_to_rgb,
    odometry_pose,
    sensor_value,
    stamp_seconds,
)
from selfsup_perception.rosio.messages import CAMERA_INFO

GROUND_TRUTH_TOPIC = '/ground_truth/obstacles'
SEGMENTATION_TOPIC = '/ground_truth/segmentation'
_GT_TYPE = 'sensor_msgs/msg/Image'
_SEGMENTATION_LAG = 5  # frames to wait for a frame's segmentation before storing it without
_BAG_FILES = ('.mcap', '.db3', '.bag')  # what AnyReader opens as a single file
_REFUSED = {
    'duplicate': 'frames already in the dataset (same segment and stamp), skipped',
    'image_size': "frames of another image size than the dataset's, skipped",
}


class BagError(InputError, RuntimeError):
    """The bag cannot be read or lacks a configured topic, or a topic has the wrong type."""


@dataclass
class BagSummary:
    """What a conversion did: counts for the summary printed at the end."""

    frames: int = 0
    bad_images: int = 0
    labels_known: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    labels_positive: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    with_ground_truth: int = 0
    problems: Counter[str] = field(default_factory=Counter)

    def lines(self, distances: tuple[float, ...]) -> list[str]:
        known = int(self.labels_known.sum())
        positive = int(self.labels_positive.sum())
        out = [
            f'frames: {self.frames} (with ground truth: {self.with_ground_truth}, '
            f'bad images skipped: {self.bad_images})',
            f'known labels: {known}, positive ratio: {positive / known if known else float("nan"):.3f}',
            'known labels per distance:',
        ]
        out += [f'  {d:5.2f} m: {int(k):7d}  (positive {int(p)})'
                for d, k, p in zip(distances, self.labels_known, self.labels_positive, strict=True)]
        out += [f'{name}: {count}' for name, count in sorted(self.problems.items()) if count]
        return out


@dataclass(frozen=True)
class BagTopics:
    """Which topic carries what; sensors are matched by the config's topics."""

    camera: str = '/camera/image_raw'
    odometry: str = '/odom'
    camera_info: str = '/camera/camera_info'


def open_bag(path: Path) -> Any:
    """An opened ``rosbags`` AnyReader on a rosbag2 folder, a bare ``.mcap``/``.db3`` or a ROS 1 ``.bag``."""
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    if path.is_dir() and not (path / 'metadata.yaml').exists():
        found = sorted(p.name for p in path.iterdir() if p.suffix in _BAG_FILES)
        if found:
            raise BagError(f'{path}: a folder without metadata.yaml holding {", ".join(found)}: '
                           f'pass the file itself, e.g. {path / found[0]}')
        raise BagError(f'{path}: not a rosbag2 folder (no metadata.yaml) and no {"/".join(_BAG_FILES)} file in it')
    try:
        reader = AnyReader([path], default_typestore=get_typestore(Stores.ROS2_JAZZY))
        reader.open()
    except Exception as exc:
        raise BagError(f'{path}: cannot open as a recording: {" ".join(str(exc).split())}') from exc
    return reader


def connections_of(reader: Any, topics: BagTopics, config: LabelingConfig) -> dict[str, Any]:
    """Map topic -> connection for every topic needed; one error lists every missing or mistyped topic."""
    by_topic = {c.topic: c for c in reader.connections}
    camera = topics.camera
    if camera not in by_topic and camera + '/compressed' in by_topic:
        camera += '/compressed'
    wanted = {camera: IMAGE_TYPES, topics.odometry: (ODOMETRY_TYPE,)}
    for sensor in config.sensors:
        wanted[sensor.topic] = (SENSOR_TYPES[sensor.msg_type],)
    missing = [topic for topic in wanted if topic not in by_topic]
    mistyped = [f'{topic} has type {by_topic[topic].msgtype}, expected {" or ".join(types)}'
                for topic, types in wanted.items() if topic in by_topic and by_topic[topic].msgtype not in types]
    if missing or mistyped:
        available = ', '.join(f'{t} [{c.msgtype}]' for t, c in sorted(by_topic.items())) or 'nothing'
        problems = ([f'topics not in the bag: {", ".join(missing)}'] if missing else []) + mistyped
        raise BagError(f'{"; ".join(problems)} (the bag has: {available})')
    result = {'camera': by_topic[camera], 'odometry': by_topic[topics.odometry]}
    for topic in (GROUND_TRUTH_TOPIC, SEGMENTATION_TOPIC):
        if topic in by_topic and by_topic[topic].msgtype == _GT_TYPE:
            result[topic] = by_topic[topic]
    info = by_topic.get(topics.camera_info)
    if info is not None and info.msgtype == CAMERA_INFO:
        result['camera_info'] = info
    return result


def read_recording(reader: Any, connections: dict[str, Any], config: LabelingConfig,
                   pixels: PixelLabelConfig | None = None) -> tuple[Recording, dict[float, np.ndarray], int]:
    """Pass 1: every message as a labeler event in bag order, plus ground truth by stamp.

    With ``pixels``, each frame points at its camera (camera_info's K when the bag has it, else
    ``camera_hfov``), as the labeler node does; a compressed frame before any camera_info has no camera
    (its size is not known without decoding it) and so no pixel labels."""
    sensors_by_topic: dict[str, list[int]] = {}
    for s, sensor in enumerate(config.sensors):
        sensors_by_topic.setdefault(sensor.topic, []).append(s)
    sensor_conns = [c for c in reader.connections if c.topic in sensors_by_topic]
    conns = [connections['camera'], connections['odometry'], *sensor_conns]
    if GROUND_TRUTH_TOPIC in connections:
        conns.append(connections[GROUND_TRUTH_TOPIC])
    if pixels is not None and 'camera_info' in connections:
        conns.append(connections['camera_info'])
    cameras: dict[PinholeCamera, int] = {}
    intrinsics: tuple[Any, tuple[int, int]] | None = None
    events: list[tuple[int, float, tuple[float, ...]]] = []
    ground_truth: dict[float, np.ndarray] = {}
    frame_index = 0
    total = sum(c.msgcount for c in conns)
    for conn, _, raw in tqdm(reader.messages(connections=conns), total=total, desc='pass 1/2: labels',
                             unit='msg'):
        msg = reader.deserialize(raw, conn.msgtype)
        stamp = stamp_seconds(msg.header)
        if conn is connections['camera']:
            camera = math.nan
            if pixels is not None:
                size = (int(msg.height), int(msg.width)) if hasattr(msg, 'height') else \
                    (intrinsics[1] if intrinsics else None)
                if size is not None:
                    try:
                        pinhole = frame_camera(pixels, *size, *(intrinsics or (None, None)))
                    except ValueError:  # an unusable K: camera_hfov, as the node does
                        pinhole = frame_camera(pixels, *size)
                    camera = float(cameras.setdefault(pinhole, len(cameras)))
            events.append((FRAME, stamp, (float(frame_index), camera)))
            frame_index += 1
        elif conn is connections.get('camera_info'):
            intrinsics = (list(msg.k), (int(msg.height), int(msg.width)))
        elif conn is connections['odometry']:
            events.append((ODOMETRY, stamp, odometry_pose(msg)))
        elif conn.topic == GROUND_TRUTH_TOPIC:
            shape = (len(config.distances), len(config.sensors))
            if (int(msg.height), int(msg.width)) == shape:
                ground_truth[stamp] = np.asarray(msg.data, np.uint8).reshape(shape).copy()
        else:
            events.extend((2 + s, stamp, (sensor_value(msg, config.sensors[s]),))
                          for s in sensors_by_topic[conn.topic])
    return Recording.from_events(events, list(cameras)), ground_truth, frame_index


def _frames_with_images(reader: Any, connections: dict[str, Any], labeled: dict[int, LabeledFrame],
                        summary: BagSummary) -> Iterator[tuple[LabeledFrame, np.ndarray, np.ndarray | None]]:
    """Pass 2: decode each labelled frame's image (and its segmentation when present)."""
    conns = [connections['camera']]
    segmentation_conn = connections.get(SEGMENTATION_TOPIC)
    if segmentation_conn is not None:
        conns.append(segmentation_conn)
    segmentation: dict[float, np.ndarray] = {}
    pending: list[tuple[LabeledFrame, np.ndarray]] = []
    index = 0
    total = sum(c.msgcount for c in conns)
    for conn, _, raw in tqdm(reader.messages(connections=conns), total=total, desc='pass 2/2: images',
                             unit='msg'):
        msg = reader.deserialize(raw, conn.msgtype)
        if conn is segmentation_conn:
            seg = np.asarray(msg.data, np.uint8)
            if seg.size == int(msg.height) * int(msg.width):
                segmentation[stamp_seconds(msg.header)] = seg.reshape(int(msg.height), int(msg.width))
        else:
            frame = labeled.get(index)
            index += 1
            if frame is None:
                continue
            try:
                pending.append((frame, image_to_rgb(msg)))
            except ImageError as exc:
                summary.bad_images += 1
                summary.problems[f'bad image ({exc})'] += 1
        # A frame's segmentation (same stamp) may come just before or after it in the bag.
        while pending and (segmentation_conn is None or pending[0][0].stamp in segmentation
                           or len(pending) > _SEGMENTATION_LAG):
            frame, image = pending.pop(0)
            yield frame, image, segmentation.pop(frame.stamp, None)
    for frame, image in pending:
        yield frame, image, segmentation.pop(frame.stamp, None)


def bag_to_dataset(bag: Path, config: LabelingConfig, out: Path, topics: BagTopics = BagTopics(),
                   image_format: str = 'jpeg') -> BagSummary:
    """Label ``bag`` and append its frames to the dataset ``out``; returns the summary."""
    if not bag.exists():
        raise BagError(f'{bag}: no such bag')
    summary = BagSummary()
    reader = open_bag(bag)
    try:
        connections = connections_of(reader, topics, config)
        pixels = pixel_labels_from_dict(config.extra)
        writer = DatasetWriter(out, config, image_format=image_format,  # a bad --out fails before the work
                               pixel_config=pixels)
        try:
            summary.problems['frames stored twice by an older version, removed'] = writer.duplicates_removed
            recording, ground_truth, _ = read_recording(reader, connections, config, pixels)
            frames, stats = label_recording(recording, config, pixels=pixels)
            max_gap, max_jump = config.max_odom_gap, config.max_odom_jump
            summary.problems.update({
                'late messages dropped': stats.late_messages, 'time resets': stats.time_resets,
                f'odometry gaps (longer than max_odom_gap = {max_gap} s)': stats.odometry_gaps,
                f'odometry jumps (teleports, longer than max_odom_jump = {max_jump} m)': stats.odometry_jumps,
                'duplicate odometry stamps': stats.duplicate_odometry,
                'invalid stamps': stats.invalid_stamps, 'invalid odometry': stats.invalid_odometry,
                'unknown (NaN) readings': stats.unknown_readings,
            })
            labeled = {int(f.payload): f for f in frames}
            k, s = len(config.distances), len(config.sensors)
            summary.labels_known = np.zeros(k, np.int64)
            summary.labels_positive = np.zeros(k, np.int64)
            for frame, image, segmentation in _frames_with_images(reader, connections, labeled, summary):
                gt = ground_truth.get(frame.stamp)
                try:
                    writer.append(FrameRecord(frame.stamp, image, frame.labels, frame.pose, frame.segment,
                                              gt, segmentation, frame.pixel_labels))
                except FrameRejectedError as exc:
                    summary.problems[_REFUSED[exc.kind]] += 1
                    continue
                summary.frames += 1
                summary.with_ground_truth += gt is not None
                summary.labels_known += (frame.labels >= 0).reshape(k, s).sum(axis=1)
                summary.labels_positive += (frame.labels == 1).reshape(k, s).sum(axis=1)
        finally:
            writer.close()
    finally:
        reader.close()
    return summary
