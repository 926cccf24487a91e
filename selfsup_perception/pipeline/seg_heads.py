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


def labelled_ids(dataset: Dataset, after_id: int = 0) -> np.ndarray:
    """Ids of the frames that have at least one floor or obstacle pixel label."""
    ids = []
    for batch in dataset.iter_batches(256, after_id=after_id, images=False, extras=False):
        if batch.pixel_labels is not None:
            known = (batch.pixel_labels == FLOOR) | (batch.pixel_labels == OBSTACLE)
            ids.append(batch.ids[known.reshape(len(known), -1).any(axis=1)])
    return np.concatenate(ids) if ids else np.zeros(0, np.int64)


def self_labelled_features(dataset: Dataset, runner: SegmentationRunner, *, max_frames: int = MAX_FRAMES,
                           after_id: int = 0, progress: bool = False) -> SelfLabelledFeatures:
    """The backbone's uint8 features and the pixel self-labels (at its input size) of at most ``max_frames``
    self-labelled frames with id > ``after_id``, evenly spaced."""
    if runner.head is None:
        raise ValueError('the runner is not a split model (backbone + head)')
    ids = labelled_ids(dataset, after_id)
    if len(ids) > max_frames:
        ids = ids[np.linspace(0, len(ids) - 1, max_frames).round().astype(int)]
    wanted = set(ids.tolist())
    height, width = runner.grid
    features, labels, stamps = [], [], []
    with tqdm(total=len(ids), desc='backbone features', unit='frame', disable=not progress) as bar:
        for batch in dataset.iter_batches(64, after_id=after_id, extras=False):
            keep = np.array([i in wanted for i in batch.ids.tolist()], bool)
            if not keep.any() or batch.images is None or batch.pixel_labels is None:
                continue
            flat = runner.features(batch.images[keep])
            features.append(np.clip(np.round(flat / FEATURE_SCALE), 0, 255).astype(np.uint8))
            labels.append(np.stack([cv2.resize(m, (width, height), interpolation=cv2.INTER_NEAREST)
                                    for m in batch.pixel_labels[keep]]))
            stamps.append(batch.stamps[keep])
            bar.update(int(keep.sum()))
    if not features:
        return SelfLabelledFeatures(np.zeros((0, 0), np.uint8), np.full((0, height, width), UNKNOWN, np.uint8),
                                    np.zeros(0), runner.shapes, FEATURE_SCALE)
    return SelfLabelledFeatures(np.concatenate(features), np.concatenate(labels), np.concatenate(stamps),
                                runner.shapes, FEATURE_SCALE)


def fit_seg_head(dataset: Path, runner: SegmentationRunner, options: SegHeadOptions | None = None, *,
                 max_frames: int = MAX_FRAMES, progress: bool = False) -> SegHeadFit:
    """Fine-tune the runner's head on the dataset's pixel self-labels (``ValueError`` if it has too few)."""
    if runner.head is None or runner.backend.card is None:
        raise ValueError('the runner is not a split model (backbone + head)')
    traversable = tuple(bool(t) for t in runner.backend.card.extra.get('traversable', ()))
    with Dataset(dataset) as data:
        if data.schema_version < 2:
            raise ValueError(f'{dataset}: has no pixel self-labels (dataset schema 1: relabel it with bag2dataset)')
        features = self_labelled_features(data, runner, max_frames=max_frames, progress=progress)
    start = runner.head
    head, history = train_seg_head(features, start, traversable, options)
    head.backbone_sha256 = start.backbone_sha256
    return SegHeadFit(head, history, head is not start, len(features.features))


def save_fit(fit: SegHeadFit, out: Path, dataset: Path) -> None:
    """Write the fitted head (atomically, card beside it) with where it came from."""
    fit.head.save(out, made_by={'trainer': 'selfsup train-seg-head (pixel self-labels)', 'dataset': dataset.name,
                                'date': time.strftime('%Y-%m-%dT%H:%M:%S%z')},
                  metrics=fit.history.summary())
