"""Writing rosbag2 recordings with ``rosbags`` (no ROS install).

Used by the simulator's bag writer and for synthetic recordings (tests, benchmarks). Messages come
from ``rosmsg`` with the Jazzy typestore, so the bags replay with ``ros2 bag play``.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from selfsup_perception.core.config import SensorConfig
from selfsup_perception.rosio.messages import (
    COMPRESSED_IMAGE,
    IMAGE,
    LASER_SCAN,
    ODOMETRY,
    RANGE,
    compressed_message,
    image_message,
    laser_scan_message,
    odometry_message,
    range_message,
    rosbags_kit,
)


class BagWriter:
    """A rosbag2 writer that adds a connection the first time a topic is written."""

    def __init__(self, path: str | Path, storage: str = 'mcap') -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        plugins = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}
        if storage not in plugins:
            raise ValueError(f'storage must be mcap or sqlite3, got {storage!r}')
        self.kit = rosbags_kit()
        self._writer = Writer(Path(path), version=9, storage_plugin=plugins[storage])
        self._connections: dict[str, Any] = {}

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._writer.close()

    def add_topic(self, topic: str, msgtype: str) -> Any:
        """The topic's connection (added on first use; a topic keeps one type)."""
        connection = self._connections.get(topic)
        if connection is None:
            connection = self._writer.add_connection(topic, msgtype, typestore=self.kit.store)
            self._connections[topic] = connection
        elif connection.msgtype != msgtype:
            raise ValueError(f'topic {topic} already has type {connection.msgtype}, not {msgtype}')
        return connection

    def write(self, topic: str, msgtype: str, message: Any, stamp: float) -> None:
        """Serialise ``message`` and record it at ``stamp`` (float seconds, the receive time)."""
        data = self.kit.store.serialize_cdr(message, msgtype)
        self._writer.write(self.add_topic(topic, msgtype), round(stamp * 1e9), data)


def write_recording(path: str | Path, recording: Any, sensors: tuple[SensorConfig, ...],
                    image_size: tuple[int, int] = (120, 160), storage: str = 'mcap', compressed: bool = False,
                    camera_topic: str = '/camera/image_raw', odom_topic: str = '/odom') -> None:
    """Write a labeler ``Recording`` (e.g. a synthetic drive) as a bag, in its arrival order.

    Frames get a deterministic test image (a pattern shifted by the frame index); each reading is
    published on its sensor's topic as a Range or a one-beam LaserScan, as the config says.
    """
    height, width = image_size
    rows, cols = np.mgrid[0:height, 0:width]
    with BagWriter(path, storage) as bag:
        kit = bag.kit
        messages = zip(recording.kind, recording.stamp.tolist(), recording.values, strict=True)
        for kind, stamp, values in messages:
            if kind == 0:
                shift = int(values[0])
                rgb = np.stack([(cols + shift) % 256, (rows * 2) % 256, (cols + rows + 3 * shift) % 256],
                               axis=2).astype(np.uint8)
                if compressed:
                    bag.write(camera_topic + '/compressed', COMPRESSED_IMAGE,
                              compressed_message(kit, stamp, 'camera_link', rgb), stamp)
                else:
                    bag.write(camera_topic, IMAGE, image_message(kit, stamp, 'camera_link', rgb), stamp)
            elif kind == 1:
                bag.write(odom_topic, ODOMETRY, odometry_message(kit, stamp, *map(float, values)), stamp)
            else:
                sensor = sensors[int(kind) - 2]
                if sensor.msg_type == 'range':
                    bag.write(sensor.topic, RANGE, range_message(kit, stamp, sensor, float(values[0])), stamp)
                else:
                    ranges = np.full(sensor.index + 1, np.inf)
                    ranges[sensor.index] = values[0]
                    scan = laser_scan_message(kit, stamp, f'{sensor.name}_link', ranges, sensor.yaw, 0.0,
                                              sensor.max_range)
                    bag.write(sensor.topic, LASER_SCAN, scan, stamp)
