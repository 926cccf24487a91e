"""The ``labeler`` node: pairs future proximity readings with past camera frames, into the dataset.

A thin shell: messages are converted by ``rosio.fields`` and fed to ``core.labeling``'s
``StreamingLabeler``; finished frames are committed to the SQLite dataset one transaction each.
A dataset holds images of one size: frames of another size are refused (counted).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from nav_msgs.msg import Odometry
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, LaserScan, Range

from selfsup_perception.core.config import ConfigError, PixelLabelConfig, pixel_label_parameters, pixel_labels_from_dict
from selfsup_perception.core.dataset import DatasetWriter, FrameRecord, FrameRejectedError
from selfsup_perception.core.labeling import LabeledFrame, LabelerStats, StreamingLabeler
from selfsup_perception.core.pixel_labels import frame_camera
from selfsup_perception.nodes.camera import camera_image, declare_camera, subscribe_camera
from selfsup_perception.nodes.common import HURRY, SENSOR_QOS, Diagnostics, logger_of, run_node
from selfsup_perception.nodes.parameters import ParameterError, declare, declare_labeling_parameters, parameters_tree
from selfsup_perception.rosio.fields import FieldCounts, odometry_pose, sensor_value, stamp_seconds

# Counters of input problems (the labeler core's and the message conversions'), with the warning to log.
PROBLEMS = {
    'late_messages': 'message older than the reorder window dropped',
    'time_resets': 'time ran backwards (bag loop or simulator reset?): pairing restarts',
    'stamp_outliers': 'message with a stamp far from all others dropped (no other message agreed with it)',
    'odometry_jumps': 'odometry jumped (teleport?): no pairing across it',
    'odometry_gaps': 'odometry gap longer than labeling.max_odom_gap: no pose inside it',
    'invalid_stamps': 'message with a NaN/inf stamp dropped',
    'invalid_odometry': 'odometry with NaN/inf pose or a zero quaternion dropped',
    'duplicate_odometry': 'odometry with a repeated stamp dropped',
    'unknown_readings': 'NaN or invalid proximity reading (unknown) skipped',
    'normalised_quaternions': 'odometry orientation was not a unit quaternion: normalised',
    'invalid_readings': "proximity range outside the message's [min_range, max_range]: read as unknown",
}


class LabelerNode(Node):
    """Subscribes camera, proximity sensors and odometry; writes labelled frames to the dataset."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('labeler', **kwargs)
        self.config = declare_labeling_parameters(self)
        self.camera = declare_camera(self)
        odom_topic = declare(self, 'odom_topic', '/odom', 'nav_msgs/Odometry topic')
        dataset_path = declare(self, 'dataset_path', 'selfsup_dataset.db', 'SQLite dataset file to write')
        image_format = declare(self, 'image_format', 'jpeg', 'frame storage: jpeg or png')
        quality = declare(self, 'jpeg_quality', 90, 'JPEG quality 1-100', valid=lambda v: 1 <= v <= 100,
                          must='in 1..100')
        batch = declare(self, 'finalize_batch', 8, 'frames labelled per vectorised call (>= 1)',
                        valid=lambda v: v >= 1, must='>= 1')
        self.pixels = _declare_pixel_labels(self)
        info_topic = declare(self, 'camera_info_topic', '/camera/camera_info',
                             'sensor_msgs/CameraInfo topic: intrinsics of the pixel labels (else camera_hfov)')
        self._intrinsics: tuple[Any, tuple[int, int]] | None = None
        path = Path(dataset_path).expanduser()
        try:
            self.dataset = DatasetWriter(path, self.config, image_format, quality, pixel_config=self.pixels)
            last = next(self.dataset.iter_batches(1, self.dataset.last_id() - 1, extras=False), None)
        except Exception as exc:  # not SQLite, not openable, another schema: say which file, do not start
            raise ParameterError(f'dataset_path: {path} cannot be used as a dataset: {exc}') from exc
        # The one image size of this dataset: of the frames it holds, else of the first frame stored.
        self.image_size = None if last is None or last.images is None else last.images.shape[1:3]
        self.labeler = StreamingLabeler(self.config, batch=batch, pixels=self.pixels)
        self.field_counts = FieldCounts()
        self.diagnostics = Diagnostics(self, 'labeler')
        self.diagnostics.values['dataset'] = str(self.dataset.path)
        self._reported: dict[str, int] = dict.fromkeys(PROBLEMS, 0)
        subscribe_camera(self, self.camera, self.diagnostics.guarded(self._on_image))
        self.create_subscription(CameraInfo, info_topic, self.diagnostics.guarded(self._on_camera_info), 10)
        self.create_subscription(Odometry, odom_topic, self.diagnostics.guarded(self._on_odometry), SENSOR_QOS)
        by_topic: dict[str, list[int]] = {}
        for index, sensor in enumerate(self.config.sensors):
            by_topic.setdefault(sensor.topic, []).append(index)
        for topic, indices in by_topic.items():
            msg_type = Range if self.config.sensors[indices[0]].msg_type == 'range' else LaserScan
            callback = self.diagnostics.guarded(partial(self._on_reading, sensors=indices))
            self.create_subscription(msg_type, topic, callback, SENSOR_QOS)
        self.get_logger().info(
            f'labelling {self.camera.topic} ({self.camera.transport}) with {len(self.config.sensors)} sensors and '
            f'{odom_topic} into {self.dataset.path} ({len(self.dataset)} frames already there)'
        )

    def _on_image(self, msg: Any) -> None:
        self.diagnostics.count('frames_in')
        rgb = camera_image(msg, self.camera, self.diagnostics)
        if rgb is None:
            return
        size = rgb.shape[:2]
        if self.image_size is None:
            self.image_size = size
        elif size != self.image_size:
            self.diagnostics.problem('wrong_image_size', f'camera image {size[1]}x{size[0]} rejected: '
                                     f'{self.dataset.path} holds {self.image_size[1]}x{self.image_size[0]} '
                                     'images (one size per dataset: give another dataset_path)')
            return
        camera = None
        try:
            camera = frame_camera(self.pixels, size[0], size[1], *(self._intrinsics or (None, None)))
        except ValueError as exc:  # camera_info with an unusable K: fall back to camera_hfov
            self.diagnostics.problem('bad_camera_info', f'camera_info ignored: {exc}')
            self._intrinsics = None
            camera = frame_camera(self.pixels, size[0], size[1])
        self.labeler.add_frame(stamp_seconds(msg.header), rgb, camera)
        self._after_input()

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._intrinsics = (list(msg.k), (int(msg.height), int(msg.width)))

    def _on_odometry(self, msg: Odometry) -> None:
        self.labeler.add_odometry(stamp_seconds(msg.header), *odometry_pose(msg, self.field_counts))
        self._after_input()

    def _on_reading(self, msg: Range | LaserScan, sensors: list[int]) -> None:
        stamp = stamp_seconds(msg.header)
        for index in sensors:
            self.labeler.add_reading(index, stamp, sensor_value(msg, self.config.sensors[index], self.field_counts))
        self._after_input()

    def _after_input(self) -> None:
        stats: LabelerStats = self.labeler.stats
        for key, message in PROBLEMS.items():
            total = getattr(stats, key, None)
            total = getattr(self.field_counts, key) if total is None else total
            for _ in range(total - self._reported[key]):
                self.diagnostics.problem(key, message)
            self._reported[key] = total
        self._store(self.labeler.pop_finished())

    def _store(self, frames: list[LabeledFrame]) -> None:
        for stored, frame in enumerate(frames):
            if HURRY.is_set():
                logger_of(self).warning(f'interrupted: {len(frames) - stored} labelled frames not stored')
                break
            try:
                self.dataset.append(FrameRecord(frame.stamp, frame.payload, frame.labels, frame.pose,
                                                frame.segment, pixel_labels=frame.pixel_labels))
            except FrameRejectedError as exc:  # another image size, or a frame already stored
                self.diagnostics.problem(exc.kind, f'frame {frame.stamp:.3f} refused: {exc}')
                continue
            except Exception as exc:  # e.g. disk full, or the file locked too long by another writer
                self.diagnostics.problem('store_errors', f'frame {frame.stamp:.3f} not stored: {exc!r}')
                continue
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


def _declare_pixel_labels(node: Node) -> PixelLabelConfig:
    """The pixel-label rule's camera mounting, footprint and face height, declared and validated."""
    values = {name: declare(node, name, default, text) for name, (default, text) in pixel_label_parameters().items()}
    tree = {key: value for key, value in values.items() if not key.startswith('pixel_labels.')}
    tree['pixel_labels'] = parameters_tree(node, 'pixel_labels')
    try:
        return pixel_labels_from_dict(tree)
    except ConfigError as exc:
        raise ParameterError(str(exc)) from exc


def main() -> int:
    return run_node(LabelerNode, threads=1)


if __name__ == '__main__':
    raise SystemExit(main())
