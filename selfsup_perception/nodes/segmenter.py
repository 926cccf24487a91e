"""The ``segmenter`` node: semantic segmentation of the camera, class/colour masks and a free-space scan.

A thin shell around ``core.segmentation``: a worker thread runs the model on the newest camera frame
(a one-slot mailbox: a frame still waiting when the next arrives is dropped and counted), publishes the
class mask, the colour mask and overlay (only while someone subscribes) and a LaserScan of the nearest
non-traversable pixel per bearing for a Nav2 costmap, all stamped like the camera frame.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, LaserScan

from selfsup_perception.core.images import ImageError, rgb_to_raw
from selfsup_perception.core.modelcard import ModelLoadError
from selfsup_perception.core.resources import sim_classes
from selfsup_perception.core.segmentation import (
    CameraMount,
    ClassList,
    ClassListError,
    FreeSpaceScanner,
    check_intrinsics,
    class_mask,
    colorize,
    intrinsics_from_hfov,
    load_classes,
    overlay,
    resize_mask,
    scale_intrinsics,
)
from selfsup_perception.inference import BACKEND_NAMES, BackendUnavailable, create_backend, resize_to_input
from selfsup_perception.nodes.common import SENSOR_QOS, Diagnostics, Mailbox, ParameterError, declare, run_node
from selfsup_perception.rosio.fields import image_to_rgb

OUTPUT_QOS = 2  # keep-last depth of the outputs: a late reader wants the newest mask, not a backlog
TIMING_WINDOW = 50  # frames in the median inference/processing time on /diagnostics
COUNTERS = ('frames_in', 'frames_out', 'dropped_frames', 'bad_images', 'bad_camera_info',
            'processing_errors', 'problems')


class SegmenterNode(Node):
    """Camera in; ``~/class_mask``, ``~/color_mask``, ``~/overlay`` and ``~/free_space_scan`` out."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('segmenter', **kwargs)
        camera_topic = declare(self, 'camera_topic', '/camera/image_raw', 'raw camera topic')
        transport = declare(self, 'camera_transport', 'raw', 'raw (sensor_msgs/Image) or compressed')
        info_topic = declare(self, 'camera_info_topic', '/camera/camera_info', 'sensor_msgs/CameraInfo topic')
        backend = declare(self, 'backend', 'auto', f'inference backend: {", ".join(BACKEND_NAMES)}')
        model_path = declare(self, 'model_path', '', 'segmentation model (.tflite/.onnx, model card beside it)')
        threads = declare(self, 'threads', 1, 'CPU threads of the inference runtime (>= 1)')
        device = declare(self, 'device', '', "Edge TPU device: '' (first), usb, pci, usb:N, pci:N")
        classes_file = declare(self, 'classes_file', str(sim_classes()), 'class list YAML (names, colours, '
                               'traversable)')
        self.mask_resolution = declare(self, 'mask_resolution', 'input', 'class/colour mask size: input '
                                       '(the camera image) or model (the model output grid)')
        self.alpha = declare(self, 'overlay_alpha', 0.5, 'weight of the class colours in the overlay (0..1)')
        hfov = declare(self, 'camera_hfov', 1.22, 'horizontal field of view (rad), used until camera_info '
                       'arrives')
        height = declare(self, 'camera_mount_height', 0.10, 'camera height above the floor (m)')
        tilt = declare(self, 'camera_tilt', 0.26, 'camera pitch below the horizon (rad, positive looks down)')
        mount_x = declare(self, 'camera_mount_x', 0.0, 'camera position ahead of the scan frame origin (m)')
        self.scan_frame = declare(self, 'scan_frame_id', 'base_link', 'frame of the free-space scan (on the '
                                  'floor, under the camera, x forward)')
        self.scan_beams = declare(self, 'scan_beams', 0, 'beams of the free-space scan (0 = one per mask '
                                  'column of the model grid)')
        self.range_max = declare(self, 'scan_range_max', 10.0, 'range_max of the free-space scan (m)')
        self._validate(transport, backend, model_path, threads, hfov)
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
        self.hfov = hfov
        self._palette = self.classes.palette
        self.backend, self._channel_axis = self._load_model(backend, model_path, threads, device or None)
        self.diagnostics = Diagnostics(self, 'segmenter')
        for key in COUNTERS:  # created up front: the worker thread never adds keys while /diagnostics reads
            self.diagnostics.counters[key] = 0
        self.diagnostics.values.update({'backend': self.backend.name, 'model': str(model_path),
                                        'intrinsics': f'camera_hfov {hfov:.3f} rad (no camera_info yet)',
                                        'inference_ms': 'nan', 'processing_ms': 'nan'})
        self._inference_ms: deque[float] = deque(maxlen=TIMING_WINDOW)
        self._processing_ms: deque[float] = deque(maxlen=TIMING_WINDOW)
        self.last_inference_s = 0.0
        self._camera_info: tuple[np.ndarray, int, int] | None = None
        self._scanner: FreeSpaceScanner | None = None
        self._scanner_key: tuple[tuple[int, int], tuple[int, int]] | None = None
        self._scanner_info: tuple[np.ndarray, int, int] | None = None
        self.class_mask_pub = self.create_publisher(Image, '~/class_mask', OUTPUT_QOS)
        self.color_mask_pub = self.create_publisher(Image, '~/color_mask', OUTPUT_QOS)
        self.overlay_pub = self.create_publisher(Image, '~/overlay', OUTPUT_QOS)
        self.scan_pub = self.create_publisher(LaserScan, '~/free_space_scan', OUTPUT_QOS)
        self._mailbox = Mailbox()
        self._worker = threading.Thread(target=self._work, name='segmenter-worker', daemon=True)
        self._worker.start()
        if transport == 'compressed':
            self.create_subscription(CompressedImage, f'{camera_topic}/compressed', self._on_image, SENSOR_QOS)
        else:
            self.create_subscription(Image, camera_topic, self._on_image, SENSOR_QOS)
        self.create_subscription(CameraInfo, info_topic, self._on_camera_info, SENSOR_QOS)
        self.get_logger().info(
            f'segmenting {camera_topic} ({transport}) with {model_path} on {self.backend.name}: '
            f'{", ".join(self.classes.names)}; masks at {self.mask_resolution} resolution'
        )

    def _validate(self, transport: str, backend: str, model_path: str, threads: int, hfov: float) -> None:
        if transport not in ('raw', 'compressed'):
            raise ParameterError(f'camera_transport: must be raw or compressed, got {transport!r}')
        if backend not in BACKEND_NAMES:
            raise ParameterError(f'backend: must be one of {", ".join(BACKEND_NAMES)}, got {backend!r}')
        if not model_path:
            raise ParameterError('model_path: required (a segmentation .tflite or .onnx with its card)')
        if threads < 1:
            raise ParameterError(f'threads: must be >= 1, got {threads}')
        if self.mask_resolution not in ('input', 'model'):
            raise ParameterError(f'mask_resolution: must be input or model, got {self.mask_resolution!r}')
        if not 0.0 <= self.alpha <= 1.0:
            raise ParameterError(f'overlay_alpha: must be in [0, 1], got {self.alpha}')
        if not 0.0 < hfov < np.pi:
            raise ParameterError(f'camera_hfov: must be in (0, pi) rad, got {hfov}')
        if self.scan_beams < 0 or self.scan_beams == 1:
            raise ParameterError(f'scan_beams: must be 0 (one per column) or >= 2, got {self.scan_beams}')
        if not self.range_max > 0:
            raise ParameterError(f'scan_range_max: must be > 0, got {self.range_max}')

    def _load_model(self, backend: str, model_path: str, threads: int, device: str | None) -> tuple[Any, int]:
        """The loaded model and its class axis, checked on one blank frame: one score per class and pixel."""
        try:
            model = create_backend(backend, Path(model_path).expanduser(), threads=threads, device=device,
                                   logger=self.get_logger())
        except (ModelLoadError, BackendUnavailable, ValueError) as exc:
            raise ParameterError(f'model_path/backend: {exc}') from exc
        scores = model.run(np.zeros((1, *model.input_shape), np.uint8))
        count = len(self.classes.names)
        if scores.ndim != 4 or count not in (scores.shape[1], scores.shape[3]):
            raise ParameterError(f'model_path: output {scores.shape} is not (1, H, W, {count}) or '
                                 f'(1, {count}, H, W) for the {count} classes of classes_file')
        card_classes = getattr(getattr(model, 'card', None), 'classes', None)
        if card_classes and tuple(card_classes) != self.classes.names:
            self.get_logger().warning(f'the model card names the classes {list(card_classes)}, classes_file '
                                      f'{list(self.classes.names)}: using classes_file')
        return model, -1 if scores.shape[3] == count else 1

    def _on_image(self, msg: Image | CompressedImage) -> None:
        self.diagnostics.count('frames_in')
        if self._mailbox.put(msg):
            self.diagnostics.count('dropped_frames')

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

    def _work(self) -> None:
        while (msg := self._mailbox.take()) is not None:
            try:
                self.process(msg)
            except Exception as exc:  # one bad frame must never stop the node
                self.diagnostics.problem('processing_errors', f'frame failed: {exc!r}')

    def process(self, msg: Image | CompressedImage) -> None:
        """Segment one camera message and publish every output (the worker thread's job)."""
        start = time.perf_counter()
        try:
            rgb = image_to_rgb(msg)
        except ImageError as exc:
            self.diagnostics.problem('bad_images', f'camera image rejected: {exc}')
            return
        batch = resize_to_input(rgb, self.backend.input_shape)[None]
        before = time.perf_counter()
        scores = self.backend.run(batch)
        self.last_inference_s = time.perf_counter() - before
        grid = class_mask(scores, axis=self._channel_axis)[0]
        mask = grid if self.mask_resolution == 'model' else resize_mask(grid, rgb.shape[:2])
        self.class_mask_pub.publish(self._image(msg.header, mask, 'mono8'))
        if self.color_mask_pub.get_subscription_count():
            self.color_mask_pub.publish(self._image(msg.header, colorize(mask, self._palette), 'rgb8'))
        if self.overlay_pub.get_subscription_count():
            blended = overlay(rgb, mask, self._palette, self.alpha)
            self.overlay_pub.publish(self._image(msg.header, blended, 'rgb8'))
        self.scan_pub.publish(self._scan(msg.header, self._scanner_for(rgb.shape[:2], grid.shape), grid))
        self._inference_ms.append(self.last_inference_s * 1000)
        self._processing_ms.append((time.perf_counter() - start) * 1000)
        self.diagnostics.values['inference_ms'] = f'{statistics.median(self._inference_ms):.2f}'
        self.diagnostics.values['processing_ms'] = f'{statistics.median(self._processing_ms):.2f}'
        self.diagnostics.count('frames_out')

    def _scanner_for(self, image_size: tuple[int, int], grid_size: tuple[int, int]) -> FreeSpaceScanner:
        """The scanner of this image and grid size with camera_info's K (else ``camera_hfov``'s), cached."""
        info = self._camera_info
        key = (image_size, grid_size)
        if self._scanner is None or key != self._scanner_key or info is not self._scanner_info:
            if info is None:
                k = intrinsics_from_hfov(image_size[1], image_size[0], self.hfov)
            else:
                k, width, height = info
                if width > 0 and height > 0 and (height, width) != image_size:
                    k = scale_intrinsics(k, (height, width), image_size)
            self._scanner = FreeSpaceScanner(scale_intrinsics(k, image_size, grid_size), grid_size, self.mount,
                                             self.classes.traversable_table, self.scan_beams, self.range_max)
            self._scanner_key, self._scanner_info = key, info
        return self._scanner

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
        if hasattr(self, '_mailbox'):
            self._mailbox.close()
            self._worker.join(timeout=10.0)
        super().destroy_node()


def main() -> int:
    return run_node(SegmenterNode, threads=2)


if __name__ == '__main__':
    raise SystemExit(main())
