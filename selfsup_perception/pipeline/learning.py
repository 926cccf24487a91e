"""Embeddings of dataset frames, computed once per frame and model and cached in the dataset; head training.

Shared by ``selfsup train``, ``selfsup evaluate`` and the trainer node (no rclpy here). The cache key
is the sha256 of the model file the backend runs, so the head is trained, compared and scored on
exactly the embeddings its embedder gives. A head records which dataset frames it was trained on, so
a later comparison scores heads only on validation frames none of them has seen.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from selfsup_perception.core.dataset import Dataset
from selfsup_perception.core.head import (
    Head,
    HeadLoadError,
    HeadOptions,
    TrainingHistory,
    time_blocked_split,
    train_head,
)
from selfsup_perception.core.metrics import evaluate
from selfsup_perception.core.modelcard import (
    ModelCard,
    ModelLoadError,
    card_path,
    file_sha256,
    read_card,
    with_sha256,
)
from selfsup_perception.inference import BACKEND_NAMES, Backend, create_backend, model_file, resize_to_input

EMBED_BATCH = 32  # frames decoded and embedded at a time


class Embedder:
    """An embedding model loaded on a backend: uint8 RGB images of any size -> float32 (N, E) embeddings."""

    def __init__(self, backend: Backend, model_path: str | os.PathLike[str]) -> None:
        """``model_path`` is the file ``backend`` runs; its sha256 keys the embedding cache."""
        self.backend = backend
        self.path = Path(model_path)
        self.sha256 = file_sha256(self.path)
        self.embedding_size = int(self.run(np.zeros((1, *backend.input_shape), np.uint8)).shape[1])
        card = read_card(self.path) if card_path(self.path).exists() else \
            ModelCard(kind='embedding', architecture='unknown (no model card)')
        if card.kind != 'embedding':
            raise ModelLoadError(f'{self.path} is a {card.kind} model, not an embedding model')
        if card.embedding_size not in (None, self.embedding_size):
            raise ModelLoadError(f'{self.path} gives embeddings of size {self.embedding_size}, its card says '
                                 f'{card.embedding_size}')
        # The card heads are checked against (Head.load): this file's digest and the real size.
        self.card = with_sha256(dataclasses.replace(card, embedding_size=self.embedding_size), self.path)

    @classmethod
    def open(cls, model_path: str | os.PathLike[str], backend: str = 'auto', *, threads: int = 1,
             device: str | None = None, logger: Any = None) -> Embedder:
        """Load ``model_path`` (any of its formats) on ``backend`` (one of ``BACKEND_NAMES``)."""
        loaded = create_backend(backend, model_path, threads=threads, device=device, logger=logger)
        return cls(loaded, model_file(loaded.name, model_path))

    @property
    def description(self) -> str:
        return f'{self.path.name} on {self.backend.name} (sha256 {self.sha256[:12]}...)'

    def prepare(self, images: Iterable[np.ndarray]) -> np.ndarray:
        """Resize RGB uint8 images (H, W, 3) to the model's input: (N, h, w, 3)."""
        return np.stack([resize_to_input(image, self.backend.input_shape) for image in images])

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Embeddings (N, E) float32 of images already at the model's input size."""
        out = self.backend.run(batch)
        return out.reshape(len(out), -1)

    def embed(self, images: Iterable[np.ndarray]) -> np.ndarray:
        return self.run(self.prepare(images))


def add_embedder_arguments(parser: argparse.ArgumentParser) -> None:
    """``--embedding``, ``--backend``, ``--threads``, ``--device``: the options of ``open_embedder``."""
    parser.add_argument('--embedding', type=Path, required=True,
                        help='embedding model (.tflite, .onnx or _edgetpu.tflite; its other formats beside it '
                             'are used by the backends that need them)')
    parser.add_argument('--backend', choices=BACKEND_NAMES, default='auto', help='inference backend')
    parser.add_argument('--threads', type=int, default=1, help='CPU threads for inference')
    parser.add_argument('--device', default=None, help='Edge TPU device (usb, usb:N, pci:N)')


def open_embedder(args: argparse.Namespace) -> Embedder:
    return Embedder.open(args.embedding, args.backend, threads=args.threads, device=args.device)


@dataclass(frozen=True)
class EmbeddingUpdate:
    """Frames seen by ``update_embeddings``: their ids, which have a known label, how many were computed."""

    ids: np.ndarray
    labelled: np.ndarray
    computed: int

    @property
    def last_id(self) -> int | None:
        return int(self.ids[-1]) if self.ids.size else None


def update_embeddings(dataset: Dataset, embedder: Embedder, *, after_id: int = 0,
                      progress: bool = False) -> EmbeddingUpdate:
    """Compute and store the embeddings of the frames after ``after_id`` that the cache lacks."""
    ids, labelled = [], []
    for batch in dataset.iter_batches(4096, after_id, images=False, extras=False):
        ids.append(batch.ids)
        labelled.append(batch.mask.any(axis=(1, 2)))
    if not ids:
        return EmbeddingUpdate(np.zeros(0, np.int64), np.zeros(0, bool), 0)
    all_ids = np.concatenate(ids)
    cached = dataset.cached_embeddings(embedder.sha256, all_ids)
    missing = all_ids[~np.isin(all_ids, np.fromiter(cached, np.int64, len(cached)))]
    _compute(dataset, embedder, missing, progress)
    return EmbeddingUpdate(all_ids, np.concatenate(labelled), int(missing.size))


def _compute(dataset: Dataset, embedder: Embedder, missing: np.ndarray, progress: bool) -> dict[int, np.ndarray]:
    """Embed and store frames ``missing`` (sorted ids); returns their vectors by id.

    Reads images from the first missing frame on: the frames lacking embeddings are nearly always
    the newest ones, so this decodes little else.
    """
    vectors: dict[int, np.ndarray] = {}
    if not missing.size:
        return vectors
    with tqdm(total=missing.size, desc='embeddings', unit='frame', disable=not progress) as bar:
        for batch in dataset.iter_batches(EMBED_BATCH, int(missing[0]) - 1, extras=False):
            wanted = np.isin(batch.ids, missing)
            if wanted.any():
                assert batch.images is not None
                embeddings = embedder.embed(batch.images[wanted])
                dataset.store_embeddings(embedder.sha256, batch.ids[wanted], embeddings)
                vectors.update(zip(batch.ids[wanted].tolist(), embeddings, strict=True))
                bar.update(int(wanted.sum()))
            if batch.ids[-1] >= missing[-1]:
                break
    return vectors


@dataclass(frozen=True)
class FrameData:
    """Every frame of a dataset in id (arrival) order with its embedding: what heads train and are scored on.

    ``labels``/``mask`` (N, K, S); ``ground_truth`` (N, K, S) when every frame has it (simulator data).
    """

    dataset: Path
    embedding_sha256: str
    distances: tuple[float, ...]
    sensors: tuple[str, ...]
    ids: np.ndarray
    stamps: np.ndarray
    labels: np.ndarray
    mask: np.ndarray
    embeddings: np.ndarray
    ground_truth: np.ndarray | None
    computed: int

    @property
    def labelled(self) -> int:
        """Frames with at least one known label."""
        return int(self.mask.any(axis=(1, 2)).sum())


def load_frames(dataset: Dataset, embedder: Embedder, *, ground_truth: bool = False,
                progress: bool = False) -> FrameData:
    """Every frame now in ``dataset`` with its embedding (computed and cached where the cache lacks it)."""
    batches = list(dataset.iter_batches(4096, images=False, extras=ground_truth))
    k, s = dataset.distances.size, len(dataset.sensors)

    def cat(name: str, empty: np.ndarray) -> np.ndarray:
        return np.concatenate([getattr(b, name) for b in batches]) if batches else empty

    ids = cat('ids', np.zeros(0, np.int64))
    vectors = dataset.cached_embeddings(embedder.sha256, ids)
    missing = ids[~np.isin(ids, np.fromiter(vectors, np.int64, len(vectors)))]
    vectors.update(_compute(dataset, embedder, missing, progress))
    truth = None
    if ground_truth and batches and all(b.ground_truth is not None for b in batches):
        truth = cat('ground_truth', np.zeros((0, k, s), np.uint8))
    embeddings = np.stack([vectors[i] for i in ids.tolist()]) if ids.size else \
        np.zeros((0, embedder.embedding_size), np.float32)
    if embeddings.shape[1] != embedder.embedding_size:
        raise ModelLoadError(f'{dataset.path}: cached embeddings have size {embeddings.shape[1]}, '
                             f'{embedder.description} gives {embedder.embedding_size}')
    return FrameData(
        dataset=dataset.path.resolve(),
        embedding_sha256=embedder.sha256,
        distances=tuple(float(d) for d in dataset.distances),
        sensors=tuple(dataset.sensors),
        ids=ids,
        stamps=cat('stamps', np.zeros(0)),
        labels=cat('labels', np.zeros((0, k, s), np.uint8)),
        mask=cat('mask', np.zeros((0, k, s), bool)),
        embeddings=embeddings,
        ground_truth=truth,
        computed=int(missing.size),
    )


def fit_head(frames: FrameData, options: HeadOptions, start: Head | None = None) -> tuple[Head, TrainingHistory]:
    """Train a head on ``frames`` (``train_head`` holds out time-blocked validation frames itself),
    fine-tuning ``start`` when given.

    The head's ``training['data']`` records the dataset and its last frame, so ``trained_ids`` can
    tell later which frames it saw. Raises ValueError when no frame has a known label.
    """
    if not frames.labelled:
        raise ValueError(f'no training frame has a known label ({frames.ids.size} frames in {frames.dataset})')
    head, history = train_head(frames.embeddings, frames.labels, frames.mask, frames.stamps, options,
                               distances=frames.distances, sensors=frames.sensors,
                               embedding_sha256=frames.embedding_sha256, start=start)
    data = {'dataset': str(frames.dataset), 'last_id': int(frames.ids[-1]), 'frames': int(frames.ids.size)}
    return dataclasses.replace(head, training={**head.training, 'data': data}), history


def trained_ids(head: Head, frames: FrameData) -> np.ndarray:
    """Ids of the frames of ``frames`` that ``head`` trained on (none when it learnt from another dataset).

    The dataset is append-only, so replaying the head's own split over the frames it had gives them.
    """
    data = head.training.get('data', {})
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
    return frames.ids[had][train]


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
    if not index.size:
        return None
    probs = head.predict(frames.embeddings[index])
    return evaluate(probs, frames.labels[index], frames.mask[index], distances=frames.distances,
                    sensors=frames.sensors, n_bootstrap=0)['mean_auc']


def load_head(path: str | os.PathLike[str], embedder: Embedder, distances: Sequence[float],
              sensors: Sequence[str]) -> Head:
    """``Head.load`` checked against ``embedder`` and the (distances, sensors) it must output.

    Raises ``HeadLoadError`` naming the file for a missing, corrupt or mismatched head.
    """
    head = Head.load(path, embedder=embedder.card)
    if not head_fits(head, distances, sensors):
        raise HeadLoadError(f'{path}: head outputs distances {list(head.distances)} x sensors '
                            f'{list(head.sensors)}, expected {list(distances)} x {list(sensors)}')
    return head


def head_fits(head: Head, distances: Sequence[float], sensors: Sequence[str]) -> bool:
    """Whether ``head`` outputs exactly these distances x sensors."""
    return head.sensors == tuple(sensors) and len(head.distances) == len(distances) and \
        bool(np.allclose(head.distances, distances, atol=1e-6))
