"""``selfsup bag2dataset``: label a recording into a dataset file (``rosio.bag2dataset.bag_to_dataset``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from selfsup_perception.core.config import ConfigError, load_config
from selfsup_perception.core.dataset import DatasetError
from selfsup_perception.rosio.bag2dataset import BagError, BagTopics, bag_to_dataset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('bag', type=Path,
                        help='rosbag2 folder (mcap or sqlite3 storage), a bare .mcap or .db3 file, or a ROS 1 .bag')
    parser.add_argument('--config', type=Path, required=True, help='params YAML, e.g. config/robot.yaml')
    parser.add_argument('--out', type=Path, required=True, help='dataset file to create or append to')
    parser.add_argument('--camera-topic', default='/camera/image_raw',
                        help='raw Image topic; "<topic>/compressed" is used if only that exists')
    parser.add_argument('--odom-topic', default='/odom')
    parser.add_argument('--image-format', choices=('jpeg', 'png'), default='jpeg',
                        help='how frames are stored in the dataset')


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        summary = bag_to_dataset(args.bag, config, args.out, BagTopics(args.camera_topic, args.odom_topic),
                                 args.image_format)
    except (BagError, ConfigError, DatasetError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    print(f'wrote {args.out}')
    for line in summary.lines(config.distances):
        print(line)
    if not summary.frames:
        print('error: no frame could be stored (see the counts above)', file=sys.stderr)
        return 1
    return 0
