"""The segmentation head trained on a dataset's pixel self-labels (``selfsup train-seg-head``, the trainer node,
the benchmark): the backbone's features of the self-labelled frames, then ``core.seghead_training``.

Features are kept as uint8 (the backbone's outputs are ReLU6 maps in [0, 6]: 256 levels are what its int8
export gives anyway), at most ``max_frames`` frames spread evenly over the dataset, so memory stays bounded
(about 70 KB a frame at 160x120) however long the robot drove.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from selfsup_perception.core.dataset import Dataset
from selfsup_perception.core.pixel_labels import FLOOR, OBSTACLE, UNKNOWN
from selfsup_perception.core.seghead import SegHead
from selfsup_perception.core.seghead_training import (
    SegHeadOptions,
    SegTrainingHistory,
    SelfLabelledFeatures,
    train_seg_head,
)
from selfsup_perception.inference import create_backend
from selfsup_perception.inference.segmentation import SegmentationRunner

FEATURE_SCALE = 6.0 / 255.0  # ReLU6 features in 256 levels
MAX_FRAMES = 1500


@dataclass(frozen=True)
class SegHeadFit:
    """A trained head (the start head when no epoch beat it: ``improved`` False), its history and the frames."""

    head: SegHead
    history: SegTrainingHistory
    improved: bool
    frames: int


def open_split_model(backbone: Path, head: Path, backend: str = 'auto', threads: int = 1,
                     device: str | None = None) -> SegmentationRunner:
    """A runner of ``backbone`` with ``head`` (checked against the backbone's card)."""
    model = create_backend(backend, backbone, threads=threads, device=device)
    return SegmentationRunner(model, head=SegHead.load(head, backbone=model.card))


def labelled_ids(dataset: Dataset, after_id: int = 0) -> tuple[np.ndarray, int]:
    """Ids (> ``after_id``) of the frames that have at least one floor or obstacle pixel label, and the last id
    read (frames a writer adds meanwhile are read by the next call)."""
    ids, last = [], after_id
    for batch in dataset.iter_batches(256, after_id=after_id, images=False, extras=False):
        last = int(batch.ids[-1])
        if batch.pixel_labels is not None:
            known = (batch.pixel_labels == FLOOR) | (batch.pixel_labels == OBSTACLE)
            ids.append(batch.ids[known.reshape(len(known), -1).any(axis=1)])
    return (np.concatenate(ids) if ids else np.zeros(0, np.int64)), last


class SelfLabelMemory:
    """The backbone features and pixel self-labels of at most ``max_frames`` self-labelled frames of a growing
    dataset, read incrementally: every ``stride``-th labelled frame is kept, and the stride doubles whenever
    more than ``max_frames`` would be, so a kept frame stays kept (its features are computed once) and the
    kept frames stay spread over the whole drive. Memory ~70 KB a frame at 160x120."""

    def __init__(self, runner: SegmentationRunner, max_frames: int = MAX_FRAMES) -> None:
        if runner.head is None:
            raise ValueError('the runner is not a split model (backbone + head)')
        if max_frames < 2:
            raise ValueError(f'max_frames must be >= 2, got {max_frames}')
        self.runner, self.max_frames = runner, max_frames
        self.labelled = np.zeros(0, np.int64)  # ids of every self-labelled frame seen, in order
        self.last_id, self.stride = 0, 1
        self._kept: dict[int, tuple[np.ndarray, np.ndarray, float]] = {}  # id -> (features, labels, stamp)

    def update(self, dataset: Dataset, progress: bool = False) -> int:
        """Read the frames new since the last update; returns how many kept frames had to be computed."""
        new, self.last_id = labelled_ids(dataset, self.last_id)
        self.labelled = np.concatenate([self.labelled, new])
        while len(self.labelled) > self.max_frames * self.stride:
            self.stride *= 2
        chosen = self.labelled[:: self.stride]
        keep = set(chosen.tolist())
        self._kept = {i: v for i, v in self._kept.items() if i in keep}
        missing = np.array(sorted(keep - set(self._kept)), np.int64)
        if not len(missing):
            return 0
        wanted = set(missing.tolist())
        height, width = self.runner.grid
        with tqdm(total=len(missing), desc='backbone features', unit='frame', disable=not progress) as bar:
            for batch in dataset.iter_batches(64, after_id=int(missing[0]) - 1, extras=False):
                rows = np.array([i in wanted for i in batch.ids.tolist()], bool)
                if batch.ids[0] > missing[-1]:
                    break
                if not rows.any() or batch.images is None or batch.pixel_labels is None:
                    continue
                flat = self.runner.features(batch.images[rows])
                codes = np.clip(np.round(flat / FEATURE_SCALE), 0, 255).astype(np.uint8)
                for j, (frame, stamp, labels) in enumerate(zip(batch.ids[rows], batch.stamps[rows],
                                                               batch.pixel_labels[rows], strict=True)):
                    resized = cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)
                    self._kept[int(frame)] = (codes[j], resized, float(stamp))
                bar.update(int(rows.sum()))
        return len(missing)

    def data(self) -> SelfLabelledFeatures:
        """The kept frames as training data, in id order."""
        height, width = self.runner.grid
        ids = sorted(self._kept)
        if not ids:
            return SelfLabelledFeatures(np.zeros((0, 0), np.uint8), np.full((0, height, width), UNKNOWN, np.uint8),
                                        np.zeros(0), self.runner.shapes, FEATURE_SCALE)
        features, labels, stamps = zip(*(self._kept[i] for i in ids), strict=True)
        return SelfLabelledFeatures(np.stack(features), np.stack(labels), np.array(stamps), self.runner.shapes,
                                    FEATURE_SCALE)


def fit_seg_head(memory: SelfLabelMemory, start: SegHead, options: SegHeadOptions | None = None) -> SegHeadFit:
    """Fine-tune ``start`` on the memory's frames (``ValueError`` if they are too few)."""
    card = memory.runner.backend.card
    traversable = tuple(bool(t) for t in (card.extra.get('traversable', ()) if card is not None else ()))
    data = memory.data()
    head, history = train_seg_head(data, start, traversable, options)
    head.backbone_sha256 = start.backbone_sha256
    return SegHeadFit(head, history, head is not start, len(data.features))


def fit_on_dataset(dataset: Path, runner: SegmentationRunner, options: SegHeadOptions | None = None, *,
                   max_frames: int = MAX_FRAMES, progress: bool = False) -> SegHeadFit:
    """Fine-tune the runner's head on a whole dataset's pixel self-labels (``selfsup train-seg-head``)."""
    assert runner.head is not None  # SelfLabelMemory refuses a runner without a head
    memory = SelfLabelMemory(runner, max_frames)
    with Dataset(dataset) as data:
        if data.schema_version < 2:
            raise ValueError(f'{dataset}: has no pixel self-labels (dataset schema 1: relabel it with bag2dataset)')
        memory.update(data, progress)
    return fit_seg_head(memory, runner.head, options)


def save_fit(fit: SegHeadFit, out: Path, dataset: Path) -> None:
    """Write the fitted head (atomically, card beside it) with where it came from."""
    fit.head.save(out, made_by={'trainer': 'selfsup train-seg-head (pixel self-labels)', 'dataset': dataset.name,
                                'date': time.strftime('%Y-%m-%dT%H:%M:%S%z')},
                  metrics=fit.history.summary())


class SegHeadRetrainer:
    """The trainer node's segmentation half: keeps the memory up to date and, once ``retrain_after`` new
    self-labelled frames have come (or when forced), fine-tunes the head in use; a head that beats it on the
    validation blocks is written to ``out`` (atomically, card beside it) and becomes the head in use."""

    def __init__(self, runner: SegmentationRunner, out: Path, options: SegHeadOptions | None = None, *,
                 retrain_after: int = 300, max_frames: int = MAX_FRAMES) -> None:
        if runner.head is None:
            raise ValueError('the runner is not a split model (backbone + head)')
        if out.suffix != '.npz' or retrain_after < 0:
            raise ValueError(f'the segmentation head is written as .npz (got {out}), retrain_after >= 0')
        self.memory = SelfLabelMemory(runner, max_frames)
        self.in_use: SegHead = runner.head
        self.out, self.options, self.retrain_after = out, options, retrain_after
        self._labelled_then = 0

    def step(self, dataset: Dataset, force: bool = False) -> SegHeadFit | None:
        """Read new frames; train when due. The fit (``improved``: it was written), or None when not due.
        Raises ``ValueError`` when there are too few self-labelled frames to train on."""
        self.memory.update(dataset)
        new = len(self.memory.labelled) - self._labelled_then
        if not force and (not self.retrain_after or new < self.retrain_after):
            return None
        self._labelled_then = len(self.memory.labelled)
        fit = fit_seg_head(self.memory, self.in_use, self.options)
        if fit.improved:
            save_fit(fit, self.out, dataset.path)
            self.in_use = fit.head
        return fit
