"""Obstacle heads on dataset frames: which frames a head trained on, fair comparison, scoring, loading.

A head records which dataset frames it was trained on (``pipeline.robot_training`` trains them), so a later
comparison scores heads only on validation frames none of them has seen.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from selfsup_perception.core.dataset import Dataset
from selfsup_perception.core.head import Head, HeadLoadError, HeadOptions, time_blocked_split
from selfsup_perception.core.metrics import evaluate
from selfsup_perception.inference.embedder import Embedder
from selfsup_perception.pipeline.frames import FrameData, load_frames


def trained_ids(head: Head, frames: FrameData) -> np.ndarray:
    """Ids of the frames of ``frames`` that ``head`` trained on (none when it learnt from another dataset).

    Its recorded id ranges when it has them (``trained_on``); else, the dataset being append-only, replaying
    the head's own split over the frames it had gives them.
    """
    data = head.training.get('data', {})
    if isinstance(data, dict) and 'trained_id_ranges' in data:
        seen: np.ndarray = frames.ids[trained_on(head, frames.dataset, frames.ids)]
        return seen
    try:
        if data.get('dataset') != str(frames.dataset):
            return np.zeros(0, np.int64)
        options = HeadOptions(**head.training['options'])
        last_id = int(data['last_id'])
    except (AttributeError, KeyError, TypeError, ValueError):  # a head from elsewhere: nothing known
        return np.zeros(0, np.int64)
    had = frames.ids <= last_id
    train, _ = time_blocked_split(frames.stamps[had], options.validation_fraction, options.validation_blocks,
                                  options.guard)
    ids: np.ndarray = frames.ids[had][train]
    return ids


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

    A head trained on this dataset that records no ranges, or ranges that cannot be read, is taken to have
    seen every frame up to its last one (safe: such frames are never used to compare it); a head from another
    dataset saw none.
    """
    ids = np.asarray(ids, np.int64)
    data: Any = head.training.get('data', {})
    if not isinstance(data, dict) or data.get('dataset') != str(dataset):
        return np.zeros(ids.shape, bool)
    last = data.get('last_id')
    everything_to_last = ids <= (last if isinstance(last, int) else np.iinfo(np.int64).max)
    try:
        bounds = np.asarray(data['trained_id_ranges'], np.int64).reshape(-1, 2)
    except (KeyError, TypeError, ValueError, OverflowError):
        return everything_to_last
    run = np.searchsorted(bounds[:, 0], ids, side='right') - 1
    inside: np.ndarray = (run >= 0) & (ids <= bounds[np.maximum(run, 0), 1])
    return inside


def validation_index(frames: FrameData, options: HeadOptions, heads: Sequence[Head] = ()) -> np.ndarray:
    """Indices of the time-blocked validation frames (as ``train_head`` splits with ``options``) that none
    of ``heads`` trained on: the frames on which those heads can be compared fairly.
    """
    _, val = time_blocked_split(frames.stamps, options.validation_fraction, options.validation_blocks,
                                options.guard)
    for head in heads:
        val = val[~np.isin(frames.ids[val], trained_ids(head, frames))]
    return val


def mean_auc(head: Head, frames: FrameData, index: np.ndarray) -> float | None:
    """Mean ROC AUC over the (distance, sensor) cells of ``head`` on frames ``index``; None if undefined."""
    return cells_mean_auc(head, frames.embeddings, frames.labels, frames.mask, index, frames.distances,
                          frames.sensors)


def cells_mean_auc(head: Head, embeddings: np.ndarray, labels: np.ndarray, mask: np.ndarray, index: np.ndarray,
                   distances: Sequence[float], sensors: Sequence[str]) -> float | None:
    """Mean ROC AUC over the (distance, sensor) cells of ``head`` on rows ``index`` of the arrays; None if undefined."""
    if not index.size:
        return None
    auc: float | None = evaluate(head.predict(embeddings[index]), labels[index], mask[index], distances=distances,
                                 sensors=sensors, n_bootstrap=0)['mean_auc']
    return auc


def load_head(path: str | os.PathLike[str], embedder: Embedder, distances: Sequence[float] | np.ndarray,
              sensors: Sequence[str]) -> Head:
    """``Head.load`` checked against ``embedder`` and the (distances, sensors) it must output.

    Raises ``HeadLoadError`` naming the file for a missing, corrupt or mismatched head.
    """
    head = Head.load(path, embedder=embedder.card)
    if not head_fits(head, distances, sensors):
        raise HeadLoadError(f'{path}: head outputs distances {list(head.distances)} x sensors '
                            f'{list(head.sensors)}, expected {list(distances)} x {list(sensors)}')
    return head


def head_fits(head: Head, distances: Sequence[float] | np.ndarray, sensors: Sequence[str]) -> bool:
    """Whether ``head`` outputs exactly these distances x sensors."""
    return head.sensors == tuple(sensors) and len(head.distances) == len(distances) and \
        bool(np.allclose(head.distances, distances, atol=1e-6))


@dataclass(frozen=True)
class HeadScores:
    """Heads scored on the same frames: metrics per head against the labels and, with simulator data, the
    ground truth (``core.metrics.evaluate`` documents); how many frames were scored and which."""

    labels: dict[str, Any]
    ground_truth: dict[str, Any]
    frames_scored: int
    frames: FrameData


def score_heads(dataset_path: Path, embedder: Embedder, head_paths: Sequence[Path], *,
                validation_only: bool = False, n_bootstrap: int = 1000, block: int = 10, seed: int = 0,
                progress: bool = False) -> HeadScores:
    """ROC AUC per (distance, sensor) with bootstrap intervals of each head on the dataset's frames.

    ``validation_only``: only the time-blocked validation frames (with the first head's split) that none
    of the heads trained on, to score on the dataset the heads were trained on. Heads are named by file
    stem (by path where stems clash).
    """
    with Dataset(dataset_path) as dataset:
        frames = load_frames(dataset, embedder, ground_truth=True, progress=progress)
    names = [p.stem for p in head_paths]
    if len(set(names)) < len(names):
        names = [str(p) for p in head_paths]
    heads = {name: load_head(p, embedder, frames.distances, frames.sensors)
             for name, p in zip(names, head_paths, strict=True)}
    index = np.arange(frames.ids.size)
    if validation_only:
        index = validation_index(frames, _training_options(head_paths[0], heads[names[0]].training),
                                 list(heads.values()))
    if not index.size:
        raise ValueError(f'no frames to score ({"validation" if validation_only else "all"} frames of '
                         f'{frames.ids.size})')
    scoring: dict[str, Any] = {'distances': frames.distances, 'sensors': frames.sensors,
                               'n_bootstrap': n_bootstrap, 'block': block, 'seed': seed}
    probs = {name: head.predict(frames.embeddings[index]) for name, head in heads.items()}
    runs = {name: evaluate(p, frames.labels[index], frames.mask[index], **scoring) for name, p in probs.items()}
    truth = {}
    if frames.ground_truth is not None:
        known = np.ones(frames.ground_truth[index].shape, bool)
        truth = {name: evaluate(p, frames.ground_truth[index], known, **scoring) for name, p in probs.items()}
    return HeadScores(runs, truth, int(index.size), frames)


def _training_options(path: Path, training: dict[str, Any]) -> HeadOptions:
    """The options a head was trained with (its card's ``training.options``), for replaying its split."""
    try:
        return HeadOptions(**training['options'])
    except (KeyError, TypeError) as exc:
        raise ValueError(f'{path}: its card does not say how it was trained ({exc}); score all frames') from exc
