"""TFLite backends: CPU (XNNPACK, which LiteRT applies by default) and the Coral Edge TPU delegate.

The runtime is ``ai_edge_litert`` (LiteRT) or else ``tflite_runtime``; both share ``Interpreter`` and
``load_delegate``. The Edge TPU uses the real pycoral's ``make_interpreter`` when it is installed (Coral
machines only: PyPI's ``pycoral`` is an unrelated package) and else loads ``libedgetpu`` directly.
"""

from __future__ import annotations

import importlib
import platform
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from selfsup_perception.core.modelcard import ModelLoadError, Normalisation
from selfsup_perception.inference.base import BackendBase, BackendUnavailable, TensorSpec

EDGETPU_CUSTOM_OP = b'edgetpu-custom-op'
EDGETPU_LIBRARY = {'Linux': 'libedgetpu.so.1', 'Darwin': 'libedgetpu.1.dylib', 'Windows': 'edgetpu.dll'}
EDGETPU_INSTALL = (
    'install the Edge TPU runtime (Debian: libedgetpu1-std from https://coral.ai/software/#debian-packages), '
    'plug in the accelerator and check its permissions (udev rules, group plugdev/apex)'
)
_DEVICE = re.compile(r'^(usb|pci)?(:\d+)?$')


def tflite_module() -> ModuleType:
    """The interpreter module of LiteRT, else of tflite_runtime; BackendUnavailable when neither is there."""
    for name in ('ai_edge_litert.interpreter', 'tflite_runtime.interpreter'):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise BackendUnavailable('no TFLite runtime: pip install ai-edge-litert (or tflite-runtime)')


def pycoral_edgetpu() -> ModuleType | None:
    """The real pycoral's ``pycoral.utils.edgetpu`` module, or None (absent, or PyPI's unrelated pycoral)."""
    try:
        module = importlib.import_module('pycoral.utils.edgetpu')
    except Exception:  # an unrelated or broken 'pycoral' may fail in any way on import
        return None
    return module if hasattr(module, 'make_interpreter') else None


def check_device(device: str | None) -> str | None:
    """Validate an Edge TPU device string: ``usb``, ``pci``, ``usb:N``, ``pci:N``, ``:N`` or None (first)."""
    if device is not None and (not device or not _DEVICE.match(device)):
        raise ValueError(f"Edge TPU device must be 'usb', 'pci', 'usb:N', 'pci:N' or ':N', got {device!r}")
    return device


class TFLiteBackend(BackendBase):
    """A .tflite model on the CPU; float or full-integer (uint8/int8 input and output) models."""

    name = 'tflite'

    def __init__(
        self, *, threads: int = 1, normalisation: Normalisation | None = None, logger: Any = None
    ) -> None:
        super().__init__(normalisation=normalisation, logger=logger)
        if threads < 1:
            raise ValueError(f'threads must be >= 1, got {threads}')
        self.threads = threads
        self._interpreter: Any = None
        self._input_index = 0
        self._output_index = 0

    def _open(self, path: Path) -> tuple[TensorSpec, TensorSpec]:
        interpreter = self._make_interpreter(path)
        try:
            interpreter.allocate_tensors()
        except Exception as exc:
            raise ModelLoadError(f'{path}: cannot allocate the model ({self.name}): {exc}') from exc
        inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelLoadError(f'{path}: needs one input and one output, has {len(inputs)}, {len(outputs)}')
        self._interpreter = interpreter
        self._input_index, self._output_index = inputs[0]['index'], outputs[0]['index']
        return _spec(inputs[0]), _spec(outputs[0])

    def _make_interpreter(self, path: Path) -> Any:
        module = tflite_module()
        try:
            return module.Interpreter(model_path=str(path), num_threads=self.threads)
        except Exception as exc:
            raise ModelLoadError(f'{path}: not a valid TFLite model: {exc}') from exc

    def _invoke(self, x: np.ndarray) -> np.ndarray:
        self._interpreter.set_tensor(self._input_index, x)
        self._interpreter.invoke()
        out: np.ndarray = self._interpreter.get_tensor(self._output_index)
        return out


class EdgeTPUBackend(TFLiteBackend):
    """A model compiled by ``edgetpu_compiler`` (``*_edgetpu.tflite``) on a Coral Edge TPU."""

    name = 'edgetpu'

    def __init__(
        self,
        *,
        device: str | None = None,
        threads: int = 1,
        normalisation: Normalisation | None = None,
        logger: Any = None,
    ) -> None:
        super().__init__(threads=threads, normalisation=normalisation, logger=logger)
        self.device = check_device(device)

    def _make_interpreter(self, path: Path) -> Any:
        with open(path, 'rb') as stream:
            compiled = EDGETPU_CUSTOM_OP in stream.read()
        if not compiled:
            raise ModelLoadError(
                f'{path} is not compiled for the Edge TPU (it has no {EDGETPU_CUSTOM_OP.decode()}): run '
                f'`edgetpu_compiler {path.name}`, which writes {path.stem.removesuffix("_edgetpu")}'
                '_edgetpu.tflite, or use the tflite backend'
            )
        pycoral = pycoral_edgetpu()
        where = self.device or 'first found'
        if pycoral is not None:
            try:
                return pycoral.make_interpreter(str(path), device=self.device)
            except (ValueError, OSError, RuntimeError) as exc:
                raise BackendUnavailable(
                    f'no Edge TPU ({where}) via pycoral: {exc}; {EDGETPU_INSTALL}'
                ) from exc
        module = tflite_module()
        library = EDGETPU_LIBRARY.get(platform.system(), EDGETPU_LIBRARY['Linux'])
        try:
            delegate = module.load_delegate(library, {'device': self.device} if self.device else {})
        except (ValueError, OSError, RuntimeError) as exc:
            raise BackendUnavailable(
                f'cannot load the Edge TPU delegate {library} (device {where}): {exc}; {EDGETPU_INSTALL}'
            ) from exc
        try:
            return module.Interpreter(
                model_path=str(path), experimental_delegates=[delegate], num_threads=self.threads
            )
        except Exception as exc:  # the model is verified by now: a runtime/libedgetpu mismatch or busy device
            raise BackendUnavailable(
                f'the Edge TPU delegate cannot run {path}: {exc}; {EDGETPU_INSTALL}'
            ) from exc


def _spec(detail: dict[str, Any]) -> TensorSpec:
    """The allocated (static) shape: a dynamic batch dimension is allocated as 1, so batches loop."""
    shape = tuple(int(s) for s in detail['shape'])
    scale, zero_point = detail.get('quantization', (0.0, 0))
    return TensorSpec(shape, np.dtype(detail['dtype']), float(scale), int(zero_point))
