"""Segmenter node overhead beyond the model: ms per 240x320 camera frame, in process, on one core.

The node's ``process`` (decode, resize to the model input, inference, arg-max, mask resize, colours,
free-space scan, message building and publishing) is timed per frame and the model's own time
(``backend.run``) subtracted. The model is the shipped FCN-8s at 240x320 (before ``make models``: the
tiny test model), so the numbers are the node's own cost. Prints markdown lines.

    python benchmarks/bench_segmenter.py [--frames 200]
"""

from __future__ import annotations

import os

for _var in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[_var] = '1'  # one core, set before numpy loads its BLAS

import argparse  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import rclpy  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from selfsup_perception.core.images import rgb_to_raw  # noqa: E402
from selfsup_perception.core.segmentation import CameraMount, camera_rays, intrinsics_from_hfov  # noqa: E402
from selfsup_perception.inference import create_backend  # noqa: E402
from selfsup_perception.nodes.segmenter import SegmenterNode  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / 'models' / 'fcn8s_240x320.tflite'
MODEL = SHIPPED if SHIPPED.exists() else ROOT / 'test' / 'data' / 'tiny_seg.tflite'
SIZE = (240, 320)
WARMUP = 20


def scene() -> np.ndarray:
    """A 240x320 frame in the tiny model's colour code: red floor, a blue wall 0.6 m ahead, a green box."""
    k = intrinsics_from_hfov(SIZE[1], SIZE[0], 1.22)
    mount = CameraMount(0.10, 0.26)
    u, v = np.meshgrid(np.arange(SIZE[1]), np.arange(SIZE[0]))
    dx, dy, dz = camera_rays(k, mount, u, v)
    with np.errstate(divide='ignore', invalid='ignore'):
        floor_t = np.where(dz < 0, mount.height / -dz, np.inf)
        wall_t = np.where(dx > 0, 0.6 / dx, np.inf)
        box = (dx > 0) & (np.abs(0.3 * dy / dx - 0.1) < 0.05) & (0.3 / dx < floor_t)
    image = np.zeros((*SIZE, 3), np.uint8)
    image[..., 0] = 220 * (floor_t <= wall_t)
    image[..., 2] = 220 * (wall_t < floor_t)
    image[box] = (0, 220, 0)
    return image


def messages(rgb: np.ndarray) -> dict[str, Image | CompressedImage]:
    height, width, step, data = rgb_to_raw(rgb)
    raw = Image(height=height, width=width, encoding='rgb8', step=step, data=data)
    raw.header.frame_id = 'camera'
    ok, jpeg = cv2.imencode('.jpg', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    compressed = CompressedImage(format='rgb8; jpeg compressed bgr8', data=jpeg.tobytes())
    compressed.header.frame_id = 'camera'
    return {'raw rgb8': raw, 'jpeg': compressed}


def measure(node: SegmenterNode, msg: Image | CompressedImage, frames: int) -> tuple[float, float]:
    """Median (model ms, overhead ms) over ``frames`` calls of the node's per-frame processing."""
    model, overhead = [], []
    for i in range(WARMUP + frames):
        start = time.perf_counter()
        node.process(msg)
        total = time.perf_counter() - start
        if i >= WARMUP:
            model.append(node.last_inference_s * 1000)
            overhead.append((total - node.last_inference_s) * 1000)
    assert node.diagnostics.counters['bad_images'] == 0
    return statistics.median(model), statistics.median(overhead)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--frames', type=int, default=200)
    args = parser.parse_args()
    inputs = messages(scene())
    context = rclpy.context.Context()
    rclpy.init(context=context, domain_id=random.randint(1, 200))
    print('## Segmenter node overhead beyond the model\n')
    print(f'Model {MODEL.relative_to(ROOT)} (tflite, 1 thread), {SIZE[1]}x{SIZE[0]} '
          f'camera frames; median of {args.frames} frames. Overhead = the node\'s per-frame processing '
          '(decode, resize, arg-max, masks, scan, messages, publish) minus the model\'s own time.\n')
    print('| camera input | masks at | colour + overlay subscribed | model ms | node overhead ms |')
    print('| --- | --- | --- | --- | --- |')
    probe = create_backend('tflite', MODEL)
    grid = 'x'.join(map(str, probe.run(np.zeros((1, *probe.input_shape), np.uint8)).shape[1:3]))
    try:
        for resolution in ('input', 'model'):
            node = SegmenterNode(context=context, cli_args=[
                '--ros-args', '-p', f'model_path:={MODEL}', '-p', 'backend:=tflite', '-p', 'threads:=1',
                '-p', f'mask_resolution:={resolution}'])
            viewer = rclpy.create_node('viewer', context=context)
            try:
                for subscribed in (False, True):
                    if subscribed:
                        for topic in ('color_mask', 'overlay'):
                            viewer.create_subscription(Image, f'/segmenter/{topic}', lambda _: None, 1)
                        deadline = time.monotonic() + 10
                        while time.monotonic() < deadline and not (node.color_mask_pub.get_subscription_count()
                                                                   and node.overlay_pub.get_subscription_count()):
                            time.sleep(0.01)
                    for name, msg in inputs.items():
                        model, overhead = measure(node, msg, args.frames)
                        print(f'| {name} | {resolution} ({"240x320" if resolution == "input" else grid}) '
                              f'| {"yes" if subscribed else "no"} | {model:.3f} | {overhead:.3f} |', flush=True)
            finally:
                viewer.destroy_node()
                node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


if __name__ == '__main__':
    main()
