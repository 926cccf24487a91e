"""Benchmark: the split FCN-8s's numpy segmentation head on one core (issue 11 goals).

Goals: the head adds <= 1 ms per 160x120 frame; fine-tuning on 3,000 self-labelled frames <= 60 s; the
segmenter (backbone + head, as the node runs it) <= 200 MB. Features are synthetic but shaped like the
shipped backbone's at 120x160 (strides 8/16/32: 15x20x96, 8x10x192, 4x5x1280, uint8 as kept in memory); the
whole-frame timings and the memory use the shipped models/fcn8s_backbone.tflite + fcn8s_head.npz beside the
whole int8 FCN-8s. Medians of repeated runs.

    python benchmarks/bench_seghead.py [--repeats 3]
"""

from __future__ import annotations

import os

for _var in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[_var] = '1'  # one core, set before numpy loads its BLAS

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from selfsup_perception.core.pixel_labels import FLOOR, OBSTACLE, UNKNOWN  # noqa: E402
from selfsup_perception.core.seghead import SegHead, split_features  # noqa: E402
from selfsup_perception.core.seghead_training import SegHeadOptions, SelfLabelledFeatures, train_seg_head  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / 'models'
SHAPES = {8: (15, 20, 96), 16: (8, 10, 192), 32: (4, 5, 1280)}
SIZE = (120, 160)


def synthetic_head(rng: np.random.Generator) -> SegHead:
    taps = np.array([0.25, 0.75, 0.75, 0.25], np.float32)
    bilinear = np.zeros((4, 4, 3, 3), np.float32)
    bilinear[:, :, np.arange(3), np.arange(3)] = np.outer(taps, taps)[:, :, None]
    scores = {s: ((rng.standard_normal((c, 3)) * 0.05).astype(np.float32), np.zeros(3, np.float32))
              for s, (_, _, c) in SHAPES.items()}
    return SegHead('fcn8s', ('floor', 'obstacle', 'wall'), scores, {16: bilinear, 8: bilinear.copy()})


def synthetic_data(frames: int, rng: np.random.Generator) -> SelfLabelledFeatures:
    """uint8 features whose first channels carry a floor/not-floor signal, labels on about a fifth of the pixels
    (the near floor and a band of obstacle), as the robot's self-labels are."""
    total = sum(int(np.prod(s)) for s in SHAPES.values())
    features = rng.integers(0, 40, (frames, total), dtype=np.uint8)
    labels = np.full((frames, *SIZE), UNKNOWN, np.uint8)
    horizon = rng.integers(30, 80, frames)
    for i, h in enumerate(horizon):
        labels[i, h + 20 :, 40:120] = FLOOR
        labels[i, h - 10 : h, 60:100] = OBSTACLE
    return SelfLabelledFeatures(features, labels, np.arange(frames) * 0.1, SHAPES, 6 / 255)


def median_ms(function, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def frame_timings(repeats: int) -> list[str]:
    from selfsup_perception.inference import create_backend
    from selfsup_perception.inference.segmentation import SegmentationRunner
    from selfsup_perception.pipeline.seg_heads import open_split_model

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8)
    whole = SegmentationRunner(create_backend('tflite', MODELS / 'fcn8s.tflite', threads=1))
    split = open_split_model(MODELS / 'fcn8s_backbone.tflite', MODELS / 'fcn8s_head.npz', 'tflite')
    rows = []
    for name, runner in (('whole int8 FCN-8s (baseline)', whole), ('int8 backbone + numpy head', split)):
        runner.mask(image)
        rows.append((name, median_ms(lambda r=runner: r.mask(image), 50 * repeats)))
    base = rows[0][1]
    return [f'| {name} | {ms:.2f} | {ms / base:.2f}x |' for name, ms in rows]


def peak_rss_mb() -> float:
    """The segmenter's work (backbone + head on 200 frames) in a fresh process: its peak RSS (VmHWM)."""
    code = ('import numpy as np\nfrom selfsup_perception.pipeline.seg_heads import open_split_model\n'
            f'r = open_split_model({str(MODELS / "fcn8s_backbone.tflite")!r}, {str(MODELS / "fcn8s_head.npz")!r}, '
            "'tflite')\nimage = np.zeros((120, 160, 3), np.uint8)\nfor _ in range(200): r.mask(image)\n"
            "print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])\n")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout
    return int(out.split()[-1]) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    head = synthetic_head(rng)
    data = synthetic_data(3000, rng)
    one = split_features(data.features[:1].astype(np.float32) * np.float32(data.scale), SHAPES)
    head_ms = median_ms(lambda: head.logits(one, SIZE).argmax(-1), 200 * args.repeats)
    print('## Segmentation head on the robot (issue 11; `benchmarks/bench_seghead.py`)\n')
    print('Goals: head <= 1 ms per 160x120 frame, training on 3,000 frames <= 60 s, segmenter <= 200 MB; one core.\n')
    print(f'- numpy head alone (score layers, 2x upsamplings, bilinear x8, arg-max), one 160x120 frame: '
          f'**{head_ms:.3f} ms** (median of {200 * args.repeats})')
    seconds, epochs = [], []
    for repeat in range(args.repeats):
        start = time.perf_counter()
        _, history = train_seg_head(data, head, (True, False, False), SegHeadOptions(seed=repeat))
        seconds.append(time.perf_counter() - start)
        epochs.append(len(history.train_loss))
    print(f'- fine-tuning on 3,000 frames (uint8 features, {int((data.labels != UNKNOWN).sum()):,} labelled pixels, '
          f'default options, early stopping): **{statistics.median(seconds):.1f} s** median of {args.repeats} '
          f'({min(epochs)}-{max(epochs)} epochs); features held: {data.features.nbytes / 2**20:.0f} MiB')
    if (MODELS / 'fcn8s_backbone.tflite').exists():
        print(f'- segmenter process (backbone + head, 200 frames), peak RSS: **{peak_rss_mb():.0f} MB**\n')
        print('| whole frame, 160x120, LiteRT 1 thread | median ms | vs baseline |')
        print('| --- | --- | --- |')
        print('\n'.join(frame_timings(args.repeats)))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
