"""``selfsup train DATASET --embedding MODEL --out HEAD``: train the obstacle head on a dataset.

Embeddings missing from the dataset's cache are computed once per frame with the chosen backend and
stored; the head is trained with early stopping on time-blocked validation frames and written with
its model card (both atomically). The summary ends with the validation AUC.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from selfsup_perception.core.dataset import Dataset, DatasetError
from selfsup_perception.core.head import HeadOptions
from selfsup_perception.core.modelcard import ModelLoadError
from selfsup_perception.inference import BackendUnavailable
from selfsup_perception.pipeline.learning import (
    add_embedder_arguments,
    fit_head,
    load_frames,
    mean_auc,
    open_embedder,
    validation_index,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('dataset', type=Path, help='dataset file (labeler node or bag2dataset)')
    add_embedder_arguments(parser)
    parser.add_argument('--out', type=Path, required=True, help='head file to write (.npz, card .json beside it)')
    parser.add_argument('--hidden', type=int, default=0, help='hidden units (0: a logistic layer)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (training is deterministic for it)')
    parser.add_argument('--max-epochs', type=int, default=HeadOptions.max_epochs, help='epochs at most')


def run(args: argparse.Namespace) -> int:
    """Train and save; 0 on success, 2 on a bad dataset, model or option (message on stderr)."""
    if args.out.suffix != '.npz':
        print(f'error: --out must end in .npz, got {args.out}', file=sys.stderr)
        return 2
    try:
        options = HeadOptions(hidden=args.hidden, seed=args.seed, max_epochs=args.max_epochs)
        embedder = open_embedder(args)
        with Dataset(args.dataset) as dataset:
            frames = load_frames(dataset, embedder, progress=True)
        head, history = fit_head(frames, options)
        index = validation_index(frames, options)
        auc = mean_auc(head, frames, index)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        head.save(args.out, made_by={'trainer': 'selfsup train', 'dataset': str(frames.dataset),
                                     'embedding_model': embedder.description},
                  metrics={'validation_mean_auc': auc, 'validation_frames': int(index.size)})
    except (DatasetError, ModelLoadError, BackendUnavailable, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    summary = history.summary()
    kind = f'mlp with {head.hidden} hidden units' if head.hidden else 'logistic layer'
    print(f'wrote {args.out} and its card {args.out.with_suffix(".json").name}: {kind}, embedding '
          f'{head.embedding_size} -> {len(head.distances)} distances x {len(head.sensors)} sensors')
    print(f'frames: {frames.ids.size} ({frames.labelled} with known labels); embeddings: {frames.computed} '
          f'computed, {frames.ids.size - frames.computed} cached [{embedder.description}]')
    print(f'training: {summary["n_train"]} frames, validation: {summary["n_val"]} frames in time blocks; '
          f'{summary["epochs"]} epochs (best {summary["best_epoch"]}'
          f'{", stopped early" if summary["stopped_early"] else ""}), {summary["seconds"]:.1f} s')
    loss = summary['val_loss']
    print(f'validation loss: {"-" if loss is None else f"{loss:.4f}"}; validation mean AUC: '
          f'{"undefined (a class is missing)" if auc is None else f"{auc:.3f}"}')
    return 0
