"""Pick and load an inference backend by name, or the best one present (``auto``).

A model path names a model in all its formats: ``x.tflite``, ``x.onnx`` and ``x_edgetpu.tflite`` beside
each other are the same model, and each backend loads the file of its own format.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from selfsup_perception.core.modelcard import ModelLoadError, model_base
from selfsup_perception.inference.base import Backend, BackendBase, BackendUnavailable
from selfsup_perception.inference.onnxrt import (
    CUDA,
    PROVIDER_CHAINS,
    TENSORRT,
    ONNXBackend,
    available_providers,
)
from selfsup_perception.inference.tflite import EdgeTPUBackend, TFLiteBackend, check_device

BACKEND_NAMES = ('auto', 'edgetpu', 'tflite', 'onnx-tensorrt', 'onnx-cuda', 'onnx-cpu')


def model_file(name: str, model_path: str | os.PathLike[str]) -> Path:
    """The file backend ``name`` loads for the model ``model_path`` (any of its formats)."""
    base = model_base(model_path)
    if name == 'edgetpu':
        return base.with_name(base.name + '_edgetpu.tflite')
    if name == 'tflite':
        return base.with_name(base.name + '.tflite')
    if name in PROVIDER_CHAINS:
        return base.with_name(base.name + '.onnx')
    raise ValueError(f'backend must be one of {BACKEND_NAMES}, got {name!r}')


def auto_candidates(model_path: str | os.PathLike[str]) -> list[str]:
    """Backends ``auto`` tries, best first, given which files exist and which ONNX providers are built in.

    Edge TPU, then ONNX on TensorRT or CUDA, then TFLite on the CPU, then ONNX on the CPU.
    """
    has = {name: model_file(name, model_path).is_file() for name in ('edgetpu', 'tflite', 'onnx-cpu')}
    providers = available_providers() if has['onnx-cpu'] else []
    candidates = ['edgetpu'] if has['edgetpu'] else []
    candidates += [n for n, p in (('onnx-tensorrt', TENSORRT), ('onnx-cuda', CUDA)) if p in providers]
    candidates += ['tflite'] if has['tflite'] else []
    candidates += ['onnx-cpu'] if has['onnx-cpu'] else []
    return candidates


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
        backend = _make(name, threads, device, logger)
        backend.load(path)
        logger.info(f'inference backend {name}: {path}')
        return backend
    skipped = []
    for candidate in auto_candidates(model_path):
        path = model_file(candidate, model_path)
        try:
            backend = _make(candidate, threads, device, logger)
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


def _make(name: str, threads: int, device: str | None, logger: Any) -> BackendBase:
    if name == 'edgetpu':
        return EdgeTPUBackend(device=device, threads=threads, logger=logger)
    if name == 'tflite':
        return TFLiteBackend(threads=threads, logger=logger)
    return ONNXBackend(name, threads=threads, logger=logger)
