"""``selfsup export-seg``: re-export a checkpoint of train-seg, e.g. at another input size
(``modelbuild.segtrain.export_segmentation``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from selfsup_perception.cli.model_options import add_export_options, export_options
from selfsup_perception.modelbuild.segtrain import SegmentationExportOptions, export_segmentation


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``selfsup export-seg``."""
    parser.add_argument(
        'checkpoint', type=Path, help='.keras checkpoint written by train-seg (card beside it)'
    )
    parser.add_argument(
        '--calibration-data',
        type=Path,
        required=True,
        help='.npz with images or a folder of images, for int8 calibration',
    )
    parser.add_argument(
        '--input-size',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='export input size (default: the trained size)',
    )
    parser.add_argument('--out', type=Path, default=Path('models/segmentation'), help='output directory')
    parser.add_argument('--name', help='model file name without suffix (default: variant_HxW)')
    add_export_options(parser)


def run(args: argparse.Namespace) -> int:
    """``selfsup export-seg``: ``export_segmentation`` with the command line's options; 0 on success."""
    export_segmentation(
        SegmentationExportOptions(
            args.checkpoint,
            args.calibration_data,
            export_options(args),
            tuple(args.input_size) if args.input_size else None,
            args.name,
        )
    )
    return 0
