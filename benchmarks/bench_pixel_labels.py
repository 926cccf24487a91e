"""Self-supervised pixel labels: labelling speed on one core, and precision / coverage on unseen worlds.

Speed: the offline driver on a synthetic 1,000-frame drive (160x120 camera), with and without pixel labels,
and the streaming driver with them. Quality: the first ``WORLDS`` worlds of the unseen-world benchmark range
(seeds 100000...), ``SECONDS`` simulated seconds each, labelled by the streaming driver and scored against
the simulator's classes (``sim.pixel_agreement``). Nothing was tuned on these worlds.
Run on one core: ``taskset -c 0 python benchmarks/bench_pixel_labels.py`` (benchmarks/run.py does).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault('MUJOCO_GL', 'egl')

import numpy as np

from selfsup_perception.core.config import load_config, pixel_labels_from_dict
from selfsup_perception.core.labeling import FRAME, Recording, StreamingLabeler, label_recording
from selfsup_perception.core.pixel_labels import frame_camera
from selfsup_perception.sim.pixel_agreement import PixelAgreement, measure_pixel_labels
from selfsup_perception.testing.synthetic import DriveSpec, synthetic_drive

ROOT = Path(__file__).resolve().parents[1]
FIRST_WORLD = 100_000
WORLDS = 5
SECONDS = 120.0


def _fmt(value: float) -> str:
    return 'n/a' if np.isnan(value) else f'{value:.4f}'


def _counts(result: PixelAgreement) -> str:
    floor, obstacle = int(result.floor_labels.sum()), int(result.obstacle_labels.sum())
    return (f'{floor:,} ({floor - int(result.floor_correct.sum()):,}) | '
            f'{obstacle:,} ({obstacle - int(result.obstacle_correct.sum()):,})')


def speed(config, pixels) -> list[str]:
    recording = synthetic_drive(config, DriveSpec(duration=100.0), seed=0)
    values = recording.values.copy()
    values[recording.kind == FRAME, 1] = 0.0
    recording = Recording(recording.kind, recording.stamp, values, (frame_camera(pixels, 120, 160),))
    n = int(np.count_nonzero(recording.kind == FRAME))
    times: dict[str, list[float]] = {'obstacle rule only': [], 'with pixel labels': [], 'streaming, pixels': []}
    for _ in range(3):
        for name, job in (('obstacle rule only', lambda: label_recording(recording, config)),
                          ('with pixel labels', lambda: label_recording(recording, config, pixels=pixels))):
            start = time.perf_counter()
            job()
            times[name].append(time.perf_counter() - start)
        start = time.perf_counter()
        labeler = StreamingLabeler(config, pixels=pixels)
        for kind, stamp, event in zip(recording.kind.tolist(), recording.stamp.tolist(), recording.values.tolist(),
                                      strict=True):
            labeler.add(kind, stamp, event, recording.cameras)
            labeler.pop_finished()
        labeler.flush()
        times['streaming, pixels'].append(time.perf_counter() - start)
    lines = [f'Speed: synthetic drive, {n} frames at 10 Hz, 160x120 camera, odometry 50 Hz, 5 sensors at 20 Hz.', '',
             '| driver | frames/s (median of 3) | ms per frame |', '| --- | --- | --- |']
    for name, runs in times.items():
        median = statistics.median(runs)
        lines.append(f'| {name} | {n / median:,.0f} | {1e3 * median / n:.2f} |')
    return lines


def quality(config, pixels) -> list[str]:
    lines = [f'Quality: worlds {FIRST_WORLD}-{FIRST_WORLD + WORLDS - 1} (unseen), {SECONDS:g} s each, 160x120 camera.',
             '',
             '| world | frames | floor precision | obstacle precision | coverage | floor px (wrong) '
             '| obstacle px (wrong) |',
             '| --- | --- | --- | --- | --- | --- | --- |']
    results: list[PixelAgreement] = []
    for seed in range(FIRST_WORLD, FIRST_WORLD + WORLDS):
        result = measure_pixel_labels(seed, SECONDS, config, pixels)
        results.append(result)
        lines.append(f'| {seed} | {result.frames} | {_fmt(result.floor_precision)} | '
                     f'{_fmt(result.obstacle_precision)} | {_fmt(result.coverage)} | {_counts(result)} |')
        print(lines[-1], file=sys.stderr, flush=True)
    total = PixelAgreement(results[0].edges, sum(r.frames for r in results),
                           *(sum(getattr(r, name) for r in results) for name in
                             ('floor_labels', 'floor_correct', 'obstacle_labels', 'obstacle_correct', 'true_floor',
                              'true_floor_labelled')))
    lines.append(f'| all | {total.frames} | {_fmt(total.floor_precision)} | {_fmt(total.obstacle_precision)} | '
                 f'{_fmt(total.coverage)} | {_counts(total)} |')
    lines += ['', 'All worlds together, per distance from the robot (obstacle labels: where their face meets the '
              'floor):', '', '| distance | floor precision | floor px | obstacle precision | obstacle px | coverage |',
              '| --- | --- | --- | --- | --- | --- |']
    for row in total.per_band():
        lines.append(f"| {row['band']} | {_fmt(float(row['floor_precision']))} | {int(row['floor_labels']):,} | "
                     f"{_fmt(float(row['obstacle_precision']))} | {int(row['obstacle_labels']):,} | "
                     f"{_fmt(float(row['coverage']))} |")
    return lines


def main() -> None:
    config = load_config(ROOT / 'config/robot.yaml')
    pixels = pixel_labels_from_dict(config.extra)
    print('## Self-supervised pixel labels (issue 11)')
    print()
    print('\n'.join(speed(config, pixels)))
    print()
    print('\n'.join(quality(config, pixels)))


if __name__ == '__main__':
    main()
