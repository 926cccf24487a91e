"""Benchmark: pretraining streams its frames, so its memory does not grow with the number of frames.

Writes a fleet of dataset files (``core.dataset``, JPEG 32x32 images whose bright half is the obstacle
side, 3 distances x 2 sensors), then runs one short epoch of ``pretrain_embedding`` (a small model:
MobileNetV2 alpha 0.35 up to block 6, 32x32 input, all augmentations on) over the first file only
(10,000 frames) and over all of them (100,000), each in a fresh process, and reports each process's
peak RSS (VmHWM). A fresh process that only imports TensorFlow and builds the model is the baseline.

    python benchmarks/bench_streaming.py [--files 10] [--frames-per-file 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SIZE = 32
FEATURE_LAYER = 'block_6_expand_relu'
LEVELS = (1, 2)
BATCH = 64


def _status() -> dict[str, int]:
    """VmRSS and VmHWM (peak) of this process in MiB."""
    fields = dict(line.split(':', 1) for line in Path('/proc/self/status').read_text().splitlines() if ':' in line)
    return {key: int(fields[key].split()[0]) // 1024 for key in ('VmRSS', 'VmHWM')}


def write_fleet(folder: Path, files: int, frames: int) -> list[Path]:
    """``files`` dataset files of ``frames`` frames each (one robot each), 10 Hz stamps."""
    from selfsup_perception.core.config import LabelingConfig, SensorConfig
    from selfsup_perception.core.dataset import DatasetWriter, FrameRecord

    config = LabelingConfig(
        sensors=(SensorConfig('left', '/left', 0.1, 0.2), SensorConfig('right', '/right', 0.1, 0.2)),
        distances=(0.0, 0.1, 0.2),
    )
    rng = np.random.default_rng(0)
    textures = rng.integers(0, 110, (64, SIZE, SIZE, 3), dtype=np.uint8)
    paths = []
    for robot in range(files):
        path = folder / f'robot_{robot}.db'
        writer = DatasetWriter(path, config, image_format='jpeg')
        try:
            for i in range(frames):
                side = int(rng.integers(0, 2))
                image = textures[i % len(textures)].copy()
                image[:, side * SIZE // 2 : (side + 1) * SIZE // 2] += 120
                labels = np.full((3, 2), -1, np.int8)
                labels[:, side] = 1
                labels[:, 1 - side] = np.where(rng.random(3) < 0.5, 0, -1)
                writer.append(FrameRecord(0.1 * i, image, labels))
        finally:
            writer.close()
        paths.append(path)
    return paths


def child(datasets: list[Path], out: Path) -> dict[str, Any]:
    """(In a fresh process) one epoch of pretraining over ``datasets``; its frames, time and memory."""
    from selfsup_perception.modelbuild.pretrain import PretrainOptions, pretrain_embedding
    from selfsup_perception.modelbuild.training import ExportOptions, TrainingOptions

    start = time.monotonic()
    result = pretrain_embedding(
        PretrainOptions(
            datasets=tuple(datasets),
            export=ExportOptions(out, calibration=16, formats=('keras',)),
            input_size=(SIZE, SIZE),
            feature_layer=FEATURE_LAYER,
            levels=LEVELS,
            training=TrainingOptions(epochs=1, batch_size=BATCH, val_fraction=0.05, guard=0.0),
        )
    )
    return {'frames': result.metrics['train_frames'] + result.metrics['val_frames'],
            'seconds': time.monotonic() - start, 'loss': result.history.loss[-1], **_status()}


def baseline() -> dict[str, Any]:
    """(In a fresh process) TensorFlow imported and the same model built, nothing trained."""
    from selfsup_perception.modelbuild.embedding import build_embedding_extractor, build_pretrain_model

    build_pretrain_model(build_embedding_extractor((SIZE, SIZE), 0.35, FEATURE_LAYER, LEVELS), 3, 2)
    return {'frames': 0, 'seconds': 0.0, 'loss': None, **_status()}


def _run(*argv: str) -> dict[str, Any]:
    env = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3'}
    result = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True, env=env, check=False)
    if result.returncode:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--files', type=int, default=10)
    parser.add_argument('--frames-per-file', type=int, default=10_000)
    parser.add_argument('--child', nargs='*', type=Path, help=argparse.SUPPRESS)
    parser.add_argument('--baseline', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline:
        print(json.dumps(baseline()))
        return
    if args.child:
        with tempfile.TemporaryDirectory() as out:
            print(json.dumps(child(args.child, Path(out))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        paths = write_fleet(Path(tmp), args.files, args.frames_per_file)
        written = time.monotonic() - start
        runs = [('TensorFlow + the model, no data', _run('--baseline'))]
        runs.append((f'1 dataset file, {args.frames_per_file:,} frames', _run('--child', str(paths[0]))))
        runs.append((f'{args.files} dataset files, {args.files * args.frames_per_file:,} frames',
                     _run('--child', *map(str, paths))))
    in_memory = args.files * args.frames_per_file * SIZE * SIZE * 3 / 2**20
    print('## Streaming pretraining (issue 10)\n')
    print(f'One epoch of `pretrain_embedding` (MobileNetV2 alpha 0.35 to `{FEATURE_LAYER}`, pyramid {LEVELS}, '
          f'input {SIZE}x{SIZE}, batch {BATCH}, every augmentation on, shuffle buffer 1024 frames, 5 % time-blocked '
          f'validation) on JPEG dataset files written in {written:.0f} s; each run in a fresh process. '
          f'Holding all {args.files * args.frames_per_file:,} images in memory would take {in_memory:.0f} MiB.\n')
    print('| run | frames | wall s | frames / s | peak RSS MiB (VmHWM) | RSS at end MiB |')
    print('| --- | --- | --- | --- | --- | --- |')
    for name, run in runs:
        rate = f'{run["frames"] / run["seconds"]:,.0f}' if run['seconds'] else '–'
        wall = f'{run["seconds"]:.0f}' if run['seconds'] else '–'
        print(f'| {name} | {run["frames"]:,} | {wall} | {rate} | {run["VmHWM"]} | {run["VmRSS"]} |')
    growth = runs[2][1]['VmHWM'] - runs[1][1]['VmHWM']
    print(f'\n- peak RSS growth from {args.frames_per_file:,} to {args.files * args.frames_per_file:,} frames: '
          f'{growth:+d} MiB')


if __name__ == '__main__':
    main()
