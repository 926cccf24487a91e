"""Obstacle-head training on the robot with state-consistency pairs (Nava et al. 2021), from a replay memory.
``selfsup train``, the trainer node and the benchmark take their pairs from ``consistency_pairs``.

``fit_obstacle_head`` takes frames (ids, stamps, poses, odometry pieces, labels, embeddings), finds their
consistency pairs with the tolerances the dataset was labelled with, and trains. ``dataset_frames`` loads a
whole dataset (``selfsup train``); ``retrain`` feeds a replay memory the frames new since the last
retraining and trains on what it holds (the trainer node: bounded memory and time). Every head records the
id ranges of the frames it trained on, so heads are later compared on frames neither has seen.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from selfsup_perception.core.config import LabelingConfig, labeling_from_stored
from selfsup_perception.core.consistency import ConsistencyPairs, find_pairs, odometry_pieces
from selfsup_perception.core.dataset import Dataset
from selfsup_perception.core.head import Head, HeadOptions, TrainingHistory, time_blocked_split, train_head
from selfsup_perception.core.replay import FrameSource, ReplayMemory, ReplayOptions, TrainingFrames, ingest
from selfsup_perception.inference.embedder import Embedder
from selfsup_perception.pipeline.frames import FrameData, load_frames

MAX_PAIRS = 500_000  # consistency pairs kept per training (a uniform sample): 6 MB, ~1.5x what 30 epochs draw


@dataclass(frozen=True)
class HeadFit:
    """A trained head, its history, the consistency pairs found (before the split) and the ids of the
    labelled validation frames it held out (on which to compare it with the head in use)."""

    head: Head
    history: TrainingHistory
    pairs: ConsistencyPairs
    validation_ids: np.ndarray


def fit_obstacle_head(
    frames: TrainingFrames,
    config: LabelingConfig,
    options: HeadOptions,
    *,
    dataset: str | Path,
    embedding_sha256: str,
    pairs: ConsistencyPairs | None = None,
    start: Head | None = None,
    max_pairs: int = MAX_PAIRS,
) -> HeadFit:
    """Train on ``frames`` of ``dataset`` (labelled with ``config``), fine-tuning ``start`` when given.

    With ``options.consistency_weight`` > 0 the pairs are found here unless given. Raises ValueError when
    no training frame has a known label.
    """
    if pairs is None:
        pairs = find_pairs(frames.stamps, frames.poses, frames.pieces, config, max_pairs=max_pairs,
                           seed=options.seed) if options.consistency_weight > 0 else ConsistencyPairs.empty()
    head, history = train_head(frames.embeddings, frames.labels, frames.mask, frames.stamps, options,
                               distances=config.distances, sensors=config.sensor_names,
                               embedding_sha256=embedding_sha256, start=start, pairs=pairs)
    side, validation = time_blocked_split(frames.stamps, options.validation_fraction, options.validation_blocks,
                                          options.guard)  # the split train_head made
    validation = validation[frames.mask[validation].any(axis=(1, 2))]
    data = {'dataset': str(dataset), 'last_id': int(frames.ids.max()), 'frames': int(frames.ids.size),
            'trained_id_ranges': id_ranges(frames.ids[side])}
    head = dataclasses.replace(head, training={**head.training, 'data': data, 'pairs_found': pairs.found})
    return HeadFit(head, history, pairs, np.sort(frames.ids[validation]))


def id_ranges(ids: np.ndarray) -> list[list[int]]:
    """Runs of consecutive ids as [first, last] (the replay memory's clips are such runs: a few hundred)."""
    ids = np.unique(ids)
    if not ids.size:
        return []
    breaks = np.flatnonzero(np.diff(ids) > 1)
    return [[int(a), int(b)] for a, b in zip(ids[np.r_[0, breaks + 1]], ids[np.r_[breaks, ids.size - 1]],
                                             strict=True)]


def trained_on(head: Head, dataset: str | Path, ids: np.ndarray) -> np.ndarray:
    """Which frames ``ids`` of ``dataset`` ``head`` may have trained on (bool): those in its recorded id ranges.

    A head trained on this dataset that records no ranges is taken to have seen every frame up to its last
    one (safe: such frames are never used to compare it); a head from another dataset saw none.
    """
    ids = np.asarray(ids, np.int64)
    data: Any = head.training.get('data', {})
    if not isinstance(data, dict) or data.get('dataset') != str(dataset):
        return np.zeros(ids.shape, bool)
    ranges = data.get('trained_id_ranges')
    if ranges is None:
        return ids <= int(data.get('last_id', np.iinfo(np.int64).max))
    bounds = np.asarray(ranges, np.int64).reshape(-1, 2)
    run = np.searchsorted(bounds[:, 0], ids, side='right') - 1
    inside: np.ndarray = (run >= 0) & (ids <= bounds[np.maximum(run, 0), 1])
    return inside


def dataset_frames(dataset: Dataset, embedder: Embedder, *, progress: bool = False) -> TrainingFrames:
    """Every frame of ``dataset`` with its embedding (computed and cached where missing), pose and piece."""
    data = load_frames(dataset, embedder, progress=progress)
    poses, segments, ids = [], [], []
    for batch in dataset.iter_batches(4096, images=False, extras=False):
        ids.append(batch.ids)
        poses.append(batch.poses)
        segments.append(batch.segments)
    n = data.ids.size
    if not n:
        raise ValueError(f'{dataset.path} has no frames')
    # Frames the labeler appended meanwhile come after: keep the ones the embeddings were read for.
    read = np.concatenate(ids)[:n]
    if not np.array_equal(read, data.ids):
        raise ValueError(f'{dataset.path}: frames changed while being read')
    config = labeling_from_stored(dataset.config)
    pose = np.concatenate(poses)[:n]
    pieces = odometry_pieces(data.stamps, pose, np.concatenate(segments)[:n], config.max_odom_jump)
    return TrainingFrames(data.ids, data.stamps, pose, pieces, data.labels, data.mask, data.embeddings)


def consistency_pairs(dataset: Dataset, frames: FrameData, options: HeadOptions) -> ConsistencyPairs:
    """The state-consistency pairs among ``frames`` of ``dataset`` (read with ``load_frames``), found with the
    tolerances the dataset was labelled with; none when ``options.consistency_weight`` is 0."""
    if options.consistency_weight <= 0 or not frames.ids.size:
        return ConsistencyPairs.empty()
    poses, segments, ids = [], [], []
    for batch in dataset.iter_batches(4096, images=False, extras=False):
        ids.append(batch.ids)
        poses.append(batch.poses)
        segments.append(batch.segments)
    index = np.searchsorted(np.concatenate(ids), frames.ids)
    pose, segment = np.concatenate(poses)[index], np.concatenate(segments)[index]
    config = labeling_from_stored(dataset.config)
    pieces = odometry_pieces(frames.stamps, pose, segment, config.max_odom_jump)
    return find_pairs(frames.stamps, pose, pieces, config, max_pairs=MAX_PAIRS, seed=options.seed)


def replay_memory(dataset: Dataset, embedding_size: int, options: ReplayOptions | None = None) -> ReplayMemory:
    """An empty replay memory for the frames of ``dataset`` (its distances, sensors and teleport threshold)."""
    config = labeling_from_stored(dataset.config)
    return ReplayMemory(embedding_size, config.distances, len(config.sensors), options, config.max_odom_jump)


def retrain(
    memory: ReplayMemory,
    source: FrameSource,
    config: LabelingConfig,
    options: HeadOptions,
    *,
    dataset: str | Path,
    embedding_sha256: str,
    start: Head | None = None,
) -> HeadFit:
    """Read the frames new since the last retraining into ``memory`` (their embeddings must be cached),
    then train on the frames it holds. Memory and time stay bounded by the memory's capacity."""
    ingest(memory, source, embedding_sha256)
    if not len(memory):
        raise ValueError(f'the replay memory holds no complete clip yet ({memory.last_id} frames read)')
    return fit_obstacle_head(memory.frames(), config, options, dataset=dataset, embedding_sha256=embedding_sha256,
                             start=start)
