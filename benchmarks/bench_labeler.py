"""Labeler speed: offline and streaming drivers vs the per-frame reference, on a 10,000-frame drive.

Run on one core: ``taskset -c 0 python benchmarks/bench_labeler.py`` (benchmarks/run.py does).
Image decoding is excluded: frames carry only their index.
"""

from __future__ import annotations

import statistics
import time
import tracemalloc
from pathlib import Path

import numpy as np

from selfsup_perception.core.config import load_config
from selfsup_perception.core.labeling import FRAME, ODOMETRY, StreamingLabeler, label_recording, reading_labels
from selfsup_perception.testing.reference import reference_labels
from selfsup_perception.testing.synthetic import DriveSpec, synthetic_drive

ROOT = Path(__file__).resolve().parents[1]
FRAMES = 10_000
REFERENCE_FRAMES = 100


def _stream(recording, config, sample_every: int = 0) -> tuple[list, list[int]]:
    labeler = StreamingLabeler(config)
    out, buffered = [], []
    messages = zip(recording.kind.tolist(), recording.stamp.tolist(), recording.values.tolist(), strict=True)
    for i, (kind, stamp, values) in enumerate(messages):
        labeler.add(kind, stamp, values)
        out += labeler.pop_finished()
        if sample_every and i % sample_every == 0:
            buffered.append(labeler.buffered)
    return out + labeler.flush(), buffered


def main() -> None:
    config = load_config(ROOT / 'config/robot.yaml')
    spec = DriveSpec(duration=FRAMES / 10.0, camera_rate=10.0, odom_rate=50.0, sensor_rate=20.0)
    recording = synthetic_drive(config, spec, seed=0)
    n_frames = int(np.count_nonzero(recording.kind == FRAME))
    offline_times, stream_times = [], []
    for _ in range(5):
        start = time.perf_counter()
        offline, _ = label_recording(recording, config)
        offline_times.append(time.perf_counter() - start)
    for _ in range(3):
        start = time.perf_counter()
        streamed, _ = _stream(recording, config)
        stream_times.append(time.perf_counter() - start)
    identical = all(np.array_equal(a.labels, b.labels) for a, b in zip(offline, streamed, strict=True))
    # Memory: the streaming buffers and Python heap sampled along the drive must stay flat.
    tracemalloc.start()
    _, buffered = _stream(recording, config, sample_every=len(recording.kind) // 20)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # The reference: per frame, per distance and sensor, scan every later reading.
    in_order = np.argsort(recording.stamp, kind='stable')
    odom = [(float(recording.stamp[i]), *map(float, recording.values[i])) for i in in_order
            if recording.kind[i] == ODOMETRY]
    readings = []
    for i in in_order:
        if recording.kind[i] >= 2:
            label = int(reading_labels(recording.values[i:i + 1, 0], config.sensors[recording.kind[i] - 2])[0])
            if label >= 0:
                readings.append((float(recording.stamp[i]), int(recording.kind[i] - 2), label))
    frame_t = [f.stamp for f in offline[:REFERENCE_FRAMES]]
    start = time.perf_counter()
    reference = reference_labels(frame_t, odom, readings, config)
    reference_time = time.perf_counter() - start
    reference_equal = np.array_equal(reference, np.stack([f.labels for f in offline[:REFERENCE_FRAMES]]))
    offline_fps = n_frames / statistics.median(offline_times)
    stream_fps = n_frames / statistics.median(stream_times)
    reference_fps = REFERENCE_FRAMES / reference_time
    known = sum(int((f.labels >= 0).sum()) for f in offline)
    print('## Labeler (issue 2)')
    print()
    print(f'Drive: {n_frames} frames, {len(config.distances)} distances x {len(config.sensors)} sensors, '
          f'odometry 50 Hz, sensors 20 Hz, horizon {config.horizon} s, {known} known labels.')
    print()
    print('| driver | frames/s (median) | runs | vs reference |')
    print('| --- | --- | --- | --- |')
    print(f'| offline (`label_recording`) | {offline_fps:,.0f} | 5 | {offline_fps / reference_fps:,.0f}x |')
    print(f'| streaming (`StreamingLabeler`, batch 8) | {stream_fps:,.0f} | 3 | {stream_fps / reference_fps:,.0f}x |')
    print(f'| per-frame reference (first {REFERENCE_FRAMES} frames) | {reference_fps:,.1f} | 1 | 1x |')
    print()
    print(f'- streaming labels identical to offline: {identical}; reference labels identical on its frames: '
          f'{reference_equal}')
    print(f'- streaming buffers (messages held) sampled along the drive: min {min(buffered)}, '
          f'max {max(buffered)} (flat: bounded by the horizon, not the drive length); '
          f'Python heap peak {peak / 1e6:.1f} MB')


if __name__ == '__main__':
    main()
