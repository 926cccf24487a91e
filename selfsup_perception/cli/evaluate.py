"""``selfsup evaluate DATASET --embedding MODEL --head HEAD --report DIR [--compare OTHER]``: score heads.

ROC AUC per (distance, sensor) with bootstrap intervals (in blocks of neighbouring frames) against the
self-supervised labels and, when the dataset has the simulator's ground truth, against it for every
frame. ``reports.heads`` writes metrics.json, the heat maps, the AUC-vs-distance plot and summary.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from selfsup_perception.cli.options import add_embedder_arguments, open_embedder
from selfsup_perception.core.dataset import DatasetError
from selfsup_perception.core.modelcard import ModelLoadError
from selfsup_perception.inference import BackendUnavailable
from selfsup_perception.pipeline.heads import score_heads
from selfsup_perception.reports.heads import write_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('dataset', type=Path, help='dataset file to score on')
    add_embedder_arguments(parser)
    parser.add_argument('--head', type=Path, required=True, help='head (.npz) to score')
    parser.add_argument('--compare', type=Path, default=None, help='a second head to score side by side')
    parser.add_argument('--report', type=Path, required=True, help='directory for the report files')
    parser.add_argument('--frames', choices=('all', 'validation'), default='all',
                        help="'validation': only the time-blocked validation frames no given head trained on "
                             '(with the first head\'s split), for scoring on the dataset it was trained on')
    parser.add_argument('--bootstrap', type=int, default=1000, help='bootstrap resamples (0: no intervals)')
    parser.add_argument('--block', type=int, default=10, help='frames resampled together (near-duplicates)')
    parser.add_argument('--seed', type=int, default=0, help='bootstrap seed')
    parser.add_argument('--title', default='Obstacle detection: ROC AUC', help='report title')


def run(args: argparse.Namespace) -> int:
    """Score the head(s) and write the report; 0 on success, 2 on a bad input (message on stderr)."""
    try:
        embedder = open_embedder(args)
        paths = [args.head] + ([args.compare] if args.compare else [])
        scores = score_heads(args.dataset, embedder, paths, validation_only=args.frames == 'validation',
                             n_bootstrap=args.bootstrap, block=args.block, seed=args.seed, progress=True)
        written = write_report(args.report, scores.labels, ground_truth=scores.ground_truth, title=args.title)
    except (DatasetError, ModelLoadError, BackendUnavailable, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    print(f'scored {scores.frames_scored} frames ({args.frames}) of {args.dataset} with {embedder.description}')
    for group, results in (('labels', scores.labels), ('ground truth', scores.ground_truth)):
        for name, metrics in results.items():
            mean = metrics['mean_auc']
            print(f'  {name} vs {group}: mean AUC {"undefined" if mean is None else f"{mean:.3f}"}')
    print(f'report: {written["summary"].parent}')
    return 0
