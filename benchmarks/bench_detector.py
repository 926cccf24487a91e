"""Obstacle detector: per-frame overhead beyond the embedding model, and resident memory of a detector process.

Overhead: the node's own ``process()`` (camera message in -> probabilities and scan published), run
in-process on the shipped embedding model and head (or, before ``make models``, the tiny test model
with a random head of the shipped layout); the model's own time, measured inside ``process()`` around the backend
call, is subtracted frame by frame. Medians over many frames. Memory: VmRSS of a fresh process that
imports rclpy and creates the node, next to one that creates a bare rclpy node.

    python benchmarks/bench_detector.py [--frames 300]
"""

from __future__ import annotations

import os

for _var in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[_var] = '1'  # one core, set before numpy loads its BLAS

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHIPPED, SHIPPED_HEAD = ROOT / 'models' / 'embedding.tflite', ROOT / 'models' / 'head.npz'
MODEL = SHIPPED if SHIPPED.exists() else ROOT / 'test' / 'data' / 'tiny_float.tflite'
CONFIG = ROOT / 'config' / 'robot.yaml'
WARMUP = 20


def _head(directory: Path) -> Path:
    """The shipped head, else a logistic head with random weights of its layout for the tiny model."""
    if MODEL == SHIPPED and SHIPPED_HEAD.exists():
        return SHIPPED_HEAD
    from selfsup_perception.core.config import load_config
    from selfsup_perception.core.head import Head
    from selfsup_perception.core.modelcard import file_sha256

    config = load_config(CONFIG)
    outputs = len(config.distances) * len(config.sensors)
    rng = np.random.default_rng(0)
    path = directory / 'head.npz'
    Head(mean=np.zeros(16, np.float32), scale=np.ones(16, np.float32),
         layers=((rng.standard_normal((16, outputs)).astype(np.float32), np.zeros(outputs, np.float32)),),
         distances=config.distances, sensors=config.sensor_names, embedding_sha256=file_sha256(MODEL)).save(path)
    return path


def _detector(context: object, head: Path, transport: str = 'raw') -> object:
    from selfsup_perception.nodes.obstacle_detector import ObstacleDetectorNode

    return ObstacleDetectorNode(context=context, cli_args=[
        '--ros-args', '--params-file', str(CONFIG), '-p', f'embedding_model:={MODEL}', '-p', 'backend:=tflite',
        '-p', f'head_path:={head}', '-p', f'camera_transport:={transport}'])


def _messages(width: int, height: int, compressed: bool, count: int = 8) -> list[object]:
    from sensor_msgs.msg import CompressedImage, Image

    from selfsup_perception.core.images import encode_image, rgb_to_raw

    rng = np.random.default_rng(1)
    messages = []
    for i in range(count):
        rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        if compressed:
            msg = CompressedImage(format='rgb8; jpeg compressed bgr8', data=encode_image(rgb, 'jpeg'))
        else:
            h, w, step, data = rgb_to_raw(rgb)
            msg = Image(height=h, width=w, encoding='rgb8', is_bigendian=0, step=step, data=data)
        msg.header.stamp.sec = i
        msg.header.frame_id = 'camera'
        messages.append(msg)
    return messages


def _measure(node: object, messages: list[object], frames: int) -> tuple[float, float, float]:
    """Median (total, model, overhead) ms per frame of ``node.process``."""
    totals, models, overheads = [], [], []
    for i in range(WARMUP + frames):
        msg = messages[i % len(messages)]
        start = time.perf_counter()
        assert node.process(msg)
        total = time.perf_counter() - start
        if i >= WARMUP:
            totals.append(total * 1e3)
            models.append(node.last_inference_s * 1e3)
            overheads.append((total - node.last_inference_s) * 1e3)
    return statistics.median(totals), statistics.median(models), statistics.median(overheads)


def overhead(frames: int) -> None:
    import rclpy
    from rclpy.node import Node
    from sensor_msgs.msg import Image, LaserScan
    from std_msgs.msg import Float32MultiArray

    context = rclpy.context.Context()
    rclpy.init(context=context, domain_id=231)
    rclpy.logging.set_logger_level('obstacle_detector', rclpy.logging.LoggingSeverity.WARN)
    print('| input | overlay | total ms / frame | model ms | overhead ms (total - model) |')
    print('| --- | --- | --- | --- | --- |')
    try:
        with tempfile.TemporaryDirectory() as tmp:
            head = _head(Path(tmp))
            cases = [('raw rgb8 160x120', 160, 120, False, False), ('raw rgb8 640x480', 640, 480, False, False),
                     ('jpeg 640x480', 640, 480, True, False), ('raw rgb8 640x480', 640, 480, False, True)]
            for name, width, height, compressed, overlay in cases:
                node = _detector(context, head, 'compressed' if compressed else 'raw')
                viewer = Node('viewer', context=context)  # subscribed like Nav2 (and rviz for the overlay)
                viewer.create_subscription(LaserScan, '/obstacle_detector/scan', lambda _: None, 1)
                viewer.create_subscription(Float32MultiArray, '/obstacle_detector/probabilities', lambda _: None, 1)
                if overlay:
                    viewer.create_subscription(Image, '/obstacle_detector/overlay', lambda _: None, 1)
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and not (node._scan.get_subscription_count() and (
                        not overlay or node._overlay.get_subscription_count())):
                    time.sleep(0.01)
                try:
                    total, model, extra = _measure(node, _messages(width, height, compressed), frames)
                finally:
                    node.destroy_node()
                    viewer.destroy_node()
                print(f'| {name} | {"subscribed" if overlay else "no subscriber"} | {total:.3f} | {model:.3f} '
                      f'| {extra:.3f} |')
    finally:
        rclpy.try_shutdown(context=context)


def rss_child(kind: str) -> None:
    """(In a fresh process) create the node, then print this process's VmRSS and VmHWM in kB."""
    import rclpy
    from rclpy.node import Node

    rclpy.init(domain_id=232)
    with tempfile.TemporaryDirectory() as tmp:
        node = _detector(None, _head(Path(tmp))) if kind == 'detector' else Node('bare')
        status = dict(line.split(':', 1) for line in Path('/proc/self/status').read_text().splitlines())
        print(status['VmRSS'].split()[0], status['VmHWM'].split()[0])
        node.destroy_node()
    rclpy.try_shutdown()


def memory() -> None:
    print('| process | RSS MB | peak RSS MB |')
    print('| --- | --- | --- |')
    for kind, label in (('bare', 'python + rclpy + a bare node'),
                        ('detector', f'python + rclpy + obstacle_detector ({MODEL.name}, TFLite)')):
        out = subprocess.run([sys.executable, __file__, '--rss', kind], capture_output=True, text=True, check=True)
        rss, peak = (int(v) / 1024 for v in out.stdout.split()[-2:])
        print(f'| {label} | {rss:.0f} | {peak:.0f} |')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--frames', type=int, default=300)
    parser.add_argument('--rss', choices=('bare', 'detector'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss:
        rss_child(args.rss)
        return
    print('## Obstacle detector (issue 4)')
    print()
    print(f'Per frame, median of {args.frames} frames after {WARMUP} warm-up frames, in-process `process()` '
          f'(decode, resize, model, head, probabilities + scan published to a subscriber, overlay when subscribed); '
          f'model: {MODEL.relative_to(ROOT)}, head of 21 distances x 5 sensors.')
    print()
    overhead(args.frames)
    print()
    memory()


if __name__ == '__main__':
    main()
