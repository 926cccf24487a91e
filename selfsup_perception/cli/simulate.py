"""``selfsup simulate``: simulate the robot in a procedural world and record a rosbag2 (MCAP)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

from selfsup_perception.core.config import ConfigError
from selfsup_perception.sim.bagwriter import simulate_to_bag
from selfsup_perception.sim.params import DESCRIPTIONS, SimParamError, SimParams
from selfsup_perception.sim.render import GLUnavailableError

_OPTIONS = [item for item in fields(SimParams) if item.name != 'seed']


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``selfsup simulate``."""
    parser.add_argument('--seed', type=int, default=0, help=DESCRIPTIONS['seed'])
    parser.add_argument('--minutes', type=float, default=1.0, help='simulated minutes to record (default 1)')
    parser.add_argument('--out', required=True, type=Path, help='output bag directory (must not exist)')
    parser.add_argument(
        '--compressed',
        action='store_true',
        help='record /camera/image_raw/compressed (JPEG) instead of raw rgb8 images',
    )
    parser.add_argument(
        '--config',
        type=Path,
        default=None,
        help='labeling config with the sensors and distances (default: the shipped robot.yaml)',
    )
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    group = parser.add_argument_group('simulation parameters (defaults in brackets)')
    for item in _OPTIONS:
        default = item.default
        group.add_argument(
            f'--{item.name.replace("_", "-")}',
            type=type(default),
            default=None,
            metavar=type(default).__name__.upper(),
            help=f'{DESCRIPTIONS[item.name]} [{default}]',
        )


def run(args: argparse.Namespace) -> int:
    """Record the bag; print the summary. Exit code 0, or 2 with a message for bad input."""
    overrides = {
        item.name: getattr(args, item.name) for item in _OPTIONS if getattr(args, item.name) is not None
    }
    try:
        if not args.minutes > 0:
            raise SimParamError(f'minutes: must be > 0, got {args.minutes!r}')
        summary = simulate_to_bag(
            args.out,
            args.seed,
            args.minutes * 60.0,
            args.config,
            args.compressed,
            progress=not args.quiet,
            **overrides,
        )
    except (SimParamError, ConfigError, GLUnavailableError, FileExistsError) as exc:
        print(f'selfsup simulate: error: {exc}', file=sys.stderr)
        return 2
    for line in summary.lines():
        print(line)
    return 0
