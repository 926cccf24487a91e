"""The backends by name, and loading a model on one of them or on the best one present (``auto``).

A model path names a model in all its formats: ``x.tflite``, ``x.onnx`` and ``x_edgetpu.tflite`` beside
each other are the same model, and each backend loads the file of its own format. ``BACKENDS`` is the
one table of backends: a new backend is one entry (its class, the file suffix it loads and, for ONNX
Runtime, the execution provider it needs); its order is ``auto``'s order of preference.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfsup_perception.core.modelcard import ModelLoadError, model_base
from selfsup_perception.inference.base import Backend, BackendBase, BackendUnavailable
from selfsup_perception.inference.onnxrt import CUDA, TENSORRT, ONNXBackend, available_providers
from selfsup_perception.inference.tflite import EdgeTPUBackend, TFLiteBackend, check_device

#: Makes one backend from (its name, CPU threads, Edge TPU device, logger).
BackendFactory = Callable[[str, int, 'str | None', Any], BackendBase]


@dataclass(frozen=True)
class BackendSpec:
    """One backend: how to make it, the model file it loads (base name + ``suffix``) and, for ``auto``,
    the ONNX Runtime execution provider the installed runtime must offer (None: none needed)."""

    factory: BackendFactory
    suffix: str
    provider: str | None = None


def _onnx(name: str, threads: int, _device: str | None, logger: Any) -> BackendBase:
    return ONNXBackend(name, threads=threads, logger=logger)


#: Every backend, in ``auto``'s order: Edge TPU, ONNX on TensorRT or CUDA, TFLite on the CPU, ONNX on the CPU.
BACKENDS: dict[str, BackendSpec] = {
    'edgetpu': BackendSpec(lambda _n, threads, device, logger: EdgeTPUBackend(device=device, threads=threads,
                                                                              logger=logger), '_edgetpu.tflite'),
    'onnx-tensorrt': BackendSpec(_onnx, '.onnx', TENSORRT),
    'onnx-cuda': BackendSpec(_onnx, '.onnx', CUDA),
    'tflite': BackendSpec(lambda _n, threads, _d, logger: TFLiteBackend(threads=threads, logger=logger), '.tflite'),
    'onnx-cpu': BackendSpec(_onnx, '.onnx'),
}
BACKEND_NAMES = ('auto', *BACKENDS)


def _spec(name: str) -> BackendSpec:
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f'backend must be one of {BACKEND_NAMES}, got {name!r}') from None


def model_file(name: str, model_path: str | os.PathLike[str]) -> Path:
    """The file backend ``name`` loads for the model ``model_path`` (any of its formats)."""
    base = model_base(model_path)
    return base.with_name(base.name + _spec(name).suffix)


def auto_candidates(model_path: str | os.PathLike[str]) -> list[str]:
    """Backends ``auto`` tries, best first: those whose file exists and whose ONNX provider is built in."""
    present = [name for name in BACKENDS if model_file(name, model_path).is_file()]
    providers = available_providers() if any(BACKENDS[n].provider for n in present) else []
    return [name for name in present if BACKENDS[name].provider in (None, *providers)]


def create_backend(
    name: str,
    model_path: str | os.PathLike[str],
    threads: int = 1,
    device: str | None = None,
    logger: Any = None,
) -> Backend:
    """A loaded backend: ``name`` is one of ``BACKEND_NAMES``; ``device`` selects an Edge TPU (``usb:0``).

    An explicit backend that cannot run here raises ``BackendUnavailable`` (saying what to install);
    ``auto`` logs each backend it skips and the one it chose. A missing or corrupt file: ``ModelLoadError``.
    """
    logger = logger or logging.getLogger(__name__)
    check_device(device)
    if name != 'auto':
        path = model_file(name, model_path)
        if not path.is_file():
            message = f'backend {name} needs {path}, which does not exist'
            if name == 'edgetpu':
                message += f'; compile {model_file("tflite", model_path).name} with edgetpu_compiler'
            raise ModelLoadError(message)
        backend = BACKENDS[name].factory(name, threads, device, logger)
        backend.load(path)
        logger.info(f'inference backend {name}: {path}')
        return backend
    skipped = []
    for candidate in auto_candidates(model_path):
        path = model_file(candidate, model_path)
        try:
            backend = BACKENDS[candidate].factory(candidate, threads, device, logger)
            backend.load(path)
        except BackendUnavailable as exc:
            skipped.append(f'{candidate}: {exc}')
            logger.info(f'inference backend auto: skipping {candidate}: {exc}')
            continue
        logger.info(f'inference backend auto -> {candidate}: {path}')
        return backend
    base = model_base(model_path)
    found = f'no {base.name}.tflite, {base.name}_edgetpu.tflite or {base.name}.onnx in {base.parent}'
    raise BackendUnavailable(f'no backend can run {base.name}: ' + ('; '.join(skipped) or found))
