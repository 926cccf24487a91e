"""``selfsup train-seg-head``: fine-tune a split FCN's segmentation head on a dataset's pixel self-labels.

What the trainer node does on the robot, offline: the backbone's features of the self-labelled frames, the
partial-label loss (floor / not floor), validation on time blocks; the head is written only if it beats the
start head on those blocks (``--always`` writes it anyway).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from selfsup_perception.cli.options import positive_int
from selfsup_perception.core.seghead_training import SegHeadOptions
from selfsup_perception.inference import BACKEND_NAMES
from selfsup_perception.pipeline.seg_heads import MAX_FRAMES, fit_on_dataset, open_split_model, save_fit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('dataset', type=Path, help='dataset file with pixel self-labels (schema 2)')
    parser.add_argument('--backbone', type=Path, default=Path('models/fcn8s_backbone.tflite'),
                        help='split FCN backbone (.tflite or .onnx with its card)')
    parser.add_argument('--head', type=Path, default=Path('models/fcn8s_head.npz'), help='the head to start from')
    parser.add_argument('--out', type=Path, required=True, help='where to write the trained head (.npz)')
    parser.add_argument('--backend', default='auto', choices=BACKEND_NAMES, help='inference backend of the backbone')
    parser.add_argument('--max-frames', type=positive_int, default=MAX_FRAMES,
                        help='self-labelled frames used at most, evenly spaced (bounds memory: ~70 KB each)')
    parser.add_argument('--epochs', type=positive_int, default=SegHeadOptions.max_epochs, help='epochs at most')
    parser.add_argument('--learning-rate', type=float, default=SegHeadOptions.learning_rate, help='AdamW step size')
    parser.add_argument('--weight-decay', type=float, default=SegHeadOptions.weight_decay,
                        help='pull towards the start head (L2-SP)')
    parser.add_argument('--seed', type=int, default=0, help='shuffling seed (training is deterministic for it)')
    parser.add_argument('--always', action='store_true', help='write the head even if it did not improve')


def run(args: argparse.Namespace) -> int:
    if args.out.suffix != '.npz':
        raise ValueError(f'--out {args.out}: a segmentation head is written as .npz')
    options = SegHeadOptions(learning_rate=args.learning_rate, weight_decay=args.weight_decay,
                             max_epochs=args.epochs, seed=args.seed)
    runner = open_split_model(args.backbone, args.head, args.backend)
    fit = fit_on_dataset(args.dataset, runner, options, max_frames=args.max_frames, progress=True)
    summary = fit.history.summary()
    print(f'train-seg-head: {fit.frames} frames ({summary["n_train"]} train, {summary["n_val"]} validation), '
          f'labelled pixels {summary["labelled_pixels"]}; validation loss {summary["start_val_loss"]:.4f} -> '
          f'{summary["val_loss"]:.4f} in {summary["seconds"]:.1f} s')
    if not fit.improved and not args.always:
        print(f'train-seg-head: no epoch beat the start head; {args.out} not written')
        return 1
    save_fit(fit, args.out, args.dataset)
    print(f'train-seg-head: wrote {args.out}')
    return 0
