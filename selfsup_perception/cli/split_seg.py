"""``selfsup split-seg``: split a trained FCN checkpoint into an int8 backbone and a numpy head (needs [build]).

The backbone (Edge-TPU-mappable int8 TFLite, ONNX) outputs the FCN's skip features; the head (``.npz``)
holds its score layers and upsamplings, so the pair computes the whole FCN and the robot can retrain the head.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from selfsup_perception.cli.options import positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('checkpoint', type=Path, help='FCN checkpoint (.keras) written by train-seg, card beside it')
    parser.add_argument('--calibration-data', type=Path, required=True,
                        help='images to calibrate the int8 backbone (.npz with images, or a dataset file)')
    parser.add_argument('--out', type=Path, default=Path('models'), help='output directory')
    parser.add_argument('--name', default=None, help='file name of the backbone (default <variant>_backbone)')
    parser.add_argument('--input-size', type=positive_int, nargs=2, default=None, metavar=('H', 'W'),
                        help="backbone input size (default: the checkpoint's)")
    parser.add_argument('--calibration', type=positive_int, default=200, help='calibration images used')
    parser.add_argument('--formats', nargs='+', default=['int8', 'onnx'], choices=['int8', 'float', 'onnx'],
                        help='backbone formats to write')


def run(args: argparse.Namespace) -> int:
    from selfsup_perception.modelbuild.split import SplitOptions, split_fcn
    from selfsup_perception.modelbuild.training import ExportOptions

    split_fcn(SplitOptions(args.checkpoint, args.calibration_data,
                           ExportOptions(args.out, calibration=args.calibration, formats=tuple(args.formats)),
                           tuple(args.input_size) if args.input_size else None, args.name))
    return 0
