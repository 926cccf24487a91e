"""Dataset frames with their embeddings, computed once per frame and model and cached in the dataset.

What heads are trained and scored on (``selfsup train``, ``selfsup evaluate``, the trainer node, the demo).
The cache key is the sha256 of the model file the backend runs, so a head is trained, compared and scored
on exactly the embeddings its embedder gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from selfsup_perception.core.dataset import Dataset
from selfsup_perception.core.modelcard import ModelLoadError
from selfsup_perception.inference.embedder import Embedder

EMBED_BATCH = 32  # frames decoded and embedded at a time


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
