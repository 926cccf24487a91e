"""``selfsup pretrain``: train and export the embedding extractor (``modelbuild.pretrain.pretrain_embedding``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from selfsup_perception.cli.model_options import add_training_arguments, export_options, training_options
from selfsup_perception.modelbuild.embedding import SPP_LEVELS
from selfsup_perception.modelbuild.pretrain import PretrainOptions, pretrain_embedding


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``selfsup pretrain``."""
    parser.add_argument(
        'datasets',
        nargs='+',
        type=Path,
        help='dataset files or .npz exports (selfsup dataset export --npz), in time order each',
    )
    parser.add_argument('--out', type=Path, default=Path('models/embedding'), help='output directory')
    parser.add_argument('--name', default='embedding', help='model file name (without suffix)')
    parser.add_argument(
        '--input-size',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help="model input size (default: the datasets' image size)",
    )
    parser.add_argument(
        '--feature-layer', help="backbone layer to pool (default: the backbone's, block_16_project_BN for MobileNetV2)"
    )
    parser.add_argument(
        '--levels', type=int, nargs='+', default=list(SPP_LEVELS), help='pyramid levels (n x n)'
    )
    parser.add_argument('--hidden', type=int, default=0, help='hidden units of the head (0: logistic)')
    parser.add_argument('--dropout', type=float, default=0.2, help='dropout on the embedding while training')
    parser.add_argument(
        '--hflip',
        action='store_true',
        help='also flip images left-right and reverse the sensor axis (only for sensors '
        'mounted symmetrically and listed from one side to the other)',
    )
    add_training_arguments(parser, epochs=30, batch_size=32)


def options_from_args(args: argparse.Namespace) -> PretrainOptions:
    """The command line's options as ``PretrainOptions``."""
    return PretrainOptions(
        datasets=tuple(args.datasets),
        export=export_options(args),
        name=args.name,
        input_size=tuple(args.input_size) if args.input_size else None,
        feature_layer=args.feature_layer,
        levels=tuple(args.levels),
        hidden=args.hidden,
        dropout=args.dropout,
        training=training_options(args, flip=args.hflip),
    )


def run(args: argparse.Namespace) -> int:
    """``selfsup pretrain``: ``pretrain_embedding`` with the command line's options; 0 on success."""
    pretrain_embedding(options_from_args(args))
    return 0
