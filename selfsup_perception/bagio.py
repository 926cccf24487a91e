"""Writing rosbag2 recordings with ``rosbags`` (no ROS install): message builders and a writer.

Used by the simulator's bag writer and by the synthetic recordings of tests and the quick demo.
Messages are built from the Jazzy typestore, so bags replay with ``ros2 bag play``.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from .core.config import SensorConfig
from .core.images import encode_image, rgb_to_raw

IMAGE = 'sensor_msgs/msg/Image'
COMPRESSED_IMAGE = 'sensor_msgs/msg/CompressedImage'
CAMERA_INFO = 'sensor_msgs/msg/CameraInfo'
RANGE = 'sensor_msgs/msg/Range'
LASER_SCAN = 'sensor_msgs/msg/LaserScan'
ODOMETRY = 'nav_msgs/msg/Odometry'
CLOCK = 'rosgraph_msgs/msg/Clock'


def typestore() -> Any:
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_JAZZY)


class MessageFactory:
    """Builds Jazzy messages as ``rosbags`` dataclasses (stamps in float seconds)."""

    def __init__(self) -> None:
        self.store = typestore()
        self._types = self.store.types

    def _t(self, name: str) -> Any:
        return self._types[name]

    def time(self, stamp: float) -> Any:
        sec = math.floor(stamp)
        nanosec = min(round((stamp - sec) * 1e9), 999_999_999)
        return self._t('builtin_interfaces/msg/Time')(sec=sec, nanosec=nanosec)

    def header(self, stamp: float, frame_id: str) -> Any:
        return self._t('std_msgs/msg/Header')(stamp=self.time(stamp), frame_id=frame_id)

    def image(self, pixels: np.ndarray, stamp: float, frame_id: str, encoding: str = 'rgb8') -> Any:
        height, width, step, data = rgb_to_raw(pixels, encoding)
        return self._t(IMAGE)(header=self.header(stamp, frame_id), height=height, width=width,
                              encoding=encoding, is_bigendian=0, step=step,
                              data=np.frombuffer(data, np.uint8))

    def compressed_image(self, rgb: np.ndarray, stamp: float, frame_id: str, quality: int = 90) -> Any:
        blob = encode_image(rgb, 'jpeg', quality)
        return self._t(COMPRESSED_IMAGE)(header=self.header(stamp, frame_id),
                                         format='rgb8; jpeg compressed bgr8',
                                         data=np.frombuffer(blob, np.uint8))

    def camera_info(self, stamp: float, frame_id: str, width: int, height: int, k: np.ndarray) -> Any:
        p = np.zeros(12)
        p[[0, 1, 2, 4, 5, 6, 10]] = [k[0, 0], k[0, 1], k[0, 2], k[1, 1], k[1, 2], 1.0, 1.0]
        roi = self._t('sensor_msgs/msg/RegionOfInterest')(x_offset=0, y_offset=0, height=0, width=0,
                                                          do_rectify=False)
        return self._t(CAMERA_INFO)(
            header=self.header(stamp, frame_id), height=height, width=width, distortion_model='plumb_bob',
            d=np.zeros(5), k=np.asarray(k, np.float64).reshape(9), r=np.eye(3).reshape(9), p=p,
            binning_x=0, binning_y=0, roi=roi,
        )

    def range(self, value: float, stamp: float, sensor: SensorConfig, field_of_view: float = 0.1) -> Any:
        return self._t(RANGE)(header=self.header(stamp, f'{sensor.name}_link'), radiation_type=1,
                              field_of_view=field_of_view, min_range=0.0, max_range=sensor.max_range,
                              range=value, variance=0.0)

    def laser_scan(self, ranges: np.ndarray, stamp: float, frame_id: str, angle_min: float,
                   angle_increment: float, range_max: float) -> Any:
        ranges = np.asarray(ranges, np.float32)
        return self._t(LASER_SCAN)(
            header=self.header(stamp, frame_id), angle_min=angle_min,
            angle_max=angle_min + angle_increment * max(ranges.size - 1, 0), angle_increment=angle_increment,
            time_increment=0.0, scan_time=0.0, range_min=0.0, range_max=range_max, ranges=ranges,
            intensities=np.zeros(0, np.float32),
        )

    def odometry(self, x: float, y: float, yaw: float, stamp: float, vx: float = 0.0, wz: float = 0.0) -> Any:
        t = self._t
        pose = t('geometry_msgs/msg/Pose')(
            position=t('geometry_msgs/msg/Point')(x=x, y=y, z=0.0),
            orientation=t('geometry_msgs/msg/Quaternion')(x=0.0, y=0.0, z=math.sin(yaw / 2),
                                                          w=math.cos(yaw / 2)),
        )
        twist = t('geometry_msgs/msg/Twist')(
            linear=t('geometry_msgs/msg/Vector3')(x=vx, y=0.0, z=0.0),
            angular=t('geometry_msgs/msg/Vector3')(x=0.0, y=0.0, z=wz),
        )
        return t(ODOMETRY)(
            header=self.header(stamp, 'odom'), child_frame_id='base_link',
            pose=t('geometry_msgs/msg/PoseWithCovariance')(pose=pose, covariance=np.zeros(36)),
            twist=t('geometry_msgs/msg/TwistWithCovariance')(twist=twist, covariance=np.zeros(36)),
        )

    def clock(self, stamp: float) -> Any:
        return self._t(CLOCK)(clock=self.time(stamp))


class BagWriter:
    """A rosbag2 writer that adds a connection the first time a topic is written."""

    def __init__(self, path: str | Path, storage: str = 'mcap') -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        plugins = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}
        if storage not in plugins:
            raise ValueError(f'storage must be mcap or sqlite3, got {storage!r}')
        self.messages = MessageFactory()
        self._writer = Writer(Path(path), version=9, storage_plugin=plugins[storage])
        self._connections: dict[str, Any] = {}

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._writer.close()

    def write(self, topic: str, msgtype: str, message: Any, stamp: float) -> None:
        """Serialise ``message`` and record it at ``stamp`` (float seconds, the receive time)."""
        connection = self._connections.get(topic)
        if connection is None:
            connection = self._writer.add_connection(topic, msgtype, typestore=self.messages.store)
            self._connections[topic] = connection
        elif connection.msgtype != msgtype:
            raise ValueError(f'topic {topic} already has type {connection.msgtype}, not {msgtype}')
        data = self.messages.store.serialize_cdr(message, msgtype)
        self._writer.write(connection, round(stamp * 1e9), data)


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
        m = bag.messages
        messages = zip(recording.kind, recording.stamp.tolist(), recording.values, strict=True)
        for kind, stamp, values in messages:
            if kind == 0:
                shift = int(values[0])
                rgb = np.stack([(cols + shift) % 256, (rows * 2) % 256, (cols + rows + 3 * shift) % 256],
                               axis=2).astype(np.uint8)
                if compressed:
                    bag.write(camera_topic + '/compressed', COMPRESSED_IMAGE,
                              m.compressed_image(rgb, stamp, 'camera_link'), stamp)
                else:
                    bag.write(camera_topic, IMAGE, m.image(rgb, stamp, 'camera_link'), stamp)
            elif kind == 1:
                bag.write(odom_topic, ODOMETRY, m.odometry(*map(float, values), stamp), stamp)
            else:
                sensor = sensors[int(kind) - 2]
                if sensor.msg_type == 'range':
                    bag.write(sensor.topic, RANGE, m.range(float(values[0]), stamp, sensor), stamp)
                else:
                    ranges = np.full(sensor.index + 1, np.inf)
                    ranges[sensor.index] = values[0]
                    scan = m.laser_scan(ranges, stamp, f'{sensor.name}_link', sensor.yaw, 0.0,
                                        sensor.max_range)
                    bag.write(sensor.topic, LASER_SCAN, scan, stamp)
