"""``selfsup check-model``: list a .tflite's ops and check them against the Edge TPU
(``modelbuild.ops.check_edgetpu``; no TensorFlow needed)."""

from __future__ import annotations

import argparse
from pathlib import Path

from selfsup_perception.modelbuild.ops import check_edgetpu


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``selfsup check-model``."""
    parser.add_argument('models', nargs='+', type=Path, help='.tflite files')


def run(args: argparse.Namespace) -> int:
    """Print each model's op counts and problems; 1 if any model would not map fully, else 0."""
    status = 0
    for path in args.models:
        report = check_edgetpu(path)
        counts = ', '.join(f'{op} x{report.ops.count(op)}' for op in sorted(set(report.ops)))
        print(f'{path}: {"OK" if report.ok else "NOT Edge TPU ready"} ({counts})')
        for line in report.problems():
            print(f'  {line}')
        status |= not report.ok
    return status
