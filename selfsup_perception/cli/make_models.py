"""``selfsup make-models`` (``make models``): rebuild every shipped model from simulated worlds."""

from __future__ import annotations

import argparse
from pathlib import Path

from selfsup_perception.cli.model_options import add_backbone_argument
from selfsup_perception.pipeline.models import (
    SHIPPED_BACKBONE,
    TRAIN_WORLDS,
    VARIANTS,
    MakeModelsOptions,
    make_models,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--out', type=Path, default=Path('models'), help='where the shipped models go')
    parser.add_argument('--work', type=Path, default=Path('build/models'), help='bags, datasets, checkpoints')
    parser.add_argument('--worlds', type=int, default=TRAIN_WORLDS, help='training worlds (the first of the range)')
    parser.add_argument('--worlds-cache', type=Path, default=None,
                        help='where the simulated worlds are kept (default WORK/worlds; builds may share one)')
    parser.add_argument('--minutes', type=float, default=1.0, help='simulated minutes per training world')
    parser.add_argument('--eval-minutes', type=float, default=2.0, help='simulated minutes per evaluation world')
    parser.add_argument('--epochs', type=int, default=3, help='embedding pretraining epochs at most (early stopping)')
    parser.add_argument('--seg-epochs', type=int, default=4, help='epochs at most for each FCN')
    parser.add_argument('--seg-every', type=int, default=3, help='FCNs train on every n-th frame (neighbours repeat)')
    parser.add_argument('--variants', nargs='+', choices=VARIANTS, default=list(VARIANTS),
                        help='FCN variants to train (fcn8s, the shipped one, is needed)')
    add_backbone_argument(parser, SHIPPED_BACKBONE)  # both networks' (benchmarks/backbones_study.md: why)


def run(args: argparse.Namespace) -> int:
    return make_models(MakeModelsOptions(out=args.out, work=args.work, minutes=args.minutes,
                                         eval_minutes=args.eval_minutes, epochs=args.epochs,
                                         seg_epochs=args.seg_epochs, seg_every=args.seg_every,
                                         variants=tuple(args.variants), backbone=args.backbone,
                                         worlds=args.worlds, worlds_cache=args.worlds_cache))
