"""``selfsup evaluate DATASET --embedding MODEL --head HEAD --report DIR [--compare OTHER]``: score heads.

ROC AUC per (distance, sensor) with bootstrap intervals (in blocks of neighbouring frames) against the
self-supervised labels and, when the dataset has the simulator's ground truth, against it for every
frame. ``core.report`` writes metrics.json, the heat maps, the AUC-vs-distance plot and summary.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from selfsup_perception.core.dataset import Dataset, DatasetError
from selfsup_perception.core.head import HeadOptions
from selfsup_perception.core.metrics import evaluate
from selfsup_perception.core.modelcard import ModelLoadError
from selfsup_perception.inference import BackendUnavailable
from selfsup_perception.pipeline.learning import (
    add_embedder_arguments,
    load_frames,
    load_head,
    open_embedder,
    validation_index,
)
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
        with Dataset(args.dataset) as dataset:
            frames = load_frames(dataset, embedder, ground_truth=True, progress=True)
        paths = [args.head] + ([args.compare] if args.compare else [])
        names = [p.stem for p in paths]
        if len(set(names)) < len(names):
            names = [str(p) for p in paths]
        heads = {name: load_head(p, embedder, frames.distances, frames.sensors)
                 for name, p in zip(names, paths, strict=True)}
        index = np.arange(frames.ids.size)
        if args.frames == 'validation':
            index = validation_index(frames, _split_options(args.head, heads[names[0]].training),
                                     list(heads.values()))
        if not index.size:
            raise ValueError(f'no frames to score ({args.frames} frames of {frames.ids.size})')
        scoring: dict[str, Any] = {'distances': frames.distances, 'sensors': frames.sensors,
                                   'n_bootstrap': args.bootstrap, 'block': args.block, 'seed': args.seed}
        probs = {name: head.predict(frames.embeddings[index]) for name, head in heads.items()}
        runs = {name: evaluate(p, frames.labels[index], frames.mask[index], **scoring) for name, p in probs.items()}
        truth = {}
        if frames.ground_truth is not None:
            known = np.ones(frames.ground_truth[index].shape, bool)
            truth = {name: evaluate(p, frames.ground_truth[index], known, **scoring) for name, p in probs.items()}
        written = write_report(args.report, runs, ground_truth=truth, title=args.title)
    except (DatasetError, ModelLoadError, BackendUnavailable, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    print(f'scored {index.size} frames ({args.frames}) of {args.dataset} with {embedder.description}')
    for group, results in (('labels', runs), ('ground truth', truth)):
        for name, metrics in results.items():
            mean = metrics['mean_auc']
            print(f'  {name} vs {group}: mean AUC {"undefined" if mean is None else f"{mean:.3f}"}')
    print(f'report: {written["summary"].parent}')
    return 0


def _split_options(path: Path, training: dict[str, Any]) -> HeadOptions:
    """The options a head was trained with (its card's ``training.options``), for replaying its split."""
    try:
        return HeadOptions(**training['options'])
    except (KeyError, TypeError) as exc:
        raise ValueError(f'{path}: its card does not say how it was trained ({exc}); use --frames all') from exc
