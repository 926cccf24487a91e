"""``selfsup dataset info|export``: look into a dataset file or turn it into numpy arrays (read-only)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from selfsup_perception.core.dataset import Dataset, DatasetError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest='action', required=True, metavar='ACTION')
    info = actions.add_parser('info', help='frames, labels per distance, positive ratio')
    info.add_argument('dataset', type=Path)
    export = actions.add_parser('export', help='write the dataset as a .npz of numpy arrays')
    export.add_argument('dataset', type=Path)
    export.add_argument('--npz', type=Path, required=True, help='output file (an existing one is kept)')
    export.add_argument('--force', action='store_true', help='overwrite an existing output file')
    export.add_argument('--no-images', action='store_true', help='leave the images out (much smaller)')


def run(args: argparse.Namespace) -> int:
    try:
        with Dataset(args.dataset) as dataset:
            if args.action == 'export':
                return _export(dataset, args)
            data = dataset.read_all(images=False)
            size = dataset.image_size
            known = data.mask.sum(axis=(0, 2))
            positive = (data.labels.astype(bool) & data.mask).sum(axis=(0, 2))
            print(f'{args.dataset}: {data.ids.size} frames'
                  f'{f" of {size[1]}x{size[0]} pixels" if size else ""}, sensors {", ".join(dataset.sensors)}, '
                  f'ground truth: {"yes" if data.ground_truth is not None else "no"}')
            for d, k, p in zip(dataset.distances, known, positive, strict=True):
                ratio = p / k if k else np.nan
                print(f'  {d:5.2f} m: {int(k):7d} known labels, positive ratio {ratio:.3f}')
            return 0
    except DatasetError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2


def _export(dataset: Dataset, args: argparse.Namespace) -> int:
    if args.npz.exists() and not args.force:
        print(f'error: {args.npz}: already exists (--force overwrites it)', file=sys.stderr)
        return 2
    summary = dataset.export_npz(args.npz, images=not args.no_images, overwrite=args.force)
    print(f'wrote {args.npz}: {summary.frames} frames')
    if summary.resized:
        size = dataset.image_size
        assert size is not None  # frames were read
        print(f'note: {summary.resized} frames of another image size were resized to {size[1]}x{size[0]}')
    return 0
