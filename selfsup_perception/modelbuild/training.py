"""What pretraining and segmentation training share: options, the fit loop, image picking."""

from __future__ import annotations

import argparse
import math

import keras
import numpy as np

from selfsup_perception.modelbuild.data import Batches
from selfsup_perception.modelbuild.export import DEFAULT_OPSET, FORMATS, OUTPUT_TYPES


def add_training_arguments(parser: argparse.ArgumentParser, epochs: int, batch_size: int) -> None:
    """Backbone, optimisation, validation split and export options (``epochs``/``batch_size`` defaults)."""
    parser.add_argument('--alpha', type=float, default=0.35, help='MobileNetV2 width multiplier')
    parser.add_argument(
        '--weights',
        choices=['none', 'imagenet'],
        default='none',
        help='initial backbone weights (imagenet downloads them)',
    )
    parser.add_argument('--epochs', type=int, default=epochs)
    parser.add_argument('--batch-size', type=int, default=batch_size)
    parser.add_argument('--learning-rate', type=float, default=1e-3)
    parser.add_argument(
        '--patience', type=int, default=5, help='epochs without val improvement before stopping'
    )
    parser.add_argument('--val-fraction', type=float, default=0.2, help='fraction of frames for validation')
    parser.add_argument('--val-blocks', type=int, default=5, help='contiguous validation blocks per dataset')
    parser.add_argument(
        '--guard',
        type=float,
        default=1.0,
        help='training frames this close to a validation block are dropped (units of the stamps)',
    )
    parser.add_argument('--seed', type=int, default=0)
    add_export_options(parser)


def add_export_options(parser: argparse.ArgumentParser) -> None:
    """Export options: calibration image count, formats, ONNX opset, int8 output type."""
    parser.add_argument('--calibration', type=int, default=200, help='images for int8 calibration')
    parser.add_argument('--formats', nargs='+', choices=FORMATS, default=list(FORMATS), help='what to export')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET, help='ONNX opset (>= 13)')
    parser.add_argument(
        '--output-type', choices=OUTPUT_TYPES, default='uint8', help='int8 TFLite output type'
    )


def backbone_weights(args: argparse.Namespace) -> str | None:
    """``--weights`` as ``build_backbone`` takes it."""
    return None if args.weights == 'none' else args.weights


def fit(model: keras.Model, batches: Batches, val: Batches | None, args: argparse.Namespace) -> int:
    """Train with early stopping on the validation loss (best weights restored); returns epochs run."""
    callbacks = []
    if val is not None:
        callbacks.append(keras.callbacks.EarlyStopping(patience=args.patience, restore_best_weights=True))
    history = model.fit(batches, validation_data=val, epochs=args.epochs, callbacks=callbacks, verbose=2)
    return len(history.history['loss'])


def spread(count: int, limit: int) -> np.ndarray:
    """Up to ``limit`` indices spread evenly over ``count`` items (calibration and BN images)."""
    return np.unique(np.linspace(0, count - 1, min(limit, count)).astype(int))


def json_number(value: float) -> float | None:
    """``value`` as a JSON-ready number: NaN (undefined metric) becomes None."""
    return None if math.isnan(value) else float(value)
