"""The inference backend interface and what every backend shares: pixel normalisation, batching, checks.

Callers always hand a backend uint8 RGB images (N, H, W, 3) and get float32 outputs; a backend turns
pixels into the model's input (float, or quantised uint8/int8 via the input's scale and zero point)
with one lookup table, and dequantises integer outputs.
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from selfsup_perception.core.modelcard import ModelCard, ModelLoadError, Normalisation, model_format, verify

__all__ = ['Backend', 'BackendBase', 'BackendUnavailable', 'ModelLoadError', 'TensorSpec']


class BackendUnavailable(RuntimeError):  # noqa: N818 - the name the project's interface uses
    """The requested backend cannot run here (runtime, delegate or accelerator missing): what to install."""


@runtime_checkable
class Backend(Protocol):
    """One way to run a model: ``load`` it once, then ``run`` batches of uint8 RGB images.

    ``card`` is the loaded model's card (None without one): callers check a head against it.
    """

    name: str
    card: ModelCard | None

    def load(self, model_path: str | os.PathLike[str]) -> None: ...

    def run(self, batch: np.ndarray) -> np.ndarray: ...

    @property
    def input_shape(self) -> tuple[int, int, int]: ...

    @property
    def input_dtype(self) -> np.dtype: ...


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output as the runtime reports it; ``shape`` has None for dynamic dimensions.

    ``scale`` 0 means not quantised; real value = (q - zero_point) * scale otherwise.
    """

    shape: tuple[int | None, ...]
    dtype: np.dtype
    scale: float = 0.0
    zero_point: int = 0


class BackendBase(ABC):
    """Shared implementation: subclasses open the model (``_open``) and run one model batch (``_invoke``)."""

    name = 'base'

    def __init__(self, *, normalisation: Normalisation | None = None, logger: Any = None) -> None:
        self._normalisation = normalisation
        self._logger = logger or logging.getLogger(__name__)
        self._lut: np.ndarray | None = None
        self._shape: tuple[int, int, int] = (0, 0, 0)
        self._dtype = np.dtype(np.float32)
        self._channels_first = False
        self._batch: int | None = None
        self._output = TensorSpec((), np.dtype(np.float32))
        self.card: ModelCard | None = None
        self.model_path: Path | None = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(height, width, 3) of one image as ``run`` expects it."""
        return self._shape

    @property
    def input_dtype(self) -> np.dtype:
        """The dtype of the model's input tensor (what the backend feeds after normalising pixels)."""
        return self._dtype

    def load(self, model_path: str | os.PathLike[str]) -> None:
        """Verify the model against its card (when there is one), open it and prepare the pixel table."""
        path = Path(model_path)
        card = verify(path, require=False)
        if card is None or model_format(path) not in card.sha256:
            self._logger.warning(f'{path}: no sha256 in a model card beside it; loading it unverified')
        inp, out = self._open(path)
        self._configure(path, card, inp, out)
        self.card, self.model_path = card, path

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run the model on (N, H, W, 3) uint8 RGB images; returns float32 outputs with N first."""
        if self._lut is None:
            raise RuntimeError(f'{self.name}: load() a model before run()')
        batch = np.asarray(batch)
        if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[1:] != self._shape or not len(batch):
            raise ValueError(
                f'{self.name}: expected uint8 images of shape (N >= 1, {", ".join(map(str, self._shape))}), '
                f'got {batch.dtype} {batch.shape}; resize with resize_to_input()'
            )
        x = self._lut[np.arange(3), batch]
        if self._channels_first:
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        size = self._batch or len(x)
        chunks = []
        for start in range(0, len(x), size):
            chunk = x[start : start + size]
            pad = np.zeros((size - len(chunk), *chunk.shape[1:]), chunk.dtype)
            chunks.append(self._invoke(np.concatenate([chunk, pad]) if len(pad) else chunk)[: len(chunk)])
        out = np.concatenate(chunks).astype(np.float32)
        if self._output.scale:
            out = (out - np.float32(self._output.zero_point)) * np.float32(self._output.scale)
        return out

    @abstractmethod
    def _open(self, path: Path) -> tuple[TensorSpec, TensorSpec]:
        """Open the model; return its single input and output. Raise ModelLoadError/BackendUnavailable."""

    @abstractmethod
    def _invoke(self, x: np.ndarray) -> np.ndarray:
        """Run one batch already in the model's layout and dtype; return the raw output."""

    def _configure(self, path: Path, card: ModelCard | None, inp: TensorSpec, out: TensorSpec) -> None:
        """Derive layout, image size and the pixel lookup table from the input spec and the card."""
        if len(inp.shape) != 4 or 3 not in (inp.shape[1], inp.shape[3]):
            raise ModelLoadError(f'{path}: input {inp.shape} is not a batch of 3-channel images')
        self._channels_first = inp.shape[3] != 3
        hw = inp.shape[2:4] if self._channels_first else inp.shape[1:3]
        if None in hw:
            if card is None or card.input_size is None:
                raise ModelLoadError(
                    f'{path}: input size is dynamic {inp.shape} and no card gives input_size'
                )
            hw = card.input_size
        if card is not None and card.input_size is not None and tuple(card.input_size) != tuple(hw):
            raise ModelLoadError(f'{path}: input is {tuple(hw)} but its card says {card.input_size}')
        normalisation = self._normalisation or (card.normalisation if card else None)
        if normalisation is None:
            normalisation = Normalisation()
            self._logger.warning(f'{path}: no normalisation given or in a card; using {normalisation}')
        height, width = hw[0], hw[1]
        if height is None or width is None:  # cannot happen: a dynamic size was replaced by the card's above
            raise ModelLoadError(f'{path}: no input size')
        self._shape = (int(height), int(width), 3)
        self._dtype = np.dtype(inp.dtype)
        self._batch = inp.shape[0]
        self._output = out
        self._lut = pixel_table(normalisation, inp, path)


def pixel_table(normalisation: Normalisation, spec: TensorSpec, path: Path) -> np.ndarray:
    """(3, 256) table: model input value for each channel and uint8 pixel value.

    Float inputs get ``(pixel - mean) / std``; quantised inputs that value quantised with the input's scale
    and zero point; a uint8 input without quantisation takes raw pixels (the model normalises itself).
    """
    pixels = np.arange(256, dtype=np.float64)
    real = (pixels[None, :] - np.array(normalisation.mean)[:, None]) / np.array(normalisation.std)[:, None]
    dtype = np.dtype(spec.dtype)
    if dtype.kind == 'f':
        converted: np.ndarray = real.astype(dtype)
        return converted
    if dtype.kind not in 'iu':
        raise ModelLoadError(f'{path}: unsupported input dtype {dtype}')
    if not spec.scale:
        if dtype != np.uint8:
            raise ModelLoadError(f'{path}: {dtype} input without quantisation parameters')
        raw: np.ndarray = np.tile(pixels.astype(np.uint8), (3, 1))
        return raw
    info = np.iinfo(dtype)
    quantised = np.round(real / spec.scale + spec.zero_point)
    table: np.ndarray = np.clip(quantised, info.min, info.max).astype(dtype)
    return table
