"""ONNX Runtime backend with the TensorRT -> CUDA -> CPU execution providers (Jetson, desktop GPUs, CPU).

onnxruntime silently falls back to the CPU when a GPU provider cannot start; this backend checks which
provider the session really got, so asking for ``onnx-cuda`` never quietly runs on the CPU.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from selfsup_perception.core.modelcard import ModelLoadError, Normalisation
from selfsup_perception.inference.base import BackendBase, BackendUnavailable, TensorSpec

TENSORRT, CUDA, CPU = 'TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider'
PROVIDER_CHAINS = {'onnx-tensorrt': (TENSORRT, CUDA, CPU), 'onnx-cuda': (CUDA, CPU), 'onnx-cpu': (CPU,)}
INSTALL_HINTS = {
    TENSORRT: 'install onnxruntime-gpu built with TensorRT (on Jetson: the JetPack onnxruntime-gpu wheel) '
    'and the TensorRT libraries, and remove the CPU-only onnxruntime package',
    CUDA: 'install onnxruntime-gpu (on Jetson: the JetPack onnxruntime-gpu wheel) with matching CUDA and '
    'cuDNN, and remove the CPU-only onnxruntime package',
    CPU: 'pip install onnxruntime',
}
_DTYPES = {
    'tensor(float)': np.float32,
    'tensor(float16)': np.float16,
    'tensor(uint8)': np.uint8,
    'tensor(int8)': np.int8,
}


def onnxruntime_module() -> ModuleType:
    """The onnxruntime module, or BackendUnavailable saying what to install."""
    try:
        return importlib.import_module('onnxruntime')
    except ImportError as exc:
        raise BackendUnavailable(f'onnxruntime is not installed: {INSTALL_HINTS[CPU]}') from exc


def available_providers() -> list[str]:
    """Execution providers this onnxruntime build offers ([] when onnxruntime is missing)."""
    try:
        return list(onnxruntime_module().get_available_providers())
    except BackendUnavailable:
        return []


def tensorrt_cache_dir() -> Path:
    """Where TensorRT engines are cached (building one takes minutes on a Jetson)."""
    base = Path(os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache')
    return base / 'selfsup_perception' / 'tensorrt'


class ONNXBackend(BackendBase):
    """An .onnx model (NHWC or NCHW image input) on ONNX Runtime with one of ``PROVIDER_CHAINS``."""

    def __init__(
        self,
        name: str = 'onnx-cpu',
        *,
        threads: int = 1,
        normalisation: Normalisation | None = None,
        logger: Any = None,
    ) -> None:
        super().__init__(normalisation=normalisation, logger=logger)
        if name not in PROVIDER_CHAINS:
            raise ValueError(f'ONNX backend must be one of {sorted(PROVIDER_CHAINS)}, got {name!r}')
        if threads < 1:
            raise ValueError(f'threads must be >= 1, got {threads}')
        self.name = name
        self.threads = threads
        self._session: Any = None
        self._input_name = ''

    def _open(self, path: Path) -> tuple[TensorSpec, TensorSpec]:
        ort = onnxruntime_module()
        chain = PROVIDER_CHAINS[self.name]
        if chain[0] not in ort.get_available_providers():
            raise BackendUnavailable(
                f'{self.name}: this onnxruntime has no {chain[0]} (it has {ort.get_available_providers()}); '
                f'{INSTALL_HINTS[chain[0]]}'
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        providers: list[Any] = list(chain)
        if chain[0] == TENSORRT:
            cache = tensorrt_cache_dir()
            cache.mkdir(parents=True, exist_ok=True)
            providers[0] = (TENSORRT, {'trt_engine_cache_enable': True, 'trt_engine_cache_path': str(cache)})
        try:
            session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        except Exception as exc:
            raise ModelLoadError(f'{path}: not a valid ONNX model for onnxruntime: {exc}') from exc
        if session.get_providers()[0] != chain[0]:
            raise BackendUnavailable(
                f'{self.name}: onnxruntime could not start {chain[0]} (got {session.get_providers()}); '
                f'{INSTALL_HINTS[chain[0]]}'
            )
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelLoadError(f'{path}: needs one input and one output, has {len(inputs)}, {len(outputs)}')
        if inputs[0].type not in _DTYPES:
            raise ModelLoadError(f'{path}: unsupported input type {inputs[0].type}')
        self._session, self._input_name = session, inputs[0].name
        return (
            TensorSpec(_shape(inputs[0].shape), np.dtype(_DTYPES[inputs[0].type])),
            TensorSpec(_shape(outputs[0].shape), np.dtype(np.float32)),
        )

    def _invoke(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = self._session.run(None, {self._input_name: x})[0]
        return out


def _shape(dims: list[Any]) -> tuple[int | None, ...]:
    """ONNX dims are ints, symbolic names or None; the last two mean dynamic."""
    return tuple(d if isinstance(d, int) and d > 0 else None for d in dims)
