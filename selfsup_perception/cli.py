"""The ``selfsup`` command: offline work on bags, datasets and models (``selfsup --help``)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# verb -> (module implementing add_arguments/run, one-line help). Modules load only when used,
# so e.g. ``selfsup dataset`` works on a robot without TensorFlow or MuJoCo.
VERBS: dict[str, tuple[str, str]] = {
    'simulate': ('selfsup_perception.sim.bagwriter', 'simulate the robot in a procedural world; write a rosbag2'),
    'bag2dataset': ('selfsup_perception.bag2dataset', 'label a rosbag2 recording into a dataset'),
    'dataset': ('selfsup_perception.dataset_cli', 'inspect or export a dataset'),
    'train': ('selfsup_perception.train_cli', 'train the obstacle head on a dataset'),
    'evaluate': ('selfsup_perception.evaluate_cli', 'score heads against labels and ground truth; write a report'),
    'evaluate-seg': ('selfsup_perception.evaluate_seg_cli', 'score segmentation models side by side'),
    'report': ('selfsup_perception.core.report', 'compare metrics.json files of earlier evaluations'),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='selfsup', description=__doc__)
    verbs = parser.add_subparsers(dest='verb', required=True, metavar='VERB')
    for verb, (module, help_text) in VERBS.items():
        sub = verbs.add_parser(verb, help=help_text, description=help_text)
        sub.set_defaults(module=module)
        importlib.import_module(module).add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(importlib.import_module(args.module).run(args))
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130
