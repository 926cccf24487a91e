"""The ``segmenter`` node: semantic segmentation of the camera, class/colour masks and a free-space scan.

A thin shell around ``core.segmentation``: a worker runs the model on the newest frame (a one-slot mailbox:
frames left waiting are dropped, counted), publishes the class mask, colour mask and overlay (only while
subscribed) and a LaserScan of the nearest non-traversable pixel per bearing (Nav2), stamped as the frame. A split FCN
(``model_path`` a backbone, ``head_path`` its numpy head) swaps in heads announced on ``head_topic`` or
set at run time (``nodes.headswap``: a head that does not fit is refused, the old one kept).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, LaserScan

from selfsup_perception.core.images import rgb_to_raw
from selfsup_perception.core.resources import sim_classes
from selfsup_perception.core.seghead import SegHead
from selfsup_perception.core.segmentation import (
    CameraMount,
    ClassList,
    ClassListError,
    FreeSpaceScanner,
    ScannerCache,
    check_intrinsics,
    colorize,
    load_classes,
    overlay,
    resize_mask,
)
from selfsup_perception.inference import create_backend
from selfsup_perception.inference.segmentation import SegmentationRunner
from selfsup_perception.nodes.camera import FrameWorker, Timings, camera_image, declare_camera, subscribe_camera
from selfsup_perception.nodes.common import SENSOR_QOS, Diagnostics, run_node
from selfsup_perception.nodes.headswap import COUNTERS as HEAD_COUNTERS
from selfsup_perception.nodes.headswap import HeadSwap
from selfsup_perception.nodes.parameters import ParameterError, declare, declare_backend

OUTPUT_QOS = 2  # keep-last depth of the outputs: a late reader wants the newest mask, not a backlog
TIMING_WINDOW = 50  # frames in the median inference/processing time on /diagnostics
COUNTERS = ('frames_in', 'frames_out', 'dropped_frames', 'bad_images', 'bad_camera_info', *HEAD_COUNTERS,
            'processing_errors', 'callback_errors', 'problems')


class SegmenterNode(Node):
    """Camera in; ``~/class_mask``, ``~/color_mask``, ``~/overlay`` and ``~/free_space_scan`` out."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('segmenter', **kwargs)
        self.camera = declare_camera(self)
        info_topic = declare(self, 'camera_info_topic', '/camera/camera_info', 'sensor_msgs/CameraInfo topic')
        backend, threads, device = declare_backend(self, "Edge TPU device: '' (first), usb, pci, usb:N, pci:N")
        model_path = declare(self, 'model_path', '', 'segmentation model or split-FCN backbone (.tflite/.onnx, '
                             'card beside it)')
        if not model_path:
            raise ParameterError('model_path: required (a segmentation .tflite or .onnx with its card)')
        head_path = declare(self, 'head_path', '', 'segmentation head (.npz) of a split-FCN backbone; set it at run '
                            'time to swap heads', read_only=False)
        head_topic = declare(self, 'head_topic', '/trainer/seg_head', 'std_msgs/String topic announcing heads',
                             valid=bool, must='a topic name')
        classes_file = declare(self, 'classes_file', str(sim_classes()), 'class list YAML (names, colours, '
                               'traversable)')
        self.mask_resolution = declare(self, 'mask_resolution', 'input', 'class/colour mask size: input (the '
                                       'camera image) or model (the model output grid)',
                                       valid=lambda v: v in ('input', 'model'), must='input or model')
        self.alpha = declare(self, 'overlay_alpha', 0.5, 'weight of the class colours in the overlay (0..1)',
                             valid=lambda v: 0.0 <= v <= 1.0, must='in [0, 1]')
        self.hfov = declare(self, 'camera_hfov', 1.22, 'horizontal field of view (rad), used until camera_info '
                            'arrives', valid=lambda v: 0.0 < v < np.pi, must='in (0, pi) rad')
        height = declare(self, 'camera_mount_height', 0.10, 'camera height above the floor (m)')
        tilt = declare(self, 'camera_tilt', 0.26, 'camera pitch below the horizon (rad, positive looks down)')
        mount_x = declare(self, 'camera_mount_x', 0.0, 'camera position ahead of the scan frame origin (m)')
        self.scan_frame = declare(self, 'scan_frame_id', 'base_link', 'frame of the free-space scan (on the '
                                  'floor, under the camera, x forward)')
        self.scan_beams = declare(self, 'scan_beams', 0, 'beams of the free-space scan (0 = one per mask column '
                                  'of the model grid)', valid=lambda v: v == 0 or v >= 2,
                                  must='0 (one per column) or >= 2')
        self.range_max = declare(self, 'scan_range_max', 10.0, 'range_max of the free-space scan (m)',
                                 valid=lambda v: v > 0, must='> 0')
        try:
            self.mount = CameraMount(height, tilt, mount_x)
        except ValueError as exc:
            raise ParameterError(f'camera_mount_height, camera_tilt, camera_mount_x: {exc}') from exc
        try:
            self.classes: ClassList = load_classes(classes_file)
        except ClassListError as exc:
            raise ParameterError(f'classes_file: {exc}') from exc
        if not any(self.classes.traversable):
            raise ParameterError(f'classes_file: {classes_file} marks no class traversable: the free-space '
                                 'scan needs the floor')
        self.runner = self._load_model(backend, model_path, threads, device, head_path)
        self.diagnostics = Diagnostics(self, 'segmenter')
        self.diagnostics.set_counters(dict.fromkeys(COUNTERS, 0))  # the worker thread never adds keys
        if self.runner.head is not None:
            HeadSwap(self, self.diagnostics, self._load_head, self.runner.swap_head, head_topic)
        self.diagnostics.values.update({'backend': self.runner.backend.name, 'model': str(model_path),
                                        'head': head_path or '(whole model)',
                                        'intrinsics': f'camera_hfov {self.hfov:.3f} rad (no camera_info yet)'})
        self.timings = Timings(self.diagnostics, TIMING_WINDOW)
        self.last_inference_s = 0.0
        self._camera_info: tuple[np.ndarray, int, int] | None = None
        self._scanners = ScannerCache(self.hfov, self.mount, self.classes.traversable_table, self.scan_beams,
                                      self.range_max)
        self.class_mask_pub = self.create_publisher(Image, '~/class_mask', OUTPUT_QOS)
        self.color_mask_pub = self.create_publisher(Image, '~/color_mask', OUTPUT_QOS)
        self.overlay_pub = self.create_publisher(Image, '~/overlay', OUTPUT_QOS)
        self.scan_pub = self.create_publisher(LaserScan, '~/free_space_scan', OUTPUT_QOS)
        self._worker = FrameWorker(self, self.diagnostics, self.process, 'dropped_frames')
        subscribe_camera(self, self.camera, self._worker.put)
        self.create_subscription(CameraInfo, info_topic, self.diagnostics.guarded(self._on_camera_info), SENSOR_QOS)
        self.get_logger().info(
            f'segmenting {self.camera.topic} ({self.camera.transport}) with {model_path} on '
            f'{self.runner.backend.name}: {", ".join(self.classes.names)}; masks at {self.mask_resolution} resolution'
        )

    def _load_model(self, backend: str, model_path: str, threads: int, device: str | None,
                    head_path: str) -> SegmentationRunner:
        """The model (and head), checked on one blank frame: one score per class of ``classes_file`` and pixel."""
        try:
            model = create_backend(backend, Path(model_path).expanduser(), threads=threads, device=device,
                                   logger=self.get_logger())
            head = SegHead.load(Path(head_path).expanduser(), backbone=model.card) if head_path else None
            runner = SegmentationRunner(model, len(self.classes.names), head)
        except Exception as exc:  # whatever stops the model from loading or running, the node must not start
            raise ParameterError(f'model_path/head_path/backend: {exc}') from exc
        card_classes = model.card.classes if model.card is not None else None
        if card_classes and tuple(card_classes) != self.classes.names:
            self.get_logger().warning(f'the model card names the classes {list(card_classes)}, classes_file '
                                      f'{list(self.classes.names)}: using classes_file')
        return runner

    def _load_head(self, path: str) -> SegHead:
        return SegHead.load(Path(path).expanduser(), backbone=self.runner.backend.card)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        try:
            k = check_intrinsics(msg.k)
        except ValueError as exc:
            self.diagnostics.problem('bad_camera_info', f'camera_info ignored: {exc}')
            return
        old, new = self._camera_info, (k, int(msg.width), int(msg.height))
        if old is not None and np.array_equal(old[0], k) and old[1:] == new[1:]:
            return
        self._camera_info = new  # a new object: the worker rebuilds its scanner
        if old is None:
            self.get_logger().info(f'camera_info received: fx {k[0, 0]:.1f}, fy {k[1, 1]:.1f}, '
                                   f'cx {k[0, 2]:.1f}, cy {k[1, 2]:.1f} ({msg.width}x{msg.height})')
            self.diagnostics.values['intrinsics'] = f'camera_info {msg.width}x{msg.height}'

    def process(self, msg: Any) -> None:
        """Segment one camera message and publish every output (the worker thread's job)."""
        started = time.perf_counter()
        rgb = camera_image(msg, self.camera, self.diagnostics)
        if rgb is None:
            return
        grid = self.runner.mask(rgb)
        self.last_inference_s = self.runner.last_inference_s
        mask = grid if self.mask_resolution == 'model' else resize_mask(grid, rgb.shape[:2])
        self.class_mask_pub.publish(self._image(msg.header, mask, 'mono8'))
        if self.color_mask_pub.get_subscription_count():
            self.color_mask_pub.publish(self._image(msg.header, colorize(mask, self.classes.palette), 'rgb8'))
        if self.overlay_pub.get_subscription_count():
            blended = overlay(rgb, mask, self.classes.palette, self.alpha)
            self.overlay_pub.publish(self._image(msg.header, blended, 'rgb8'))
        scanner = self._scanners.get(rgb.shape[:2], grid.shape, self._camera_info)
        self.scan_pub.publish(self._scan(msg.header, scanner, grid))
        self.timings.record(self.last_inference_s, started)
        self.diagnostics.count('frames_out')

    def _image(self, header: Any, pixels: np.ndarray, encoding: str) -> Image:
        height, width, step, data = rgb_to_raw(pixels, encoding)
        return Image(header=header, height=height, width=width, encoding=encoding, is_bigendian=0, step=step,
                     data=data)

    def _scan(self, header: Any, scanner: FreeSpaceScanner, grid: np.ndarray) -> LaserScan:
        msg = LaserScan(angle_min=scanner.angle_min, angle_max=scanner.angle_max,
                        angle_increment=scanner.angle_increment, range_min=scanner.range_min,
                        range_max=scanner.range_max, ranges=scanner.scan(grid))
        msg.header.stamp = header.stamp
        msg.header.frame_id = self.scan_frame
        return msg

    def destroy_node(self) -> None:
        """Stop the worker before the publishers go."""
        if hasattr(self, '_worker'):
            self._worker.stop()
        super().destroy_node()


def main() -> int:
    return run_node(SegmenterNode, threads=2)


if __name__ == '__main__':
    raise SystemExit(main())
