"""Obstacle-head training, offline and on the robot: labels plus state-consistency pairs (Nava et al. 2021).

``fit_obstacle_head`` takes frames (ids, stamps, poses, odometry pieces, labels, embeddings), finds their
consistency pairs with the tolerances the dataset was labelled with, and trains. ``train_on_dataset``
trains on a whole dataset (``selfsup train``, the demo, the benchmark); ``retrain`` feeds a replay memory
the frames new since the last retraining, trains on what it holds and compares the new head with the head
in use on validation frames neither trained on (the trainer node: bounded memory and time). Every head
records the id ranges of the frames it trained on, so heads are later compared on frames neither has seen.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from selfsup_perception.core.config import LabelingConfig, labeling_from_stored
from selfsup_perception.core.consistency import ConsistencyPairs, find_pairs, odometry_pieces
from selfsup_perception.core.dataset import Dataset
from selfsup_perception.core.head import Head, HeadOptions, TrainingHistory, time_blocked_split, train_head
from selfsup_perception.core.replay import FrameSource, ReplayMemory, ReplayOptions, TrainingFrames, ingest
from selfsup_perception.inference.embedder import Embedder
from selfsup_perception.pipeline.frames import FrameData, load_frames
from selfsup_perception.pipeline.heads import cells_mean_auc, head_fits, id_ranges, trained_on

MAX_PAIRS = 500_000  # consistency pairs kept per training (a uniform sample): 6 MB, ~1.5x what 30 epochs draw


@dataclass(frozen=True)
class HeadFit:
    """A trained head, its history, the consistency pairs found (before the split) and the labelled validation
    frames it held out (rows of the frames trained on, and their ids), on which to compare it with another head."""

    head: Head
    history: TrainingHistory
    pairs: ConsistencyPairs
    validation_rows: np.ndarray
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
    order = np.argsort(frames.ids[validation], kind='stable')
    return HeadFit(head, history, pairs, validation[order], frames.ids[validation][order])


def validation_auc(head: Head, frames: TrainingFrames, rows: np.ndarray, config: LabelingConfig) -> float | None:
    """Mean ROC AUC over the (distance, sensor) cells of ``head`` on frames ``rows``; None where undefined."""
    return cells_mean_auc(head, frames.embeddings, frames.labels, frames.mask, rows, config.distances,
                          config.sensor_names)


def _dataset_frames(dataset: Dataset, embedder: Embedder, progress: bool) -> tuple[FrameData, TrainingFrames]:
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
    return data, TrainingFrames(data.ids, data.stamps, pose, pieces, data.labels, data.mask, data.embeddings)


def dataset_frames(dataset: Dataset, embedder: Embedder, *, progress: bool = False) -> TrainingFrames:
    """Every frame of ``dataset`` with its embedding (computed and cached where missing), pose and piece."""
    return _dataset_frames(dataset, embedder, progress)[1]


@dataclass(frozen=True)
class TrainedHead:
    """A head trained on a dataset's frames, its fit, the frames, and its score on the validation frames."""

    fit: HeadFit
    frames: FrameData
    validation_auc: float | None

    @property
    def head(self) -> Head:
        return self.fit.head

    @property
    def history(self) -> TrainingHistory:
        return self.fit.history

    @property
    def validation_frames(self) -> int:
        return int(self.fit.validation_rows.size)


def train_on_dataset(dataset_path: Path, embedder: Embedder, options: HeadOptions, *,
                     start: Head | None = None, progress: bool = False) -> TrainedHead:
    """Embed (cache) every frame of the dataset and fit a head on it (with the consistency pairs the options
    ask for, found with the dataset's labeling tolerances), fine-tuning ``start`` when given.

    What ``selfsup train``, the demo and the benchmark run. Raises ValueError when no frame has a known label.
    """
    with Dataset(dataset_path) as dataset:
        data, frames = _dataset_frames(dataset, embedder, progress)
        config = labeling_from_stored(dataset.config)
    if not data.labelled:
        raise ValueError(f'no training frame has a known label ({data.ids.size} frames in {data.dataset})')
    fit = fit_obstacle_head(frames, config, options, dataset=data.dataset, embedding_sha256=embedder.sha256,
                            start=start)
    return TrainedHead(fit, data, validation_auc(fit.head, frames, fit.validation_rows, config))


def replay_memory(dataset: Dataset, embedding_size: int, options: ReplayOptions | None = None) -> ReplayMemory:
    """An empty replay memory for the frames of ``dataset`` (its distances, sensors and teleport threshold)."""
    config = labeling_from_stored(dataset.config)
    return ReplayMemory(embedding_size, config.distances, len(config.sensors), options, config.max_odom_jump)


@dataclass(frozen=True)
class Retraining:
    """A new head's fit, its and the old head's validation AUC (None: undefined), and whether it is better."""

    fit: HeadFit
    frames: int
    labelled: int
    new_auc: float | None
    old_auc: float | None
    validation_frames: int
    better: bool

    @property
    def head(self) -> Head:
        return self.fit.head

    def summary(self) -> str:
        return (f'{self.labelled} labelled of {self.frames} frames held, {self.fit.pairs.found} consistency pairs, '
                f'{len(self.fit.history.train_loss)} epochs, validation AUC {auc_text(self.new_auc)} vs head in '
                f'use {auc_text(self.old_auc)} on {self.validation_frames} frames neither trained on')

    def metrics(self) -> dict[str, float | int | None]:
        """What the new head's card records about the comparison."""
        return {'validation_mean_auc': self.new_auc, 'validation_frames': self.validation_frames,
                'replaced_head_auc': self.old_auc}


def retrain(
    memory: ReplayMemory,
    source: FrameSource,
    config: LabelingConfig,
    options: HeadOptions,
    in_use: Head | None,
    *,
    dataset: str | Path,
    embedding_sha256: str,
    until: int | None = None,
    fine_tune: bool = True,
    min_auc_gain: float = 0.0,
) -> Retraining:
    """Read the frames new since the last retraining (up to id ``until``; their embeddings must be cached) into
    ``memory``, train on every frame it holds (from ``in_use`` when ``fine_tune`` and it has the same layout)
    and compare. Memory and time stay bounded by the memory's capacity.

    The new head is better when no head is in use (or it outputs other cells), or when its validation AUC
    beats the one of ``in_use`` by more than ``min_auc_gain``, both scored on the new head's validation frames
    that ``in_use`` did not train on. Raises ValueError with nothing to learn.
    """
    ingest(memory, source, embedding_sha256, until=until)
    frames = memory.frames(waiting=True)
    if not frames.ids.size:
        raise ValueError(f'the replay memory holds no frames yet ({memory.last_id} frames read)')
    fits = in_use is not None and head_fits(in_use, config.distances, config.sensor_names) and \
        in_use.embedding_size == frames.embeddings.shape[1]
    old = in_use if fits else None
    start = old if fine_tune and old is not None and old.hidden == options.hidden else None
    fit = fit_obstacle_head(frames, config, options, dataset=dataset, embedding_sha256=embedding_sha256,
                            start=start)
    rows = fit.validation_rows
    if old is not None:
        rows = rows[~trained_on(old, dataset, fit.validation_ids)]
    new_auc = validation_auc(fit.head, frames, rows, config)
    old_auc = None if old is None else validation_auc(old, frames, rows, config)
    better = old is None or (new_auc is not None and (old_auc is None or new_auc > old_auc + min_auc_gain))
    return Retraining(fit, int(frames.ids.size), int(frames.mask.any(axis=(1, 2)).sum()), new_auc, old_auc,
                      int(rows.size), better)


def trained_through(head: Head | None, dataset: str | Path) -> int:
    """The last frame of ``dataset`` that ``head`` trained on (0: none, or a head from elsewhere)."""
    data = head.training.get('data') if head is not None else None
    if not isinstance(data, dict) or data.get('dataset') != str(dataset):
        return 0
    last = data.get('last_id')
    return last if isinstance(last, int) and not isinstance(last, bool) else 0


def auc_text(value: float | None) -> str:
    return 'undefined' if value is None else f'{value:.3f}'
