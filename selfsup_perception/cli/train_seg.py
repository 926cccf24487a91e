"""``selfsup train-seg``: train an FCN-32s/16s/8s and export it (``modelbuild.segtrain.train_segmentation``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from selfsup_perception.cli.model_options import add_training_arguments, export_options, training_options
from selfsup_perception.modelbuild.fcn import VARIANTS
from selfsup_perception.modelbuild.segtrain import SegmentationOptions, train_segmentation


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``selfsup train-seg``."""
    parser.add_argument(
        'sources', nargs='+', type=Path,
        help='.npz shards (images, segmentation), dataset files with masks, VOC-style folders or COCO .json',
    )
    parser.add_argument('--classes', type=Path, required=True, help='class-list YAML (names, colours)')
    parser.add_argument('--variant', choices=tuple(VARIANTS), default='fcn8s')
    parser.add_argument('--out', type=Path, default=Path('models/segmentation'), help='output directory')
    parser.add_argument('--name', help='model file name without suffix (default: the variant)')
    parser.add_argument('--input-size', type=int, nargs=2, metavar=('H', 'W'), default=[240, 320])
    parser.add_argument('--coco-images', type=Path, help='image folder of a COCO .json (default: its folder)')
    parser.add_argument(
        '--background',
        default=None,
        help='class of pixels no COCO annotation covers (default: the first class)',
    )
    parser.add_argument('--no-flip', action='store_true', help='no horizontal flips')
    add_training_arguments(parser, epochs=50, batch_size=8)


def run(args: argparse.Namespace) -> int:
    """``selfsup train-seg``: ``train_segmentation`` with the command line's options; 0 on success."""
    train_segmentation(
        SegmentationOptions(
            sources=tuple(args.sources),
            classes=args.classes,
            variant=args.variant,
            export=export_options(args),
            name=args.name,
            input_size=tuple(args.input_size),
            coco_images=args.coco_images,
            background=args.background,
            training=training_options(args, flip=not args.no_flip),
        )
    )
    return 0
