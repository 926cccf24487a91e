"""``selfsup train DATASET --embedding MODEL --out HEAD``: train the obstacle head on a dataset.

Embeddings missing from the dataset's cache are computed once per frame with the chosen backend and
stored; the head is trained (``pipeline.robot_training``: the labels, plus with ``--consistency-weight``
the state-consistency pairs found with the tolerances the dataset was labelled with) with early stopping
on time-blocked validation frames and written with its model card (both atomically). The summary ends
with the validation AUC.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from selfsup_perception.cli.options import add_embedder_arguments, open_embedder
from selfsup_perception.core.dataset import Dataset, DatasetError
from selfsup_perception.core.head import DEFAULT_VARIANT, HeadOptions
from selfsup_perception.core.modelcard import ModelLoadError
from selfsup_perception.inference import BackendUnavailable
from selfsup_perception.pipeline.heads import load_head
from selfsup_perception.pipeline.robot_training import train_on_dataset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('dataset', type=Path, help='dataset file (labeler node or bag2dataset)')
    add_embedder_arguments(parser)
    parser.add_argument('--out', type=Path, required=True, help='head file to write (.npz, card .json beside it)')
    parser.add_argument('--start-head', type=Path, default=None,
                        help='fine-tune this head (e.g. the shipped models/head.npz), as the trainer node does; '
                             'it is kept when training does not improve on it')
    parser.add_argument('--hidden', type=int, default=None,
                        help='hidden units (0: a logistic layer; default: the start head\'s, else 0)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (training is deterministic for it)')
    parser.add_argument('--max-epochs', type=int, default=HeadOptions.max_epochs, help='epochs at most')
    parser.add_argument('--consistency-weight', type=float, default=HeadOptions.consistency_weight,
                        help='weight of the state-consistency loss (>= 0; 0: labels only; default '
                             f'%(default)s, the {DEFAULT_VARIANT!r} variant)')
    parser.add_argument('--teacher-decay', type=float, default=HeadOptions.teacher_decay,
                        help='mean teacher: the consistency targets come from a moving average of the weights '
                             'with this decay per step (in [0, 1); 0: from the current weights; default %(default)s)')


def option_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the training flags (one line naming the flag), or None."""
    checks = (('--consistency-weight', args.consistency_weight, math.isfinite(args.consistency_weight)
               and args.consistency_weight >= 0, 'a number >= 0'),
              ('--teacher-decay', args.teacher_decay, 0 <= args.teacher_decay < 1, 'in [0, 1)'),
              ('--max-epochs', args.max_epochs, args.max_epochs >= 1, '>= 1'))
    return next((f'{flag} must be {must}, got {value}' for flag, value, ok, must in checks if not ok), None)


def run(args: argparse.Namespace) -> int:
    """Train and save; 0 on success, 2 on a bad dataset, model or option (message on stderr)."""
    problem = option_problem(args) or (None if args.out.suffix == '.npz' else
                                       f'--out must end in .npz, got {args.out}')
    if problem:
        print(f'error: {problem}', file=sys.stderr)
        return 2
    try:
        embedder = open_embedder(args)
        start = None
        if args.start_head is not None:
            with Dataset(args.dataset) as dataset:
                distances, sensors = dataset.distances, dataset.sensors
            start = load_head(args.start_head, embedder, distances, sensors)
        hidden = args.hidden if args.hidden is not None else (start.hidden if start is not None else 0)
        if start is not None and hidden != start.hidden:
            raise ValueError(f'--hidden {hidden} differs from the start head\'s {start.hidden} hidden units')
        options = HeadOptions(hidden=hidden, seed=args.seed, max_epochs=args.max_epochs,
                              consistency_weight=args.consistency_weight, teacher_decay=args.teacher_decay)
        result = train_on_dataset(args.dataset, embedder, options, start=start, progress=True)
        head, frames, auc = result.head, result.frames, result.validation_auc
        args.out.parent.mkdir(parents=True, exist_ok=True)
        made_by = {'trainer': 'selfsup train', 'dataset': str(frames.dataset), 'embedding_model': embedder.description}
        if args.start_head is not None:
            made_by['start_head'] = str(args.start_head)
        head.save(args.out, made_by=made_by,
                  metrics={'validation_mean_auc': auc, 'validation_frames': result.validation_frames})
    except (DatasetError, ModelLoadError, BackendUnavailable, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    summary = result.history.summary()
    kind = f'mlp with {head.hidden} hidden units' if head.hidden else 'logistic layer'
    print(f'wrote {args.out} and its card {args.out.with_suffix(".json").name}: {kind}, embedding '
          f'{head.embedding_size} -> {len(head.distances)} distances x {len(head.sensors)} sensors')
    print(f'frames: {frames.ids.size} ({frames.labelled} with known labels); embeddings: {frames.computed} '
          f'computed, {frames.ids.size - frames.computed} cached [{embedder.description}]')
    print(f'training: {summary["n_train"]} frames, validation: {summary["n_val"]} frames in time blocks; '
          f'{summary["epochs"]} epochs (best {summary["best_epoch"]}'
          f'{", stopped early" if summary["stopped_early"] else ""}), {summary["seconds"]:.1f} s; consistency '
          f'pairs: {result.fit.pairs.found} found (weight {options.consistency_weight:g}, teacher decay '
          f'{options.teacher_decay:g})')
    loss = summary['val_loss']
    print(f'validation loss: {"-" if loss is None else f"{loss:.4f}"}; validation mean AUC: '
          f'{"undefined (a class is missing)" if auc is None else f"{auc:.3f}"}')
    return 0
