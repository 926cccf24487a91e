"""Make the tiny models the inference tests load (run once by hand; the outputs are committed).

A conv + global-max-pool net (32x32x3 -> 16 floats) with fixed random weights, exported as float TFLite,
full-integer TFLite (uint8 input/output, Edge TPU compilable ops), ONNX (NHWC, dynamic batch) and
ONNX with NCHW input; each with its model card. Needs TensorFlow, which the package never needs:

    python3.11 -m venv /tmp/venv-models
    /tmp/venv-models/bin/pip install tensorflow-cpu==2.21.* tf2onnx==1.17.* onnx
    /tmp/venv-models/bin/python test/data/make_test_models.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import numpy as np
import tensorflow as tf
import tf2onnx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from selfsup_perception.core.modelcard import ModelCard, Normalisation, with_sha256, write_card  # noqa: E402

SIZE = 32
EMBEDDING = 16
NORMALISATION = Normalisation()  # (pixel - 127.5) / 127.5, the MobileNetV2 convention


def build() -> tf.keras.Model:
    """Conv(stride 2) -> Conv -> global max pool, weights from a fixed seed."""
    tf.keras.utils.set_random_seed(7)
    inputs = tf.keras.Input((SIZE, SIZE, 3), batch_size=1, name='image')
    x = tf.keras.layers.Conv2D(8, 3, strides=2, padding='same', activation='relu')(inputs)
    x = tf.keras.layers.Conv2D(EMBEDDING, 3, padding='same', activation='relu')(x)
    outputs = tf.keras.layers.GlobalMaxPooling2D(name='embedding')(x)
    return tf.keras.Model(inputs, outputs)


def normalised_images(count: int) -> np.ndarray:
    images = np.random.default_rng(1).integers(0, 256, (count, SIZE, SIZE, 3)).astype(np.float32)
    return (images - 127.5) / 127.5


def to_tflite(model: tf.keras.Model, quantise: bool) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantise:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([x[None]] for x in normalised_images(64))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    return converter.convert()


def write(path: Path, data: bytes, card: ModelCard, *others: Path) -> None:
    path.write_bytes(data)
    write_card(path, with_sha256(card, path, *others))


def main() -> None:
    model = build()
    card = ModelCard(
        kind='embedding',
        architecture='tiny conv + global max pool (test model)',
        input_size=(SIZE, SIZE),
        normalisation=NORMALISATION,
        embedding_size=EMBEDDING,
        made_by={'script': 'test/data/make_test_models.py', 'tensorflow': tf.__version__},
    )
    write(HERE / 'tiny_int8.tflite', to_tflite(model, quantise=True), card)

    # The float model and its ONNX twin share one card (x.tflite, x.onnx -> x.json).
    float_tflite = HERE / 'tiny_float.tflite'
    float_tflite.write_bytes(to_tflite(model, quantise=False))
    spec = (tf.TensorSpec((None, SIZE, SIZE, 3), tf.float32, name='image'),)
    onnx_model, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=13)
    write(HERE / 'tiny_float.onnx', onnx_model.SerializeToString(), card, float_tflite)

    nchw, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=13, inputs_as_nchw=['image'])
    write(HERE / 'tiny_nchw.onnx', nchw.SerializeToString(), card)


if __name__ == '__main__':
    main()
