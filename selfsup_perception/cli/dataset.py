"""``selfsup dataset info|export``: look into a dataset file or turn it into numpy arrays."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from selfsup_perception.core.dataset import Dataset, DatasetError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest='action', required=True, metavar='ACTION')
    info = actions.add_parser('info', help='frames, labels per distance, positive ratio')
    info.add_argument('dataset', type=Path)
    export = actions.add_parser('export', help='write the dataset as a .npz of numpy arrays')
    export.add_argument('dataset', type=Path)
    export.add_argument('--npz', type=Path, required=True, help='output file')
    export.add_argument('--no-images', action='store_true', help='leave the images out (much smaller)')


def run(args: argparse.Namespace) -> int:
    try:
        with Dataset(args.dataset) as dataset:
            if args.action == 'export':
                frames = dataset.export_npz(args.npz, images=not args.no_images)
                print(f'wrote {args.npz}: {frames} frames')
                return 0
            data = dataset.read_all(images=False)
            known = data.mask.sum(axis=(0, 2))
            positive = (data.labels.astype(bool) & data.mask).sum(axis=(0, 2))
            print(f'{args.dataset}: {data.ids.size} frames, sensors {", ".join(dataset.sensors)}, '
                  f'ground truth: {"yes" if data.ground_truth is not None else "no"}')
            for d, k, p in zip(dataset.distances, known, positive, strict=True):
                ratio = p / k if k else np.nan
                print(f'  {d:5.2f} m: {int(k):7d} known labels, positive ratio {ratio:.3f}')
            return 0
    except DatasetError as exc:
        print(f'error: {exc}')
        return 2
