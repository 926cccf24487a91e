"""Inference backends: one interface (``load``, ``run``, ``name``) over TFLite, Edge TPU and ONNX Runtime.

Importing this package imports no runtime; each backend imports its runtime when it loads a model.
"""

from selfsup_perception.core.modelcard import ModelLoadError
from selfsup_perception.inference.base import Backend, BackendUnavailable
from selfsup_perception.inference.onnxrt import ONNXBackend
from selfsup_perception.inference.preprocess import resize_to_input
from selfsup_perception.inference.registry import (
    BACKEND_NAMES,
    BACKENDS,
    BackendSpec,
    auto_candidates,
    create_backend,
    model_file,
)
from selfsup_perception.inference.tflite import EdgeTPUBackend, TFLiteBackend

__all__ = [
    'BACKENDS',
    'BACKEND_NAMES',
    'Backend',
    'BackendSpec',
    'BackendUnavailable',
    'EdgeTPUBackend',
    'ModelLoadError',
    'ONNXBackend',
    'TFLiteBackend',
    'auto_candidates',
    'create_backend',
    'model_file',
    'resize_to_input',
]
