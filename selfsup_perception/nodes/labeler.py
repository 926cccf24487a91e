"""The ``labeler`` node: pairs future proximity readings with past camera frames, into the dataset.

A thin shell: messages are converted by ``core.messages`` and fed to ``core.labeling``'s
``StreamingLabeler``; finished frames are committed to the SQLite dataset one transaction each.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from nav_msgs.msg import Odometry
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image, LaserScan, Range

from selfsup_perception.core.config import ConfigError, LabelingConfig, SensorConfig, labeling_from_dict
from selfsup_perception.core.dataset import DatasetError, DatasetWriter, FrameRecord
from selfsup_perception.core.images import ImageError
from selfsup_perception.core.labeling import LabelerStats, StreamingLabeler
from selfsup_perception.nodes.common import SENSOR_QOS, Diagnostics, ParameterError, declare, parameters_tree, run_node
from selfsup_perception.rosio.fields import image_to_rgb, odometry_pose, sensor_value, stamp_seconds

DEFAULT_SENSORS = ('left', 'center_left', 'center', 'center_right', 'right')
# Labeler statistics that mean something was wrong with the input, with the warning to log.
PROBLEMS = {
    'late_messages': 'message older than the reorder window dropped',
    'time_resets': 'time ran backwards (bag loop or simulator reset?): pairing restarts',
    'odometry_jumps': 'odometry jumped (teleport?): no pairing across it',
    'invalid_stamps': 'message with a NaN/inf stamp dropped',
    'invalid_odometry': 'odometry with NaN/inf pose dropped',
    'duplicate_odometry': 'odometry with a repeated stamp dropped',
    'unknown_readings': 'NaN proximity reading (unknown) skipped',
}


def declare_labeling_parameters(node: Node) -> LabelingConfig:
    """Declare ``labeling.*`` and ``sensors.*`` (the layout of config/robot.yaml) and validate them."""
    defaults = LabelingConfig(sensors=())
    for field in dataclasses.fields(LabelingConfig):
        if field.name in ('sensors', 'extra'):
            continue
        value = getattr(defaults, field.name)
        declare(node, f'labeling.{field.name}', list(value) if isinstance(value, tuple) else value,
                f'labeling rule: {field.name} (see config/robot.yaml)')
    names = declare(node, 'sensors.names', list(DEFAULT_SENSORS), 'short-range sensor names')
    sensor_defaults = SensorConfig(name='', topic='', threshold=0.1, max_range=0.12)
    for name in names:
        for field in dataclasses.fields(SensorConfig):
            if field.name == 'name':
                continue
            default = f'/proximity/{name}' if field.name == 'topic' else getattr(sensor_defaults, field.name)
            declare(node, f'sensors.{name}.{field.name}', default, f'sensor {name}: {field.name}')
    try:
        return labeling_from_dict({'labeling': parameters_tree(node, 'labeling'),
                                   'sensors': parameters_tree(node, 'sensors')})
    except ConfigError as exc:
        raise ParameterError(str(exc)) from exc


class LabelerNode(Node):
    """Subscribes camera, proximity sensors and odometry; writes labelled frames to the dataset."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('labeler', **kwargs)
        self.config = declare_labeling_parameters(self)
        camera_topic = declare(self, 'camera_topic', '/camera/image_raw', 'raw camera topic')
        transport = declare(self, 'camera_transport', 'raw', 'raw (sensor_msgs/Image) or compressed')
        odom_topic = declare(self, 'odom_topic', '/odom', 'nav_msgs/Odometry topic')
        dataset_path = declare(self, 'dataset_path', 'selfsup_dataset.db', 'SQLite dataset file to write')
        image_format = declare(self, 'image_format', 'jpeg', 'frame storage: jpeg or png')
        quality = declare(self, 'jpeg_quality', 90, 'JPEG quality 1-100')
        batch = declare(self, 'finalize_batch', 8, 'frames labelled per vectorised call (>= 1)')
        if transport not in ('raw', 'compressed'):
            raise ParameterError(f'camera_transport: must be raw or compressed, got {transport!r}')
        if not 1 <= quality <= 100:
            raise ParameterError(f'jpeg_quality: must be in 1..100, got {quality}')
        if batch < 1:
            raise ParameterError(f'finalize_batch: must be >= 1, got {batch}')
        try:
            self.dataset = DatasetWriter(Path(dataset_path).expanduser(), self.config, image_format, quality)
        except DatasetError as exc:
            raise ParameterError(f'dataset_path: {exc}') from exc
        self.labeler = StreamingLabeler(self.config, batch=batch)
        self.diagnostics = Diagnostics(self, 'labeler')
        self.diagnostics.values['dataset'] = str(self.dataset.path)
        self._reported = LabelerStats()
        if transport == 'compressed':
            self.create_subscription(CompressedImage, f'{camera_topic}/compressed', self._on_image,
                                     SENSOR_QOS)
        else:
            self.create_subscription(Image, camera_topic, self._on_image, SENSOR_QOS)
        self.create_subscription(Odometry, odom_topic, self._on_odometry, SENSOR_QOS)
        by_topic: dict[str, list[int]] = {}
        for index, sensor in enumerate(self.config.sensors):
            by_topic.setdefault(sensor.topic, []).append(index)
        for topic, indices in by_topic.items():
            msg_type = Range if self.config.sensors[indices[0]].msg_type == 'range' else LaserScan
            self.create_subscription(msg_type, topic, lambda msg, i=indices: self._on_reading(msg, i),
                                     SENSOR_QOS)
        self.get_logger().info(
            f'labelling {camera_topic} ({transport}) with {len(self.config.sensors)} sensors and '
            f'{odom_topic} into {self.dataset.path} ({len(self.dataset)} frames already there)'
        )

    def _on_image(self, msg: Image | CompressedImage) -> None:
        self.diagnostics.count('frames_in')
        try:
            rgb = image_to_rgb(msg)
        except ImageError as exc:
            self.diagnostics.problem('bad_images', f'camera image rejected: {exc}')
            return
        self.labeler.add_frame(stamp_seconds(msg.header), rgb)
        self._after_input()

    def _on_odometry(self, msg: Odometry) -> None:
        self.labeler.add_odometry(stamp_seconds(msg.header), *odometry_pose(msg))
        self._after_input()

    def _on_reading(self, msg: Range | LaserScan, sensors: list[int]) -> None:
        stamp = stamp_seconds(msg.header)
        for index in sensors:
            self.labeler.add_reading(index, stamp, sensor_value(msg, self.config.sensors[index]))
        self._after_input()

    def _after_input(self) -> None:
        stats = self.labeler.stats
        for key, message in PROBLEMS.items():
            new = getattr(stats, key) - getattr(self._reported, key)
            for _ in range(new):
                self.diagnostics.problem(key, message)
            setattr(self._reported, key, getattr(stats, key))
        self._store(self.labeler.pop_finished())

    def _store(self, frames: list[Any]) -> None:
        for frame in frames:
            self.dataset.append(FrameRecord(frame.stamp, frame.payload, frame.labels, frame.pose,
                                            frame.segment))
            self.diagnostics.count('frames_out')
        stats = self.labeler.stats
        self.diagnostics.set_counters({'frames_accepted': stats.frames, 'odometry': stats.odometry,
                                       'readings': stats.readings})
        self.diagnostics.values['pending_frames'] = str(self.labeler.pending)

    def destroy_node(self) -> None:
        """Label and store every pending frame before going (nothing accepted is lost)."""
        if hasattr(self, 'labeler'):
            self._store(self.labeler.flush())
            self.dataset.close()
        super().destroy_node()


def main() -> int:
    return run_node(LabelerNode, threads=1)


if __name__ == '__main__':
    raise SystemExit(main())
