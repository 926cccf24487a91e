"""``selfsup demo``: the closed loop on the embedded simulator, over real ROS 2 topics, with a report."""

from __future__ import annotations

import argparse
from pathlib import Path

from selfsup_perception.core.resources import package_file
from selfsup_perception.demo.run import DEMO_SEED, DemoOptions, run_demo


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--minutes', type=float, default=5.0, help='simulated minutes of driving (phase 1)')
    parser.add_argument('--seed', type=int, default=DEMO_SEED,
                        help='world seed (default: the first of the demo range, which no model building touches)')
    parser.add_argument('--out', type=Path, default=Path('demo_output'), help='output directory (replaced)')
    parser.add_argument('--models', type=Path, default=package_file('models'),
                        help='directory with the shipped models (embedding, heads, fcn8s, fcn8s_backbone)')
    parser.add_argument('--backend', default='tflite', help='inference backend of the nodes (auto, tflite, ...)')
    parser.add_argument('--real-time-factor', type=float, default=1.0,
                        help='simulated seconds per wall second while driving')
    parser.add_argument('--retrain-after', type=int, default=300, help='trainer: new labelled frames per retraining')
    parser.add_argument('--eval-minutes', type=float, default=1.5, help='simulated minutes of the evaluation run')


def run(args: argparse.Namespace) -> int:
    """The demo with the options given; 2 when the models are missing."""
    options = DemoOptions(minutes=args.minutes, seed=args.seed, out=args.out, models=args.models, backend=args.backend,
                          real_time_factor=args.real_time_factor, retrain_after=args.retrain_after,
                          eval_minutes=args.eval_minutes)
    return run_demo(options)
