"""Make the tiny segmentation model the segmenter tests load (run once by hand; the outputs are committed).

A 3-class net (48x64x3 -> logits 24x32x3, stride 2) whose weights are set by hand, not trained, so a test
can draw a scene and know what the model sees: the logit of class k is 4x the mean of colour channel k
over a 2x2 block, i.e. red pixels are floor, green pixels obstacle, blue pixels wall (config/classes_sim.yaml
order). Exported as float TFLite and ONNX (NHWC, dynamic batch) sharing one model card. Needs TensorFlow,
which the package never needs:

    .venv/bin/python test/data/make_seg_test_model.py   # a venv with the build extra (tensorflow-cpu, tf2onnx)
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

INPUT_SIZE = (48, 64)
CLASSES = ('floor', 'obstacle', 'wall')
COLORS = ((90, 160, 90), (220, 60, 40), (150, 150, 170))
GAIN = 4.0  # logit per unit of normalised channel value: clear arg-max margins


def build() -> tf.keras.Model:
    """One 2x2 stride-2 convolution: logit k = GAIN * mean of normalised channel k over the block."""
    inputs = tf.keras.Input((*INPUT_SIZE, 3), batch_size=1, name='image')
    layer = tf.keras.layers.Conv2D(len(CLASSES), 2, strides=2, name='logits')
    outputs = layer(inputs)
    kernel = np.zeros((2, 2, 3, len(CLASSES)), np.float32)
    kernel[:, :, np.arange(3), np.arange(3)] = GAIN / 4
    layer.set_weights([kernel, np.zeros(len(CLASSES), np.float32)])
    return tf.keras.Model(inputs, outputs)


def main() -> None:
    model = build()
    card = ModelCard(
        kind='segmentation',
        architecture='colour-coded 2x2 stride-2 conv (test model): red floor, green obstacle, blue wall',
        input_size=INPUT_SIZE,
        normalisation=Normalisation(),
        classes=CLASSES,
        made_by={'script': 'test/data/make_seg_test_model.py', 'tensorflow': tf.__version__},
        extra={
            'class_colors': [list(c) for c in COLORS],
            'output': 'class logits (N, 24, 32, classes): arg-max is the class',
        },
    )
    tflite = HERE / 'tiny_seg.tflite'
    tflite.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    spec = (tf.TensorSpec((None, *INPUT_SIZE, 3), tf.float32, name='image'),)
    onnx_model, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=13)
    onnx = HERE / 'tiny_seg.onnx'
    onnx.write_bytes(onnx_model.SerializeToString())
    write_card(tflite, with_sha256(card, tflite, onnx))


if __name__ == '__main__':
    main()
