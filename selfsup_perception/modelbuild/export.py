"""Export a Keras model to full-integer int8 TFLite, float TFLite and ONNX, with model cards.

Every format is traced with a fixed batch-1 input, so all shapes are static (what the Edge TPU
compiler needs). Files land in ``out_dir`` as ``<name>.tflite`` (int8, uint8 input = raw RGB pixels),
``<name>.onnx`` (float32), ``<name>.keras`` (checkpoint, to retrain or re-export at another input
size), all described by ``<name>.json``, and ``<name>_float.tflite`` with ``<name>_float.json``
(``core.modelcard``'s one-card-per-model layout). Each file is written to a temporary file and
renamed into place.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import platform
import shlex
import sys
import tempfile
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from selfsup_perception.core.modelcard import (
    ModelCard,
    Normalisation,
    atomic_write_bytes,
    with_sha256,
    write_card,
)

FORMATS = ('int8', 'float', 'onnx', 'keras')
OUTPUT_TYPES = ('uint8', 'int8')
DEFAULT_OPSET = 13
# The graph scales pixels itself (backbone.py), so the model's real-valued input is the pixel.
PIXEL_INPUT = Normalisation(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
_CHECK_IMAGES = 4
_VERSIONED = ('selfsup_perception', 'tf2onnx', 'onnx', 'ai-edge-litert', 'onnxruntime')


class ExportError(RuntimeError):
    """A conversion failed or produced a model that does not meet the contract (the message says which)."""


def _serving_function(model: keras.Model, output_name: str) -> tf.types.experimental.GenericFunction:
    """The model as a tf.function on a batch-1 pixel input named ``image``, returning {output_name: y}."""
    height, width, channels = model.input_shape[1:]
    spec = tf.TensorSpec((1, height, width, channels), tf.float32, name='image')

    @tf.function(input_signature=[spec])
    def serve(image: tf.Tensor) -> dict[str, tf.Tensor]:
        return {output_name: model(image, training=False)}

    return serve


@contextlib.contextmanager
def saved_model(model: keras.Model, output_name: str = 'output') -> Iterator[Path]:
    """A temporary SavedModel of the batch-1 serving function (the TFLite converter freezes its variables)."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint('serve', _serving_function(model, output_name))
    with tempfile.TemporaryDirectory() as tmp:
        archive.write_out(tmp, verbose=False)
        yield Path(tmp)


def tflite_from_saved_model(
    saved_model_dir: Path, calibration_images: np.ndarray | None = None, output_type: str = 'uint8'
) -> bytes:
    """Float32 TFLite, or with ``calibration_images`` (N, h, w, 3) uint8 full-integer int8 TFLite (int8
    weights and activations, uint8 input, ``output_type`` output)."""
    if output_type not in OUTPUT_TYPES:
        raise ValueError(f'output_type must be one of {OUTPUT_TYPES}, got {output_type!r}')
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=['serve'])
    if calibration_images is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: _calibration_samples(calibration_images)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8 if output_type == 'uint8' else tf.int8
    return converter.convert()


def _calibration_samples(images: np.ndarray) -> Iterator[list[np.ndarray]]:
    """Representative inputs; the first also holds one 0 and one 255 pixel so the uint8 input
    quantisation spans 0..255 (scale 1, zero point 0): the camera's bytes go in unchanged."""
    for i, image in enumerate(images):
        sample = image.astype(np.float32)[None]
        if i == 0:
            sample[0, 0, 0, :], sample[0, 0, -1, :] = 0.0, 255.0
        yield [sample]


def convert_int8_tflite(
    model: keras.Model,
    calibration_images: np.ndarray,
    output_type: str = 'uint8',
    output_name: str = 'output',
) -> bytes:
    """Full-integer int8 TFLite of ``model`` calibrated on ``calibration_images``."""
    images = _check_images(model, calibration_images)
    with saved_model(model, output_name) as directory:
        return tflite_from_saved_model(directory, images, output_type)


def convert_float_tflite(model: keras.Model, output_name: str = 'output') -> bytes:
    """Float32 TFLite with the same batch-1 static graph (for CPUs/GPUs without int8 kernels)."""
    with saved_model(model, output_name) as directory:
        return tflite_from_saved_model(directory)


def convert_onnx(model: keras.Model, opset: int = DEFAULT_OPSET, output_name: str = 'output') -> bytes:
    """Float32 ONNX (input ``image`` NHWC pixels, output ``output_name``) via tf2onnx; opset >= 13."""
    import tf2onnx

    if opset < 13:
        raise ValueError(f'ONNX opset must be >= 13, got {opset}')
    serve = _serving_function(model, output_name)
    proto, _ = tf2onnx.convert.from_function(serve, input_signature=serve.input_signature, opset=opset)
    return proto.SerializeToString()


def _check_images(model: keras.Model, images: np.ndarray) -> np.ndarray:
    expected = tuple(model.input_shape[1:])
    if images.ndim != 4 or images.shape[1:] != expected or images.dtype != np.uint8 or not len(images):
        raise ExportError(
            f'calibration images must be uint8 (N>0, {expected}), got {images.dtype} {images.shape}'
        )
    return images


def tflite_io(model_path: str | Path) -> dict[str, dict[str, Any]]:
    """dtype, shape and quantisation (scale, zero point) of a TFLite model's input and output."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model_path))
    io = {}
    for key, details in (
        ('input', interpreter.get_input_details()),
        ('output', interpreter.get_output_details()),
    ):
        (detail,) = details
        scale, zero_point = detail['quantization']
        io[key] = {
            'dtype': np.dtype(detail['dtype']).name,
            'shape': [int(v) for v in detail['shape']],
            'scale': float(scale),
            'zero_point': int(zero_point),
        }
    return io


def run_tflite(model_path: str | Path, images: np.ndarray) -> np.ndarray:
    """Run a TFLite model image by image; returns real-valued (dequantised) outputs (N, ...)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model_path), num_threads=1)
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    results = []
    for image in images:
        interpreter.set_tensor(inp['index'], image[None].astype(inp['dtype']))
        interpreter.invoke()
        value = interpreter.get_tensor(out['index']).astype(np.float32)
        scale, zero_point = out['quantization']
        results.append((value - zero_point) * scale if scale else value)
    return np.concatenate(results)


def run_onnx(model_path: str | Path, images: np.ndarray) -> np.ndarray:
    """Run an ONNX model (batch 1) with onnxruntime on the CPU; returns (N, ...)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(model_path), options, providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: image[None].astype(np.float32)})[0] for image in images])


def _agreement(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    diff = np.abs(reference - other)
    spread = float(np.ptp(reference)) or 1.0
    stats = {
        'max_abs': float(diff.max()),
        'mean_abs': float(diff.mean()),
        'reference_range': spread,
        'correlation': float(np.corrcoef(reference.ravel(), other.ravel())[0, 1]),
    }
    if reference.ndim == 4:  # segmentation logits: how often the arg-max class is the same
        stats['argmax_agreement'] = float(np.mean(reference.argmax(-1) == other.argmax(-1)))
    return stats


def made_by() -> dict[str, Any]:
    """Provenance for a model card: command line, package versions, UTC date."""
    versions = {
        'python': platform.python_version(),
        'tensorflow': tf.__version__,
        'keras': keras.__version__,
        'numpy': np.__version__,
    }
    for package in _VERSIONED:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {
        'command': shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        'versions': versions,
        'date': datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds'),
    }


def export_model(
    model: keras.Model,
    out_dir: str | Path,
    name: str,
    card: ModelCard,
    calibration_images: np.ndarray,
    formats: Sequence[str] = FORMATS,
    opset: int = DEFAULT_OPSET,
    output_type: str = 'uint8',
    output_name: str = 'output',
) -> dict[str, Path]:
    """Write ``model`` in ``formats`` under ``out_dir`` with their cards; returns {format: path}.

    ``card`` gives what the model is (kind, architecture, classes, metrics...); this adds the input
    contract, provenance, the sha256 of each file, the int8 quantisation and how closely each export
    reproduces Keras on a few calibration images.
    """
    unknown = set(formats) - set(FORMATS)
    if unknown or not formats:
        raise ValueError(f'formats must be a non-empty subset of {FORMATS}, got {list(formats)}')
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = _check_images(model, calibration_images)
    check = images[np.linspace(0, len(images) - 1, min(_CHECK_IMAGES, len(images))).astype(int)]
    reference = model.predict(check.astype(np.float32), verbose=0)
    paths: dict[str, Path] = {}
    extra: dict[str, Any] = {
        **card.extra,
        'input': {
            'layout': 'NHWC',
            'channels': 'RGB',
            'batch': 1,
            'pixels': 'uint8 0..255 (float32 for float formats)',
        },
        'export_check': {},
    }
    if {'int8', 'float'} & set(formats):
        with saved_model(model, output_name) as directory:
            if 'int8' in formats:
                paths['int8'] = out_dir / f'{name}.tflite'
                atomic_write_bytes(paths['int8'], tflite_from_saved_model(directory, images, output_type))
            if 'float' in formats:
                paths['float'] = out_dir / f'{name}_float.tflite'
                atomic_write_bytes(paths['float'], tflite_from_saved_model(directory))
    if 'int8' in formats:
        extra['tflite'] = {**tflite_io(paths['int8']), 'quantization': 'full int8, per-channel weights'}
        if (extra['tflite']['input']['scale'], extra['tflite']['input']['zero_point']) != (1.0, 0):
            raise ExportError(
                f'{paths["int8"]}: uint8 input is not the raw pixel: {extra["tflite"]["input"]}'
            )
        extra['export_check']['tflite_int8'] = _agreement(reference, run_tflite(paths['int8'], check))
    if 'onnx' in formats:
        paths['onnx'] = out_dir / f'{name}.onnx'
        atomic_write_bytes(paths['onnx'], convert_onnx(model, opset, output_name))
        extra['onnx'] = {'opset': opset, 'input': 'image', 'output': output_name}
        extra['export_check']['onnx'] = _agreement(reference, run_onnx(paths['onnx'], check))
    if 'keras' in formats:
        paths['keras'] = out_dir / f'{name}.keras'
        with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
            staged = Path(tmp) / paths['keras'].name
            model.save(staged)
            atomic_write_bytes(paths['keras'], staged.read_bytes())
    card = dataclasses.replace(card, normalisation=PIXEL_INPUT, made_by=made_by(), extra=extra)
    main = [paths[f] for f in ('int8', 'onnx', 'keras') if f in paths]
    if main:
        write_card(main[0], with_sha256(card, *main))
    if 'float' in formats:
        float_extra = {k: v for k, v in extra.items() if k not in ('tflite', 'onnx')}
        float_extra['export_check'] = {
            'tflite_float': _agreement(reference, run_tflite(paths['float'], check))
        }
        write_card(paths['float'], with_sha256(dataclasses.replace(card, extra=float_extra), paths['float']))
    return paths

