"""Options the model-building verbs share (argparse only; needs the ``build`` extra): backbone,
optimisation, validation split, augmentation, stream, distribution and export, read back as the typed
``TrainingOptions`` and ``ExportOptions`` of ``modelbuild.training``."""

from __future__ import annotations

import argparse

from selfsup_perception.modelbuild.augment import Augmentation
from selfsup_perception.modelbuild.backbones import BACKBONE_NAMES, DEFAULT_BACKBONE, get_backbone
from selfsup_perception.modelbuild.export import DEFAULT_OPSET, FORMATS, OUTPUT_TYPES
from selfsup_perception.modelbuild.training import ExportOptions, TrainingOptions


def backbone_name(name: str) -> str:
    """``--backbone``'s value checked against the backbone table (argparse reports an unknown one)."""
    try:
        return get_backbone(name).name
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_backbone_argument(parser: argparse.ArgumentParser, default: str = DEFAULT_BACKBONE) -> None:
    """``--backbone NAME`` (checked against ``modelbuild.backbones``)."""
    parser.add_argument(
        '--backbone',
        type=backbone_name,
        default=default,
        metavar='NAME',
        help=f'backbone network: {", ".join(BACKBONE_NAMES)} or mobilenet_v2_<alpha> (default {default})',
    )


def add_training_arguments(parser: argparse.ArgumentParser, epochs: int, batch_size: int) -> None:
    """Backbone, optimisation, validation split, augmentation, stream, distribution and export options."""
    add_backbone_argument(parser)
    parser.add_argument(
        '--weights',
        choices=['none', 'imagenet'],
        default='none',
        help='initial backbone weights (imagenet downloads them; MobileNets only)',
    )
    parser.add_argument('--epochs', type=int, default=epochs)
    parser.add_argument('--batch-size', type=int, default=batch_size, help='global batch (all workers together)')
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
    parser.add_argument('--seed', type=int, default=0, help='weights, stream order and augmentation')
    default = Augmentation()
    group = parser.add_argument_group('augmentation (0 turns one off; --jpeg-quality 100 turns JPEG off)')
    group.add_argument('--blur', type=float, default=default.blur, help='max Gaussian blur sigma (pixels)')
    group.add_argument('--brightness', type=float, default=default.brightness, help='max shift (pixel levels)')
    group.add_argument('--contrast', type=float, default=default.contrast, help='max relative contrast change')
    group.add_argument('--saturation', type=float, default=default.saturation, help='max relative change')
    group.add_argument('--hue', type=float, default=default.hue, help='max hue rotation (fraction of the circle)')
    group.add_argument('--noise', type=float, default=default.noise, help='max noise std (pixel levels)')
    group.add_argument('--jpeg-quality', type=int, default=default.jpeg_quality, help='lowest JPEG quality')
    parser.add_argument(
        '--shuffle-buffer', type=int, default=1024, help='frames held for shuffling (memory: frames x image size)'
    )
    parser.add_argument(
        '--distribute',
        action='store_true',
        help='one worker of a MultiWorkerMirroredStrategy job described by TF_CONFIG (every worker gets the '
        'same arguments and reads its share of the datasets)',
    )
    add_export_options(parser)


def add_export_options(parser: argparse.ArgumentParser) -> None:
    """Export options: calibration image count, formats, ONNX opset, int8 output type."""
    parser.add_argument('--calibration', type=int, default=200, help='images for int8 calibration')
    parser.add_argument('--formats', nargs='+', choices=FORMATS, default=list(FORMATS), help='what to export')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET, help='ONNX opset (>= 13)')
    parser.add_argument(
        '--output-type', choices=OUTPUT_TYPES, default='uint8', help='int8 TFLite output type'
    )


def training_options(args: argparse.Namespace, flip: bool) -> TrainingOptions:
    """The options of ``add_training_arguments`` as typed values (``flip``: the verb's flip option)."""
    return TrainingOptions(
        backbone=args.backbone,
        weights=None if args.weights == 'none' else args.weights,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        patience=args.patience,
        val_fraction=args.val_fraction,
        val_blocks=args.val_blocks,
        guard=args.guard,
        seed=args.seed,
        augmentation=Augmentation(
            flip=flip,
            blur=args.blur,
            brightness=args.brightness,
            contrast=args.contrast,
            saturation=args.saturation,
            hue=args.hue,
            noise=args.noise,
            jpeg_quality=args.jpeg_quality,
        ),
        shuffle_buffer=args.shuffle_buffer,
        distribute=args.distribute,
    )


def export_options(args: argparse.Namespace) -> ExportOptions:
    """The options of ``add_export_options`` (and ``--out``) as typed values."""
    return ExportOptions(args.out, args.calibration, tuple(args.formats), args.opset, args.output_type)
