"""Benchmark: the trainer's peak memory and retraining time on 10k, 100k and 1M frames (goal: flat, <= 300 MB).

Each size runs in a fresh process: the replay memory reads every frame of a synthetic stream through the
dataset's reading API (``iter_batches`` + ``cached_embeddings``, embeddings of the shipped size), then
retrains (pairs + head, with consistency), then reads 2,000 new frames and retrains again (the steady
state on the robot). With ``--sqlite`` the smallest size also runs on a real dataset file. Prints
markdown table rows; peak RSS is the process's high-water mark (``ru_maxrss``).

    python benchmarks/bench_replay.py [--frames 10000 100000 1000000] [--sqlite]
"""

from __future__ import annotations

import os

for _var in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[_var] = '1'  # one core, set before numpy loads its BLAS

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from selfsup_perception.core.config import LabelingConfig, load_config  # noqa: E402
from selfsup_perception.core.dataset import Dataset, DatasetWriter, FrameBatch, FrameRecord  # noqa: E402
from selfsup_perception.core.head import HeadOptions  # noqa: E402
from selfsup_perception.core.replay import FrameSource, ReplayMemory  # noqa: E402
from selfsup_perception.core.resources import robot_config  # noqa: E402
from selfsup_perception.pipeline.robot_training import HeadFit, retrain  # noqa: E402

EMBEDDING = 2352  # the shipped embedding
STEADY = 2000  # new frames between two retrainings in the steady state
OPTIONS = HeadOptions(consistency_weight=1.0)


class SyntheticStream:
    """``total`` frames at 10 Hz of a robot driving round a 5 m circle (a reset every 6,000 frames), labels and
    embeddings from 64 slowly varying latent factors; computed on demand from the frame id, nothing stored."""

    def __init__(self, config: LabelingConfig, total: int) -> None:
        rng = np.random.default_rng(0)
        self.total = total
        self.k, self.s = len(config.distances), len(config.sensors)
        self.frequencies = rng.uniform(0.001, 0.05, 64)
        self.phases = rng.uniform(0, 2 * np.pi, 64)
        self.readout = rng.standard_normal((64, self.k * self.s)) / 4
        self.projection = rng.standard_normal((64, EMBEDDING)).astype(np.float32) / 8
        self.known = np.exp(-np.arange(self.k) / 4.0)  # far labels are rare

    def _latent(self, ids: np.ndarray) -> np.ndarray:
        return np.sin(ids[:, None] * self.frequencies + self.phases)

    def iter_batches(self, batch_size: int = 256, after_id: int = 0, images: bool = True,
                     extras: bool = True) -> Iterator[FrameBatch]:
        for first in range(after_id + 1, self.total + 1, batch_size):
            ids = np.arange(first, min(first + batch_size, self.total + 1))
            angle = ids * 0.015 / 5.0
            poses = np.column_stack([5 * np.cos(angle), 5 * np.sin(angle), angle + np.pi / 2])
            labels = (self._latent(ids) @ self.readout > 1.0).reshape(-1, self.k, self.s).astype(np.uint8)
            draw = np.modf(np.sin(ids[:, None] * 12.9898 + np.arange(self.k) * 78.233) * 43758.5453)[0] % 1.0
            mask = np.repeat((draw < self.known)[:, :, None], self.s, axis=2)
            yield FrameBatch(ids, ids * 0.1, poses, ids // 6000, labels, mask, None, None, None)

    def cached_embeddings(self, model_sha256: str, ids: np.ndarray) -> dict[int, np.ndarray]:
        vectors = np.maximum(self._latent(np.asarray(ids)).astype(np.float32) @ self.projection, 0)
        return dict(zip(np.asarray(ids).tolist(), vectors, strict=True))


def write_dataset(path: Path, config: LabelingConfig, stream: SyntheticStream) -> None:
    """The stream as a real dataset file (tiny images, embeddings in the cache)."""
    image = np.zeros((8, 8, 3), np.uint8)
    writer = DatasetWriter(path, config, image_format='png')
    try:
        writer._db.execute('PRAGMA synchronous=OFF')  # benchmark set-up only: no power-loss safety needed
        for batch in stream.iter_batches(1000):
            for i in range(batch.ids.size):
                labels = np.where(batch.mask[i], batch.labels[i], -1).astype(np.int8)
                writer.append(FrameRecord(float(batch.stamps[i]), image, labels, tuple(batch.poses[i]),
                                          int(batch.segments[i])))
            found = stream.cached_embeddings('', batch.ids)
            writer.store_embeddings('bench', batch.ids, np.stack([found[i] for i in batch.ids.tolist()]))
    finally:
        writer.close()


def child(frames: int, sqlite: Path | None) -> dict[str, float]:
    """One size in this process: read everything, retrain, read STEADY more, retrain; times and peak RSS."""
    config = load_config(robot_config())
    source: FrameSource = SyntheticStream(config, frames + STEADY) if sqlite is None else Dataset(sqlite)
    memory = ReplayMemory(EMBEDDING, config.distances, len(config.sensors), max_jump=config.max_odom_jump)
    times: list[float] = []
    fit: HeadFit | None = None
    for recorded in (frames, frames + STEADY):
        started = time.perf_counter()
        result = retrain(memory, _Upto(source, recorded), config, OPTIONS, None if fit is None else fit.head,
                         dataset='bench', embedding_sha256='bench')
        fit = result.fit
        times.append(time.perf_counter() - started)
    assert fit is not None
    return {'frames': frames, 'held': len(memory), 'first_s': times[0], 'steady_s': times[1],
            'epochs': len(fit.history.train_loss), 'pairs': fit.pairs.found,
            'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


class _Upto:
    """A dataset seen as if it ended at frame ``last`` (the robot had recorded no more yet)."""

    def __init__(self, source: FrameSource, last: int) -> None:
        self.source, self.last = source, last

    def iter_batches(self, batch_size: int = 256, after_id: int = 0, images: bool = True,
                     extras: bool = True) -> Iterator[FrameBatch]:
        for batch in self.source.iter_batches(batch_size, after_id, images, extras):
            keep = batch.ids <= self.last
            if keep.any():
                yield FrameBatch(batch.ids[keep], batch.stamps[keep], batch.poses[keep], batch.segments[keep],
                                 batch.labels[keep], batch.mask[keep], None, None, None)
            if not keep.all():
                return

    def cached_embeddings(self, model_sha256: str, ids: np.ndarray) -> dict[int, np.ndarray]:
        return self.source.cached_embeddings(model_sha256, ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--frames', type=int, nargs='+', default=[10_000, 100_000, 1_000_000])
    parser.add_argument('--sqlite', action='store_true', help='also run the smallest size on a dataset file')
    parser.add_argument('--child', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--file', type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.file)))
        return
    print('| source | frames seen | frames held | first retraining s (read all + train) | steady retraining s '
          f'(read {STEADY} + train) | epochs | pairs | peak RSS MB |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- |')
    runs: list[tuple[str, int, Path | None]] = [('synthetic stream', n, None) for n in args.frames]
    with tempfile.TemporaryDirectory() as tmp:
        if args.sqlite:
            path = Path(tmp) / 'bench.db'
            config = load_config(robot_config())
            write_dataset(path, config, SyntheticStream(config, min(args.frames) + STEADY))
            runs.insert(1, ('dataset file (SQLite)', min(args.frames), path))
        for name, frames, path in runs:
            command = [sys.executable, __file__, '--child', str(frames)] + (['--file', str(path)] if path else [])
            result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
            print(f'| {name} | {frames:,} | {result["held"]:,} | {result["first_s"]:.1f} | {result["steady_s"]:.1f} '
                  f'| {result["epochs"]} | {result["pairs"]:,} | {result["peak_rss_mb"]:.0f} |', flush=True)


if __name__ == '__main__':
    main()
