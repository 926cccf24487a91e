"""Workstation-side model building and export (optional ``build`` extra: Keras 3, TensorFlow, tf2onnx).

Never imported by the nodes or the core. Keras is pinned to the TensorFlow backend here because the
TFLite and ONNX exporters trace TensorFlow graphs.
"""

from __future__ import annotations

import os

os.environ.setdefault('KERAS_BACKEND', 'tensorflow')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
