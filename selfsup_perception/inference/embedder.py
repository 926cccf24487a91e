"""The embedding extractor on a backend: RGB images of any size -> fixed-length embeddings.

Its ``sha256`` (of the model file the backend runs) keys the dataset's embedding cache, and its card is what
heads are checked against when they load.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from selfsup_perception.core.modelcard import ModelCard, ModelLoadError, card_path, file_sha256, read_card, with_sha256
from selfsup_perception.inference.base import Backend
from selfsup_perception.inference.preprocess import resize_to_input
from selfsup_perception.inference.registry import create_backend, model_file


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
